//! `incident-bot check`: is this deployment able to work? Every check runs
//! whatever else failed, and each prints one line: ✔, ✘ or ⚠, what was
//! checked, and for a problem the cause and the fix. Exit 1 when anything
//! failed (warnings do not fail).

use aws_credential_types::provider::ProvideCredentials;
use serde::Serialize;

use super::{api_base, discord_problem, exit, rest, say};
use crate::backend::sdk::{SdkBackend, sdk_config};
use crate::backend::{IncidentBackend, REGIONS};
use crate::config::{Config, ConfigError};
use crate::discord::api::{AppInfo, DiscordApi, GuildAccess};
use crate::discord::permissions::{in_channel, invite_url, names, required};
use crate::messages::{self, CREDENTIALS_FIX, Subject};

/// How `check` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One line per check, as each completes.
    #[default]
    Text,
    /// One JSON object at the end: `{"checks": [...], "failed": N, "warnings": N}`.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
struct Line {
    status: Status,
    check: String,
    summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

struct Report {
    format: Format,
    lines: Vec<Line>,
}

impl Report {
    fn add(
        &mut self,
        status: Status,
        check: &str,
        summary: impl Into<String>,
        cause: Option<String>,
        fix: Option<&str>,
    ) {
        let line =
            Line { status, check: check.to_owned(), summary: summary.into(), cause, fix: fix.map(str::to_owned) };
        if self.format == Format::Text {
            let mark = match status {
                Status::Ok => "✔",
                Status::Warn => "⚠",
                Status::Fail => "✘",
            };
            let mut text = format!("{mark} {}: {}", line.check, line.summary);
            if let Some(c) = &line.cause {
                text.push_str(&format!(" (cause: {c})"));
            }
            if let Some(f) = &line.fix {
                text.push_str(&format!(". Fix: {f}"));
            }
            say(text);
        }
        self.lines.push(line);
    }

    fn ok(&mut self, check: &str, summary: impl Into<String>) {
        self.add(Status::Ok, check, summary, None, None);
    }

    fn count(&self, status: Status) -> usize {
        self.lines.iter().filter(|l| l.status == status).count()
    }

    fn finish(self) -> u8 {
        let (failed, warnings) = (self.count(Status::Fail), self.count(Status::Warn));
        match self.format {
            Format::Text if failed == 0 => say("all checks passed"),
            Format::Text => say(format!("{failed} check(s) failed")),
            Format::Json => say(serde_json::json!({"checks": self.lines, "failed": failed, "warnings": warnings})),
        }
        if failed == 0 { exit::OK } else { exit::FAILED }
    }
}

/// Runs every check of `config`; `token` is why there is no Discord token,
/// when there is none (the config was then loaded without one).
pub async fn check(config: &Config, token: Option<&ConfigError>, format: Format) -> u8 {
    let mut r = Report { format, lines: Vec::new() };
    let aliases: Vec<_> = config.incident.plans.aliases().collect();
    match &config.file {
        Some(path) => r.ok("config", format!("{} ({} response plan aliases)", path.display(), aliases.len())),
        None => r.add(
            Status::Warn,
            "config",
            format!("no config file at ./{}; using defaults and the environment", crate::config::DEFAULT_CONFIG_PATH),
            None,
            Some("copy config.toml.example to config.toml, or pass --config PATH"),
        ),
    }
    for warning in &config.warnings {
        r.add(Status::Warn, "config", warning.clone(), None, None);
    }
    check_store(config, &mut r).await;
    let listed = check_aws(config, &mut r).await;
    if let Some(plans) = listed {
        for (alias, arn) in &aliases {
            let check = format!("plan alias {alias}");
            match plans.iter().find(|p| p.arn == arn.as_str()) {
                Some(p) => r.ok(&check, format!("{arn} ({})", p.display_name.as_deref().unwrap_or(&p.name))),
                None => r.add(
                    Status::Fail,
                    &check,
                    format!("{arn} is no response plan of this account and region"),
                    None,
                    Some("correct the ARN under [incident.plans], or create the plan in Incident Manager"),
                ),
            }
        }
    }
    match token {
        Some(ConfigError::MissingToken) => r.add(
            Status::Fail,
            "Discord token",
            "none in the environment",
            None,
            Some("set DISCORD_TOKEN, or DISCORD_TOKEN_FILE to a file holding it"),
        ),
        Some(e) => r.add(
            Status::Fail,
            "Discord token",
            "not read",
            Some(e.to_string()),
            Some("make DISCORD_TOKEN_FILE name a readable file"),
        ),
        None => check_discord(config, &mut r).await,
    }
    r.finish()
}

/// The store opens (an existing database: read, migrated if it is older),
/// or can be created where it is configured (nothing is created here).
async fn check_store(config: &Config, r: &mut Report) {
    use crate::store::Store as _;
    if let Some(table) = &config.dynamodb_table {
        let sdk = crate::backend::sdk::sdk_config(&config.aws, None).await;
        let store = crate::store::dynamodb::DynamoStore::new(&sdk, table);
        let read = match store.verify().await {
            Ok(()) => store.homes().await,
            Err(e) => Err(e),
        };
        match read {
            Ok(homes) => r.ok("store", format!("DynamoDB table {table} (shared; {} incidents followed)", homes.len())),
            Err(e) => r.add(
                Status::Fail,
                "store",
                format!("DynamoDB table {table} cannot be used"),
                Some(e.0),
                Some("run `incident-bot store init`, and allow the bot's role the table's actions (docs/replicas.md)"),
            ),
        }
        return;
    }
    let path = &config.store_path;
    let fix = "set [store] path (INCIDENT_BOT_STORE_PATH) to a file the bot may write, on a persistent disk";
    if path.exists() {
        let opened = match crate::store::sqlite::SqliteStore::open(path) {
            Ok(store) => store.homes().await,
            Err(e) => Err(e),
        };
        match opened {
            Ok(homes) => r.ok("store", format!("{} (SQLite; {} incidents followed)", path.display(), homes.len())),
            Err(e) => r.add(Status::Fail, "store", format!("{} cannot be used", path.display()), Some(e.0), Some(fix)),
        }
        return;
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let probe = dir.join(format!(".incident-bot-check-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            r.ok("store", format!("{} (SQLite; created on first run)", path.display()));
        }
        Err(e) => r.add(
            Status::Fail,
            "store",
            format!("{} cannot be created", path.display()),
            Some(format!("{}: {e}", dir.display())),
            Some(fix),
        ),
    }
}

/// Region, credentials, and a call to Incident Manager; the listed plans.
async fn check_aws(config: &Config, r: &mut Report) -> Option<Vec<crate::domain::PlanSummary>> {
    let sdk = sdk_config(&config.aws, None).await;
    let region = sdk.region().map(ToString::to_string);
    match &region {
        Some(reg) if REGIONS.contains(&reg.as_str()) || config.aws.endpoint_url.is_some() => {
            r.ok("AWS region", reg.clone())
        }
        Some(reg) => r.add(
            Status::Warn,
            "AWS region",
            format!("{reg}: Incident Manager is not offered in this region"),
            None,
            Some(&format!("use one of {}", REGIONS.join(", "))),
        ),
        None => r.add(
            Status::Fail,
            "AWS region",
            "none",
            None,
            Some("set `region` under [aws] in config.toml, or AWS_REGION"),
        ),
    }
    let credentials = match sdk.credentials_provider() {
        Some(p) => p.provide_credentials().await.map_err(|e| crate::discord::api::error_chain(&e)),
        None => Err("no credential provider".to_owned()),
    };
    let have_credentials = match credentials {
        Ok(c) => {
            let key: String = c.access_key_id().chars().take(4).collect();
            r.ok("AWS credentials", format!("found (access key {key}…)"));
            true
        }
        Err(cause) => {
            r.add(
                Status::Fail,
                "AWS credentials",
                "none found in the SDK's default chain",
                Some(cause),
                Some(CREDENTIALS_FIX),
            );
            false
        }
    };
    if region.is_none() || !have_credentials {
        let missing = if region.is_none() { "an AWS region" } else { "AWS credentials" };
        r.add(Status::Warn, "Incident Manager", format!("not checked: needs {missing}"), None, None);
        return None;
    }
    let backend = SdkBackend::new(&sdk, &config.aws);
    match backend.list_response_plans().await {
        Ok(plans) => {
            r.ok(
                "Incident Manager",
                format!("ListResponsePlans at {} listed {} response plans", backend.endpoint(), plans.len()),
            );
            Some(plans)
        }
        Err(e) => {
            let subject = Subject {
                doing: "list response plans",
                resource: "*",
                target: "Response plans",
                command: "incident-bot check",
            };
            let (text, _) = messages::for_terminal(&e, &subject, backend.region(), &backend.endpoint());
            r.add(Status::Fail, "Incident Manager", text, None, None);
            None
        }
    }
}

/// The token, then the bot's membership and permissions in each guild and
/// channel the config names (or every guild it is in).
async fn check_discord(config: &Config, r: &mut Report) {
    let api = rest(config);
    let base = api_base(config);
    let me = match api.bot_user().await {
        Ok(me) => {
            r.ok("Discord token", format!("accepted, the bot is {} ({})", me.name, me.id));
            me
        }
        Err(e) => {
            let (what, fix) = discord_problem(&e, &base);
            r.add(Status::Fail, "Discord token", what, None, Some(&fix));
            return;
        }
    };
    let application = api.application().await;
    if let (Some(_), Err(e)) = (&config.interactions, &application) {
        let (what, fix) = discord_problem(e, &base);
        r.add(Status::Fail, "Interactions endpoint", format!("the application's public key: {what}"), None, Some(&fix));
    }
    let app =
        application.unwrap_or(AppInfo { id: me.id.get().into(), name: me.name.clone(), verify_key: String::new() });
    if let Some(endpoint) = config.interactions.as_ref().filter(|_| !app.verify_key.is_empty()) {
        if endpoint.is_key_of(&app.verify_key) {
            r.ok(
                "Interactions endpoint",
                format!(
                    "the public key is the application's; Discord should POST to https://<your host>{} (served on {})",
                    endpoint.path, endpoint.listen
                ),
            );
        } else {
            r.add(
                Status::Fail,
                "Interactions endpoint",
                format!("[interactions] public_key is not the public key of {} ({})", app.name, app.id),
                None,
                Some("copy it from the Developer Portal, General Information → Public Key"),
            );
        }
    }
    let needed = required(config.incident.create_thread);
    let invite = invite_url(app.id, needed);
    let guilds = match api.guilds().await {
        Ok(g) => g,
        Err(e) => {
            let (what, fix) = discord_problem(&e, &base);
            r.add(Status::Fail, "Discord servers", what, None, Some(&fix));
            return;
        }
    };
    let wanted: Vec<u64> = if config.discord.guild_ids.is_empty() {
        if guilds.is_empty() {
            r.add(
                Status::Warn,
                "Discord servers",
                "the bot is in no server yet",
                None,
                Some(&format!("invite it: {invite}")),
            );
        }
        guilds.iter().map(|g| g.id.get()).collect()
    } else {
        config.discord.guild_ids.clone()
    };
    for id in wanted {
        match guilds.iter().find(|g| g.id.get() == id) {
            None => r.add(
                Status::Fail,
                "Discord server",
                format!("{id}: the bot is not a member"),
                None,
                Some(&format!("invite it: {invite}")),
            ),
            Some(g) => permission_line(r, &format!("{} ({id})", g.name), g.permissions, needed, &invite),
        }
    }
    let mut channels: Vec<u64> = config.access.global.channel_ids.iter().copied().collect();
    channels.extend(config.access.guilds.values().flat_map(|rules| rules.channel_ids.iter().copied()));
    channels.sort_unstable();
    channels.dedup();
    for id in channels {
        check_channel(&api, r, id, &me.id, &guilds, needed, &invite, &base).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn check_channel(
    api: &dyn DiscordApi,
    r: &mut Report,
    id: u64,
    me: &serenity::all::UserId,
    guilds: &[GuildAccess],
    needed: serenity::all::Permissions,
    invite: &str,
    base: &str,
) {
    let channel = match api.channel(id.into()).await {
        Ok(c) => c,
        Err(e) => {
            let (what, fix) = discord_problem(&e, base);
            return r.add(Status::Fail, "Discord channel", format!("{id}: {what}"), None, Some(&fix));
        }
    };
    let Some(guild) = guilds.iter().find(|g| g.id == channel.guild) else {
        return r.add(
            Status::Fail,
            "Discord channel",
            format!("#{} ({id}): the bot is not a member of its server", channel.name),
            None,
            Some(&format!("invite it: {invite}")),
        );
    };
    let roles = match api.member_roles(guild.id, *me).await {
        Ok(roles) => roles,
        Err(e) => {
            let (what, fix) = discord_problem(&e, base);
            return r.add(
                Status::Fail,
                "Discord channel",
                format!("#{} ({id}): {what}", channel.name),
                None,
                Some(&fix),
            );
        }
    };
    let perms = in_channel(guild.id.get(), guild.permissions, &roles, me.get(), &channel.overwrites);
    permission_line(r, &format!("#{} ({id})", channel.name), perms, needed, invite);
}

fn permission_line(
    r: &mut Report,
    place: &str,
    has: serenity::all::Permissions,
    needed: serenity::all::Permissions,
    invite: &str,
) {
    let missing = needed - has;
    let check = if place.starts_with('#') { "Discord channel" } else { "Discord server" };
    if missing.is_empty() {
        r.ok(check, format!("{place}: the bot has {}", names(needed)));
    } else {
        r.add(
            Status::Fail,
            check,
            format!("{place}: the bot lacks {}", names(missing)),
            None,
            Some(&format!("grant them to the bot's role (Server Settings → Roles, or the channel's permissions), or invite it again: {invite}")),
        );
    }
}
