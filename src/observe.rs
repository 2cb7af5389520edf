//! Health and metrics: an optional HTTP listener (`[server] listen`) with
//! `/healthz` (200 only when the transport is ready — the gateway connected,
//! or the interactions endpoint listening — and the commands are registered,
//! until shutdown begins) and `/metrics` (Prometheus text format).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tracing::{debug, info};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
    result: String,
}

type HistogramFamily = Family<OperationLabels, Histogram, fn() -> Histogram>;

fn aws_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// Every metric the bot exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    declarations: Family<OutcomeLabels, Counter>,
    ack_latency: Histogram,
    declare_latency: Histogram,
    aws_latency: HistogramFamily,
    reconnects: Counter,
    refused: Family<ReasonLabels, Counter>,
    mirror_leader: Gauge,
    ready: Gauge,
    mirror_lag: Histogram,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("incident_bot");
        let declarations = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "declarations",
            "/incident declarations by outcome (ok, refused, invalid, rate_limited, aws_error with its code)",
            declarations.clone(),
        );
        let ack_latency = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "ack_latency_seconds",
            "From receiving an interaction to Discord accepting its first answer",
            ack_latency.clone(),
        );
        let declare_latency = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "declare_latency_seconds",
            "From receiving /incident to the outcome being shown in Discord",
            declare_latency.clone(),
        );
        let aws_latency: HistogramFamily = Family::new_with_constructor(aws_histogram);
        registry.register("aws_call_seconds", "Incident Manager calls by operation and result", aws_latency.clone());
        let reconnects = Counter::default();
        registry.register("gateway_reconnects", "Gateway sessions resumed or re-identified", reconnects.clone());
        let refused = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "interactions_refused",
            "Requests to the HTTP interactions endpoint turned away, by reason (signature, replay, too_large, \
             method, path, body)",
            refused.clone(),
        );
        let mirror_leader = Gauge::default();
        registry.register(
            "mirror_leader",
            "1 while this replica holds the mirror's lease (one replica mirrors at a time)",
            mirror_leader.clone(),
        );
        let ready = Gauge::default();
        registry.register("ready", "1 while /healthz would answer 200 (ready to take interactions)", ready.clone());
        // 1 s to about 4.5 hours.
        let mirror_lag = Histogram::new(exponential_buckets(1.0, 2.0, 15));
        registry.register(
            "mirror_lag_seconds",
            "From a change's time in Incident Manager (its timeline event's) to its post in the thread",
            mirror_lag.clone(),
        );
        Self {
            registry,
            declarations,
            ack_latency,
            declare_latency,
            aws_latency,
            reconnects,
            refused,
            mirror_leader,
            ready,
            mirror_lag,
        }
    }

    /// Counts one declaration; `code` is the AWS error code for `aws_error`.
    pub fn declaration(&self, outcome: &str, code: &str) {
        self.declarations.get_or_create(&OutcomeLabels { outcome: outcome.to_owned(), code: code.to_owned() }).inc();
    }

    pub fn acked(&self, took: Duration) {
        self.ack_latency.observe(took.as_secs_f64());
    }

    pub fn declared(&self, took: Duration) {
        self.declare_latency.observe(took.as_secs_f64());
    }

    /// Records one Incident Manager call.
    pub fn aws_call(&self, operation: &str, ok: bool, took: Duration) {
        let labels =
            OperationLabels { operation: operation.to_owned(), result: if ok { "ok" } else { "error" }.to_owned() };
        self.aws_latency.get_or_create(&labels).observe(took.as_secs_f64());
    }

    pub fn reconnected(&self) {
        self.reconnects.inc();
    }

    /// Counts one request the interactions endpoint turned away.
    pub fn interaction_refused(&self, reason: &str) {
        self.refused.get_or_create(&ReasonLabels { reason: reason.to_owned() }).inc();
    }

    pub fn mirror_leader(&self, held: bool) {
        self.mirror_leader.set(i64::from(held));
    }

    /// A change shown by the mirror `lag_ms` after its time.
    pub fn mirror_lag(&self, lag_ms: i64) {
        self.mirror_lag.observe(lag_ms.max(0) as f64 / 1000.0);
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Whether a transport can take interactions now (the gateway: every shard
/// connected).
#[async_trait]
pub trait Readiness: Send + Sync {
    /// `Ok`, or why not.
    async fn check(&self) -> Result<(), String>;
}

/// What `/healthz` reports: the transport's readiness, and whether the
/// commands were registered.
pub struct Health {
    transport: OnceLock<Arc<dyn Readiness>>,
    registered: AtomicBool,
    /// Shutdown has begun: a load balancer should send no more.
    draining: AtomicBool,
    registered_tx: tokio::sync::watch::Sender<bool>,
    /// Bumped whenever readiness may have changed.
    changed: tokio::sync::watch::Sender<u64>,
    /// Where `/healthz` and `/metrics` are served, once bound (a configured
    /// port 0 becomes the one the system gave).
    health_addr: OnceLock<SocketAddr>,
    /// Where the HTTP interactions endpoint listens, once bound.
    endpoint_addr: OnceLock<SocketAddr>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            transport: OnceLock::new(),
            registered: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            registered_tx: tokio::sync::watch::channel(false).0,
            changed: tokio::sync::watch::channel(0).0,
            health_addr: OnceLock::new(),
            endpoint_addr: OnceLock::new(),
        }
    }
}

impl Health {
    /// Gives the health check the transport's readiness.
    pub fn watch(&self, transport: Arc<dyn Readiness>) {
        let _ = self.transport.set(transport);
        self.notify();
    }

    /// The transport's readiness may have changed (a connection opened or
    /// closed).
    pub fn notify(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// Shutdown has begun: `/healthz` says so from now on (503), so that a
    /// load balancer or orchestrator sends new work elsewhere.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.notify();
    }

    pub fn set_registered(&self) {
        self.registered.store(true, Ordering::SeqCst);
        self.registered_tx.send_replace(true);
        self.notify();
    }

    /// The address `/healthz` and `/metrics` are served on, once bound.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health_addr.get().copied()
    }

    /// The address the interactions endpoint listens on, once bound.
    pub fn endpoint_addr(&self) -> Option<SocketAddr> {
        self.endpoint_addr.get().copied()
    }

    pub(crate) fn set_endpoint_addr(&self, addr: SocketAddr) {
        let _ = self.endpoint_addr.set(addr);
    }

    /// Completes once the bot is ready (as `/healthz` would say), or after
    /// `deadline` with the reason it is not.
    pub async fn wait_ready(&self, deadline: Duration) -> Result<(), String> {
        let mut changed = self.changed.subscribe();
        let until = tokio::time::Instant::now() + deadline;
        loop {
            changed.borrow_and_update();
            let now = self.check().await;
            if now.is_ok() || tokio::time::timeout_at(until, changed.changed()).await.is_err() {
                return now;
            }
        }
    }

    /// Completes once the commands are registered (or after `deadline`).
    pub async fn wait_registered(&self, deadline: Duration) {
        let mut rx = self.registered_tx.subscribe();
        let _ = tokio::time::timeout(deadline, rx.wait_for(|r| *r)).await;
    }

    pub fn registered(&self) -> bool {
        self.registered.load(Ordering::SeqCst)
    }

    /// `Ok` when healthy, else the reason.
    pub async fn check(&self) -> Result<(), String> {
        if self.draining.load(Ordering::SeqCst) {
            return Err("shutting down".to_owned());
        }
        match self.transport.get() {
            None => return Err("the bot is starting".to_owned()),
            Some(t) => t.check().await?,
        }
        if self.registered() { Ok(()) } else { Err("the slash commands are not registered".to_owned()) }
    }
}

/// Binds `addr` and serves `/healthz` and `/metrics` until shutdown.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    tasks: &crate::shutdown::Shutdown,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let _ = health.health_addr.set(bound);
    info!(address = %bound, "serving /healthz and /metrics");
    tasks.spawn("health and metrics server", async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let (metrics, health) = (metrics.clone(), health.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let (metrics, health) = (metrics.clone(), health.clone());
                    async move { Ok::<_, std::convert::Infallible>(route(&req, &metrics, &health).await) }
                });
                if let Err(e) =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await
                {
                    debug!(error = %e, "health connection ended");
                }
            });
        }
    });
    Ok(())
}

async fn route(req: &Request<Incoming>, metrics: &Metrics, health: &Health) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method().as_str(), req.uri().path()) {
        ("GET", "/healthz") => match health.check().await {
            Ok(()) => (StatusCode::OK, "text/plain; charset=utf-8", "ok\n".to_owned()),
            Err(why) => (StatusCode::SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", format!("{why}\n")),
        },
        ("GET", "/metrics") => {
            metrics.ready.set(i64::from(health.check().await.is_ok()));
            (StatusCode::OK, "application/openmetrics-text; version=1.0.0; charset=utf-8", metrics.encode())
        }
        _ => (StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found\n".to_owned()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}
