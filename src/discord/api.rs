//! The Discord REST calls the bot makes, behind one trait: serenity's HTTP
//! client in the bot ([`super::rest::Rest`]), a recording fake in unit tests.
//! Bodies are serenity's builders; answers are only what the bot reads back.

use async_trait::async_trait;
use serenity::all::{
    ApplicationId, ChannelId, CreateAttachment, CreateCommand, CreateInteractionResponse,
    CreateInteractionResponseFollowup, CreateMessage, CreateThread, EditInteractionResponse, EditMessage, GuildId,
    InteractionId, Message, MessageId, PermissionOverwrite, Permissions, UserId,
};

/// A message the bot sent or edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRef {
    pub id: MessageId,
    pub channel_id: ChannelId,
}

/// The bot's application, as the token identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInfo {
    pub id: ApplicationId,
    pub name: String,
    /// Its Ed25519 public key (hex): what signs HTTP interactions.
    pub verify_key: String,
}

/// The bot's own user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotUser {
    pub id: UserId,
    pub name: String,
}

/// A guild the bot is a member of, with its permissions there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuildAccess {
    pub id: GuildId,
    pub name: String,
    /// The bot's permissions in the guild (`@everyone` and its roles).
    pub permissions: Permissions,
}

/// A guild channel and its permission overwrites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelAccess {
    pub id: ChannelId,
    pub guild: GuildId,
    pub name: String,
    pub overwrites: Vec<PermissionOverwrite>,
    /// Whether it is a thread (its parent's permissions apply).
    pub thread: bool,
}

/// Where commands are registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandScope {
    Global,
    Guild(GuildId),
}

impl std::fmt::Display for CommandScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Global => f.write_str("every server (global commands)"),
            Self::Guild(g) => write!(f, "server {g}"),
        }
    }
}

/// A failed Discord call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Discord answered with an error: HTTP status and Discord's JSON code.
    #[error("Discord refused it ({status}, code {code}: {message})")]
    Refused { status: u16, code: isize, message: String },
    /// No answer: DNS, connection refused, TLS, timeout.
    #[error("Discord could not be reached: {0}")]
    Unreachable(String),
    /// Anything else (a body that could not be built or read).
    #[error("{0}")]
    Other(String),
}

/// Discord's code for "Missing Permissions".
const MISSING_PERMISSIONS: isize = 50013;

impl ApiError {
    /// A rate limit, a Discord server error or no answer: worth a retry.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Refused { status, .. } => *status == 429 || *status >= 500,
            Self::Unreachable(_) => true,
            Self::Other(_) => false,
        }
    }

    /// The bot lacks a permission for what it tried.
    pub fn is_missing_permission(&self) -> bool {
        matches!(self, Self::Refused { status: 403, .. } | Self::Refused { code: MISSING_PERMISSIONS, .. })
    }

    /// The cause in a few words: the operating system's error for no answer
    /// (`Connection refused (os error 111)`), Discord's status and message
    /// for a refusal.
    pub fn cause(&self) -> String {
        match self {
            Self::Refused { status, message, .. } => format!("{status} {message}"),
            Self::Unreachable(chain) => chain.rsplit(": ").next().unwrap_or(chain).to_owned(),
            Self::Other(why) => why.clone(),
        }
    }

    /// Discord refused the bot's token.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Refused { status: 401, .. })
    }
}

impl From<serenity::Error> for ApiError {
    fn from(e: serenity::Error) -> Self {
        use serenity::http::HttpError;
        match e {
            serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
                Self::Refused { status: r.status_code.as_u16(), code: r.error.code, message: r.error.message }
            }
            serenity::Error::Http(HttpError::Request(e)) => Self::Unreachable(error_chain(&e)),
            other => Self::Other(other.to_string()),
        }
    }
}

/// An error and its sources, `outer: inner: innermost`.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// Every Discord REST call the bot makes.
#[async_trait]
pub trait DiscordApi: Send + Sync + 'static {
    /// The first answer to an interaction (`POST /interactions/{id}/{token}/callback`).
    async fn callback(&self, id: InteractionId, token: &str, body: &CreateInteractionResponse) -> Result<(), ApiError>;

    /// Edits an interaction's first answer (`PATCH /webhooks/{app}/{token}/messages/@original`).
    async fn edit_original(&self, token: &str, body: &EditInteractionResponse) -> Result<MessageRef, ApiError>;

    /// A further message for an interaction (`POST /webhooks/{app}/{token}`).
    async fn followup(&self, token: &str, body: &CreateInteractionResponseFollowup) -> Result<MessageRef, ApiError>;

    /// A message in a channel or thread (`POST /channels/{id}/messages`),
    /// with `files` attached (multipart) when there are any.
    async fn post(
        &self,
        channel: ChannelId,
        body: &CreateMessage,
        files: Vec<CreateAttachment>,
    ) -> Result<MessageRef, ApiError>;

    /// Edits a message the bot sent (`PATCH /channels/{id}/messages/{id}`).
    async fn edit_message(
        &self,
        channel: ChannelId,
        message: MessageId,
        body: &EditMessage,
    ) -> Result<MessageRef, ApiError>;

    /// A message (`GET /channels/{id}/messages/{id}`).
    async fn message(&self, channel: ChannelId, message: MessageId) -> Result<Message, ApiError>;

    /// Archives a thread (`PATCH /channels/{id}`, `archived: true`).
    async fn archive_thread(&self, thread: ChannelId) -> Result<(), ApiError>;

    /// Adds the bot's reaction `emoji` to a message
    /// (`PUT /channels/{id}/messages/{id}/reactions/{emoji}/@me`).
    async fn react(&self, channel: ChannelId, message: MessageId, emoji: char) -> Result<(), ApiError>;

    /// Starts a thread on a message (`POST /channels/{id}/messages/{id}/threads`).
    async fn start_thread(
        &self,
        channel: ChannelId,
        message: MessageId,
        body: &CreateThread,
    ) -> Result<ChannelId, ApiError>;

    /// The application the token belongs to (`GET /oauth2/applications/@me`);
    /// later calls that need its id use it.
    async fn application(&self) -> Result<AppInfo, ApiError>;

    /// Replaces the application's commands in `scope` (`PUT …/commands`).
    async fn set_commands(&self, scope: CommandScope, commands: &[CreateCommand]) -> Result<(), ApiError>;

    /// The bot's user (`GET /users/@me`): the token check.
    async fn bot_user(&self) -> Result<BotUser, ApiError>;

    /// Where to open the gateway (`GET /gateway`).
    async fn gateway_url(&self) -> Result<String, ApiError>;

    /// The guilds the bot is in, with its permissions in each (`GET /users/@me/guilds`).
    async fn guilds(&self) -> Result<Vec<GuildAccess>, ApiError>;

    /// The roles of `user` in `guild` (`GET /guilds/{id}/members/{id}`).
    async fn member_roles(&self, guild: GuildId, user: UserId) -> Result<Vec<u64>, ApiError>;

    /// A guild channel's overwrites (`GET /channels/{id}`).
    async fn channel(&self, channel: ChannelId) -> Result<ChannelAccess, ApiError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let refused = |status, code| ApiError::Refused { status, code, message: String::new() };
        assert!(refused(429, 0).is_transient());
        assert!(refused(502, 0).is_transient());
        assert!(!refused(400, 50035).is_transient());
        assert!(ApiError::Unreachable("refused".into()).is_transient());
        assert!(refused(403, 50013).is_missing_permission());
        assert!(refused(400, 50013).is_missing_permission());
        assert!(refused(401, 0).is_unauthorized());
    }
}
