//! Operator configuration: built-in defaults, then `config.toml`, then the
//! environment. Every key is documented in `config.toml.example`.
//!
//! The Discord token is never read from the file: it comes from
//! `DISCORD_TOKEN`, or from the file named by `DISCORD_TOKEN_FILE` (a mounted
//! secret), and is held as a [`SecretString`] so `Debug` output redacts it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::access::{AccessPolicy, Rules};
use crate::domain::limits::Window;
use crate::domain::plans::PlanError;
use crate::domain::{IncidentSource, PlanCatalog, ResponsePlanArn};

/// Where the file is looked for when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config.toml";

/// Environment variables that override keys of the file, with the key each
/// sets and how its value is read.
pub const ENV_OVERRIDES: &[(&str, &str, EnvKind)] = &[
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
    pub discord: DiscordSettings,
    pub aws: AwsSettings,
    pub incident: IncidentSettings,
    pub access: AccessPolicy,
    pub limits: LimitSettings,
    pub log: LogSettings,
    /// `[server] listen`: where `/healthz` and `/metrics` are served.
    pub listen: Option<std::net::SocketAddr>,
    /// Problems worth a warning at start-up that do not stop the bot.
    pub warnings: Vec<String>,
}

/// `[limits]`: abuse and accident guards, and the shutdown grace period.
#[derive(Debug, Clone, Copy)]
pub struct LimitSettings {
    pub per_user: Window,
    pub per_guild: Window,
    /// How long a shutdown waits for declarations in flight.
    pub shutdown_grace: Duration,
    /// Declarations talking to AWS at once; more wait (already acknowledged).
    pub max_concurrent: usize,
}

/// `[discord]`, plus the token from the environment.
#[derive(Debug)]
pub struct DiscordSettings {
    pub token: SecretString,
    /// Guilds to register `/incident` in; empty registers it globally.
    pub guild_ids: Vec<u64>,
    /// Base URL of a Discord REST API proxy or test server.
    pub api_url: Option<url::Url>,
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
        "no Discord bot token: set the DISCORD_TOKEN environment variable (or DISCORD_TOKEN_FILE to a file holding it)"
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

// ---- The file's schema -------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    discord: FileDiscord,
    aws: FileAws,
    incident: FileIncident,
    access: FileAccess,
    limits: FileLimits,
    log: FileLog,
    server: FileServer,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileServer {
    listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileRules {
    allowed_role_ids: Vec<Snowflake>,
    allowed_user_ids: Vec<Snowflake>,
    allowed_channel_ids: Vec<Snowflake>,
}

impl From<FileRules> for Rules {
    fn from(r: FileRules) -> Self {
        let set = |v: Vec<Snowflake>| v.into_iter().map(|s| s.0).collect();
        Self {
            role_ids: set(r.allowed_role_ids),
            user_ids: set(r.allowed_user_ids),
            channel_ids: set(r.allowed_channel_ids),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileAccess {
    allowed_role_ids: Vec<Snowflake>,
    allowed_user_ids: Vec<Snowflake>,
    allowed_channel_ids: Vec<Snowflake>,
    allow_dms: bool,
    guilds: BTreeMap<SnowflakeKey, FileRules>,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileLimits {
    per_user: Bounded<1, 100_000>,
    per_user_window_secs: Bounded<1, 86_400>,
    per_guild: Bounded<1, 100_000>,
    per_guild_window_secs: Bounded<1, 86_400>,
    shutdown_grace_secs: Bounded<0, 900>,
    max_concurrent_declarations: Bounded<1, 10_000>,
}

impl Default for FileLimits {
    fn default() -> Self {
        Self {
            per_user: Bounded(3),
            per_user_window_secs: Bounded(60),
            per_guild: Bounded(20),
            per_guild_window_secs: Bounded(60),
            shutdown_grace_secs: Bounded(30),
            max_concurrent_declarations: Bounded(200),
        }
    }
}

/// A guild id used as a table key (`[access.guilds.123456789012345678]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
struct SnowflakeKey(u64);

impl TryFrom<String> for SnowflakeKey {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse::<u64>().ok().filter(|v| *v > 0 && i64::try_from(*v).is_ok()).map(Self).ok_or(BAD_ID)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileDiscord {
    guild_ids: Vec<Snowflake>,
    api_url: Option<HttpUrl>,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileAws {
    region: Option<Region>,
    endpoint_url: Option<HttpUrl>,
    max_attempts: Bounded<1, 10>,
    initial_backoff_ms: Bounded<1, 60_000>,
    connect_timeout_secs: Bounded<1, 60>,
    attempt_timeout_secs: Bounded<1, 600>,
    operation_timeout_secs: Bounded<1, 840>,
}

impl Default for FileAws {
    fn default() -> Self {
        Self {
            region: None,
            endpoint_url: None,
            max_attempts: Bounded(3),
            initial_backoff_ms: Bounded(500),
            connect_timeout_secs: Bounded(3),
            attempt_timeout_secs: Bounded(10),
            operation_timeout_secs: Bounded(30),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileIncident {
    default_plan: Option<String>,
    source: IncidentSource,
    plans: BTreeMap<Alias, ResponsePlanArn>,
    plans_refresh_secs: Bounded<0, 86_400>,
    create_thread: bool,
    duplicate_window_mins: Bounded<0, 1440>,
}

impl Default for FileIncident {
    fn default() -> Self {
        Self {
            default_plan: None,
            source: IncidentSource::default(),
            plans: BTreeMap::new(),
            plans_refresh_secs: Bounded(300),
            create_thread: true,
            duplicate_window_mins: Bounded(30),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileLog {
    filter: String,
    format: LogFormat,
}

impl Default for FileLog {
    fn default() -> Self {
        Self { filter: "info".to_owned(), format: LogFormat::Text }
    }
}

/// A Discord id: a positive integer, written as a number or a string.
#[derive(Debug, Clone, Copy)]
struct Snowflake(u64);

impl<'de> Deserialize<'de> for Snowflake {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Snowflake;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Discord id (a positive integer, e.g. 123456789012345678)")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Snowflake, E> {
                u64::try_from(v).ok().filter(|v| *v > 0).map(Snowflake).ok_or_else(|| E::custom(BAD_ID))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Snowflake, E> {
                self.visit_i64(i64::try_from(v).map_err(|_| E::custom(BAD_ID))?)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Snowflake, E> {
                v.trim().parse::<u64>().map_err(|_| E::custom(BAD_ID)).and_then(|n| self.visit_u64(n))
            }
        }
        d.deserialize_any(V)
    }
}

const BAD_ID: &str = "not a Discord id (a positive integer, e.g. 123456789012345678)";

/// An absolute `http://` or `https://` URL.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
struct HttpUrl(url::Url);

impl TryFrom<String> for HttpUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let url = url::Url::parse(&s).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err("must be an http:// or https:// URL".to_owned());
        }
        Ok(Self(url))
    }
}

/// An AWS region name such as `eu-west-1`.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
struct Region(String);

impl TryFrom<String> for Region {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            Ok(Self(s))
        } else {
            Err("not an AWS region name (e.g. us-east-1)")
        }
    }
}

/// A response plan alias: what responders type, so short and plain.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
struct Alias(String);

impl TryFrom<String> for Alias {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if (1..=50).contains(&s.len()) && s.chars().all(ok_char) {
            Ok(Self(s))
        } else {
            Err("an alias is 1-50 letters, digits, `-`, `_` or `.`")
        }
    }
}

/// An integer that must lie within `MIN..=MAX`.
#[derive(Debug, Clone, Copy)]
struct Bounded<const MIN: u64, const MAX: u64>(u64);

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        u64::try_from(v)
            .ok()
            .filter(|v| (MIN..=MAX).contains(v))
            .map(Self)
            .ok_or_else(|| serde::de::Error::custom(format!("must be between {MIN} and {MAX}, got {v}")))
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
            None if k == "DISCORD_TOKEN" && env("DISCORD_TOKEN_FILE").is_none() => Some("not-needed".to_owned()),
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
        let token = read_token(env, &mut warnings)?;
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
        let aws = file.aws;
        let access = file.access;
        let limits = file.limits;
        Ok(Self {
            discord: DiscordSettings {
                token,
                guild_ids: file.discord.guild_ids.into_iter().map(|s| s.0).collect(),
                api_url: file.discord.api_url.map(|u| u.0),
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
                shutdown_grace: Duration::from_secs(limits.shutdown_grace_secs.0),
                max_concurrent: usize::try_from(limits.max_concurrent_declarations.0).unwrap_or(200),
            },
            log: LogSettings { filter: file.log.filter, json: file.log.format == LogFormat::Json },
            listen: file.server.listen,
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut vars: HashMap<String, String> = env.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        vars.entry("DISCORD_TOKEN".into()).or_insert_with(|| "tok".into());
        Config::from_parts(Some(text), Path::new("config.toml"), &|k| vars.get(k).cloned())
    }

    const FULL: &str = r#"
        [discord]
        guild_ids = [123456789012345678, "223456789012345678"]
        [aws]
        region = "eu-west-1"
        [incident]
        default_plan = "payments"
        [incident.plans]
        payments = "arn:aws:ssm-incidents::111122223333:response-plan/Payments"
    "#;

    #[test]
    fn defaults_file_then_env() {
        let c = load("", &[]).unwrap();
        assert!(c.discord.guild_ids.is_empty());
        assert_eq!(c.incident.source.as_str(), "discord.incident-bot");
        assert_eq!(c.aws.max_attempts, 3);
        let c = load(FULL, &[]).unwrap();
        assert_eq!(c.discord.guild_ids, vec![123_456_789_012_345_678, 223_456_789_012_345_678]);
        assert_eq!(c.aws.region.as_deref(), Some("eu-west-1"));
        assert!(c.incident.plans.has_default());
        let c = load(FULL, &[("INCIDENT_BOT_GUILD_IDS", "5, 6"), ("INCIDENT_BOT_AWS_REGION", "us-east-2")]).unwrap();
        assert_eq!(c.discord.guild_ids, vec![5, 6]);
        assert_eq!(c.aws.region.as_deref(), Some("us-east-2"));
        assert_eq!(c.discord.token.expose_secret(), "tok");
    }

    fn error(text: &str, env: &[(&str, &str)]) -> String {
        load(text, env).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        assert!(error("[discord\n", &[]).starts_with("config.toml: not valid TOML"));
        let e = error("[discord]\nguild = 1\n", &[]);
        assert!(e.starts_with("config.toml: key `discord.guild`: unknown field `guild`"), "{e}");
        let e = error("[discord]\nguild_ids = [\"abc\"]\n", &[]);
        assert!(e.starts_with("config.toml: key `discord.guild_ids[0]`: not a Discord id"), "{e}");
        let e = error("[incident.plans]\npay = \"arn:aws:lambda:us-east-1:111122223333:function:x\"\n", &[]);
        assert!(
            e.starts_with("config.toml: key `incident.plans.pay`: is not an Incident Manager response plan ARN"),
            "{e}"
        );
        let e = error("[incident]\nsource = \"aws.bot\"\n", &[]);
        assert!(e.contains("key `incident.source`: must not start with `aws.`"), "{e}");
        let e = error("[incident]\ndefault_plan = \"ghost\"\n", &[]);
        assert!(e.contains("key `incident.default_plan`"), "{e}");
        let e = error("", &[("INCIDENT_BOT_SOURCE", &"x".repeat(51))]);
        assert!(
            e.starts_with("environment variable INCIDENT_BOT_SOURCE: key `incident.source`: is 51 characters"),
            "{e}"
        );
        let e = error("[aws]\nmax_attempts = 0\n", &[]);
        assert!(e.contains("key `aws.max_attempts`: must be between 1 and 10"), "{e}");
    }

    #[test]
    fn access_and_limits() {
        let c = load(
            "[access]\nallowed_role_ids = [11]\nallow_dms = true\n[access.guilds.\"22\"]\nallowed_channel_ids = [\"33\"]\n\
             [limits]\nper_user = 5\n",
            &[],
        )
        .unwrap();
        assert!(c.access.global.role_ids.contains(&11));
        assert!(c.access.allow_dms);
        assert!(c.access.guilds[&22].channel_ids.contains(&33));
        assert_eq!(c.limits.per_user.max, 5);
        assert_eq!(c.limits.per_guild.max, 20);
        let e = error("[access.guilds.abc]\n", &[]);
        assert!(e.contains("key `access.guilds.abc`: not a Discord id"), "{e}");
        let e = error("[discord]\ntoken = \"x\"\n", &[]);
        assert!(e.contains("key `discord.token`: the Discord token is never read from the file"), "{e}");
    }

    #[test]
    fn the_example_config_loads() {
        let c = load(include_str!("../config.toml.example"), &[]).unwrap();
        assert!(c.incident.plans.aliases().count() > 0);
    }

    #[test]
    fn token_is_required_and_redacted() {
        let r = Config::from_parts(Some(""), Path::new("c.toml"), &|_| None);
        assert!(matches!(r, Err(ConfigError::MissingToken)));
        let c = load("", &[("DISCORD_TOKEN", "super-secret-token")]).unwrap();
        assert!(!format!("{c:?}").contains("super-secret-token"));
    }
}
