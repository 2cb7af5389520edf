//! `incident-bot check` and `incident-bot declare`, run as an operator would.

use serde_json::Value;
use tokio::process::Command;

use super::fake_discord::{APP_ID, FakeDiscord};
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
    let (code, stdout, stderr) = run(&mut bot(&["check", "--config", path.to_str().unwrap()], Some(TOKEN), true)).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let expected = [
        format!("✔ config: {} (2 response plan aliases)", path.display()),
        format!("✔ AWS region: {}", fim::REGION),
        "✔ AWS credentials: found (access key AKID…)".to_owned(),
        "✔ Incident Manager: ListResponsePlans listed 2 response plans".to_owned(),
        format!("✔ plan alias payments → {} (Payments team)", fim::plan_arn("Payments")),
        format!("✔ plan alias search → {} (Search team)", fim::plan_arn("Search")),
        format!("✔ Discord token: accepted, the bot is incident-bot ({APP_ID})"),
        "all checks passed".to_owned(),
    ];
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_each_failure_and_exits_1() {
    let (discord, aws) = (FakeDiscord::start(TOKEN).await, FakeIncidentManager::start(&["Payments"]).await);
    let path = config(&discord, &aws, "ghost = \"arn:aws:ssm-incidents::111122223333:response-plan/Ghost\"");
    let (code, stdout, _) =
        run(&mut bot(&["check", "--config", path.to_str().unwrap()], Some("wrong-token"), false)).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("✘ AWS credentials: none found in the SDK's default chain"), "{stdout}");
    assert!(stdout.contains("✘ Discord token: rejected by Discord (401)"), "{stdout}");
    assert!(stdout.ends_with("check(s) failed\n"), "{stdout}");

    let (code, stdout, _) = run(&mut bot(&["check", "--config", path.to_str().unwrap()], Some(TOKEN), true)).await;
    assert_eq!(code, 1);
    assert!(
        stdout.contains(&format!(
            "✘ plan alias ghost → {}: no such response plan in this account and region",
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
        format!("registered /incident, /incident-update for incident-bot ({APP_ID}) in every server (global commands)")
    );
    let body = discord.wait_commands().await;
    let names: Vec<&str> = body.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["incident", "incident-update"]);
    assert_eq!(discord.gateway_sessions(), 0, "no gateway connection");
    assert!(discord.rejected().is_empty(), "{:#?}", discord.rejected());

    let (code, _, stderr) =
        run(&mut bot(&["register", "--config", path.to_str().unwrap()], Some("wrong"), false)).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("rejected by Discord (401)"), "{stderr}");
}
