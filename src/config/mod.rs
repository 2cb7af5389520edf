//! Operator configuration: built-in defaults, then `config.toml`, then the
//! environment. Every key is documented in `config.toml.example`.
//!
//! The Discord token is never read from the file: it comes from
//! `DISCORD_TOKEN`, or from the file named by `DISCORD_TOKEN_FILE` (a mounted
//! secret), and is held as a [`SecretString`] so `Debug` output redacts it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;

use crate::domain::access::AccessPolicy;
use crate::domain::limits::Window;
use crate::domain::plans::PlanError;
use crate::domain::{IncidentSource, PlanCatalog};

mod file;
#[cfg(test)]
mod tests;

use file::{Bounded, FileConfig, FileRules, LogFormat};

/// Where the file is looked for when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config.toml";

/// Environment variables that override keys of the file, with the key each
/// sets and how its value is read.
pub const ENV_OVERRIDES: &[(&str, &str, EnvKind)] = &[
    ("DISCORD_TOKEN_ARN", "discord.token_arn", EnvKind::Text),
    ("INCIDENT_BOT_GUILD_IDS", "discord.guild_ids", EnvKind::List),
    ("INCIDENT_BOT_DISCORD_API_URL", "discord.api_url", EnvKind::Text),
    ("INCIDENT_BOT_AWS_REGION", "aws.region", EnvKind::Text),
    ("INCIDENT_BOT_AWS_ENDPOINT_URL", "aws.endpoint_url", EnvKind::Text),
    ("INCIDENT_BOT_AWS_MAX_ATTEMPTS", "aws.max_attempts", EnvKind::Integer),
    ("INCIDENT_BOT_DEFAULT_PLAN", "incident.default_plan", EnvKind::Text),
    ("INCIDENT_BOT_SOURCE", "incident.source", EnvKind::Text),
    ("INCIDENT_BOT_LOG", "log.filter", EnvKind::Text),
    ("INCIDENT_BOT_LOG_FORMAT", "log.format", EnvKind::Text),
    ("INCIDENT_BOT_LISTEN", "server.listen", EnvKind::Text),
    ("INCIDENT_BOT_STORE_PATH", "store.path", EnvKind::Text),
    ("INCIDENT_BOT_STORE_DYNAMODB_TABLE", "store.dynamodb_table", EnvKind::Text),
    ("INCIDENT_BOT_SYNC_INTERVAL_SECS", "sync.interval_secs", EnvKind::Integer),
    ("INCIDENT_BOT_INTERACTIONS_LISTEN", "interactions.listen", EnvKind::Text),
    ("INCIDENT_BOT_DISCORD_PUBLIC_KEY", "interactions.public_key", EnvKind::Text),
];

/// How an environment override is turned into a TOML value.
#[derive(Debug, Clone, Copy)]
pub enum EnvKind {
    Text,
    Integer,
    /// Comma-separated.
    List,
}

/// The validated configuration the bot runs with.
#[derive(Debug)]
pub struct Config {
    /// The file the settings were read from; `None`: there was none (only
    /// defaults and the environment apply).
    pub file: Option<PathBuf>,
    pub discord: DiscordSettings,
    pub aws: AwsSettings,
    pub incident: IncidentSettings,
    pub access: AccessPolicy,
    pub limits: LimitSettings,
    pub log: LogSettings,
    pub sync: SyncSettings,
    /// `[store] path`: the SQLite database of what outlives a restart.
    pub store_path: PathBuf,
    /// `[store] dynamodb_table`: the DynamoDB table replicas share, instead
    /// of the SQLite database.
    pub dynamodb_table: Option<String>,
    /// `[server] listen`: where `/healthz` and `/metrics` are served.
    pub listen: Option<std::net::SocketAddr>,
    /// `[interactions]`: Discord POSTs interactions here (no gateway).
    pub interactions: Option<InteractionsSettings>,
    /// Problems worth a warning at start-up that do not stop the bot.
    pub warnings: Vec<String>,
}

/// `[limits]`: abuse and accident guards, and the shutdown grace period.
#[derive(Debug, Clone, Copy)]
pub struct LimitSettings {
    pub per_user: Window,
    pub per_guild: Window,
    /// Changes to incidents (`/incident-update`, dialogs, resolves) per user.
    pub changes_per_user: Window,
    /// How long a shutdown waits for declarations in flight.
    pub shutdown_grace: Duration,
    /// Declarations talking to AWS at once; more wait (already acknowledged).
    pub max_concurrent: usize,
    /// First answers to interactions in flight to Discord at once.
    pub discord_acks: usize,
    /// Other messages (edits, follow-ups, posts) in flight to Discord at once.
    pub discord_messages: usize,
}

/// `[discord]`, plus the token from the environment.
#[derive(Debug)]
pub struct DiscordSettings {
    /// A placeholder until resolved when [`Self::token_arn`] is set.
    pub token: SecretString,
    /// The ARN of the Secrets Manager secret or SSM parameter holding the
    /// token (`DISCORD_TOKEN_ARN`, `[discord] token_arn`), read at start-up
    /// (`crate::secrets`) when `DISCORD_TOKEN` and `DISCORD_TOKEN_FILE` are unset.
    pub token_arn: Option<String>,
    /// Guilds to register `/incident` in; empty registers it globally.
    pub guild_ids: Vec<u64>,
    /// Base URL of a Discord REST API proxy or test server.
    pub api_url: Option<url::Url>,
    /// The gateway shards this process runs.
    pub shards: Shards,
}

/// `[discord] shards`: which gateway shards this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shards {
    /// One shard, 0 of 1 (the default: enough below 2,500 servers).
    #[default]
    One,
    /// As many as Discord recommends (`GET /gateway/bot`), all here.
    Auto,
    /// Shards `first..=last` of `total` (the others run elsewhere).
    Range { total: u32, first: u32, last: u32 },
}

impl Shards {
    /// Whether this process runs shard 0, which registers the commands
    /// (once for the bot, not once per shard or process).
    pub fn has_shard_zero(self) -> bool {
        match self {
            Self::One | Self::Auto => true,
            Self::Range { first, .. } => first == 0,
        }
    }
}

/// `[aws]`: how the SDK client is built. Credentials are not configured here:
/// they come from the SDK's default provider chain only.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub endpoint_url: Option<url::Url>,
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub connect_timeout: Duration,
    pub attempt_timeout: Duration,
    pub operation_timeout: Duration,
}

/// `[incident]`.
#[derive(Debug, Clone)]
pub struct IncidentSettings {
    pub plans: PlanCatalog,
    pub source: IncidentSource,
    /// How often the account's response plans are listed for autocomplete;
    /// `None`: never (aliases only).
    pub plans_refresh: Option<Duration>,
    /// Start a thread on each confirmation.
    pub create_thread: bool,
    /// An open incident of the same plan started this recently is pointed
    /// out as a possible duplicate; `None`: no check.
    pub duplicate_window: Option<Duration>,
}

/// `[sync]`: the mirror of Incident Manager into Discord.
#[derive(Debug, Clone, Copy)]
pub struct SyncSettings {
    /// How often each followed incident is looked at; `None`: no mirror.
    pub interval: Option<Duration>,
    /// How long after its summary a resolved incident's thread is archived.
    pub archive_after: Duration,
}

/// `[interactions]`: the HTTP interactions endpoint, the transport used
/// instead of the gateway when this table is present.
#[derive(Debug, Clone)]
pub struct InteractionsSettings {
    /// Where the endpoint listens (behind the load balancer or proxy that
    /// terminates TLS for Discord).
    pub listen: std::net::SocketAddr,
    /// The application's Ed25519 public key: every request's signature is
    /// checked against it.
    pub public_key: [u8; 32],
    /// The path Discord POSTs to; others get 404.
    pub path: String,
}

impl InteractionsSettings {
    /// The public key as the Developer Portal shows it (lowercase hex).
    pub fn public_key_hex(&self) -> String {
        self.public_key.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `verify_key` (the application's, in hex) is this key.
    pub fn is_key_of(&self, verify_key: &str) -> bool {
        verify_key.trim().eq_ignore_ascii_case(&self.public_key_hex())
    }
}

/// The path the endpoint answers on unless `[interactions] path` says.
pub const DEFAULT_INTERACTIONS_PATH: &str = "/interactions";

/// `[log]`.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// A `tracing` filter such as `info` or `incident_bot=debug,info`.
    pub filter: String,
    /// One JSON object per line instead of text, for log shippers.
    pub json: bool,
}

/// Why the configuration cannot be used. Each variant says where to look.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read the config file: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: not valid TOML: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{origin}: key `{key}`: {reason}")]
    Invalid { origin: String, key: String, reason: String },
    #[error(
        "no Discord bot token: set the DISCORD_TOKEN environment variable (or DISCORD_TOKEN_FILE to a file holding \
         it, or DISCORD_TOKEN_ARN to the ARN of a Secrets Manager secret or SSM parameter holding it)"
    )]
    MissingToken,
    #[error("DISCORD_TOKEN_FILE {}: cannot read it: {source}", path.display())]
    TokenFile { path: PathBuf, source: std::io::Error },
}

impl ConfigError {
    /// The process exit code for this error: 2, a usage/configuration error.
    pub fn exit_code(&self) -> i32 {
        2
    }
}

// ---- Loading ---------------------------------------------------------------

impl Config {
    /// Loads the file at `path` (or `config.toml` if present when `path` is
    /// `None`), applies the environment read through `env`, and validates.
    pub fn load(path: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let (text, file_path) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.into(), source })?;
                (Some(text), p.to_path_buf())
            }
            None => {
                let p = PathBuf::from(DEFAULT_CONFIG_PATH);
                match std::fs::read_to_string(&p) {
                    Ok(text) => (Some(text), p),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, p),
                    Err(source) => return Err(ConfigError::Read { path: p, source }),
                }
            }
        };
        Self::from_parts(text.as_deref(), &file_path, env)
    }

    /// [`Config::load`] for commands that do not talk to Discord: a missing
    /// token is not an error (the token is then a placeholder never sent).
    pub fn load_without_token(path: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let with_placeholder = |k: &str| match env(k) {
            None if k == "DISCORD_TOKEN"
                && env("DISCORD_TOKEN_FILE").is_none()
                && env("DISCORD_TOKEN_ARN").is_none() =>
            {
                Some("not-needed".to_owned())
            }
            other => other,
        };
        Self::load(path, &with_placeholder)
    }

    /// [`Config::load`] on text already read; `file_path` names it in errors.
    pub fn from_parts(
        text: Option<&str>,
        file_path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut table: toml::Table = match text {
            Some(t) => t
                .parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax { path: file_path.into(), message: e.to_string() })?,
            None => toml::Table::new(),
        };
        let mut from_env = Vec::new();
        for (var, key, kind) in ENV_OVERRIDES {
            if let Some(raw) = env(var).filter(|v| !v.trim().is_empty()) {
                let value = match kind {
                    EnvKind::Text => toml::Value::String(raw),
                    EnvKind::Integer => {
                        raw.trim().parse().map(toml::Value::Integer).map_err(|_| invalid(var, key, "not an integer"))?
                    }
                    EnvKind::List => toml::Value::Array(
                        raw.split(',').filter(|s| !s.trim().is_empty()).map(|s| s.trim().into()).collect(),
                    ),
                };
                insert_path(&mut table, key, value);
                from_env.push((*key, *var));
            }
        }
        let origin_of = |key: &str| {
            from_env
                .iter()
                .find(|(k, _)| key.starts_with(k))
                .map_or_else(|| file_path.display().to_string(), |(_, var)| format!("environment variable {var}"))
        };
        let file: FileConfig = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            let reason = if key == "discord.token" {
                "the Discord token is never read from the file: set DISCORD_TOKEN, or DISCORD_TOKEN_FILE to a file \
                 holding it"
                    .to_owned()
            } else {
                e.into_inner().message().trim().to_owned()
            };
            ConfigError::Invalid { origin: origin_of(&key), key, reason }
        })?;

        let mut warnings = Vec::new();
        let token_arn = match file.discord.token_arn {
            Some(arn) if !crate::secrets::is_token_arn(&arn) => {
                return Err(invalid(
                    &origin_of("discord.token_arn"),
                    "discord.token_arn",
                    "is not the ARN of a Secrets Manager secret (arn:aws:secretsmanager:…:secret:…) or an SSM \
                     parameter (arn:aws:ssm:…:parameter/…)",
                ));
            }
            other => other,
        };
        let (token, token_arn) = match read_token(env, &mut warnings) {
            Ok(t) => (t, None),
            Err(ConfigError::MissingToken) if token_arn.is_some() => {
                (SecretString::from("resolved-at-start-up".to_owned()), token_arn)
            }
            Err(e) => return Err(e),
        };
        let aliases = file.incident.plans.into_iter().map(|(k, v)| (k.0, v)).collect();
        let plans = PlanCatalog::new(aliases, file.incident.default_plan.as_deref()).map_err(|e| {
            let reason = match e {
                PlanError::UnknownAlias { known, .. } if known.is_empty() => {
                    "is not an ARN and no [incident.plans] aliases are configured".to_owned()
                }
                PlanError::UnknownAlias { given, known } => {
                    format!("`{given}` is not one of the aliases in [incident.plans] ({})", known.join(", "))
                }
                other => other.to_string(),
            };
            invalid(&origin_of("incident.default_plan"), "incident.default_plan", &reason)
        })?;
        let interactions = match file.interactions {
            None => None,
            Some(i) => {
                let missing = |key: &str, what: &str| invalid(&origin_of(key), key, what);
                let listen = i.listen.ok_or_else(|| {
                    missing(
                        "interactions.listen",
                        "missing: the address the interactions endpoint listens on, e.g. \"0.0.0.0:8080\" \
                         (INCIDENT_BOT_INTERACTIONS_LISTEN)",
                    )
                })?;
                let public_key = i.public_key.ok_or_else(|| {
                    missing(
                        "interactions.public_key",
                        "missing: the application's public key from the Developer Portal, General Information \
                         (INCIDENT_BOT_DISCORD_PUBLIC_KEY)",
                    )
                })?;
                Some(InteractionsSettings {
                    listen,
                    public_key: public_key.0,
                    path: i.path.map_or_else(|| DEFAULT_INTERACTIONS_PATH.to_owned(), |p| p.0),
                })
            }
        };
        if let (Some(i), Some(health)) = (&interactions, file.server.listen)
            && i.listen == health
            && health.port() != 0
        {
            return Err(invalid(
                &origin_of("interactions.listen"),
                "interactions.listen",
                &format!("{health} is also [server] listen: give the endpoint and /healthz different ports"),
            ));
        }
        let aws = file.aws;
        let access = file.access;
        let limits = file.limits;
        Ok(Self {
            file: text.is_some().then(|| file_path.to_path_buf()),
            discord: DiscordSettings {
                token,
                token_arn,
                guild_ids: file.discord.guild_ids.into_iter().map(|s| s.0).collect(),
                api_url: file.discord.api_url.map(|u| u.0),
                shards: match file.discord.shards {
                    None => Shards::One,
                    Some(file::FileShards::Auto) => Shards::Auto,
                    Some(file::FileShards::Range { total, first, last }) => Shards::Range { total, first, last },
                },
            },
            aws: AwsSettings {
                region: aws.region.map(|r| r.0),
                endpoint_url: aws.endpoint_url.map(|u| u.0),
                max_attempts: u32::try_from(aws.max_attempts.0).unwrap_or(3),
                initial_backoff: Duration::from_millis(aws.initial_backoff_ms.0),
                connect_timeout: Duration::from_secs(aws.connect_timeout_secs.0),
                attempt_timeout: Duration::from_secs(aws.attempt_timeout_secs.0),
                operation_timeout: Duration::from_secs(aws.operation_timeout_secs.0),
            },
            incident: IncidentSettings {
                plans,
                source: file.incident.source,
                plans_refresh: (file.incident.plans_refresh_secs.0 > 0)
                    .then(|| Duration::from_secs(file.incident.plans_refresh_secs.0)),
                create_thread: file.incident.create_thread,
                duplicate_window: (file.incident.duplicate_window_mins.0 > 0)
                    .then(|| Duration::from_secs(file.incident.duplicate_window_mins.0 * 60)),
            },
            access: AccessPolicy {
                global: FileRules {
                    allowed_role_ids: access.allowed_role_ids,
                    allowed_user_ids: access.allowed_user_ids,
                    allowed_channel_ids: access.allowed_channel_ids,
                }
                .into(),
                guilds: access.guilds.into_iter().map(|(k, v)| (k.0, v.into())).collect(),
                allow_dms: access.allow_dms,
            },
            limits: LimitSettings {
                per_user: window(limits.per_user, limits.per_user_window_secs),
                per_guild: window(limits.per_guild, limits.per_guild_window_secs),
                changes_per_user: window(limits.changes_per_user, limits.changes_per_user_window_secs),
                shutdown_grace: Duration::from_secs(limits.shutdown_grace_secs.0),
                max_concurrent: usize::try_from(limits.max_concurrent_declarations.0).unwrap_or(200),
                discord_acks: usize::try_from(limits.discord_acks_in_flight.0).unwrap_or(64),
                discord_messages: usize::try_from(limits.discord_messages_in_flight.0).unwrap_or(32),
            },
            log: LogSettings { filter: file.log.filter, json: file.log.format == LogFormat::Json },
            sync: SyncSettings {
                interval: (file.sync.interval_secs.0 > 0).then(|| Duration::from_secs(file.sync.interval_secs.0)),
                archive_after: Duration::from_secs(file.sync.archive_after_mins.0 * 60),
            },
            store_path: file.store.path,
            dynamodb_table: file.store.dynamodb_table.map(|t| t.0),
            listen: file.server.listen,
            interactions,
            warnings,
        })
    }
}

fn window<const A: u64, const B: u64, const C: u64, const D: u64>(max: Bounded<A, B>, secs: Bounded<C, D>) -> Window {
    Window { max: u32::try_from(max.0).unwrap_or(u32::MAX), window: Duration::from_secs(secs.0) }
}

fn invalid(origin: &str, key: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid { origin: origin.to_owned(), key: key.to_owned(), reason: reason.to_owned() }
}

fn insert_path(table: &mut toml::Table, dotted: &str, value: toml::Value) {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut t = table;
    for p in parts {
        let entry = t.entry(p.to_owned()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else { unreachable!("made a table above") };
        t = next;
    }
    t.insert(last.to_owned(), value);
}

fn read_token(env: &dyn Fn(&str) -> Option<String>, warnings: &mut Vec<String>) -> Result<SecretString, ConfigError> {
    let token = match env("DISCORD_TOKEN").filter(|t| !t.trim().is_empty()) {
        Some(t) => t,
        None => match env("DISCORD_TOKEN_FILE").filter(|p| !p.trim().is_empty()) {
            Some(path) => {
                if let Some(w) = readable_by_others(Path::new(&path)) {
                    warnings.push(format!("DISCORD_TOKEN_FILE {path} {w}: run `chmod 600 {path}`"));
                }
                std::fs::read_to_string(&path).map_err(|source| ConfigError::TokenFile { path: path.into(), source })?
            }
            None => return Err(ConfigError::MissingToken),
        },
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(ConfigError::MissingToken);
    }
    Ok(SecretString::from(token.to_owned()))
}

/// `Some(description)` when a file holding a secret can be read by users
/// other than its owner.
#[cfg(unix)]
fn readable_by_others(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    match (mode & 0o040 != 0, mode & 0o004 != 0) {
        (_, true) => Some("holds the Discord token and is readable by every user"),
        (true, false) => Some("holds the Discord token and is readable by its group"),
        _ => None,
    }
}

#[cfg(not(unix))]
fn readable_by_others(_: &Path) -> Option<&'static str> {
    None
}
