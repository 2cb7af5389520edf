//! The flows through the real accept path, on the in-memory backend and a
//! recording Discord: no server, and every answer asserted as it would be
//! sent.

use std::time::Duration;

use serde_json::{Value, json};

use crate::backend::{ErrorKind, Operation};
use crate::testing::{CHANNEL, Harness, USER, autocomplete, click, command, opt, submit};

fn declare(title: &str) -> Value {
    command("incident", json!([opt("plan", "payments"), opt("title", title), opt("impact", 2)]))
}

/// The confirmation a declaration ended with (its last edit's embed).
fn confirmation(h: &Harness, id: u64) -> Value {
    h.edits(id).last().unwrap_or_else(|| panic!("{id} was not edited"))["embeds"][0].clone()
}

fn field<'a>(embed: &'a Value, name: &str) -> Option<&'a str> {
    embed["fields"].as_array()?.iter().find(|f| f["name"] == name)?["value"].as_str()
}

#[tokio::test]
async fn a_declaration_is_acknowledged_started_and_confirmed() {
    let h = Harness::new("");
    let id = h.send(declare("Checkout failing")).await;
    assert_eq!(h.answer(id)["type"], 5, "deferred first");
    let records = h.backend.records();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!((record.title.as_str(), record.impact), ("Checkout failing", 2));
    assert_eq!(record.related[0].value(), format!("https://discord.com/channels/{}/{CHANNEL}", crate::testing::GUILD));
    assert_eq!(record.timeline, ["Declared from Discord by alice in #ops"]);
    let embed = confirmation(&h, id);
    assert_eq!(embed["title"], "🚨 Checkout failing");
    assert!(field(&embed, "Incident record ARN").unwrap().contains(record.arn.as_str()));
    assert_eq!(
        h.edits(id)[0]["allowed_mentions"],
        json!({"parse": [], "roles": [], "users": []}),
        "mentions never ping"
    );
}

#[tokio::test]
async fn refusals_are_private_and_cost_no_aws_call() {
    let h = Harness::new("[access]\nallowed_channel_ids = [1]\n");
    let id = h.send(declare("Elsewhere")).await;
    let answer = h.answer(id);
    assert_eq!(answer["data"]["flags"], 64);
    assert_eq!(answer["data"]["content"], "⛔ `/incident` can only be used in <#1>. Nothing was declared.");

    let h = Harness::new("");
    let id = h.send(command("incident", json!([opt("plan", "nope")]))).await;
    let content = h.answer(id)["data"]["content"].as_str().unwrap().to_owned();
    assert!(content.starts_with("⚠️ `nope` is not a response plan here."), "{content}");
    let id = h.send(command("incident-update", json!([opt("incident", "not-an-arn"), opt("note", "x")]))).await;
    assert_eq!(
        h.answer(id)["data"]["content"],
        "⚠️ `not-an-arn` is not an incident record ARN or an open incident. Nothing was changed."
    );
    assert_eq!(h.backend.total_calls(), 1, "only the open incidents were listed: {:?}", h.backend.records());
}

#[tokio::test]
async fn an_aws_failure_is_shown_with_what_to_do() {
    let h = Harness::new("");
    h.backend.fail_next(Operation::StartIncident, ErrorKind::AccessDenied);
    let id = h.send(declare("Denied")).await;
    let embed = confirmation(&h, id);
    assert_eq!(embed["title"], "⚠️ Incident not declared");
    let text = embed["description"].as_str().unwrap();
    assert!(
        text.contains("`ssm-incidents:StartIncident` on `arn:aws:ssm-incidents::111122223333:response-plan/Payments`"),
        "{text}"
    );
}

/// Bug: the second of two declarations on one plan seconds apart did not
/// point at the first, because the list of open incidents learnt of the
/// bot's own declaration only at its next refresh.
#[tokio::test]
async fn a_second_declaration_on_the_same_plan_points_at_the_first() {
    let h = Harness::new("");
    // The list of open incidents is loaded (and fresh) before either exists.
    h.send(autocomplete("incident-update", "incident", "")).await;
    let first = h.send(declare("Checkout failing")).await;
    let first_arn = h.backend.records()[0].arn.clone();
    let second = h.send(declare("Checkout still failing")).await;
    assert!(field(&confirmation(&h, first), "Possible duplicate").is_none());
    let second = confirmation(&h, second);
    let hint = field(&second, "Possible duplicate").unwrap_or_else(|| panic!("no hint in {second:#}"));
    assert!(hint.contains(first_arn.as_str()) && hint.contains("Checkout failing"), "{hint}");
    assert_eq!(h.backend.calls(Operation::ListIncidentRecords), 1, "from the bot's own write, not a new list");
}

fn choices(h: &Harness, id: u64) -> Vec<String> {
    let answer = h.answer(id);
    assert_eq!(answer["type"], 8);
    answer["data"]["choices"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
}

/// Bug: incidents opened elsewhere (the AWS CLI) seconds earlier were not
/// offered by `/incident-update`'s autocomplete.
#[tokio::test(start_paused = true)]
async fn incidents_opened_elsewhere_seconds_ago_are_offered() {
    let h = Harness::new("");
    let id = h.send(autocomplete("incident-update", "incident", "")).await;
    assert!(choices(&h, id).is_empty());
    let now = crate::domain::incident::now_unix();
    h.backend.open_elsewhere("Payments", "Opened with the CLI", 2, now);
    h.backend.open_elsewhere("Search", "Also with the CLI", 3, now);
    tokio::time::advance(Duration::from_secs(4)).await;
    let id = h.send(autocomplete("incident-update", "incident", "")).await;
    let offered = choices(&h, id);
    assert_eq!(offered.len(), 2, "{offered:?}");
    assert!(offered[0].starts_with("Opened with the CLI · impact 2 · "), "{offered:?}");
}

/// Bug: `/incident-update`, the buttons and the dialogs had no per-user
/// rate limit.
#[tokio::test]
async fn changes_have_a_per_user_rate_limit_of_their_own() {
    let h = Harness::new("[limits]\nchanges_per_user = 2\nper_user = 5\n");
    let id = h.send(declare("Busy")).await;
    let arn = h.backend.records()[0].arn.to_string();
    let message = h.discord.original(id);
    for n in 0..2 {
        let id = h
            .send(command("incident-update", json!([opt("incident", arn.clone()), opt("note", format!("n{n}"))])))
            .await;
        assert_eq!(h.answer(id)["type"], 5);
    }
    let id = h.send(command("incident-update", json!([opt("incident", arn.clone()), opt("note", "third")]))).await;
    let refused = h.answer(id)["data"]["content"].as_str().unwrap().to_owned();
    assert!(refused.starts_with("⏳ You have made 2 changes to incidents in the last minute."), "{refused}");
    let id = h.send(submit(&message, "incident:note", &[("note", "from a dialog")])).await;
    assert!(h.answer(id)["data"]["content"].as_str().unwrap().starts_with("⏳ You have made 2 changes"));
    assert_eq!(h.backend.calls(Operation::CreateTimelineEvent), 3, "the declaration's event and two notes");
    // Declarations are limited on their own.
    let id = h.send(declare("Still allowed")).await;
    assert_eq!(h.answer(id)["type"], 5);
}

#[tokio::test]
async fn resolve_asks_then_resolves_and_the_lists_know_at_once() {
    let h = Harness::new("");
    let id = h.send(declare("To resolve")).await;
    let arn = h.backend.records()[0].arn.clone();
    let message = h.discord.original(id);
    let ask = h.send(click(&message, "incident:resolve")).await;
    let prompt = h.answer(ask);
    assert_eq!(prompt["data"]["flags"], 64);
    assert!(prompt["data"]["content"].as_str().unwrap().contains(arn.as_str()));
    assert_eq!(h.backend.calls(Operation::UpdateIncidentRecord), 0, "nothing before the confirmation");
    let confirm = prompt["data"]["components"][0]["components"][0]["custom_id"].as_str().unwrap().to_owned();
    let id = h.send(click(&h.discord.original(ask), &confirm)).await;
    assert_eq!(h.answer(id)["type"], 6);
    assert!(h.backend.record(&arn).unwrap().resolved);
    let edited = h.discord.calls_to("edit_message", message["id"].as_str().unwrap());
    assert_eq!(edited[0]["embeds"][0]["title"], "✅ Resolved · To resolve");
    assert!(field(&edited[0]["embeds"][0], "Status").unwrap().starts_with(&format!("Resolved by <@{USER}>")));
    assert_eq!(h.edits(id)[0]["content"], "✅ Resolved in Incident Manager.");
    // The open incidents no longer offer it, without a new list.
    let id = h.send(autocomplete("incident-update", "incident", "")).await;
    assert!(choices(&h, id).is_empty());
    // A resolved confirmation is not resolved twice.
    let resolved = h.discord.message(message["id"].as_str().unwrap().parse().unwrap());
    let again = h.send(click(&resolved, "incident:resolve")).await;
    assert_eq!(h.answer(again)["data"]["content"], "This incident is already resolved.");
}

#[tokio::test]
async fn an_update_applies_links_note_and_title_in_order() {
    let h = Harness::new("");
    let arn = h.backend.open_elsewhere("Payments", "From the console", 3, 0);
    let options = json!([
        opt("incident", arn.to_string()),
        opt("link", "https://grafana.example.com/d/1 [Runbook](https://wiki.example.com/r)"),
        opt("note", "Rolled back"),
        opt("title", "Checkout degraded"),
        opt("impact", 2)
    ]);
    let id = h.send(command("incident-update", options)).await;
    let record = h.backend.record(&arn).unwrap();
    assert_eq!(record.related.len(), 2);
    assert_eq!(record.timeline, ["Note from alice on Discord: Rolled back"]);
    assert_eq!((record.title.as_str(), record.impact), ("Checkout degraded", 2));
    let summary = &h.edits(id)[0]["embeds"][0];
    assert_eq!(summary["title"], "🛠 Updated: From the console");
    let changes = field(summary, "Changes").unwrap();
    assert_eq!(changes.lines().count(), 5, "{changes}");

    // A failure midway says what was already done.
    h.backend.fail_next(Operation::CreateTimelineEvent, ErrorKind::AccessDenied);
    let options = json!([opt("incident", arn.to_string()), opt("link", "https://x.example.com"), opt("note", "n")]);
    let id = h.send(command("incident-update", options)).await;
    let text = h.edits(id)[0]["content"].as_str().unwrap().to_owned();
    assert!(
        text.contains("`ssm-incidents:CreateTimelineEvent`")
            && text.ends_with("Already done: added link `https://x.example.com`."),
        "{text}"
    );
}

#[tokio::test]
async fn dialogs_check_their_input_then_change_the_confirmation() {
    let h = Harness::new("");
    let id = h.send(declare("Old title")).await;
    let message = h.discord.original(id);
    let form = h.send(click(&message, "incident:update")).await;
    let inputs = &h.answer(form)["data"]["components"];
    assert_eq!(inputs[0]["components"][0]["value"], "Old title");
    assert_eq!(inputs[1]["components"][0]["value"], "2");

    let bad = h.send(submit(&message, "incident:update", &[("impact", "9")])).await;
    assert_eq!(
        h.answer(bad)["data"]["content"],
        "⚠️ `9` is not an impact: use 1 (Critical) to 5 (No impact). Nothing was changed."
    );
    let ok = h.send(submit(&message, "incident:update", &[("title", "New title"), ("impact", "1")])).await;
    assert_eq!(h.answer(ok)["type"], 6);
    let embed = &h.edits(ok)[0]["embeds"][0];
    assert_eq!((embed["title"].as_str(), field(embed, "Impact")), (Some("🚨 New title"), Some("1 · Critical")));
    assert_eq!(h.backend.records()[0].title, "New title");
}

#[tokio::test]
async fn while_draining_every_change_is_turned_away() {
    let h = Harness::new("");
    let id = h.send(declare("Before the restart")).await;
    let message = h.discord.original(id);
    assert_eq!(h.bot.drain(Duration::from_secs(1)).await, 0);
    let id = h.send(submit(&message, "incident:note", &[("note", "late")])).await;
    assert_eq!(
        h.answer(id)["data"]["content"],
        "⏳ incident-bot is restarting. Try again in a few seconds. Nothing was changed."
    );
    let id = h.send(declare("During the restart")).await;
    assert!(
        h.answer(id)["data"]["content"]
            .as_str()
            .unwrap()
            .starts_with("⏳ incident-bot is restarting. Run `/incident` again")
    );
    assert_eq!(h.backend.calls(Operation::CreateTimelineEvent), 1, "only the first declaration's");
    // Autocomplete still answers.
    let id = h.send(autocomplete("incident", "plan", "pay")).await;
    assert_eq!(h.answer(id)["type"], 8);
}

#[tokio::test]
async fn a_repeated_delivery_is_handled_once() {
    let h = Harness::new("");
    let id = h.send(declare("Once")).await;
    h.redeliver(declare("Once"), id).await;
    assert_eq!(h.backend.calls(Operation::StartIncident), 1);
    assert_eq!(h.discord.calls_to("callback", &id.to_string()).len(), 1, "answered once");
    // Autocomplete is asked again as the user types: not de-duplicated.
    let ask = h.send(autocomplete("incident", "plan", "")).await;
    h.redeliver(autocomplete("incident", "plan", ""), ask).await;
    assert_eq!(h.discord.calls_to("callback", &ask.to_string()).len(), 2);
}

/// The shared store unreachable: a page is never lost to the bot's
/// bookkeeping. The declaration is handled (the limits let it through), and
/// a repeated delivery, which cannot be told apart now, is still one
/// incident: the client token is the interaction's.
#[tokio::test]
async fn an_unreachable_shared_store_loses_no_declaration() {
    let h = Harness::with_coordinator("[limits]\nper_user = 1\n", std::sync::Arc::new(crate::testing::Unreachable));
    let id = h.send(declare("Store down")).await;
    assert_eq!(confirmation(&h, id)["title"], "🚨 Store down");
    let again = h.send(declare("Store down, again")).await;
    assert_eq!(confirmation(&h, again)["title"], "🚨 Store down, again", "no limit counted: let through");
    h.redeliver(declare("Store down"), id).await;
    assert_eq!(h.backend.calls(Operation::StartIncident), 3);
    assert_eq!(h.backend.records().len(), 2, "the repeat started no second incident");
}

/// The mirror, on the same in-memory parts: what others change reaches the
/// incident's channel once, the bot's own change is not shown back, and a
/// resolve elsewhere ends with the summary.
#[tokio::test]
async fn the_mirror_shows_changes_made_elsewhere_once_and_not_the_bots_own() {
    use crate::domain::{Impact, RecordChange};
    use crate::store::Store as _;
    use crate::sync::Mirror;

    let h = Harness::new("");
    let id = h.send(declare("Checkout failing")).await;
    let arn = h.backend.records()[0].arn.clone();
    let (home, _) = h.store.home_of(&arn).await.unwrap().expect("the declaration is followed");
    assert_eq!(home.channel, CHANNEL, "no thread: the channel is the incident's home");
    let message = h.discord.original(id);
    let confirmation_id = message["id"].as_str().unwrap().parse::<u64>().unwrap();
    assert_eq!(home.confirmation, Some((CHANNEL, confirmation_id)));
    let mirror = Mirror::new(h.bot.services().clone(), Duration::from_secs(15), Duration::ZERO);
    let posts = || h.discord.calls_to("post", &CHANNEL.to_string());

    mirror.pass(0).await; // the first look reads the record, shows nothing
    assert!(posts().is_empty(), "nothing from before: {:?}", posts());

    let by = "arn:aws:sts::111122223333:assumed-role/Operator/alice";
    let impact = RecordChange { impact: Some(Impact::new(1).unwrap()), ..RecordChange::default() };
    h.backend.change_elsewhere(&arn, &impact, by);
    h.backend.event_elsewhere(&arn, "Custom Event", r#""Paged the database team""#);
    mirror.pass(1).await;
    mirror.pass(2).await;
    let texts: Vec<String> = posts().iter().map(|p| p["content"].as_str().unwrap().to_owned()).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|t| t.contains("`Operator/alice` changed the impact") && t.contains("2 · High → **1 · Critical**")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.contains("Paged the database team")), "{texts:?}");

    // The bot's own rename (the dialog) and note are not shown back.
    let ok = h.send(submit(&message, "incident:update", &[("title", "Checkout down"), ("impact", "1")])).await;
    assert_eq!(h.answer(ok)["type"], 6);
    let note = json!([opt("incident", arn.to_string()), opt("note", "Rolled back")]);
    h.send(command("incident-update", note)).await;
    mirror.pass(3).await;
    assert_eq!(posts().len(), 2, "{:?}", posts());
    assert_eq!(h.backend.record(&arn).unwrap().title, "Checkout down");

    let resolve = RecordChange { resolve: true, ..RecordChange::default() };
    h.backend.change_elsewhere(&arn, &resolve, by);
    mirror.pass(5).await;
    let all = posts();
    assert!(all.iter().any(|p| p["content"].as_str().unwrap().contains("resolved the incident")), "{all:?}");
    let summary = all.last().unwrap();
    assert_eq!(summary["files"][0]["name"], "incident-summary.md");
    let markdown = summary["files"][0]["bytes"].as_str().unwrap();
    println!("{}\n----\n{markdown}", summary["content"].as_str().unwrap());
    for part in ["Checkout down", "Paged the database team", "Rolled back", "`Operator/alice`", &format!("<@{USER}>")] {
        assert!(markdown.contains(part), "{part} missing from the summary:\n{markdown}");
    }
    mirror.pass(6).await; // archive due at once: done
    assert!(h.store.homes().await.unwrap().is_empty(), "a finished incident is no longer polled");
    let calls = || Operation::ALL.iter().map(|o| h.backend.calls(*o)).collect::<Vec<_>>();
    let before = calls();
    mirror.pass(8).await;
    assert_eq!(calls(), before, "no AWS call for a finished incident");

    // Reopened in the console: found again by the look for open incidents
    // (the 4th pass), shown, and the summary comes again when it is resolved.
    h.backend.reopen_elsewhere(&arn, by);
    mirror.pass(9).await; // an open list older than a minute is not re-read yet…
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(61)).await;
    tokio::time::resume();
    mirror.pass(11).await;
    mirror.pass(12).await;
    let reopened = posts().len() - all.len();
    assert_eq!(reopened, 1, "{:?}", posts());
    assert!(posts().last().unwrap()["content"].as_str().unwrap().contains("`Operator/alice` 🔁 reopened the incident"));
}
