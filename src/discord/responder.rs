//! One way to answer. Every message the bot sends goes through here: the
//! first answer to an interaction, edits of it, follow-ups, and posts into
//! channels and threads. This module owns
//! - the lanes: how many first answers and how many other messages are in
//!   flight to Discord at once, so a burst reuses a few dozen connections
//!   instead of opening one per interaction, and an outcome never waits
//!   behind an acknowledgement;
//! - the retries ([`super::retry`]);
//! - `allowed_mentions`: none, ever (a mention in a reply shows, and pings
//!   no one);
//! - the fallback when an answer can no longer be edited (the 15-minute
//!   interaction token expired): the outcome is posted in the channel.
//!
//! How the *first* answer travels is the transport's business
//! ([`Callback`]): over the gateway it is a REST callback; an HTTP
//! interactions endpoint would return it as its response body.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serenity::all::{
    ChannelId, CreateActionRow, CreateAllowedMentions, CreateAttachment, CreateAutocompleteResponse, CreateEmbed,
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage, CreateMessage,
    CreateModal, CreateThread, EditInteractionResponse, EditMessage, InteractionId, Message, MessageId, Nonce,
};
use tokio::sync::Semaphore;
use tracing::{error, warn};

use super::api::{ApiError, ChannelAccess, DiscordApi, MessageRef};
use super::format::limits;
use super::retry::{Backoff, retry};
use crate::domain::text::truncate;

/// How long after an interaction arrived an edit of its answer refused as
/// unknown is tried again (see [`Responder::edit`]).
pub const JUST_ANSWERED: Duration = Duration::from_secs(5);

/// `builder` (any of serenity's message builders, which share these method
/// names) with `reply`'s parts, and no mentions allowed.
macro_rules! fill {
    ($builder:expr, $reply:expr) => {{
        let reply = $reply;
        let mut m = $builder.allowed_mentions(CreateAllowedMentions::new());
        if let Some(c) = reply.content {
            m = m.content(c);
        }
        if let Some(e) = reply.embed {
            m = m.embed(e);
        }
        if let Some(rows) = reply.components {
            m = m.components(rows);
        }
        m
    }};
}

/// One message: text and/or an embed, and its components.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    content: Option<String>,
    embed: Option<CreateEmbed>,
    /// `None` leaves an edited message's components as they are.
    components: Option<Vec<CreateActionRow>>,
    private: bool,
    /// For channel posts: Discord keeps one message per nonce (for a few
    /// minutes), so a post repeated after a crash is not shown twice.
    nonce: Option<String>,
    /// For channel posts: files attached.
    files: Vec<CreateAttachment>,
}

impl Reply {
    /// A message of `text` (cut to Discord's 2000 characters).
    pub fn text(text: impl AsRef<str>) -> Self {
        Self { content: Some(truncate(text.as_ref(), limits::CONTENT)), ..Self::default() }
    }

    /// A message only its recipient sees (ephemeral).
    pub fn private(text: impl AsRef<str>) -> Self {
        Self { private: true, ..Self::text(text) }
    }

    /// A message of one embed.
    pub fn embed(embed: CreateEmbed) -> Self {
        Self { embed: Some(embed), ..Self::default() }
    }

    /// With these components (an empty list removes them).
    #[must_use]
    pub fn components(mut self, rows: Vec<CreateActionRow>) -> Self {
        self.components = Some(rows);
        self
    }

    /// Posted once per `key`: Discord returns the first message for a
    /// repeated nonce instead of posting it again.
    #[must_use]
    pub fn once(mut self, key: &str) -> Self {
        self.nonce = Some(nonce(key));
        self
    }

    /// With a file attached (`name`, `bytes`).
    #[must_use]
    pub fn file(mut self, name: &str, bytes: Vec<u8>) -> Self {
        self.files.push(CreateAttachment::bytes(bytes, name));
        self
    }

    fn response_message(self) -> CreateInteractionResponseMessage {
        let private = self.private;
        let m = fill!(CreateInteractionResponseMessage::new(), self);
        if private { m.ephemeral(true) } else { m }
    }

    fn edit(self) -> EditInteractionResponse {
        fill!(EditInteractionResponse::new(), self)
    }

    fn followup(self) -> CreateInteractionResponseFollowup {
        let private = self.private;
        fill!(CreateInteractionResponseFollowup::new(), self).ephemeral(private)
    }

    fn message(self) -> (CreateMessage, Vec<CreateAttachment>) {
        let (nonce, files) = (self.nonce.clone(), self.files.clone());
        let mut m = fill!(CreateMessage::new(), self);
        if let Some(n) = nonce {
            m = m.nonce(Nonce::String(n)).enforce_nonce(true);
        }
        (m, files)
    }

    fn edit_message(self) -> EditMessage {
        fill!(EditMessage::new(), self)
    }
}

/// A message nonce for `key`: at most 25 characters, as Discord allows
/// (FNV-1a, 64 bits, in hex).
fn nonce(key: &str) -> String {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("ib{hash:016x}")
}

/// The first answer to an interaction.
#[derive(Debug, Clone)]
pub enum FirstAnswer {
    /// "Thinking…": the outcome comes later as an edit.
    Defer { private: bool },
    /// A button or dialog taken in hand, with nothing to show yet.
    Acknowledge,
    /// A message.
    Message(Reply),
    /// The message the button is on, replaced.
    Update(Reply),
    /// Autocomplete choices: (name shown, value sent back).
    Choices(Vec<(String, String)>),
    /// A dialog.
    Dialog(CreateModal),
}

impl FirstAnswer {
    /// The body Discord expects.
    pub fn into_response(self) -> CreateInteractionResponse {
        match self {
            Self::Defer { private: false } => {
                CreateInteractionResponse::Defer(CreateInteractionResponseMessage::default())
            }
            Self::Defer { private: true } => {
                CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new().ephemeral(true))
            }
            Self::Acknowledge => CreateInteractionResponse::Acknowledge,
            Self::Message(r) => CreateInteractionResponse::Message(r.response_message()),
            Self::Update(r) => CreateInteractionResponse::UpdateMessage(r.response_message()),
            Self::Choices(choices) => CreateInteractionResponse::Autocomplete(
                choices
                    .into_iter()
                    .fold(CreateAutocompleteResponse::new(), |r, (name, value)| r.add_string_choice(name, value)),
            ),
            Self::Dialog(m) => CreateInteractionResponse::Modal(m),
        }
    }
}

/// How the first answer to an interaction reaches Discord: the transport's
/// part of answering.
#[async_trait]
pub trait Callback: Send + Sync {
    async fn send(&self, id: InteractionId, token: &str, answer: CreateInteractionResponse) -> Result<(), ApiError>;
}

/// The first answer as a REST callback (the gateway's way), in the ack lane.
pub struct RestCallback(pub Arc<Discord>);

#[async_trait]
impl Callback for RestCallback {
    async fn send(&self, id: InteractionId, token: &str, answer: CreateInteractionResponse) -> Result<(), ApiError> {
        let _lane = self.0.ack_lane.acquire().await;
        self.0.api.callback(id, token, &answer).await
    }
}

/// The Discord REST API with the lanes: messages that belong to no
/// interaction (threads, channel posts, edits of older messages) go here.
pub struct Discord {
    api: Arc<dyn DiscordApi>,
    ack_lane: Semaphore,
    reply_lane: Semaphore,
}

impl Discord {
    /// `api` with at most `acks` first answers and `messages` other messages
    /// (edits, follow-ups, posts) in flight at once; the rest wait their turn.
    pub fn new(api: Arc<dyn DiscordApi>, acks: usize, messages: usize) -> Self {
        Self { api, ack_lane: Semaphore::new(acks.max(1)), reply_lane: Semaphore::new(messages.max(1)) }
    }

    /// The API itself, for calls outside the lanes (registration).
    pub fn api(&self) -> &Arc<dyn DiscordApi> {
        &self.api
    }

    /// Posts `reply` in a channel or thread, retrying passing failures.
    pub async fn post(&self, channel: ChannelId, reply: Reply) -> Result<MessageRef, ApiError> {
        let (body, files) = reply.message();
        retry(Backoff::DELIVERY, "post a message", || async {
            let _lane = self.reply_lane.acquire().await;
            self.api.post(channel, &body, files.clone()).await
        })
        .await
    }

    /// Replaces a message the bot sent.
    pub async fn edit_message(&self, channel: ChannelId, message: MessageId, reply: Reply) -> Result<(), ApiError> {
        let body = reply.edit_message();
        retry(Backoff::DELIVERY, "edit a message", || async {
            let _lane = self.reply_lane.acquire().await;
            self.api.edit_message(channel, message, &body).await
        })
        .await
        .map(drop)
    }

    /// A message, as Discord has it now.
    pub async fn message(&self, channel: ChannelId, message: MessageId) -> Result<Message, ApiError> {
        let _lane = self.reply_lane.acquire().await;
        self.api.message(channel, message).await
    }

    /// A channel or thread, as Discord has it now.
    pub async fn channel(&self, channel: ChannelId) -> Result<ChannelAccess, ApiError> {
        let _lane = self.reply_lane.acquire().await;
        self.api.channel(channel).await
    }

    /// Archives a thread.
    pub async fn archive_thread(&self, thread: ChannelId) -> Result<(), ApiError> {
        let _lane = self.reply_lane.acquire().await;
        self.api.archive_thread(thread).await
    }

    /// Marks a message with the bot's reaction.
    pub async fn react(&self, channel: ChannelId, message: MessageId, emoji: char) -> Result<(), ApiError> {
        let _lane = self.reply_lane.acquire().await;
        self.api.react(channel, message, emoji).await
    }

    /// Starts a thread on a message; returns the thread.
    pub async fn start_thread(
        &self,
        channel: ChannelId,
        message: MessageId,
        thread: CreateThread<'_>,
    ) -> Result<ChannelId, ApiError> {
        let _lane = self.reply_lane.acquire().await;
        self.api.start_thread(channel, message, &thread).await
    }
}

/// What answering one interaction takes, and nothing else: a declaration
/// waiting for AWS keeps only this, not the interaction (about 3 KB with its
/// member, user and options). No `Debug`: the token is a credential.
pub struct Responder {
    id: InteractionId,
    token: String,
    channel: ChannelId,
    received: Instant,
    callback: Arc<dyn Callback>,
    discord: Arc<Discord>,
    answered: AtomicBool,
    /// Resumed in another process than the one that gave the first answer
    /// (see [`Self::resumed`]), and that answer not reached again yet.
    replaying: AtomicBool,
}

impl Responder {
    /// Answers interaction `id` (with `token`, from `channel`), received at
    /// `received`; the first answer goes through `callback`.
    pub fn new(
        id: InteractionId,
        token: String,
        channel: ChannelId,
        received: Instant,
        callback: Arc<dyn Callback>,
        discord: Arc<Discord>,
    ) -> Self {
        Self {
            id,
            token,
            channel,
            received,
            callback,
            discord,
            answered: AtomicBool::new(false),
            replaying: AtomicBool::new(false),
        }
    }

    /// A responder for an interaction whose first answer another process
    /// (a Lambda invocation) already gave: the command runs again from the
    /// start, and until it reaches its first answer again it is
    /// [`Self::replaying`] what that process did (and counted).
    pub fn resumed(
        id: InteractionId,
        token: String,
        channel: ChannelId,
        callback: Arc<dyn Callback>,
        discord: Arc<Discord>,
    ) -> Self {
        let r = Self::new(id, token, channel, Instant::now(), callback, discord);
        r.replaying.store(true, Ordering::SeqCst);
        r
    }

    /// Whether the steps before the first answer are being replayed (a
    /// resumed interaction): what they counted, the rate limits, was
    /// counted when they first ran.
    pub fn replaying(&self) -> bool {
        self.replaying.load(Ordering::SeqCst)
    }

    /// When the interaction arrived.
    pub fn received(&self) -> Instant {
        self.received
    }

    /// The channel (or thread) the interaction came from.
    pub fn channel(&self) -> ChannelId {
        self.channel
    }

    /// Whether the first answer was given.
    pub fn answered(&self) -> bool {
        self.answered.load(Ordering::SeqCst)
    }

    /// The Discord API with its lanes, for messages elsewhere.
    pub fn discord(&self) -> &Discord {
        &self.discord
    }

    /// The first answer. Discord accepts one, within 3 s.
    ///
    /// Over HTTP the answer is handed to the connection's task, which
    /// writes it as the response: this task then yields once, so that the
    /// answer leaves before the work it announced (signing and sending a
    /// StartIncident, say) takes the thread.
    pub async fn answer(&self, answer: FirstAnswer) -> Result<(), ApiError> {
        let r = self.callback.send(self.id, &self.token, answer.into_response()).await;
        self.replaying.store(false, Ordering::SeqCst);
        if r.is_ok() {
            self.answered.store(true, Ordering::SeqCst);
            tokio::task::yield_now().await;
        }
        r
    }

    /// A private first answer of `text`; a failure is logged.
    pub async fn private(&self, text: impl AsRef<str>) {
        if let Err(e) = self.answer(FirstAnswer::Message(Reply::private(text))).await {
            warn!(error = %e, "could not send a private answer");
        }
    }

    /// Replaces the first answer (or the message a button is on), retrying
    /// passing failures.
    ///
    /// Over HTTP the first answer is the response to Discord's own request,
    /// and an edit sent at once can reach Discord before it has taken that
    /// answer in (404, Unknown Message): within [`JUST_ANSWERED`] of the
    /// interaction, such an edit is tried again a little later.
    pub async fn edit(&self, reply: Reply) -> Result<MessageRef, ApiError> {
        let body = reply.edit();
        let mut early = 0;
        loop {
            let r = retry(Backoff::DELIVERY, "edit the reply", || async {
                let _lane = self.discord.reply_lane.acquire().await;
                self.discord.api.edit_original(&self.token, &body).await
            })
            .await;
            match r {
                Err(ApiError::Refused { status: 404, code: 10008 | 10015, .. })
                    if early < 4 && self.received.elapsed() < JUST_ANSWERED =>
                {
                    early += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                other => return other,
            }
        }
    }

    /// Shows an outcome: edits the first answer; when that cannot be done
    /// (the interaction token expired, the answer was deleted), posts it in
    /// the channel. `None` when neither worked (the log says so).
    pub async fn deliver(&self, reply: Reply) -> Option<MessageRef> {
        match self.edit(reply.clone()).await {
            Ok(m) => return Some(m),
            Err(e) => warn!(error = %e, "could not edit the reply; posting the outcome to the channel"),
        }
        match self.discord.post(self.channel, reply).await {
            Ok(m) => Some(m),
            Err(e) => {
                error!(error = %e, "could not report the outcome to Discord; the log line above has it");
                None
            }
        }
    }

    /// A further message for the interaction (private if `reply` is).
    pub async fn followup(&self, reply: Reply) -> Result<MessageRef, ApiError> {
        let body = reply.followup();
        let _lane = self.discord.reply_lane.acquire().await;
        self.discord.api.followup(&self.token, &body).await
    }
}
