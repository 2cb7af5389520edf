//! A backend that records each call's latency and result
//! (`incident_bot_aws_call_seconds{operation,result}`) around another.

use std::future::Future;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use async_trait::async_trait;

use super::{AwsError, IncidentBackend, Operation};
use crate::domain::{
    ClientToken, Declaration, EventSummary, IncidentArn, IncidentRecord, IncidentSummary, ListedItem, PlanSummary,
    RecordChange, RelatedItem, TimelineEvent,
};
use crate::observe::Metrics;

/// `inner`, measured.
#[derive(Debug)]
pub struct Metered<B> {
    inner: B,
    metrics: Arc<Metrics>,
}

impl<B: IncidentBackend> Metered<B> {
    pub fn new(inner: B, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    async fn observe<T>(
        &self,
        operation: Operation,
        call: impl Future<Output = Result<T, AwsError>>,
    ) -> Result<T, AwsError> {
        let started = Instant::now();
        let r = call.await;
        self.metrics.aws_call(operation.name(), r.is_ok(), started.elapsed());
        r
    }
}

#[async_trait]
impl<B: IncidentBackend> IncidentBackend for Metered<B> {
    fn region(&self) -> Option<&str> {
        self.inner.region()
    }

    async fn start_incident(&self, d: &Declaration) -> Result<IncidentArn, AwsError> {
        self.observe(Operation::StartIncident, self.inner.start_incident(d)).await
    }

    async fn list_response_plans(&self) -> Result<Vec<PlanSummary>, AwsError> {
        self.observe(Operation::ListResponsePlans, self.inner.list_response_plans()).await
    }

    async fn list_open_incidents(&self, limit: usize) -> Result<Vec<IncidentSummary>, AwsError> {
        self.observe(Operation::ListIncidentRecords, self.inner.list_open_incidents(limit)).await
    }

    async fn add_related_item(
        &self,
        incident: &IncidentArn,
        item: &RelatedItem,
        token: &ClientToken,
    ) -> Result<(), AwsError> {
        self.observe(Operation::UpdateRelatedItems, self.inner.add_related_item(incident, item, token)).await
    }

    async fn add_timeline_event(
        &self,
        incident: &IncidentArn,
        text: &str,
        at: SystemTime,
        token: &ClientToken,
    ) -> Result<String, AwsError> {
        self.observe(Operation::CreateTimelineEvent, self.inner.add_timeline_event(incident, text, at, token)).await
    }

    async fn update_record(
        &self,
        incident: &IncidentArn,
        change: &RecordChange,
        token: &ClientToken,
    ) -> Result<(), AwsError> {
        self.observe(Operation::UpdateIncidentRecord, self.inner.update_record(incident, change, token)).await
    }

    async fn get_incident(&self, incident: &IncidentArn) -> Result<IncidentRecord, AwsError> {
        self.observe(Operation::GetIncidentRecord, self.inner.get_incident(incident)).await
    }

    async fn list_timeline_events(
        &self,
        incident: &IncidentArn,
        after: SystemTime,
    ) -> Result<Vec<EventSummary>, AwsError> {
        self.observe(Operation::ListTimelineEvents, self.inner.list_timeline_events(incident, after)).await
    }

    async fn get_timeline_event(&self, incident: &IncidentArn, id: &str) -> Result<TimelineEvent, AwsError> {
        self.observe(Operation::GetTimelineEvent, self.inner.get_timeline_event(incident, id)).await
    }

    async fn list_related_items(&self, incident: &IncidentArn) -> Result<Vec<ListedItem>, AwsError> {
        self.observe(Operation::ListRelatedItems, self.inner.list_related_items(incident)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ErrorKind;
    use crate::backend::memory::InMemoryBackend;

    #[tokio::test]
    async fn each_call_is_counted_by_operation_and_result() {
        let metrics = Arc::new(Metrics::new());
        let memory = InMemoryBackend::new();
        memory.fail_next(Operation::ListResponsePlans, ErrorKind::Throttled);
        let backend = Metered::new(memory, metrics.clone());
        assert!(backend.list_response_plans().await.is_err());
        assert!(backend.list_response_plans().await.is_ok());
        assert!(backend.list_open_incidents(10).await.is_ok());
        let text = metrics.encode();
        for series in [
            r#"incident_bot_aws_call_seconds_count{operation="ListResponsePlans",result="error"} 1"#,
            r#"incident_bot_aws_call_seconds_count{operation="ListResponsePlans",result="ok"} 1"#,
            r#"incident_bot_aws_call_seconds_count{operation="ListIncidentRecords",result="ok"} 1"#,
        ] {
            assert!(text.contains(series), "{series} missing from\n{text}");
        }
    }
}
