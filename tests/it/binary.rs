//! The shipped binary as an operator runs it: exit codes, the AWS SDK's own
//! credential and endpoint resolution from the environment, SIGTERM, and a
//! byte-for-byte comparison with the AWS CLI's StartIncident body.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{Value, json};
use tokio::process::Command;

use super::fake_discord::FakeDiscord;
use super::fake_incident_manager::{self as fim, FakeIncidentManager};
use super::helpers::{TOKEN, embed, opt, spawn_app};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_incident-bot");

/// The addresses the ready line names: the interactions endpoint's URL
/// and the port of `/healthz` and `/metrics`, when served. The tests
/// configure port 0, so the system picks ports no other test can race for.
pub(crate) fn ready_addresses(ready: &str) -> (Option<String>, Option<u16>) {
    let endpoint = ready
        .split_once("over HTTP interactions at ")
        .map(|(_, rest)| format!("http://{}", rest.split(';').next().unwrap()));
    let health = ready
        .split_once("/healthz and /metrics on ")
        .map(|(_, rest)| rest.trim_end().rsplit(':').next().unwrap().parse().expect("a port"));
    (endpoint, health)
}

/// A child's stderr, read as it comes (a full pipe would block its logging).
pub(crate) struct Log {
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Log {
    pub(crate) fn of(child: &mut tokio::process::Child) -> Self {
        use tokio::io::AsyncBufReadExt;
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let mut pipe = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = pipe.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { lines, seen: Vec::new() }
    }

    /// Waits for a line containing `text` (bounded by [`super::WAIT`]).
    pub(crate) async fn wait_for(&mut self, text: &str) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(text)) {
            return l.clone();
        }
        loop {
            match tokio::time::timeout(super::WAIT, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                _ => panic!("no log line with {text:?}; the log:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Everything, once the child has exited.
    async fn rest(mut self) -> String {
        while let Some(line) = self.lines.recv().await {
            self.seen.push(line);
        }
        self.seen.join("\n") + "\n"
    }
}

pub(crate) fn temp_file(contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(super::helpers::unique("incident-bot-test") + ".toml");
    std::fs::write(&path, contents).unwrap();
    path
}

/// The binary with a clean environment: nothing leaks in from the machine.
pub(crate) fn bot(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("INCIDENT_BOT_STORE_PATH", crate::helpers::fresh_store())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn finish(cmd: &mut Command) -> (i32, String) {
    let out = tokio::time::timeout(super::WAIT, cmd.output()).await.expect("binary did not exit").unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn missing_token_is_one_line_and_exit_code_2() {
    let config = temp_file("");
    let (code, stderr) = finish(&mut bot(&["run", "--config", config.to_str().unwrap()])).await;
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "incident-bot: no Discord bot token: set the DISCORD_TOKEN environment variable \
         (or DISCORD_TOKEN_FILE to a file holding it, or DISCORD_TOKEN_ARN to the ARN of a Secrets Manager \
         secret or SSM parameter holding it)\n"
    );
}

#[tokio::test]
async fn invalid_config_names_file_key_and_reason() {
    let config = temp_file("[incident.plans]\npayments = \"arn:aws:ssm-incidents::111122223333:incident-record/x\"\n");
    let path = config.to_str().unwrap();
    let (code, stderr) = finish(bot(&["--config", path]).env("DISCORD_TOKEN", TOKEN)).await;
    assert_eq!(code, 2);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "incident-bot: {path}: key `incident.plans.payments`: is not an Incident Manager response plan ARN \
             (arn:aws:ssm-incidents::ACCOUNT:response-plan/NAME)"
        )
    );
    let (code, stderr) = finish(bot(&["--config", "/nonexistent/config.toml"]).env("DISCORD_TOKEN", TOKEN)).await;
    assert_eq!(code, 2);
    assert!(stderr.starts_with("incident-bot: /nonexistent/config.toml: cannot read the config file"), "{stderr}");
}

#[tokio::test]
async fn missing_region_fails_at_start_up() {
    let discord = FakeDiscord::start(TOKEN).await;
    let config = temp_file(&format!("[discord]\napi_url = \"{}\"\n", discord.api_url));
    let (code, stderr) = finish(bot(&["run", "--config", config.to_str().unwrap()]).env("DISCORD_TOKEN", TOKEN)).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("No AWS region is set: set `region` under [aws] in config.toml, or AWS_REGION"),
        "{stderr}"
    );
}

/// The released binary with credentials, region and endpoint from the
/// environment only (the SDK's default chain and
/// `AWS_ENDPOINT_URL_SSM_INCIDENTS`), declaring, then stopping on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_declares_with_the_sdk_default_chain_and_stops_on_sigterm() {
    let discord = FakeDiscord::start(TOKEN).await;
    let aws = FakeIncidentManager::start(&["Payments"]).await;
    let config = temp_file(&format!(
        "[discord]\nguild_ids = [{}]\napi_url = \"{}\"\n[incident.plans]\npayments = \"{}\"\n",
        super::fake_discord::GUILD_ID,
        discord.api_url,
        fim::plan_arn("Payments")
    ));
    let mut child = bot(&["run", "--config", config.to_str().unwrap()])
        .env("DISCORD_TOKEN", TOKEN)
        .env("AWS_ACCESS_KEY_ID", fim::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", fim::SECRET_KEY)
        .env("AWS_REGION", fim::REGION)
        .env("AWS_ENDPOINT_URL_SSM_INCIDENTS", &aws.url)
        .env("RUST_LOG", "debug")
        .env("INCIDENT_BOT_LOG_FORMAT", "json")
        .spawn()
        .unwrap();
    let mut log = Log::of(&mut child);
    // One line says the bot serves, and where.
    let ready = log.wait_for("ready: serving").await;
    let ready: Value = serde_json::from_str(&ready).unwrap();
    let ready = ready["message"].as_str().unwrap();
    let expected = format!(
        "ready: serving /incident, /incident-update and “Add to incident timeline” as incident-bot ({}) in servers \
         [{}], over the gateway; AWS region {} at {}; mirroring Incident Manager every 15 s; store {}",
        super::fake_discord::APP_ID,
        super::fake_discord::GUILD_ID,
        fim::REGION,
        aws.url,
        std::env::temp_dir().join("incident-bot-it-").display()
    );
    assert!(ready.starts_with(&expected) && ready.ends_with(".db; no health listener"), "{ready}");
    let id =
        discord.dispatch_interaction(super::fake_discord::incident_command(json!([opt("plan", "payments")]))).await;
    let edit = discord.wait_edit(id, 1).await;
    assert_eq!(embed(&edit)["title"], "🚨 Incident declared (payments)");
    let requests = aws.requests("StartIncident");
    assert_eq!(requests.len(), 1);
    assert!(requests[0].headers.iter().any(|(k, v)| k == "authorization" && v.contains(fim::ACCESS_KEY)));

    let pid = child.id().unwrap().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(super::WAIT, child.wait()).await.expect("no exit after SIGTERM").unwrap();
    assert_eq!(exit.code(), Some(0));
    let stderr = log.rest().await;
    // JSON logs: every line an object; one line per declaration with its
    // outcome and timings.
    let lines: Vec<Value> =
        stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect();
    let declared: Vec<&Value> = lines.iter().filter(|l| l["message"] == "incident declared").collect();
    assert_eq!(declared.len(), 1, "{stderr}");
    assert_eq!(declared[0]["level"], "INFO");
    assert_eq!(declared[0]["outcome"], "ok");
    assert_eq!(declared[0]["plan"], "payments");
    assert!(declared[0]["ack_ms"].is_u64() && declared[0]["total_ms"].is_u64(), "{:#}", declared[0]);
    // Even at debug level the token never reaches the log.
    assert!(!stderr.contains(TOKEN) && !stderr.contains("do-not-log-me"), "the token leaked into the log");
}

/// The mirror across a crash: the binary is killed (SIGKILL) while changes
/// made elsewhere stream in, and started again on the same store. Every
/// change reaches the thread exactly once: none re-posted, none skipped,
/// including those made while it was down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_bot_started_again_shows_each_change_once() {
    let discord = FakeDiscord::start(TOKEN).await;
    let aws = FakeIncidentManager::start(&["Payments"]).await;
    let config = temp_file(&format!(
        "[discord]\nguild_ids = [{}]\napi_url = \"{}\"\n[incident.plans]\npayments = \"{}\"\n[sync]\ninterval_secs = 1\n",
        super::fake_discord::GUILD_ID,
        discord.api_url,
        fim::plan_arn("Payments")
    ));
    let store = crate::helpers::fresh_store();
    let start = || {
        let mut cmd = bot(&["run", "--config", config.to_str().unwrap()]);
        cmd.env("DISCORD_TOKEN", TOKEN)
            .env("AWS_ACCESS_KEY_ID", fim::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", fim::SECRET_KEY)
            .env("AWS_REGION", fim::REGION)
            .env("AWS_ENDPOINT_URL_SSM_INCIDENTS", &aws.url)
            .env("INCIDENT_BOT_STORE_PATH", &store);
        cmd.spawn().unwrap()
    };
    let mut child = start();
    let mut log = Log::of(&mut child);
    log.wait_for("ready: serving").await;
    let id =
        discord.dispatch_interaction(super::fake_discord::incident_command(json!([opt("plan", "payments")]))).await;
    let edit = discord.wait_edit(id, 2).await;
    let thread: u64 =
        crate::helpers::field(embed(&edit), "Thread").trim_start_matches("<#").trim_end_matches('>').parse().unwrap();
    let arn = aws.incidents()[0].1.clone();
    let shown = |n: usize| {
        let text = format!("change {n} of the stream");
        discord.with_state(|s| s.posts_in(thread).iter().filter(|p| p.contains(&text)).count())
    };
    for n in 1..=3 {
        aws.event_elsewhere(&arn, "Custom Event", &format!("\"change {n} of the stream\""));
    }
    discord
        .wait_for("the stream reaching the thread", |s| {
            s.posts_in(thread).iter().any(|p| p.contains("change 2 of")).then_some(())
        })
        .await;
    // Killed mid-stream: no shutdown, no last write.
    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-KILL", &pid]).status().await.unwrap().success());
    child.wait().await.unwrap();
    drop(log);
    for n in 4..=6 {
        aws.event_elsewhere(&arn, "Custom Event", &format!("\"change {n} of the stream\""));
    }
    aws.change_elsewhere(&arn, None, Some(1), None, "arn:aws:sts::111122223333:assumed-role/OnCall/dana");

    let mut child = start();
    let mut log = Log::of(&mut child);
    log.wait_for("ready: serving").await;
    discord
        .wait_for("every change in the thread", |s| {
            let posts = s.posts_in(thread);
            let all = (1..=6).all(|n| posts.iter().any(|p| p.contains(&format!("change {n} of"))));
            (all && posts.iter().any(|p| p.contains("changed the impact"))).then_some(())
        })
        .await;
    // Two more looks change nothing.
    let looks = aws.requests("ListTimelineEvents").len();
    aws.wait_requests("ListTimelineEvents", looks + 2).await;
    for n in 1..=6 {
        assert_eq!(shown(n), 1, "change {n} shown {} times", shown(n));
    }
    assert_eq!(
        discord.with_state(|s| s.posts_in(thread).iter().filter(|p| p.contains("changed the impact")).count()),
        1
    );
    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
    assert_eq!(child.wait().await.unwrap().code(), Some(0));
}

// ---- Parity with `aws ssm-incidents start-incident` -------------------------

const GOLDEN: &str = "tests/fixtures/aws-cli-start-incident.json";

/// The `/incident` options of the parity case and the StartIncident
/// arguments an AWS CLI user gives for the same incident.
fn parity_case() -> (Value, Vec<String>) {
    let options = json!([
        opt("plan", "payments"),
        opt("impact", 2),
        opt("title", "Checkout failing for EU customers"),
        opt(
            "links",
            "[Grafana, checkout](https://grafana.example.com/d/abc?orgId=1) \
             arn:aws:lambda:us-east-1:111122223333:function:checkout https://status.example.com/"
        ),
    ]);
    let related = json!([
        {"identifier": {"type": "OTHER", "value": {"url": "https://grafana.example.com/d/abc?orgId=1"}}, "title": "Grafana, checkout"},
        {"identifier": {"type": "INVOLVED_RESOURCE", "value": {"arn": "arn:aws:lambda:us-east-1:111122223333:function:checkout"}}, "title": "lambda function:checkout"},
        {"identifier": {"type": "OTHER", "value": {"url": "https://status.example.com/"}}, "title": "status.example.com"},
        {"identifier": {"type": "OTHER", "value": {"url": format!("https://discord.com/channels/{}/{}", super::fake_discord::GUILD_ID, super::fake_discord::CHANNEL_ID)}}, "title": format!("Discord #{}", super::fake_discord::CHANNEL_NAME)}
    ]);
    let args = [
        "ssm-incidents",
        "start-incident",
        "--response-plan-arn",
        &fim::plan_arn("Payments"),
        "--impact",
        "2",
        "--title",
        "Checkout failing for EU customers",
        "--related-items",
        &related.to_string(),
        "--client-token",
        "cli-parity-token",
        "--trigger-details",
        r#"{"source":"discord.incident-bot","timestamp":1700000000,"rawData":"{}"}"#,
    ]
    .map(String::from)
    .to_vec();
    (options, args)
}

/// Everything but the two fields the seed lets differ.
fn comparable(body: &Value) -> Value {
    let mut b = body.clone();
    let o = b.as_object_mut().unwrap();
    o.remove("clientToken");
    o.remove("triggerDetails");
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_incident_body_is_what_the_aws_cli_sends() {
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(GOLDEN).unwrap()).unwrap();
    let app = spawn_app().await;
    let (options, _) = parity_case();
    app.incident(options).await;
    let req = app.aws.wait_requests("StartIncident", 1).await;
    assert_eq!(comparable(&req[0].body), comparable(&golden));
    // The fields the CLI and the bot both set have the same JSON types.
    assert!(
        req[0].body["triggerDetails"]["timestamp"].is_number() && golden["triggerDetails"]["timestamp"].is_number()
    );
    app.stop().await;
}

/// Keeps the golden file honest: the AWS CLI (v1, installed by `.ci/run`)
/// sends the request to the fake Incident Manager, whose SigV4 check and
/// model validation it passes, and the recorded body must equal the file.
/// Without the CLI on PATH there is nothing to compare against: the test
/// says so and passes, unless `INCIDENT_BOT_REQUIRE_AWS_CLI` is set (as
/// `.ci/run` does). `INCIDENT_BOT_BLESS=1` rewrites the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_body_is_what_the_aws_cli_sends_today() {
    let aws = FakeIncidentManager::start(&["Payments"]).await;
    let (_, args) = parity_case();
    let Some(out) = crate::helpers::aws_cli(&aws, fim::ACCESS_KEY, &args).await else { return };
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(printed["incidentRecordArn"].as_str().unwrap().contains(":incident-record/Payments/"));
    let body = aws.requests("StartIncident")[0].body.clone();
    if std::env::var_os("INCIDENT_BOT_BLESS").is_some() {
        std::fs::write(GOLDEN, serde_json::to_string_pretty(&body).unwrap() + "\n").unwrap();
    }
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(GOLDEN).unwrap()).unwrap();
    assert_eq!(body, golden);
}

#[tokio::test]
async fn a_token_file_readable_by_others_is_warned_about_without_leaking_it() {
    use std::os::unix::fs::PermissionsExt;
    let token_file = temp_file(TOKEN);
    let config = temp_file("");
    for (mode, warned) in [(0o644, true), (0o600, false)] {
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(mode)).unwrap();
        // No region configured: the bot stops right after start-up checks.
        let (code, stderr) = finish(
            bot(&["run", "--config", config.to_str().unwrap()])
                .env("DISCORD_TOKEN_FILE", &token_file)
                .env("RUST_LOG", "debug"),
        )
        .await;
        assert_eq!(code, 2, "{stderr}");
        let warning = format!(
            "DISCORD_TOKEN_FILE {} holds the Discord token and is readable by every user: run `chmod 600 {}`",
            token_file.display(),
            token_file.display()
        );
        assert_eq!(stderr.contains(&warning), warned, "mode {mode:o}: {stderr}");
        assert!(!stderr.contains(TOKEN), "the token leaked: {stderr}");
    }
}

/// SIGTERM while the Discord gateway is unreachable still stops the bot:
/// serenity's shutdown does not end its client when no shard is running, so
/// the bot must not wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_stops_on_sigterm_while_the_gateway_is_down() {
    let discord = FakeDiscord::start(TOKEN).await;
    let aws = FakeIncidentManager::start(&["Payments"]).await;
    let config = temp_file(&format!(
        "[discord]\nguild_ids = [{}]\napi_url = \"{}\"\n[aws]\nregion = \"{}\"\nendpoint_url = \"{}\"\n\
         [incident.plans]\npayments = \"{}\"\n[limits]\nshutdown_grace_secs = 1\n",
        super::fake_discord::GUILD_ID,
        discord.api_url,
        fim::REGION,
        aws.url,
        fim::plan_arn("Payments")
    ));
    let mut child = bot(&["run", "--config", config.to_str().unwrap()])
        .env("DISCORD_TOKEN", TOKEN)
        .env("AWS_ACCESS_KEY_ID", fim::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", fim::SECRET_KEY)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    discord.wait_commands().await;
    discord
        .wait_for("a gateway session", |s| {
            s.events.iter().any(|e| matches!(e, super::fake_discord::Event::Identify(_))).then_some(())
        })
        .await;
    discord.break_gateway();
    // serenity tries to resume (twice), then drops the shard and starts a
    // new one, which fails too: from then on no shard is running.
    discord.wait_refused_reconnects(3).await;

    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
    let exit = tokio::time::timeout(super::WAIT, child.wait()).await.expect("no exit after SIGTERM").unwrap();
    assert_eq!(exit.code(), Some(0));
}

// ---- Start-up says what is wrong --------------------------------------------

/// A config that works but for what each test breaks.
fn working_config(discord_api: &str, aws: &str) -> PathBuf {
    temp_file(&format!(
        "[discord]\nguild_ids = [{}]\napi_url = \"{discord_api}\"\n[aws]\nregion = \"{}\"\nendpoint_url = \"{aws}\"\n\
         [incident.plans]\npayments = \"{}\"\n[limits]\nshutdown_grace_secs = 1\n",
        super::fake_discord::GUILD_ID,
        fim::REGION,
        fim::plan_arn("Payments")
    ))
}

pub(crate) fn with_aws_keys(cmd: &mut Command) -> &mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", fim::ACCESS_KEY).env("AWS_SECRET_ACCESS_KEY", fim::SECRET_KEY)
}

/// With the configured Discord API down, the bot retries it with backoff,
/// one line per attempt naming the URL and the error, and never turns to
/// Discord's public hosts; SIGTERM still stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_never_leaves_the_configured_discord_url() {
    let closed = super::helpers::CLOSED;
    let config = working_config(&format!("http://{closed}"), "http://127.0.0.1:9");
    let mut cmd = bot(&["run", "--config", config.to_str().unwrap()]);
    let mut child = with_aws_keys(cmd.env("DISCORD_TOKEN", TOKEN)).spawn().unwrap();
    let mut log = Log::of(&mut child);
    let first = log.wait_for("Discord could not be reached").await;
    assert!(first.contains(&format!("Discord could not be reached at http://{closed}/api/v10 (")), "{first}");
    assert!(first.to_lowercase().contains("connection refused"), "{first}");
    assert!(first.contains("retry_in_secs=1"), "{first}");
    log.wait_for("retry_in_secs=2").await;
    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
    let exit = tokio::time::timeout(super::WAIT, child.wait()).await.expect("no exit after SIGTERM").unwrap();
    assert_eq!(exit.code(), Some(0));
    let all = log.rest().await;
    assert!(!all.contains("discord.gg") && !all.contains("discord.com/api"), "left the configured URL:\n{all}");
}

/// A rejected token stops the bot at once, and its last words say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_stops_the_bot_with_the_fix() {
    let discord = FakeDiscord::start(TOKEN).await;
    let config = working_config(&discord.api_url, "http://127.0.0.1:9");
    let mut cmd = bot(&["run", "--config", config.to_str().unwrap()]);
    let (code, stderr) = finish(with_aws_keys(cmd.env("DISCORD_TOKEN", "not-the-token"))).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr
            .trim_end()
            .ends_with("Discord rejected the bot token (check DISCORD_TOKEN; reset it in the Developer Portal)"),
        "{stderr}"
    );
    assert_eq!(discord.gateway_sessions(), 0, "no gateway connection was tried");
}

/// No AWS credentials: one line saying what is missing and how to give it,
/// not the SDK's error dump.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_aws_credentials_is_one_clear_line() {
    let discord = FakeDiscord::start(TOKEN).await;
    let config = working_config(&discord.api_url, "http://127.0.0.1:9");
    let (code, stderr) = finish(bot(&["run", "--config", config.to_str().unwrap()]).env("DISCORD_TOKEN", TOKEN)).await;
    assert_eq!(code, 2, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].ends_with(
            "No AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or give the bot an \
             IAM role (ECS task, EC2 instance, EKS service account)."
        ),
        "{stderr}"
    );
    assert!(lines[0].chars().count() < 220, "as long as a terminal is wide: {}", lines[0]);
}

/// Logs written to a pipe (a file, `docker logs`, journald) carry no colour
/// codes, NO_COLOR or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_to_a_pipe_have_no_colour() {
    let discord = FakeDiscord::start(TOKEN).await;
    let config = working_config(&discord.api_url, "http://127.0.0.1:9");
    let mut cmd = bot(&["run", "--config", config.to_str().unwrap()]);
    cmd.env_remove("NO_COLOR").env("DISCORD_TOKEN", "not-the-token").env("RUST_LOG", "debug");
    let (_, stderr) = finish(with_aws_keys(&mut cmd)).await;
    assert!(stderr.lines().count() > 3, "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "colour codes in a pipe:\n{stderr}");
}

/// `--help` names the environment the bot reads (never its values).
#[tokio::test]
async fn help_names_the_environment() {
    for args in [&["--help"][..], &["run", "--help"], &["check", "--help"]] {
        let out = bot(args).env("DISCORD_TOKEN", TOKEN).output().await.unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        for name in
            ["DISCORD_TOKEN", "DISCORD_TOKEN_FILE", "AWS_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "RUST_LOG"]
        {
            assert!(help.contains(name), "{args:?} --help does not name {name}:\n{help}");
        }
        assert!(!help.contains(TOKEN));
    }
}

/// A response plan ARN with a region is refused at load, with the corrected form.
#[tokio::test]
async fn a_plan_arn_with_a_region_is_refused_with_the_corrected_form() {
    let config =
        temp_file("[incident.plans]\npay = \"arn:aws:ssm-incidents:eu-west-1:111122223333:response-plan/Payments\"\n");
    let path = config.to_str().unwrap();
    let (code, stderr) = finish(bot(&["check", "--config", path]).env("DISCORD_TOKEN", TOKEN)).await;
    assert_eq!(code, 2);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "incident-bot: {path}: key `incident.plans.pay`: has a region (`eu-west-1`), but response plan ARNs have \
             none: `arn:aws:ssm-incidents::111122223333:response-plan/Payments`"
        )
    );
}

// ---- The HTTP interactions endpoint ----------------------------------------

/// The binary in HTTP mode: it opens no gateway, registers over REST, says
/// where it listens, answers Discord's signed PING and serves a declaration,
/// with `/healthz` ready; SIGTERM makes `/healthz` say it is going away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_signed_http_interactions_without_a_gateway() {
    let discord = FakeDiscord::start(TOKEN).await;
    let aws = FakeIncidentManager::start(&["Payments"]).await;
    let config = temp_file(&format!(
        "[discord]\nguild_ids = [{}]\napi_url = \"{}\"\n[aws]\nregion = \"{}\"\nendpoint_url = \"{}\"\n\
         [incident.plans]\npayments = \"{}\"\n[server]\nlisten = \"127.0.0.1:0\"\n\
         [interactions]\nlisten = \"127.0.0.1:0\"\n",
        super::fake_discord::GUILD_ID,
        discord.api_url,
        fim::REGION,
        aws.url,
        fim::plan_arn("Payments")
    ));
    let mut cmd = bot(&["run", "--config", config.to_str().unwrap()]);
    let mut child = with_aws_keys(
        cmd.env("DISCORD_TOKEN", TOKEN).env("INCIDENT_BOT_DISCORD_PUBLIC_KEY", super::fake_discord::public_key_hex()),
    )
    .spawn()
    .unwrap();
    let mut log = Log::of(&mut child);
    let ready = log.wait_for("ready: serving").await;
    // Port 0 configured; the ready line names the ports the system gave.
    let (Some(url), Some(health)) = ready_addresses(&ready) else { panic!("{ready}") };
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/interactions"), "{ready}");
    assert!(!url.contains(":0/") && health != 0, "{ready}");
    let ping = br#"{"id":"1","application_id":"1","type":1,"token":"t","version":1}"#.to_vec();
    let (status, _, pong) = super::fake_discord::post_signed(&url, ping).await;
    assert_eq!((status, pong.as_slice()), (200, &br#"{"type":1}"#[..]));
    let healthz = format!("http://127.0.0.1:{health}/healthz");
    assert_eq!(super::fake_discord::send("GET", &healthz, &[], vec![]).await.0, 200);

    discord.use_endpoint(&url);
    let id =
        discord.dispatch_interaction(super::fake_discord::incident_command(json!([opt("plan", "payments")]))).await;
    let edit = discord.wait_edit(id, 1).await;
    assert_eq!(embed(&edit)["title"], "🚨 Incident declared (payments)");
    assert_eq!(aws.requests("StartIncident").len(), 1);
    assert_eq!(discord.gateway_sessions(), 0, "no gateway connection");
    assert!(discord.rejected().is_empty(), "{:#?}", discord.rejected());

    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
    let exit = tokio::time::timeout(super::WAIT, child.wait()).await.expect("no exit after SIGTERM").unwrap();
    assert_eq!(exit.code(), Some(0));
    let all = log.rest().await;
    assert!(all.contains("interactions endpoint closed"), "{all}");
}

/// A public key that is not the application's stops the bot at start-up,
/// naming where to copy the right one: every request would fail otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrong_public_key_stops_the_bot_with_the_fix() {
    let discord = FakeDiscord::start(TOKEN).await;
    let config = working_config(&discord.api_url, "http://127.0.0.1:9");
    let mut cmd = bot(&["run", "--config", config.to_str().unwrap()]);
    let (code, stderr) = finish(with_aws_keys(
        cmd.env("DISCORD_TOKEN", TOKEN)
            .env("INCIDENT_BOT_INTERACTIONS_LISTEN", "127.0.0.1:0")
            .env("INCIDENT_BOT_DISCORD_PUBLIC_KEY", "ab".repeat(32)),
    ))
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.trim_end().ends_with(
            "[interactions] public_key is not the public key of the application this token belongs to \
             (incident-bot 900000000000000001): copy it from the Developer Portal, General Information → Public Key"
        ),
        "{stderr}"
    );
    assert_eq!(discord.gateway_sessions(), 0);
}
