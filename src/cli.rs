//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Declare AWS Incident Manager incidents from Discord with /incident.
#[derive(Debug, Parser)]
#[command(name = "incident-bot", version, about)]
pub struct Cli {
    /// Configuration file [default: ./config.toml, if present].
    #[arg(long, short, global = true, env = "INCIDENT_BOT_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do; `run` when none is given.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect to Discord and serve /incident until SIGINT or SIGTERM.
    Run,
    /// Check the config, AWS credentials and region, the response plan
    /// aliases against ListResponsePlans, and the Discord token; exit 1 if
    /// anything fails.
    Check,
    /// Declare an incident from the terminal, through the same checks and
    /// request as /incident; prints the incident record ARN.
    Declare(DeclareCli),
    /// Register the slash commands (in the configured guilds, or globally)
    /// without running the bot; `run` does it at every start too.
    Register,
}

/// `incident-bot declare` options, named as `/incident`'s.
#[derive(Debug, clap::Args)]
pub struct DeclareCli {
    /// A response plan alias from the config, or a response plan ARN.
    #[arg(long)]
    pub plan: Option<String>,
    /// 1 Critical, 2 High, 3 Medium, 4 Low, 5 No impact.
    #[arg(long)]
    pub impact: Option<i64>,
    /// The incident title (at most 200 characters).
    #[arg(long)]
    pub title: Option<String>,
    /// A related item: URL, [Title](URL) or ARN. Repeat for more.
    #[arg(long = "link", value_name = "LINK")]
    pub links: Vec<String>,
    /// Print the StartIncident request body instead of sending it (needs no
    /// AWS credentials).
    #[arg(long)]
    pub dry_run: bool,
}
