//! Several replicas sharing one DynamoDB store (moto's server, the real
//! DynamoDB protocol on loopback): the store's contract, `store init`, and
//! two bot binaries behind one "load balancer" (the fake Discord, posting
//! to either endpoint) acting as one bot.

use serde_json::{Value, json};
use tokio::process::{Child, Command};

use super::binary::{Log, bot, temp_file, with_aws_keys};
use super::fake_discord::{self, Event, FakeDiscord};
use super::fake_incident_manager::{self as fim, FakeIncidentManager};
use super::helpers::{Moto, TOKEN, embed, field, moto, opt, sdk_at, unique};
use incident_bot::store::{contract, dynamodb::DynamoStore};

/// A table name of its own for one test.
fn table() -> String {
    unique("incident-bot-it")
}

/// The DynamoDB store does what every store does, on the real protocol;
/// `init` twice is once, and a bot whose table is missing is told to run it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_store_keeps_the_store_contract() {
    let Some(moto) = moto().await else { return };
    let store = DynamoStore::new(&sdk_at(&moto.url).await, &table());
    let missing = store.verify().await.unwrap_err();
    assert!(missing.0.ends_with("does not exist: create it with `incident-bot store init`"), "{missing}");
    let first = store.init().await.unwrap();
    assert!(first[0].starts_with("created the table"), "{first:?}");
    assert_eq!(first[1], "turned TTL on (expires_at)");
    let again = store.init().await.unwrap();
    assert!(again[0].ends_with("exists") && again[1] == "TTL is on (expires_at)", "{again:?}");
    contract::store(&store).await;
    contract::coordinator(&store).await;
}

/// Two uses counted at the same moment by two replicas: the conditional
/// write lets one through per free slot, never both into the last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_counted_by_many_at_once_never_overflows() {
    use incident_bot::domain::limits::Window;
    use incident_bot::store::Coordinator;
    let Some(moto) = moto().await else { return };
    let store = DynamoStore::new(&sdk_at(&moto.url).await, &table());
    store.init().await.unwrap();
    let window = Window { max: 3, window: std::time::Duration::from_secs(60) };
    let now = incident_bot::sync::now_ms();
    let tries = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.acquire(&[("decl:user:1".to_owned(), window)], now).await.unwrap() })
    });
    let answers = futures_util::future::join_all(tries).await;
    let admitted = answers.iter().filter(|a| a.as_ref().unwrap().is_none()).count();
    assert_eq!(admitted, 3, "{answers:?}");
}

/// One bot binary in HTTP mode on the shared table.
struct Replica {
    child: Child,
    log: Log,
    endpoint: String,
    health: u16,
}

impl Replica {
    async fn start(config: &std::path::Path, moto: &Moto, table: &str, aws: &FakeIncidentManager) -> Self {
        let mut cmd = bot(&["run", "--config", config.to_str().unwrap()]);
        with_aws_keys(
            cmd.env("DISCORD_TOKEN", TOKEN)
                .env("INCIDENT_BOT_DISCORD_PUBLIC_KEY", fake_discord::public_key_hex())
                .env("INCIDENT_BOT_INTERACTIONS_LISTEN", "127.0.0.1:0")
                .env("INCIDENT_BOT_LISTEN", "127.0.0.1:0")
                .env("INCIDENT_BOT_STORE_DYNAMODB_TABLE", table)
                .env("AWS_REGION", fim::REGION)
                .env("AWS_ENDPOINT_URL_SSM_INCIDENTS", &aws.url)
                .env("AWS_ENDPOINT_URL_DYNAMODB", &moto.url),
        );
        let mut child = cmd.spawn().unwrap();
        let mut log = Log::of(&mut child);
        let ready = log.wait_for("ready: serving").await;
        assert!(ready.contains(&format!("store DynamoDB table {table} (shared by replicas)")), "{ready}");
        let (Some(endpoint), Some(health)) = super::binary::ready_addresses(&ready) else { panic!("{ready}") };
        Self { child, log, endpoint, health }
    }

    async fn metrics(&self) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.health);
        String::from_utf8(fake_discord::send("GET", &url, &[], vec![]).await.2).unwrap()
    }

    async fn kill(mut self) {
        let pid = self.child.id().unwrap().to_string();
        assert!(Command::new("kill").args(["-KILL", &pid]).status().await.unwrap().success());
        self.child.wait().await.unwrap();
    }

    async fn stop(mut self) {
        let pid = self.child.id().unwrap().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
        assert_eq!(self.child.wait().await.unwrap().code(), Some(0));
    }
}

/// The fakes, moto, an initialised table, and the config both replicas run.
async fn deployment(extra: &str) -> Option<(FakeDiscord, FakeIncidentManager, Moto, String, std::path::PathBuf)> {
    let moto = moto().await?;
    let discord = FakeDiscord::start(TOKEN).await;
    let aws = FakeIncidentManager::start(&["Payments"]).await;
    let table = table();
    // `store init` as an operator runs it, twice: the second changes nothing.
    for expected in ["created the table", "the table"] {
        let mut init = bot(&["store", "init"]);
        with_aws_keys(
            init.env("INCIDENT_BOT_STORE_DYNAMODB_TABLE", &table)
                .env("AWS_REGION", fim::REGION)
                .env("AWS_ENDPOINT_URL_DYNAMODB", &moto.url),
        );
        let out = init.output().await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.starts_with(expected),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.ends_with(&format!("the shared store is ready: DynamoDB table {table}\n")), "{stdout}");
    }
    let config = temp_file(&format!(
        "[discord]\nguild_ids = [{}]\napi_url = \"{}\"\n[incident.plans]\npayments = \"{}\"\n\
         [limits]\nshutdown_grace_secs = 1\n{extra}",
        fake_discord::GUILD_ID,
        discord.api_url,
        fim::plan_arn("Payments")
    ));
    Some((discord, aws, moto, table, config))
}

/// How the endpoint answered `interaction`'s delivery without a callback
/// (204: nothing to answer), if it did.
fn endpoint_answers(s: &fake_discord::State, interaction: u64) -> Vec<u16> {
    s.events
        .iter()
        .filter_map(|e| match e {
            Event::EndpointAnswer { interaction: i, status, .. } if *i == interaction => Some(*status),
            _ => None,
        })
        .collect()
}

/// Two replicas are one bot: an interaction delivered to both starts one
/// incident and gets one answer; the cooldown counts across them; a
/// message put on the timeline through one is known to the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_answer_once_and_count_together() {
    let Some((discord, aws, moto, table, config)) =
        deployment("per_user = 1\nper_user_window_secs = 600\n[sync]\ninterval_secs = 0\n").await
    else {
        return;
    };
    let a = Replica::start(&config, &moto, &table, &aws).await;
    let b = Replica::start(&config, &moto, &table, &aws).await;

    // Delivered to A, and at once again to B.
    let d = fake_discord::incident_command(json!([opt("plan", "payments"), opt("title", "Checkout down")]));
    let id = discord.dispatch_interaction_to(d, &a.endpoint).await;
    discord.redeliver_to(id, &b.endpoint);
    let edit = discord.wait_edit(id, 2).await;
    assert_eq!(embed(&edit)["title"], "🚨 Checkout down");
    let answers = discord
        .wait_for("the other replica's answer", |s| {
            (s.callbacks(id).len() + endpoint_answers(s, id).len() == 2).then(|| endpoint_answers(s, id))
        })
        .await;
    assert_eq!(answers, [204], "the second delivery is answered with nothing");
    assert_eq!(discord.with_state(|s| s.callbacks(id).len()), 1, "one answer");
    assert_eq!(aws.requests("StartIncident").len(), 1, "one incident");
    let arn = aws.incidents()[0].1.clone();
    let thread: u64 = field(embed(&edit), "Thread").trim_start_matches("<#").trim_end_matches('>').parse().unwrap();

    // The same user again, through B: the cooldown A counted holds.
    let d = fake_discord::incident_command(json!([opt("plan", "payments"), opt("title", "Again")]));
    let again = discord.dispatch_interaction_to(d, &b.endpoint).await;
    let (refusal, _) = discord.wait_callback(again).await;
    assert_eq!(refusal["data"]["flags"], 64, "private: {refusal:#}");
    assert!(refusal["data"]["content"].as_str().unwrap().starts_with("⏳"), "{refusal:#}");
    assert_eq!(aws.requests("StartIncident").len(), 1);

    // A message in the incident's thread, put on the timeline through A,
    // then through B: B finds the incident A homed, and knows the message.
    let msg = fake_discord::user_message(777, thread, (555, "bob"), "CPU pegged on checkout-7", json!([]));
    let cmd = fake_discord::in_channel(fake_discord::message_command(&msg), thread, Some(fake_discord::CHANNEL_ID));
    let first = discord.dispatch_interaction_to(cmd.clone(), &a.endpoint).await;
    let added = discord.wait_edit(first, 1).await;
    assert_eq!(added["content"], format!("✅ Added to the timeline of `{arn}`, with its author and time."));
    let second = discord.dispatch_interaction_to(cmd, &b.endpoint).await;
    let known = discord.wait_edit(second, 1).await;
    assert_eq!(known["content"], format!("This message is already on the timeline of `{arn}`."));
    let events: Vec<Value> = aws.requests("CreateTimelineEvent").into_iter().map(|r| r.body).collect();
    let from_message = events.iter().filter(|e| e["clientToken"] == "discord-message-777").count();
    assert_eq!(from_message, 1, "{events:#?}");
    assert!(discord.rejected().is_empty(), "{:#?}", discord.rejected());
    a.stop().await;
    b.stop().await;
}

/// One replica mirrors at a time (the lease, on /metrics); killed, another
/// takes the mirror over and goes on from the shared checkpoint: every
/// change reaches the thread once, none twice, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirror_moves_to_another_replica_when_its_holder_dies() {
    let Some((discord, aws, moto, table, config)) = deployment("[sync]\ninterval_secs = 1\n").await else { return };
    let mut a = Replica::start(&config, &moto, &table, &aws).await;
    let mut b = Replica::start(&config, &moto, &table, &aws).await;
    let d = fake_discord::incident_command(json!([opt("plan", "payments")]));
    let id = discord.dispatch_interaction_to(d, &a.endpoint).await;
    let edit = discord.wait_edit(id, 2).await;
    let thread: u64 = field(embed(&edit), "Thread").trim_start_matches("<#").trim_end_matches('>').parse().unwrap();
    let arn = aws.incidents()[0].1.clone();

    // Exactly one holds the lease.
    const HOLDS: &str = "mirroring Incident Manager: this replica holds the lease";
    let a_leads = tokio::select! {
        _ = a.log.wait_for(HOLDS) => true,
        _ = b.log.wait_for(HOLDS) => false,
    };
    let (leader, other) = if a_leads { (a, b) } else { (b, a) };
    assert!(leader.metrics().await.contains("incident_bot_mirror_leader 1"));
    assert!(other.metrics().await.contains("incident_bot_mirror_leader 0"));
    let shown = |text: &str| {
        let text = text.to_owned();
        discord.with_state(move |s| s.posts_in(thread).iter().filter(|p| p.contains(&text)).count())
    };
    aws.event_elsewhere(&arn, "Custom Event", "\"before the crash\"");
    discord
        .wait_for("the change before the crash", |s| {
            s.posts_in(thread).iter().any(|p| p.contains("before the crash")).then_some(())
        })
        .await;

    // The holder dies without a word; the change made meanwhile is shown
    // by the other once the lease is up.
    leader.kill().await;
    aws.event_elsewhere(&arn, "Custom Event", "\"after the crash\"");
    let mut other = other;
    other.log.wait_for(HOLDS).await;
    discord
        .wait_for("the change after the crash", |s| {
            s.posts_in(thread).iter().any(|p| p.contains("after the crash")).then_some(())
        })
        .await;
    let m = other.metrics().await;
    assert!(m.contains("incident_bot_mirror_leader 1"), "{m}");
    // The change it showed, with how late.
    let shown_lags: f64 = m
        .lines()
        .find_map(|l| l.strip_prefix("incident_bot_mirror_lag_seconds_count "))
        .and_then(|v| v.split(' ').next()?.parse().ok())
        .unwrap_or(0.0);
    assert!(shown_lags >= 1.0, "{m}");
    // Two more looks change nothing.
    let looks = aws.requests("ListTimelineEvents").len();
    aws.wait_requests("ListTimelineEvents", looks + 2).await;
    assert_eq!((shown("before the crash"), shown("after the crash")), (1, 1));
    assert!(discord.rejected().is_empty(), "{:#?}", discord.rejected());
    other.stop().await;
}

/// `check` reports the shared table, and the bot does not start without it:
/// both name `store init`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_named_with_its_fix() {
    let Some(moto) = moto().await else { return };
    let discord = FakeDiscord::start(TOKEN).await;
    let table = table();
    let shared = |cmd: &mut Command| {
        with_aws_keys(
            cmd.env("DISCORD_TOKEN", TOKEN)
                .env("INCIDENT_BOT_DISCORD_API_URL", &discord.api_url)
                .env("INCIDENT_BOT_STORE_DYNAMODB_TABLE", &table)
                .env("AWS_REGION", fim::REGION)
                .env("AWS_ENDPOINT_URL_DYNAMODB", &moto.url),
        );
    };
    let store_line = |stdout: &str| stdout.lines().find(|l| l.contains(" store: ")).unwrap_or_default().to_owned();
    let mut check = bot(&["check"]);
    shared(&mut check);
    let out = check.output().await.unwrap();
    assert_eq!(
        store_line(&String::from_utf8_lossy(&out.stdout)),
        format!(
            "✘ store: DynamoDB table {table} cannot be used (cause: the DynamoDB table {table} does not exist: create \
             it with `incident-bot store init`). Fix: run `incident-bot store init`, and allow the bot's role the \
             table's actions (docs/replicas.md)"
        )
    );
    let mut run = bot(&["run"]);
    shared(&mut run);
    let out = run.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.trim_end().ends_with(&format!(
            "the shared store ([store] dynamodb_table) cannot be used: the DynamoDB table {table} does not exist: \
             create it with `incident-bot store init`"
        )),
        "{stderr}"
    );
    DynamoStore::new(&sdk_at(&moto.url).await, &table).init().await.unwrap();
    let mut check = bot(&["check"]);
    shared(&mut check);
    let out = check.output().await.unwrap();
    assert_eq!(
        store_line(&String::from_utf8_lossy(&out.stdout)),
        format!("✔ store: DynamoDB table {table} (shared; 0 incidents followed)")
    );
}
