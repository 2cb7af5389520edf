//! A fake Discord on loopback: REST under `/api/v10` and a Gateway WebSocket.
//!
//! Strict where Discord is:
//! - every JSON body the bot sends is validated against the schemas of
//!   Discord's official OpenAPI spec (`tests/fixtures/discord-openapi-subset.json`),
//!   plus the rules the spec cannot express (command and option name pattern,
//!   required options first, no choices with autocomplete, embed totals);
//! - an interaction can be answered once, within 3 s of its dispatch
//!   (later: `10062 Unknown interaction`; twice: `40060 already acknowledged`);
//! - `@original` can only be edited after the answer, and only while the
//!   interaction token lives (15 min; tests may shorten it);
//! - bot routes need `Authorization: Bot <token>`; IDENTIFY must carry it too.
//!
//! Interactions go to the bot over the gateway, or, once
//! [`FakeDiscord::use_endpoint`] named the bot's HTTP interactions endpoint,
//! as Discord POSTs them there: signed with the application's key
//! ([`PUBLIC_KEY_HEX`] is what `/oauth2/applications/@me` reports), the
//! response body taken as the interaction's callback and held to the same
//! rules.
//!
//! Rejections get Discord's JSON error shape and are recorded, as is every
//! accepted request, so tests assert on what crossed the wire.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use super::http::{Req, Resp, serve};

pub const APP_ID: u64 = 900_000_000_000_000_001;
pub const GUILD_ID: u64 = 900_000_000_000_000_100;
pub const CHANNEL_ID: u64 = 900_000_000_000_000_200;
pub const CHANNEL_NAME: &str = "ops-war-room";
pub const COMMAND_ID: u64 = 900_000_000_000_000_300;
pub const USER_ID: u64 = 900_000_000_000_000_400;
pub const USER_NAME: &str = "alice";
/// Discord's rule: the first answer within 3 s of the interaction.
pub const ACK_DEADLINE: Duration = Duration::from_secs(3);
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
/// The seed of the application's Ed25519 key, which signs HTTP interactions.
const SIGNING_SEED: [u8; 32] = [7; 32];

/// The application's signing key.
pub fn signing_key() -> &'static ring::signature::Ed25519KeyPair {
    static KEY: OnceLock<ring::signature::Ed25519KeyPair> = OnceLock::new();
    KEY.get_or_init(|| ring::signature::Ed25519KeyPair::from_seed_unchecked(&SIGNING_SEED).unwrap())
}

/// The application's public key in hex, as the Developer Portal shows it.
pub fn public_key_hex() -> String {
    use ring::signature::KeyPair;
    hex::encode(signing_key().public_key().as_ref())
}

/// The headers Discord signs a request to an interactions endpoint with:
/// `X-Signature-Ed25519` over `timestamp` + `body`, and the timestamp.
pub fn signature_headers(timestamp: u64, body: &[u8]) -> [(&'static str, String); 2] {
    let mut signed = timestamp.to_string().into_bytes();
    signed.extend_from_slice(body);
    [
        ("x-signature-ed25519", hex::encode(signing_key().sign(&signed).as_ref())),
        ("x-signature-timestamp", timestamp.to_string()),
    ]
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// What crossed the wire, in order. Some fields are only read through
/// `Debug`, in the messages of failing assertions.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub enum Event {
    Identify(Value),
    Resume(Value),
    Commands {
        guild: Option<u64>,
        body: Value,
    },
    /// An accepted interaction callback, `after` its dispatch.
    Callback {
        interaction: u64,
        body: Value,
        after: Duration,
    },
    Edit {
        interaction: u64,
        body: Value,
        /// Since the interaction was dispatched.
        after: Duration,
    },
    ThreadCreated {
        channel: u64,
        message: u64,
        thread: u64,
        body: Value,
    },
    ChannelEdit {
        channel: u64,
        message: u64,
        body: Value,
    },
    Followup {
        interaction: u64,
        body: Value,
    },
    ChannelMessage {
        channel: u64,
        body: Value,
        /// Files uploaded with it: (field name, file name, content).
        files: Vec<UploadedFile>,
    },
    Reaction {
        channel: u64,
        message: u64,
        emoji: String,
    },
    /// A channel's settings changed (a thread archived).
    ChannelEdited {
        channel: u64,
        body: Value,
    },
    /// The bot's interactions endpoint answered without a callback body
    /// (not 200 with JSON): Discord shows the interaction as failed.
    EndpointAnswer {
        interaction: u64,
        status: u16,
        body: String,
    },
    /// A request the fake refused, and why.
    Rejected {
        method: String,
        path: String,
        status: u16,
        reason: String,
        body: Value,
    },
}

struct Interaction {
    token: String,
    dispatched: Instant,
    answered: bool,
    /// 2 command, 3 component, 4 autocomplete, 5 modal submit.
    kind: u64,
    /// The message `@original` means: the reply, or the component's message.
    message: Option<u64>,
}

/// One shard's gateway session: what a RESUME of it gets back.
struct Session {
    /// The live connection; `None` while the shard is disconnected.
    tx: Option<mpsc::UnboundedSender<Message>>,
    /// Closes the live connection when sent to.
    kill: Option<tokio::sync::oneshot::Sender<()>>,
    /// The session a RESUME must name.
    id: String,
    /// The last sequence number sent.
    seq: u64,
    /// Every dispatch of the session, for RESUME replays.
    dispatched: Vec<(u64, String)>,
}

#[derive(Default)]
pub struct State {
    pub events: Vec<Event>,
    interactions: HashMap<u64, Interaction>,
    payloads: HashMap<u64, Value>,
    /// The gateway session of each shard the bot identified (shard 0 when
    /// unsharded).
    sessions: HashMap<u64, Session>,
    /// Answer the next edits of `@original` with 429.
    edit_429s: usize,
    /// Messages by id: what the bot posted or edited, as Discord returns them.
    pub messages: HashMap<u64, Value>,
    /// Refuse thread creation as if the bot lacked the permission.
    deny_threads: bool,
    /// The threads the bot started, as Discord has them.
    threads: HashMap<u64, Value>,
    /// Close new gateway connections at once (Discord unreachable).
    refuse_gateway: bool,
    /// Gateway connections turned away while refusing.
    refused_connections: usize,
    next_id: u64,
    token_lifetime: Option<Duration>,
    /// How long Discord takes to take in an endpoint's answer after it was
    /// received (until then, the answer's message is unknown).
    answer_lag: Duration,
    /// The bot's permissions in the guild; `None`: all it needs.
    guild_permissions: Option<u64>,
    /// The bot's roles in the guild.
    bot_roles: Vec<u64>,
    /// Guild channels the fake knows (besides the test channel): id → overwrites.
    channels: HashMap<u64, Value>,
    /// Messages by enforced nonce.
    nonces: HashMap<String, u64>,
    /// Refuse reactions as if the bot lacked Add Reactions.
    deny_reactions: bool,
    /// The bot's HTTP interactions endpoint: interactions go there instead
    /// of the gateway.
    endpoint: Option<String>,
    /// The shard count the bot identified with (1 until it says).
    shard_total: u64,
    /// What `GET /gateway/bot` recommends.
    recommended_shards: u64,
}

impl State {
    pub fn callbacks(&self, interaction: u64) -> Vec<(Value, Duration)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Callback { interaction: i, body, after } if *i == interaction => Some((body.clone(), *after)),
                _ => None,
            })
            .collect()
    }

    pub fn edits(&self, interaction: u64) -> Vec<Value> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Edit { interaction: i, body, .. } if *i == interaction => Some(body.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn channel_messages(&self) -> Vec<Value> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::ChannelMessage { body, .. } => Some(body.clone()),
                _ => None,
            })
            .collect()
    }

    /// The texts posted in `channel` (a thread), in order.
    #[allow(dead_code)]
    pub fn posts_in(&self, channel: u64) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::ChannelMessage { channel: c, body, .. } if *c == channel => {
                    Some(body["content"].as_str().unwrap_or_default().to_owned())
                }
                _ => None,
            })
            .collect()
    }

    pub fn rejected(&self) -> Vec<Event> {
        self.events.iter().filter(|e| matches!(e, Event::Rejected { .. })).cloned().collect()
    }
}

#[derive(Clone)]
pub struct FakeDiscord {
    pub api_url: String,
    state: Arc<Mutex<State>>,
    changed: Arc<watch::Sender<u64>>,
}

impl FakeDiscord {
    /// Starts the REST server and the gateway; the bot must present `token`.
    pub async fn start(token: &str) -> Self {
        let state =
            Arc::new(Mutex::new(State { next_id: 1, shard_total: 1, recommended_shards: 1, ..State::default() }));
        let changed = Arc::new(watch::channel(0).0);
        let gateway = start_gateway(state.clone(), changed.clone(), token.to_owned()).await;
        let (s, c, t) = (state.clone(), changed.clone(), token.to_owned());
        let addr = serve(move |req| {
            let (s, c, t) = (s.clone(), c.clone(), t.clone());
            async move { rest(&s, &c, &t, gateway, req) }
        })
        .await;
        Self { api_url: format!("http://{addr}"), state, changed }
    }

    /// Makes interaction tokens expire after `d` instead of 15 minutes.
    #[allow(dead_code)]
    pub fn set_answer_lag(&self, d: Duration) {
        self.state.lock().unwrap().answer_lag = d;
    }

    pub fn set_token_lifetime(&self, d: Duration) {
        self.state.lock().unwrap().token_lifetime = Some(d);
    }

    pub fn rejected(&self) -> Vec<Event> {
        self.state.lock().unwrap().rejected()
    }

    pub fn with_state<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.lock().unwrap())
    }

    /// Waits (up to [`super::WAIT`]) until `f` returns `Some`.
    pub async fn wait_for<T>(&self, what: &str, f: impl Fn(&State) -> Option<T>) -> T {
        super::http::wait_until(&self.state, &self.changed, what, f, |s| format!("events: {:#?}", s.events)).await
    }

    /// Waits until the bot has registered its commands; returns the payload.
    pub async fn wait_commands(&self) -> Value {
        self.wait_for("command registration", |s| {
            s.events.iter().find_map(|e| match e {
                Event::Commands { body, .. } => Some(body.clone()),
                _ => None,
            })
        })
        .await
    }

    /// Waits for the first answer to `interaction`.
    pub async fn wait_callback(&self, interaction: u64) -> (Value, Duration) {
        self.wait_for("an interaction callback", |s| s.callbacks(interaction).into_iter().next()).await
    }

    /// Waits for the `n`th edit of `@original` of `interaction`.
    pub async fn wait_edit(&self, interaction: u64, n: usize) -> Value {
        self.wait_for("an edit of @original", |s| s.edits(interaction).get(n - 1).cloned()).await
    }

    /// A fresh snowflake dated now, so the bot reads a real creation time.
    pub fn snowflake(&self) -> u64 {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        ((ms - DISCORD_EPOCH_MS) << 22) | (s.next_id & 0x3f_ffff)
    }

    /// Sends an interaction, over the gateway (INTERACTION_CREATE) or to the
    /// bot's endpoint; returns its id.
    pub async fn dispatch_interaction(&self, d: Value) -> u64 {
        let endpoint = self.state.lock().unwrap().endpoint.clone();
        self.dispatch_to(d, endpoint).await
    }

    /// Sends an interaction to the endpoint at `url` (one replica behind a
    /// load balancer); returns its id.
    #[allow(dead_code)]
    pub async fn dispatch_interaction_to(&self, d: Value, url: &str) -> u64 {
        self.dispatch_to(d, Some(url.to_owned())).await
    }

    /// POSTs interaction `id` again, to the endpoint at `url`: a load
    /// balancer that retried on another replica.
    #[allow(dead_code)]
    pub fn redeliver_to(&self, id: u64, url: &str) {
        let d = self.state.lock().unwrap().payloads[&id].clone();
        self.post_interaction(url.to_owned(), id, d);
    }

    /// Gives interaction `d` its id (unless it has one) and its token.
    fn stamp(&self, d: &mut Value) -> (u64, String) {
        let id = d["id"].as_str().map_or_else(|| self.snowflake(), |s| s.parse().unwrap());
        d["id"] = json!(id.to_string());
        let token = format!("itoken-{id}");
        d["token"] = json!(token);
        (id, token)
    }

    /// The shard Discord sends `d`'s events on: `(guild_id >> 22) % total`.
    fn shard_of(&self, d: &Value) -> u64 {
        let total = self.with_state(|s| s.shard_total);
        d["guild_id"].as_str().and_then(|g| g.parse::<u64>().ok()).map_or(0, |g| (g >> 22) % total)
    }

    async fn dispatch_to(&self, mut d: Value, endpoint: Option<String>) -> u64 {
        let (id, token) = self.stamp(&mut d);
        match endpoint {
            Some(url) => {
                register_interaction(&mut self.state.lock().unwrap(), id, token, &d);
                self.post_interaction(url, id, d);
            }
            None => self.send_dispatch_registering("INTERACTION_CREATE", d, Some((id, token))).await,
        }
        id
    }

    /// Sends interaction `id` again (a replay), without resetting its clock.
    pub async fn redeliver(&self, id: u64) {
        let (d, endpoint) = {
            let s = self.state.lock().unwrap();
            (s.payloads[&id].clone(), s.endpoint.clone())
        };
        match endpoint {
            Some(url) => self.post_interaction(url, id, d),
            None => self.send_dispatch_registering("INTERACTION_CREATE", d, None).await,
        }
    }

    /// From now on, interactions are POSTed to `url`, the bot's endpoint.
    pub fn use_endpoint(&self, url: &str) {
        self.state.lock().unwrap().endpoint = Some(url.to_owned());
    }

    /// POSTs interaction `id` to the endpoint, signed, in the background;
    /// the answer is held to the callback rules and recorded like one.
    fn post_interaction(&self, url: String, id: u64, d: Value) {
        let (state, changed) = (self.state.clone(), self.changed.clone());
        tokio::spawn(async move {
            let body = d.to_string().into_bytes();
            let (status, content_type, answer) = post_signed(&url, body).await;
            let lag = state.lock().unwrap().answer_lag;
            if !lag.is_zero() {
                tokio::time::sleep(lag).await;
            }
            let mut s = state.lock().unwrap();
            let json_answer = content_type.starts_with("application/json");
            match serde_json::from_slice::<Value>(&answer) {
                Ok(value) if status == 200 && json_answer => {
                    let token = s.interactions.get(&id).map(|i| i.token.clone()).unwrap_or_default();
                    match callback(&mut s, id, &token, &value) {
                        Ok((_, event)) => s.events.extend(event),
                        Err((status, _, reason)) => s.events.push(Event::Rejected {
                            method: "answer of POST".into(),
                            path: url,
                            status,
                            reason,
                            body: value,
                        }),
                    }
                }
                _ => s.events.push(Event::EndpointAnswer {
                    interaction: id,
                    status,
                    body: String::from_utf8_lossy(&answer).into_owned(),
                }),
            }
            drop(s);
            changed.send_modify(|v| *v += 1);
        });
    }

    async fn send_dispatch_registering(&self, t: &str, d: Value, register: Option<(u64, String)>) {
        let shard = self.shard_of(&d);
        self.wait_for(&format!("a gateway connection of shard {shard}"), |s| {
            s.sessions.get(&shard).and_then(|g| g.tx.as_ref()).map(|_| ())
        })
        .await;
        let mut s = self.state.lock().unwrap();
        if let Some((id, token)) = register {
            register_interaction(&mut s, id, token, &d);
        }
        let session = s.sessions.get_mut(&shard).unwrap();
        session.seq += 1;
        let frame = json!({"op": 0, "t": t, "s": session.seq, "d": d}).to_string();
        session.dispatched.push((session.seq, frame.clone()));
        // A send to a dead connection is lost, as on a real network: the bot
        // gets it back by resuming.
        if let Some(tx) = &session.tx {
            let _ = tx.send(Message::Text(frame));
        }
    }

    /// Drops the gateway connection without a close frame, as a network
    /// failure would; the bot must reconnect.
    pub fn drop_gateway(&self) {
        self.drop_shard(0);
    }

    /// Drops shard `shard`'s connection, as [`Self::drop_gateway`] does.
    pub fn drop_shard(&self, shard: u64) {
        let mut s = self.state.lock().unwrap();
        if let Some(kill) = s.sessions.get_mut(&shard).and_then(|g| g.kill.take()) {
            let _ = kill.send(());
        }
    }

    /// Answers the next `n` edits of `@original` with 429 Too Many Requests.
    pub fn rate_limit_next_edits(&self, n: usize) {
        self.state.lock().unwrap().edit_429s = n;
    }

    /// Drops the gateway connection and refuses new ones.
    pub fn break_gateway(&self) {
        self.break_shard(0);
    }

    /// Drops shard `shard`'s connection and refuses new connections (those
    /// of the other shards stay up).
    pub fn break_shard(&self, shard: u64) {
        self.state.lock().unwrap().refuse_gateway = true;
        self.drop_shard(shard);
    }

    /// Accepts gateway connections again.
    pub fn heal_gateway(&self) {
        self.state.lock().unwrap().refuse_gateway = false;
    }

    /// Sends `/incident` `d` on its guild's shard just as that shard's
    /// connection breaks: the bot never reads it, and gets it back only by
    /// resuming the session. Returns the interaction's id.
    pub async fn lose_on_breaking_connection(&self, mut d: Value) -> u64 {
        let shard = self.shard_of(&d);
        let (id, token) = self.stamp(&mut d);
        let mut s = self.state.lock().unwrap();
        register_interaction(&mut s, id, token, &d);
        let session = s.sessions.get_mut(&shard).expect("a session of the shard");
        session.seq += 1;
        let frame = json!({"op": 0, "t": "INTERACTION_CREATE", "s": session.seq, "d": d}).to_string();
        session.dispatched.push((session.seq, frame));
        if let Some(kill) = session.kill.take() {
            let _ = kill.send(());
        }
        id
    }

    /// The `d` of each RESUME, in order.
    pub fn resumes(&self) -> Vec<Value> {
        self.with_state(|s| {
            s.events
                .iter()
                .filter_map(|e| match e {
                    Event::Resume(d) => Some(d.clone()),
                    _ => None,
                })
                .collect()
        })
    }

    /// Gives the bot these permissions in the guild (and roles), instead of
    /// all it needs.
    pub fn set_bot_permissions(&self, bits: u64, roles: &[u64]) {
        let mut s = self.state.lock().unwrap();
        s.guild_permissions = Some(bits);
        s.bot_roles = roles.to_vec();
    }

    /// Adds a text channel of the guild with these permission overwrites
    /// (`[{"id", "type": 0 role | 1 member, "allow", "deny"}]`).
    pub fn add_channel(&self, id: u64, overwrites: Value) {
        self.state.lock().unwrap().channels.insert(id, overwrites);
    }

    /// Forgets what was recorded (the gateway session stays), so a long
    /// benchmark does not measure the fake's own growing memory.
    #[allow(dead_code)] // used by benches/loadgen.rs
    pub fn reset(&self) {
        let mut s = self.state.lock().unwrap();
        // The session's own events stay: dispatches wait for an IDENTIFY.
        s.events.retain(|e| matches!(e, Event::Identify(_) | Event::Resume(_)));
        s.events.shrink_to_fit();
        s.interactions = HashMap::new();
        s.payloads = HashMap::new();
        s.messages = HashMap::new();
        for g in s.sessions.values_mut() {
            g.dispatched = Vec::new();
        }
    }

    /// A message someone posted (see [`user_message`]), which the bot can
    /// then read back.
    #[allow(dead_code)]
    pub fn add_user_message(&self, message: &Value) {
        let id = message["id"].as_str().and_then(|i| i.parse().ok()).unwrap();
        self.state.lock().unwrap().messages.insert(id, message.clone());
    }

    /// Refuses reactions with 403 Missing Permissions.
    #[allow(dead_code)]
    pub fn deny_reactions(&self) {
        self.state.lock().unwrap().deny_reactions = true;
    }

    /// Refuses thread creation with 403 Missing Permissions.
    pub fn deny_threads(&self) {
        self.state.lock().unwrap().deny_threads = true;
    }

    /// The message `@original` of `interaction` is, as stored.
    pub fn original(&self, interaction: u64) -> Value {
        self.with_state(|s| {
            let id = s.interactions[&interaction].message.expect("no message yet");
            s.messages[&id].clone()
        })
    }

    /// Waits until the bot has tried `n` times to reconnect to a broken gateway.
    pub async fn wait_refused_reconnects(&self, n: usize) {
        self.wait_for("refused gateway reconnections", |s| (s.refused_connections >= n).then_some(())).await;
    }

    /// Gateway connections that identified or resumed.
    /// Makes `GET /gateway/bot` recommend `n` shards.
    pub fn recommend_shards(&self, n: u64) {
        self.state.lock().unwrap().recommended_shards = n;
    }

    /// The `shard` of each IDENTIFY, in order (`None`: unsharded).
    pub fn identified_shards(&self) -> Vec<Option<Value>> {
        self.with_state(|s| {
            s.events
                .iter()
                .filter_map(|e| match e {
                    Event::Identify(d) => Some(d.get("shard").cloned()),
                    _ => None,
                })
                .collect()
        })
    }

    pub fn gateway_sessions(&self) -> usize {
        self.with_state(|s| s.events.iter().filter(|e| matches!(e, Event::Identify(_) | Event::Resume(_))).count())
    }
}

/// The `d` of an INTERACTION_CREATE for `/incident` with these options, sent
/// by a guild member, as Discord shapes it.
pub fn incident_command(options: Value) -> Value {
    interaction(2, json!({"id": COMMAND_ID.to_string(), "name": "incident", "type": 1, "options": options}))
}

/// An autocomplete interaction for `/incident` with `options` (one focused).
pub fn incident_autocomplete(options: Value) -> Value {
    interaction(4, json!({"id": COMMAND_ID.to_string(), "name": "incident", "type": 1, "options": options}))
}

/// A click on button `custom_id` of `message` (as the fake stored it).
pub fn button_click(message: &Value, custom_id: &str) -> Value {
    let mut d = interaction(3, json!({"custom_id": custom_id, "component_type": 2}));
    d["message"] = message.clone();
    d
}

/// A submitted dialog `custom_id` with these text inputs, opened from a
/// button of `message`.
pub fn modal_submit(message: &Value, custom_id: &str, inputs: &[(&str, &str)]) -> Value {
    let rows: Vec<Value> = inputs
        .iter()
        .map(|(id, value)| json!({"type": 1, "components": [{"type": 4, "custom_id": id, "value": value}]}))
        .collect();
    let mut d = interaction(5, json!({"custom_id": custom_id, "components": rows}));
    d["message"] = message.clone();
    d
}

/// `/incident-update` with these options.
pub fn update_command(options: Value) -> Value {
    interaction(
        2,
        json!({"id": (COMMAND_ID + 1).to_string(), "name": "incident-update", "type": 1, "options": options}),
    )
}

/// An autocomplete interaction for `/incident-update`.
pub fn update_autocomplete(options: Value) -> Value {
    interaction(
        4,
        json!({"id": (COMMAND_ID + 1).to_string(), "name": "incident-update", "type": 1, "options": options}),
    )
}

/// "Add to incident timeline" used on `message` (as the fake stored it, or
/// any message JSON), from the channel it is in.
#[allow(dead_code)]
pub fn message_command(message: &Value) -> Value {
    let id = message["id"].as_str().unwrap_or_default().to_owned();
    let mut d = interaction(
        2,
        json!({"id": (COMMAND_ID + 2).to_string(), "name": "Add to incident timeline", "type": 3, "target_id": id,
            "resolved": {"messages": {id.clone(): message}}}),
    );
    d["channel_id"] = message["channel_id"].clone();
    d
}

/// A message someone posted in `channel` (not the bot), as Discord shapes it.
#[allow(dead_code)]
pub fn user_message(id: u64, channel: u64, author: (u64, &str), content: &str, attachments: Value) -> Value {
    json!({
        "id": id.to_string(), "channel_id": channel.to_string(),
        "author": {"id": author.0.to_string(), "username": author.1, "discriminator": "0", "avatar": null},
        "content": content, "timestamp": "2024-01-01T12:00:00.000000+00:00", "edited_timestamp": null,
        "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [], "attachments": attachments,
        "embeds": [], "pinned": false, "type": 0
    })
}

/// `d` as sent by another user (id `user`).
#[allow(dead_code)] // used by benches/loadgen.rs
pub fn from_user(mut d: Value, user: u64) -> Value {
    d["member"]["user"]["id"] = json!(user.to_string());
    d["member"]["user"]["username"] = json!(format!("user{user}"));
    d
}

/// `d` as sent by a member with these roles.
pub fn with_roles(mut d: Value, roles: &[u64]) -> Value {
    d["member"]["roles"] = json!(roles.iter().map(ToString::to_string).collect::<Vec<_>>());
    d
}

/// `d` as sent from another channel (a thread when `parent` is set).
pub fn in_channel(mut d: Value, channel: u64, parent: Option<u64>) -> Value {
    d["channel_id"] = json!(channel.to_string());
    d["channel"] = json!({"id": channel.to_string(), "name": "elsewhere", "type": if parent.is_some() { 11 } else { 0 },
        "parent_id": parent.map(|p| p.to_string())});
    d
}

/// `d` as sent from a direct message with the bot: no guild, no member.
pub fn as_dm(mut d: Value) -> Value {
    let o = d.as_object_mut().unwrap();
    let user = o.remove("member").unwrap()["user"].clone();
    o.remove("guild_id");
    o.remove("guild_locale");
    o.insert("user".into(), user);
    o.insert("channel".into(), json!({"id": CHANNEL_ID.to_string(), "type": 1}));
    o.insert("context".into(), json!(1));
    d
}

/// Remembers interaction `id` as sent now, so its callback can be checked.
fn register_interaction(s: &mut State, id: u64, token: String, d: &Value) {
    s.payloads.insert(id, d.clone());
    let kind = d["type"].as_u64().unwrap_or(0);
    let message = d["message"]["id"].as_str().and_then(|m| m.parse().ok());
    s.interactions.insert(id, Interaction { token, dispatched: Instant::now(), answered: false, kind, message });
}

/// POSTs `body` to an interactions endpoint as Discord does: signed now.
/// Returns the status, the content type and the body of the answer.
pub async fn post_signed(url: &str, body: Vec<u8>) -> (u16, String, Vec<u8>) {
    let headers = signature_headers(unix_now(), &body);
    let mut extra: Vec<(&str, String)> = headers.to_vec();
    extra.push(("content-type", "application/json".to_owned()));
    send("POST", url, &extra, body).await
}

/// One request to `url` with exactly these headers (besides Host and
/// Content-Length): (status, content type, body).
pub async fn send(method: &str, url: &str, headers: &[(&str, String)], body: Vec<u8>) -> (u16, String, Vec<u8>) {
    // No pooled connections: each test has a runtime of its own, and a
    // connection kept from one would be dead in the next.
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    let client = CLIENT.get_or_init(|| reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap());
    let mut req = client.request(method.parse().unwrap(), url).body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let content_type =
                resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            (status, content_type, resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default())
        }
        Err(e) => (0, String::new(), e.to_string().into_bytes()),
    }
}

fn interaction(kind: u8, data: Value) -> Value {
    json!({
        "application_id": APP_ID.to_string(),
        "type": kind,
        "data": data,
        "guild_id": GUILD_ID.to_string(),
        "channel_id": CHANNEL_ID.to_string(),
        "channel": {"id": CHANNEL_ID.to_string(), "name": CHANNEL_NAME, "type": 0},
        "member": {
            "user": {"id": USER_ID.to_string(), "username": USER_NAME, "discriminator": "0", "global_name": "Alice", "avatar": null},
            "roles": [],
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "deaf": false,
            "mute": false,
            "flags": 0,
            "pending": false,
            "permissions": "2147483647"
        },
        "app_permissions": "2147483647",
        "version": 1,
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": GUILD_ID.to_string()},
        "context": 0,
        "attachment_size_limit": 26_214_400
    })
}

// ---- REST ---------------------------------------------------------------------

fn discord_error(status: u16, code: u64, message: &str) -> Resp {
    Resp::json(status, &json!({"message": message, "code": code}))
}

fn rest(state: &Mutex<State>, changed: &watch::Sender<u64>, token: &str, gateway: SocketAddr, req: Req) -> Resp {
    let body: Value =
        if req.body.is_empty() { Value::Null } else { serde_json::from_slice(&req.body).unwrap_or(Value::Null) };
    let mut s = state.lock().unwrap();
    let outcome = route(&mut s, token, gateway, &req, &body);
    let resp = match outcome {
        Ok((resp, event)) => {
            if let Some(e) = event {
                s.events.push(e);
            }
            resp
        }
        Err((status, code, reason)) => {
            s.events.push(Event::Rejected {
                method: req.method.clone(),
                path: req.path.clone(),
                status,
                reason: reason.clone(),
                body,
            });
            if status == 429 {
                Resp::json(429, &json!({"message": reason, "retry_after": 0.25, "global": false}))
                    .with_header("retry-after", "1")
            } else {
                discord_error(status, code, &reason)
            }
        }
    };
    drop(s);
    changed.send_modify(|v| *v += 1);
    resp
}

type Routed = Result<(Resp, Option<Event>), (u16, u64, String)>;

fn route(s: &mut State, token: &str, gateway: SocketAddr, req: &Req, body: &Value) -> Routed {
    let Some(path) = req.path.strip_prefix("/api/v10") else {
        return Err((404, 0, format!("not under /api/v10: {}", req.path)));
    };
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let bot_auth = || -> Result<(), (u16, u64, String)> {
        if req.header("authorization") == Some(&format!("Bot {token}")) {
            Ok(())
        } else {
            Err((401, 0, "401: Unauthorized".into()))
        }
    };
    let app = APP_ID.to_string();
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["gateway"]) => Ok((Resp::json(200, &json!({"url": format!("ws://{gateway}")})), None)),
        ("GET", ["gateway", "bot"]) => {
            bot_auth()?;
            let limit = json!({"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1});
            let body =
                json!({"url": format!("ws://{gateway}"), "shards": s.recommended_shards, "session_start_limit": limit});
            Ok((Resp::json(200, &body), None))
        }
        ("GET", ["users", "@me"]) => {
            bot_auth()?;
            let me = json!({"id": APP_ID.to_string(), "username": "incident-bot", "discriminator": "0", "global_name": null,
                "avatar": null, "bot": true, "flags": 0, "mfa_enabled": true, "verified": true});
            Ok((Resp::json(200, &me), None))
        }
        ("GET", ["users", "@me", "guilds"]) => {
            bot_auth()?;
            // What the default configuration needs: View Channels, Send
            // Messages, Embed Links, Read Message History, threads.
            let permissions = s.guild_permissions.unwrap_or(309_237_763_136);
            let guilds = json!([{"id": GUILD_ID.to_string(), "name": "Test server", "icon": null, "owner": false,
                "permissions": permissions.to_string(), "features": []}]);
            Ok((Resp::json(200, &guilds), None))
        }
        ("GET", ["guilds", g, "members", u]) if *g == GUILD_ID.to_string() && *u == APP_ID.to_string() => {
            bot_auth()?;
            let roles: Vec<String> = s.bot_roles.iter().map(ToString::to_string).collect();
            let member = json!({"user": {"id": APP_ID.to_string(), "username": "incident-bot", "discriminator": "0", "avatar": null, "bot": true},
                "roles": roles, "joined_at": "2024-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false, "flags": 0});
            Ok((Resp::json(200, &member), None))
        }
        ("GET", ["channels", c]) => {
            bot_auth()?;
            let id: u64 = c.parse().unwrap_or(0);
            if let Some(thread) = s.threads.get(&id) {
                return Ok((Resp::json(200, thread), None));
            }
            let Some(overwrites) = s.channels.get(&id).cloned() else {
                return Err((404, 10003, "Unknown Channel".into()));
            };
            let channel = json!({"id": id.to_string(), "type": 0, "guild_id": GUILD_ID.to_string(), "name": format!("channel-{id}"),
                "position": 0, "permission_overwrites": overwrites, "nsfw": false});
            Ok((Resp::json(200, &channel), None))
        }
        ("GET", ["oauth2", "applications", "@me"]) => {
            bot_auth()?;
            let app = json!({"id": APP_ID.to_string(), "name": "incident-bot", "icon": null, "description": "",
                "bot_public": false, "bot_require_code_grant": false, "verify_key": public_key_hex(), "flags": 0,
                "bot": {"id": APP_ID.to_string(), "username": "incident-bot", "discriminator": "0", "avatar": null, "bot": true}});
            Ok((Resp::json(200, &app), None))
        }
        ("PUT", ["applications", a, "commands"]) if *a == app => {
            bot_auth()?;
            commands(s, None, body)
        }
        ("PUT", ["applications", a, "guilds", g, "commands"]) if *a == app => {
            bot_auth()?;
            commands(s, Some(g.parse().map_err(|_| (400, 50035, "bad guild id".to_owned()))?), body)
        }
        ("POST", ["interactions", id, itoken, "callback"]) => {
            let id: u64 = id.parse().map_err(|_| (404, 10062, "Unknown interaction".to_owned()))?;
            callback(s, id, itoken, body)
        }
        ("PATCH", ["webhooks", a, itoken, "messages", "@original"]) if *a == app => {
            let id = live_interaction(s, itoken)?;
            if !s.interactions[&id].answered {
                return Err((404, 10008, "Unknown Message".into()));
            }
            if s.edit_429s > 0 {
                s.edit_429s -= 1;
                return Err((429, 0, "You are being rate limited.".into()));
            }
            schema_check("edit_original", body)?;
            embed_totals(body)?;
            let mid = s.interactions[&id].message.ok_or((404, 10008, "Unknown Message".to_owned()))?;
            let after = s.interactions[&id].dispatched.elapsed();
            let msg = store_message(s, Some(mid), None, body);
            Ok((Resp::json(200, &msg), Some(Event::Edit { interaction: id, body: body.clone(), after })))
        }
        ("POST", ["webhooks", a, itoken]) if *a == app => {
            let id = live_interaction(s, itoken)?;
            if !s.interactions[&id].answered {
                return Err((404, 10015, "Unknown Webhook".into()));
            }
            schema_check("followup", body)?;
            embed_totals(body)?;
            let msg = store_message(s, None, None, body);
            Ok((Resp::json(200, &msg), Some(Event::Followup { interaction: id, body: body.clone() })))
        }
        ("POST", ["channels", c, "messages"]) => {
            bot_auth()?;
            let channel: u64 = c.parse().map_err(|_| (404, 10003, "Unknown Channel".to_owned()))?;
            // A message with files is multipart: the JSON is `payload_json`,
            // each file `files[n]`, each named in `attachments`.
            let (body, files) = match req.header("content-type") {
                Some(ct) if ct.starts_with("multipart/form-data") => multipart(ct, &req.body)?,
                _ => (body.clone(), Vec::new()),
            };
            schema_check("channel_message", &body)?;
            embed_totals(&body)?;
            // An enforced nonce already used: Discord returns that message.
            if body["enforce_nonce"] == true
                && let Some(nonce) = body["nonce"].as_str()
                && let Some(existing) = s.nonces.get(nonce).and_then(|id| s.messages.get(id))
            {
                return Ok((Resp::json(200, existing), None));
            }
            let msg = store_message(s, None, Some(channel), &body);
            if let (Some(nonce), Some(id)) = (body["nonce"].as_str(), msg["id"].as_str().and_then(|i| i.parse().ok())) {
                s.nonces.insert(nonce.to_owned(), id);
            }
            Ok((Resp::json(200, &msg), Some(Event::ChannelMessage { channel, body, files })))
        }
        ("PUT", ["channels", c, "messages", m, "reactions", emoji, "@me"]) => {
            bot_auth()?;
            let (channel, message) = (c.parse().unwrap_or(0), m.parse().unwrap_or(0));
            if s.deny_reactions {
                return Err((403, 50013, "Missing Permissions".into()));
            }
            Ok((Resp::empty(204), Some(Event::Reaction { channel, message, emoji: percent_decode(emoji) })))
        }
        ("PATCH", ["channels", c]) => {
            bot_auth()?;
            let channel: u64 = c.parse().unwrap_or(0);
            let Some(thread) = s.threads.get_mut(&channel) else {
                return Err((404, 10003, "Unknown Channel".into()));
            };
            if let Some(archived) = body.get("archived") {
                thread["thread_metadata"]["archived"] = archived.clone();
            }
            Ok((Resp::json(200, thread), Some(Event::ChannelEdited { channel, body: body.clone() })))
        }
        ("GET", ["channels", _, "messages", m]) => {
            bot_auth()?;
            let m: u64 = m.parse().map_err(|_| (404, 10008, "Unknown Message".to_owned()))?;
            let msg = s.messages.get(&m).cloned().ok_or((404, 10008, "Unknown Message".to_owned()))?;
            Ok((Resp::json(200, &msg), None))
        }
        ("PATCH", ["channels", c, "messages", m]) => {
            bot_auth()?;
            let (channel, message): (u64, u64) = (c.parse().unwrap_or(0), m.parse().unwrap_or(0));
            if !s.messages.contains_key(&message) {
                return Err((404, 10008, "Unknown Message".into()));
            }
            schema_check("edit_message", body)?;
            embed_totals(body)?;
            let msg = store_message(s, Some(message), None, body);
            Ok((Resp::json(200, &msg), Some(Event::ChannelEdit { channel, message, body: body.clone() })))
        }
        ("POST", ["channels", c, "messages", m, "threads"]) => {
            bot_auth()?;
            if s.deny_threads {
                return Err((403, 50013, "Missing Permissions".into()));
            }
            let (channel, message): (u64, u64) = (c.parse().unwrap_or(0), m.parse().unwrap_or(0));
            if !s.messages.contains_key(&message) {
                return Err((404, 10008, "Unknown Message".into()));
            }
            let name = body["name"].as_str().unwrap_or_default();
            if !(1..=100).contains(&name.chars().count()) {
                return Err((400, 50035, "Invalid Form Body: name must be 1-100 characters".into()));
            }
            s.next_id += 1;
            let thread = COMMAND_ID + 20_000 + s.next_id;
            let t = json!({
                "id": thread.to_string(), "type": 11, "guild_id": GUILD_ID.to_string(), "name": name,
                "parent_id": channel.to_string(), "owner_id": APP_ID.to_string(), "message_count": 0, "member_count": 1,
                "rate_limit_per_user": 0, "flags": 0,
                "thread_metadata": {"archived": false, "auto_archive_duration": body["auto_archive_duration"].as_u64().unwrap_or(1440),
                    "archive_timestamp": "2024-01-01T00:00:00.000000+00:00", "locked": false}
            });
            s.threads.insert(thread, t.clone());
            Ok((Resp::json(201, &t), Some(Event::ThreadCreated { channel, message, thread, body: body.clone() })))
        }
        _ => Err((404, 0, format!("the fake has no route {} {}", req.method, req.path))),
    }
}

fn live_interaction(s: &State, itoken: &str) -> Result<u64, (u16, u64, String)> {
    let (id, i) =
        s.interactions.iter().find(|(_, i)| i.token == itoken).ok_or((404, 10015, "Unknown Webhook".to_owned()))?;
    let lifetime = s.token_lifetime.unwrap_or(Duration::from_secs(15 * 60));
    if i.dispatched.elapsed() > lifetime {
        return Err((401, 50027, "Invalid Webhook Token".into()));
    }
    Ok(*id)
}

fn commands(s: &mut State, guild: Option<u64>, body: &Value) -> Routed {
    schema_check(if guild.is_some() { "bulk_guild_commands" } else { "bulk_commands" }, body)?;
    let mut out = Vec::new();
    for (i, c) in body.as_array().into_iter().flatten().enumerate() {
        command_rules(c).map_err(|r| (400, 50035, format!("Invalid Form Body: commands[{i}]: {r}")))?;
        let mut c = c.clone();
        c["id"] = json!((COMMAND_ID + i as u64).to_string());
        c["application_id"] = json!(APP_ID.to_string());
        c["version"] = json!("1");
        c["type"] = c.get("type").cloned().filter(|t| !t.is_null()).unwrap_or(json!(1));
        // Discord answers with every field: user and message commands get
        // an empty description.
        if c.get("description").is_none_or(Value::is_null) {
            c["description"] = json!("");
        }
        if let Some(g) = guild {
            c["guild_id"] = json!(g.to_string());
        }
        out.push(c);
    }
    let _ = s;
    Ok((Resp::json(200, &Value::Array(out)), Some(Event::Commands { guild, body: body.clone() })))
}

fn name_re() -> &'static regex::Regex {
    static NAME: OnceLock<regex::Regex> = OnceLock::new();
    NAME.get_or_init(|| regex::Regex::new(r"^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$").unwrap())
}

/// The application-command rules the OpenAPI schema cannot state.
fn command_rules(c: &Value) -> Result<(), String> {
    let name_re = name_re();
    let valid_name = |n: &str| name_re.is_match(n) && n.to_lowercase() == n;
    let name = c["name"].as_str().unwrap_or_default();
    // User and message commands (types 2 and 3): any 1-32 characters, no
    // description, no options.
    if matches!(c["type"].as_u64(), Some(2 | 3)) {
        let n = name.chars().count();
        if !(1..=32).contains(&n) {
            return Err(format!("a message command's name must be 1-32 characters, not {n}"));
        }
        if c["description"].as_str().is_some_and(|d| !d.is_empty()) || c.get("options").is_some_and(|o| o != &json!([]))
        {
            return Err(format!("message command `{name}` may have no description or options"));
        }
        return Ok(());
    }
    if !valid_name(name) {
        return Err(format!("name `{name}` does not match Discord's pattern or is not lowercase"));
    }
    let desc = c["description"].as_str().unwrap_or_default().chars().count();
    if !(1..=100).contains(&desc) {
        return Err("description must be 1-100 characters".into());
    }
    let options = c["options"].as_array().cloned().unwrap_or_default();
    if options.len() > 25 {
        return Err("more than 25 options".into());
    }
    let mut seen_optional = false;
    for o in &options {
        let oname = o["name"].as_str().unwrap_or_default();
        if !valid_name(oname) {
            return Err(format!("option name `{oname}` is invalid"));
        }
        let odesc = o["description"].as_str().unwrap_or_default().chars().count();
        if !(1..=100).contains(&odesc) {
            return Err(format!("option `{oname}` description must be 1-100 characters"));
        }
        let required = o["required"].as_bool().unwrap_or(false);
        if required && seen_optional {
            return Err(format!("required option `{oname}` comes after an optional one"));
        }
        seen_optional |= !required;
        let choices = o["choices"].as_array().map_or(0, Vec::len);
        if choices > 25 {
            return Err(format!("option `{oname}` has more than 25 choices"));
        }
        if choices > 0 && o["autocomplete"] == true {
            return Err(format!("option `{oname}` has both choices and autocomplete"));
        }
        for ch in o["choices"].as_array().into_iter().flatten() {
            let n = ch["name"].as_str().unwrap_or_default().chars().count();
            if !(1..=100).contains(&n) {
                return Err(format!("a choice of `{oname}` has a name of {n} characters"));
            }
        }
    }
    Ok(())
}

fn callback(s: &mut State, id: u64, itoken: &str, body: &Value) -> Routed {
    let Some(i) = s.interactions.get_mut(&id).filter(|i| i.token == itoken) else {
        return Err((404, 10062, "Unknown interaction".into()));
    };
    let after = i.dispatched.elapsed();
    if after > ACK_DEADLINE {
        return Err((404, 10062, format!("Unknown interaction (answered after {after:?})")));
    }
    if i.answered {
        return Err((400, 40060, "Interaction has already been acknowledged.".into()));
    }
    schema_check("callback", body)?;
    let kind = body["type"].as_u64().unwrap_or(0);
    if kind == 5 {
        let flags = body["data"]["flags"].as_u64().unwrap_or(0);
        // Discord ignores a deferred response's content: sending some is a bug
        // that would lose it. (serenity sends an empty `attachments`, which is fine.)
        let carries = |k: &str| {
            body["data"][k].as_str().is_some_and(|s| !s.is_empty())
                || body["data"][k].as_array().is_some_and(|a| !a.is_empty())
        };
        if flags & !64 != 0 || ["content", "embeds", "components", "attachments"].iter().any(|k| carries(k)) {
            return Err((400, 50035, "a deferred response may only carry the EPHEMERAL flag".into()));
        }
    }
    if kind == 4 {
        embed_totals(&body["data"])?;
    }
    // What each kind of interaction may answer with, as Discord enforces it.
    let allowed: &[u64] = match i.kind {
        2 => &[4, 5, 9],
        3 => &[4, 5, 6, 7, 9],
        4 => &[8],
        5 => &[4, 5, 6, 7],
        _ => &[],
    };
    if !allowed.contains(&kind) {
        return Err((400, 50035, format!("callback type {kind} is not valid for interaction type {}", i.kind)));
    }
    if matches!(kind, 6 | 7) && i.message.is_none() {
        return Err((400, 50035, "an update needs a message".into()));
    }
    let i_message = i.message;
    i.answered = true;
    match kind {
        4 | 5 => {
            let data = if kind == 4 { body["data"].clone() } else { json!({"flags": body["data"]["flags"].clone()}) };
            let msg = store_message(s, None, None, &data);
            let mid: u64 = msg["id"].as_str().unwrap().parse().unwrap();
            s.interactions.get_mut(&id).unwrap().message = Some(mid);
        }
        7 => {
            store_message(s, i_message, None, &body["data"]);
        }
        _ => {}
    }
    Ok((Resp::empty(204), Some(Event::Callback { interaction: id, body: body.clone(), after })))
}

/// Creates (no `id`) or updates message `id` from a request body, stores it
/// and returns it as Discord would. An update keeps what the body leaves out.
fn store_message(s: &mut State, id: Option<u64>, channel: Option<u64>, body: &Value) -> Value {
    let id = id.unwrap_or_else(|| {
        s.next_id += 1;
        COMMAND_ID + 10_000 + s.next_id
    });
    let mut msg = s.messages.get(&id).cloned().unwrap_or_else(|| {
        let mut m = message(id, body);
        if let Some(c) = channel {
            m["channel_id"] = json!(c.to_string());
        }
        m
    });
    for key in ["content", "embeds", "components"] {
        if !body[key].is_null() {
            msg[key] = body[key].clone();
        }
    }
    for e in msg["embeds"].as_array_mut().into_iter().flatten() {
        e["type"] = json!("rich");
    }
    s.messages.insert(id, msg.clone());
    msg
}

fn message(id: u64, body: &Value) -> Value {
    json!({
        "id": id.to_string(),
        "channel_id": CHANNEL_ID.to_string(),
        "author": {"id": APP_ID.to_string(), "username": "incident-bot", "discriminator": "0", "bot": true, "avatar": null},
        "content": body["content"].as_str().unwrap_or_default(),
        "guild_id": GUILD_ID.to_string(),
        "timestamp": "2024-01-01T00:00:00.000000+00:00",
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": body["embeds"].as_array().cloned().unwrap_or_default(),
        "components": body["components"].as_array().cloned().unwrap_or_default(),
        "pinned": false,
        "type": 0,
        "flags": body["flags"].as_u64().unwrap_or(0)
    })
}

/// Discord's embed limits that span fields: at most 25 fields and 6000
/// characters in all of an embed's texts.
fn embed_totals(body: &Value) -> Result<(), (u16, u64, String)> {
    for e in body["embeds"].as_array().into_iter().flatten() {
        let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
        let mut total =
            len(&e["title"]) + len(&e["description"]) + len(&e["footer"]["text"]) + len(&e["author"]["name"]);
        let fields = e["fields"].as_array().cloned().unwrap_or_default();
        if fields.len() > 25 {
            return Err((400, 50035, "embed has more than 25 fields".into()));
        }
        for f in &fields {
            total += len(&f["name"]) + len(&f["value"]);
        }
        if total > 6000 {
            return Err((400, 50035, format!("embed is {total} characters; the limit is 6000")));
        }
    }
    Ok(())
}

/// Compiles the schemas and patterns the fake checks with, which it otherwise
/// does on first use: a benchmark calls this so that the first bot it measures
/// does not wait for it.
#[allow(dead_code)] // used by benches/loadgen.rs
pub fn warm_up() {
    validators();
    name_re();
}

fn validators() -> &'static HashMap<&'static str, jsonschema::Validator> {
    static VALIDATORS: OnceLock<HashMap<&'static str, jsonschema::Validator>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        let mut spec: Value = serde_json::from_str(include_str!("../fixtures/discord-openapi-subset.json")).unwrap();
        // The spec types `default_member_permissions` as an integer; Discord's
        // docs (and every library, serenity included) send the permission
        // bit set as a string of digits, which Discord accepts. Allow both.
        for schema in ["ApplicationCommandUpdateRequest", "ApplicationCommandCreateRequest"] {
            let p = &mut spec["components"]["schemas"][schema]["properties"]["default_member_permissions"];
            if p.is_object() {
                *p = json!({"anyOf": [p.clone(), {"type": "string", "pattern": "^[0-9]{1,20}$"}]});
            }
        }
        let mut requests = spec["x-harness-requests"].as_object().unwrap().clone();
        requests.insert(
            "channel_message".into(),
            json!({"type": "object", "properties": {
                "content": {"type": ["string", "null"], "maxLength": 2000},
                "embeds": {"type": ["array", "null"], "maxItems": 10, "items": {"$ref": "#/components/schemas/RichEmbed"}},
                "allowed_mentions": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/MessageAllowedMentionsRequest"}]}
            }}),
        );
        requests
            .into_iter()
            .map(|(name, schema)| {
                let mut root = schema.as_object().unwrap().clone();
                root.insert("components".into(), spec["components"].clone());
                let name: &'static str = Box::leak(name.into_boxed_str());
                (name, jsonschema::validator_for(&Value::Object(root)).unwrap())
            })
            .collect()
    })
}

fn schema_check(request: &str, body: &Value) -> Result<(), (u16, u64, String)> {
    let v = &validators()[request];
    let errors: Vec<String> = v.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err((400, 50035, format!("Invalid Form Body ({request}): {}", errors.join("; "))))
    }
}

// ---- Gateway ------------------------------------------------------------------

async fn start_gateway(state: Arc<Mutex<State>>, changed: Arc<watch::Sender<u64>>, token: String) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut session = 0u64;
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            {
                let mut s = state.lock().unwrap();
                if s.refuse_gateway {
                    s.refused_connections += 1;
                    drop(s);
                    drop(stream);
                    changed.send_modify(|v| *v += 1);
                    continue;
                }
            }
            session += 1;
            let (state, changed, token) = (state.clone(), changed.clone(), token.clone());
            tokio::spawn(async move {
                let Ok(ws) = tokio_tungstenite::accept_async(stream).await else { return };
                gateway_session(ws, state, changed, token, addr, session).await;
            });
        }
    });
    addr
}

async fn gateway_session(
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    state: Arc<Mutex<State>>,
    changed: Arc<watch::Sender<u64>>,
    token: String,
    addr: SocketAddr,
    session: u64,
) {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let (kill_tx, mut kill) = tokio::sync::oneshot::channel::<()>();
    let mut kill_tx_slot = Some(kill_tx);
    tx.send(Message::Text(json!({"op": 10, "d": {"heartbeat_interval": 41_250}}).to_string())).unwrap();
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || close {
                break;
            }
        }
    });
    loop {
        let msg = tokio::select! {
            m = stream.next() => m,
            _ = &mut kill => None,
        };
        let Some(Ok(msg)) = msg else { break };
        let Message::Text(text) = msg else { continue };
        let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
        match frame["op"].as_u64() {
            Some(1) => {
                let _ = tx.send(Message::Text(json!({"op": 11}).to_string()));
            }
            Some(2) => {
                if frame["d"]["token"] != json!(format!("Bot {token}")) {
                    let _ = tx.send(Message::Close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                        code: 4004.into(),
                        reason: "Authentication failed.".into(),
                    })));
                    break;
                }
                let mut s = state.lock().unwrap();
                s.events.push(Event::Identify(frame["d"].clone()));
                let (shard, total) = match frame["d"]["shard"].as_array().map(|a| (a[0].as_u64(), a[1].as_u64())) {
                    Some((Some(id), Some(total))) if id < total => (id, total),
                    None => (0, 1),
                    _ => {
                        let _ = tx.send(Message::Close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                            code: 4010.into(),
                            reason: "Invalid shard.".into(),
                        })));
                        break;
                    }
                };
                s.shard_total = total;
                // Shard 0's READY lists the test guild (unavailable); the others' none.
                let (id, guilds) = if shard == 0 {
                    (format!("session-{session}"), json!([{"id": GUILD_ID.to_string(), "unavailable": true}]))
                } else {
                    (format!("session-{session}-shard-{shard}"), json!([]))
                };
                let ready = json!({"op": 0, "t": "READY", "s": 1, "d": {
                    "v": 10,
                    "user": {"id": APP_ID.to_string(), "username": "incident-bot", "discriminator": "0", "bot": true, "avatar": null},
                    "guilds": guilds,
                    "session_id": id,
                    "resume_gateway_url": format!("ws://{addr}"),
                    "application": {"id": APP_ID.to_string(), "flags": 0},
                    "shard": [shard, total]
                }});
                let _ = tx.send(Message::Text(ready.to_string()));
                let kill = Some(kill_tx_take(&mut kill_tx_slot));
                s.sessions.insert(shard, Session { tx: Some(tx.clone()), kill, id, seq: 1, dispatched: Vec::new() });
                drop(s);
                changed.send_modify(|v| *v += 1);
            }
            Some(6) => {
                let d = &frame["d"];
                let mut s = state.lock().unwrap();
                let shard = s.sessions.iter().find(|(_, g)| d["session_id"] == g.id.as_str()).map(|(n, _)| *n);
                let (Some(shard), true) = (shard, d["token"] == json!(format!("Bot {token}"))) else {
                    // Unknown session: ask for a fresh IDENTIFY, as Discord does.
                    let _ = tx.send(Message::Text(json!({"op": 9, "d": false}).to_string()));
                    continue;
                };
                s.events.push(Event::Resume(d.clone()));
                let g = s.sessions.get_mut(&shard).unwrap();
                let from = d["seq"].as_u64().unwrap_or(0);
                for (seq, frame) in &g.dispatched {
                    if *seq > from {
                        let _ = tx.send(Message::Text(frame.clone()));
                    }
                }
                g.seq += 1;
                let resumed = json!({"op": 0, "t": "RESUMED", "s": g.seq, "d": {}}).to_string();
                g.dispatched.push((g.seq, resumed.clone()));
                let _ = tx.send(Message::Text(resumed));
                g.tx = Some(tx.clone());
                g.kill = Some(kill_tx_take(&mut kill_tx_slot));
                drop(s);
                changed.send_modify(|v| *v += 1);
            }
            _ => {}
        }
    }
    writer.abort();
    let mut s = state.lock().unwrap();
    for g in s.sessions.values_mut() {
        if g.tx.as_ref().is_some_and(|c| c.same_channel(&tx)) {
            g.tx = None;
        }
    }
}

/// The kill switch of a session, handed to the state once it is live. A
/// session that identifies twice keeps a switch that no longer fires.
fn kill_tx_take(slot: &mut Option<tokio::sync::oneshot::Sender<()>>) -> tokio::sync::oneshot::Sender<()> {
    slot.take().unwrap_or_else(|| tokio::sync::oneshot::channel().0)
}

/// Splits a `multipart/form-data` body as Discord reads it: `payload_json`
/// is the message, `files[n]` the files, and every file must be named in the
/// payload's `attachments` (by `id` n).
/// A file part of an upload: (form field, file name, bytes).
pub type UploadedFile = (String, String, Vec<u8>);

fn multipart(content_type: &str, body: &[u8]) -> Result<(Value, Vec<UploadedFile>), (u16, u64, String)> {
    let bad = |why: &str| (400, 50035, format!("Invalid Form Body: {why}"));
    let boundary = content_type.split("boundary=").nth(1).ok_or_else(|| bad("no boundary"))?.trim_matches('"');
    let delimiter = format!("--{boundary}");
    let text = body;
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = find(rest, delimiter.as_bytes()) {
        rest = &rest[start + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let end = find(rest, delimiter.as_bytes()).ok_or_else(|| bad("unterminated part"))?;
        let part = rest[..end].strip_prefix(b"\r\n").unwrap_or(&rest[..end]);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let split = find(part, b"\r\n\r\n").ok_or_else(|| bad("a part has no headers"))?;
        let headers = String::from_utf8_lossy(&part[..split]).into_owned();
        parts.push((headers, part[split + 4..].to_vec()));
    }
    // A parameter of the part's Content-Disposition header.
    let field = |h: &str, key: &str| {
        let disposition = h.lines().find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
        disposition
            .split(';')
            .find_map(|p| p.trim().strip_prefix(&format!("{key}=")).map(|v| v.trim_matches('"').to_owned()))
    };
    let mut payload = None;
    let mut files = Vec::new();
    for (headers, content) in parts {
        let name = field(&headers, "name").ok_or_else(|| bad("a part has no name"))?;
        if name == "payload_json" {
            payload = Some(serde_json::from_slice::<Value>(&content).map_err(|_| bad("payload_json is not JSON"))?);
        } else if name.starts_with("files[") {
            files.push((name, field(&headers, "filename").unwrap_or_default(), content));
        } else {
            return Err(bad(&format!("unknown part {name}")));
        }
    }
    let payload = payload.ok_or_else(|| bad("no payload_json"))?;
    for (name, _, _) in &files {
        let id = name.trim_start_matches("files[").trim_end_matches(']');
        let named = payload["attachments"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["id"].to_string().trim_matches('"') == id));
        if !named {
            return Err(bad(&format!("{name} is not in attachments")));
        }
    }
    Ok((payload, files))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
