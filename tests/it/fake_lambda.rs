//! A fake of AWS Lambda on loopback, the parts the bot meets:
//! - the **Runtime API** the function's process polls
//!   (`/2018-06-01/runtime/invocation/next`, `…/{id}/response`, `…/{id}/error`,
//!   `/2018-06-01/runtime/init/error`), strict as the real one: one
//!   invocation at a time per poller, a response only for the invocation
//!   handed out and only once, payloads of 6 MB at most;
//! - a **Function URL**: an HTTP request becomes a payload-format-2.0 event
//!   and the invocation's response becomes the HTTP response;
//! - the **Invoke API** (`POST /2015-03-31/functions/{name}/invocations`):
//!   an `Event` invocation is queued (202), as Lambda queues asynchronous
//!   invocations, and a name other than the function's is 404.
//!
//! Every invocation is recorded with its payload and its outcome.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot, watch};

use super::http::{Req, Resp, serve, wait_until};

pub const FUNCTION: &str = "incident-bot";
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:incident-bot";
/// The largest response the Runtime API takes.
const MAX_RESPONSE: usize = 6 * 1024 * 1024;

/// How an invocation came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    FunctionUrl,
    /// `Invoke` with `InvocationType: Event`.
    Async,
    /// Queued by the test (a schedule, an operator's `aws lambda invoke`).
    Direct,
}

#[derive(Debug, Clone)]
pub struct Invocation {
    pub id: String,
    pub source: Source,
    pub payload: Value,
    pub response: Option<Value>,
    pub error: Option<Value>,
    /// From queued to answered.
    pub took: Option<Duration>,
    queued: Instant,
}

#[derive(Default)]
pub struct State {
    pub invocations: Vec<Invocation>,
    /// Requests the fake refused, as the real Lambda would.
    pub rejected: Vec<String>,
    pub init_errors: Vec<Value>,
    queue: VecDeque<String>,
    /// Invocation id → the Function URL request waiting for its response.
    waiting: std::collections::HashMap<String, oneshot::Sender<Value>>,
    /// Invocations handed out and not answered yet.
    outstanding: Vec<String>,
    next: u64,
}

impl State {
    pub fn from(&self, source: Source) -> Vec<Invocation> {
        self.invocations.iter().filter(|i| i.source == source).cloned().collect()
    }

    fn invocation(&mut self, id: &str) -> Option<&mut Invocation> {
        self.invocations.iter_mut().find(|i| i.id == id)
    }
}

pub struct FakeLambda {
    /// `AWS_LAMBDA_RUNTIME_API`: host:port.
    pub runtime_api: String,
    /// The Function URL (Discord's interactions endpoint).
    pub function_url: String,
    /// `AWS_ENDPOINT_URL_LAMBDA`.
    pub invoke_url: String,
    state: Arc<Mutex<State>>,
    changed: Arc<watch::Sender<u64>>,
    queued: Arc<Notify>,
}

impl FakeLambda {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let changed = Arc::new(watch::channel(0).0);
        let queued = Arc::new(Notify::new());
        let this =
            |s: &Arc<Mutex<State>>, c: &Arc<watch::Sender<u64>>, q: &Arc<Notify>| (s.clone(), c.clone(), q.clone());
        let (s, c, q) = this(&state, &changed, &queued);
        let runtime = serve(move |req| {
            let (s, c, q) = (s.clone(), c.clone(), q.clone());
            async move { runtime_api(&s, &c, &q, req).await }
        })
        .await;
        let (s, c, q) = this(&state, &changed, &queued);
        let url = serve(move |req| {
            let (s, c, q) = (s.clone(), c.clone(), q.clone());
            async move { function_url(&s, &c, &q, req).await }
        })
        .await;
        let (s, c, q) = this(&state, &changed, &queued);
        let invoke = serve(move |req| {
            let (s, c, q) = (s.clone(), c.clone(), q.clone());
            async move { invoke_api(&s, &c, &q, &req) }
        })
        .await;
        Self {
            runtime_api: runtime.to_string(),
            function_url: format!("http://{url}/"),
            invoke_url: format!("http://{invoke}"),
            state,
            changed,
            queued,
        }
    }

    /// Queues an invocation with `payload` (a schedule's, an operator's);
    /// returns its id.
    pub fn invoke(&self, payload: Value) -> String {
        let id = enqueue(&self.state, &self.queued, Source::Direct, payload, None);
        self.changed.send_modify(|v| *v += 1);
        id
    }

    /// The response to invocation `id`, once the function posted it.
    pub async fn wait_response(&self, id: &str) -> Value {
        self.wait_for(&format!("the response to invocation {id}"), |s| {
            s.invocations.iter().find(|i| i.id == id).and_then(|i| i.response.clone())
        })
        .await
    }

    pub fn with_state<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.lock().unwrap())
    }

    pub async fn wait_for<T>(&self, what: &str, f: impl Fn(&State) -> Option<T>) -> T {
        wait_until(&self.state, &self.changed, what, f, |s| {
            format!("invocations: {:#?}\nrejected: {:#?}", s.invocations, s.rejected)
        })
        .await
    }

    pub fn rejected(&self) -> Vec<String> {
        self.with_state(|s| s.rejected.clone())
    }
}

fn enqueue(
    state: &Mutex<State>,
    queued: &Notify,
    source: Source,
    payload: Value,
    waiting: Option<oneshot::Sender<Value>>,
) -> String {
    let mut s = state.lock().unwrap();
    s.next += 1;
    let id = format!("00000000-0000-4000-8000-{:012}", s.next);
    s.invocations.push(Invocation {
        id: id.clone(),
        source,
        payload,
        response: None,
        error: None,
        took: None,
        queued: Instant::now(),
    });
    if let Some(tx) = waiting {
        s.waiting.insert(id.clone(), tx);
    }
    s.queue.push_back(id.clone());
    drop(s);
    queued.notify_waiters();
    queued.notify_one();
    id
}

async fn runtime_api(state: &Mutex<State>, changed: &watch::Sender<u64>, queued: &Notify, req: Req) -> Resp {
    const BASE: &str = "/2018-06-01/runtime/";
    let Some(rest) = req.path.strip_prefix(BASE) else { return Resp::empty(404) };
    let reject = |status: u16, why: String| {
        state.lock().unwrap().rejected.push(format!("{} {}: {why}", req.method, req.path));
        changed.send_modify(|v| *v += 1);
        Resp::json(status, &json!({ "errorMessage": why, "errorType": "InvalidRequest" }))
    };
    match (req.method.as_str(), rest) {
        ("GET", "invocation/next") => loop {
            let notified = queued.notified();
            let next = state.lock().unwrap().queue.pop_front();
            if let Some(id) = next {
                let mut s = state.lock().unwrap();
                s.outstanding.push(id.clone());
                let payload = s.invocation(&id).map(|i| i.payload.clone()).unwrap_or_default();
                let deadline = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap()
                    + Duration::from_secs(60);
                return Resp::json(200, &payload)
                    .with_header("lambda-runtime-aws-request-id", &id)
                    .with_header("lambda-runtime-deadline-ms", &deadline.as_millis().to_string())
                    .with_header("lambda-runtime-invoked-function-arn", FUNCTION_ARN)
                    .with_header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000");
            }
            notified.await;
        },
        ("POST", "init/error") => {
            let body = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            state.lock().unwrap().init_errors.push(body);
            changed.send_modify(|v| *v += 1);
            Resp::json(202, &json!({ "status": "OK" }))
        }
        ("POST", path) => {
            let Some((id, what)) = path.strip_prefix("invocation/").and_then(|p| p.split_once('/')) else {
                return Resp::empty(404);
            };
            if what != "response" && what != "error" {
                return Resp::empty(404);
            }
            if req.body.len() > MAX_RESPONSE {
                return reject(413, "the response is larger than 6 MB".into());
            }
            let mut s = state.lock().unwrap();
            let Some(at) = s.outstanding.iter().position(|o| o == id) else {
                drop(s);
                return reject(400, format!("invocation {id} is not in progress (unknown, or answered already)"));
            };
            s.outstanding.remove(at);
            let body: Value = match serde_json::from_slice(&req.body) {
                Ok(v) => v,
                Err(_) => Value::String(String::from_utf8_lossy(&req.body).into_owned()),
            };
            let inv = s.invocation(id).expect("an outstanding invocation is recorded");
            inv.took = Some(inv.queued.elapsed());
            if what == "response" {
                inv.response = Some(body.clone());
            } else {
                inv.error = Some(body.clone());
            }
            if let Some(tx) = s.waiting.remove(id) {
                let _ = tx.send(if what == "response" { body } else { json!({ "statusCode": 502 }) });
            }
            drop(s);
            changed.send_modify(|v| *v += 1);
            Resp::json(202, &json!({ "status": "OK" }))
        }
        _ => Resp::empty(404),
    }
}

/// What the Function URL does: the request as an event, the response back.
async fn function_url(state: &Mutex<State>, changed: &watch::Sender<u64>, queued: &Notify, req: Req) -> Resp {
    let (body, base64) = match std::str::from_utf8(&req.body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(&req.body), true),
    };
    let headers: serde_json::Map<String, Value> =
        req.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": req.path,
        "rawQueryString": req.query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "fakefunctionurl",
            "domainName": "fakefunctionurl.lambda-url.us-east-1.on.aws",
            "http": { "method": req.method, "path": req.path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "Discord-Interactions/1.0" },
            "requestId": "fake",
            "routeKey": "$default",
            "stage": "$default",
            "time": "03/Dec/2026:12:00:00 +0000",
            "timeEpoch": 1_796_299_200_000_u64
        },
        "body": body,
        "isBase64Encoded": base64
    });
    let (tx, rx) = oneshot::channel();
    enqueue(state, queued, Source::FunctionUrl, event, Some(tx));
    changed.send_modify(|v| *v += 1);
    let Ok(response) = rx.await else { return Resp::empty(502) };
    let status = response["statusCode"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or(200);
    let body = match (response["body"].as_str(), response["isBase64Encoded"].as_bool()) {
        (Some(b), Some(true)) => base64::engine::general_purpose::STANDARD.decode(b).unwrap_or_default(),
        (Some(b), _) => b.as_bytes().to_vec(),
        (None, _) => vec![],
    };
    let mut resp = Resp { status, headers: vec![], body };
    if let Some(h) = response["headers"].as_object() {
        for (k, v) in h {
            resp.headers.push((k.clone(), v.as_str().unwrap_or_default().to_owned()));
        }
    }
    resp
}

/// Lambda's Invoke API, asynchronous invocations only (what the bot uses).
fn invoke_api(state: &Mutex<State>, changed: &watch::Sender<u64>, queued: &Notify, req: &Req) -> Resp {
    let error = |status: u16, kind: &str, message: String| {
        state.lock().unwrap().rejected.push(format!("Invoke: {message}"));
        changed.send_modify(|v| *v += 1);
        Resp::json(status, &json!({ "Type": "User", "message": message })).with_header("x-amzn-errortype", kind)
    };
    let Some(name) = req.path.strip_prefix("/2015-03-31/functions/").and_then(|p| p.strip_suffix("/invocations"))
    else {
        return Resp::empty(404);
    };
    let name = url::form_urlencoded::parse(format!("n={name}").as_bytes()).next().map(|(_, v)| v.into_owned());
    let name = name.unwrap_or_default();
    if req.method != "POST" {
        return Resp::empty(405);
    }
    if !req.header("authorization").is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 ")) {
        return error(403, "AccessDeniedException", "the request is not signed".into());
    }
    if name != FUNCTION && name != FUNCTION_ARN {
        return error(404, "ResourceNotFoundException", format!("Function not found: {name}"));
    }
    if req.header("x-amz-invocation-type") != Some("Event") {
        return error(400, "InvalidParameterValueException", "only Event invocations are faked".into());
    }
    if req.body.len() > 1024 * 1024 {
        return error(413, "RequestTooLargeException", "the payload is larger than 1 MB".into());
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&req.body) else {
        return error(400, "InvalidRequestContentException", "the payload is not JSON".into());
    };
    enqueue(state, queued, Source::Async, payload, None);
    changed.send_modify(|v| *v += 1);
    Resp::empty(202)
}
