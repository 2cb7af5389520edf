//! The file's schema: what `config.toml` may hold, and the checked value
//! types its keys are read into. Every value is validated as it is read, so
//! an error names the key (see [`super::Config::load`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::domain::access::Rules;
use crate::domain::{IncidentSource, ResponsePlanArn};

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) discord: FileDiscord,
    pub(super) aws: FileAws,
    pub(super) incident: FileIncident,
    pub(super) access: FileAccess,
    pub(super) limits: FileLimits,
    pub(super) log: FileLog,
    pub(super) server: FileServer,
    pub(super) sync: FileSync,
    pub(super) store: FileStore,
    /// Present: the HTTP interactions endpoint instead of the gateway.
    pub(super) interactions: Option<FileInteractions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct FileInteractions {
    pub(super) listen: Option<std::net::SocketAddr>,
    pub(super) public_key: Option<PublicKey>,
    pub(super) path: Option<EndpointPath>,
}

/// The application's Ed25519 public key, as the Developer Portal shows it:
/// 64 hexadecimal digits.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct PublicKey(pub(super) [u8; 32]);

impl TryFrom<String> for PublicKey {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        const BAD: &str = "not an Ed25519 public key: 64 hexadecimal digits, as the Developer Portal shows under \
                           General Information → Public Key";
        crate::transport::http::decode_hex::<32>(&s).map(Self).ok_or(BAD)
    }
}

/// The path the endpoint answers on: absolute, plain.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct EndpointPath(pub(super) String);

impl TryFrom<String> for EndpointPath {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~');
        if s.starts_with('/') && s.len() <= 200 && s.chars().all(plain) {
            Ok(Self(s))
        } else {
            Err("a path such as \"/interactions\": starting with `/`, of letters, digits, `/`, `-`, `_`, `.`, `~`")
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct FileSync {
    pub(super) interval_secs: Bounded<0, 3600>,
    pub(super) archive_after_mins: Bounded<0, 10_080>,
}

impl Default for FileSync {
    fn default() -> Self {
        Self { interval_secs: Bounded(15), archive_after_mins: Bounded(60) }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct FileStore {
    pub(super) path: std::path::PathBuf,
    pub(super) dynamodb_table: Option<TableName>,
}

impl Default for FileStore {
    fn default() -> Self {
        Self { path: "incident-bot.db".into(), dynamodb_table: None }
    }
}

/// A DynamoDB table name (3 to 255 of letters, digits, `_`, `-`, `.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName(pub String);

impl<'de> Deserialize<'de> for TableName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if (3..=255).contains(&s.len()) && s.chars().all(plain) {
            Ok(Self(s))
        } else {
            Err(serde::de::Error::custom(
                "a DynamoDB table name: 3 to 255 letters, digits, `_`, `-` or `.`, such as \"incident-bot\"",
            ))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct FileServer {
    pub(super) listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct FileRules {
    pub(super) allowed_role_ids: Vec<Snowflake>,
    pub(super) allowed_user_ids: Vec<Snowflake>,
    pub(super) allowed_channel_ids: Vec<Snowflake>,
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
pub(super) struct FileAccess {
    pub(super) allowed_role_ids: Vec<Snowflake>,
    pub(super) allowed_user_ids: Vec<Snowflake>,
    pub(super) allowed_channel_ids: Vec<Snowflake>,
    pub(super) allow_dms: bool,
    pub(super) guilds: BTreeMap<SnowflakeKey, FileRules>,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct FileLimits {
    pub(super) per_user: Bounded<1, 100_000>,
    pub(super) per_user_window_secs: Bounded<1, 86_400>,
    pub(super) per_guild: Bounded<1, 100_000>,
    pub(super) per_guild_window_secs: Bounded<1, 86_400>,
    pub(super) changes_per_user: Bounded<1, 100_000>,
    pub(super) changes_per_user_window_secs: Bounded<1, 86_400>,
    pub(super) shutdown_grace_secs: Bounded<0, 900>,
    pub(super) max_concurrent_declarations: Bounded<1, 10_000>,
    pub(super) discord_acks_in_flight: Bounded<1, 1000>,
    pub(super) discord_messages_in_flight: Bounded<1, 1000>,
}

impl Default for FileLimits {
    fn default() -> Self {
        Self {
            per_user: Bounded(3),
            per_user_window_secs: Bounded(60),
            per_guild: Bounded(20),
            per_guild_window_secs: Bounded(60),
            changes_per_user: Bounded(10),
            changes_per_user_window_secs: Bounded(60),
            shutdown_grace_secs: Bounded(30),
            max_concurrent_declarations: Bounded(200),
            discord_acks_in_flight: Bounded(64),
            discord_messages_in_flight: Bounded(32),
        }
    }
}

/// A guild id used as a table key (`[access.guilds.123456789012345678]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct SnowflakeKey(pub(super) u64);

impl TryFrom<String> for SnowflakeKey {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse::<u64>().ok().filter(|v| *v > 0 && i64::try_from(*v).is_ok()).map(Self).ok_or(BAD_ID)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct FileDiscord {
    /// Where the token is kept: a Secrets Manager secret's or an SSM
    /// parameter's ARN (not the token: the file never holds it).
    pub(super) token_arn: Option<String>,
    pub(super) guild_ids: Vec<Snowflake>,
    pub(super) api_url: Option<HttpUrl>,
    pub(super) shards: Option<FileShards>,
}

/// `[discord] shards`: `"auto"`, or `{ total = N, ids = [first, …, last] }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "toml::Value")]
pub(super) enum FileShards {
    Auto,
    Range { total: u32, first: u32, last: u32 },
}

impl TryFrom<toml::Value> for FileShards {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        const SHAPE: &str = "either \"auto\" or { total = N, ids = [FIRST, …, LAST] } (this process's shards, \
                             consecutive, each below N)";
        match v {
            toml::Value::String(s) if s == "auto" => Ok(Self::Auto),
            toml::Value::Table(t) => {
                let int = |v: &toml::Value| v.as_integer().and_then(|i| u32::try_from(i).ok());
                let total = t.get("total").and_then(int).filter(|n| (1..=10_000).contains(n));
                let ids: Option<Vec<u32>> =
                    t.get("ids").and_then(toml::Value::as_array).map(|a| a.iter().filter_map(int).collect());
                let unknown = t.keys().find(|k| !matches!(k.as_str(), "total" | "ids"));
                match (total, ids, unknown) {
                    (_, _, Some(k)) => Err(format!("unknown field `{k}`: {SHAPE}")),
                    (Some(total), Some(ids), None)
                        if !ids.is_empty()
                            && ids.iter().all(|i| *i < total)
                            && ids.windows(2).all(|w| w[1] == w[0] + 1)
                            && t.get("ids").and_then(toml::Value::as_array).is_some_and(|a| a.len() == ids.len()) =>
                    {
                        Ok(Self::Range { total, first: ids[0], last: ids[ids.len() - 1] })
                    }
                    _ => Err(SHAPE.to_owned()),
                }
            }
            _ => Err(SHAPE.to_owned()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct FileAws {
    pub(super) region: Option<Region>,
    pub(super) endpoint_url: Option<HttpUrl>,
    pub(super) max_attempts: Bounded<1, 10>,
    pub(super) initial_backoff_ms: Bounded<1, 60_000>,
    pub(super) connect_timeout_secs: Bounded<1, 60>,
    pub(super) attempt_timeout_secs: Bounded<1, 600>,
    pub(super) operation_timeout_secs: Bounded<1, 840>,
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
pub(super) struct FileIncident {
    pub(super) default_plan: Option<String>,
    pub(super) source: IncidentSource,
    pub(super) plans: BTreeMap<Alias, ResponsePlanArn>,
    pub(super) plans_refresh_secs: Bounded<0, 86_400>,
    pub(super) create_thread: bool,
    pub(super) duplicate_window_mins: Bounded<0, 1440>,
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
pub(super) struct FileLog {
    pub(super) filter: String,
    pub(super) format: LogFormat,
}

/// `info`, but the AWS SDK's configuration loader only for errors: its
/// warnings (a credential provider that failed, with the whole response)
/// run to hundreds of characters, and the bot says the same in one line.
pub(super) const DEFAULT_LOG_FILTER: &str = "info,aws_config=error";

impl Default for FileLog {
    fn default() -> Self {
        Self { filter: DEFAULT_LOG_FILTER.to_owned(), format: LogFormat::Text }
    }
}

/// A Discord id: a positive integer, written as a number or a string.
#[derive(Debug, Clone, Copy)]
pub(super) struct Snowflake(pub(super) u64);

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

pub(super) const BAD_ID: &str = "not a Discord id (a positive integer, e.g. 123456789012345678)";

/// An absolute `http://` or `https://` URL.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct HttpUrl(pub(super) url::Url);

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
pub(super) struct Region(pub(super) String);

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
pub(super) struct Alias(pub(super) String);

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
pub(super) struct Bounded<const MIN: u64, const MAX: u64>(pub(super) u64);

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
