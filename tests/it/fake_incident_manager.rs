//! A fake AWS Systems Manager Incident Manager (rest-json) on loopback.
//!
//! It is strict where the real service is:
//! - requests must be SigV4-signed for service `ssm-incidents` with the test
//!   credentials (the signature is recomputed and compared);
//! - bodies are validated against the botocore service model
//!   (`tests/fixtures/ssm-incidents-2018-05-10.json`): types, required members,
//!   lengths (counted in UTF-16 units), patterns, enums, ranges, unions;
//!   violations get a `ValidationException` worded like AWS's;
//! - unknown response plans get `ResourceNotFoundException`;
//! - StartIncident is idempotent on `clientToken`, and so are the writes to
//!   a record (a repeated CreateTimelineEvent returns the first event's id);
//! - the record keeps a timeline, as the service does: the events written
//!   with CreateTimelineEvent, and the ones Incident Manager writes on its
//!   own (`SSM Incident Record Update` on each UpdateIncidentRecord), listed
//!   by ListTimelineEvents (filtered on `eventTime`, sorted) and read with
//!   GetTimelineEvent; GetIncidentRecord and ListRelatedItems answer from it.
//!
//! Errors carry `x-amzn-errortype`, as the service sends them. Every request is
//! recorded, accepted or not; tests can queue faults and set a delay.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;

use super::http::{Req, Resp, serve};

pub const ACCESS_KEY: &str = "AKIDINCIDENTBOTTEST";
pub const SECRET_KEY: &str = "incident-bot-test-secret";
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "111122223333";

/// One request as received.
#[derive(Debug, Clone)]
pub struct AwsRequest {
    pub operation: String,
    pub body: Value,
    pub headers: Vec<(String, String)>,
    /// The status the fake answered with.
    pub status: u16,
}

/// A scripted answer for the next request, instead of the normal one.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// An AWS error: status, `x-amzn-errortype`, message.
    Error(u16, &'static str, &'static str),
    /// Do the work, then answer with this error, as when the response is
    /// lost after the service acted.
    ActThenFail(u16, &'static str),
}

/// An incident record the fake keeps.
#[derive(Debug, Clone)]
pub struct Record {
    pub arn: String,
    pub title: String,
    pub impact: i64,
    pub status: String,
    pub created: f64,
    pub related: Vec<Value>,
    pub timeline: Vec<Value>,
    /// Every timeline event, as GetTimelineEvent answers it.
    pub events: Vec<Value>,
    pub last_modified_by: String,
    pub resolved: Option<f64>,
}

/// The principal the tests' credentials are (the bot's role).
pub const BOT_PRINCIPAL: &str = "arn:aws:sts::111122223333:assumed-role/incident-bot/bot";
/// A second identity (same secret): an on-call engineer at a terminal.
pub const OPERATOR_KEY: &str = "AKIDONCALLOPERATOR";
pub const OPERATOR_PRINCIPAL: &str = "arn:aws:sts::111122223333:assumed-role/OnCall/cli";

impl Record {
    fn new(arn: String, title: String, impact: i64, created: f64, related: Vec<Value>) -> Self {
        Self {
            arn,
            title,
            impact,
            status: "OPEN".into(),
            created,
            related,
            timeline: vec![],
            events: vec![],
            last_modified_by: BOT_PRINCIPAL.into(),
            resolved: None,
        }
    }

    /// Adds a timeline event; returns its id.
    fn event(&mut self, kind: &str, data: &str, time: f64, serial: usize) -> String {
        let id = format!("{serial:08x}-2222-4000-8000-{:012x}", self.events.len());
        self.events.push(json!({"eventId": id, "eventTime": time, "eventUpdatedTime": now_secs(), "eventType": kind,
            "eventData": data, "incidentRecordArn": self.arn}));
        id
    }
}

#[derive(Debug, Default)]
pub struct State {
    pub requests: Vec<AwsRequest>,
    /// Incident record ARN by client token, in creation order.
    pub incidents: Vec<(String, String)>,
    pub records: Vec<Record>,
    /// Response plans: (ARN, display name).
    plans: Vec<(String, Option<String>)>,
    /// Faults for the next calls, per operation.
    faults: HashMap<String, VecDeque<Fault>>,
    /// Operations that fail every time with this fault.
    broken: HashMap<String, Fault>,
    /// Client tokens already used, per operation (idempotency).
    tokens: HashMap<String, Vec<String>>,
    /// The event each CreateTimelineEvent client token made.
    event_ids: HashMap<String, String>,
    delay: Duration,
    /// When set, each answer waits a pseudo-random time up to this instead
    /// of `delay` (benchmarks: AWS answering in 0–200 ms).
    jitter: Option<Duration>,
    /// The pseudo-random sequence's state.
    rng: u64,
    /// Delays for single operations, instead of `delay`.
    op_delays: HashMap<String, Duration>,
    /// The service's page size for List operations.
    page_size: usize,
}

#[derive(Clone)]
pub struct FakeIncidentManager {
    pub url: String,
    state: Arc<Mutex<State>>,
    changed: Arc<watch::Sender<u64>>,
}

/// Parses the service model and compiles its patterns, which the fake
/// otherwise does on first use (see `fake_discord::warm_up`).
#[allow(dead_code)] // used by benches/loadgen.rs
pub fn warm_up() {
    fn walk(v: &Value) {
        match v {
            Value::Object(o) => {
                // (Some of the model's patterns are not in Rust's syntax; the
                // shapes that carry them are never checked.)
                if let Some(Value::String(p)) = o.get("pattern")
                    && regex::Regex::new(p).is_ok()
                {
                    pattern(p);
                }
                o.values().for_each(walk);
            }
            Value::Array(a) => a.iter().for_each(walk),
            _ => {}
        }
    }
    walk(model());
}

fn model() -> &'static Value {
    static MODEL: OnceLock<Value> = OnceLock::new();
    MODEL.get_or_init(|| serde_json::from_str(include_str!("../fixtures/ssm-incidents-2018-05-10.json")).unwrap())
}

pub fn plan_arn(name: &str) -> String {
    format!("arn:aws:ssm-incidents::{ACCOUNT}:response-plan/{name}")
}

impl FakeIncidentManager {
    /// Starts the fake with response plans of these names.
    pub async fn start(plans: &[&str]) -> Self {
        let state = Arc::new(Mutex::new(State {
            plans: plans.iter().map(|p| (plan_arn(p), Some(format!("{p} team")))).collect(),
            page_size: 10,
            ..State::default()
        }));
        let changed = Arc::new(watch::channel(0).0);
        let (s, c) = (state.clone(), changed.clone());
        let addr = serve(move |req| {
            let (s, c) = (s.clone(), c.clone());
            async move { handle(&s, &c, req).await }
        })
        .await;
        Self { url: format!("http://{addr}"), state, changed }
    }

    /// Answers the next StartIncident requests with these faults, in order.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.push_faults_for("StartIncident", faults);
    }

    /// Answers the next `operation` requests with these faults, in order.
    pub fn push_faults_for(&self, operation: &str, faults: impl IntoIterator<Item = Fault>) {
        self.state.lock().unwrap().faults.entry(operation.to_owned()).or_default().extend(faults);
    }

    /// Adds a response plan (with an optional display name).
    pub fn add_plan(&self, name: &str, display: Option<&str>) {
        self.state.lock().unwrap().plans.push((plan_arn(name), display.map(str::to_owned)));
    }

    /// Makes every call of `operation` fail with `fault` (`None`: heal it).
    pub fn break_operation(&self, operation: &str, fault: Option<Fault>) {
        let mut s = self.state.lock().unwrap();
        match fault {
            Some(f) => s.broken.insert(operation.to_owned(), f),
            None => s.broken.remove(operation),
        };
    }

    /// Adds an incident that was declared elsewhere (console, alarms).
    pub fn seed_incident(&self, plan: &str, title: &str, impact: i64, age_secs: f64) -> String {
        let mut s = self.state.lock().unwrap();
        let n = s.records.len() + 1000;
        let arn = format!("arn:aws:ssm-incidents::{ACCOUNT}:incident-record/{plan}/{n:08x}-1111-4000-8000-{n:012x}");
        let created = now_secs() - age_secs;
        s.records.push(Record::new(arn.clone(), title.into(), impact, created, vec![]));
        arn
    }

    /// What someone else does in the console: changes the record (as `by`),
    /// and Incident Manager logs a record update.
    #[allow(dead_code)]
    pub fn change_elsewhere(
        &self,
        arn: &str,
        status: Option<&str>,
        impact: Option<i64>,
        title: Option<&str>,
        by: &str,
    ) {
        let mut s = self.state.lock().unwrap();
        let serial = s.records.len();
        let r = s.records.iter_mut().find(|r| r.arn == arn).expect("a known incident");
        if let Some(st) = status {
            if st == "RESOLVED" && r.status != "RESOLVED" {
                r.resolved = Some(now_secs());
            }
            r.status = st.to_owned();
        }
        if let Some(i) = impact {
            r.impact = i;
        }
        if let Some(t) = title {
            r.title = t.to_owned();
        }
        r.last_modified_by = by.to_owned();
        r.event("SSM Incident Record Update", &json!({"modifiedBy": by}).to_string(), now_secs(), serial);
        drop(s);
        self.changed.send_modify(|v| *v += 1);
    }

    /// A timeline event written elsewhere (an engagement, automation, a note
    /// in the console); returns its id.
    #[allow(dead_code)]
    pub fn event_elsewhere(&self, arn: &str, kind: &str, data: &str) -> String {
        let mut s = self.state.lock().unwrap();
        let serial = s.records.len() + 500;
        let r = s.records.iter_mut().find(|r| r.arn == arn).expect("a known incident");
        let id = r.event(kind, data, now_secs(), serial);
        drop(s);
        self.changed.send_modify(|v| *v += 1);
        id
    }

    /// An event added elsewhere `secs_ago` seconds ago (older than the
    /// replicas' settling time).
    #[allow(dead_code)]
    pub fn event_elsewhere_ago(&self, arn: &str, kind: &str, data: &str, secs_ago: u32) -> String {
        let mut s = self.state.lock().unwrap();
        let serial = s.records.len() + 500;
        let r = s.records.iter_mut().find(|r| r.arn == arn).expect("a known incident");
        let id = r.event(kind, data, now_secs() - f64::from(secs_ago), serial);
        drop(s);
        self.changed.send_modify(|v| *v += 1);
        id
    }

    /// A related item added elsewhere.
    #[allow(dead_code)]
    pub fn item_elsewhere(&self, arn: &str, url: &str, title: &str) {
        let mut s = self.state.lock().unwrap();
        let r = s.records.iter_mut().find(|r| r.arn == arn).expect("a known incident");
        r.related.push(json!({"identifier": {"type": "OTHER", "value": {"url": url}}, "title": title}));
    }

    pub fn record(&self, arn: &str) -> Record {
        self.state.lock().unwrap().records.iter().find(|r| r.arn == arn).cloned().unwrap()
    }

    /// Delays every answer by `d`.
    pub fn set_delay(&self, d: Duration) {
        self.state.lock().unwrap().delay = d;
    }

    /// Delays each answer by a pseudo-random time from 0 to `max`.
    #[allow(dead_code)] // used by benches/loadgen.rs
    pub fn set_delay_up_to(&self, max: Duration) {
        self.state.lock().unwrap().jitter = Some(max);
    }

    /// Forgets every request and incident (the plans stay), so a long
    /// benchmark does not measure the fake's own growing memory.
    #[allow(dead_code)] // used by benches/loadgen.rs
    pub fn reset(&self) {
        let mut s = self.state.lock().unwrap();
        s.requests = Vec::new();
        s.incidents = Vec::new();
        s.records = Vec::new();
        s.tokens = HashMap::new();
    }

    /// Delays every answer to `operation` by `d`.
    pub fn set_operation_delay(&self, operation: &str, d: Duration) {
        self.state.lock().unwrap().op_delays.insert(operation.to_owned(), d);
    }

    pub fn requests(&self, operation: &str) -> Vec<AwsRequest> {
        self.state.lock().unwrap().requests.iter().filter(|r| r.operation == operation).cloned().collect()
    }

    /// How many requests have arrived, valid or not.
    #[allow(dead_code)] // used by benches/loadgen.rs
    pub fn request_count(&self) -> usize {
        self.state.lock().unwrap().requests.len()
    }

    pub fn incidents(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().incidents.clone()
    }

    /// Waits (up to [`super::WAIT`]) until `f` returns `Some`.
    pub async fn wait_for<T>(&self, what: &str, f: impl Fn(&State) -> Option<T>) -> T {
        super::http::wait_until(&self.state, &self.changed, what, f, |s| format!("requests: {:#?}", s.requests)).await
    }

    /// Waits for the `n`th request of `operation` (1-based).
    pub async fn wait_requests(&self, operation: &str, n: usize) -> Vec<AwsRequest> {
        self.wait_for(&format!("{n} {operation} request(s)"), |s| {
            let got: Vec<_> = s.requests.iter().filter(|r| r.operation == operation).cloned().collect();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

fn aws_error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(status, &json!({ "message": message })).with_header("x-amzn-errortype", code)
}

async fn handle(state: &Mutex<State>, changed: &watch::Sender<u64>, req: Req) -> Resp {
    let operation = operation_for(&req.method, &req.path);
    // GET operations carry their input in the query string.
    let body: Value = if req.method == "GET" {
        Value::Object(
            req.query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (percent_decode(k), Value::String(percent_decode(v))))
                .collect(),
        )
    } else {
        serde_json::from_slice(&req.body).unwrap_or(Value::Null)
    };
    let (delay, fault) = {
        let mut s = state.lock().unwrap();
        let broken = operation.as_ref().and_then(|op| s.broken.get(op).copied());
        let queued = operation.as_ref().and_then(|op| s.faults.get_mut(op)?.pop_front());
        let mut delay = operation.as_ref().and_then(|op| s.op_delays.get(op).copied()).unwrap_or(s.delay);
        if let Some(max) = s.jitter {
            // xorshift64: cheap, and the same sequence on every run.
            let mut x = s.rng.max(0x9e37_79b9_7f4a_7c15);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.rng = x;
            delay = max.mul_f64((x % 1000) as f64 / 1000.0);
        }
        (delay, broken.or(queued))
    };
    let resp = match (&operation, fault) {
        (_, Some(Fault::Error(status, code, message))) => aws_error(status, code, message),
        (Some(op), Some(Fault::ActThenFail(status, code))) => {
            if let Ok(caller) = check(&req, op, &body) {
                respond(state, op, &body, caller);
            }
            aws_error(status, code, "the answer was lost")
        }
        (None, _) => aws_error(404, "UnknownOperationException", "Unknown operation"),
        (Some(op), None) => match check(&req, op, &body) {
            Err(resp) => resp,
            Ok(caller) => respond(state, op, &body, caller),
        },
    };
    if !delay.is_zero() {
        // What the request did is visible while its answer is held (an
        // incident started): waiters may look now.
        changed.send_modify(|v| *v += 1);
        tokio::time::sleep(delay).await;
    }
    let mut s = state.lock().unwrap();
    s.requests.push(AwsRequest {
        operation: operation.unwrap_or_else(|| format!("{} {}", req.method, req.path)),
        body,
        headers: req.headers.clone(),
        status: resp.status,
    });
    drop(s);
    changed.send_modify(|v| *v += 1);
    resp
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The operation the model routes `method path` to.
fn operation_for(method: &str, path: &str) -> Option<String> {
    model()["operations"].as_object()?.iter().find_map(|(name, op)| {
        let http = &op["http"];
        let uri = http["requestUri"].as_str()?.split('?').next()?;
        (http["method"] == method && uri == path).then(|| name.clone())
    })
}

/// Protocol, signature and model checks, as the service makes them; the
/// caller's principal.
fn check(req: &Req, op: &str, body: &Value) -> Result<&'static str, Resp> {
    if req.method != "GET" && req.header("content-type") != Some("application/json") {
        return Err(aws_error(415, "UnsupportedMediaTypeException", "content-type must be application/json"));
    }
    let caller = verify_sigv4(req)?;
    if !body.is_object() {
        return Err(aws_error(400, "SerializationException", "body is not a JSON object"));
    }
    let input = model()["operations"][op]["input"]["shape"].as_str().unwrap();
    let mut errors = Vec::new();
    validate(input, body, "", &mut errors);
    if let Some(unknown) = errors.iter().find(|e| e.starts_with("unknown member")) {
        return Err(aws_error(400, "SerializationException", unknown));
    }
    if !errors.is_empty() {
        let n = errors.len();
        let msg = format!("{n} validation error{} detected: {}", if n == 1 { "" } else { "s" }, errors.join("; "));
        return Err(aws_error(400, "ValidationException", &msg));
    }
    Ok(caller)
}

fn respond(state: &Mutex<State>, op: &str, body: &Value, caller: &str) -> Resp {
    let mut s = state.lock().unwrap();
    match op {
        "StartIncident" => {
            let plan = body["responsePlanArn"].as_str().unwrap_or_default();
            if !s.plans.iter().any(|(p, _)| p == plan) {
                return Resp::json(
                    404,
                    &json!({"message": format!("Response plan {plan} not found"), "resourceIdentifier": plan, "resourceType": "RESPONSE_PLAN"}),
                )
                .with_header("x-amzn-errortype", "ResourceNotFoundException");
            }
            let token = body["clientToken"].as_str().unwrap_or_default().to_owned();
            let existing = s.incidents.iter().find(|(t, _)| !token.is_empty() && *t == token).map(|(_, a)| a.clone());
            let arn = existing.unwrap_or_else(|| {
                let name = plan.rsplit('/').next().unwrap_or_default();
                let arn = format!(
                    "arn:aws:ssm-incidents::{ACCOUNT}:incident-record/{name}/{:08x}-0000-4000-8000-{:012x}",
                    s.incidents.len() + 1,
                    s.incidents.len() + 1
                );
                s.incidents.push((token, arn.clone()));
                s.records.push(Record::new(
                    arn.clone(),
                    body["title"].as_str().map_or_else(|| format!("{name} incident"), str::to_owned),
                    body["impact"].as_i64().unwrap_or(3),
                    now_secs(),
                    body["relatedItems"].as_array().cloned().unwrap_or_default(),
                ));
                arn
            });
            Resp::json(200, &json!({ "incidentRecordArn": arn }))
        }
        "ListResponsePlans" => {
            let mut plans = s.plans.clone();
            plans.sort();
            let (page, next) = page(&plans, body, s.page_size);
            let summaries: Vec<Value> = page
                .iter()
                .map(|(arn, display)| {
                    let mut p = json!({"arn": arn, "name": arn.rsplit('/').next().unwrap()});
                    if let Some(d) = display {
                        p["displayName"] = json!(d);
                    }
                    p
                })
                .collect();
            Resp::json(200, &json!({"responsePlanSummaries": summaries, "nextToken": next}))
        }
        "ListIncidentRecords" => {
            let mut records: Vec<Record> = s.records.clone();
            for f in body["filters"].as_array().into_iter().flatten() {
                let key = f["key"].as_str().unwrap_or_default();
                let cond = &f["condition"];
                records.retain(|r| match key {
                    "status" => cond["equals"]["stringValues"]
                        .as_array()
                        .is_none_or(|v| v.iter().any(|x| x == r.status.as_str())),
                    "creationTime" => {
                        cond["after"].as_f64().is_none_or(|t| r.created > t)
                            && cond["before"].as_f64().is_none_or(|t| r.created < t)
                    }
                    _ => true,
                });
            }
            let (page, next) = page(&records, body, s.page_size);
            let summaries: Vec<Value> = page
                .iter()
                .map(|r| {
                    json!({
                        "arn": r.arn, "title": r.title, "impact": r.impact, "status": r.status, "creationTime": r.created,
                        "incidentRecordSource": {"createdBy": format!("arn:aws:iam::{ACCOUNT}:role/bot"), "source": "discord.incident-bot"}
                    })
                })
                .collect();
            Resp::json(200, &json!({"incidentRecordSummaries": summaries, "nextToken": next}))
        }
        "UpdateRelatedItems" | "CreateTimelineEvent" | "UpdateIncidentRecord" => {
            let arn = body["incidentRecordArn"].as_str().or(body["arn"].as_str()).unwrap_or_default().to_owned();
            let Some(i) = s.records.iter().position(|r| r.arn == arn) else {
                return Resp::json(
                    404,
                    &json!({"message": format!("Incident {arn} not found"), "resourceIdentifier": arn, "resourceType": "INCIDENT_RECORD"}),
                )
                .with_header("x-amzn-errortype", "ResourceNotFoundException");
            };
            let token = body["clientToken"].as_str().unwrap_or_default().to_owned();
            if op == "CreateTimelineEvent"
                && let Some(id) = s.event_ids.get(&token).filter(|_| !token.is_empty()).cloned()
            {
                return Resp::json(201, &json!({"eventId": id, "incidentRecordArn": arn}));
            }
            let seen = s.tokens.entry(op.to_owned()).or_default();
            let repeat = !token.is_empty() && seen.contains(&token);
            seen.push(token.clone());
            let serial = i;
            let r = &mut s.records[i];
            let mut event_id = None;
            if !repeat {
                match op {
                    "UpdateRelatedItems" => r.related.push(body["relatedItemsUpdate"]["itemToAdd"].clone()),
                    "CreateTimelineEvent" => {
                        r.timeline.push(body.clone());
                        let time = body["eventTime"].as_f64().unwrap_or_else(now_secs);
                        let data = body["eventData"].as_str().unwrap_or_default().to_owned();
                        let kind = body["eventType"].as_str().unwrap_or_default().to_owned();
                        event_id = Some(r.event(&kind, &data, time, serial));
                    }
                    _ => {
                        if let Some(t) = body["title"].as_str() {
                            r.title = t.to_owned();
                        }
                        if let Some(n) = body["impact"].as_i64() {
                            r.impact = n;
                        }
                        if let Some(st) = body["status"].as_str() {
                            if st == "RESOLVED" && r.status != "RESOLVED" {
                                r.resolved = Some(now_secs());
                            }
                            r.status = st.to_owned();
                        }
                        caller.clone_into(&mut r.last_modified_by);
                        r.event(
                            "SSM Incident Record Update",
                            &json!({"modifiedBy": caller}).to_string(),
                            now_secs(),
                            serial,
                        );
                    }
                }
            }
            match (op, event_id) {
                ("CreateTimelineEvent", Some(id)) => {
                    s.event_ids.insert(token, id.clone());
                    Resp::json(201, &json!({"eventId": id, "incidentRecordArn": arn}))
                }
                _ => Resp::empty(204),
            }
        }
        "GetIncidentRecord" | "ListTimelineEvents" | "GetTimelineEvent" | "ListRelatedItems" => {
            let arn = body["arn"].as_str().or(body["incidentRecordArn"].as_str()).unwrap_or_default();
            let Some(r) = s.records.iter().find(|r| r.arn == arn) else {
                return Resp::json(
                    404,
                    &json!({"message": format!("Incident {arn} not found"), "resourceIdentifier": arn, "resourceType": "INCIDENT_RECORD"}),
                )
                .with_header("x-amzn-errortype", "ResourceNotFoundException");
            };
            match op {
                "GetIncidentRecord" => {
                    let mut record = json!({"arn": r.arn, "title": r.title, "impact": r.impact, "status": r.status,
                        "creationTime": r.created, "lastModifiedTime": now_secs(), "lastModifiedBy": r.last_modified_by,
                        "dedupeString": r.arn, "incidentRecordSource": {"createdBy": BOT_PRINCIPAL, "source": "discord.incident-bot"}});
                    if let Some(t) = r.resolved {
                        record["resolvedTime"] = json!(t);
                    }
                    Resp::json(200, &json!({"incidentRecord": record}))
                }
                "GetTimelineEvent" => match r.events.iter().find(|e| e["eventId"] == body["eventId"]) {
                    Some(e) => Resp::json(200, &json!({"event": e})),
                    None => aws_error(404, "ResourceNotFoundException", "Timeline event not found"),
                },
                "ListTimelineEvents" => {
                    let mut events: Vec<Value> = r.events.clone();
                    for f in body["filters"].as_array().into_iter().flatten() {
                        if f["key"] == "eventTime" {
                            let (after, before) = (f["condition"]["after"].as_f64(), f["condition"]["before"].as_f64());
                            events.retain(|e| {
                                let t = e["eventTime"].as_f64().unwrap_or(0.0);
                                after.is_none_or(|a| t > a) && before.is_none_or(|b| t < b)
                            });
                        }
                    }
                    events.sort_by(|a, b| {
                        a["eventTime"]
                            .as_f64()
                            .partial_cmp(&b["eventTime"].as_f64())
                            .unwrap_or(std::cmp::Ordering::Equal)
                    });
                    if body["sortOrder"] == "DESCENDING" {
                        events.reverse();
                    }
                    let (page, next) = page(&events, body, s.page_size);
                    let summaries: Vec<Value> = page
                        .iter()
                        .map(|e| {
                            let mut e = e.clone();
                            e.as_object_mut().unwrap().remove("eventData");
                            e
                        })
                        .collect();
                    Resp::json(200, &json!({"eventSummaries": summaries, "nextToken": next}))
                }
                _ => {
                    let (page, next) = page(&r.related, body, s.page_size);
                    Resp::json(200, &json!({"relatedItems": page, "nextToken": next}))
                }
            }
        }
        _ => aws_error(501, "NotImplemented", &format!("the fake does not implement {op}")),
    }
}

fn now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// One page of `items` from the request's `nextToken` and `maxResults`.
fn page<T: Clone>(items: &[T], body: &Value, page_size: usize) -> (Vec<T>, Option<String>) {
    let start: usize = body["nextToken"].as_str().and_then(|t| t.strip_prefix("page-")?.parse().ok()).unwrap_or(0);
    let size = body["maxResults"].as_u64().map_or(page_size, |m| (m as usize).min(page_size));
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| format!("page-{end}"));
    (items.get(start..end).map(<[T]>::to_vec).unwrap_or_default(), next)
}

// ---- Model validation -------------------------------------------------------

/// The AWS-style messages for every way `body` violates the input of
/// `operation` in the service model (empty: the service would accept it).
pub fn model_errors(operation: &str, body: &Value) -> Vec<String> {
    let input = model()["operations"][operation]["input"]["shape"].as_str().unwrap();
    let mut errors = Vec::new();
    validate(input, body, "", &mut errors);
    errors
}

fn at(path: &str, member: &str) -> String {
    if path.is_empty() { member.to_owned() } else { format!("{path}.{member}") }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Appends AWS-style messages for every way `v` violates `shape`.
fn validate(shape: &str, v: &Value, path: &str, errors: &mut Vec<String>) {
    let def = &model()["shapes"][shape];
    let fail = |errors: &mut Vec<String>, constraint: String| {
        errors.push(format!("Value '{}' at '{path}' failed to satisfy constraint: {constraint}", show(v)));
    };
    match def["type"].as_str().unwrap_or_default() {
        "structure" => {
            let Some(obj) = v.as_object() else { return fail(errors, format!("Member must be a {shape} structure")) };
            let members = def["members"].as_object().unwrap();
            for req in def["required"].as_array().into_iter().flatten() {
                let name = req.as_str().unwrap();
                if obj.get(name).is_none_or(Value::is_null) {
                    errors.push(format!(
                        "Value null at '{}' failed to satisfy constraint: Member must not be null",
                        at(path, name)
                    ));
                }
            }
            let mut set = 0;
            for (k, val) in obj {
                match members.get(k) {
                    None => errors.push(format!("unknown member '{}' in {shape}", at(path, k))),
                    Some(m) => {
                        set += usize::from(!val.is_null());
                        validate(m["shape"].as_str().unwrap(), val, &at(path, k), errors);
                    }
                }
            }
            if def["union"] == true && set != 1 {
                fail(errors, format!("Member must have exactly one member of {shape} set, found {set}"));
            }
        }
        "list" => {
            let Some(items) = v.as_array() else { return fail(errors, "Member must be a list".into()) };
            check_len(def, items.len(), |c| fail(errors, c));
            for (i, item) in items.iter().enumerate() {
                validate(def["member"]["shape"].as_str().unwrap(), item, &format!("{path}.{}.member", i + 1), errors);
            }
        }
        "map" => {
            let Some(obj) = v.as_object() else { return fail(errors, "Member must be a map".into()) };
            for (k, val) in obj {
                validate(def["key"]["shape"].as_str().unwrap(), &Value::String(k.clone()), &at(path, k), errors);
                validate(def["value"]["shape"].as_str().unwrap(), val, &at(path, k), errors);
            }
        }
        "string" => {
            let Some(s) = v.as_str() else { return fail(errors, "Member must be a string".into()) };
            check_len(def, s.encode_utf16().count(), |c| fail(errors, c));
            if let Some(p) = def["pattern"].as_str()
                && !pattern(p).is_match(s)
            {
                fail(errors, format!("Member must satisfy regular expression pattern: {p}"));
            }
            if let Some(allowed) = def["enum"].as_array()
                && !allowed.iter().any(|a| a == v)
            {
                fail(errors, format!("Member must satisfy enum value set: {}", Value::Array(allowed.clone())));
            }
        }
        "integer" | "long" => {
            let Some(n) = v.as_i64() else { return fail(errors, "Member must be an integer".into()) };
            if let Some(min) = def["min"].as_i64().filter(|m| n < *m) {
                fail(errors, format!("Member must have value greater than or equal to {min}"));
            }
            if let Some(max) = def["max"].as_i64().filter(|m| n > *m) {
                fail(errors, format!("Member must have value less than or equal to {max}"));
            }
        }
        "timestamp" => {
            if !v.is_number() {
                fail(errors, "Member must be a timestamp (epoch seconds)".into());
            }
        }
        "boolean" => {
            if !v.is_boolean() {
                fail(errors, "Member must be a boolean".into());
            }
        }
        other => fail(errors, format!("the fake cannot check shape type {other}")),
    }
}

/// The model's patterns, compiled once.
fn pattern(p: &str) -> regex::Regex {
    static CACHE: OnceLock<Mutex<HashMap<String, regex::Regex>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Mutex::default).lock().unwrap();
    cache.entry(p.to_owned()).or_insert_with(|| regex::Regex::new(p).unwrap()).clone()
}

fn check_len(def: &Value, len: usize, mut fail: impl FnMut(String)) {
    let len = len as i64;
    if let Some(min) = def["min"].as_i64().filter(|m| len < *m) {
        fail(format!("Member must have length greater than or equal to {min}"));
    }
    if let Some(max) = def["max"].as_i64().filter(|m| len > *m) {
        fail(format!("Member must have length less than or equal to {max}"));
    }
}

// ---- SigV4 ------------------------------------------------------------------

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), data).as_ref().to_vec()
}

/// Recomputes the SigV4 signature with the test secret and compares;
/// the principal of the access key.
fn verify_sigv4(req: &Req) -> Result<&'static str, Resp> {
    let deny = |code: &'static str, msg: &str| Err(aws_error(403, code, msg));
    let Some(auth) = req.header("authorization") else {
        return deny("MissingAuthenticationTokenException", "Missing Authentication Token");
    };
    let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return deny("IncompleteSignatureException", "Authorization must use AWS4-HMAC-SHA256");
    };
    let parts: HashMap<&str, &str> = rest.split(", ").filter_map(|p| p.split_once('=')).collect();
    let (Some(credential), Some(signed), Some(signature)) =
        (parts.get("Credential"), parts.get("SignedHeaders"), parts.get("Signature"))
    else {
        return deny("IncompleteSignatureException", "Authorization header is incomplete");
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let caller = match scope.first() {
        Some(&ACCESS_KEY) => BOT_PRINCIPAL,
        Some(&OPERATOR_KEY) => OPERATOR_PRINCIPAL,
        _ => "",
    };
    if scope.len() != 5 || caller.is_empty() {
        return deny("UnrecognizedClientException", "The security token included in the request is invalid.");
    }
    if scope[2] != REGION || scope[3] != "ssm-incidents" || scope[4] != "aws4_request" {
        return deny(
            "InvalidSignatureException",
            &format!("Credential should be scoped to {REGION}/ssm-incidents, not {credential}"),
        );
    }
    let Some(amz_date) = req.header("x-amz-date") else {
        return deny("IncompleteSignatureException", "x-amz-date is missing");
    };
    let mut canonical_headers = String::new();
    for name in signed.split(';') {
        let value = req.headers.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim()).collect::<Vec<_>>().join(",");
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    let mut query: Vec<&str> = req.query.split('&').filter(|q| !q.is_empty()).collect();
    query.sort_unstable();
    let payload_hash = req.header("x-amz-content-sha256").map_or_else(|| sha256_hex(&req.body), str::to_owned);
    let canonical =
        format!("{}\n{}\n{}\n{canonical_headers}\n{signed}\n{payload_hash}", req.method, req.path, query.join("&"));
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}", scope[1..].join("/"), sha256_hex(canonical.as_bytes()));
    let mut key = hmac(format!("AWS4{SECRET_KEY}").as_bytes(), scope[1].as_bytes());
    for part in &scope[2..] {
        key = hmac(&key, part.as_bytes());
    }
    if hex::encode(hmac(&key, string_to_sign.as_bytes())) != *signature {
        return deny(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        );
    }
    Ok(caller)
}
