//! [`IncidentBackend`] on AWS Systems Manager Incident Manager, through the
//! official SDK (`aws-sdk-ssmincidents`, configured by `aws-config`).

use std::time::SystemTime;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ssmincidents::Client;
use aws_sdk_ssmincidents::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ssmincidents::primitives::DateTime;
use aws_sdk_ssmincidents::types::{
    AttributeValueList, Condition, Filter, IncidentRecordStatus, ItemIdentifier, ItemType, ItemValue, RelatedItem,
    RelatedItemsUpdate, SortOrder, TimelineEventSort, TriggerDetails,
};

use super::{AwsError, ErrorKind, IncidentBackend, Operation};
use crate::config::AwsSettings;
use crate::domain::timeline::CUSTOM_EVENT;
use crate::domain::{
    ClientToken, Declaration, EventSummary, IncidentArn, IncidentRecord, IncidentSummary, ItemTarget, ListedItem,
    PlanSummary, RecordChange, RelatedItem as DomainItem, Status, TimelineEvent,
};

/// Builds the shared AWS configuration: region and credentials from the SDK's
/// default chains (unless `region` is configured), standard retries with
/// bounded attempts, timeouts, and the HTTP client of [`super::http`].
///
/// The SDK's stalled-stream protection is off. It is meant for large
/// uploads and downloads; the bot's requests and answers are small JSON
/// documents, and a stalled call is already ended by the attempt timeout
/// (`[aws] attempt_timeout_secs`). Left on, it woke every call in flight
/// every 100 ms to measure its throughput: 200 declarations waiting on AWS
/// woke the bot's one thread 2,000 times a second, in step, and the
/// interactions arriving then waited behind those wake-ups (the load
/// benchmark's HTTP probes, docs/http-interactions.md).
///
/// `credentials` replaces the default credential chain; only tests pass it.
pub async fn sdk_config(settings: &AwsSettings, credentials: Option<SharedCredentialsProvider>) -> SdkConfig {
    // The connections in use are bounded by the permits around the calls
    // ([limits]); idle ones are few and short-lived (super::http), so a
    // burst does not leave its connections (and their buffers) resident.
    let http = super::http::client(settings.connect_timeout);
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
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

/// Incident Manager in one account and region.
#[derive(Debug, Clone)]
pub struct SdkBackend {
    client: Client,
    region: Option<String>,
    endpoint: Option<String>,
}

impl SdkBackend {
    /// A client on `sdk`, sent to `settings.endpoint_url` when configured
    /// (otherwise the SDK resolves it, honouring `AWS_ENDPOINT_URL_SSM_INCIDENTS`).
    pub fn new(sdk: &SdkConfig, settings: &AwsSettings) -> Self {
        let mut conf = aws_sdk_ssmincidents::config::Builder::from(sdk);
        let configured = settings.endpoint_url.as_ref().map(|u| u.as_str().trim_end_matches('/').to_owned());
        if let Some(url) = &configured {
            conf = conf.endpoint_url(url);
        }
        // What the SDK resolves otherwise, in its order, for messages only.
        let endpoint = configured
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_SSM_INCIDENTS").ok())
            .or_else(|| sdk.endpoint_url().map(str::to_owned));
        Self { client: Client::from_conf(conf.build()), region: sdk.region().map(ToString::to_string), endpoint }
    }

    /// Where requests go: the configured endpoint, or the region's.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone().unwrap_or_else(|| match &self.region {
            Some(r) => format!("https://ssm-incidents.{r}.amazonaws.com"),
            None => "Incident Manager (no region)".to_owned(),
        })
    }
}

/// Classifies a failed call, and logs its whole cause (AWS's message, the
/// source chain) beside the classification, the resource and the client
/// token: the one place an SDK error is logged.
fn failed<E, R>(operation: Operation, resource: &str, token: Option<&ClientToken>, e: &SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let kind = match e {
        SdkError::ServiceError(ctx) => ErrorKind::from_code(ctx.err().code().unwrap_or_default(), ctx.err().message()),
        _ if has_source::<CredentialsError>(e) => ErrorKind::NoCredentials,
        SdkError::DispatchFailure(f) if f.is_timeout() => ErrorKind::NoAnswer,
        SdkError::DispatchFailure(_) => ErrorKind::Unreachable,
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => ErrorKind::NoAnswer,
        _ => ErrorKind::Internal(DisplayErrorContext(e).to_string()),
    };
    tracing::warn!(
        error = %DisplayErrorContext(e),
        code = kind.code(),
        operation = operation.name(),
        resource,
        client_token = token.map(ClientToken::as_str),
        "AWS call failed"
    );
    let detail = match e {
        SdkError::ServiceError(ctx) => ctx.err().message().map(str::to_owned),
        other => Some(innermost(other)),
    };
    AwsError::new(operation, kind).with_detail(detail)
}

/// The innermost cause of `err`: what the operating system or the TLS stack
/// said (`Connection refused (os error 111)`).
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
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

fn built<T, E: std::fmt::Display>(operation: Operation, r: Result<T, E>) -> Result<T, AwsError> {
    r.map_err(|e| AwsError::new(operation, ErrorKind::Internal(e.to_string())))
}

fn related_item(operation: Operation, item: &DomainItem) -> Result<RelatedItem, AwsError> {
    let value = match &item.target {
        ItemTarget::Url(u) => ItemValue::Url(u.clone()),
        ItemTarget::Arn(a) => ItemValue::Arn(a.as_str().to_owned()),
    };
    let identifier =
        built(operation, ItemIdentifier::builder().r#type(ItemType::from(item.item_type())).value(value).build())?;
    Ok(RelatedItem::builder().identifier(identifier).title(&item.title).build())
}

/// Unix milliseconds of an SDK timestamp.
fn millis(t: &DateTime) -> i64 {
    t.to_millis().unwrap_or(0)
}

/// An ARN Incident Manager returned, which it guarantees to be one.
fn returned_arn(operation: Operation, arn: &str) -> Result<IncidentArn, AwsError> {
    IncidentArn::parse(arn).map_err(|e| {
        AwsError::new(operation, ErrorKind::Internal(format!("Incident Manager returned `{arn}`, which {e}")))
    })
}

#[async_trait]
impl IncidentBackend for SdkBackend {
    fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    async fn start_incident(&self, d: &Declaration) -> Result<IncidentArn, AwsError> {
        const OP: Operation = Operation::StartIncident;
        let mut req = self
            .client
            .start_incident()
            .response_plan_arn(d.plan.arn.as_str())
            .client_token(d.client_token.as_str())
            .set_impact(d.impact.map(|i| i32::from(i.value())))
            .set_title(d.title.as_ref().map(|t| t.as_str().to_owned()));
        for item in &d.related_items {
            req = req.related_items(related_item(OP, item)?);
        }
        let trigger = TriggerDetails::builder()
            .source(d.trigger.source.as_str())
            .timestamp(DateTime::from(d.trigger.timestamp))
            .raw_data(&d.trigger.raw_data)
            .build();
        let out = req
            .trigger_details(built(OP, trigger)?)
            .send()
            .await
            .map_err(|e| failed(OP, d.plan.arn.as_str(), Some(&d.client_token), &e))?;
        returned_arn(OP, &out.incident_record_arn)
    }

    async fn list_response_plans(&self) -> Result<Vec<PlanSummary>, AwsError> {
        const OP: Operation = Operation::ListResponsePlans;
        let mut pages = self.client.list_response_plans().max_results(100).into_paginator().items().send();
        let mut plans = Vec::new();
        while let Some(item) = pages.next().await {
            let p = item.map_err(|e| failed(OP, "*", None, &e))?;
            plans.push(PlanSummary {
                arn: p.arn().to_owned(),
                name: p.name().to_owned(),
                display_name: p.display_name().map(str::to_owned),
            });
        }
        Ok(plans)
    }

    async fn list_open_incidents(&self, limit: usize) -> Result<Vec<IncidentSummary>, AwsError> {
        const OP: Operation = Operation::ListIncidentRecords;
        let filter = Filter::builder()
            .key("status")
            .condition(Condition::Equals(AttributeValueList::StringValues(vec!["OPEN".to_owned()])))
            .build();
        let mut pages = self
            .client
            .list_incident_records()
            .filters(built(OP, filter)?)
            .max_results(100)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let r = item.map_err(|e| failed(OP, "*", None, &e))?;
            out.push(IncidentSummary {
                arn: returned_arn(OP, r.arn())?,
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

    async fn add_related_item(
        &self,
        incident: &IncidentArn,
        item: &DomainItem,
        token: &ClientToken,
    ) -> Result<(), AwsError> {
        const OP: Operation = Operation::UpdateRelatedItems;
        self.client
            .update_related_items()
            .incident_record_arn(incident.as_str())
            .client_token(token.as_str())
            .related_items_update(RelatedItemsUpdate::ItemToAdd(related_item(OP, item)?))
            .send()
            .await
            .map_err(|e| failed(OP, incident.as_str(), Some(token), &e))?;
        Ok(())
    }

    async fn add_timeline_event(
        &self,
        incident: &IncidentArn,
        text: &str,
        at: SystemTime,
        token: &ClientToken,
    ) -> Result<String, AwsError> {
        const OP: Operation = Operation::CreateTimelineEvent;
        let data = built(OP, serde_json::to_string(text))?;
        let out = self
            .client
            .create_timeline_event()
            .incident_record_arn(incident.as_str())
            .client_token(token.as_str())
            .event_time(DateTime::from(at))
            .event_type(CUSTOM_EVENT)
            .event_data(data)
            .send()
            .await
            .map_err(|e| failed(OP, incident.as_str(), Some(token), &e))?;
        Ok(out.event_id)
    }

    async fn update_record(
        &self,
        incident: &IncidentArn,
        change: &RecordChange,
        token: &ClientToken,
    ) -> Result<(), AwsError> {
        const OP: Operation = Operation::UpdateIncidentRecord;
        self.client
            .update_incident_record()
            .arn(incident.as_str())
            .client_token(token.as_str())
            .set_title(change.title.as_ref().map(|t| t.as_str().to_owned()))
            .set_impact(change.impact.map(|i| i32::from(i.value())))
            .set_status(change.resolve.then_some(IncidentRecordStatus::Resolved))
            .send()
            .await
            .map_err(|e| failed(OP, incident.as_str(), Some(token), &e))?;
        Ok(())
    }

    async fn get_incident(&self, incident: &IncidentArn) -> Result<IncidentRecord, AwsError> {
        const OP: Operation = Operation::GetIncidentRecord;
        let out = self
            .client
            .get_incident_record()
            .arn(incident.as_str())
            .send()
            .await
            .map_err(|e| failed(OP, incident.as_str(), None, &e))?;
        let r = out
            .incident_record
            .ok_or_else(|| AwsError::new(OP, ErrorKind::Internal("no incidentRecord in the answer".to_owned())))?;
        Ok(IncidentRecord {
            arn: returned_arn(OP, r.arn())?,
            title: r.title().to_owned(),
            impact: r.impact(),
            status: if *r.status() == IncidentRecordStatus::Resolved { Status::Resolved } else { Status::Open },
            created_ms: millis(r.creation_time()),
            resolved_ms: r.resolved_time().map(millis),
            last_modified_by: r.last_modified_by().to_owned(),
        })
    }

    async fn list_timeline_events(
        &self,
        incident: &IncidentArn,
        after: SystemTime,
    ) -> Result<Vec<EventSummary>, AwsError> {
        const OP: Operation = Operation::ListTimelineEvents;
        let filter = Filter::builder().key("eventTime").condition(Condition::After(DateTime::from(after))).build();
        let mut pages = self
            .client
            .list_timeline_events()
            .incident_record_arn(incident.as_str())
            .filters(built(OP, filter)?)
            .sort_by(TimelineEventSort::EventTime)
            .sort_order(SortOrder::Ascending)
            .max_results(100)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let e = item.map_err(|e| failed(OP, incident.as_str(), None, &e))?;
            out.push(EventSummary {
                id: e.event_id().to_owned(),
                time_ms: millis(e.event_time()),
                kind: e.event_type().to_owned(),
            });
        }
        Ok(out)
    }

    async fn get_timeline_event(&self, incident: &IncidentArn, id: &str) -> Result<TimelineEvent, AwsError> {
        const OP: Operation = Operation::GetTimelineEvent;
        let out = self
            .client
            .get_timeline_event()
            .incident_record_arn(incident.as_str())
            .event_id(id)
            .send()
            .await
            .map_err(|e| failed(OP, incident.as_str(), None, &e))?;
        let e = out.event.ok_or_else(|| AwsError::new(OP, ErrorKind::Internal("no event in the answer".to_owned())))?;
        Ok(TimelineEvent {
            id: e.event_id().to_owned(),
            time_ms: millis(e.event_time()),
            kind: e.event_type().to_owned(),
            data: e.event_data().to_owned(),
        })
    }

    async fn list_related_items(&self, incident: &IncidentArn) -> Result<Vec<ListedItem>, AwsError> {
        const OP: Operation = Operation::ListRelatedItems;
        let mut pages = self
            .client
            .list_related_items()
            .incident_record_arn(incident.as_str())
            .max_results(100)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| failed(OP, incident.as_str(), None, &e))?;
            let Some(id) = item.identifier() else { continue };
            let value = match id.value() {
                Some(ItemValue::Url(u)) => u.clone(),
                Some(ItemValue::Arn(a)) => a.clone(),
                Some(ItemValue::MetricDefinition(m)) => m.clone(),
                _ => continue,
            };
            out.push(ListedItem {
                kind: id.r#type().as_str().to_owned(),
                value,
                title: item.title().unwrap_or_default().to_owned(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Left on, the SDK wakes every call in flight every 100 ms (see
    /// [`sdk_config`]).
    #[tokio::test]
    async fn stalled_stream_protection_is_off() {
        let settings = AwsSettings {
            region: Some("eu-west-1".to_owned()),
            endpoint_url: None,
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
        };
        let credentials = SharedCredentialsProvider::new(aws_credential_types::Credentials::for_tests());
        let sdk = sdk_config(&settings, Some(credentials)).await;
        let protection = sdk.stalled_stream_protection().expect("set explicitly");
        assert!(!protection.is_enabled());
    }
}
