//! The HTTP interactions endpoint (`[interactions]`): no gateway; Discord
//! POSTs every interaction, signed, and the first answer is the response.
//! The fake Discord signs as Discord does and holds the response to the
//! callback rules (schema, 3 s, one answer).

use serde_json::json;

use super::fake_discord::{self, ACK_DEADLINE, Event, signature_headers, unix_now};
use super::helpers::{TestConfig, embed, field, opt, spawn_app_with};

fn http() -> TestConfig {
    TestConfig { http_interactions: true, ..TestConfig::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_a_declaration_runs_end_to_end_without_a_gateway() {
    let app = spawn_app_with(http()).await;
    // Registered over REST; no gateway opened, not even asked for.
    app.discord.wait_commands().await;
    let id = app.incident(json!([opt("plan", "payments"), opt("title", "Checkout over HTTP"), opt("impact", 2)])).await;
    let (ack, after) = app.discord.wait_callback(id).await;
    assert!(after < ACK_DEADLINE, "first answer after {after:?}");
    assert_eq!(ack["type"], 5, "deferred: {ack}");
    let edit = app.discord.wait_edit(id, 1).await;
    let arn = app.aws.wait_for("the incident", |s| s.incidents.last().map(|(_, a)| a.clone())).await;
    assert!(edit.to_string().contains(&arn), "{edit}");
    assert_eq!(field(embed(&edit), "Impact"), "2 · High");
    let start = &app.aws.requests("StartIncident")[0];
    assert_eq!(start.body["title"], "Checkout over HTTP");
    assert_eq!(start.body["clientToken"], format!("discord-interaction-{id}"));
    app.discord.with_state(|s| {
        assert!(!s.events.iter().any(|e| matches!(e, Event::Identify(_) | Event::Resume(_))), "a gateway was opened");
    });
    assert!(app.discord.rejected().is_empty(), "{:#?}", app.discord.rejected());
    app.stop().await;
}

/// Discord takes in an endpoint's answer a moment after receiving it; an
/// outcome ready before that (Incident Manager answering at once) still
/// replaces the "thinking…" reply instead of landing in the channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_an_outcome_faster_than_discord_still_edits_the_answer() {
    let app = spawn_app_with(http()).await;
    app.discord.wait_commands().await;
    app.discord.set_answer_lag(std::time::Duration::from_millis(300));
    let id = app.incident(json!([opt("plan", "payments"), opt("title", "Faster than Discord")])).await;
    let edit = app.discord.wait_edit(id, 1).await;
    assert_eq!(embed(&edit)["title"], "🚨 Faster than Discord");
    let refused = app.discord.rejected();
    assert!(
        refused.iter().all(|e| matches!(e, Event::Rejected { status: 404, .. })),
        "only the early edits are refused: {refused:#?}"
    );
    assert!(!refused.is_empty(), "the lag made no edit early: the test tests nothing");
    assert!(
        app.discord.with_state(|s| s.channel_messages().is_empty()),
        "the outcome was posted in the channel instead"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_dialogs_buttons_and_private_refusals_are_the_response() {
    super::actions::dialogs(http()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_autocomplete_and_a_refusal_answer_in_the_response() {
    let app = spawn_app_with(http()).await;
    let focused = json!([{"name": "plan", "type": 3, "value": "pay", "focused": true}]);
    let id = app.discord.dispatch_interaction(fake_discord::incident_autocomplete(focused)).await;
    let (reply, after) = app.discord.wait_callback(id).await;
    assert!(after < ACK_DEADLINE);
    assert_eq!(reply["type"], 8);
    assert_eq!(reply["data"]["choices"][0]["value"], "payments");

    let id = app.incident(json!([opt("plan", "payments"), opt("title", "x".repeat(201))])).await;
    let (reply, _) = app.discord.wait_callback(id).await;
    assert_eq!((reply["type"].as_u64(), reply["data"]["flags"].as_u64()), (Some(4), Some(64)), "{reply}");
    assert!(app.aws.requests("StartIncident").is_empty());
    assert!(app.discord.rejected().is_empty(), "{:#?}", app.discord.rejected());
    app.stop().await;
}

/// One request to the endpoint: (status, body as text).
async fn request(url: &str, method: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, String) {
    let (status, _, answer) = fake_discord::send(method, url, headers, body.to_vec()).await;
    (status, String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_checks_path_method_size_signature_and_age_before_anything_else() {
    let app = spawn_app_with(TestConfig { health: true, ..http() }).await;
    let health = app.health_port.unwrap();
    let url = app.endpoint.clone().unwrap();
    let ping =
        json!({"id": "1", "application_id": fake_discord::APP_ID.to_string(), "type": 1, "token": "t", "version": 1})
            .to_string()
            .into_bytes();

    // Discord's own check when the URL is saved: a signed PING gets a PONG.
    let now = unix_now();
    let (status, body) = request(&url, "POST", &signature_headers(now, &ping), &ping).await;
    assert_eq!((status, body.as_str()), (200, r#"{"type":1}"#));

    // No signature, a malformed one, one that does not match: 401.
    let (status, _) = request(&url, "POST", &[], &ping).await;
    assert_eq!(status, 401);
    let [sig, ts] = signature_headers(now, &ping);
    let (status, _) = request(&url, "POST", &[(sig.0, "zz".to_owned()), ts.clone()], &ping).await;
    assert_eq!(status, 401);
    let mut tampered = ping.clone();
    tampered.extend_from_slice(b" ");
    let (status, body) = request(&url, "POST", &[sig.clone(), ts.clone()], &tampered).await;
    assert_eq!((status, body.as_str()), (401, "invalid request signature\n"));
    // Signed with another timestamp than the one sent: 401.
    let (status, _) = request(&url, "POST", &[sig.clone(), (ts.0, (now + 1).to_string())], &ping).await;
    assert_eq!(status, 401);

    // Correctly signed, but 6 minutes old (a replay), or from the future.
    for when in [now - 360, now + 360] {
        let (status, body) = request(&url, "POST", &signature_headers(when, &ping), &ping).await;
        assert_eq!((status, body.as_str()), (401, "request timestamp too far from now\n"));
    }

    // Other methods, other paths, bodies over the limit.
    let (status, _) = request(&url, "GET", &[], b"").await;
    assert_eq!(status, 405);
    let (status, _) =
        request(&url.replace("/interactions", "/other"), "POST", &signature_headers(now, &ping), &ping).await;
    assert_eq!(status, 404);
    let big = vec![b' '; 300 * 1024];
    let (status, _) = request(&url, "POST", &signature_headers(now, &big), &big).await;
    assert_eq!(status, 413);

    // A signed body that is no interaction: 400, and nothing else happened.
    let junk = br#"{"type": 2, "id": "nope"}"#;
    let (status, _) = request(&url, "POST", &signature_headers(now, junk), junk).await;
    assert_eq!(status, 400);
    // A forged declaration never reaches AWS.
    let forged = fake_discord::incident_command(json!([opt("plan", "payments"), opt("title", "forged")]));
    let forged = forged.to_string().into_bytes();
    let (status, _) = request(&url, "POST", &[sig, ts], &forged).await;
    assert_eq!(status, 401);
    assert!(app.aws.requests("StartIncident").is_empty());
    app.discord.with_state(|s| {
        assert!(!s.events.iter().any(|e| matches!(e, Event::Callback { .. } | Event::Edit { .. })), "{:#?}", s.events);
    });
    // Each refusal counted by its reason, for the operator's dashboard.
    let (_, _, metrics) = fake_discord::send("GET", &format!("http://127.0.0.1:{health}/metrics"), &[], vec![]).await;
    let metrics = String::from_utf8(metrics).unwrap();
    for (reason, n) in [("signature", 5), ("replay", 2), ("method", 1), ("path", 1), ("too_large", 1), ("body", 1)] {
        let line = format!("incident_bot_interactions_refused_total{{reason=\"{reason}\"}} {n}");
        assert!(metrics.lines().any(|l| l == line), "no `{line}` in:\n{metrics}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_a_repeated_delivery_starts_one_incident_and_gets_no_second_answer() {
    let app = spawn_app_with(http()).await;
    let id = app.incident(json!([opt("plan", "payments"), opt("title", "Twice")])).await;
    app.discord.wait_edit(id, 1).await;
    app.discord.redeliver(id).await;
    let answer = app
        .discord
        .wait_for("the endpoint's answer to the repeat", |s| {
            s.events.iter().find_map(|e| match e {
                Event::EndpointAnswer { interaction, status, .. } if *interaction == id => Some(*status),
                _ => None,
            })
        })
        .await;
    assert_eq!(answer, 204, "nothing to answer: the first delivery was answered");
    assert_eq!(app.aws.requests("StartIncident").len(), 1);
    assert_eq!(app.discord.with_state(|s| s.callbacks(id).len()), 1);
    app.stop().await;
}
