//! `incident-bot invite`: the OAuth2 URL that adds the bot to a server with
//! the permissions its enabled features need, computed in code.

use serenity::all::ApplicationId;

use super::{api_base, discord_problem, exit, rest, say};
use crate::config::Config;
use crate::discord::api::DiscordApi;
use crate::discord::permissions::{invite_url, needed, required};

/// Prints the invite URL (first line), then what each permission is for.
/// The application id is `application`, else the token's application (over
/// REST).
pub async fn invite(config: &Config, application: Option<u64>) -> u8 {
    let id = match application {
        Some(id) => ApplicationId::new(id),
        None => match rest(config).application().await {
            Ok(app) => app.id,
            Err(e) => {
                let (what, fix) = discord_problem(&e, &api_base(config));
                eprintln!(
                    "incident-bot: cannot look the application up: {what}. Fix: {fix}, or pass --application-id."
                );
                return exit::FAILED;
            }
        },
    };
    let create_thread = config.incident.create_thread;
    say(invite_url(id, required(create_thread)));
    say("");
    say("It asks for these permissions (scopes bot and applications.commands):");
    for n in needed(create_thread) {
        say(format!("- {}: to {}", n.permission.get_permission_names().join(", "), n.why));
    }
    exit::OK
}
