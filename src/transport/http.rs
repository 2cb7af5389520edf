//! The HTTP interactions transport: Discord POSTs each interaction, signed,
//! to `[interactions] listen` + `path`, and the first answer is the HTTP
//! response's body. No gateway connection: any number of replicas behind a
//! load balancer can answer, and a restart loses no WebSocket session.
//!
//! Every request is checked before anything else is read from it, in this
//! order, as Discord requires (it probes endpoints with bad signatures and
//! drops those that accept them):
//! 1. the path (404) and the method (405, `Allow: POST`);
//! 2. the body's size: over [`MAX_BODY`] gets 413, unread;
//! 3. the Ed25519 signature of `X-Signature-Timestamp` + the raw body against
//!    the application's public key (missing or wrong: 401);
//! 4. the timestamp: more than [`MAX_SKEW`] from this host's clock is a replay
//!    (401).
//!
//! Then a PING gets a PONG, and everything else goes to [`Bot::accept`]
//! like a gateway interaction, with an [`HttpAnswer`] as its callback: the
//! first answer the bot gives (a deferral, a private refusal, autocomplete
//! choices, a dialog) becomes the response, and the rest of the work goes
//! over REST as in gateway mode.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use ring::signature::{ED25519, UnparsedPublicKey};
use serenity::all::{CreateInteractionResponse, Interaction, InteractionId, InteractionType};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

use crate::bot::Bot;
use crate::discord::api::ApiError;
use crate::discord::responder::Callback;
use crate::observe::{Health, Metrics, Readiness};

/// The largest body read. Discord's biggest interactions (a message command
/// on a message with embeds and attachments, a dialog of five 4000-character
/// fields) are a few tens of KiB.
pub const MAX_BODY: usize = 256 * 1024;
/// How far a request's timestamp may be from this host's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(5 * 60);
/// How long a request waits for the bot's first answer: Discord gives up
/// after 3 s, so an answer later than that would be lost anyway.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// What the endpoint needs: the key it verifies with, where it answers, and
/// the bot it hands interactions to.
pub struct Endpoint {
    verifier: Verifier,
    path: String,
    bot: Arc<Bot>,
    metrics: Arc<Metrics>,
}

impl Endpoint {
    pub fn new(public_key: [u8; 32], path: String, bot: Arc<Bot>, metrics: Arc<Metrics>) -> Self {
        Self { verifier: Verifier::new(public_key), path, bot, metrics }
    }
}

/// A request that passed [`Verifier::open`].
pub enum Signed {
    /// Discord checking the endpoint: answered `{"type":1}`.
    Ping,
    Interaction(Box<Interaction>),
}

/// Checks 3 and 4 of the module documentation, the same for every
/// transport Discord signs its requests on (this endpoint, a Lambda
/// Function URL), then reads the interaction.
pub struct Verifier {
    key: UnparsedPublicKey<[u8; 32]>,
}

impl Verifier {
    pub fn new(public_key: [u8; 32]) -> Self {
        Self { key: UnparsedPublicKey::new(&ED25519, public_key) }
    }

    /// The interaction in `body`, if `header` (a request header by its
    /// lower-case name) signs it, from a time close enough to `now`.
    pub fn open(
        &self,
        header: impl Fn(&str) -> Option<String>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Signed, Refusal> {
        let signature = header("x-signature-ed25519").and_then(|h| decode_hex::<64>(&h)).ok_or(Refusal::Signature)?;
        let timestamp = header("x-signature-timestamp").ok_or(Refusal::Signature)?;
        let mut signed = Vec::with_capacity(timestamp.len() + body.len());
        signed.extend_from_slice(timestamp.as_bytes());
        signed.extend_from_slice(body);
        self.key.verify(&signed, &signature).map_err(|_| Refusal::Signature)?;
        drop(signed);
        if !fresh(&timestamp, now) {
            return Err(Refusal::Replay);
        }

        read(body)
    }
}

/// The interaction in a verified `body`. Its `type` is read first, then the
/// body straight into that kind's type: serenity's own `Interaction` reads
/// the whole document into a `serde_json::Value` map and then again from the
/// map, twice the work and an allocation per field.
///
/// The `type` comes from [`top_level_type`], a scan that parses nothing
/// else (a quarter of what reading the body costs when serde does it);
/// serde reads it when the scan cannot (a key written with escapes, say).
/// Whatever the scan got wrong, the typed read that follows refuses.
fn read(body: &[u8]) -> Result<Signed, Refusal> {
    #[derive(serde::Deserialize)]
    struct Kind {
        #[serde(rename = "type")]
        kind: u8,
    }
    fn as_<T: serde::de::DeserializeOwned>(body: &[u8], wrap: fn(T) -> Interaction) -> Result<Signed, Refusal> {
        serde_json::from_slice(body).map(|i| Signed::Interaction(Box::new(wrap(i)))).map_err(|e| {
            warn!(error = %e, "a signed interaction could not be read");
            Refusal::Body
        })
    }
    let kind = match top_level_type(body) {
        Some(kind) => Kind { kind },
        None => serde_json::from_slice(body).map_err(|_| Refusal::Body)?,
    };
    match InteractionType::from(kind.kind) {
        InteractionType::Ping => Ok(Signed::Ping),
        InteractionType::Command => as_(body, Interaction::Command),
        InteractionType::Component => as_(body, Interaction::Component),
        InteractionType::Autocomplete => as_(body, Interaction::Autocomplete),
        InteractionType::Modal => as_(body, Interaction::Modal),
        _ => {
            warn!(kind = kind.kind, "a signed interaction of a type the bot does not know");
            Err(Refusal::Body)
        }
    }
}

/// The value of the top-level `"type"` key of the JSON object `body`, if it
/// is a number below 256 and the object is well formed up to it: every
/// other value before it is skipped over (strings, with their escapes, and
/// nested objects and arrays, which have `type`s of their own), not parsed.
/// `None` for anything else, including a `"type"` written with escapes.
fn top_level_type(body: &[u8]) -> Option<u8> {
    let mut i = 0;
    let ws = |i: &mut usize| {
        while body.get(*i).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
            *i += 1;
        }
    };
    // The index just past the string that starts at `i` (a quote).
    let string_end = |mut i: usize| -> Option<usize> {
        i += 1;
        loop {
            match *body.get(i)? {
                b'"' => return Some(i + 1),
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
    };
    ws(&mut i);
    if body.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        ws(&mut i);
        if body.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(i)?;
        let is_type = &body[i..key_end] == b"\"type\"";
        i = key_end;
        ws(&mut i);
        if body.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        ws(&mut i);
        if is_type {
            let digits = body[i..].iter().take_while(|b| b.is_ascii_digit()).count();
            let after = body.get(i + digits).copied();
            if digits == 0 || !matches!(after, Some(b',' | b'}' | b' ' | b'\t' | b'\n' | b'\r')) {
                return None;
            }
            return std::str::from_utf8(&body[i..i + digits]).ok()?.parse().ok();
        }
        // Skip the value.
        match *body.get(i)? {
            b'"' => i = string_end(i)?,
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match *body.get(i)? {
                        b'"' => {
                            i = string_end(i)?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            _ => {
                while body.get(i).is_some_and(|b| !matches!(b, b',' | b'}')) {
                    i += 1;
                }
            }
        }
        ws(&mut i);
        match body.get(i)? {
            b',' => i += 1,
            _ => return None,
        }
    }
}

/// The answer to a PING.
pub const PONG: &[u8] = br#"{"type":1}"#;

/// Ready while listening, until shutdown begins.
struct Listening;

#[async_trait]
impl Readiness for Listening {
    async fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Serves interactions on `listener` until `close` completes (which drains
/// the bot: interactions arriving meanwhile are still answered, with "the
/// bot is restarting").
pub async fn run(
    listener: TcpListener,
    endpoint: Endpoint,
    health: Arc<Health>,
    close: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let endpoint = Arc::new(endpoint);
    let addr = listener.local_addr()?;
    info!(address = %addr, path = %endpoint.path, "serving Discord interactions over HTTP");
    health.watch(Arc::new(Listening));
    let serve = async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors and the like: wait, do not spin.
                    warn!(error = %e, "could not accept a connection on the interactions endpoint");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let endpoint = endpoint.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let endpoint = endpoint.clone();
                    async move { Ok::<_, std::convert::Infallible>(endpoint.handle(req).await) }
                });
                if let Err(e) =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await
                {
                    debug!(error = %e, "interactions connection ended");
                }
            });
        }
    };
    tokio::select! {
        () = serve => {}
        () = close => info!("interactions endpoint closed"),
    }
    Ok(())
}

/// Why a request was turned away, for the log and the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Path,
    Method,
    TooLarge,
    Signature,
    Replay,
    Body,
}

impl Refusal {
    pub fn status(self) -> StatusCode {
        match self {
            Self::Path => StatusCode::NOT_FOUND,
            Self::Method => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Signature | Self::Replay => StatusCode::UNAUTHORIZED,
            Self::Body => StatusCode::BAD_REQUEST,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Method => "method",
            Self::TooLarge => "too_large",
            Self::Signature => "signature",
            Self::Replay => "replay",
            Self::Body => "body",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::Path => "not found\n",
            Self::Method => "only POST\n",
            Self::TooLarge => "request body too large\n",
            Self::Signature => "invalid request signature\n",
            Self::Replay => "request timestamp too far from now\n",
            Self::Body => "not an interaction\n",
        }
    }
}

impl Endpoint {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        match self.answer(req).await {
            Ok(resp) => resp,
            Err(refusal) => {
                // Discord probes with bad signatures on purpose: not a warning.
                debug!(reason = refusal.label(), "interactions request refused");
                self.metrics.interaction_refused(refusal.label());
                let mut resp = text(refusal.status(), refusal.text());
                if refusal == Refusal::Method
                    && let Ok(v) = "POST".parse()
                {
                    resp.headers_mut().insert(ALLOW, v);
                }
                resp
            }
        }
    }

    async fn answer(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Refusal> {
        if req.uri().path() != self.path {
            return Err(Refusal::Path);
        }
        if req.method() != Method::POST {
            return Err(Refusal::Method);
        }
        let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(Refusal::TooLarge);
        }
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(Refusal::TooLarge),
            Err(_) => return Err(Refusal::Body),
        };
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let interaction = match self.verifier.open(header, &body, SystemTime::now())? {
            Signed::Ping => return Ok(json(PONG.to_vec())),
            Signed::Interaction(i) => *i,
        };
        drop(body);
        let (tx, rx) = oneshot::channel();
        self.bot.accept(interaction, Arc::new(HttpAnswer(Mutex::new(Some(tx)))));
        match tokio::time::timeout(ANSWER_WITHIN, rx).await {
            Ok(Ok(answer)) => match serde_json::to_vec(&answer) {
                Ok(body) => Ok(json(body)),
                Err(e) => {
                    warn!(error = %e, "an answer could not be written");
                    Ok(text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"))
                }
            },
            // Nothing to answer (a repeated delivery, an interaction that is
            // not the bot's).
            Ok(Err(_)) => {
                Ok(Response::builder().status(StatusCode::NO_CONTENT).body(Full::new(Bytes::new())).unwrap_or_default())
            }
            Err(_) => {
                warn!("no first answer within 3 s; Discord shows the interaction as failed");
                Ok(text(StatusCode::SERVICE_UNAVAILABLE, "no answer in time\n"))
            }
        }
    }
}

/// The first answer, handed to the waiting HTTP request.
struct HttpAnswer(Mutex<Option<oneshot::Sender<CreateInteractionResponse>>>);

#[async_trait]
impl Callback for HttpAnswer {
    async fn send(&self, _: InteractionId, _: &str, answer: CreateInteractionResponse) -> Result<(), ApiError> {
        let waiting = self.0.lock().ok().and_then(|mut w| w.take());
        match waiting {
            Some(tx) => tx.send(answer).map_err(|_| ApiError::Refused {
                status: 404,
                code: 10062,
                message: "the request waited longer than 3 s".to_owned(),
            }),
            None => Err(ApiError::Refused {
                status: 400,
                code: 40060,
                message: "Interaction has already been acknowledged.".to_owned(),
            }),
        }
    }
}

/// Whether `timestamp` (Unix seconds) is within [`MAX_SKEW`] of `now`.
fn fresh(timestamp: &str, now: SystemTime) -> bool {
    let Ok(ts) = timestamp.trim().parse::<u64>() else { return false };
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    now.abs_diff(ts) <= MAX_SKEW.as_secs()
}

/// `N` bytes from `2N` hexadecimal digits (surrounding blanks ignored).
pub(crate) fn decode_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn json(body: Vec<u8>) -> Response<Full<Bytes>> {
    with_type(StatusCode::OK, "application/json", body)
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    with_type(status, "text/plain; charset=utf-8", body.as_bytes().to_vec())
}

fn with_type(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(CONTENT_TYPE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_within_five_minutes_only() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert!(fresh("1800000000", now));
        assert!(fresh("1799999700", now));
        assert!(fresh("1800000300", now));
        assert!(!fresh("1799999699", now));
        assert!(!fresh("1800000301", now));
        assert!(!fresh("", now));
        assert!(!fresh("-5", now));
        assert!(!fresh("1.8e9", now));
    }

    #[test]
    fn hex_of_the_exact_length() {
        assert_eq!(decode_hex::<2>("0aFf"), Some([0x0a, 0xff]));
        assert_eq!(decode_hex::<2>("0aF"), None);
        assert_eq!(decode_hex::<2>("0aFf00"), None);
        assert_eq!(decode_hex::<2>("zzzz"), None);
        assert_eq!(decode_hex::<2>("é0a"), None);
    }

    /// Read straight into its kind's type, an interaction is what serenity's
    /// own `Interaction` makes of the same body (the member's guild filled
    /// in, the user taken from the member), for every kind; a PING is a
    /// PING and an unknown type is refused.
    #[test]
    fn each_kind_read_as_serenity_reads_it() {
        use crate::testing::{autocomplete, click, command, opt, submit};
        let message = serde_json::json!({
            "id": "9", "channel_id": crate::testing::CHANNEL.to_string(), "type": 0, "content": "declared",
            "author": {"id": "1", "username": "incident-bot", "discriminator": "0", "avatar": null, "bot": true},
            "timestamp": "2024-01-01T00:00:00.000000+00:00", "edited_timestamp": null, "tts": false,
            "mention_everyone": false, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "pinned": false, "flags": 0, "components": []
        });
        let bodies = [
            command("incident", serde_json::json!([opt("title", "Checkout down"), opt("impact", 2)])),
            autocomplete("incident", "plan", "Pay"),
            click(&message, "ib:ack:1"),
            submit(&message, "ib:note:1", &[("note", "rolled back")]),
        ];
        for mut body in bodies {
            body["id"] = "11".into();
            body["token"] = "itoken-11".into();
            let raw = serde_json::to_vec(&body).unwrap();
            let Ok(Signed::Interaction(ours)) = read(&raw) else { panic!("not read: {body}") };
            let theirs: Interaction = serde_json::from_slice(&raw).unwrap();
            assert_eq!(ours.kind(), theirs.kind());
            assert_eq!(serde_json::to_value(&*ours).unwrap(), serde_json::to_value(&theirs).unwrap());
            if let Interaction::Command(c) = &*ours {
                assert_eq!(c.user.id.get(), crate::testing::USER, "the user comes from the member");
                assert_eq!(c.member.as_ref().map(|m| m.guild_id.get()), Some(crate::testing::GUILD));
            }
        }
        assert!(matches!(
            read(br#"{"type":1,"id":"1","application_id":"1","token":"t","version":1}"#),
            Ok(Signed::Ping)
        ));
        assert_eq!(read(br#"{"type":9}"#).err(), Some(Refusal::Body));
        assert_eq!(read(br#"{"type":2}"#).err(), Some(Refusal::Body));
        assert_eq!(read(b"{}").err(), Some(Refusal::Body));
        assert_eq!(read(b"not json").err(), Some(Refusal::Body));
    }

    /// The scan finds the same `type` serde does, past nested objects and
    /// arrays with `type`s of their own and strings holding quotes, braces
    /// and the word itself; it gives up (and serde reads the body) on what
    /// it does not follow, and never reads a nested `type` as the top one.
    #[test]
    fn the_type_scan_agrees_with_serde() {
        let found = [
            (r#"{"type":2}"#, 2),
            (r#" { "type" : 4 , "id":"1"}"#, 4),
            (r#"{"data":{"type":1,"options":[{"type":3,"name":"title"}]},"type":2}"#, 2),
            (r#"{"token":"a\"b}{[\\","type":3}"#, 3),
            (r#"{"content":"\"type\":9","n":-1.5e3,"b":true,"z":null,"type":5}"#, 5),
            ("{\"a\":[[],{},[{\"type\":7}]],\n\t\"type\":\r1\n}", 1),
            (r#"{"locale":"é, ünïcödé ✓","type":2,"after":{"unclosed": "is not read"#, 2),
        ];
        for (body, kind) in found {
            assert_eq!(top_level_type(body.as_bytes()), Some(kind), "{body}");
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
                assert_eq!(v["type"], kind, "{body}");
            }
        }
        let given_up = [
            "",
            "[]",
            r#"{}"#,
            r#"{"id":"1"}"#,
            r#"{"typ\u0065":2}"#,
            r#"{"type":"2"}"#,
            r#"{"type":2.5}"#,
            r#"{"type":-2}"#,
            r#"{"type":300}"#,
            r#"{"type":2"#,
            r#"{"data":{"type":2}"#,
            r#"{"data":"unclosed"#,
            r#"{"a" 1,"type":2}"#,
            r#"{"a":1 "type":2}"#,
        ];
        for body in given_up {
            assert_eq!(top_level_type(body.as_bytes()), None, "{body}");
        }
        // Given up, serde still reads a `type` it can.
        assert!(matches!(
            read(br#"{"typ\u0065":1,"id":"1","application_id":"1","token":"t","version":1}"#),
            Ok(Signed::Ping)
        ));
    }

    #[tokio::test]
    async fn the_first_answer_reaches_the_request_once() {
        let (tx, rx) = oneshot::channel();
        let cb = HttpAnswer(Mutex::new(Some(tx)));
        let id = InteractionId::new(1);
        cb.send(id, "t", CreateInteractionResponse::Acknowledge).await.unwrap();
        let second = cb.send(id, "t", CreateInteractionResponse::Acknowledge).await.unwrap_err();
        assert!(matches!(second, ApiError::Refused { code: 40060, .. }), "{second:?}");
        let body = serde_json::to_value(rx.await.unwrap()).unwrap();
        assert_eq!(body["type"], 6, "{body}");
        // The request gave up (past 3 s): the bot learns the answer is lost.
        let (tx, rx) = oneshot::channel::<CreateInteractionResponse>();
        drop(rx);
        let late = HttpAnswer(Mutex::new(Some(tx)));
        assert!(late.send(id, "t", CreateInteractionResponse::Acknowledge).await.is_err());
    }
}
