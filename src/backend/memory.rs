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
use crate::domain::timeline::{CUSTOM_EVENT, RECORD_UPDATE};
use crate::domain::{
    ClientToken, Declaration, EventSummary, IncidentArn, IncidentRecord, IncidentSummary, ListedItem, PlanSummary,
    RecordChange, RelatedItem, Status, TimelineEvent,
};

/// The principal the bot's own calls are made as.
pub const BOT_PRINCIPAL: &str = "arn:aws:sts::111122223333:assumed-role/incident-bot/bot";

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
    /// Every timeline event, Incident Manager's own included.
    pub events: Vec<TimelineEvent>,
    pub last_modified_by: String,
    pub resolved_ms: Option<i64>,
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
    next_event: u64,
    /// The event each CreateTimelineEvent client token created.
    event_tokens: HashMap<String, String>,
}

impl State {
    fn event(&mut self, at: usize, kind: &str, data: String, time_ms: i64) -> String {
        self.next_event += 1;
        let id = format!("{:08x}-2222-4000-8000-{:012x}", self.next_event, self.next_event);
        self.records[at].events.push(TimelineEvent { id: id.clone(), time_ms, kind: kind.to_owned(), data });
        id
    }
}

fn at_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

fn now_ms() -> i64 {
    at_ms(SystemTime::now())
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
            events: Vec::new(),
            last_modified_by: "arn:aws:iam::111122223333:user/console".to_owned(),
            resolved_ms: None,
        });
        arn
    }

    /// Someone else (`by`) changes the record, as in the console: Incident
    /// Manager writes its own record-update event.
    pub fn change_elsewhere(&self, arn: &IncidentArn, change: &RecordChange, by: &str) {
        let mut s = self.state();
        let Some(at) = s.records.iter().position(|r| &r.arn == arn) else { return };
        apply(&mut s.records[at], change, by);
        s.event(at, RECORD_UPDATE, format!("{{\"modifiedBy\":\"{by}\"}}"), now_ms());
    }

    /// Someone else (`by`) reopens a resolved incident.
    pub fn reopen_elsewhere(&self, arn: &IncidentArn, by: &str) {
        let mut s = self.state();
        let Some(at) = s.records.iter().position(|r| &r.arn == arn) else { return };
        let r = &mut s.records[at];
        r.resolved = false;
        r.resolved_ms = None;
        by.clone_into(&mut r.last_modified_by);
        s.event(at, RECORD_UPDATE, format!("{{\"modifiedBy\":\"{by}\"}}"), now_ms());
    }

    /// Someone else adds a timeline event of `kind` with `data` (as stored).
    pub fn event_elsewhere(&self, arn: &IncidentArn, kind: &str, data: &str) -> String {
        let mut s = self.state();
        let at = s.records.iter().position(|r| &r.arn == arn).unwrap_or_else(|| unreachable!("a known incident"));
        s.event(at, kind, data.to_owned(), now_ms())
    }

    /// Someone else adds a related item.
    pub fn item_elsewhere(&self, arn: &IncidentArn, item: RelatedItem) {
        let mut s = self.state();
        if let Some(r) = s.records.iter_mut().find(|r| &r.arn == arn) {
            r.related.push(item);
        }
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
            events: Vec::new(),
            last_modified_by: BOT_PRINCIPAL.to_owned(),
            resolved_ms: None,
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
        at_time: SystemTime,
        token: &ClientToken,
    ) -> Result<String, AwsError> {
        let mut s = self.begin(Operation::CreateTimelineEvent)?;
        let at = s
            .records
            .iter()
            .position(|r| &r.arn == incident)
            .ok_or_else(|| AwsError::new(Operation::CreateTimelineEvent, ErrorKind::NotFound))?;
        // The same token is the same event.
        let key = (Operation::CreateTimelineEvent, token.as_str().to_owned());
        if let Some(id) = s.event_tokens.get(&key.1) {
            return Ok(id.clone());
        }
        s.applied.insert(key);
        s.records[at].timeline.push(text.to_owned());
        let time = at_ms(at_time);
        let id = s.event(at, CUSTOM_EVENT, serde_json::to_string(text).unwrap_or_default(), time);
        s.event_tokens.insert(token.as_str().to_owned(), id.clone());
        Ok(id)
    }
    async fn update_record(
        &self,
        incident: &IncidentArn,
        change: &RecordChange,
        token: &ClientToken,
    ) -> Result<(), AwsError> {
        self.write(Operation::UpdateIncidentRecord, incident, token, |r| apply(r, change, BOT_PRINCIPAL))?;
        let mut s = self.state();
        if let Some(at) = s.records.iter().position(|r| &r.arn == incident) {
            s.event(at, RECORD_UPDATE, format!("{{\"modifiedBy\":\"{BOT_PRINCIPAL}\"}}"), now_ms());
        }
        Ok(())
    }

    async fn get_incident(&self, incident: &IncidentArn) -> Result<IncidentRecord, AwsError> {
        let s = self.begin(Operation::GetIncidentRecord)?;
        let r = s
            .records
            .iter()
            .find(|r| &r.arn == incident)
            .ok_or_else(|| AwsError::new(Operation::GetIncidentRecord, ErrorKind::NotFound))?;
        Ok(IncidentRecord {
            arn: r.arn.clone(),
            title: r.title.clone(),
            impact: r.impact,
            status: if r.resolved { Status::Resolved } else { Status::Open },
            created_ms: r.created * 1000,
            resolved_ms: r.resolved_ms,
            last_modified_by: r.last_modified_by.clone(),
        })
    }

    async fn list_timeline_events(
        &self,
        incident: &IncidentArn,
        after: SystemTime,
    ) -> Result<Vec<EventSummary>, AwsError> {
        let s = self.begin(Operation::ListTimelineEvents)?;
        let after = at_ms(after);
        let r = s
            .records
            .iter()
            .find(|r| &r.arn == incident)
            .ok_or_else(|| AwsError::new(Operation::ListTimelineEvents, ErrorKind::NotFound))?;
        let mut out: Vec<EventSummary> = r
            .events
            .iter()
            .filter(|e| e.time_ms > after)
            .map(|e| EventSummary { id: e.id.clone(), time_ms: e.time_ms, kind: e.kind.clone() })
            .collect();
        out.sort_by_key(|e| e.time_ms);
        Ok(out)
    }

    async fn get_timeline_event(&self, incident: &IncidentArn, id: &str) -> Result<TimelineEvent, AwsError> {
        let s = self.begin(Operation::GetTimelineEvent)?;
        s.records
            .iter()
            .find(|r| &r.arn == incident)
            .and_then(|r| r.events.iter().find(|e| e.id == id))
            .cloned()
            .ok_or_else(|| AwsError::new(Operation::GetTimelineEvent, ErrorKind::NotFound))
    }

    async fn list_related_items(&self, incident: &IncidentArn) -> Result<Vec<ListedItem>, AwsError> {
        let s = self.begin(Operation::ListRelatedItems)?;
        let r = s
            .records
            .iter()
            .find(|r| &r.arn == incident)
            .ok_or_else(|| AwsError::new(Operation::ListRelatedItems, ErrorKind::NotFound))?;
        Ok(r.related
            .iter()
            .map(|i| ListedItem { kind: i.item_type().to_owned(), value: i.value().to_owned(), title: i.title.clone() })
            .collect())
    }
}

/// Applies `change` to `r`, made by `by`.
fn apply(r: &mut Record, change: &RecordChange, by: &str) {
    if let Some(t) = &change.title {
        t.as_str().clone_into(&mut r.title);
    }
    if let Some(i) = change.impact {
        r.impact = i32::from(i.value());
    }
    if change.resolve && !r.resolved {
        r.resolved = true;
        r.resolved_ms = Some(now_ms());
    }
    by.clone_into(&mut r.last_modified_by);
}
