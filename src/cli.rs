//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// What every `--help` says about the environment (values are never shown).
const ENVIRONMENT: &str = "\
Environment:
  DISCORD_TOKEN        the bot token (or DISCORD_TOKEN_FILE: a file holding it, or DISCORD_TOKEN_ARN:
                       a Secrets Manager secret or SSM parameter holding it); never in config.toml
  AWS_REGION           the AWS region, unless [aws] region is set
  AWS credentials      the AWS SDK's default chain: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
                       (+ AWS_SESSION_TOKEN), AWS_PROFILE, web identity, or the ECS / EC2 role
  AWS_ENDPOINT_URL_SSM_INCIDENTS   another Incident Manager endpoint, unless [aws] endpoint_url is set
  INCIDENT_BOT_*       override config keys (see config.toml.example)
  RUST_LOG             the log filter, e.g. RUST_LOG=debug; NO_COLOR turns colour off

Exit codes: 0 done, 1 failed, 2 usage or configuration error, 3 AWS refused,
4 AWS or Discord unreachable or too slow.";

/// Declare AWS Incident Manager incidents from Discord with /incident.
#[derive(Debug, Parser)]
#[command(name = "incident-bot", version, about, after_help = ENVIRONMENT)]
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
    #[command(after_help = ENVIRONMENT)]
    Run,
    /// Check that this deployment can work: config, AWS, Discord, permissions.
    ///
    /// Checks the config, the AWS region and credentials, Incident Manager and
    /// the response plan aliases, the Discord token, and the bot's membership
    /// and permissions in the configured servers and channels. Every check
    /// runs, one line each; exit 1 if any failed.
    #[command(after_help = ENVIRONMENT)]
    Check {
        /// `text` (one line per check) or `json` (one object).
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
    },
    /// Declare an incident from the terminal, as /incident would.
    ///
    /// The same checks and the same request; prints the incident record ARN.
    #[command(after_help = ENVIRONMENT)]
    Declare(DeclareCli),
    /// Print the URL that adds the bot to a server.
    ///
    /// It asks for the permissions the enabled features need, computed in code.
    Invite {
        /// The application id (Developer Portal → General Information);
        /// without it, the token's application is looked up.
        #[arg(long, value_name = "ID")]
        application_id: Option<u64>,
    },
    /// Register the slash commands without running the bot.
    ///
    /// In the configured guilds, or globally without any; `run` does it at
    /// every start too.
    Register,
    /// The shared store of several replicas ([store] dynamodb_table).
    #[command(subcommand)]
    Store(StoreCommand),
    /// Mirror Incident Manager into the incidents' threads once, for a
    /// scheduler (cron, a Kubernetes CronJob, EventBridge).
    ///
    /// One pass of what `run` does every [sync] interval_secs: takes the
    /// mirror's lease in the store, posts what changed since the last pass,
    /// gives the lease up. Exit 0 also when another replica holds the lease
    /// (it mirrors meanwhile).
    #[command(after_help = ENVIRONMENT)]
    Sync {
        /// One pass, then exit (the only way: `run` mirrors continuously).
        #[arg(long)]
        once: bool,
    },
    /// Serve AWS Lambda invocations (what the Lambda build runs when Lambda
    /// starts it: AWS_LAMBDA_RUNTIME_API set and no command given).
    #[command(hide = true)]
    Lambda,
}

/// `store …`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Create the DynamoDB table ([store] dynamodb_table) and turn its TTL on.
    ///
    /// Idempotent: an existing table is checked and left as it is. Needs
    /// dynamodb:CreateTable, DescribeTable, DescribeTimeToLive and
    /// UpdateTimeToLive (only here: the bot itself does not).
    #[command(after_help = ENVIRONMENT)]
    Init,
}

/// `check --format`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
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
