//! Unit-test support: the real [`Bot`] on the in-memory backend and a
//! recording Discord API, with interactions written as Discord sends them.
//! Every call the bot makes to Discord is recorded with its JSON body, so
//! the flow tests assert on what would have crossed the wire.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};
use serenity::all::{
    ChannelId, CreateAttachment, CreateCommand, CreateInteractionResponse, CreateInteractionResponseFollowup,
    CreateMessage, CreateThread, EditInteractionResponse, EditMessage, GuildId, Interaction, InteractionId, Message,
    MessageId, UserId,
};

use crate::backend::memory::InMemoryBackend;
use crate::bot::Bot;
use crate::config::Config;
use crate::discord::api::{
    ApiError, AppInfo, BotUser, ChannelAccess, CommandScope, DiscordApi, GuildAccess, MessageRef,
};
use crate::discord::responder::{Discord, RestCallback};
use crate::observe::Metrics;
use crate::services::{Services, Settings};
use crate::shutdown::Shutdown;

/// A declaration of `input` (its plan named `payments`, the in-memory
/// backend's `Payments` plan), typed by alice in #ops.
pub fn declaration(input: &crate::domain::DeclareInput) -> crate::domain::Declaration {
    use crate::domain::{Declaration, IncidentSource, Origin, PlanCatalog, ResponsePlanArn};
    let arn = ResponsePlanArn::parse(&InMemoryBackend::plan_arn("Payments")).unwrap();
    let plans = PlanCatalog::new(std::collections::BTreeMap::from([("payments".to_owned(), arn)]), None).unwrap();
    let origin = Origin {
        interaction_id: 1 << 40,
        guild_id: Some(1),
        channel_id: 2,
        channel_name: Some("ops".into()),
        user_id: 3,
        user_name: "alice".into(),
    };
    Declaration::build(input, &plans, &IncidentSource::default(), origin).unwrap()
}

pub const GUILD: u64 = 900_000_000_000_000_100;
pub const CHANNEL: u64 = 900_000_000_000_000_200;
pub const USER: u64 = 900_000_000_000_000_400;

/// One recorded call: what (`callback`, `edit`, `followup`, `post`,
/// `edit_message`, `thread`), on what (interaction id, token, channel), and
/// the body.
#[derive(Debug, Clone)]
pub struct Call {
    pub kind: &'static str,
    pub target: String,
    pub body: Value,
}

/// A Discord API that records every call and keeps the messages it was sent.
#[derive(Default)]
pub struct RecordingDiscord {
    calls: Mutex<Vec<Call>>,
    /// Messages by id: (channel, body as sent).
    messages: Mutex<HashMap<u64, (u64, Value)>>,
    /// The message each interaction token's first answer became.
    originals: Mutex<HashMap<String, u64>>,
    /// The message each enforced nonce became.
    nonces: Mutex<HashMap<String, u64>>,
    next_id: AtomicU64,
}

impl RecordingDiscord {
    fn record(&self, kind: &'static str, target: String, body: Value) {
        self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(Call { kind, target, body });
    }

    fn store(&self, channel: u64, body: Value) -> MessageRef {
        let id = 1_000 + self.next_id.fetch_add(1, Ordering::SeqCst);
        self.messages.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id, (channel, body));
        MessageRef { id: MessageId::new(id), channel_id: ChannelId::new(channel) }
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The calls of one kind about `target` (an interaction id for
    /// callbacks, its token `itoken-ID` for edits and follow-ups).
    pub fn calls_to(&self, kind: &str, target: &str) -> Vec<Value> {
        self.calls().into_iter().filter(|c| c.kind == kind && c.target == target).map(|c| c.body).collect()
    }

    /// The message interaction `id`'s first answer became, as Discord would
    /// return it in a later interaction.
    pub fn original(&self, id: u64) -> Value {
        let message = self.originals.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[&format!("itoken-{id}")];
        self.message(message)
    }

    /// Message `id` as Discord would return it.
    pub fn message(&self, id: u64) -> Value {
        let (channel, body) = self.messages.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[&id].clone();
        json!({
            "id": id.to_string(), "channel_id": channel.to_string(),
            "author": {"id": "1", "username": "incident-bot", "discriminator": "0", "avatar": null, "bot": true},
            "content": body["content"].as_str().unwrap_or_default(), "timestamp": "2024-01-01T00:00:00.000000+00:00",
            "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [], "attachments": [],
            "embeds": body["embeds"].clone().as_array().cloned().unwrap_or_default(),
            "components": body["components"].clone().as_array().cloned().unwrap_or_default(),
            "pinned": false, "type": 0, "flags": body["flags"].as_u64().unwrap_or(0)
        })
    }
}

fn json<T: serde::Serialize>(body: &T) -> Value {
    serde_json::to_value(body).unwrap_or_default()
}

#[async_trait]
impl DiscordApi for RecordingDiscord {
    async fn callback(&self, id: InteractionId, token: &str, body: &CreateInteractionResponse) -> Result<(), ApiError> {
        let body = json(body);
        if matches!(body["type"].as_u64(), Some(4 | 7)) {
            let message = self.store(CHANNEL, body["data"].clone());
            self.originals
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(token.to_owned(), message.id.get());
        }
        self.record("callback", id.to_string(), body);
        Ok(())
    }

    async fn edit_original(&self, token: &str, body: &EditInteractionResponse) -> Result<MessageRef, ApiError> {
        let body = json(body);
        self.record("edit", token.to_owned(), body.clone());
        let existing = self.originals.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(token).copied();
        let message = match existing {
            Some(id) => {
                self.messages.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id, (CHANNEL, body));
                MessageRef { id: MessageId::new(id), channel_id: ChannelId::new(CHANNEL) }
            }
            None => self.store(CHANNEL, body),
        };
        self.originals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(token.to_owned(), message.id.get());
        Ok(message)
    }

    async fn followup(&self, token: &str, body: &CreateInteractionResponseFollowup) -> Result<MessageRef, ApiError> {
        self.record("followup", token.to_owned(), json(body));
        Ok(self.store(CHANNEL, json(body)))
    }

    async fn post(
        &self,
        channel: ChannelId,
        body: &CreateMessage,
        files: Vec<CreateAttachment>,
    ) -> Result<MessageRef, ApiError> {
        let mut body = json(body);
        // Discord keeps one message per enforced nonce.
        let nonce = body["nonce"].as_str().map(str::to_owned);
        let mut nonces = self.nonces.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(id) = nonce.as_ref().and_then(|n| nonces.get(n)) {
            return Ok(MessageRef { id: MessageId::new(*id), channel_id: channel });
        }
        body["files"] =
            files.iter().map(|f| json!({"name": f.filename, "bytes": String::from_utf8_lossy(&f.data)})).collect();
        self.record("post", channel.to_string(), body.clone());
        let sent = self.store(channel.get(), body);
        if let Some(n) = nonce {
            nonces.insert(n, sent.id.get());
        }
        Ok(sent)
    }

    async fn edit_message(
        &self,
        channel: ChannelId,
        message: MessageId,
        body: &EditMessage,
    ) -> Result<MessageRef, ApiError> {
        self.record("edit_message", message.to_string(), json(body));
        self.messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(message.get(), (channel.get(), json(body)));
        Ok(MessageRef { id: message, channel_id: channel })
    }

    async fn message(&self, _: ChannelId, message: MessageId) -> Result<Message, ApiError> {
        serde_json::from_value(RecordingDiscord::message(self, message.get()))
            .map_err(|e| ApiError::Other(e.to_string()))
    }

    async fn archive_thread(&self, thread: ChannelId) -> Result<(), ApiError> {
        self.record("archive", thread.to_string(), Value::Null);
        Ok(())
    }

    async fn react(&self, channel: ChannelId, message: MessageId, emoji: char) -> Result<(), ApiError> {
        self.record("react", format!("{channel}/{message}"), json!(emoji.to_string()));
        Ok(())
    }

    async fn start_thread(
        &self,
        channel: ChannelId,
        message: MessageId,
        body: &CreateThread,
    ) -> Result<ChannelId, ApiError> {
        self.record("thread", format!("{channel}/{message}"), json(body));
        Ok(ChannelId::new(5_000 + self.next_id.fetch_add(1, Ordering::SeqCst)))
    }

    async fn application(&self) -> Result<AppInfo, ApiError> {
        Ok(AppInfo {
            id: serenity::all::ApplicationId::new(1),
            name: "incident-bot".to_owned(),
            verify_key: "0".repeat(64),
        })
    }

    async fn set_commands(&self, scope: CommandScope, commands: &[CreateCommand]) -> Result<(), ApiError> {
        self.record("commands", scope.to_string(), json(&commands));
        Ok(())
    }

    async fn bot_user(&self) -> Result<BotUser, ApiError> {
        Ok(BotUser { id: UserId::new(1), name: "incident-bot".to_owned() })
    }

    async fn gateway_url(&self) -> Result<String, ApiError> {
        Ok("ws://127.0.0.1:9".to_owned())
    }

    async fn guilds(&self) -> Result<Vec<GuildAccess>, ApiError> {
        Ok(Vec::new())
    }

    async fn member_roles(&self, _: GuildId, _: UserId) -> Result<Vec<u64>, ApiError> {
        Ok(Vec::new())
    }

    async fn channel(&self, channel: ChannelId) -> Result<ChannelAccess, ApiError> {
        Err(ApiError::Refused { status: 404, code: 10003, message: format!("Unknown Channel {channel}") })
    }
}

/// The bot, its in-memory backend and its recording Discord.
pub struct Harness {
    pub bot: Arc<Bot>,
    pub backend: Arc<InMemoryBackend>,
    pub discord: Arc<RecordingDiscord>,
    pub store: Arc<crate::store::memory::MemoryStore>,
    next_id: AtomicU64,
}

/// The configuration the flow tests start from: aliases `payments` and
/// `search` for the in-memory plans Payments and Search.
pub const CONFIG: &str = r#"
[incident]
create_thread = false
[incident.plans]
payments = "arn:aws:ssm-incidents::111122223333:response-plan/Payments"
search = "arn:aws:ssm-incidents::111122223333:response-plan/Search"
"#;

impl Harness {
    /// The bot with [`CONFIG`] and then `extra` (more TOML).
    pub fn new(extra: &str) -> Self {
        Self::with_coordinator(extra, Arc::new(crate::store::local::Local::default()))
    }

    /// [`Self::new`] with `coordinator` in place of the one-process one.
    pub fn with_coordinator(extra: &str, coordinator: Arc<dyn crate::store::Coordinator>) -> Self {
        let text = format!("{CONFIG}\n{extra}");
        let config = Config::from_parts(Some(&text), Path::new("test.toml"), &|k| {
            (k == "DISCORD_TOKEN").then(|| "t".to_owned())
        })
        .unwrap_or_else(|e| panic!("test config: {e}"));
        let backend = Arc::new(InMemoryBackend::new());
        backend.add_plan("Payments", Some("Payments team"));
        backend.add_plan("Search", None);
        let discord = Arc::new(RecordingDiscord::default());
        let store = Arc::new(crate::store::memory::MemoryStore::default());
        let settings = Settings { incident: config.incident, access: config.access, limits: config.limits };
        let services = Services::new(
            settings,
            backend.clone(),
            Arc::new(Discord::new(discord.clone(), 64, 32)),
            (store.clone(), coordinator),
            Arc::new(Metrics::new()),
            Shutdown::new(),
        );
        Self { bot: Bot::new(services), backend, discord, store, next_id: AtomicU64::new(1) }
    }

    /// Hands `d` (an interaction as Discord sends it) to the bot and waits
    /// until it is handled; returns its id.
    pub async fn send(&self, d: Value) -> u64 {
        // Snowflakes dated now, so creation times are real.
        let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.as_millis());
        let id =
            ((u64::try_from(ms).unwrap_or(0) - 1_420_070_400_000) << 22) | self.next_id.fetch_add(1, Ordering::SeqCst);
        self.redeliver(d, id).await;
        id
    }

    /// Hands `d` to the bot as interaction `id` (again, for a replay).
    pub async fn redeliver(&self, mut d: Value, id: u64) {
        d["id"] = json!(id.to_string());
        d["token"] = json!(format!("itoken-{id}"));
        let interaction: Interaction = serde_json::from_value(d).unwrap_or_else(|e| panic!("not an interaction: {e}"));
        let callback = Arc::new(RestCallback(self.bot.services().discord.clone()));
        self.bot.handle_here(interaction, callback).await;
    }

    /// The first answer to interaction `id`.
    pub fn answer(&self, id: u64) -> Value {
        self.discord.calls_to("callback", &id.to_string()).pop().unwrap_or_else(|| panic!("no answer to {id}"))
    }

    /// The edits of interaction `id`'s first answer.
    pub fn edits(&self, id: u64) -> Vec<Value> {
        self.discord.calls_to("edit", &format!("itoken-{id}"))
    }
}

/// An interaction of `kind` (2 command, 3 button, 4 autocomplete, 5 dialog)
/// with `data`, from a member in the test guild's channel.
pub fn interaction(kind: u8, data: Value) -> Value {
    json!({
        "application_id": "1", "type": kind, "data": data,
        "guild_id": GUILD.to_string(), "channel_id": CHANNEL.to_string(),
        "channel": {"id": CHANNEL.to_string(), "name": "ops", "type": 0},
        "member": {
            "user": {"id": USER.to_string(), "username": "alice", "discriminator": "0", "avatar": null},
            "roles": [], "joined_at": "2024-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false,
            "flags": 0, "pending": false, "permissions": "2147483647"
        },
        "app_permissions": "2147483647", "version": 1, "locale": "en-US", "guild_locale": "en-US",
        "entitlements": [], "authorizing_integration_owners": {"0": GUILD.to_string()}, "context": 0,
        "attachment_size_limit": 26_214_400
    })
}

/// A command option as Discord sends it.
pub fn opt(name: &str, value: impl Into<Value>) -> Value {
    let value = value.into();
    let kind = if value.is_boolean() {
        5
    } else if value.is_i64() {
        4
    } else {
        3
    };
    json!({"name": name, "type": kind, "value": value})
}

/// `/name` with these options.
pub fn command(name: &str, options: Value) -> Value {
    interaction(2, json!({"id": "7", "name": name, "type": 1, "options": options}))
}

/// An autocomplete of `/name`, `option` focused with `typed`.
pub fn autocomplete(name: &str, option: &str, typed: &str) -> Value {
    let options = json!([{"name": option, "type": 3, "value": typed, "focused": true}]);
    interaction(4, json!({"id": "7", "name": name, "type": 1, "options": options}))
}

/// A click on button `custom_id` of `message`.
pub fn click(message: &Value, custom_id: &str) -> Value {
    let mut d = interaction(3, json!({"custom_id": custom_id, "component_type": 2}));
    d["message"] = message.clone();
    d
}

/// Dialog `custom_id` submitted with these inputs, from a button of `message`.
pub fn submit(message: &Value, custom_id: &str, inputs: &[(&str, &str)]) -> Value {
    let rows: Vec<Value> = inputs
        .iter()
        .map(|(id, value)| json!({"type": 1, "components": [{"type": 4, "custom_id": id, "value": value}]}))
        .collect();
    let mut d = interaction(5, json!({"custom_id": custom_id, "components": rows}));
    d["message"] = message.clone();
    d
}

/// A shared coordinator that cannot be reached: every call fails.
pub struct Unreachable;

#[async_trait]
impl crate::store::Coordinator for Unreachable {
    fn shared(&self) -> bool {
        true
    }

    async fn claim_interaction(&self, _: u64) -> Result<bool, crate::store::StoreError> {
        Err(crate::store::StoreError("DynamoDB unreachable".into()))
    }

    async fn acquire(
        &self,
        _: &[(String, crate::domain::limits::Window)],
        _: i64,
    ) -> Result<Option<(usize, std::time::Duration)>, crate::store::StoreError> {
        Err(crate::store::StoreError("DynamoDB unreachable".into()))
    }

    async fn lease(&self, _: &str, _: &str, _: std::time::Duration) -> Result<bool, crate::store::StoreError> {
        Err(crate::store::StoreError("DynamoDB unreachable".into()))
    }

    async fn release(&self, _: &str, _: &str) -> Result<(), crate::store::StoreError> {
        Err(crate::store::StoreError("DynamoDB unreachable".into()))
    }
}
