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
}
