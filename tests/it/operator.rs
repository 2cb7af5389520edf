//! `incident-bot check` and `incident-bot declare`, run as an operator would.

use serde_json::Value;
use tokio::process::Command;

use super::fake_discord::{APP_ID, FakeDiscord, GUILD_ID};
use super::fake_incident_manager::{self as fim, FakeIncidentManager};
use super::helpers::TOKEN;

const BIN: &str = env!("CARGO_BIN_EXE_incident-bot");

fn config(discord: &FakeDiscord, aws: &FakeIncidentManager, extra_plan: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "incident-bot-operator-{}-{}.toml",
        std::process::id(),
        discord.api_url.rsplit(':').next().unwrap()
    ));
    std::fs::write(
        &path,
        format!(
            "[discord]\napi_url = \"{}\"\n[aws]\nregion = \"{}\"\nendpoint_url = \"{}\"\nmax_attempts = 1\n[incident.plans]\npayments = \"{}\"\n{extra_plan}\n",
            discord.api_url,
            fim::REGION,
            aws.url,
            fim::plan_arn("Payments"),
        ),
    )
    .unwrap();
    path
}

fn bot(args: &[&str], token: Option<&str>, aws_credentials: bool) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("INCIDENT_BOT_STORE_PATH", crate::helpers::fresh_store())
        .env("USER", "oncall")
        .kill_on_drop(true);
    if let Some(t) = token {
        cmd.env("DISCORD_TOKEN", t);
    }
    if aws_credentials {
        cmd.env("AWS_ACCESS_KEY_ID", fim::ACCESS_KEY).env("AWS_SECRET_ACCESS_KEY", fim::SECRET_KEY);
    }
    cmd
}

async fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = tokio::time::timeout(super::WAIT, cmd.output()).await.expect("no exit").unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_when_everything_is_in_place() {
    let (discord, aws) = (FakeDiscord::start(TOKEN).await, FakeIncidentManager::start(&["Payments", "Search"]).await);
    let path = config(&discord, &aws, "search = \"arn:aws:ssm-incidents::111122223333:response-plan/Search\"");
    let store = crate::helpers::fresh_store();
    let mut cmd = bot(&["check", "--config", path.to_str().unwrap()], Some(TOKEN), true);
    let (code, stdout, stderr) = run(cmd.env("INCIDENT_BOT_STORE_PATH", &store)).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!store.exists(), "check creates nothing");
    let expected = [
        format!("✔ config: {} (2 response plan aliases)", path.display()),
        format!("✔ store: {} (SQLite; created on first run)", store.display()),
        format!("✔ AWS region: {}", fim::REGION),
        "✔ AWS credentials: found (access key AKID…)".to_owned(),
        format!("✔ Incident Manager: ListResponsePlans at {} listed 2 response plans", aws.url),
        format!("✔ plan alias payments: {} (Payments team)", fim::plan_arn("Payments")),
        format!("✔ plan alias search: {} (Search team)", fim::plan_arn("Search")),
        format!("✔ Discord token: accepted, the bot is incident-bot ({APP_ID})"),
        format!(
            "✔ Discord server: Test server ({GUILD_ID}): the bot has Add Reactions, View Channel, Send Messages, \
             Embed Links, Attach Files, Read Message History, Create Public Threads, Send Messages in Threads"
        ),
        "all checks passed".to_owned(),
    ];
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_each_failure_and_exits_1() {
    let (discord, aws) = (FakeDiscord::start(TOKEN).await, FakeIncidentManager::start(&["Payments"]).await);
    let path = config(&discord, &aws, "ghost = \"arn:aws:ssm-incidents::111122223333:response-plan/Ghost\"");
    let mut cmd = bot(&["check", "--config", path.to_str().unwrap()], Some("wrong-token"), false);
    let (code, stdout, _) = run(cmd.env("INCIDENT_BOT_STORE_PATH", "/proc/no-such-dir/incident-bot.db")).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(
            "✘ store: /proc/no-such-dir/incident-bot.db cannot be created (cause: /proc/no-such-dir: No such file or \
             directory (os error 2)). Fix: set [store] path (INCIDENT_BOT_STORE_PATH) to a file the bot may write, on \
             a persistent disk"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("✘ AWS credentials: none found in the SDK's default chain (cause: "), "{stdout}");
    assert!(stdout.contains("⚠ Incident Manager: not checked: needs AWS credentials"), "{stdout}");
    assert!(
        stdout.contains(
            "✘ Discord token: Discord rejected the bot token (401 Unauthorized). Fix: reset it in the Developer Portal"
        ),
        "{stdout}"
    );
    assert!(stdout.ends_with("check(s) failed\n"), "{stdout}");

    let (code, stdout, _) = run(&mut bot(&["check", "--config", path.to_str().unwrap()], Some(TOKEN), true)).await;
    assert_eq!(code, 1);
    assert!(
        stdout.contains(&format!(
            "✘ plan alias ghost: {} is no response plan of this account and region",
            fim::plan_arn("Ghost")
        )),
        "{stdout}"
    );
    assert!(stdout.ends_with("1 check(s) failed\n"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declare_dry_run_prints_the_request_and_sends_nothing() {
    let (discord, aws) = (FakeDiscord::start(TOKEN).await, FakeIncidentManager::start(&["Payments"]).await);
    let path = config(&discord, &aws, "");
    let args = [
        "declare",
        "--config",
        path.to_str().unwrap(),
        "--plan",
        "payments",
        "--impact",
        "2",
        "--title",
        "From the terminal",
        "--link",
        "[Runbook, payments](https://wiki.example.com/Runbook)",
        "--link",
        "arn:aws:lambda:us-east-1:111122223333:function:checkout",
        "--dry-run",
    ];
    // No Discord token and no AWS credentials: a dry run needs neither.
    let (code, stdout, stderr) = run(&mut bot(&args, None, false)).await;
    assert_eq!(code, 0, "{stderr}");
    let body: Value = serde_json::from_str(&stdout).unwrap();
    assert!(body["clientToken"].as_str().unwrap().starts_with("cli-"));
    assert_eq!(body["impact"], 2);
    assert_eq!(body["title"], "From the terminal");
    assert_eq!(body["responsePlanArn"], fim::plan_arn("Payments"));
    assert_eq!(
        body["relatedItems"],
        serde_json::json!([
            {"identifier": {"type": "OTHER", "value": {"url": "https://wiki.example.com/Runbook"}}, "title": "Runbook, payments"},
            {"identifier": {"type": "INVOLVED_RESOURCE", "value": {"arn": "arn:aws:lambda:us-east-1:111122223333:function:checkout"}}, "title": "lambda function:checkout"}
        ])
    );
    assert_eq!(body["triggerDetails"]["source"], "discord.incident-bot");
    assert_eq!(body["triggerDetails"]["rawData"], r#"{"declaredWith":"incident-bot declare","user":"oncall"}"#);
    assert!(fim::model_errors("StartIncident", &body).is_empty(), "the service would accept it");
    assert!(aws.requests("StartIncident").is_empty(), "nothing was sent");

    // Without --dry-run: the same request, sent; the ARN printed.
    let (code, stdout, stderr) = run(&mut bot(&args[..args.len() - 1], None, true)).await;
    assert_eq!(code, 0, "{stderr}");
    let sent = aws.requests("StartIncident");
    assert_eq!(sent.len(), 1);
    assert_eq!(stdout.trim(), aws.incidents()[0].1);
    assert_eq!(sent[0].body["relatedItems"], body["relatedItems"]);
    assert_eq!(sent[0].body["title"], body["title"]);

    // Bad input is refused before AWS, with exit code 2.
    let (code, _, stderr) = run(&mut bot(
        &["declare", "--config", path.to_str().unwrap(), "--plan", "payments", "--impact", "9"],
        None,
        true,
    ))
    .await;
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "incident-bot: The impact must be 1 (Critical) to 5 (No impact), got 9. Nothing was declared.\n"
    );
    assert_eq!(aws.requests("StartIncident").len(), 1);
}

/// `incident-bot register` puts the commands in place over REST alone (no
/// gateway), where the config says, and says so; a rejected token is exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_alone_puts_the_commands_in_place() {
    let (discord, aws) = (FakeDiscord::start(TOKEN).await, FakeIncidentManager::start(&["Payments"]).await);
    let path = config(&discord, &aws, "");
    let (code, stdout, stderr) =
        run(&mut bot(&["register", "--config", path.to_str().unwrap()], Some(TOKEN), false)).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stdout.trim(),
        format!(
            "registered /incident, /incident-update, “Add to incident timeline” (Apps menu) for incident-bot ({APP_ID}) in every server (global commands)"
        )
    );
    let body = discord.wait_commands().await;
    let names: Vec<&str> = body.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["incident", "incident-update", "Add to incident timeline"]);
    assert_eq!(discord.gateway_sessions(), 0, "no gateway connection");
    assert!(discord.rejected().is_empty(), "{:#?}", discord.rejected());

    let (code, _, stderr) =
        run(&mut bot(&["register", "--config", path.to_str().unwrap()], Some("wrong"), false)).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("Discord rejected the bot token (401 Unauthorized)"), "{stderr}");
}

/// A command spawned from `dir` (no `--config`: `./config.toml` or none).
fn bot_in(dir: &std::path::Path, args: &[&str], token: Option<&str>) -> Command {
    let mut cmd = bot(args, token, true);
    cmd.current_dir(dir);
    cmd
}

fn empty_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("incident-bot-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Without a token, `check` still checks everything else and says once
/// what is missing; without a config file it says so instead of naming one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_runs_every_check_whatever_fails() {
    let dir = empty_dir("no-config");
    let mut cmd = bot_in(&dir, &["check"], None);
    cmd.env("AWS_REGION", fim::REGION);
    let (code, stdout, stderr) = run(&mut cmd).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "⚠ config: no config file at ./config.toml; using defaults and the environment. Fix: copy \
         config.toml.example to config.toml, or pass --config PATH"
    );
    assert!(lines[1].starts_with("✔ store: "), "{stdout}");
    assert_eq!(lines[2], format!("✔ AWS region: {}", fim::REGION));
    assert!(lines.iter().any(|l| l.starts_with("✔ AWS credentials: found")), "{stdout}");
    let token: Vec<&&str> = lines.iter().filter(|l| l.contains("DISCORD_TOKEN")).collect();
    assert_eq!(token.len(), 1, "said once: {stdout}");
    assert_eq!(
        *token[0],
        "✘ Discord token: none in the environment. Fix: set DISCORD_TOKEN, or DISCORD_TOKEN_FILE to a file holding it"
    );
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(*lines.last().unwrap(), "2 check(s) failed", "the token, and Incident Manager at the real AWS");
}

/// When Discord cannot be reached, the cause (here: connection refused) is
/// named with the URL, and `--format json` carries the same checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_the_cause_and_speaks_json() {
    let aws = FakeIncidentManager::start(&["Payments"]).await;
    let closed = super::helpers::CLOSED;
    let path = std::env::temp_dir().join(format!("incident-bot-unreachable-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        format!(
            "[discord]\napi_url = \"http://{closed}\"\n[aws]\nregion = \"{}\"\nendpoint_url = \"{}\"\n",
            fim::REGION,
            aws.url
        ),
    )
    .unwrap();
    let (code, stdout, _) = run(&mut bot(&["check", "--config", path.to_str().unwrap()], Some(TOKEN), true)).await;
    assert_eq!(code, 1);
    let line = stdout.lines().find(|l| l.starts_with("✘ Discord token:")).unwrap();
    assert!(line.contains(&format!("could not reach Discord at http://{closed}/api/v10: ")), "{line}");
    assert!(line.to_lowercase().contains("connection refused"), "{line}");
    assert!(line.ends_with("Fix: check the network, or [discord] api_url in config.toml"), "{line}");

    let (code, stdout, _) =
        run(&mut bot(&["check", "--config", path.to_str().unwrap(), "--format", "json"], Some(TOKEN), true)).await;
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["failed"], 1);
    let token = report["checks"].as_array().unwrap().iter().find(|c| c["check"] == "Discord token").unwrap();
    assert_eq!(token["status"], "fail");
    assert!(token["summary"].as_str().unwrap().contains("could not reach Discord"), "{token}");
    assert_eq!(token["fix"], "check the network, or [discord] api_url in config.toml");
}

/// `check | head -1`: when the reader of stdout is gone, the program ends
/// quietly (exit 141, as `SIGPIPE` would), in every subcommand. Here the
/// pipe is closed before the program writes anything, so every write fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_the_program_quietly() {
    let (discord, aws) = (FakeDiscord::start(TOKEN).await, FakeIncidentManager::start(&["Payments"]).await);
    let path = config(&discord, &aws, "");
    let path = path.to_str().unwrap();
    for args in [
        vec!["check", "--config", path],
        vec!["invite", "--application-id", "42"],
        vec!["declare", "--config", path, "--plan", "payments", "--dry-run"],
        vec!["register", "--config", path],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        // (Not `output()`: it would replace stdout with a pipe of its own.)
        let child = bot(&args, Some(TOKEN), true).stdout(writer).stderr(std::process::Stdio::piped()).spawn().unwrap();
        let out = tokio::time::timeout(super::WAIT, child.wait_with_output()).await.unwrap().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

/// The bot's membership and permissions in each configured server and
/// channel, computed from its roles and the channel's overwrites, with the
/// invite URL that fixes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_missing_permissions_per_server_and_channel() {
    const CHANNEL: u64 = 900_000_000_000_000_777;
    const ROLE: u64 = 900_000_000_000_000_555;
    let (discord, aws) = (FakeDiscord::start(TOKEN).await, FakeIncidentManager::start(&["Payments"]).await);
    // View Channel, Send Messages, Embed Links, Read Message History: no
    // threads, reactions or files.
    discord.set_bot_permissions(84_992, &[ROLE]);
    // @everyone may not send in the channel; the bot's role may view but not embed.
    discord.add_channel(
        CHANNEL,
        serde_json::json!([
            {"id": GUILD_ID.to_string(), "type": 0, "allow": "0", "deny": "2048"},
            {"id": ROLE.to_string(), "type": 0, "allow": "1024", "deny": "16384"}
        ]),
    );
    let path = config(&discord, &aws, "");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("[discord]\n", &format!("[discord]\nguild_ids = [{GUILD_ID}, 900000000000000999]\n"))
        + &format!("[access]\nallowed_channel_ids = [{CHANNEL}]\n");
    std::fs::write(&path, text).unwrap();
    let (code, stdout, _) = run(&mut bot(&["check", "--config", path.to_str().unwrap()], Some(TOKEN), true)).await;
    assert_eq!(code, 1, "{stdout}");
    let invite = format!(
        "https://discord.com/oauth2/authorize?client_id={APP_ID}&scope=bot+applications.commands&permissions=309237763136"
    );
    let expected = [
        format!(
            "✘ Discord server: Test server ({GUILD_ID}): the bot lacks Add Reactions, Attach Files, Create Public \
             Threads, Send Messages in Threads. \
             Fix: grant them to the bot's role (Server Settings → Roles, or the channel's permissions), or invite it again: {invite}"
        ),
        format!("✘ Discord server: 900000000000000999: the bot is not a member. Fix: invite it: {invite}"),
        format!(
            "✘ Discord channel: #channel-{CHANNEL} ({CHANNEL}): the bot lacks Add Reactions, Send Messages, Embed \
             Links, Attach Files, Create Public Threads, Send Messages in Threads. Fix: grant them to the bot's role (Server Settings → Roles, or the \
             channel's permissions), or invite it again: {invite}"
        ),
    ];
    for line in &expected {
        assert!(stdout.lines().any(|l| l == line), "missing\n{line}\nin\n{stdout}");
    }
}

/// `invite` prints the URL for this application with the permissions the
/// enabled features need.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_prints_the_computed_url() {
    let (discord, aws) = (FakeDiscord::start(TOKEN).await, FakeIncidentManager::start(&["Payments"]).await);
    let path = config(&discord, &aws, "");
    let (code, stdout, stderr) =
        run(&mut bot(&["invite", "--config", path.to_str().unwrap()], Some(TOKEN), false)).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout.lines().next().unwrap(),
        format!(
            "https://discord.com/oauth2/authorize?client_id={APP_ID}&scope=bot+applications.commands&permissions=309237763136"
        )
    );
    assert!(stdout.contains("- Create Public Threads: to open the incident's thread"), "{stdout}");
    // Without threads, no thread permissions; no token needed with the id.
    let text = std::fs::read_to_string(&path).unwrap();
    let path2 = path.with_extension("nothreads.toml");
    std::fs::write(&path2, text.replace("[incident.plans]", "[incident]\ncreate_thread = false\n[incident.plans]"))
        .unwrap();
    let (code, stdout, stderr) =
        run(&mut bot(&["invite", "--config", path2.to_str().unwrap(), "--application-id", "42"], None, false)).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout.lines().next().unwrap(),
        "https://discord.com/oauth2/authorize?client_id=42&scope=bot+applications.commands&permissions=117824"
    );
}

/// `declare` speaks to the terminal: each cause in its own words, with its
/// own exit code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declare_names_the_cause_with_its_exit_code() {
    let (discord, aws) = (FakeDiscord::start(TOKEN).await, FakeIncidentManager::start(&["Payments"]).await);
    let path = config(&discord, &aws, "");
    let declare = ["declare", "--config", path.to_str().unwrap(), "--plan", "payments", "--title", "x"];

    // No region.
    let no_region = path.with_extension("noregion.toml");
    std::fs::write(
        &no_region,
        std::fs::read_to_string(&path).unwrap().replace(&format!("region = \"{}\"\n", fim::REGION), ""),
    )
    .unwrap();
    let mut args = declare;
    args[2] = no_region.to_str().unwrap();
    let (code, _, stderr) = run(&mut bot(&args, None, true)).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr
            .starts_with("incident-bot: No AWS region is set: set `region` under [aws] in config.toml, or AWS_REGION"),
        "{stderr}"
    );

    // No credentials.
    let (code, _, stderr) = run(&mut bot(&declare, None, false)).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.starts_with("incident-bot: No AWS credentials were found: set AWS_ACCESS_KEY_ID"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // Refused by AWS: our meaning, then AWS's own words.
    aws.push_faults([super::fake_incident_manager::Fault::Error(
        400,
        "AccessDeniedException",
        "User: arn:aws:iam::111122223333:user/oncall is not authorized to perform: ssm-incidents:StartIncident",
    )]);
    let (code, _, stderr) = run(&mut bot(&declare, None, true)).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("An operator must grant `ssm-incidents:StartIncident`"), "{stderr}");
    assert!(stderr.trim_end().ends_with("AWS said: User: arn:aws:iam::111122223333:user/oncall is not authorized to perform: ssm-incidents:StartIncident"), "{stderr}");

    // Unreachable: the endpoint and the operating system's error.
    let closed = super::helpers::CLOSED;
    let unreachable = path.with_extension("unreachable.toml");
    std::fs::write(
        &unreachable,
        std::fs::read_to_string(&path).unwrap().replace(&aws.url, &format!("http://{closed}")),
    )
    .unwrap();
    args[2] = unreachable.to_str().unwrap();
    let (code, _, stderr) = run(&mut bot(&args, None, true)).await;
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.starts_with(&format!("incident-bot: Could not reach Incident Manager at http://{closed}: ")),
        "{stderr}"
    );
    assert!(stderr.to_lowercase().contains("connection refused"), "{stderr}");

    // RUST_LOG works here as for `run`.
    let (_, _, stderr) = run(bot(&args, None, true).env("RUST_LOG", "warn")).await;
    assert!(stderr.contains("AWS call failed"), "{stderr}");
}

/// In HTTP mode `check` compares `[interactions] public_key` with the
/// application's own key: the right one passes, another fails with the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_compares_the_endpoint_public_key_with_the_applications() {
    let (discord, aws) = (FakeDiscord::start(TOKEN).await, FakeIncidentManager::start(&["Payments"]).await);
    let right = format!(
        "[interactions]\nlisten = \"127.0.0.1:8080\"\npublic_key = \"{}\"",
        super::fake_discord::public_key_hex()
    );
    let path = config(&discord, &aws, "");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}{right}\n")).unwrap();
    let (code, stdout, _) = run(&mut bot(&["check", "--config", path.to_str().unwrap()], Some(TOKEN), true)).await;
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.lines().any(|l| l
            == "✔ Interactions endpoint: the public key is the application's; Discord should POST to \
                https://<your host>/interactions (served on 127.0.0.1:8080)"),
        "{stdout}"
    );
    std::fs::write(
        &path,
        format!("{text}[interactions]\nlisten = \"127.0.0.1:8080\"\npublic_key = \"{}\"\n", "cd".repeat(32)),
    )
    .unwrap();
    let (code, stdout, _) = run(&mut bot(&["check", "--config", path.to_str().unwrap()], Some(TOKEN), true)).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.lines().any(|l| l
            == format!(
                "✘ Interactions endpoint: [interactions] public_key is not the public key of incident-bot ({APP_ID}). \
                 Fix: copy it from the Developer Portal, General Information → Public Key"
            )),
        "{stdout}"
    );
}

/// An IAM Identity Center profile, as `aws sso login` leaves it on a laptop
/// (the profile, its sso-session, the cached access token): `declare`
/// gets the role's credentials from the SSO portal and signs with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declare_works_with_an_iam_identity_center_profile() {
    use super::http::{Resp, serve};
    use std::sync::{Arc, Mutex};
    let aws = FakeIncidentManager::start(&["Payments"]).await;
    // What the portal was asked, with the bearer token it was shown.
    type Asked = Arc<Mutex<Vec<(String, Option<String>)>>>;
    let asked: Asked = Arc::default();
    let portal = serve({
        let asked = asked.clone();
        move |req| {
            let asked = asked.clone();
            async move {
                let token = req.header("x-amz-sso_bearer_token").map(str::to_owned);
                asked.lock().unwrap().push((format!("{} {}?{}", req.method, req.path, req.query), token.clone()));
                if req.path != "/federation/credentials" || token.as_deref() != Some("cached-sso-access-token") {
                    return Resp::json(401, &serde_json::json!({"message": "Session token not found or invalid"}))
                        .with_header("x-amzn-errortype", "UnauthorizedException");
                }
                let expiration = (std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as u64;
                Resp::json(
                    200,
                    &serde_json::json!({"roleCredentials": {
                    "accessKeyId": fim::ACCESS_KEY, "secretAccessKey": fim::SECRET_KEY,
                    "sessionToken": "sso-session-token", "expiration": expiration}}),
                )
            }
        }
    })
    .await;
    let home = std::env::temp_dir().join(format!("incident-bot-sso-{}-{}", std::process::id(), portal.port()));
    std::fs::create_dir_all(home.join(".aws/sso/cache")).unwrap();
    std::fs::write(
        home.join(".aws/config"),
        format!(
            "[profile oncall]\nsso_session = my-sso\nsso_account_id = 111122223333\nsso_role_name = IncidentResponder\n\
             region = {}\n\n[sso-session my-sso]\nsso_start_url = https://example.awsapps.com/start\nsso_region = {}\n",
            fim::REGION,
            fim::REGION
        ),
    )
    .unwrap();
    // The cache file is named by the SHA-1 of the session's name ("my-sso").
    std::fs::write(
        home.join(".aws/sso/cache/0ad374308c5a4e22f723adf10145eafad7c4031c.json"),
        serde_json::json!({"accessToken": "cached-sso-access-token", "expiresAt": "2099-01-01T00:00:00Z",
            "region": fim::REGION, "startUrl": "https://example.awsapps.com/start"})
        .to_string(),
    )
    .unwrap();
    let config = std::env::temp_dir().join(format!("incident-bot-sso-{}.toml", portal.port()));
    std::fs::write(&config, format!("[incident.plans]\npayments = \"{}\"\n", fim::plan_arn("Payments"))).unwrap();

    let mut cmd = bot(
        &["declare", "--config", config.to_str().unwrap(), "--plan", "payments", "--title", "From a laptop"],
        None,
        false,
    );
    cmd.env("HOME", &home)
        .env("AWS_PROFILE", "oncall")
        .env("AWS_ENDPOINT_URL_SSO", format!("http://{portal}"))
        .env("AWS_ENDPOINT_URL_SSM_INCIDENTS", &aws.url);
    let (code, stdout, stderr) = run(&mut cmd).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let incidents = aws.incidents();
    assert_eq!(incidents.len(), 1);
    assert!(stdout.contains(&incidents[0].1), "{stdout}");
    let asked = asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        [(
            "GET /federation/credentials?role_name=IncidentResponder&account_id=111122223333".to_owned(),
            Some("cached-sso-access-token".to_owned())
        )]
    );
    let start = &aws.requests("StartIncident")[0];
    let header = |k: &str| start.headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(header("x-amz-security-token").as_deref(), Some("sso-session-token"));
    assert!(header("authorization").unwrap().contains(&format!("Credential={}/", fim::ACCESS_KEY)));
}
