//! Registering the commands: one function every mode calls (the bot at
//! start-up, `incident-bot register` alone), over REST, needing no gateway.

use serenity::all::{CreateCommand, GuildId};

use super::api::{ApiError, AppInfo, CommandScope, DiscordApi};
use super::retry::{Backoff, retry};

/// Where the commands go: the guilds listed, or globally when none are.
pub fn scopes(guild_ids: &[u64]) -> Vec<CommandScope> {
    if guild_ids.is_empty() {
        vec![CommandScope::Global]
    } else {
        guild_ids.iter().map(|g| CommandScope::Guild(GuildId::new(*g))).collect()
    }
}

/// Looks the application up (which also checks the token) and replaces its
/// commands in every scope with `commands`, retrying passing failures.
pub async fn register(
    api: &dyn DiscordApi,
    commands: &[CreateCommand],
    guild_ids: &[u64],
) -> Result<AppInfo, ApiError> {
    let app = retry(Backoff::REGISTRATION, "look up the Discord application", || api.application()).await?;
    for scope in scopes(guild_ids) {
        retry(Backoff::REGISTRATION, "register the commands", || api.set_commands(scope, commands)).await?;
    }
    Ok(app)
}
