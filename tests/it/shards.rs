//! The sharded gateway (`[discord] shards`): each shard of the process
//! connected (IDENTIFY with `[id, total]`), each guild's interactions on its
//! shard, `/healthz` ready only once all of this process's shards are, and
//! the commands registered once for the bot, not once per shard.

use serde_json::{Value, json};

use super::fake_discord::{Event, FakeDiscord, GUILD_ID};
use super::fake_incident_manager::FakeIncidentManager;
use super::helpers::{TOKEN, TestApp, TestConfig, embed, opt, spawn_app_with, spawn_bot};

/// A guild on shard 0 of 2 (`GUILD_ID` is on shard 1: `(id >> 22) % 2`).
const OTHER_GUILD: u64 = GUILD_ID + (1 << 22);

fn shard_of(guild: u64, total: u64) -> u64 {
    (guild >> 22) % total
}

/// Declares from `guild`; returns the outcome as shown.
async fn declare_in(app: &TestApp, guild: u64, title: &str) -> Value {
    let mut d = super::fake_discord::incident_command(json!([opt("plan", "payments"), opt("title", title)]));
    d["guild_id"] = json!(guild.to_string());
    let id = app.discord.dispatch_interaction(d).await;
    app.discord.wait_edit(id, 1).await
}

fn registrations(app: &TestApp) -> Vec<Option<u64>> {
    app.discord.with_state(|s| {
        s.events
            .iter()
            .filter_map(|e| match e {
                Event::Commands { guild, .. } => Some(*guild),
                _ => None,
            })
            .collect()
    })
}

/// A bot running shards 0 and 1 of 2, serving both guilds, with `/healthz`
/// and `/metrics` on the returned port.
async fn both_shards() -> (TestApp, u16) {
    let app = spawn_app_with(TestConfig {
        guild_ids: vec![GUILD_ID, OTHER_GUILD],
        shards: Some("{ total = 2, ids = [0, 1] }"),
        health: true,
        ..TestConfig::default()
    })
    .await;
    let health = app.health_port.unwrap();
    (app, health)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_serve_their_own_guilds_and_the_commands_are_registered_once() {
    assert_eq!((shard_of(GUILD_ID, 2), shard_of(OTHER_GUILD, 2)), (1, 0));
    let (app, health) = both_shards().await;
    // Ready (as /healthz says) means both shards identified, not the first.
    let mut shards = app.discord.identified_shards();
    shards.sort_by_key(|s| s.as_ref().map(ToString::to_string));
    assert_eq!(shards, [Some(json!([0, 2])), Some(json!([1, 2]))]);
    // Once per guild, not once per shard.
    let mut registered = registrations(&app);
    registered.sort();
    assert_eq!(registered, [Some(GUILD_ID), Some(OTHER_GUILD)]);

    for (guild, title) in [(GUILD_ID, "On shard 1"), (OTHER_GUILD, "On shard 0")] {
        let edit = declare_in(&app, guild, title).await;
        assert_eq!(embed(&edit)["title"], format!("🚨 {title}"), "{edit}");
    }
    assert_eq!(app.aws.requests("StartIncident").len(), 2);
    assert!(app.discord.rejected().is_empty(), "{:#?}", app.discord.rejected());
    // The second shard's first session is no reconnect.
    let url = format!("http://127.0.0.1:{health}/metrics");
    let metrics = String::from_utf8(super::fake_discord::send("GET", &url, &[], vec![]).await.2).unwrap();
    assert!(metrics.lines().any(|l| l == "incident_bot_gateway_reconnects_total 0"), "{metrics}");
    app.stop().await;
}

/// One shard's connection breaks: it resumes its own session and gets what
/// was sent as it broke, while the other shard's session goes on untouched.
/// Then a shard that cannot reconnect at all: `/healthz` says how many are
/// connected while the other shard keeps serving, and once Discord takes
/// connections again the shard is started anew and the bot is ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_shard_resumes_alone_and_healthz_counts_the_shards() {
    use super::observe::{get, sample, wait_health, wait_metric};
    let (app, health) = both_shards().await;
    assert_eq!(wait_health(health, 200).await, "ok\n");

    // Shard 1 (GUILD_ID's) loses a `/incident` with its connection.
    let mut lost =
        super::fake_discord::incident_command(json!([opt("plan", "payments"), opt("title", "Sent as it broke")]));
    lost["guild_id"] = json!(GUILD_ID.to_string());
    let id = app.discord.lose_on_breaking_connection(lost).await;
    let edit = app.discord.wait_edit(id, 1).await;
    assert_eq!(embed(&edit)["title"], "🚨 Sent as it broke", "{edit}");
    let resumes = app.discord.resumes();
    assert_eq!(resumes.len(), 1, "{resumes:#?}");
    assert!(resumes[0]["session_id"].as_str().unwrap().ends_with("-shard-1"), "{resumes:#?}");
    assert_eq!(app.discord.identified_shards().len(), 2, "resumed, not identified again");
    // Shard 0 never noticed.
    assert_eq!(embed(&declare_in(&app, OTHER_GUILD, "Shard 0 meanwhile").await)["title"], "🚨 Shard 0 meanwhile");
    let m = wait_metric(health, "incident_bot_gateway_reconnects_total", 1.0).await;
    assert_eq!(sample(&m, "incident_bot_ready"), Some(1.0), "{m}");

    // Shard 1 cannot reconnect: not ready, and /healthz says how far.
    // (Each wait for /healthz follows the event it reflects, so that it
    // polls briefly.)
    app.discord.break_shard(1);
    app.discord.wait_refused_reconnects(1).await;
    assert_eq!(wait_health(health, 503).await, "1 of this process's 2 gateway shards are connected\n");
    assert_eq!(embed(&declare_in(&app, OTHER_GUILD, "Shard 0 still").await)["title"], "🚨 Shard 0 still");
    assert_eq!(sample(&get(health, "/metrics").await.1, "incident_bot_ready"), Some(0.0));

    // Discord is back: serenity starts shard 1 again (a new IDENTIFY, its
    // resume having failed), and the bot is ready.
    app.discord.heal_gateway();
    app.discord
        .wait_for("shard 1 identified again", |s| {
            (s.events.iter().filter(|e| matches!(e, Event::Identify(_))).count() == 3).then_some(())
        })
        .await;
    assert_eq!(wait_health(health, 200).await, "ok\n");
    let shards = app.discord.identified_shards();
    assert_eq!(shards.len(), 3, "{shards:?}");
    assert_eq!(shards[2], Some(json!([1, 2])));
    assert_eq!(embed(&declare_in(&app, GUILD_ID, "Shard 1 again").await)["title"], "🚨 Shard 1 again");
    assert_eq!(app.aws.requests("StartIncident").len(), 4);
    assert!(app.discord.rejected().is_empty(), "{:#?}", app.discord.rejected());
    app.stop().await;
}

/// A process running only shard 1 of 2 (another runs shard 0): it connects
/// that shard alone, serves its guilds, and leaves registration to the
/// process with shard 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_without_shard_zero_serves_its_shard_and_does_not_register() {
    let app = spawn_app_with(TestConfig { shards: Some("{ total = 2, ids = [1] }"), ..TestConfig::default() }).await;
    assert_eq!(app.discord.identified_shards(), [Some(json!([1, 2]))]);
    let edit = declare_in(&app, GUILD_ID, "Shard one only").await;
    assert_eq!(embed(&edit)["title"], "🚨 Shard one only");
    assert!(registrations(&app).is_empty(), "registered by the process running shard 0");
    app.stop().await;
}

/// `shards = "auto"`: as many as `GET /gateway/bot` recommends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_runs_the_recommended_number_of_shards() {
    let discord = FakeDiscord::start(TOKEN).await;
    discord.recommend_shards(2);
    let aws = FakeIncidentManager::start(&["Payments", "Search"]).await;
    let app = spawn_bot(discord, aws, TestConfig { shards: Some("\"auto\""), ..TestConfig::default() }).await;
    let mut shards = app.discord.identified_shards();
    shards.sort_by_key(|s| s.as_ref().map(ToString::to_string));
    assert_eq!(shards, [Some(json!([0, 2])), Some(json!([1, 2]))]);
    let edit = declare_in(&app, GUILD_ID, "Auto sharded").await;
    assert_eq!(embed(&edit)["title"], "🚨 Auto sharded");
    app.stop().await;
}

/// The shipped binary with two shards: both identify, and each guild's
/// `/incident` is served on its own shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_both_shards_of_its_range() {
    use super::binary::{Log, bot, temp_file, with_aws_keys};
    use super::fake_incident_manager as fim;
    let discord = FakeDiscord::start(TOKEN).await;
    let aws = FakeIncidentManager::start(&["Payments"]).await;
    let config = temp_file(&format!(
        "[discord]\nguild_ids = [{GUILD_ID}, {OTHER_GUILD}]\napi_url = \"{}\"\nshards = {{ total = 2, ids = [0, 1] }}\n\
         [aws]\nregion = \"{}\"\nendpoint_url = \"{}\"\n[incident.plans]\npayments = \"{}\"\n\
         [limits]\nshutdown_grace_secs = 1\n",
        discord.api_url,
        fim::REGION,
        aws.url,
        fim::plan_arn("Payments")
    ));
    let mut cmd = bot(&["run", "--config", config.to_str().unwrap()]);
    let mut child = with_aws_keys(cmd.env("DISCORD_TOKEN", TOKEN)).spawn().unwrap();
    let mut log = Log::of(&mut child);
    log.wait_for("ready: serving").await;
    let mut shards = discord.identified_shards();
    shards.sort_by_key(|s| s.as_ref().map(ToString::to_string));
    assert_eq!(shards, [Some(json!([0, 2])), Some(json!([1, 2]))]);
    for (guild, title) in [(GUILD_ID, "Binary, shard 1"), (OTHER_GUILD, "Binary, shard 0")] {
        let mut d = super::fake_discord::incident_command(json!([opt("plan", "payments"), opt("title", title)]));
        d["guild_id"] = json!(guild.to_string());
        let id = discord.dispatch_interaction(d).await;
        assert_eq!(embed(&discord.wait_edit(id, 1).await)["title"], format!("🚨 {title}"));
    }
    assert_eq!(aws.requests("StartIncident").len(), 2);
    let pid = child.id().unwrap().to_string();
    assert!(tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
    assert_eq!(child.wait().await.unwrap().code(), Some(0));
}
