//! The Lambda build end to end, offline: the real binary started as Lambda
//! starts it (no command, `AWS_LAMBDA_RUNTIME_API` set), polling the fake
//! Runtime API; Discord POSTing signed interactions to the fake Function
//! URL; the work finished in an asynchronous invocation of the function
//! itself, through the real SDK's `Invoke`; the token from moto's Secrets
//! Manager (and SSM Parameter Store); the store on moto's DynamoDB.

use serde_json::{Value, json};
use tokio::process::{Child, Command};

use super::binary::{Log, bot, temp_file, with_aws_keys};
use super::fake_discord::{self, FakeDiscord};
use super::fake_incident_manager::{self as fim, FakeIncidentManager};
use super::fake_lambda::{self as fl, FakeLambda, Source};
use super::helpers::{Moto, TOKEN, embed, field, moto, opt, unique};

/// One of the moto's JSON-protocol calls (moto does not check signatures;
/// the credential scope names the service).
async fn moto_call(moto: &Moto, service: &str, target: &str, body: Value) -> Value {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={}/20261203/{}/{service}/aws4_request, SignedHeaders=host, Signature=00",
        fim::ACCESS_KEY,
        fim::REGION
    );
    let headers = [
        ("x-amz-target", target.to_owned()),
        ("content-type", "application/x-amz-json-1.1".to_owned()),
        ("authorization", auth),
    ];
    let (status, _, out) =
        fake_discord::send("POST", &format!("{}/", moto.url), &headers, body.to_string().into_bytes()).await;
    assert_eq!(status, 200, "{target}: {}", String::from_utf8_lossy(&out));
    serde_json::from_slice(&out).unwrap()
}

/// A Secrets Manager secret holding the token as the console's key/value
/// form writes it; its ARN.
async fn token_secret(moto: &Moto) -> String {
    let name = unique("incident-bot-token");
    let secret = json!({ "token": TOKEN }).to_string();
    let out = moto_call(
        moto,
        "secretsmanager",
        "secretsmanager.CreateSecret",
        json!({ "Name": name, "SecretString": secret }),
    )
    .await;
    out["ARN"].as_str().unwrap().to_owned()
}

/// An SSM SecureString parameter holding the token; its ARN.
async fn token_parameter(moto: &Moto) -> String {
    let name = format!("/incident-bot/{}", unique("token"));
    let body = json!({ "Name": name, "Value": TOKEN, "Type": "SecureString" });
    moto_call(moto, "ssm", "AmazonSSM.PutParameter", body).await;
    format!("arn:aws:ssm:{}:123456789012:parameter{name}", fim::REGION)
}

/// The fakes, moto with an initialised table and the token's secret, and
/// the config file packaged with the function.
struct Deployment {
    discord: FakeDiscord,
    aws: FakeIncidentManager,
    lambda: FakeLambda,
    moto: Moto,
    table: String,
    secret: String,
    config: std::path::PathBuf,
}

async fn deployment() -> Option<Deployment> {
    let moto = moto().await?;
    let discord = FakeDiscord::start(TOKEN).await;
    let aws = FakeIncidentManager::start(&["Payments"]).await;
    let lambda = FakeLambda::start().await;
    let table = unique("incident-bot-lambda");
    let mut init = bot(&["store", "init"]);
    with_aws_keys(
        init.env("INCIDENT_BOT_STORE_DYNAMODB_TABLE", &table)
            .env("AWS_REGION", fim::REGION)
            .env("AWS_ENDPOINT_URL_DYNAMODB", &moto.url),
    );
    assert!(init.output().await.unwrap().status.success());
    let secret = token_secret(&moto).await;
    let config = temp_file(&format!(
        "[discord]\nguild_ids = [{}]\napi_url = \"{}\"\n[incident.plans]\npayments = \"{}\"\n\
         [limits]\nper_user = 1\nper_user_window_secs = 600\n",
        fake_discord::GUILD_ID,
        discord.api_url,
        fim::plan_arn("Payments")
    ));
    Some(Deployment { discord, aws, lambda, moto, table, secret, config })
}

impl Deployment {
    /// The environment Lambda gives the function, and the template's.
    fn env(&self, cmd: &mut Command) {
        with_aws_keys(
            cmd.env("AWS_LAMBDA_RUNTIME_API", &self.lambda.runtime_api)
                .env("AWS_LAMBDA_FUNCTION_NAME", fl::FUNCTION)
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_REGION", fim::REGION)
                .env("INCIDENT_BOT_CONFIG", &self.config)
                .env("INCIDENT_BOT_DISCORD_PUBLIC_KEY", fake_discord::public_key_hex())
                .env("INCIDENT_BOT_STORE_DYNAMODB_TABLE", &self.table)
                .env("AWS_ENDPOINT_URL_SSM_INCIDENTS", &self.aws.url)
                .env("AWS_ENDPOINT_URL_DYNAMODB", &self.moto.url)
                .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &self.moto.url)
                .env("AWS_ENDPOINT_URL_SSM", &self.moto.url)
                .env("AWS_ENDPOINT_URL_LAMBDA", &self.lambda.invoke_url),
        );
    }

    /// The function's process, as Lambda starts it: no command.
    async fn start(&self) -> (Child, Log) {
        let mut cmd = bot(&[]);
        self.env(&mut cmd);
        cmd.env("DISCORD_TOKEN_ARN", &self.secret);
        let mut child = cmd.spawn().unwrap();
        let mut log = Log::of(&mut child);
        let read = log.wait_for("read the Discord token").await;
        assert!(read.contains(&self.secret) && !read.contains(TOKEN), "{read}");
        log.wait_for("ready: serving Discord interactions from the Lambda Function URL").await;
        (child, log)
    }

    /// Declares through the Function URL; the interaction's id, the
    /// incident's ARN and its thread.
    async fn declare(&self, title: &str) -> (u64, String, u64) {
        let before = self.aws.incidents().len();
        let d = fake_discord::incident_command(json!([opt("plan", "payments"), opt("title", title)]));
        let id = self.discord.dispatch_interaction_to(d, &self.lambda.function_url).await;
        let edit = self.discord.wait_edit(id, 2).await;
        assert_eq!(embed(&edit)["title"], format!("🚨 {title}"));
        let arn = self.aws.incidents()[before].1.clone();
        let thread = field(embed(&edit), "Thread").trim_start_matches("<#").trim_end_matches('>').parse().unwrap();
        (id, arn, thread)
    }

    /// The resumptions invoked so far, each with its response once given.
    async fn resumptions(&self, n: usize) -> Vec<fl::Invocation> {
        self.lambda
            .wait_for(&format!("{n} answered resumptions"), |s| {
                let done = s.from(Source::Async);
                (done.len() == n && done.iter().all(|i| i.response.is_some())).then_some(done)
            })
            .await
    }
}

async fn stop(mut child: Child) {
    let _ = child.start_kill();
    child.wait().await.unwrap();
}

/// The first answer is the Function URL's response, within Discord's 3 s;
/// the declaration finishes in the function's own asynchronous invocation,
/// once even when Lambda delivers that invocation twice; PING, bad
/// signatures and methods get the HTTP mode's answers; a refusal is
/// private, and nothing is handed over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declaration_answers_at_once_and_finishes_in_its_own_invocation() {
    let Some(d) = deployment().await else { return };
    let (child, _log) = d.start().await;

    let (status, content_type, body) =
        fake_discord::post_signed(&d.lambda.function_url, br#"{"type":1}"#.to_vec()).await;
    assert_eq!((status, content_type.as_str(), body.as_slice()), (200, "application/json", &br#"{"type":1}"#[..]));
    let forged = fake_discord::signature_headers(fake_discord::unix_now(), b"{}");
    let (status, _, _) = fake_discord::send("POST", &d.lambda.function_url, &forged, br#"{"type":1}"#.to_vec()).await;
    assert_eq!(status, 401, "a signature of another body");
    let old = fake_discord::signature_headers(fake_discord::unix_now() - 301, br#"{"type":1}"#);
    let (status, _, _) = fake_discord::send("POST", &d.lambda.function_url, &old, br#"{"type":1}"#.to_vec()).await;
    assert_eq!(status, 401, "a replay, signed more than 5 minutes ago");
    let (status, _, _) = fake_discord::send("GET", &d.lambda.function_url, &[], vec![]).await;
    assert_eq!(status, 405);

    let (id, arn, _) = d.declare("Checkout down").await;
    let (first, _) = d.discord.wait_callback(id).await;
    assert_eq!(first["type"], 5, "deferred in the Function URL's response: {first:#}");
    let resumed = d.resumptions(1).await;
    let resume = &resumed[0].payload["incident_bot"]["resume"];
    assert_eq!(resume["answer"]["type"], 5, "{resume:#}");
    assert_eq!(serde_json::from_str::<Value>(resume["interaction"].as_str().unwrap()).unwrap()["id"], id.to_string());
    assert_eq!(resumed[0].response, Some(json!({ "resumed": true })));
    let starts = d.aws.requests("StartIncident");
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0].body["clientToken"], format!("discord-interaction-{id}"), "{:#}", starts[0].body);
    assert_eq!(d.aws.incidents()[0].1, arn);

    // Lambda delivers an asynchronous invocation at least once: again.
    let edits = d.discord.with_state(|s| s.edits(id).len());
    let again = d.lambda.invoke(resumed[0].payload.clone());
    assert_eq!(d.lambda.wait_response(&again).await, json!({ "resumed": true }));
    assert_eq!(d.aws.requests("StartIncident").len(), 1, "one incident");
    assert_eq!(d.discord.with_state(|s| s.edits(id).len()), edits, "no second outcome");

    // A refusal is the whole answer: private, and nothing handed over. The
    // declaration counted once against `per_user = 1` (not again when its
    // resumption replayed the checks): the next one is refused.
    let long = "x".repeat(201);
    for (title, refusal) in [(long.as_str(), "⚠️"), ("Checkout down again", "⏳")] {
        let bad = fake_discord::incident_command(json!([opt("plan", "payments"), opt("title", title)]));
        let refused = d.discord.dispatch_interaction_to(bad, &d.lambda.function_url).await;
        let (answer, _) = d.discord.wait_callback(refused).await;
        assert_eq!(answer["type"], 4, "{answer:#}");
        assert_eq!(answer["data"]["flags"], 64, "private: {answer:#}");
        assert!(answer["data"]["content"].as_str().unwrap().starts_with(refusal), "{answer:#}");
    }
    d.lambda
        .wait_for("every Function URL request answered", |s| {
            s.from(Source::FunctionUrl).iter().all(|i| i.response.is_some()).then_some(())
        })
        .await;
    assert_eq!(d.lambda.with_state(|s| s.from(Source::Async).len()), 1, "the refusal handed nothing over");
    assert_eq!(d.aws.requests("StartIncident").len(), 1);

    assert!(d.discord.rejected().is_empty(), "{:#?}", d.discord.rejected());
    assert!(d.lambda.rejected().is_empty(), "{:#?}", d.lambda.rejected());
    stop(child).await;
}

/// The mirror as a schedule runs it (one pass per invocation) and as any
/// scheduler runs `incident-bot sync --once` (the token from Parameter
/// Store, this time); the commands registered by an invocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirror_runs_once_per_scheduled_invocation_and_from_the_terminal() {
    let Some(d) = deployment().await else { return };
    let (child, _log) = d.start().await;
    let (_, arn, thread) = d.declare("Latency up").await;
    d.resumptions(1).await;
    let posts = |text: &'static str| {
        move |s: &fake_discord::State| s.posts_in(thread).iter().filter(|p| p.contains(text)).count()
    };

    let first = d.lambda.invoke(json!({ "incident_bot": "sync" }));
    assert_eq!(d.lambda.wait_response(&first).await, json!({ "mirrored": true }));
    // Older than the replicas' settling time, newer than the checkpoint's overlap.
    d.aws.event_elsewhere_ago(&arn, "Custom Event", "\"from the schedule\"", 10);
    let second = d.lambda.invoke(json!({ "incident_bot": "sync" }));
    assert_eq!(d.lambda.wait_response(&second).await, json!({ "mirrored": true }));
    assert_eq!(d.discord.with_state(posts("from the schedule")), 1);

    d.aws.event_elsewhere_ago(&arn, "Custom Event", "\"from the terminal\"", 10);
    let mut once = bot(&["sync", "--once"]);
    d.env(&mut once);
    once.env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("INCIDENT_BOT_DISCORD_PUBLIC_KEY")
        .env("DISCORD_TOKEN_ARN", token_parameter(&d.moto).await);
    let out = once.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "mirrored Incident Manager into Discord (one pass)\n");
    assert_eq!(d.discord.with_state(posts("from the terminal")), 1);
    assert_eq!(d.discord.with_state(posts("from the schedule")), 1, "nothing twice");

    let register = d.lambda.invoke(json!({ "incident_bot": "register" }));
    assert_eq!(d.lambda.wait_response(&register).await["registered"], "incident-bot");
    let commands = d.discord.wait_commands().await;
    assert!(commands.as_array().unwrap().iter().any(|c| c["name"] == "incident"), "{commands:#}");

    assert!(d.discord.rejected().is_empty(), "{:#?}", d.discord.rejected());
    assert!(d.lambda.rejected().is_empty(), "{:#?}", d.lambda.rejected());
    stop(child).await;
}

/// What the function cannot run without is named, with exit code 2: the
/// token's secret, the table, Lambda's own environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_missing_a_part_names_it() {
    let Some(d) = deployment().await else { return };
    let wrong = d.secret.replace("incident-bot-token", "no-such-secret");
    let mut cmd = bot(&[]);
    d.env(&mut cmd);
    cmd.env("DISCORD_TOKEN_ARN", &wrong);
    let out = cmd.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot read the Discord token: Secrets Manager did not give the secret {wrong}")),
        "{stderr}"
    );
    assert!(stderr.contains("the role needs secretsmanager:GetSecretValue on it"), "{stderr}");

    let mut cmd = bot(&[]);
    d.env(&mut cmd);
    cmd.env("DISCORD_TOKEN_ARN", &d.secret).env_remove("INCIDENT_BOT_STORE_DYNAMODB_TABLE");
    let out = cmd.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot run on AWS Lambda: INCIDENT_BOT_STORE_DYNAMODB_TABLE is not set"), "{stderr}");

    let mut cmd = bot(&["lambda"]);
    cmd.env("DISCORD_TOKEN", TOKEN).env("INCIDENT_BOT_DISCORD_PUBLIC_KEY", fake_discord::public_key_hex());
    let out = cmd.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not started by AWS Lambda (AWS_LAMBDA_FUNCTION_NAME"), "{stderr}");
}
