//! The operator's commands, run from a terminal:
//!
//! | command | file |
//! |---|---|
//! | `check`: can this deployment work? | [`check`] |
//! | `declare`: `/incident` from a terminal | [`declare`] |
//! | `invite`: the URL that adds the bot to a server | [`invite`] |
//! | `register`: the commands, without running the bot | [`register`] |
//! | `store init`: the shared store's DynamoDB table | [`store`] |
//!
//! Each returns its exit code ([`exit`]); what it prints goes through
//! [`say`], so a closed stdout (`| head -1`) ends it quietly.

pub mod check;
pub mod declare;
pub mod invite;
pub mod store;

use std::fmt::Display;
use std::io::Write;

pub use check::{Format, check};
pub use declare::{DeclareArgs, declare};
pub use invite::invite;

use crate::config::Config;
use crate::discord::api::ApiError;
use crate::discord::register::{register as register_commands, scopes};
use crate::discord::rest::{ClientFactory, Rest};
use crate::messages::Ending;

/// The exit codes of every subcommand (also in docs/operating.md).
pub mod exit {
    use crate::messages::Ending;

    /// Done.
    pub const OK: u8 = 0;
    /// Something failed (a check, the bot itself, Discord refused).
    pub const FAILED: u8 = 1;
    /// A usage or configuration error: bad flags, an invalid config file,
    /// input `/incident` would refuse, no AWS region or credentials.
    pub const USAGE: u8 = 2;
    /// AWS refused or failed the request (access denied, not found,
    /// throttled, invalid, an AWS-side error).
    pub const AWS_REFUSED: u8 = 3;
    /// Incident Manager or Discord could not be reached, or did not answer
    /// in time.
    pub const UNREACHABLE: u8 = 4;
    /// stdout was closed before everything was printed (as `SIGPIPE` would).
    pub const CLOSED_STDOUT: u8 = 141;

    /// The exit code of an AWS failure.
    pub fn of(ending: Ending) -> u8 {
        match ending {
            Ending::Refused => AWS_REFUSED,
            Ending::Unreachable => UNREACHABLE,
            Ending::Config => USAGE,
            Ending::Internal => FAILED,
        }
    }
}

/// Prints `line` on stdout. When stdout is closed (the reader of a pipe
/// went away), the program ends at once and quietly.
pub fn say(line: impl Display) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(i32::from(exit::CLOSED_STDOUT));
    }
}

/// The bot's REST client, built as `run` builds it.
fn rest(config: &Config) -> Rest {
    Rest::new(ClientFactory::new(&config.discord.token, config.discord.api_url.as_ref()).http())
}

/// Where Discord requests go, for messages.
fn api_base(config: &Config) -> String {
    ClientFactory::new(&config.discord.token, config.discord.api_url.as_ref()).api_base()
}

/// A failed Discord call, for a terminal: what happened, and the fix.
fn discord_problem(e: &ApiError, base: &str) -> (String, String) {
    match e {
        e if e.is_unauthorized() => (
            "Discord rejected the bot token (401 Unauthorized)".to_owned(),
            "reset it in the Developer Portal (Bot → Reset Token) and set DISCORD_TOKEN".to_owned(),
        ),
        ApiError::Refused { status, code, message } => {
            (format!("Discord answered {status} (code {code}: {message})"), "see Discord's message".to_owned())
        }
        ApiError::Unreachable(_) => (
            format!("could not reach Discord at {base}: {}", e.cause()),
            "check the network, or [discord] api_url in config.toml".to_owned(),
        ),
        ApiError::Other(why) => (why.clone(), "see the log (RUST_LOG=debug)".to_owned()),
    }
}

/// `incident-bot register`: replaces the application's commands with the
/// bot's, in the configured guilds (or globally), and says where.
pub async fn register(config: &Config) -> u8 {
    let commands = crate::commands::all(!config.incident.plans.has_default(), config.access.allow_dms);
    match register_commands(&rest(config), &commands, &config.discord.guild_ids).await {
        Ok(app) => {
            let names: Vec<String> = commands
                .iter()
                .filter_map(|c| serde_json::to_value(c).ok())
                .filter_map(|c| {
                    let name = c["name"].as_str()?;
                    // Slash commands by their `/name`; a message command as
                    // people find it (right-click a message → Apps).
                    Some(if c["type"] == 3 { format!("“{name}” (Apps menu)") } else { format!("/{name}") })
                })
                .collect();
            for scope in scopes(&config.discord.guild_ids) {
                say(format!("registered {} for {} ({}) in {scope}", names.join(", "), app.name, app.id));
            }
            exit::OK
        }
        Err(e) => {
            let (what, fix) = discord_problem(&e, &api_base(config));
            eprintln!("incident-bot: could not register the commands: {what}. Fix: {fix}.");
            exit::of(if matches!(e, ApiError::Unreachable(_)) { Ending::Unreachable } else { Ending::Internal })
        }
    }
}
