//! Who may declare, what gets refused, and what survives faults: nothing
//! lost, nothing duplicated.

use std::time::Duration;

use serde_json::{Value, json};

use super::fake_discord::{self, ACK_DEADLINE, CHANNEL_ID, Event};
use super::fake_incident_manager::Fault;
use super::helpers::{TestApp, TestConfig, embed, field, opt, spawn_app_with};

const ROLE: u64 = 700_000_000_000_000_001;
const OTHER_CHANNEL: u64 = 700_000_000_000_000_002;

async fn private_reply(app: &TestApp, d: Value) -> String {
    let id = app.discord.dispatch_interaction(d).await;
    let (reply, after) = app.discord.wait_callback(id).await;
    assert!(after < ACK_DEADLINE);
    assert_eq!(reply["type"], 4, "{reply:#}");
    assert_eq!(reply["data"]["flags"], 64, "private: {reply:#}");
    reply["data"]["content"].as_str().unwrap().to_owned()
}

fn declare(title: &str) -> Value {
    fake_discord::incident_command(json!([opt("plan", "payments"), opt("title", title)]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_rules_refuse_with_the_reason_and_no_aws_call() {
    let extra = Box::leak(
        format!("[access]\nallowed_role_ids = [{ROLE}]\nallowed_channel_ids = [{CHANNEL_ID}]\n").into_boxed_str(),
    );
    let app = spawn_app_with(TestConfig { extra_toml: extra, ..TestConfig::default() }).await;
    let registered = app.discord.wait_commands().await;
    assert_eq!(registered[0]["default_member_permissions"], "2048", "Send Messages by default");
    assert_eq!(registered[0]["contexts"], json!([0]), "guilds only");

    let content = private_reply(&app, declare("no role")).await;
    assert_eq!(
        content,
        format!(
            "⛔ Declaring incidents here takes one of these roles: <@&{ROLE}>. Ask a server admin. Nothing was declared."
        )
    );
    let content = private_reply(
        &app,
        fake_discord::in_channel(fake_discord::with_roles(declare("x"), &[ROLE]), OTHER_CHANNEL, None),
    )
    .await;
    assert_eq!(content, format!("⛔ `/incident` can only be used in <#{CHANNEL_ID}>. Nothing was declared."));
    let content = private_reply(&app, fake_discord::as_dm(declare("dm"))).await;
    assert_eq!(content, "⛔ `/incident` works in a server channel, not in direct messages. Nothing was declared.");

    // Refused callers see no plans in autocomplete either.
    let focused = json!([{"name": "plan", "type": 3, "value": "", "focused": true}]);
    let id = app.discord.dispatch_interaction(fake_discord::incident_autocomplete(focused)).await;
    assert_eq!(app.discord.wait_callback(id).await.0, json!({"type": 8, "data": {"choices": []}}));

    // A thread under the allowed channel is allowed; it is also the barrier.
    let ok = fake_discord::in_channel(
        fake_discord::with_roles(declare("allowed"), &[ROLE]),
        OTHER_CHANNEL,
        Some(CHANNEL_ID),
    );
    let id = app.discord.dispatch_interaction(ok).await;
    let edit = app.discord.wait_edit(id, 1).await;
    assert_eq!(embed(&edit)["title"], "🚨 allowed");
    let requests = app.aws.requests("StartIncident");
    assert_eq!(requests.len(), 1, "refusals made no AWS request");
    assert_eq!(requests[0].body["title"], "allowed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_cooldown_and_per_guild_limit_say_when_to_retry() {
    let app = spawn_app_with(TestConfig { per_user: 2, per_guild: 3, ..TestConfig::default() }).await;
    for title in ["one", "two"] {
        let id = app.discord.dispatch_interaction(declare(title)).await;
        app.discord.wait_edit(id, 1).await;
    }
    let content = private_reply(&app, declare("three")).await;
    let re = regex::Regex::new(
        r"^⏳ You have declared 2 incidents in the last minute\. Try again in (\d+) s\. Nothing was declared\.$",
    )
    .unwrap();
    let secs: u64 = re.captures(&content).unwrap_or_else(|| panic!("{content}"))[1].parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");

    // Someone else may still declare, until the guild's limit.
    let other = |d: Value| {
        let mut d = d;
        d["member"]["user"]["id"] = json!("555");
        d
    };
    let id = app.discord.dispatch_interaction(other(declare("four"))).await;
    app.discord.wait_edit(id, 1).await;
    let content = private_reply(&app, other(declare("five"))).await;
    assert!(
        content.starts_with("⏳ This server has declared 3 incidents in the last minute. Try again in "),
        "{content}"
    );
    let titles: Vec<Value> = app.aws.requests("StartIncident").iter().map(|r| r.body["title"].clone()).collect();
    assert_eq!(titles, [json!("one"), json!("two"), json!("four")]);
    app.stop().await;
}

fn retrying() -> TestConfig {
    TestConfig { max_attempts: 3, ..TestConfig::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_twice_then_declared_once_with_one_client_token() {
    let app = spawn_app_with(retrying()).await;
    app.aws.push_faults([
        Fault::Error(429, "ThrottlingException", "Rate exceeded"),
        Fault::Error(429, "ThrottlingException", "Rate exceeded"),
    ]);
    let id = app.discord.dispatch_interaction(declare("throttled")).await;
    let edit = app.discord.wait_edit(id, 1).await;
    assert_eq!(embed(&edit)["title"], "🚨 throttled");
    let requests = app.aws.requests("StartIncident");
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 200]);
    let token = format!("discord-interaction-{id}");
    assert!(requests.iter().all(|r| r.body["clientToken"] == token), "every retry carries the same client token");
    assert_eq!(app.aws.incidents().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    let app = spawn_app_with(retrying()).await;
    app.aws.push_faults([Fault::Error(500, "InternalServerException", "boom"); 3]);
    let id = app.discord.dispatch_interaction(declare("five hundred")).await;
    let edit = app.discord.wait_edit(id, 1).await;
    assert_eq!(embed(&edit)["title"], "⚠️ Incident not declared");
    assert!(
        embed(&edit)["description"].as_str().unwrap().contains("Incident Manager had an internal error, also on retry")
    );
    assert_eq!(app.aws.requests("StartIncident").len(), 3, "max_attempts = 3");
    assert!(app.aws.incidents().is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_lost_answer_does_not_declare_twice() {
    let app = spawn_app_with(retrying()).await;
    // AWS starts the incident but the answer is lost; the SDK retries with
    // the same client token and gets the same incident back.
    app.aws.push_faults([Fault::ActThenFail(503, "ServiceUnavailableException")]);
    let id = app.discord.dispatch_interaction(declare("lost answer")).await;
    let edit = app.discord.wait_edit(id, 1).await;
    let incidents = app.aws.incidents();
    assert_eq!(incidents.len(), 1);
    assert_eq!(field(embed(&edit), "Incident record ARN"), format!("```\n{}\n```", incidents[0].1));
    assert_eq!(app.aws.requests("StartIncident").len(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_edit_is_retried_and_lands() {
    let app = spawn_app_with(TestConfig::default()).await;
    app.discord.rate_limit_next_edits(1);
    let id = app.discord.dispatch_interaction(declare("after 429")).await;
    let edit = app.discord.wait_edit(id, 1).await;
    assert_eq!(embed(&edit)["title"], "🚨 after 429");
    let rejected = app.discord.rejected();
    assert_eq!(rejected.len(), 1);
    assert!(matches!(&rejected[0], Event::Rejected { status: 429, .. }));
    assert!(app.discord.with_state(|s| s.channel_messages().is_empty()), "no fallback needed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_gateway_mid_burst_loses_nothing() {
    let app = spawn_app_with(TestConfig::default()).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(app.discord.dispatch_interaction(declare(&format!("before {i}"))).await);
    }
    app.discord.drop_gateway();
    for i in 0..4 {
        ids.push(app.discord.dispatch_interaction(declare(&format!("after {i}"))).await);
    }
    for id in &ids {
        app.discord.wait_edit(*id, 1).await;
    }
    assert!(app.discord.gateway_sessions() >= 2, "the bot reconnected");
    assert_eq!(app.aws.incidents().len(), 8);
    for id in &ids {
        assert_eq!(app.discord.with_state(|s| s.callbacks(*id).len()), 1);
    }
    assert!(app.discord.rejected().is_empty(), "{:#?}", app.discord.rejected());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_declarations_in_flight_and_turns_new_ones_away() {
    let app = spawn_app_with(TestConfig::default()).await;
    app.aws.set_delay(Duration::from_secs(2));
    let first = app.discord.dispatch_interaction(declare("in flight")).await;
    app.discord.wait_callback(first).await;
    app.signal_shutdown();
    let content = private_reply(&app, declare("too late")).await;
    assert_eq!(content, "⏳ incident-bot is restarting. Run `/incident` again in a few seconds. Nothing was declared.");
    let edit = app.discord.wait_edit(first, 1).await;
    assert_eq!(embed(&edit)["title"], "🚨 in flight");
    let discord = app.discord.clone();
    let aws = app.aws.clone();
    app.wait_stopped().await;
    assert_eq!(aws.incidents().len(), 1);
    assert_eq!(discord.with_state(|s| s.edits(first).len()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_one_interaction_is_answered_and_contained() {
    let app = spawn_app_with(TestConfig::default()).await;
    let content = private_reply(&app, declare("fault-injection: panic")).await;
    assert!(content.starts_with("⚠️ incident-bot hit an internal error handling this command."), "{content}");
    // The bot goes on.
    let id = app.discord.dispatch_interaction(declare("after the panic")).await;
    let edit = app.discord.wait_edit(id, 1).await;
    assert_eq!(embed(&edit)["title"], "🚨 after the panic");
    assert_eq!(app.aws.requests("StartIncident").len(), 1);
    app.stop().await;
}
