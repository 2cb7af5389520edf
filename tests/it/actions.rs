//! Responders keep working from Discord: plan autocomplete from Incident
//! Manager, the confirmation's buttons and dialogs, `/incident-update`,
//! the incident thread, the declaration's timeline event and duplicate
//! awareness.

use std::time::Duration;

use serde_json::{Value, json};

use super::fake_discord::{self, ACK_DEADLINE, CHANNEL_ID, CHANNEL_NAME, Event, GUILD_ID, USER_ID, USER_NAME};
use super::fake_incident_manager::{Fault, plan_arn};
use super::helpers::{TestApp, TestConfig, embed, field, opt, spawn_app, spawn_app_with, spawn_bot};

const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Declares, and returns the interaction id, the confirmation as Discord
/// stores it, and the incident ARN.
async fn declare(app: &TestApp, title: &str) -> (u64, Value, String) {
    let id = app.incident(json!([opt("plan", "payments"), opt("title", title)])).await;
    app.discord.wait_edit(id, 1).await;
    let arn = app.aws.wait_for("the incident", |s| s.incidents.last().map(|(_, a)| a.clone())).await;
    (id, app.discord.original(id), arn)
}

async fn click(app: &TestApp, message: &Value, custom_id: &str) -> (u64, Value) {
    let id = app.discord.dispatch_interaction(fake_discord::button_click(message, custom_id)).await;
    let (reply, after) = app.discord.wait_callback(id).await;
    assert!(after < ACK_DEADLINE);
    (id, reply)
}

async fn submit(app: &TestApp, message: &Value, custom_id: &str, inputs: &[(&str, &str)]) -> (u64, Value) {
    let id = app.discord.dispatch_interaction(fake_discord::modal_submit(message, custom_id, inputs)).await;
    let (reply, after) = app.discord.wait_callback(id).await;
    assert!(after < ACK_DEADLINE);
    (id, reply)
}

async fn choices(app: &TestApp, typed: &str) -> Vec<(String, String)> {
    let focused = json!([{"name": "plan", "type": 3, "value": typed, "focused": true}]);
    let id = app.discord.dispatch_interaction(fake_discord::incident_autocomplete(focused)).await;
    let (reply, after) = app.discord.wait_callback(id).await;
    assert!(after < ACK_DEADLINE, "autocomplete answered after {after:?}");
    assert_eq!(reply["type"], 8);
    reply["data"]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c["value"].as_str().unwrap().to_owned()))
        .collect()
}

const MANY_PLANS: &[(&str, Option<&str>)] = &[
    ("Storage", Some("Block storage")),
    ("Sso", None),
    ("Checkout", Some("Checkout and payments")),
    ("Team01", None),
    ("Team02", None),
    ("Team03", None),
    ("Team04", None),
    ("Team05", None),
    ("Team06", None),
    ("Team07", None),
    ("Team08", None),
    ("Team09", None),
    ("Team10", None),
    ("Team11", None),
    ("Team12", None),
    ("Team13", None),
    ("Team14", None),
    ("Team15", None),
    ("Team16", None),
    ("Team17", None),
    ("Team18", None),
    ("Team19", None),
    ("Team20", None),
    ("Team21", None),
    ("Team22", None),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_autocomplete_merges_listed_plans_best_first() {
    let app = spawn_app_with(TestConfig { extra_plans: MANY_PLANS, ..TestConfig::default() }).await;
    super::helpers::wait_plans_listed(&app).await;
    // All pages were read (the fake serves 10 plans a page).
    let pages = app.aws.requests("ListResponsePlans");
    assert_eq!(pages.len(), 3, "{pages:#?}");
    assert_eq!(pages[1].body["nextToken"], "page-10");

    let got = choices(&app, "s").await;
    // Aliases first at equal rank, then listed plans; exact/prefix before substring.
    assert_eq!(got[0], ("Search team (search)".to_owned(), "search".to_owned()));
    assert_eq!(got[1], ("Block storage (Storage)".to_owned(), plan_arn("Storage")));
    assert_eq!(got[2], ("Sso (Sso)".to_owned(), plan_arn("Sso")));
    assert!(got.iter().position(|c| c.1 == "payments") > Some(2), "substring matches come last: {got:?}");
    assert_eq!(choices(&app, "BLOCK").await[0].1, plan_arn("Storage"));
    assert_eq!(choices(&app, "").await.len(), 25, "at most 25 choices");

    // Choosing a listed plan works without an alias: the value is its ARN.
    let id = app.incident(json!([opt("plan", plan_arn("Storage"))])).await;
    let req = app.aws.wait_requests("StartIncident", 1).await;
    assert_eq!(req[0].body["responsePlanArn"], plan_arn("Storage"));
    let edit = app.discord.wait_edit(id, 1).await;
    assert_eq!(field(embed(&edit), "Response plan"), "`Storage`");

    // AWS slow afterwards: autocomplete still answers from the cache, in time.
    app.aws.set_delay(Duration::from_secs(5));
    assert_eq!(choices(&app, "block").await[0].1, plan_arn("Storage"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_autocomplete_keeps_the_aliases_when_aws_is_down() {
    let app = spawn_app_with(TestConfig { plans_down: true, ..TestConfig::default() }).await;
    app.aws.wait_requests("ListResponsePlans", 1).await;
    let got = choices(&app, "").await;
    let values: Vec<&str> = got.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(values, ["ghost", "payments", "search"]);
    assert_eq!(got[1].0, "Payments (payments)");
    assert!(app.aws.requests("ListResponsePlans").iter().all(|r| r.status == 500));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declaring_adds_a_timeline_event_and_buttons() {
    let app = spawn_app().await;
    let (id, message, arn) = declare(&app, "Buttons").await;
    let events = app.aws.wait_requests("CreateTimelineEvent", 1).await;
    let created_ms = (id >> 22) + DISCORD_EPOCH_MS;
    let body = &events[0].body;
    assert_eq!(body["incidentRecordArn"], arn);
    assert_eq!(body["eventType"], "Custom Event");
    assert_eq!(body["eventData"], format!("\"Declared from Discord by {USER_NAME} in #{CHANNEL_NAME}\""));
    assert_eq!(body["clientToken"], format!("discord-interaction-{id}-declared"));
    assert!((body["eventTime"].as_f64().unwrap() * 1000.0 - created_ms as f64).abs() < 1.0);

    let buttons = message["components"][0]["components"].as_array().unwrap();
    let ids: Vec<&str> = buttons.iter().filter_map(|b| b["custom_id"].as_str()).collect();
    assert_eq!(ids, ["incident:link", "incident:note", "incident:update", "incident:resolve"]);
    assert_eq!(buttons[4]["style"], 5, "a link button");
    assert_eq!(
        buttons[4]["url"],
        "https://us-east-1.console.aws.amazon.com/systems-manager/incidents/home?region=us-east-1"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_link_add_note_and_update_through_dialogs() {
    dialogs(TestConfig::default()).await;
}

/// Add link, add note and update through their dialogs, with bad input
/// refused privately; over the gateway or the HTTP endpoint (`c`).
pub(super) async fn dialogs(c: TestConfig) {
    let app = spawn_app_with(c).await;
    let (_, message, arn) = declare(&app, "Dialogs").await;

    // Add link: a dialog, then UpdateRelatedItems, then the list on the message.
    let (_, modal) = click(&app, &message, "incident:link").await;
    assert_eq!(modal["type"], 9);
    assert_eq!(modal["data"]["custom_id"], "incident:link");
    let (id, ack) =
        submit(&app, &message, "incident:link", &[("target", "https://grafana.example.com/d/x"), ("title", "Grafana")])
            .await;
    assert_eq!(ack["type"], 6, "a deferred update of the message");
    let req = app.aws.wait_requests("UpdateRelatedItems", 1).await;
    assert_eq!(
        req[0].body,
        json!({
            "clientToken": format!("discord-interaction-{id}"),
            "incidentRecordArn": arn,
            "relatedItemsUpdate": {"itemToAdd": {"identifier": {"type": "OTHER", "value": {"url": "https://grafana.example.com/d/x"}}, "title": "Grafana"}}
        })
    );
    let edit = app.discord.wait_edit(id, 1).await;
    assert!(field(embed(&edit), "Related items").ends_with("• [Grafana](https://grafana.example.com/d/x)"));

    // Add note: CreateTimelineEvent with the note and who wrote it, shown in the channel.
    let message =
        app.discord.with_state(|s| s.messages[&message["id"].as_str().unwrap().parse::<u64>().unwrap()].clone());
    let (id, ack) = submit(&app, &message, "incident:note", &[("note", "Rolled back deploy 42")]).await;
    assert_eq!(ack["type"], 6);
    let events = app.aws.wait_requests("CreateTimelineEvent", 2).await;
    let note = events.iter().find(|e| e.body["clientToken"] == format!("discord-interaction-{id}")).unwrap();
    assert_eq!(note.body["eventData"], format!("\"Note from {USER_NAME} on Discord: Rolled back deploy 42\""));
    assert_eq!(note.body["eventType"], "Custom Event");
    let followup = app
        .discord
        .wait_for("the note in the channel", |s| {
            s.events.iter().find_map(|e| match e {
                Event::Followup { interaction, body } if *interaction == id => Some(body.clone()),
                _ => None,
            })
        })
        .await;
    assert_eq!(
        followup["content"],
        format!("📝 <@{USER_ID}> added a note to the incident timeline:\n>>> Rolled back deploy 42")
    );

    // Update: the dialog is prefilled; UpdateIncidentRecord; the embed follows.
    let (_, modal) = click(&app, &message, "incident:update").await;
    let inputs: Vec<&Value> =
        modal["data"]["components"].as_array().unwrap().iter().map(|r| &r["components"][0]).collect();
    assert_eq!(inputs[0]["value"], "Dialogs");
    assert!(inputs[1]["value"].is_null(), "no impact was given at declaration");
    let (id, _) = submit(&app, &message, "incident:update", &[("title", "Checkout down in EU"), ("impact", "1")]).await;
    let req = app.aws.wait_requests("UpdateIncidentRecord", 1).await;
    assert_eq!(
        req[0].body,
        json!({"arn": arn, "clientToken": format!("discord-interaction-{id}"), "impact": 1, "title": "Checkout down in EU"})
    );
    let edit = app.discord.wait_edit(id, 1).await;
    assert_eq!(embed(&edit)["title"], "🚨 Checkout down in EU");
    assert_eq!(field(embed(&edit), "Impact"), "1 · Critical");
    assert_eq!(app.aws.record(&arn).impact, 1);

    // Bad input in a dialog: a private answer, no AWS call.
    let (_, reply) = submit(&app, &message, "incident:link", &[("target", "ftp://files.example.com/x")]).await;
    assert_eq!(reply["data"]["flags"], 64);
    assert_eq!(
        reply["data"]["content"],
        "⚠️ Link `ftp://files.example.com/x` uses the `ftp` scheme; only https:// and http:// links are accepted. Nothing was changed."
    );
    let (_, reply) = submit(&app, &message, "incident:update", &[("impact", "7")]).await;
    assert!(reply["data"]["content"].as_str().unwrap().contains("`7` is not an impact"));
    assert_eq!(app.aws.requests("UpdateRelatedItems").len(), 1);
    assert_eq!(app.aws.requests("UpdateIncidentRecord").len(), 1);
    assert!(app.discord.rejected().is_empty(), "{:#?}", app.discord.rejected());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_asks_first_then_marks_the_message_resolved() {
    let app = spawn_app().await;
    let (_, message, arn) = declare(&app, "To resolve").await;
    let (click_id, confirm) = click(&app, &message, "incident:resolve").await;
    assert_eq!(confirm["type"], 4);
    assert_eq!(confirm["data"]["flags"], 64, "the confirmation is private");
    assert!(confirm["data"]["content"].as_str().unwrap().contains(&arn));
    let cancel_or_confirm: Vec<&str> = confirm["data"]["components"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["custom_id"].as_str().unwrap())
        .collect();
    let message_id = message["id"].as_str().unwrap();
    assert_eq!(
        cancel_or_confirm,
        [format!("incident:resolve-confirm:{CHANNEL_ID}:{message_id}").as_str(), "incident:resolve-cancel"]
    );
    assert!(app.aws.requests("UpdateIncidentRecord").is_empty(), "nothing before the confirmation");

    let ephemeral = app.discord.original(click_id);
    let (id, ack) = click(&app, &ephemeral, cancel_or_confirm[0]).await;
    assert_eq!(ack["type"], 6);
    let req = app.aws.wait_requests("UpdateIncidentRecord", 1).await;
    assert_eq!(
        req[0].body,
        json!({"arn": arn, "clientToken": format!("discord-interaction-{id}"), "status": "RESOLVED"})
    );
    let edited = app
        .discord
        .wait_for("the confirmation marked resolved", |s| {
            s.events.iter().find_map(|e| match e {
                Event::ChannelEdit { body, .. } => Some(body.clone()),
                _ => None,
            })
        })
        .await;
    let e = &edited["embeds"][0];
    assert_eq!(e["title"], "✅ Resolved · To resolve");
    assert!(field(e, "Status").starts_with(&format!("Resolved by <@{USER_ID}> <t:")));
    let buttons = edited["components"][0]["components"].as_array().unwrap();
    assert!(buttons[..4].iter().all(|b| b["disabled"] == true), "actions are disabled");
    assert_eq!(buttons[4]["style"], 5, "the console link stays");
    assert_eq!(app.discord.wait_edit(id, 1).await["content"], "✅ Resolved in Incident Manager.");
    assert_eq!(app.aws.record(&arn).status, "RESOLVED");

    // A resolved incident is not resolved twice.
    let resolved = app.discord.with_state(|s| s.messages[&message_id.parse::<u64>().unwrap()].clone());
    let (_, reply) = click(&app, &resolved, "incident:resolve").await;
    assert_eq!(reply["data"]["content"], "This incident is already resolved.");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttons_work_after_a_restart() {
    let app = spawn_app().await;
    let (_, message, arn) = declare(&app, "Before restart").await;
    // Resolve is clicked on the old process; confirmed on the new one.
    let (click_id, _) = click(&app, &message, "incident:resolve").await;
    let ephemeral = app.discord.original(click_id);
    let (discord, aws) = (app.discord.clone(), app.aws.clone());
    app.stop().await;

    let app = spawn_bot(discord, aws, TestConfig::default()).await;
    let (id, _) = submit(&app, &message, "incident:note", &[("note", "after restart")]).await;
    let events = app.aws.wait_requests("CreateTimelineEvent", 2).await;
    assert!(events.iter().any(|e| e.body["clientToken"] == format!("discord-interaction-{id}") && e.body["incidentRecordArn"] == arn));

    let confirm = ephemeral["components"][0]["components"][0]["custom_id"].as_str().unwrap().to_owned();
    let (id, _) = click(&app, &ephemeral, &confirm).await;
    let req = app.aws.wait_requests("UpdateIncidentRecord", 1).await;
    assert_eq!(req[0].body["arn"], arn);
    // The new process read the confirmation back from Discord to update it.
    let edited = app
        .discord
        .wait_for("the confirmation marked resolved", |s| {
            s.events.iter().find_map(|e| match e {
                Event::ChannelEdit { body, .. } => Some(body.clone()),
                _ => None,
            })
        })
        .await;
    assert_eq!(edited["embeds"][0]["title"], "✅ Resolved · Before restart");
    assert_eq!(app.discord.wait_edit(id, 1).await["content"], "✅ Resolved in Incident Manager.");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_are_refused_by_access_rules_and_aws_errors_are_private() {
    const ROLE: u64 = 700_000_000_000_000_009;
    let extra = Box::leak(format!("[access]\nallowed_role_ids = [{ROLE}]\n").into_boxed_str());
    let app = spawn_app_with(TestConfig { extra_toml: extra, ..TestConfig::default() }).await;
    let id = app
        .discord
        .dispatch_interaction(fake_discord::with_roles(
            fake_discord::incident_command(json!([opt("plan", "payments"), opt("title", "Guarded")])),
            &[ROLE],
        ))
        .await;
    app.discord.wait_edit(id, 1).await;
    let message = app.discord.original(id);
    let arn = app.aws.incidents()[0].1.clone();

    // Without the role: every button and dialog is refused, privately.
    for custom_id in ["incident:link", "incident:note", "incident:update", "incident:resolve"] {
        let (_, reply) = click(&app, &message, custom_id).await;
        assert_eq!(reply["data"]["flags"], 64);
        assert!(
            reply["data"]["content"]
                .as_str()
                .unwrap()
                .starts_with("⛔ Declaring incidents here takes one of these roles")
        );
    }
    let (_, reply) = submit(&app, &message, "incident:note", &[("note", "sneaky")]).await;
    assert!(reply["data"]["content"].as_str().unwrap().starts_with("⛔"));
    let update = fake_discord::update_command(json!([opt("incident", arn.as_str()), opt("note", "sneaky")]));
    let uid = app.discord.dispatch_interaction(update).await;
    assert!(app.discord.wait_callback(uid).await.0["data"]["content"].as_str().unwrap().starts_with("⛔"));
    for op in ["UpdateRelatedItems", "UpdateIncidentRecord"] {
        assert!(app.aws.requests(op).is_empty(), "{op}");
    }
    assert_eq!(app.aws.requests("CreateTimelineEvent").len(), 1, "only the declaration's event");

    // With the role, an AWS refusal is explained privately.
    app.aws.break_operation("UpdateIncidentRecord", Some(Fault::Error(403, "AccessDeniedException", "no")));
    let d =
        fake_discord::with_roles(fake_discord::modal_submit(&message, "incident:update", &[("impact", "2")]), &[ROLE]);
    let id = app.discord.dispatch_interaction(d).await;
    let followup = app
        .discord
        .wait_for("a private follow-up", |s| {
            s.events.iter().find_map(|e| match e {
                Event::Followup { interaction, body } if *interaction == id => Some(body.clone()),
                _ => None,
            })
        })
        .await;
    assert_eq!(followup["flags"], 64);
    assert!(
        followup["content"]
            .as_str()
            .unwrap()
            .starts_with("⚠️ The bot's AWS role is not allowed to update this incident."),
        "{followup:#}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_update_command_works_on_incidents_declared_elsewhere() {
    let app = spawn_app().await;
    let older = app.aws.seed_incident("Search", "Search latency", 3, 3600.0);
    let newer = app.aws.seed_incident("Payments", "Card declines", 2, 300.0);

    // Autocomplete: open incidents, newest first.
    let ac = fake_discord::update_autocomplete(json!([{"name": "incident", "type": 3, "value": "", "focused": true}]));
    let id = app.discord.dispatch_interaction(ac).await;
    let (reply, after) = app.discord.wait_callback(id).await;
    assert!(after < ACK_DEADLINE);
    let got = reply["data"]["choices"].as_array().unwrap();
    assert_eq!(got[0], json!({"name": "Card declines · impact 2 · 5 min ago", "value": newer}));
    assert_eq!(got[1]["value"], older);

    let cmd = fake_discord::update_command(json!([
        opt("incident", newer.as_str()),
        opt("link", "https://status.example.com/x arn:aws:lambda:us-east-1:111122223333:function:cards"),
        opt("note", "Issuer outage confirmed"),
        opt("impact", 1),
        {"name": "resolve", "type": 5, "value": true},
    ]));
    let id = app.discord.dispatch_interaction(cmd).await;
    let (ack, _) = app.discord.wait_callback(id).await;
    assert_eq!(ack["type"], 5);
    let edit = app.discord.wait_edit(id, 1).await;
    let e = embed(&edit);
    assert_eq!(e["title"], "🛠 Updated: Card declines");
    assert_eq!(
        field(e, "Changes"),
        "• added link `https://status.example.com/x`\n• added link `arn:aws:lambda:us-east-1:111122223333:function:cards`\n\
         • added a note to the timeline\n• impact set to 1 · Critical\n• resolved"
    );
    let links = app.aws.requests("UpdateRelatedItems");
    assert_eq!(links.len(), 2);
    assert_eq!(links[1].body["relatedItemsUpdate"]["itemToAdd"]["identifier"]["type"], "INVOLVED_RESOURCE");
    assert_eq!(links[0].body["clientToken"], format!("discord-interaction-{id}-link-0"));
    let record = app.aws.requests("UpdateIncidentRecord");
    assert_eq!(
        record[0].body,
        json!({"arn": newer, "clientToken": format!("discord-interaction-{id}-record"), "impact": 1, "status": "RESOLVED"})
    );
    let r = app.aws.record(&newer);
    assert_eq!((r.status.as_str(), r.impact, r.timeline.len(), r.related.len()), ("RESOLVED", 1, 1, 2));

    // Refusals: nothing to do; not an incident.
    for (options, expected) in [
        (json!([opt("incident", older.as_str())]), "Nothing to update: give at least one of"),
        (
            json!([opt("incident", "nope"), opt("note", "x")]),
            "`nope` is not an incident record ARN or an open incident.",
        ),
        (json!([opt("incident", older.as_str()), opt("links", "x")]), "Nothing to update"),
    ] {
        let id = app.discord.dispatch_interaction(fake_discord::update_command(options)).await;
        let (reply, _) = app.discord.wait_callback(id).await;
        assert_eq!(reply["data"]["flags"], 64);
        assert!(reply["data"]["content"].as_str().unwrap().contains(expected), "{reply:#}");
    }
    assert_eq!(app.aws.requests("UpdateIncidentRecord").len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_is_opened_linked_and_greeted() {
    let app = spawn_app_with(TestConfig { create_thread: true, ..TestConfig::default() }).await;
    let id = app.incident(json!([opt("plan", "payments"), opt("impact", 2), opt("title", "Checkout failing")])).await;
    let (message, thread, body) = app
        .discord
        .wait_for("a thread", |s| {
            s.events.iter().find_map(|e| match e {
                Event::ThreadCreated { message, thread, body, .. } => Some((*message, *thread, body.clone())),
                _ => None,
            })
        })
        .await;
    assert_eq!(body["name"], "INC · Checkout failing");
    assert_eq!(message.to_string(), app.discord.original(id)["id"].as_str().unwrap());
    let arn = app.aws.incidents()[0].1.clone();
    let link = app.aws.wait_requests("UpdateRelatedItems", 1).await;
    assert_eq!(
        link[0].body["relatedItemsUpdate"]["itemToAdd"],
        json!({"identifier": {"type": "OTHER", "value": {"url": format!("https://discord.com/channels/{GUILD_ID}/{thread}")}}, "title": "Discord thread INC · Checkout failing"})
    );
    assert_eq!(link[0].body["incidentRecordArn"], arn);
    let first = app
        .discord
        .wait_for("the thread's first message", |s| {
            s.events.iter().find_map(|e| match e {
                Event::ChannelMessage { channel, body, .. } if *channel == thread => Some(body.clone()),
                _ => None,
            })
        })
        .await;
    let text = first["content"].as_str().unwrap();
    assert!(text.starts_with(&format!("🚨 **Incident declared** by <@{USER_ID}>\nResponse plan: `payments` · Impact: 2 · High\nIncident record: `{arn}`")), "{text}");
    let edit = app.discord.wait_edit(id, 2).await;
    assert_eq!(field(embed(&edit), "Thread"), format!("<#{thread}>"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_thread_permission_does_not_stop_the_declaration() {
    let app = spawn_app_with(TestConfig { create_thread: true, ..TestConfig::default() }).await;
    app.discord.deny_threads();
    let id = app.incident(json!([opt("plan", "payments"), opt("title", "No threads here")])).await;
    let first = app.discord.wait_edit(id, 1).await;
    assert_eq!(embed(&first)["title"], "🚨 No threads here");
    let second = app.discord.wait_edit(id, 2).await;
    assert_eq!(
        field(embed(&second), "Thread"),
        "Not created: the bot lacks the Create Public Threads permission in this channel"
    );
    assert_eq!(app.aws.incidents().len(), 1);
    assert!(app.aws.requests("UpdateRelatedItems").is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recent_open_incident_of_the_same_plan_is_pointed_out() {
    let app = spawn_app_with(TestConfig { extra_plans: &[("Storage", None)], ..TestConfig::default() }).await;
    let recent = app.aws.seed_incident("Payments", "Card declines", 2, 600.0);
    let _old = app.aws.seed_incident("Payments", "Old one", 2, 3.0 * 3600.0);
    let _other = app.aws.seed_incident("Search", "Other plan", 2, 60.0);
    let id = app.incident(json!([opt("plan", "payments"), opt("title", "Payments errors")])).await;
    let edit = app.discord.wait_edit(id, 1).await;
    let dup = field(embed(&edit), "Possible duplicate");
    assert!(dup.starts_with("• Card declines (started <t:"), "{dup}");
    assert!(dup.ends_with(&format!("`{recent}`")), "{dup}");
    assert_eq!(dup.lines().count(), 1, "only the recent one of the same plan: {dup}");
    assert_eq!(app.aws.incidents().len(), 1, "the declaration was not blocked");

    // A plan with no recent open incident: no such field.
    let id = app.incident(json!([opt("plan", plan_arn("Storage")), opt("title", "Disks")])).await;
    let edit = app.discord.wait_edit(id, 1).await;
    assert!(embed(&edit)["fields"].as_array().unwrap().iter().all(|f| f["name"] != "Possible duplicate"), "{edit:#}");
    app.stop().await;
}

/// The duplicate check never holds declarations up, even before the first
/// list of open incidents has arrived and while ListIncidentRecords hangs:
/// each declaration waits at most its own 2 s, all at once (they used to
/// queue behind each other, 2 s apiece: 20 took 40 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_incident_list_does_not_queue_declarations() {
    let app = spawn_app().await;
    app.aws.set_operation_delay("ListIncidentRecords", Duration::from_secs(600));
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(app.incident(json!([opt("plan", "payments"), opt("title", format!("Burst {i}"))])).await);
    }
    for id in ids {
        let edit = app.discord.wait_edit(id, 1).await;
        assert!(embed(&edit)["title"].as_str().unwrap().starts_with("🚨 Burst "), "{edit:#}");
    }
    assert_eq!(app.aws.incidents().len(), 20);
    assert!(app.aws.requests("ListIncidentRecords").len() <= 2, "one refresh at a time");
    app.stop().await;
}

/// Two responders declare on the same plan seconds apart: the second
/// confirmation points at the first, though the list of open incidents was
/// fetched before either existed (the bot's own declaration is in it at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declaration_seconds_after_another_on_the_same_plan_points_at_it() {
    let app = spawn_app().await;
    let ac = fake_discord::update_autocomplete(json!([{"name": "incident", "type": 3, "value": "", "focused": true}]));
    let id = app.discord.dispatch_interaction(ac).await;
    app.discord.wait_callback(id).await;
    let (_, _, first) = declare(&app, "Checkout failing").await;
    let (second, _, _) = declare(&app, "Checkout failing too").await;
    let dup = field(embed(&app.discord.wait_edit(second, 1).await), "Possible duplicate").to_owned();
    assert!(dup.starts_with("• Checkout failing (started <t:") && dup.ends_with(&format!("`{first}`")), "{dup}");
    assert_eq!(app.aws.requests("ListIncidentRecords").len(), 1, "no list was needed for it");
    app.stop().await;
}

/// `/incident-update`, the buttons and the dialogs count against a per-user
/// limit of their own; over it, the user is told when to retry, privately,
/// and nothing reaches AWS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_rate_limited_per_user() {
    // (Appended to the test config's [limits] table.)
    let extra = "changes_per_user = 2\nchanges_per_user_window_secs = 600\n";
    let app = spawn_app_with(TestConfig { extra_toml: extra, ..TestConfig::default() }).await;
    let (_, message, arn) = declare(&app, "Many changes").await;
    let (_, ack) = submit(&app, &message, "incident:note", &[("note", "one")]).await;
    assert_eq!(ack["type"], 6);
    let update = fake_discord::update_command(json!([opt("incident", arn.as_str()), opt("note", "two")]));
    let id = app.discord.dispatch_interaction(update).await;
    assert_eq!(app.discord.wait_callback(id).await.0["type"], 5);
    for over in [
        fake_discord::update_command(json!([opt("incident", arn.as_str()), opt("note", "three")])),
        fake_discord::modal_submit(&message, "incident:note", &[("note", "four")]),
    ] {
        let id = app.discord.dispatch_interaction(over).await;
        let (reply, _) = app.discord.wait_callback(id).await;
        assert_eq!(reply["data"]["flags"], 64);
        let content = reply["data"]["content"].as_str().unwrap();
        assert!(
            content.starts_with("⏳ You have made 2 changes to incidents in the last 10 minutes. Try again in "),
            "{content}"
        );
    }
    app.aws.wait_requests("CreateTimelineEvent", 3).await;
    assert_eq!(app.aws.requests("CreateTimelineEvent").len(), 3, "the declaration's event and two notes");
    app.stop().await;
}
