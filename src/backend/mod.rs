//! The incident backend: what the bot asks of Incident Manager, behind one
//! trait.
//!
//! | implementation | used by |
//! |---|---|
//! | [`sdk::SdkBackend`] | the bot and the CLI: AWS Systems Manager Incident Manager through the official SDK |
//! | [`metered::Metered`] | a wrapper that records each call's latency and result in the metrics |
//! | [`offload::OwnThread`] | a wrapper that runs each call on a thread of its own, away from the first answers (`run`) |
//! | [`memory::InMemoryBackend`] | unit tests of the flows: incidents kept in memory, faults on demand |
//!
//! Every failure is an [`AwsError`]: the operation that failed and what kind
//! of failure it was. The full cause is logged where it happens (the SDK
//! implementation); what a person reads about it is written in
//! [`crate::messages`].

pub mod http;
pub mod memory;
pub mod metered;
pub mod offload;
pub mod sdk;

use std::time::SystemTime;

use async_trait::async_trait;

use crate::domain::{
    ClientToken, Declaration, EventSummary, IncidentArn, IncidentRecord, IncidentSummary, ListedItem, PlanSummary,
    RecordChange, RelatedItem, TimelineEvent,
};

/// What the bot does in Incident Manager. Each write carries a client token,
/// so a repeated request repeats the same write.
#[async_trait]
pub trait IncidentBackend: Send + Sync + 'static {
    /// The region requests go to, when one is known.
    fn region(&self) -> Option<&str>;

    /// Starts the incident (`StartIncident`); returns its record's ARN.
    async fn start_incident(&self, d: &Declaration) -> Result<IncidentArn, AwsError>;

    /// Every response plan of the account and region (`ListResponsePlans`, all pages).
    async fn list_response_plans(&self) -> Result<Vec<PlanSummary>, AwsError>;

    /// Open incident records, newest first, at most `limit` (`ListIncidentRecords`).
    async fn list_open_incidents(&self, limit: usize) -> Result<Vec<IncidentSummary>, AwsError>;

    /// Adds a related item to an incident (`UpdateRelatedItems`).
    async fn add_related_item(
        &self,
        incident: &IncidentArn,
        item: &RelatedItem,
        token: &ClientToken,
    ) -> Result<(), AwsError>;

    /// Adds a custom event to the incident's timeline (`CreateTimelineEvent`);
    /// `text` is the event's data, `at` its time. Returns the event's id.
    async fn add_timeline_event(
        &self,
        incident: &IncidentArn,
        text: &str,
        at: SystemTime,
        token: &ClientToken,
    ) -> Result<String, AwsError>;

    /// Changes title, impact and/or status (`UpdateIncidentRecord`).
    async fn update_record(
        &self,
        incident: &IncidentArn,
        change: &RecordChange,
        token: &ClientToken,
    ) -> Result<(), AwsError>;

    /// The record as it is now (`GetIncidentRecord`).
    async fn get_incident(&self, incident: &IncidentArn) -> Result<IncidentRecord, AwsError>;

    /// Timeline events at or after `after`, oldest first (`ListTimelineEvents`,
    /// filtered on `eventTime`, all pages).
    async fn list_timeline_events(
        &self,
        incident: &IncidentArn,
        after: SystemTime,
    ) -> Result<Vec<EventSummary>, AwsError>;

    /// One timeline event with its data (`GetTimelineEvent`).
    async fn get_timeline_event(&self, incident: &IncidentArn, id: &str) -> Result<TimelineEvent, AwsError>;

    /// Every related item of the incident (`ListRelatedItems`, all pages).
    async fn list_related_items(&self, incident: &IncidentArn) -> Result<Vec<ListedItem>, AwsError>;
}

/// The regions of the `aws` partition where Incident Manager is offered
/// (botocore's `endpoints.json`, service `ssm-incidents`).
pub const REGIONS: [&str; 16] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "sa-east-1",
];

/// An Incident Manager operation the bot calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    StartIncident,
    ListResponsePlans,
    ListIncidentRecords,
    UpdateRelatedItems,
    CreateTimelineEvent,
    UpdateIncidentRecord,
    GetIncidentRecord,
    ListTimelineEvents,
    GetTimelineEvent,
    ListRelatedItems,
}

impl Operation {
    /// Every operation, in the order the IAM policy (docs/iam.md) lists them.
    pub const ALL: [Operation; 10] = [
        Self::StartIncident,
        Self::UpdateRelatedItems,
        Self::CreateTimelineEvent,
        Self::UpdateIncidentRecord,
        Self::GetIncidentRecord,
        Self::ListTimelineEvents,
        Self::GetTimelineEvent,
        Self::ListRelatedItems,
        Self::ListResponsePlans,
        Self::ListIncidentRecords,
    ];

    /// The API name, as metrics and logs show it.
    pub fn name(self) -> &'static str {
        match self {
            Self::StartIncident => "StartIncident",
            Self::ListResponsePlans => "ListResponsePlans",
            Self::ListIncidentRecords => "ListIncidentRecords",
            Self::UpdateRelatedItems => "UpdateRelatedItems",
            Self::CreateTimelineEvent => "CreateTimelineEvent",
            Self::UpdateIncidentRecord => "UpdateIncidentRecord",
            Self::GetIncidentRecord => "GetIncidentRecord",
            Self::ListTimelineEvents => "ListTimelineEvents",
            Self::GetTimelineEvent => "GetTimelineEvent",
            Self::ListRelatedItems => "ListRelatedItems",
        }
    }

    /// The IAM action the call needs.
    pub fn iam_action(self) -> String {
        format!("ssm-incidents:{}", self.name())
    }

    /// Whether the operation changes nothing.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Self::ListResponsePlans
                | Self::ListIncidentRecords
                | Self::GetIncidentRecord
                | Self::ListTimelineEvents
                | Self::GetTimelineEvent
                | Self::ListRelatedItems
        )
    }
}

/// A failed Incident Manager call: which operation, and how it failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} failed: {kind}", operation.name())]
pub struct AwsError {
    pub operation: Operation,
    pub kind: ErrorKind,
    /// AWS's own message (it names the principal and the resource), or the
    /// innermost cause of a failure to reach AWS (`Connection refused (os
    /// error 111)`). For operators only: never shown in Discord.
    pub detail: Option<String>,
}

impl AwsError {
    pub fn new(operation: Operation, kind: ErrorKind) -> Self {
        Self { operation, kind, detail: None }
    }

    #[must_use]
    pub fn with_detail(mut self, detail: Option<String>) -> Self {
        self.detail = detail.filter(|d| !d.trim().is_empty());
        self
    }

    /// A stable name of the kind, for logs and metrics.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

/// How an AWS call failed, classified for the person who reads about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("access denied")]
    AccessDenied,
    #[error("AWS rejected the credentials ({0})")]
    BadCredentials(String),
    #[error("no AWS credentials")]
    NoCredentials,
    #[error("resource not found")]
    NotFound,
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

impl ErrorKind {
    /// A stable name for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AccessDenied => "access_denied",
            Self::BadCredentials(_) => "bad_credentials",
            Self::NoCredentials => "no_credentials",
            Self::NotFound => "not_found",
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

    /// The kind an AWS error code names (`x-amzn-errortype`).
    pub fn from_code(code: &str, message: Option<&str>) -> Self {
        match code {
            "AccessDeniedException" => Self::AccessDenied,
            "ResourceNotFoundException" => Self::NotFound,
            "ThrottlingException" | "TooManyRequestsException" => Self::Throttled,
            "ValidationException" => Self::Validation { field: message.and_then(validation_field) },
            "ConflictException" => Self::Conflict,
            "ServiceQuotaExceededException" => Self::QuotaExceeded,
            "InternalServerException" | "ServiceUnavailableException" => Self::ServiceFault,
            "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "ExpiredTokenException"
            | "InvalidClientTokenId"
            | "IncompleteSignature" => Self::BadCredentials(code.to_owned()),
            "" => Self::Other("(no error code)".to_owned()),
            code => Self::Other(code.to_owned()),
        }
    }
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

    /// The IAM policy (docs/iam.md) grants exactly the operations the bot calls.
    #[test]
    fn the_iam_policy_in_the_docs_names_every_operation_and_no_other() {
        let readme = include_str!("../../docs/iam.md");
        let start = readme.find("\"Version\": \"2012-10-17\"").expect("the policy");
        let policy = &readme[start..start + readme[start..].find("```").expect("its end")];
        let mut granted: Vec<&str> = policy.split('"').filter(|s| s.starts_with("ssm-incidents:")).collect();
        granted.sort_unstable();
        let mut called: Vec<String> = Operation::ALL.iter().map(|o| o.iam_action()).collect();
        called.sort();
        assert_eq!(granted, called);
    }

    #[test]
    fn codes_classify() {
        assert_eq!(ErrorKind::from_code("AccessDeniedException", None), ErrorKind::AccessDenied);
        assert_eq!(ErrorKind::from_code("TooManyRequestsException", None), ErrorKind::Throttled);
        assert_eq!(ErrorKind::from_code("ExpiredTokenException", None).code(), "bad_credentials");
        assert_eq!(ErrorKind::from_code("Weird", None), ErrorKind::Other("Weird".into()));
        assert_eq!(
            ErrorKind::from_code("ValidationException", Some("Value 'x' at 'title' failed")),
            ErrorKind::Validation { field: Some("title".into()) }
        );
    }
}
