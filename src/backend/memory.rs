//! An [`IncidentBackend`] that keeps incidents in memory, for tests of the
//! flows that need no server. It behaves as Incident Manager does where the
//! flows depend on it: unknown response plans and incidents are not found,
//! writes are idempotent on their client token, records can be opened
//! "elsewhere" (as in the console), and any call can be made to fail.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use super::{AwsError, ErrorKind, IncidentBackend, Operation};
use crate::domain::{ClientToken, Declaration, IncidentArn, IncidentSummary, PlanSummary, RecordChange, RelatedItem};

/// The account the in-memory incidents belong to.
pub const ACCOUNT: &str = "111122223333";

/// One incident record.
#[derive(Debug, Clone)]
pub struct Record {
    pub arn: IncidentArn,
    pub title: String,
    pub impact: i32,
    pub resolved: bool,
    pub created: i64,
    pub related: Vec<RelatedItem>,
    /// The data of each timeline event the bot added.
    pub timeline: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    plans: Vec<PlanSummary>,
    records: Vec<Record>,
    /// The incident each StartIncident client token started.
    started: HashMap<String, IncidentArn>,
    /// Client tokens of the other writes already applied.
    applied: HashSet<(Operation, String)>,
    faults: HashMap<Operation, VecDeque<ErrorKind>>,
    calls: Vec<Operation>,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct InMemoryBackend {
    state: Mutex<State>,
    region: Option<String>,
}

impl InMemoryBackend {
    /// No plans, no incidents, region `us-east-1`.
    pub fn new() -> Self {
        Self { state: Mutex::default(), region: Some("us-east-1".to_owned()) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The ARN of response plan `name` in this account.
    pub fn plan_arn(name: &str) -> String {
        format!("arn:aws:ssm-incidents::{ACCOUNT}:response-plan/{name}")
    }

    /// Adds a response plan.
    pub fn add_plan(&self, name: &str, display_name: Option<&str>) {
        self.state().plans.push(PlanSummary {
            arn: Self::plan_arn(name),
            name: name.to_owned(),
            display_name: display_name.map(str::to_owned),
        });
    }

    /// The next call of `operation` fails with `kind`.
    pub fn fail_next(&self, operation: Operation, kind: ErrorKind) {
        self.state().faults.entry(operation).or_default().push_back(kind);
    }

    /// Opens an incident as someone else would (the console, an alarm), created
    /// `created` (Unix seconds).
    pub fn open_elsewhere(&self, plan: &str, title: &str, impact: i32, created: i64) -> IncidentArn {
        let mut s = self.state();
        let arn = Self::new_arn(&s, plan);
        s.records.push(Record {
            arn: arn.clone(),
            title: title.to_owned(),
            impact,
            resolved: false,
            created,
            related: Vec::new(),
            timeline: Vec::new(),
        });
        arn
    }

    /// The record of `arn`.
    pub fn record(&self, arn: &IncidentArn) -> Option<Record> {
        self.state().records.iter().find(|r| &r.arn == arn).cloned()
    }

    /// Every record, oldest first.
    pub fn records(&self) -> Vec<Record> {
        self.state().records.clone()
    }

    /// How many times `operation` was called, failed calls included.
    pub fn calls(&self, operation: Operation) -> usize {
        self.state().calls.iter().filter(|o| **o == operation).count()
    }

    /// How many calls were made in all.
    pub fn total_calls(&self) -> usize {
        self.state().calls.len()
    }

    fn new_arn(s: &State, plan: &str) -> IncidentArn {
        let n = s.records.len() + 1;
        IncidentArn::parse(&format!(
            "arn:aws:ssm-incidents::{ACCOUNT}:incident-record/{plan}/{n:08x}-0000-4000-8000-{n:012x}"
        ))
        .unwrap_or_else(|_| unreachable!("the format is an incident record ARN"))
    }

    /// Records the call; fails it if a fault is queued.
    fn begin(&self, operation: Operation) -> Result<MutexGuard<'_, State>, AwsError> {
        let mut s = self.state();
        s.calls.push(operation);
        match s.faults.get_mut(&operation).and_then(VecDeque::pop_front) {
            Some(kind) => Err(AwsError::new(operation, kind)),
            None => Ok(s),
        }
    }

    /// Applies `write` to the record of `incident` unless `token` was applied.
    fn write(
        &self,
        operation: Operation,
        incident: &IncidentArn,
        token: &ClientToken,
        write: impl FnOnce(&mut Record),
    ) -> Result<(), AwsError> {
        let mut s = self.begin(operation)?;
        let at = s
            .records
            .iter()
            .position(|r| &r.arn == incident)
            .ok_or_else(|| AwsError::new(operation, ErrorKind::NotFound))?;
        if s.applied.insert((operation, token.as_str().to_owned())) {
            write(&mut s.records[at]);
        }
        Ok(())
    }
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

#[async_trait]
impl IncidentBackend for InMemoryBackend {
    fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    async fn start_incident(&self, d: &Declaration) -> Result<IncidentArn, AwsError> {
        let mut s = self.begin(Operation::StartIncident)?;
        if !s.plans.iter().any(|p| p.arn == d.plan.arn.as_str()) {
            return Err(AwsError::new(Operation::StartIncident, ErrorKind::NotFound));
        }
        if let Some(arn) = s.started.get(d.client_token.as_str()) {
            return Ok(arn.clone());
        }
        let arn = Self::new_arn(&s, d.plan.arn.name());
        s.records.push(Record {
            arn: arn.clone(),
            title: d
                .title
                .as_ref()
                .map_or_else(|| format!("{} incident", d.plan.arn.name()), |t| t.as_str().to_owned()),
            impact: d.impact.map_or(3, |i| i32::from(i.value())),
            resolved: false,
            created: now_secs(),
            related: d.related_items.clone(),
            timeline: Vec::new(),
        });
        s.started.insert(d.client_token.as_str().to_owned(), arn.clone());
        Ok(arn)
    }

    async fn list_response_plans(&self) -> Result<Vec<PlanSummary>, AwsError> {
        Ok(self.begin(Operation::ListResponsePlans)?.plans.clone())
    }

    async fn list_open_incidents(&self, limit: usize) -> Result<Vec<IncidentSummary>, AwsError> {
        let s = self.begin(Operation::ListIncidentRecords)?;
        let mut open: Vec<IncidentSummary> = s
            .records
            .iter()
            .filter(|r| !r.resolved)
            .map(|r| IncidentSummary {
                arn: r.arn.clone(),
                title: r.title.clone(),
                impact: r.impact,
                created: r.created,
            })
            .collect();
        open.sort_by_key(|i| std::cmp::Reverse(i.created));
        open.truncate(limit);
        Ok(open)
    }

    async fn add_related_item(
        &self,
        incident: &IncidentArn,
        item: &RelatedItem,
        token: &ClientToken,
    ) -> Result<(), AwsError> {
        self.write(Operation::UpdateRelatedItems, incident, token, |r| r.related.push(item.clone()))
    }

    async fn add_timeline_event(
        &self,
        incident: &IncidentArn,
        text: &str,
        _at: SystemTime,
        token: &ClientToken,
    ) -> Result<(), AwsError> {
        self.write(Operation::CreateTimelineEvent, incident, token, |r| r.timeline.push(text.to_owned()))
    }

    async fn update_record(
        &self,
        incident: &IncidentArn,
        change: &RecordChange,
        token: &ClientToken,
    ) -> Result<(), AwsError> {
        self.write(Operation::UpdateIncidentRecord, incident, token, |r| {
            if let Some(t) = &change.title {
                t.as_str().clone_into(&mut r.title);
            }
            if let Some(i) = change.impact {
                r.impact = i32::from(i.value());
            }
            r.resolved |= change.resolve;
        })
    }
}
