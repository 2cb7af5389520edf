//! `spawn_app`: the real bot, in this process, wired to fresh fakes.

use std::path::Path;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use incident_bot::config::Config;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::fake_discord::{self, FakeDiscord};
use super::fake_incident_manager::{self as fim, FakeIncidentManager};

pub const TOKEN: &str = "MTIz.test-token.do-not-log-me";

/// Knobs the tests turn; everything else is the shipped default.
#[derive(Debug, Clone)]
pub struct TestConfig {
    pub guild_ids: Vec<u64>,
    pub default_plan: Option<&'static str>,
    pub max_attempts: u32,
    pub attempt_timeout_secs: u64,
    /// Replaces the fake Incident Manager's URL (e.g. a closed port).
    pub endpoint_url: Option<String>,
    /// `[limits]`: high by default so tests that declare a lot are not
    /// rate limited; the limits test lowers them.
    pub per_user: u32,
    pub per_guild: u32,
    /// `[incident] create_thread`: off by default here so tests that do not
    /// look at threads see one edit per declaration.
    pub create_thread: bool,
    /// Response plans the fake Incident Manager has besides Payments and
    /// Search: (name, display name).
    pub extra_plans: &'static [(&'static str, Option<&'static str>)],
    /// Make ListResponsePlans fail from the start.
    pub plans_down: bool,
    /// Appended to the config file (new tables such as `[access]`).
    pub extra_toml: &'static str,
    /// `[sync] interval_secs`: 0 (no mirror) by default here, so tests that
    /// count AWS requests see only their own.
    pub sync_interval_secs: u64,
    /// `[sync] archive_after_mins`.
    pub archive_after_mins: u64,
    /// `[store] path`; a fresh database per bot when `None`.
    pub store_path: Option<std::path::PathBuf>,
    /// Interactions over an HTTP endpoint (`[interactions]`) instead of
    /// the gateway: the fake Discord POSTs them, signed.
    pub http_interactions: bool,
    /// Serve `/healthz` and `/metrics` (on a port the system picks; the
    /// app's `health_port`).
    pub health: bool,
    /// `[discord] shards`, as TOML (e.g. `"auto"`).
    pub shards: Option<&'static str>,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self {
            guild_ids: vec![fake_discord::GUILD_ID],
            default_plan: None,
            max_attempts: 1,
            attempt_timeout_secs: 10,
            endpoint_url: None,
            per_user: 1000,
            per_guild: 1000,
            create_thread: false,
            extra_plans: &[],
            plans_down: false,
            extra_toml: "",
            sync_interval_secs: 0,
            archive_after_mins: 60,
            store_path: None,
            http_interactions: false,
            health: false,
            shards: None,
        }
    }
}

pub struct TestApp {
    pub discord: FakeDiscord,
    /// The interactions endpoint's URL, in HTTP mode.
    pub endpoint: Option<String>,
    /// The port of `/healthz` and `/metrics`, with `TestConfig::health`.
    pub health_port: Option<u16>,
    pub aws: FakeIncidentManager,
    /// The bot's database, for a restart on the same store.
    pub store_path: std::path::PathBuf,
    shutdown: std::sync::Mutex<Option<oneshot::Sender<()>>>,
    task: Option<JoinHandle<()>>,
}

impl TestApp {
    /// Stops the bot and waits until it has returned.
    pub async fn stop(self) {
        self.signal_shutdown();
        self.wait_stopped().await;
    }

    /// Asks the bot to shut down (SIGTERM in the binary), without waiting.
    pub fn signal_shutdown(&self) {
        if let Some(tx) = self.shutdown.lock().unwrap().take() {
            let _ = tx.send(());
        }
    }

    /// Waits until the bot's `run` has returned.
    pub async fn wait_stopped(mut self) {
        if let Some(task) = self.task.take() {
            tokio::time::timeout(super::WAIT, task).await.expect("bot did not stop").unwrap();
        }
    }

    /// Sends `/incident` with these options; returns the interaction id.
    pub async fn incident(&self, options: Value) -> u64 {
        self.discord.dispatch_interaction(fake_discord::incident_command(options)).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

pub fn config_toml(discord: &str, aws: &str, c: &TestConfig) -> String {
    let guilds: Vec<String> = c.guild_ids.iter().map(ToString::to_string).collect();
    let default_plan = c.default_plan.map(|p| format!("default_plan = \"{p}\"")).unwrap_or_default();
    format!(
        r#"
[discord]
guild_ids = [{guilds}]
api_url = "{discord}"
{shards}

[aws]
region = "{region}"
endpoint_url = "{aws}"
max_attempts = {attempts}
initial_backoff_ms = 20
attempt_timeout_secs = {attempt_timeout}

[incident]
{default_plan}
create_thread = {create_thread}

[incident.plans]
payments = "{payments}"
search = "{search}"
ghost = "{ghost}"

[sync]
interval_secs = {sync}
archive_after_mins = {archive}

[store]
path = "{store}"

[limits]
per_user = {per_user}
per_guild = {per_guild}

{extra}
"#,
        shards = c.shards.map(|s| format!("shards = {s}")).unwrap_or_default(),
        sync = c.sync_interval_secs,
        archive = c.archive_after_mins,
        store = c.store_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        per_user = c.per_user,
        create_thread = c.create_thread,
        per_guild = c.per_guild,
        extra = c.extra_toml,
        guilds = guilds.join(", "),
        region = fim::REGION,
        attempts = c.max_attempts,
        attempt_timeout = c.attempt_timeout_secs,
        payments = fim::plan_arn("Payments"),
        search = fim::plan_arn("Search"),
        ghost = fim::plan_arn("Ghost"),
    )
}

pub fn test_credentials() -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new(fim::ACCESS_KEY, fim::SECRET_KEY, None, None, "tests"))
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestConfig::default()).await
}

/// Starts both fakes and the bot, and waits until `/incident` is registered
/// and the gateway connected.
pub async fn spawn_app_with(c: TestConfig) -> TestApp {
    let aws = FakeIncidentManager::start(&["Payments", "Search"]).await;
    for (name, display) in c.extra_plans {
        aws.add_plan(name, *display);
    }
    if c.plans_down {
        aws.break_operation(
            "ListResponsePlans",
            Some(super::fake_incident_manager::Fault::Error(500, "InternalServerException", "down")),
        );
    }
    let discord = FakeDiscord::start(TOKEN).await;
    spawn_bot(discord, aws, c).await
}

/// Starts a bot on existing fakes (a restart) and waits until it has
/// registered its commands (again).
/// A database file of its own.
pub fn fresh_store() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(unique("incident-bot-it") + ".db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

pub async fn spawn_bot(discord: FakeDiscord, aws: FakeIncidentManager, mut c: TestConfig) -> TestApp {
    let store_path = c.store_path.get_or_insert_with(fresh_store).clone();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let endpoint = c.endpoint_url.clone().unwrap_or_else(|| aws.url.clone());
    let mut toml = config_toml(&discord.api_url, &endpoint, &c);
    // Port 0 throughout: the system gives a free port to the bot's own bind,
    // which cannot race another test for it; the bot tells which.
    if c.http_interactions {
        toml += &format!(
            "\n[interactions]\nlisten = \"127.0.0.1:0\"\npublic_key = \"{}\"\n",
            fake_discord::public_key_hex()
        );
    }
    if c.health {
        toml += "\n[server]\nlisten = \"127.0.0.1:0\"\n";
    }
    let config = Config::from_parts(Some(&toml), Path::new("test-config.toml"), &|k| {
        (k == "DISCORD_TOKEN").then(|| TOKEN.to_owned())
    })
    .unwrap();
    let sdk = incident_bot::backend::sdk::sdk_config(&config.aws, Some(test_credentials())).await;
    let (tx, rx) = oneshot::channel::<()>();
    let health = std::sync::Arc::new(incident_bot::observe::Health::default());
    let watched = health.clone();
    let task = tokio::spawn(async move {
        incident_bot::app::run_with_health(
            config,
            &sdk,
            async move {
                let _ = rx.await;
            },
            watched,
        )
        .await
        .unwrap();
    });
    // Ready as `/healthz` means it: the commands registered and the gateway
    // connected (its READY handled).
    if let Err(why) = health.wait_ready(super::WAIT).await {
        panic!("the bot never became ready: {why}; {:#?}", discord.with_state(|s| s.events.clone()));
    }
    let interactions = health.endpoint_addr().map(|a| format!("http://{a}/interactions"));
    assert_eq!(interactions.is_some(), c.http_interactions);
    if let Some(url) = &interactions {
        discord.use_endpoint(url);
    }
    let health_port = health.health_addr().map(|a| a.port());
    assert_eq!(health_port.is_some(), c.health);
    TestApp {
        discord,
        endpoint: interactions,
        health_port,
        aws,
        store_path,
        shutdown: std::sync::Mutex::new(Some(tx)),
        task: Some(task),
    }
}

/// An address nothing listens on: connections are refused. A privileged
/// port (discard), so no test's port-0 bind can take it, unlike a port that
/// was free a moment ago.
pub const CLOSED: &str = "127.0.0.1:9";

/// A name no other test of this run (or a run before) uses: `prefix`, the
/// process id and a counter. (Ports are not picked here: the bot and moto
/// bind port 0 and say which port they got.)
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A `/incident` option as Discord sends it.
pub fn opt(name: &str, value: impl Into<Value>) -> Value {
    let value = value.into();
    let kind = if value.is_i64() { 4 } else { 3 };
    json!({"name": name, "type": kind, "value": value})
}

/// The embed of an edit of `@original`.
pub fn embed(edit: &Value) -> &Value {
    &edit["embeds"][0]
}

/// The value of the embed field called `name`.
pub fn field<'a>(embed: &'a Value, name: &str) -> &'a str {
    embed["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == name))
        .and_then(|f| f["value"].as_str())
        .unwrap_or_else(|| panic!("no field {name} in {embed:#}"))
}

/// Waits until `/incident`'s autocomplete offers the plans the fake Incident
/// Manager lists (display names `… team`): they load in the background while
/// the bot connects. Each try is a real autocomplete interaction.
pub async fn wait_plans_listed(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + super::WAIT;
    loop {
        let focused = json!([{"name": "plan", "type": 3, "value": "", "focused": true}]);
        let id = app.discord.dispatch_interaction(fake_discord::incident_autocomplete(focused)).await;
        let (reply, _) = app.discord.wait_callback(id).await;
        if reply["data"]["choices"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["name"].as_str().is_some_and(|n| n.contains(" team "))))
        {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the listed plans never reached autocomplete");
        tokio::task::yield_now().await;
    }
}

/// `name` on PATH.
pub fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
        .ok_or(())
}

/// Runs the AWS CLI (v1, installed by `.ci/run`) with `args` against the
/// fake, signed with `access_key`. `None` when the CLI is not installed and
/// `INCIDENT_BOT_REQUIRE_AWS_CLI` is not set (it says SKIPPED); it panics
/// when the CLI fails.
pub async fn aws_cli<S: AsRef<std::ffi::OsStr>>(
    aws: &FakeIncidentManager,
    access_key: &str,
    args: &[S],
) -> Option<std::process::Output> {
    use super::fake_incident_manager as fim;
    let Ok(cli) = which("aws") else {
        assert!(std::env::var_os("INCIDENT_BOT_REQUIRE_AWS_CLI").is_none(), "the AWS CLI is required but not on PATH");
        eprintln!("SKIPPED: the AWS CLI is not installed (pip install awscli); .ci/run installs it");
        return None;
    };
    let out = tokio::process::Command::new(cli)
        .args(args)
        .args(["--endpoint-url", &aws.url, "--region", fim::REGION, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", access_key)
        .env("AWS_SECRET_ACCESS_KEY", fim::SECRET_KEY)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "aws cli failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(out)
}

/// `aws ssm-incidents ARGS` as the on-call operator (another identity than
/// the bot's); its JSON output (`Null` when it prints nothing).
pub async fn aws_cli_as_operator(aws: &FakeIncidentManager, args: &[&str]) -> Option<Value> {
    let args: Vec<&str> = std::iter::once("ssm-incidents").chain(args.iter().copied()).collect();
    let out = aws_cli(aws, super::fake_incident_manager::OPERATOR_KEY, &args).await?;
    Some(if out.stdout.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&out.stdout).unwrap()
    })
}

/// moto's DynamoDB (server mode, installed by `.ci/run`) on a port of its
/// own, for one test: stopped when dropped.
pub struct Moto {
    pub url: String,
    _server: tokio::process::Child,
}

/// Starts [`Moto`] and waits until it listens. `None` when `moto_server` is
/// not on PATH and `INCIDENT_BOT_REQUIRE_MOTO` is not set (it says
/// SKIPPED); `.ci/run` sets it, which turns the skip into a failure.
pub async fn moto() -> Option<Moto> {
    use tokio::io::AsyncBufReadExt;
    let Ok(bin) = which("moto_server") else {
        assert!(std::env::var_os("INCIDENT_BOT_REQUIRE_MOTO").is_none(), "moto is required but not on PATH");
        eprintln!("SKIPPED: moto is not installed (pip install \"moto[server]\"); .ci/run installs it");
        return None;
    };
    // Port 0: the system picks a free one (no race with another test's
    // bind); Flask names it once it listens.
    let mut server = tokio::process::Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", "0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(server.stderr.take().unwrap()).lines();
    let listening = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some((_, url)) = line.split_once("Running on ") {
                return Some(url.trim().to_owned());
            }
        }
        None
    };
    let url = tokio::time::timeout(super::WAIT, listening).await.ok().flatten().expect("moto_server did not start");
    assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"), "{url}");
    // Its log goes on being read, so a full pipe never blocks it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some(Moto { url, _server: server })
}

/// The SDK configuration the bot builds (its HTTP client, retries), with
/// the test's keys, pointed at `endpoint`.
pub async fn sdk_at(endpoint: &str) -> aws_config::SdkConfig {
    let path = std::env::temp_dir().join(unique("incident-bot-sdk") + ".toml");
    std::fs::write(&path, format!("[aws]\nregion = \"{}\"\n", fim::REGION)).unwrap();
    let config = Config::load_without_token(Some(&path), &|_| None).unwrap();
    let _ = std::fs::remove_file(&path);
    let sdk = incident_bot::backend::sdk::sdk_config(&config.aws, Some(test_credentials())).await;
    sdk.into_builder().endpoint_url(endpoint).build()
}
