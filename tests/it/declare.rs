//! `/incident` end to end: registration, the StartIncident body, refusals,
//! AWS error mapping, slow AWS and repeated deliveries.

use std::time::Duration;

use serde_json::{Value, json};

use super::fake_discord::{self, ACK_DEADLINE, CHANNEL_ID, CHANNEL_NAME, Event, GUILD_ID, USER_ID, USER_NAME};
use super::fake_incident_manager::{ACCOUNT, Fault, plan_arn};
use super::helpers::{TestConfig, embed, field, opt, spawn_app, spawn_app_with};

const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_incident_in_the_configured_guild() {
    let app = spawn_app().await;
    let (guild, body) = app
        .discord
        .with_state(|s| {
            s.events.iter().find_map(|e| match e {
                Event::Commands { guild, body } => Some((*guild, body.clone())),
                _ => None,
            })
        })
        .unwrap();
    assert_eq!(guild, Some(GUILD_ID));
    let impact_choices: Vec<Value> = ["1 · Critical", "2 · High", "3 · Medium", "4 · Low", "5 · No impact"]
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"name": n, "value": i + 1}))
        .collect();
    let cmd = &body[0];
    assert_eq!(body.as_array().unwrap().len(), 3);
    assert_eq!(body[1]["name"], "incident-update");
    // The message command (right-click → Apps): type 3, no description.
    assert_eq!((body[2]["name"].as_str(), body[2]["type"].as_u64()), (Some("Add to incident timeline"), Some(3)));
    assert!(body[2].get("description").is_none_or(Value::is_null), "{}", body[2]);
    assert_eq!(cmd["name"], "incident");
    assert_eq!(cmd["description"], "Declare an incident in AWS Incident Manager");
    assert_eq!(cmd["contexts"], json!([0]));
    let options = cmd["options"].as_array().unwrap();
    let names: Vec<&str> = options.iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["plan", "impact", "title", "links"]);
    assert_eq!(options[0]["type"], 3);
    assert_eq!(options[0]["required"], true);
    assert_eq!(options[0]["autocomplete"], true);
    assert_eq!(options[1]["type"], 4);
    assert_eq!(options[1]["required"], false);
    assert_eq!(options[1]["choices"], Value::Array(impact_choices));
    assert_eq!(options[2]["type"], 3);
    assert_eq!(options[2]["max_length"], 200);
    assert_eq!(options[3]["type"], 3);
    // The gateway saw the token with serenity's `Bot ` prefix and no intents.
    let identify = app
        .discord
        .with_state(|s| s.events.iter().find_map(|e| if let Event::Identify(d) = e { Some(d.clone()) } else { None }))
        .unwrap();
    assert_eq!(identify["intents"], 0);
    assert!(app.discord.rejected().is_empty(), "{:#?}", app.discord.rejected());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_globally_without_guilds_and_plan_is_optional_with_a_default() {
    let app =
        spawn_app_with(TestConfig { guild_ids: vec![], default_plan: Some("search"), ..TestConfig::default() }).await;
    let (guild, body) = app
        .discord
        .with_state(|s| {
            s.events.iter().find_map(|e| match e {
                Event::Commands { guild, body } => Some((*guild, body.clone())),
                _ => None,
            })
        })
        .unwrap();
    assert_eq!(guild, None);
    assert_eq!(body[0]["options"][0]["name"], "plan");
    assert_eq!(body[0]["options"][0]["required"], false);

    // Leaving `plan` out declares with the default plan.
    let id = app.incident(json!([opt("title", "Search is slow")])).await;
    let req = app.aws.wait_requests("StartIncident", 1).await;
    assert_eq!(req[0].body["responsePlanArn"], plan_arn("Search"));
    let edit = app.discord.wait_edit(id, 1).await;
    assert_eq!(field(embed(&edit), "Response plan"), "`search`");
    app.stop().await;
}

fn expected_channel_item() -> Value {
    json!({
        "identifier": {"type": "OTHER", "value": {"url": format!("https://discord.com/channels/{GUILD_ID}/{CHANNEL_ID}")}},
        "title": format!("Discord #{CHANNEL_NAME}")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_declaration_sends_the_exact_start_incident_body() {
    let app = spawn_app().await;
    let links = "[Grafana, checkout](https://grafana.example.com/d/abc/checkout?orgId=1&var-env=prod), \
                 arn:aws:lambda:us-east-1:111122223333:function:checkout\n<https://status.example.com/>  \
                 https://grafana.example.com/d/abc/checkout?orgId=1&var-env=prod";
    let id = app
        .incident(json!([
            opt("plan", "payments"),
            opt("impact", 2),
            opt("title", "Checkout failing for EU customers"),
            opt("links", links),
        ]))
        .await;

    // Acknowledged first, publicly (the outcome is for the whole channel).
    let (ack, after) = app.discord.wait_callback(id).await;
    assert_eq!(ack["type"], 5);
    assert!(ack["data"]["flags"].is_null(), "the outcome is for the whole channel: {ack:#}");
    assert!(after < ACK_DEADLINE);

    let req = app.aws.wait_requests("StartIncident", 1).await;
    let body = &req[0].body;
    let created_ms = (id >> 22) + DISCORD_EPOCH_MS;
    let expected = json!({
        "clientToken": format!("discord-interaction-{id}"),
        "impact": 2,
        "relatedItems": [
            {"identifier": {"type": "OTHER", "value": {"url": "https://grafana.example.com/d/abc/checkout?orgId=1&var-env=prod"}}, "title": "Grafana, checkout"},
            {"identifier": {"type": "INVOLVED_RESOURCE", "value": {"arn": "arn:aws:lambda:us-east-1:111122223333:function:checkout"}}, "title": "lambda function:checkout"},
            {"identifier": {"type": "OTHER", "value": {"url": "https://status.example.com/"}}, "title": "status.example.com"},
            expected_channel_item(),
        ],
        "responsePlanArn": plan_arn("Payments"),
        "title": "Checkout failing for EU customers",
        "triggerDetails": {
            "rawData": format!(r#"{{"guildId":"{GUILD_ID}","channelId":"{CHANNEL_ID}","userId":"{USER_ID}","userName":"{USER_NAME}","interactionId":"{id}"}}"#),
            "source": "discord.incident-bot",
            "timestamp": body["triggerDetails"]["timestamp"].clone(),
        }
    });
    assert_eq!(body, &expected);
    let ts = body["triggerDetails"]["timestamp"].as_f64().unwrap();
    assert!(
        (ts * 1000.0 - created_ms as f64).abs() < 1.0,
        "timestamp {ts} is not the interaction's creation {created_ms}"
    );
    assert_eq!(req[0].status, 200);

    // The reply: an embed with the ARN, not raw JSON.
    let edit = app.discord.wait_edit(id, 1).await;
    let arn = app.aws.incidents()[0].1.clone();
    assert!(arn.starts_with(&format!("arn:aws:ssm-incidents::{ACCOUNT}:incident-record/Payments/")));
    let e = embed(&edit);
    assert_eq!(e["title"], "🚨 Checkout failing for EU customers");
    assert_eq!(field(e, "Impact"), "2 · High");
    assert_eq!(field(e, "Response plan"), "`payments`");
    assert_eq!(field(e, "Declared by"), format!("<@{USER_ID}>"));
    assert_eq!(field(e, "Incident record ARN"), format!("```\n{arn}\n```"));
    let items = field(e, "Related items");
    assert!(
        items.contains("[Grafana, checkout](https://grafana.example.com/d/abc/checkout?orgId=1&var-env=prod)"),
        "{items}"
    );
    assert!(items.contains("`arn:aws:lambda:us-east-1:111122223333:function:checkout`"), "{items}");
    assert!(items.contains(&format!("(https://discord.com/channels/{GUILD_ID}/{CHANNEL_ID})")), "{items}");
    let console = "https://us-east-1.console.aws.amazon.com/systems-manager/incidents/home?region=us-east-1";
    assert_eq!(e["url"], console);
    assert_eq!(field(e, "Incident Manager"), format!("[Open the console]({console})"));
    assert_eq!(edit["allowed_mentions"], json!({"parse": [], "roles": [], "users": []}), "no pings from the reply");
    assert!(!edit.to_string().contains("\"relatedItems\""), "no raw JSON in the reply");
    assert!(app.discord.rejected().is_empty(), "{:#?}", app.discord.rejected());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_fields_are_left_to_the_response_plan() {
    let app = spawn_app().await;
    let id = app.incident(json!([opt("plan", "PAYMENTS")])).await;
    let req = app.aws.wait_requests("StartIncident", 1).await;
    let body = req[0].body.as_object().unwrap();
    let keys: Vec<&str> = body.keys().map(String::as_str).collect();
    assert_eq!(keys, ["clientToken", "relatedItems", "responsePlanArn", "triggerDetails"]);
    assert_eq!(body["relatedItems"], json!([expected_channel_item()]));
    let edit = app.discord.wait_edit(id, 1).await;
    assert_eq!(embed(&edit)["title"], "🚨 Incident declared (payments)");
    assert_eq!(field(embed(&edit), "Impact"), "Response plan's default");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_gets_a_private_answer_and_no_aws_call() {
    let app = spawn_app().await;
    let hundred: Vec<String> = (0..100).map(|i| format!("https://example.com/{i}")).collect();
    let cases: Vec<(Value, &str)> = vec![
        (json!([opt("plan", "nope")]), "`nope` is not a response plan here. Pick one of `ghost`, `payments`, `search`"),
        (json!([opt("title", "x")]), "Choose a response plan"),
        (json!([opt("plan", "arn:aws:ssm-incidents::111122223333:incident-record/x/y")]), "is not a response plan ARN"),
        (json!([opt("plan", "payments"), opt("impact", 9)]), "The impact must be 1 (Critical) to 5 (No impact), got 9"),
        (
            json!([opt("plan", "payments"), opt("title", "t".repeat(201))]),
            "201 characters long; Incident Manager allows at most 200",
        ),
        (
            json!([opt("plan", "payments"), opt("links", "ftp://files.example.com/x")]),
            "Link `ftp://files.example.com/x` uses the `ftp` scheme",
        ),
        (
            json!([opt("plan", "payments"), opt("links", "dashboard.example.com")]),
            "Link `dashboard.example.com` is neither a link",
        ),
        (
            json!([opt("plan", "payments"), opt("links", "arn:aws:lambda:us-east-1:123:function:x")]),
            "is not a valid ARN: it has an account id that is not 12 digits",
        ),
        (
            json!([opt("plan", "payments"), opt("links", format!("https://example.com/{}", "a".repeat(1000)))]),
            "Incident Manager accepts URLs of at most 1000",
        ),
        (
            json!([opt("plan", "payments"), opt("links", format!("[{}](https://example.com)", "t".repeat(201)))]),
            "has a title of 201 characters",
        ),
        (
            json!([opt("plan", "payments"), opt("links", hundred.join(" "))]),
            "Link `https://example.com/99` is one link too many: Incident Manager accepts at most 99 here",
        ),
    ];
    for (options, expected) in &cases {
        let id = app.incident(options.clone()).await;
        let (reply, after) = app.discord.wait_callback(id).await;
        assert!(after < ACK_DEADLINE);
        assert_eq!(reply["type"], 4, "{reply:#}");
        assert_eq!(reply["data"]["flags"], 64, "refusals are ephemeral: {reply:#}");
        let content = reply["data"]["content"].as_str().unwrap();
        assert!(content.contains(expected), "{content:?} should contain {expected:?}");
        assert!(content.ends_with("Nothing was declared."), "{content}");
    }
    // A valid declaration afterwards is the barrier: its request is the only one.
    let id = app.incident(json!([opt("plan", "payments")])).await;
    app.discord.wait_edit(id, 1).await;
    let requests = app.aws.requests("StartIncident");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].body["clientToken"], format!("discord-interaction-{id}"));
    assert!(app.discord.rejected().is_empty(), "{:#?}", app.discord.rejected());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_errors_become_short_specific_messages() {
    let app = spawn_app().await;
    let cases: Vec<(Option<Fault>, &str, &str)> = vec![
        (
            Some(Fault::Error(
                403,
                "AccessDeniedException",
                "User: arn:aws:sts::111122223333:assumed-role/bot is not authorized",
            )),
            "payments",
            "An operator must grant `ssm-incidents:StartIncident` on `arn:aws:ssm-incidents::111122223333:response-plan/Payments`",
        ),
        (None, "ghost", "Response plan `ghost` was not found in us-east-1"),
        (
            Some(Fault::Error(429, "ThrottlingException", "Rate exceeded")),
            "payments",
            "Incident Manager is throttling requests and still refused after retries. Nothing was declared",
        ),
        (
            Some(Fault::Error(
                400,
                "ValidationException",
                "1 validation error detected: Value 'x' at 'title' failed to satisfy constraint: Member must have length less than or equal to 200",
            )),
            "payments",
            "Incident Manager rejected the `title` field of the request. Nothing was declared.",
        ),
        (Some(Fault::Error(409, "ConflictException", "conflict")), "payments", "conflicting change in progress"),
        (
            Some(Fault::Error(500, "InternalServerException", "boom")),
            "payments",
            "Incident Manager had an internal error",
        ),
        (
            Some(Fault::Error(402, "ServiceQuotaExceededException", "quota")),
            "payments",
            "The account has reached an Incident Manager quota",
        ),
        (
            Some(Fault::Error(403, "UnrecognizedClientException", "bad token")),
            "payments",
            "AWS rejected the bot's credentials (`UnrecognizedClientException`)",
        ),
    ];
    for (fault, plan, expected) in cases {
        app.aws.push_faults(fault);
        let id = app.incident(json!([opt("plan", plan), opt("title", "Checkout down")])).await;
        let edit = app.discord.wait_edit(id, 1).await;
        let e = embed(&edit);
        assert_eq!(e["title"], "⚠️ Incident not declared");
        let description = e["description"].as_str().unwrap();
        assert!(description.contains(expected), "{description:?} should contain {expected:?}");
        assert!(!description.contains("not authorized"), "raw AWS messages stay in the log");
    }
    assert!(app.aws.incidents().is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_incident_manager_is_reported() {
    let closed = super::helpers::CLOSED;
    let app =
        spawn_app_with(TestConfig { endpoint_url: Some(format!("http://{closed}")), ..TestConfig::default() }).await;
    let id = app.incident(json!([opt("plan", "payments")])).await;
    let edit = app.discord.wait_edit(id, 1).await;
    assert_eq!(
        embed(&edit)["description"],
        "Could not reach Incident Manager, nothing was declared — retry `/incident`."
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_in_time_says_the_outcome_is_unknown() {
    let app = spawn_app_with(TestConfig { attempt_timeout_secs: 1, ..TestConfig::default() }).await;
    app.aws.set_delay(Duration::from_secs(3));
    let id = app.incident(json!([opt("plan", "payments")])).await;
    let edit = app.discord.wait_edit(id, 1).await;
    assert_eq!(embed(&edit)["title"], "⚠️ Declaration outcome unknown");
    assert!(embed(&edit)["description"].as_str().unwrap().contains("may or may not have been declared"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_start_incident_is_acknowledged_in_time_then_edited() {
    let app = spawn_app().await;
    app.aws.set_delay(Duration::from_secs(5));
    let id = app.incident(json!([opt("plan", "payments"), opt("title", "Slow AWS")])).await;
    let (ack, after) = app.discord.wait_callback(id).await;
    assert_eq!(ack["type"], 5);
    // The one timing assertion: Discord's own 3-second rule.
    assert!(after < ACK_DEADLINE, "acknowledged after {after:?}");
    let edit = app.discord.wait_edit(id, 1).await;
    assert_eq!(embed(&edit)["title"], "🚨 Slow AWS");
    assert_eq!(app.aws.incidents().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_delivery_starts_one_incident() {
    let app = spawn_app().await;
    let id = app.incident(json!([opt("plan", "payments"), opt("title", "Once")])).await;
    app.discord.redeliver(id).await;
    app.discord.redeliver(id).await;
    app.discord.wait_edit(id, 1).await;
    // A different /incident by the same user is a new incident (and the barrier).
    let second = app.incident(json!([opt("plan", "payments"), opt("title", "Once")])).await;
    app.discord.wait_edit(second, 1).await;
    let requests = app.aws.requests("StartIncident");
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(app.aws.incidents().len(), 2);
    assert_eq!(app.discord.with_state(|s| s.callbacks(id).len()), 1);
    assert_eq!(app.discord.with_state(|s| s.edits(id).len()), 1);
    assert!(app.discord.rejected().is_empty(), "{:#?}", app.discord.rejected());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_autocomplete_matches_what_was_typed() {
    let app = spawn_app().await;
    super::helpers::wait_plans_listed(&app).await;
    let focused = json!([{"name": "plan", "type": 3, "value": "pa", "focused": true}]);
    let id = app.discord.dispatch_interaction(fake_discord::incident_autocomplete(focused)).await;
    let (reply, _) = app.discord.wait_callback(id).await;
    assert_eq!(
        reply,
        json!({"type": 8, "data": {"choices": [{"name": "Payments team (payments)", "value": "payments"}]}})
    );
    let all = json!([{"name": "plan", "type": 3, "value": "", "focused": true}]);
    let id = app.discord.dispatch_interaction(fake_discord::incident_autocomplete(all)).await;
    let (reply, _) = app.discord.wait_callback(id).await;
    let values: Vec<&str> =
        reply["data"]["choices"].as_array().unwrap().iter().map(|c| c["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["ghost", "payments", "search"]);
    assert!(app.aws.requests("StartIncident").is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcome_is_posted_to_the_channel_when_the_interaction_token_expired() {
    let app = spawn_app().await;
    // Discord's tokens live 15 minutes; here AWS answers after the token died.
    app.discord.set_token_lifetime(Duration::from_secs(2));
    app.aws.set_delay(Duration::from_secs(3));
    let id = app.incident(json!([opt("plan", "payments"), opt("title", "Late answer")])).await;
    let message = app.discord.wait_for("a channel message", |s| s.channel_messages().into_iter().next()).await;
    assert_eq!(message["embeds"][0]["title"], "🚨 Late answer");
    let arn = app.aws.incidents()[0].1.clone();
    assert_eq!(field(&message["embeds"][0], "Incident record ARN"), format!("```\n{arn}\n```"));
    assert!(app.discord.with_state(|s| s.edits(id).is_empty()));
    let rejected = app.discord.rejected();
    assert_eq!(rejected.len(), 1, "only the expired edit: {rejected:#?}");
    assert!(matches!(&rejected[0], Event::Rejected { status: 401, .. }));
    app.stop().await;
}
