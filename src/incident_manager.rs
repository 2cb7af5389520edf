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
use aws_sdk_ssmincidents::types::{
    AttributeValueList, Condition, Filter, IncidentRecordStatus, ItemIdentifier, ItemType, ItemValue, RelatedItem,
    RelatedItemsUpdate, TriggerDetails,
};
use aws_smithy_http_client::tls;

use crate::config::AwsSettings;
use crate::domain::{Declaration, Impact, IncidentTitle, ItemTarget, PlanSummary, RelatedItem as DomainItem};

/// An incident record as `ListIncidentRecords` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentSummary {
    pub arn: String,
    pub title: String,
    pub impact: i32,
    /// Seconds since the Unix epoch.
    pub created: i64,
}

impl IncidentSummary {
    /// The response plan name, from the ARN (`incident-record/PLAN/ID`).
    pub fn plan_name(&self) -> Option<&str> {
        self.arn.split_once(":incident-record/")?.1.split('/').next()
    }
}

/// Changes to an incident record (`UpdateIncidentRecord`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordChange {
    pub title: Option<IncidentTitle>,
    pub impact: Option<Impact>,
    pub resolve: bool,
}

/// What an AWS call was about, for the responder's message.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// `start incidents with response plan `payments``, `update incident …`.
    pub doing: &'a str,
    /// The IAM action the call needs.
    pub action: &'a str,
    /// The resource the call acts on.
    pub resource: &'a str,
    /// What to call the resource: ``Response plan `payments` ``, `The incident`.
    pub target: &'a str,
    /// The command to run again.
    pub command: &'a str,
}

impl<'a> Subject<'a> {
    /// StartIncident for `d`; `doing` and `target` name its plan.
    pub fn declaring(d: &'a Declaration, doing: &'a str, target: &'a str) -> Self {
        Self {
            doing,
            action: "ssm-incidents:StartIncident",
            resource: d.plan.arn.as_str(),
            target,
            command: "/incident",
        }
    }
}

/// Builds the shared AWS configuration: region and credentials from the SDK's
/// default chains (unless `region` is configured), standard retries with
/// bounded attempts, timeouts, and an HTTPS client on rustls + ring.
///
/// `credentials` replaces the default credential chain; only tests pass it.
pub async fn sdk_config(settings: &AwsSettings, credentials: Option<SharedCredentialsProvider>) -> SdkConfig {
    // Idle connections are dropped after 20 s (AWS closes them soon after
    // anyway), so a burst does not leave its connections resident.
    let http = aws_smithy_http_client::Builder::new()
        .pool_idle_timeout(std::time::Duration::from_secs(20))
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
    metrics: std::sync::Arc<crate::observe::Metrics>,
}

impl IncidentManager {
    /// A client on `sdk`, sent to `settings.endpoint_url` when configured
    /// (otherwise the SDK resolves it, honouring `AWS_ENDPOINT_URL_SSM_INCIDENTS`).
    pub fn new(sdk: &SdkConfig, settings: &AwsSettings) -> Self {
        let mut conf = aws_sdk_ssmincidents::config::Builder::from(sdk);
        if let Some(url) = &settings.endpoint_url {
            conf = conf.endpoint_url(url.as_str().trim_end_matches('/'));
        }
        Self {
            client: Client::from_conf(conf.build()),
            region: sdk.region().map(ToString::to_string),
            metrics: std::sync::Arc::default(),
        }
    }

    /// Records call latencies in `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::observe::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    fn timed<T>(&self, operation: &str, started: std::time::Instant, r: &Result<T, AwsError>) {
        self.metrics.aws_call(operation, r.is_ok(), started.elapsed());
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
            req = req.related_items(related_item(item)?);
        }
        let trigger = TriggerDetails::builder()
            .source(d.trigger.source.as_str())
            .timestamp(DateTime::from(d.trigger.timestamp))
            .raw_data(&d.trigger.raw_data)
            .build()
            .map_err(|e| AwsError::Internal(e.to_string()))?;
        let started = std::time::Instant::now();
        let out = req.trigger_details(trigger).send().await;
        self.metrics.aws_call("StartIncident", out.is_ok(), started.elapsed());
        let out = out.map_err(|e| {
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

    /// Every response plan of the account and region (all pages).
    pub async fn list_response_plans(&self) -> Result<Vec<PlanSummary>, AwsError> {
        let started = std::time::Instant::now();
        let r = self.list_response_plans_inner().await;
        self.timed("ListResponsePlans", started, &r);
        r
    }

    async fn list_response_plans_inner(&self) -> Result<Vec<PlanSummary>, AwsError> {
        let mut pages = self.client.list_response_plans().max_results(100).into_paginator().items().send();
        let mut plans = Vec::new();
        while let Some(item) = pages.next().await {
            let p = item.map_err(|e| self.log_failure("ListResponsePlans", &e))?;
            plans.push(PlanSummary {
                arn: p.arn().to_owned(),
                name: p.name().to_owned(),
                display_name: p.display_name().map(str::to_owned),
            });
        }
        Ok(plans)
    }

    /// Open incident records, newest first (all pages, at most `limit`).
    pub async fn list_open_incidents(&self, limit: usize) -> Result<Vec<IncidentSummary>, AwsError> {
        let started = std::time::Instant::now();
        let r = self.list_open_incidents_inner(limit).await;
        self.timed("ListIncidentRecords", started, &r);
        r
    }

    async fn list_open_incidents_inner(&self, limit: usize) -> Result<Vec<IncidentSummary>, AwsError> {
        let filter = Filter::builder()
            .key("status")
            .condition(Condition::Equals(AttributeValueList::StringValues(vec!["OPEN".to_owned()])))
            .build()
            .map_err(|e| AwsError::Internal(e.to_string()))?;
        let mut pages =
            self.client.list_incident_records().filters(filter).max_results(100).into_paginator().items().send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let r = item.map_err(|e| self.log_failure("ListIncidentRecords", &e))?;
            out.push(IncidentSummary {
                arn: r.arn().to_owned(),
                title: r.title().to_owned(),
                impact: r.impact(),
                created: r.creation_time().secs(),
            });
            if out.len() >= limit {
                break;
            }
        }
        out.sort_by_key(|i| std::cmp::Reverse(i.created));
        Ok(out)
    }

    /// Adds a related item to an incident (`UpdateRelatedItems`).
    pub async fn add_related_item(&self, incident: &str, item: &DomainItem, token: &str) -> Result<(), AwsError> {
        let item = related_item(item)?;
        let started = std::time::Instant::now();
        let r = self
            .client
            .update_related_items()
            .incident_record_arn(incident)
            .client_token(token)
            .related_items_update(RelatedItemsUpdate::ItemToAdd(item))
            .send()
            .await;
        self.metrics.aws_call("UpdateRelatedItems", r.is_ok(), started.elapsed());
        r.map_err(|e| self.log_failure("UpdateRelatedItems", &e))?;
        Ok(())
    }

    /// Adds a custom event to the incident's timeline (`CreateTimelineEvent`);
    /// `text` is shown as the event's data.
    pub async fn add_timeline_event(
        &self,
        incident: &str,
        text: &str,
        at: std::time::SystemTime,
        token: &str,
    ) -> Result<(), AwsError> {
        let started = std::time::Instant::now();
        let r = self
            .client
            .create_timeline_event()
            .incident_record_arn(incident)
            .client_token(token)
            .event_time(DateTime::from(at))
            .event_type("Custom Event")
            .event_data(serde_json::to_string(text).unwrap_or_default())
            .send()
            .await;
        self.metrics.aws_call("CreateTimelineEvent", r.is_ok(), started.elapsed());
        r.map_err(|e| self.log_failure("CreateTimelineEvent", &e))?;
        Ok(())
    }

    /// Updates title, impact and/or status (`UpdateIncidentRecord`).
    pub async fn update_record(&self, incident: &str, change: &RecordChange, token: &str) -> Result<(), AwsError> {
        let started = std::time::Instant::now();
        let r = self
            .client
            .update_incident_record()
            .arn(incident)
            .client_token(token)
            .set_title(change.title.as_ref().map(|t| t.as_str().to_owned()))
            .set_impact(change.impact.map(|i| i32::from(i.value())))
            .set_status(change.resolve.then_some(IncidentRecordStatus::Resolved))
            .send()
            .await;
        self.metrics.aws_call("UpdateIncidentRecord", r.is_ok(), started.elapsed());
        r.map_err(|e| self.log_failure("UpdateIncidentRecord", &e))?;
        Ok(())
    }

    fn log_failure<E, R>(&self, operation: &'static str, e: &SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let mapped = AwsError::from_sdk(e);
        tracing::warn!(error = %DisplayErrorContext(e), code = mapped.code(), operation, "AWS call failed");
        mapped
    }
}

fn related_item(item: &DomainItem) -> Result<RelatedItem, AwsError> {
    let value = match &item.target {
        ItemTarget::Url(u) => ItemValue::Url(u.clone()),
        ItemTarget::Arn(a) => ItemValue::Arn(a.as_str().to_owned()),
    };
    let identifier = ItemIdentifier::builder()
        .r#type(ItemType::from(item.item_type()))
        .value(value)
        .build()
        .map_err(|e| AwsError::Internal(e.to_string()))?;
    Ok(RelatedItem::builder().identifier(identifier).title(&item.title).build())
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

    /// What the responder reads: what happened, whether anything changed,
    /// and what to do. Never the raw AWS message.
    pub fn user_message(&self, s: &Subject<'_>, region: Option<&str>) -> String {
        let region = region.unwrap_or("the configured region");
        let (doing, action, resource, target, command) = (s.doing, s.action, s.resource, s.target, s.command);
        let declaring = action == "ssm-incidents:StartIncident";
        let nothing = if declaring { "Nothing was declared" } else { "Nothing was changed" };
        match self {
            Self::AccessDenied => format!(
                "The bot's AWS role is not allowed to {doing}. An operator must grant `{action}` on `{resource}`. \
                 {nothing}."
            ),
            Self::BadCredentials(code) => format!(
                "AWS rejected the bot's credentials (`{code}`). An operator must fix the bot's IAM role or keys. \
                 {nothing}."
            ),
            Self::NoCredentials => format!(
                "The bot has no AWS credentials. An operator must give it an IAM role (or credentials in its \
                 environment). {nothing}."
            ),
            Self::PlanNotFound if declaring => format!(
                "{target} was not found in {region} (`{resource}`). Check the plan, or ask an operator to fix its \
                 alias. {nothing}."
            ),
            Self::PlanNotFound => format!("{target} was not found in {region} (`{resource}`). {nothing}."),
            Self::Throttled => format!(
                "Incident Manager is throttling requests and still refused after retries. {nothing}: run \
                 `{command}` again in a minute."
            ),
            Self::Validation { field: Some(field) } => {
                format!("Incident Manager rejected the `{field}` field of the request. {nothing}.")
            }
            Self::Validation { field: None } => format!("Incident Manager rejected the request as invalid. {nothing}."),
            Self::Conflict => {
                format!("Incident Manager reported a conflicting change in progress. {nothing}: run `{command}` again.")
            }
            Self::QuotaExceeded => format!(
                "The account has reached an Incident Manager quota. {nothing}: an operator must raise the quota or \
                 close incidents."
            ),
            Self::ServiceFault => {
                format!("Incident Manager had an internal error, also on retry. {nothing}: run `{command}` again.")
            }
            Self::Unreachable => {
                format!("Could not reach Incident Manager, {} — retry `{command}`.", nothing.to_lowercase())
            }
            Self::NoAnswer => format!(
                "Incident Manager did not answer in time. {}: check the Incident Manager console ({region}) before \
                 retrying.",
                if declaring {
                    "The incident may or may not have been declared"
                } else {
                    "The change may or may not have been made"
                }
            ),
            Self::Other(code) => {
                format!("Incident Manager refused the request (`{code}`). {nothing}; the bot's log has the details.")
            }
            Self::Internal(_) => {
                format!("The bot failed before reaching Incident Manager. {nothing}; the bot's log has the details.")
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
