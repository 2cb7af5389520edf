//! The incident backend: AWS Systems Manager Incident Manager through the
//! official SDK. Turns a [`Declaration`] into StartIncident and every failure
//! into an [`AwsError`] with a short message for the responder.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ssmincidents::Client;
use aws_sdk_ssmincidents::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ssmincidents::primitives::DateTime;
use aws_sdk_ssmincidents::types::{ItemIdentifier, ItemType, ItemValue, RelatedItem, TriggerDetails};
use aws_smithy_http_client::tls;

use crate::config::AwsSettings;
use crate::domain::{Declaration, ItemTarget};

/// Builds the shared AWS configuration: region and credentials from the SDK's
/// default chains (unless `region` is configured), standard retries with
/// bounded attempts, timeouts, and an HTTPS client on rustls + ring.
///
/// `credentials` replaces the default credential chain; only tests pass it.
pub async fn sdk_config(settings: &AwsSettings, credentials: Option<SharedCredentialsProvider>) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(settings.max_attempts)
                .with_initial_backoff(settings.initial_backoff),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(settings.connect_timeout)
                .operation_attempt_timeout(settings.attempt_timeout)
                .operation_timeout(settings.operation_timeout)
                .build(),
        );
    if let Some(region) = &settings.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(credentials) = credentials {
        loader = loader.credentials_provider(credentials);
    }
    loader.load().await
}

/// A StartIncident client bound to one account and region.
#[derive(Debug, Clone)]
pub struct IncidentManager {
    client: Client,
    region: Option<String>,
}

impl IncidentManager {
    /// A client on `sdk`, sent to `settings.endpoint_url` when configured
    /// (otherwise the SDK resolves it, honouring `AWS_ENDPOINT_URL_SSM_INCIDENTS`).
    pub fn new(sdk: &SdkConfig, settings: &AwsSettings) -> Self {
        let mut conf = aws_sdk_ssmincidents::config::Builder::from(sdk);
        if let Some(url) = &settings.endpoint_url {
            conf = conf.endpoint_url(url.as_str().trim_end_matches('/'));
        }
        Self { client: Client::from_conf(conf.build()), region: sdk.region().map(ToString::to_string) }
    }

    /// The region requests go to, when one is known.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// Starts the incident; returns the incident record ARN.
    pub async fn start_incident(&self, d: &Declaration) -> Result<String, AwsError> {
        let mut req = self
            .client
            .start_incident()
            .response_plan_arn(d.plan.arn.as_str())
            .client_token(&d.client_token)
            .set_impact(d.impact.map(|i| i32::from(i.value())))
            .set_title(d.title.as_ref().map(|t| t.as_str().to_owned()));
        for item in &d.related_items {
            let value = match &item.target {
                ItemTarget::Url(u) => ItemValue::Url(u.clone()),
                ItemTarget::Arn(a) => ItemValue::Arn(a.as_str().to_owned()),
            };
            let identifier = ItemIdentifier::builder()
                .r#type(ItemType::from(item.item_type()))
                .value(value)
                .build()
                .map_err(|e| AwsError::Internal(e.to_string()))?;
            req = req.related_items(RelatedItem::builder().identifier(identifier).title(&item.title).build());
        }
        let trigger = TriggerDetails::builder()
            .source(d.trigger.source.as_str())
            .timestamp(DateTime::from(d.trigger.timestamp))
            .raw_data(&d.trigger.raw_data)
            .build()
            .map_err(|e| AwsError::Internal(e.to_string()))?;
        let out = req.trigger_details(trigger).send().await.map_err(|e| {
            let mapped = AwsError::from_sdk(&e);
            tracing::warn!(
                error = %DisplayErrorContext(&e),
                code = mapped.code(),
                plan = d.plan.arn.as_str(),
                client_token = d.client_token,
                "StartIncident failed"
            );
            mapped
        })?;
        Ok(out.incident_record_arn)
    }
}

/// An AWS failure, classified for the responder. The full cause is logged
/// where it happens; these carry only what the reply needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    #[error("access denied")]
    AccessDenied,
    #[error("AWS rejected the credentials ({0})")]
    BadCredentials(String),
    #[error("no AWS credentials")]
    NoCredentials,
    #[error("response plan not found")]
    PlanNotFound,
    #[error("throttled")]
    Throttled,
    #[error("validation failed on {field:?}")]
    Validation { field: Option<String> },
    #[error("conflict")]
    Conflict,
    #[error("service quota exceeded")]
    QuotaExceeded,
    #[error("internal error at AWS")]
    ServiceFault,
    #[error("unreachable")]
    Unreachable,
    #[error("no answer in time")]
    NoAnswer,
    #[error("unexpected error {0}")]
    Other(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AwsError {
    fn from_sdk<E, R>(err: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        match err {
            SdkError::ServiceError(ctx) => {
                let e = ctx.err();
                match e.code().unwrap_or_default() {
                    "AccessDeniedException" => Self::AccessDenied,
                    "ResourceNotFoundException" => Self::PlanNotFound,
                    "ThrottlingException" | "TooManyRequestsException" => Self::Throttled,
                    "ValidationException" => Self::Validation { field: e.message().and_then(validation_field) },
                    "ConflictException" => Self::Conflict,
                    "ServiceQuotaExceededException" => Self::QuotaExceeded,
                    "InternalServerException" | "ServiceUnavailableException" => Self::ServiceFault,
                    code @ ("UnrecognizedClientException"
                    | "InvalidSignatureException"
                    | "ExpiredTokenException"
                    | "InvalidClientTokenId"
                    | "IncompleteSignature") => Self::BadCredentials(code.to_owned()),
                    "" => Self::Other("(no error code)".to_owned()),
                    code => Self::Other(code.to_owned()),
                }
            }
            _ if has_source::<CredentialsError>(err) => Self::NoCredentials,
            SdkError::DispatchFailure(f) if f.is_timeout() => Self::NoAnswer,
            SdkError::DispatchFailure(_) => Self::Unreachable,
            SdkError::TimeoutError(_) => Self::NoAnswer,
            SdkError::ResponseError(_) => Self::NoAnswer,
            _ => Self::Internal(DisplayErrorContext(err).to_string()),
        }
    }

    /// A stable name for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AccessDenied => "access_denied",
            Self::BadCredentials(_) => "bad_credentials",
            Self::NoCredentials => "no_credentials",
            Self::PlanNotFound => "plan_not_found",
            Self::Throttled => "throttled",
            Self::Validation { .. } => "validation",
            Self::Conflict => "conflict",
            Self::QuotaExceeded => "quota_exceeded",
            Self::ServiceFault => "service_fault",
            Self::Unreachable => "unreachable",
            Self::NoAnswer => "no_answer",
            Self::Other(_) => "other",
            Self::Internal(_) => "internal",
        }
    }

    /// What the responder reads: what happened, whether anything was
    /// declared, and what to do. Never the raw AWS message.
    pub fn user_message(&self, d: &Declaration, region: Option<&str>) -> String {
        let plan = format!("`{}`", d.plan.label);
        let region = region.unwrap_or("the configured region");
        match self {
            Self::AccessDenied => format!(
                "The bot's AWS role is not allowed to start incidents with response plan {plan}. \
                 An operator must grant `ssm-incidents:StartIncident` on `{}`. Nothing was declared.",
                d.plan.arn
            ),
            Self::BadCredentials(code) => format!(
                "AWS rejected the bot's credentials (`{code}`). An operator must fix the bot's IAM role or keys. \
                 Nothing was declared."
            ),
            Self::NoCredentials => "The bot has no AWS credentials. An operator must give it an IAM role \
                 (or credentials in its environment). Nothing was declared."
                .to_owned(),
            Self::PlanNotFound => format!(
                "Response plan {plan} was not found in {region} (`{}`). Check the plan, or ask an operator to \
                 fix its alias. Nothing was declared.",
                d.plan.arn
            ),
            Self::Throttled => "Incident Manager is throttling requests and still refused after retries. \
                 Nothing was declared: run `/incident` again in a minute."
                .to_owned(),
            Self::Validation { field: Some(field) } => {
                format!("Incident Manager rejected the `{field}` field of the request. Nothing was declared.")
            }
            Self::Validation { field: None } => {
                "Incident Manager rejected the request as invalid. Nothing was declared.".to_owned()
            }
            Self::Conflict => "Incident Manager reported a conflicting change in progress. \
                 Nothing was declared: run `/incident` again."
                .to_owned(),
            Self::QuotaExceeded => "The account has reached an Incident Manager quota. \
                 Nothing was declared: an operator must raise the quota or close incidents."
                .to_owned(),
            Self::ServiceFault => "Incident Manager had an internal error, also on retry. \
                 Nothing was declared: run `/incident` again."
                .to_owned(),
            Self::Unreachable => {
                "Could not reach Incident Manager, nothing was declared — retry `/incident`.".to_owned()
            }
            Self::NoAnswer => format!(
                "Incident Manager did not answer in time. The incident may or may not have been declared: \
                 check the Incident Manager console ({region}) before retrying."
            ),
            Self::Other(code) => format!(
                "Incident Manager refused the request (`{code}`). Nothing was declared; the bot's log has the details."
            ),
            Self::Internal(_) => {
                "The bot failed before reaching Incident Manager. Nothing was declared; the bot's log has the details."
                    .to_owned()
            }
        }
    }
}

/// Whether any error in `err`'s source chain is a `T`.
fn has_source<T: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.is::<T>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// The field AWS names in a validation message such as
/// `1 validation error detected: Value 'x' at 'title' failed to satisfy …`.
fn validation_field(message: &str) -> Option<String> {
    let start = message.find(" at '")? + 5;
    let len = message[start..].find('\'')?;
    let field = &message[start..start + len];
    (!field.is_empty() && field.len() <= 64 && field.chars().all(|c| c.is_ascii_alphanumeric() || ".[]_-".contains(c)))
        .then(|| field.to_owned())
}

/// The Incident Manager console for the region of `arn`'s partition.
pub fn console_url(region: Option<&str>, partition: &str) -> String {
    let domain = match partition {
        "aws-cn" => "console.amazonaws.cn",
        "aws-us-gov" => "console.amazonaws-us-gov.com",
        _ => "console.aws.amazon.com",
    };
    match region {
        Some(r) => format!("https://{r}.{domain}/systems-manager/incidents/home?region={r}"),
        None => format!("https://{domain}/systems-manager/incidents/home"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_field_in_validation_messages() {
        let m = "1 validation error detected: Value 'xxx' at 'title' failed to satisfy constraint: Member must have length less than or equal to 200";
        assert_eq!(validation_field(m).as_deref(), Some("title"));
        assert_eq!(
            validation_field("Value at 'relatedItems.1.member.title' bad").as_deref(),
            Some("relatedItems.1.member.title")
        );
        assert_eq!(validation_field("something else"), None);
    }

    #[test]
    fn console_urls() {
        assert_eq!(
            console_url(Some("eu-west-1"), "aws"),
            "https://eu-west-1.console.aws.amazon.com/systems-manager/incidents/home?region=eu-west-1"
        );
        assert!(console_url(Some("cn-north-1"), "aws-cn").starts_with("https://cn-north-1.console.amazonaws.cn/"));
    }
}
