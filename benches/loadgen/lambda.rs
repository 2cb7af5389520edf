//! The Lambda build (`deploy/lambda/package.sh`): its package's size, and
//! cold starts, each a fresh process started as Lambda starts it against
//! the fake Runtime API and Function URL, with the token in moto's Secrets
//! Manager and the store on moto's DynamoDB (as the template deploys it):
//! - to PONG: process start → the response to a signed PING posted to the
//!   Runtime API (the token read and the table checked first);
//! - to the deferral: process start → a declaration's first answer (also
//!   the interaction's claim in the table and the asynchronous invocation
//!   that finishes it);
//! - to the outcome: process start → the edit with the incident's ARN (the
//!   resumption's invocation done in the same process, as one execution
//!   environment would).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use super::fake_discord::{self, FakeDiscord};
use super::fake_incident_manager::{self as fim, FakeIncidentManager};
use super::fake_lambda::{self as fl, FakeLambda};
use super::{TOKEN, WAIT, start_moto};

#[derive(Default)]
pub struct LambdaReport {
    pub to_pong: Vec<Duration>,
    pub to_defer: Vec<Duration>,
    pub to_outcome: Vec<Duration>,
    /// The most any cold start's process held (VmHWM).
    pub peak_rss_kb: u64,
    pub binary_bytes: u64,
    pub zip_bytes: u64,
}

/// Builds the package as an operator does; (the binary, the zip).
pub fn package() -> (PathBuf, PathBuf) {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new("sh")
        .arg(format!("{root}/deploy/lambda/package.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("deploy/lambda/package.sh");
    assert!(out.status.success(), "deploy/lambda/package.sh failed");
    let zip = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    (PathBuf::from(root).join("target/lambda/release/incident-bot"), PathBuf::from(root).join(zip))
}

pub async fn cold_starts(n: usize, binary: &Path, zip: &Path, moto_bin: &Path) -> LambdaReport {
    let (_moto, moto_url) = start_moto(moto_bin).await;
    let discord = FakeDiscord::start(TOKEN).await;
    let aws = FakeIncidentManager::start(&["Payments"]).await;
    let dir = std::env::temp_dir().join(format!("loadgen-lambda-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let table = format!("loadgen-lambda-{}", std::process::id());
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[discord]\nguild_ids = [{}]\napi_url = \"{}\"\n[incident.plans]\npayments = \"{}\"\n",
            fake_discord::GUILD_ID,
            discord.api_url,
            fim::plan_arn("Payments")
        ),
    )
    .unwrap();
    let base = |c: &mut tokio::process::Command| {
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &dir)
            .env("AWS_ACCESS_KEY_ID", fim::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", fim::SECRET_KEY)
            .env("AWS_REGION", fim::REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL_DYNAMODB", &moto_url)
            .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &moto_url)
            .env("AWS_ENDPOINT_URL_SSM_INCIDENTS", &aws.url)
            .env("INCIDENT_BOT_STORE_DYNAMODB_TABLE", &table)
            .env("INCIDENT_BOT_CONFIG", &config)
            .env("RUST_LOG", std::env::var("LOADGEN_BOT_LOG").unwrap_or_else(|_| "warn".to_owned()));
    };
    let mut init = tokio::process::Command::new(binary);
    base(&mut init);
    let out = init.args(["store", "init"]).output().await.unwrap();
    assert!(out.status.success(), "store init: {}", String::from_utf8_lossy(&out.stderr));
    let secret = create_secret(&moto_url).await;

    let mut report = LambdaReport {
        binary_bytes: std::fs::metadata(binary).map(|m| m.len()).unwrap_or(0),
        zip_bytes: std::fs::metadata(zip).map(|m| m.len()).unwrap_or(0),
        ..LambdaReport::default()
    };
    let start = |lambda: &FakeLambda| {
        let mut c = tokio::process::Command::new(binary);
        base(&mut c);
        c.env("AWS_LAMBDA_RUNTIME_API", &lambda.runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", fl::FUNCTION)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_ENDPOINT_URL_LAMBDA", &lambda.invoke_url)
            .env("DISCORD_TOKEN_ARN", &secret)
            .env("INCIDENT_BOT_DISCORD_PUBLIC_KEY", fake_discord::public_key_hex())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        c
    };
    for i in 0..n {
        // A PING waiting at the Function URL when the process starts.
        let lambda = FakeLambda::start().await;
        let url = lambda.function_url.clone();
        let ping = br#"{"id":"1","application_id":"1","type":1,"token":"t","version":1}"#.to_vec();
        let pong = tokio::spawn(async move { fake_discord::post_signed(&url, ping).await });
        lambda.wait_for("the PING queued", |s| (!s.invocations.is_empty()).then_some(())).await;
        let started = Instant::now();
        let mut child = start(&lambda).spawn().unwrap();
        let (status, _, _) = tokio::time::timeout(WAIT, pong).await.expect("no PONG").unwrap();
        report.to_pong.push(started.elapsed());
        assert_eq!(status, 200, "the cold start's PING");
        report.peak_rss_kb = report.peak_rss_kb.max(super::rss_kb(child.id().unwrap(), "VmHWM:"));
        let _ = child.kill().await;

        // A declaration waiting when the process starts.
        let lambda = FakeLambda::start().await;
        let d = fake_discord::incident_command(json!([
            {"name": "plan", "type": 3, "value": "payments"},
            {"name": "title", "type": 3, "value": format!("Cold start {i}")}
        ]));
        // A responder each: the cold starts are not a burst from one user.
        let d = fake_discord::from_user(d, 7_000 + i as u64);
        let id = discord.dispatch_interaction_to(d, &lambda.function_url).await;
        lambda.wait_for("the declaration queued", |s| (!s.invocations.is_empty()).then_some(())).await;
        let started = Instant::now();
        let mut child = start(&lambda).spawn().unwrap();
        let (answer, _) = discord.wait_callback(id).await;
        report.to_defer.push(started.elapsed());
        assert_eq!(answer["type"], 5, "deferred: {answer}");
        discord.wait_edit(id, 2).await;
        report.to_outcome.push(started.elapsed());
        report.peak_rss_kb = report.peak_rss_kb.max(super::rss_kb(child.id().unwrap(), "VmHWM:"));
        let _ = child.kill().await;
    }
    assert_eq!(aws.incidents().len(), n, "one incident per cold start");
    report
}

/// The token's secret in moto (which checks no signature); its ARN.
async fn create_secret(moto: &str) -> String {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={}/20261203/{}/secretsmanager/aws4_request, SignedHeaders=host, Signature=00",
        fim::ACCESS_KEY,
        fim::REGION
    );
    let headers = [
        ("x-amz-target", "secretsmanager.CreateSecret".to_owned()),
        ("content-type", "application/x-amz-json-1.1".to_owned()),
        ("authorization", auth),
    ];
    let body = json!({ "Name": format!("loadgen-token-{}", std::process::id()), "SecretString": TOKEN });
    let (status, _, out) =
        fake_discord::send("POST", &format!("{moto}/"), &headers, body.to_string().into_bytes()).await;
    assert_eq!(status, 200, "CreateSecret: {}", String::from_utf8_lossy(&out));
    serde_json::from_slice::<serde_json::Value>(&out).unwrap()["ARN"].as_str().unwrap().to_owned()
}
