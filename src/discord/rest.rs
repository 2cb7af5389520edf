//! [`DiscordApi`] on serenity's HTTP client, and the one place that client is
//! built: the token, the configured API URL, and one connection pool shared
//! by every client the bot makes (its own and the gateway's).

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serenity::all::{
    ApplicationId, Channel, ChannelId, CreateAttachment, CreateCommand, CreateInteractionResponse,
    CreateInteractionResponseFollowup, CreateMessage, CreateThread, EditInteractionResponse, EditMessage, EditThread,
    GuildId, Http, HttpBuilder, InteractionId, Message, MessageId, ReactionType, UserId,
};

use super::api::{ApiError, AppInfo, BotUser, ChannelAccess, CommandScope, DiscordApi, GuildAccess, MessageRef};

/// Idle connections to Discord kept per host, at most: a burst's
/// connections are not all kept after it (the lanes bound those in use).
pub const POOL_MAX_IDLE: usize = 8;
/// How long an idle connection to Discord is kept.
pub const POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Builds serenity HTTP clients that share one connection pool.
#[derive(Clone)]
pub struct ClientFactory {
    token: SecretString,
    /// What replaces `https://discord.com` in every request, when configured.
    origin: Option<String>,
    pool: reqwest::Client,
}

impl ClientFactory {
    /// Clients for `token`, sent to `api_url` instead of Discord when set.
    pub fn new(token: &SecretString, api_url: Option<&url::Url>) -> Self {
        let pool = reqwest::Client::builder()
            .use_rustls_tls()
            .pool_max_idle_per_host(POOL_MAX_IDLE)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self { token: token.clone(), origin: api_url.map(api_origin), pool }
    }

    /// A new serenity client on the shared pool.
    pub fn http(&self) -> Http {
        let mut builder = HttpBuilder::new(self.token.expose_secret()).client(self.pool.clone());
        if let Some(origin) = &self.origin {
            // serenity swaps `https://discord.com` for the proxy on each
            // request, and only when its own rate limiter is off (the proxy is
            // then responsible for rate limits, as serenity documents).
            builder = builder.proxy(origin.clone()).ratelimiter_disabled(true);
        }
        builder.build()
    }

    /// Where requests go: the configured URL, or Discord.
    pub fn api_base(&self) -> String {
        format!("{}/api/v10", self.origin.as_deref().unwrap_or("https://discord.com"))
    }
}

/// The part of `api_url` that replaces `https://discord.com`: serenity adds
/// `/api/v10/...` itself, so a configured `/api` or `/api/v10` is dropped.
pub fn api_origin(api: &url::Url) -> String {
    let s = api.as_str().trim_end_matches('/');
    s.strip_suffix("/api/v10").or_else(|| s.strip_suffix("/api")).unwrap_or(s).to_owned()
}

/// The bot's REST client.
#[derive(Clone)]
pub struct Rest {
    http: Arc<Http>,
}

impl Rest {
    pub fn new(http: Http) -> Self {
        Self { http: Arc::new(http) }
    }

    /// Sets the application id the interaction webhooks need, once known
    /// (from [`DiscordApi::application`], or the gateway's READY).
    pub fn set_application_id(&self, id: ApplicationId) {
        self.http.set_application_id(id);
    }
}

fn sent(m: &Message) -> MessageRef {
    MessageRef { id: m.id, channel_id: m.channel_id }
}

#[async_trait]
impl DiscordApi for Rest {
    async fn callback(&self, id: InteractionId, token: &str, body: &CreateInteractionResponse) -> Result<(), ApiError> {
        Ok(self.http.create_interaction_response(id, token, body, Vec::new()).await?)
    }

    async fn edit_original(&self, token: &str, body: &EditInteractionResponse) -> Result<MessageRef, ApiError> {
        Ok(sent(&self.http.edit_original_interaction_response(token, body, Vec::new()).await?))
    }

    async fn followup(&self, token: &str, body: &CreateInteractionResponseFollowup) -> Result<MessageRef, ApiError> {
        Ok(sent(&self.http.create_followup_message(token, body, Vec::new()).await?))
    }

    async fn post(
        &self,
        channel: ChannelId,
        body: &CreateMessage,
        files: Vec<CreateAttachment>,
    ) -> Result<MessageRef, ApiError> {
        if files.is_empty() {
            return Ok(sent(&self.http.send_message(channel, files, body).await?));
        }
        // Through the builder: it lists each file in `attachments` and
        // numbers the `files[n]` parts to match, as Discord requires.
        use serenity::builder::Builder as _;
        let body = body.clone().add_files(files);
        Ok(sent(&body.execute(&*self.http, (channel, None)).await?))
    }

    async fn edit_message(
        &self,
        channel: ChannelId,
        message: MessageId,
        body: &EditMessage,
    ) -> Result<MessageRef, ApiError> {
        Ok(sent(&self.http.edit_message(channel, message, body, Vec::new()).await?))
    }

    async fn message(&self, channel: ChannelId, message: MessageId) -> Result<Message, ApiError> {
        Ok(self.http.get_message(channel, message).await?)
    }

    async fn archive_thread(&self, thread: ChannelId) -> Result<(), ApiError> {
        self.http.edit_thread(thread, &EditThread::new().archived(true), None).await?;
        Ok(())
    }

    async fn react(&self, channel: ChannelId, message: MessageId, emoji: char) -> Result<(), ApiError> {
        Ok(self.http.create_reaction(channel, message, &ReactionType::Unicode(emoji.to_string())).await?)
    }

    async fn start_thread(
        &self,
        channel: ChannelId,
        message: MessageId,
        body: &CreateThread,
    ) -> Result<ChannelId, ApiError> {
        Ok(self.http.create_thread_from_message(channel, message, body, None).await?.id)
    }

    async fn application(&self) -> Result<AppInfo, ApiError> {
        let app = self.http.get_current_application_info().await?;
        self.http.set_application_id(app.id);
        Ok(AppInfo { id: app.id, name: app.name, verify_key: app.verify_key })
    }

    async fn set_commands(&self, scope: CommandScope, commands: &[CreateCommand]) -> Result<(), ApiError> {
        match scope {
            CommandScope::Global => self.http.create_global_commands(&commands).await?,
            CommandScope::Guild(g) => self.http.create_guild_commands(g, &commands).await?,
        };
        Ok(())
    }

    async fn bot_user(&self) -> Result<BotUser, ApiError> {
        let me = self.http.get_current_user().await?;
        Ok(BotUser { id: me.id, name: me.name.clone() })
    }

    async fn gateway_url(&self) -> Result<String, ApiError> {
        Ok(self.http.get_gateway().await?.url)
    }

    async fn guilds(&self) -> Result<Vec<GuildAccess>, ApiError> {
        let guilds = self.http.get_guilds(None, None).await?;
        Ok(guilds.into_iter().map(|g| GuildAccess { id: g.id, name: g.name, permissions: g.permissions }).collect())
    }

    async fn member_roles(&self, guild: GuildId, user: UserId) -> Result<Vec<u64>, ApiError> {
        Ok(self.http.get_member(guild, user).await?.roles.iter().map(|r| r.get()).collect())
    }

    async fn channel(&self, channel: ChannelId) -> Result<ChannelAccess, ApiError> {
        match self.http.get_channel(channel).await? {
            Channel::Guild(c) => {
                let thread = c.thread_metadata.is_some();
                Ok(ChannelAccess {
                    id: c.id,
                    guild: c.guild_id,
                    name: c.name,
                    overwrites: c.permission_overwrites,
                    thread,
                })
            }
            _ => Err(ApiError::Other(format!("channel {channel} is not a server channel"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_origin_drops_the_api_prefix() {
        for u in ["http://127.0.0.1:9/", "http://127.0.0.1:9/api", "http://127.0.0.1:9/api/v10/"] {
            assert_eq!(api_origin(&url::Url::parse(u).unwrap()), "http://127.0.0.1:9");
        }
        assert_eq!(
            api_origin(&url::Url::parse("https://proxy.internal/discord").unwrap()),
            "https://proxy.internal/discord"
        );
    }
}
