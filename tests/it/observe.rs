//! `/healthz` and `/metrics`, and the JSON log line per declaration.

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::fake_incident_manager::Fault;
use super::helpers::{TestConfig, opt, spawn_app_with};

/// `GET path` on `port`: (status, body).
pub(crate) async fn get(port: u16, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let status = raw[9..12].parse().unwrap();
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// Polls `/healthz` until it answers `status` (bounded by [`super::WAIT`]);
/// returns the body.
pub(crate) async fn wait_health(port: u16, status: u16) -> String {
    let deadline = tokio::time::Instant::now() + super::WAIT;
    loop {
        let (got, body) = get(port, "/healthz").await;
        if got == status {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "/healthz stayed {got} {body:?}, expected {status}");
        tokio::task::yield_now().await;
    }
}

/// Polls `/metrics` until `series` reaches `value`; returns the exposition.
pub(crate) async fn wait_metric(port: u16, series: &str, value: f64) -> String {
    let deadline = tokio::time::Instant::now() + super::WAIT;
    loop {
        let (status, m) = get(port, "/metrics").await;
        assert_eq!(status, 200);
        if sample(&m, series) == Some(value) {
            return m;
        }
        assert!(tokio::time::Instant::now() < deadline, "{series} never reached {value}:\n{m}");
        tokio::task::yield_now().await;
    }
}

/// The value of the sample `name{labels}` in a Prometheus text exposition.
pub(crate) fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.split(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_metrics_tell_the_truth() {
    let app = spawn_app_with(TestConfig { health: true, ..TestConfig::default() }).await;
    let port = app.health_port.unwrap();
    assert_eq!(wait_health(port, 200).await, "ok\n");

    let ok = app.incident(json!([opt("plan", "payments")])).await;
    app.discord.wait_edit(ok, 1).await;
    let invalid = app.incident(json!([opt("plan", "nope")])).await;
    app.discord.wait_callback(invalid).await;
    app.aws.push_faults([Fault::Error(403, "AccessDeniedException", "no")]);
    let denied = app.incident(json!([opt("plan", "payments")])).await;
    app.discord.wait_edit(denied, 1).await;

    // The latency of a declaration is recorded once its outcome is shown.
    let m = wait_metric(port, "incident_bot_declare_latency_seconds_count", 2.0).await;
    assert_eq!(sample(&m, r#"incident_bot_declarations_total{outcome="ok",code=""}"#), Some(1.0), "{m}");
    assert_eq!(sample(&m, r#"incident_bot_declarations_total{outcome="invalid",code=""}"#), Some(1.0));
    assert_eq!(sample(&m, r#"incident_bot_declarations_total{outcome="aws_error",code="access_denied"}"#), Some(1.0));
    assert_eq!(sample(&m, "incident_bot_ack_latency_seconds_count"), Some(2.0), "two declarations were acknowledged");
    assert_eq!(sample(&m, "incident_bot_declare_latency_seconds_count"), Some(2.0));
    assert_eq!(sample(&m, r#"incident_bot_aws_call_seconds_count{operation="StartIncident",result="ok"}"#), Some(1.0));
    assert_eq!(
        sample(&m, r#"incident_bot_aws_call_seconds_count{operation="StartIncident",result="error"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, r#"incident_bot_aws_call_seconds_count{operation="ListResponsePlans",result="ok"}"#),
        Some(1.0)
    );
    assert_eq!(sample(&m, "incident_bot_gateway_reconnects_total"), Some(0.0));
    assert_eq!(sample(&m, "incident_bot_ready"), Some(1.0), "ready, as /healthz says");
    assert!(m.contains("# TYPE incident_bot_ack_latency_seconds histogram"));

    // A reconnect is counted.
    app.discord.drop_gateway();
    app.discord
        .wait_for("a second gateway session", |s| {
            (s.events
                .iter()
                .filter(|e| {
                    matches!(e, super::fake_discord::Event::Identify(_) | super::fake_discord::Event::Resume(_))
                })
                .count()
                >= 2)
                .then_some(())
        })
        .await;
    let id = app.incident(json!([opt("plan", "payments")])).await;
    app.discord.wait_edit(id, 1).await;
    wait_metric(port, "incident_bot_declare_latency_seconds_count", 3.0).await;
    let (_, m) = get(port, "/metrics").await;
    assert_eq!(sample(&m, "incident_bot_gateway_reconnects_total"), Some(1.0), "{m}");

    // Discord unreachable: unhealthy, with the reason.
    app.discord.break_gateway();
    assert_eq!(wait_health(port, 503).await, "the Discord gateway is not connected\n");
    assert_eq!(sample(&get(port, "/metrics").await.1, "incident_bot_ready"), Some(0.0));
    assert_eq!(get(port, "/nope").await.0, 404);
    app.stop().await;
}
