//! The incident thread is the live incident: what changes in Incident
//! Manager reaches the thread, once, without echoing the bot's own writes,
//! across restarts; messages go to the timeline with the message command;
//! a resolved incident gets its summary and its thread is archived.

use serde_json::{Value, json};

use super::fake_discord::{self, CHANNEL_ID, Event, GUILD_ID, USER_ID};
use super::fake_incident_manager::Fault;
use super::helpers::{TestApp, TestConfig, aws_cli_as_operator, embed, field, opt, spawn_app_with, spawn_bot};

const CONSOLE_USER: &str = "arn:aws:sts::111122223333:assumed-role/OnCall/dana";

fn mirrored() -> TestConfig {
    TestConfig { create_thread: true, sync_interval_secs: 1, ..TestConfig::default() }
}

/// Declares; returns the interaction, the incident ARN and the thread.
async fn declare(app: &TestApp, title: &str) -> (u64, String, u64) {
    let id = app.incident(json!([opt("plan", "payments"), opt("title", title), opt("impact", 2)])).await;
    let edit = app.discord.wait_edit(id, 2).await;
    let thread: u64 = field(embed(&edit), "Thread").trim_start_matches("<#").trim_end_matches('>').parse().unwrap();
    let arn = app.aws.incidents().last().unwrap().1.clone();
    (id, arn, thread)
}

/// Waits until the mirror has looked `n` more times (ListTimelineEvents).
async fn passes(app: &TestApp, n: usize) {
    let now = app.aws.requests("ListTimelineEvents").len();
    app.aws.wait_requests("ListTimelineEvents", now + n).await;
}

/// A post as Discord shows it: Markdown escapes (`\-`) shown as the
/// character.
fn shown(post: &str) -> String {
    let mut out = String::with_capacity(post.len());
    let mut chars = post.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(char::is_ascii_punctuation) {
            continue;
        }
        out.push(c);
    }
    out
}

/// The posts in `thread` that show `text`, once at least one does (as
/// Discord shows them).
async fn wait_post(app: &TestApp, thread: u64, text: &str) -> Vec<String> {
    app.discord
        .wait_for(&format!("a post containing {text:?} in the thread"), |s| {
            let found: Vec<String> = s.posts_in(thread).iter().filter(|p| shown(p).contains(text)).cloned().collect();
            (!found.is_empty()).then_some(found)
        })
        .await
}

fn count(app: &TestApp, thread: u64, text: &str) -> usize {
    app.discord.with_state(|s| s.posts_in(thread).iter().filter(|p| shown(p).contains(text)).count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_elsewhere_reach_the_thread_once() {
    let app = spawn_app_with(mirrored()).await;
    let (id, arn, thread) = declare(&app, "Checkout failing").await;
    app.aws.change_elsewhere(&arn, None, Some(1), None, CONSOLE_USER);
    app.aws.event_elsewhere(&arn, "Custom Event", "\"Rolled back the 14:02 deploy\"");
    app.aws.item_elsewhere(&arn, "https://grafana.example.com/d/checkout", "Checkout dashboard");

    let impact = wait_post(&app, thread, "changed the impact").await;
    assert!(impact[0].ends_with("· `OnCall/dana` changed the impact: 2 · High → **1 · Critical**"), "{impact:?}");
    let note = wait_post(&app, thread, "Rolled back").await;
    assert!(note[0].ends_with("· 🗒 **Custom Event**: Rolled back the 14:02 deploy"), "{note:?}");
    let item = wait_post(&app, thread, "related item added").await;
    assert!(item[0].ends_with("[Checkout dashboard](<https://grafana.example.com/d/checkout>)"), "{item:?}");

    // The confirmation shows the new impact.
    let message: u64 = app.discord.original(id)["id"].as_str().unwrap().parse().unwrap();
    let edited = app
        .discord
        .wait_for("the confirmation brought up to date", |s| {
            s.events.iter().rev().find_map(|e| match e {
                Event::ChannelEdit { message: m, body, .. } if *m == message => Some(body.clone()),
                _ => None,
            })
        })
        .await;
    assert_eq!(field(&edited["embeds"][0], "Impact"), "1 · Critical");

    // Later passes show none of it again.
    passes(&app, 3).await;
    for text in ["changed the impact", "Rolled back", "related item added"] {
        assert_eq!(count(&app, thread, text), 1, "{text} shown more than once");
    }
    // Only the bot's own first message besides: the declaration's own
    // writes (its timeline event, its links) were not mirrored.
    let posts = app.discord.with_state(|s| s.posts_in(thread));
    assert_eq!(posts.len(), 4, "{posts:#?}");
    assert!(app.discord.rejected().is_empty(), "{:#?}", app.discord.rejected());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bots_own_writes_are_not_echoed() {
    let app = spawn_app_with(mirrored()).await;
    let (id, arn, thread) = declare(&app, "Quiet").await;
    let message = app.discord.original(id);
    let note = app
        .discord
        .dispatch_interaction(fake_discord::modal_submit(&message, "incident:note", &[("note", "from Discord")]))
        .await;
    app.discord.wait_callback(note).await;
    let update = fake_discord::update_command(json!([
        opt("incident", arn.as_str()),
        opt("impact", 3),
        opt("link", "https://status.example.com")
    ]));
    let update = app.discord.dispatch_interaction(update).await;
    app.discord.wait_edit(update, 1).await;
    app.aws.wait_requests("UpdateIncidentRecord", 1).await;
    passes(&app, 3).await;
    let posts = app.discord.with_state(|s| s.posts_in(thread));
    assert_eq!(posts.len(), 1, "only the thread's first message: {posts:#?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolved_elsewhere_the_thread_gets_its_summary_and_is_archived() {
    let app = spawn_app_with(TestConfig { archive_after_mins: 0, ..mirrored() }).await;
    let (id, arn, thread) = declare(&app, "Card declines").await;
    app.aws.event_elsewhere(&arn, "Custom Event", "\"Issuer outage confirmed\"");
    wait_post(&app, thread, "Issuer outage").await;
    app.aws.change_elsewhere(&arn, Some("RESOLVED"), None, None, CONSOLE_USER);

    wait_post(&app, thread, "✅ resolved the incident in Incident Manager").await;
    let summary = app
        .discord
        .wait_for("the summary with its file", |s| {
            s.events.iter().find_map(|e| match e {
                Event::ChannelMessage { channel, body, files } if *channel == thread && !files.is_empty() => {
                    Some((body.clone(), files.clone()))
                }
                _ => None,
            })
        })
        .await;
    let text = summary.0["content"].as_str().unwrap();
    assert!(text.starts_with("📋 **Post-incident summary** · Card declines\nDuration: "), "{text}");
    assert!(text.contains(&format!("Took part: <@{USER_ID}>, `OnCall/dana`")), "{text}");
    let (field_name, file_name, content) = &summary.1[0];
    assert_eq!((field_name.as_str(), file_name.as_str()), ("files[0]", "incident-summary.md"));
    let md = String::from_utf8_lossy(content);
    assert!(md.starts_with("# Post-incident summary: Card declines\n"), "{md}");
    assert!(md.contains("**Custom Event**: Declared from Discord by alice in #ops-war-room"), "{md}");
    assert!(md.contains("**Custom Event**: Issuer outage confirmed"), "{md}");
    assert!(md.contains("Discord thread INC · Card declines: https://discord.com/channels/"), "{md}");

    // The confirmation is resolved, its buttons disabled; the thread archived.
    let message: u64 = app.discord.original(id)["id"].as_str().unwrap().parse().unwrap();
    let edited = app
        .discord
        .wait_for("the confirmation resolved", |s| {
            s.events.iter().rev().find_map(|e| match e {
                Event::ChannelEdit { message: m, body, .. }
                    if *m == message && body["embeds"][0]["title"].as_str().is_some_and(|t| t.starts_with("✅")) =>
                {
                    Some(body.clone())
                }
                _ => None,
            })
        })
        .await;
    assert!(field(&edited["embeds"][0], "Status").starts_with("Resolved in Incident Manager by `OnCall/dana`"));
    assert!(edited["components"][0]["components"].as_array().unwrap()[..4].iter().all(|b| b["disabled"] == true));
    app.discord
        .wait_for("the thread archived", |s| {
            s.events.iter().any(|e| matches!(e, Event::ChannelEdited { channel, body } if *channel == thread && body["archived"] == true)).then_some(())
        })
        .await;
    // Done with it: it is no longer looked at.
    let looks = app.aws.requests("ListRelatedItems").len();
    let other = app.incident(json!([opt("plan", "payments"), opt("title", "Another")])).await;
    app.discord.wait_edit(other, 2).await;
    passes(&app, 2).await;
    assert!(app.aws.requests("ListRelatedItems").len() <= looks + 3, "only the other incident is followed");
    assert_eq!(count(&app, thread, "Post-incident summary"), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_shown_twice_across_a_restart_and_downtime_is_caught_up() {
    let app = spawn_app_with(mirrored()).await;
    let (_, arn, thread) = declare(&app, "Restarts").await;
    app.aws.event_elsewhere(&arn, "Custom Event", "\"before the restart\"");
    wait_post(&app, thread, "before the restart").await;
    let (discord, aws, store) = (app.discord.clone(), app.aws.clone(), app.store_path.clone());
    app.stop().await;
    // While the bot is down.
    aws.event_elsewhere(&arn, "Custom Event", "\"while it was down\"");
    let app = spawn_bot(discord, aws, TestConfig { store_path: Some(store), ..mirrored() }).await;
    wait_post(&app, thread, "while it was down").await;
    passes(&app, 2).await;
    assert_eq!(count(&app, thread, "before the restart"), 1);
    assert_eq!(count(&app, thread, "while it was down"), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_mirror_slows_down_and_loses_nothing() {
    let app = spawn_app_with(mirrored()).await;
    let (_, arn, thread) = declare(&app, "Throttled").await;
    // Each throttled look waits twice as long as the one before (2 s, 4 s).
    app.aws.push_faults_for("ListTimelineEvents", [Fault::Error(400, "ThrottlingException", "Rate exceeded"); 2]);
    app.aws.event_elsewhere(&arn, "Custom Event", "\"during the throttling\"");
    wait_post(&app, thread, "during the throttling").await;
    passes(&app, 1).await;
    assert_eq!(count(&app, thread, "during the throttling"), 1);
    let throttled = app.aws.requests("ListTimelineEvents").iter().filter(|r| r.status == 400).count();
    assert_eq!(throttled, 2, "each throttled look was one request, not a flood");
    app.stop().await;
}

/// "Add to incident timeline" in the incident's thread: one event with the
/// author, time, text and link; the message marked; twice is once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_goes_to_the_timeline_once() {
    let app = spawn_app_with(mirrored()).await;
    let (_, arn, thread) = declare(&app, "Timeline").await;
    let attachment = json!([{"id": "42", "filename": "cpu.png", "size": 1000, "url": "https://cdn.discordapp.com/attachments/1/42/cpu.png", "proxy_url": "https://media.discordapp.net/attachments/1/42/cpu.png"}]);
    let msg = fake_discord::user_message(777, thread, (555, "bob"), "CPU pegged on checkout-7", attachment);
    let cmd = fake_discord::in_channel(fake_discord::message_command(&msg), thread, Some(CHANNEL_ID));
    let id = app.discord.dispatch_interaction(cmd.clone()).await;
    let (ack, _) = app.discord.wait_callback(id).await;
    assert_eq!((ack["type"].as_u64(), ack["data"]["flags"].as_u64()), (Some(5), Some(64)), "deferred, privately");
    let reply = app.discord.wait_edit(id, 1).await;
    assert_eq!(reply["content"], format!("✅ Added to the timeline of `{arn}`, with its author and time."));
    let events = app.aws.wait_requests("CreateTimelineEvent", 2).await;
    let event = &events[1].body;
    assert_eq!(event["clientToken"], "discord-message-777");
    assert_eq!(event["eventTime"], 1_704_110_400.0, "the message's own time");
    let data: String = serde_json::from_str(event["eventData"].as_str().unwrap()).unwrap();
    assert_eq!(
        data,
        format!(
            "bob on Discord: CPU pegged on checkout-7\nhttps://discord.com/channels/{GUILD_ID}/{thread}/777\n\
             Attachment cpu.png: https://cdn.discordapp.com/attachments/1/42/cpu.png"
        )
    );
    app.discord
        .wait_for("the marker on the message", |s| {
            s.events
                .iter()
                .any(|e| matches!(e, Event::Reaction { message: 777, emoji, .. } if emoji == "✅"))
                .then_some(())
        })
        .await;
    // The same message again: one event, and the user is told.
    let again = app.discord.dispatch_interaction(cmd).await;
    assert_eq!(
        app.discord.wait_edit(again, 1).await["content"],
        format!("This message is already on the timeline of `{arn}`.")
    );
    assert_eq!(app.aws.requests("CreateTimelineEvent").len(), 2);
    // And the mirror does not post it back.
    passes(&app, 2).await;
    assert_eq!(count(&app, thread, "CPU pegged"), 0);
    app.stop().await;
}

/// Used outside an incident's thread, the command asks which open incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elsewhere_the_message_command_asks_which_incident() {
    let app = spawn_app_with(mirrored()).await;
    let (_, arn, _) = declare(&app, "Pick me").await;
    let msg = fake_discord::user_message(888, CHANNEL_ID, (555, "bob"), "Seen in #general", json!([]));
    app.discord.add_user_message(&msg);
    let id = app.discord.dispatch_interaction(fake_discord::message_command(&msg)).await;
    let (ask, _) = app.discord.wait_callback(id).await;
    assert_eq!(ask["data"]["flags"], 64);
    let menu = &ask["data"]["components"][0]["components"][0];
    assert_eq!(menu["custom_id"], format!("incident:to-timeline:{CHANNEL_ID}:888"));
    assert_eq!(menu["options"][0]["value"], arn);
    // The pick, as Discord sends a select menu's choice.
    let prompt = app.discord.original(id);
    let mut pick = fake_discord::button_click(&prompt, &format!("incident:to-timeline:{CHANNEL_ID}:888"));
    pick["data"] =
        json!({"custom_id": format!("incident:to-timeline:{CHANNEL_ID}:888"), "component_type": 3, "values": [arn]});
    let picked = app.discord.dispatch_interaction(pick).await;
    assert_eq!(app.discord.wait_callback(picked).await.0["type"], 6);
    let reply: Value = app.discord.wait_edit(picked, 1).await;
    assert_eq!(reply["content"], format!("✅ Added to the timeline of `{arn}`, with its author and time."));
    let events = app.aws.wait_requests("CreateTimelineEvent", 2).await;
    assert_eq!(events[1].body["incidentRecordArn"], arn);
    assert_eq!(events[1].body["clientToken"], "discord-message-888");
    app.stop().await;
}

/// With its database lost, the bot finds the incident again through the
/// thread linked from it, and shows only what happens from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_is_rebuilt_without_reposting_history() {
    let app = spawn_app_with(mirrored()).await;
    let (_, arn, thread) = declare(&app, "Rebuilt").await;
    app.aws.event_elsewhere(&arn, "Custom Event", "\"old news\"");
    wait_post(&app, thread, "old news").await;
    let (discord, aws) = (app.discord.clone(), app.aws.clone());
    app.stop().await;
    let app = spawn_bot(discord, aws, mirrored()).await; // a fresh, empty store
    // Discovery (every 4th pass) finds the thread among the related items.
    passes(&app, 6).await;
    app.aws.event_elsewhere(&arn, "Custom Event", "\"new news\"");
    wait_post(&app, thread, "new news").await;
    assert_eq!(count(&app, thread, "old news"), 1, "history is not posted again");
    app.stop().await;
}

/// An on-call engineer works on the incident with the AWS CLI, as its own
/// identity: the impact change, the note and the resolve reach the thread,
/// named after the CLI's principal, and the summary follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_an_operator_does_with_the_aws_cli_reaches_the_thread() {
    let app = spawn_app_with(TestConfig { archive_after_mins: 0, ..mirrored() }).await;
    let (_, arn, thread) = declare(&app, "CLI at 3 a.m.").await;
    let Some(_) = aws_cli_as_operator(&app.aws, &["update-incident-record", "--arn", &arn, "--impact", "1"]).await
    else {
        return app.stop().await;
    };
    let note = r#""Failed over to us-west-2""#;
    let when = "2026-01-01T03:00:00Z";
    aws_cli_as_operator(
        &app.aws,
        &[
            "create-timeline-event",
            "--incident-record-arn",
            &arn,
            "--event-time",
            when,
            "--event-type",
            "Custom Event",
            "--event-data",
            note,
        ],
    )
    .await;
    let impact = wait_post(&app, thread, "changed the impact").await;
    assert!(impact[0].ends_with("· `OnCall/cli` changed the impact: 2 · High → **1 · Critical**"), "{impact:?}");
    wait_post(&app, thread, "Failed over to us-west-2").await;
    aws_cli_as_operator(&app.aws, &["update-incident-record", "--arn", &arn, "--status", "RESOLVED"]).await;
    let resolved = wait_post(&app, thread, "resolved the incident").await;
    assert!(resolved[0].contains("`OnCall/cli` ✅ resolved the incident in Incident Manager"), "{resolved:?}");
    wait_post(&app, thread, "Post-incident summary").await;
    for text in ["changed the impact", "Failed over", "resolved the incident"] {
        assert_eq!(count(&app, thread, text), 1, "{text}");
    }
    app.stop().await;
}
