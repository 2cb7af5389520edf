//! The AWS SDK's HTTP client: the same `reqwest` client stack the Discord
//! side uses (hyper, rustls on ring, Mozilla's root certificates compiled
//! in), so the process has one HTTP implementation and one trust store.
//!
//! Why not the SDK's own hyper client (`aws-smithy-http-client`): it keeps a
//! parsed copy of every system root certificate for the life of the process
//! (0.4 MB of the idle bot's 2.5 MB of heap, measured with the load
//! benchmark), and its pool has no maximum idle count, so a burst left one
//! idle connection per declaration that was in flight. Here both are set.
//!
//! What the SDK expects of an HTTP client, and how it is met:
//! - connect timeout: `[aws] connect_timeout_secs`, on the client; the read
//!   timeout the SDK asks for (none unless configured), per request; the
//!   attempt and operation timeouts stay the SDK's own;
//! - errors classified for its retry strategy: a timeout as a timeout, a
//!   failed connection or a broken one as I/O (both retried), anything else
//!   as other;
//! - a connection pool: at most [`POOL_MAX_IDLE`] idle connections, each
//!   closed after [`POOL_IDLE_TIMEOUT`].
//!
//! Incident Manager's requests and answers are small JSON documents, so
//! bodies are sent and read whole.

use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// How long an idle connection to Incident Manager is kept.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(15);
/// Idle connections kept per host: enough for the steady state (the mirror,
/// a few declarations at once); a burst's extra connections close as soon as
/// nothing waits for them.
pub const POOL_MAX_IDLE: usize = 16;

/// The SDK's HTTP client, connecting within `connect_timeout`.
pub fn client(connect_timeout: Duration) -> SharedHttpClient {
    let client = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(POOL_MAX_IDLE)
        .tcp_nodelay(true)
        // The SDK follows no redirects; neither does this client.
        .redirect(reqwest::redirect::Policy::none())
        .build();
    match client {
        Ok(client) => SharedHttpClient::new(Reqwest(client)),
        // Only a TLS back end that cannot start fails here, and rustls on
        // ring always can; the SDK then reports every call as failed.
        Err(e) => SharedHttpClient::new(Broken(e.to_string())),
    }
}

#[derive(Debug, Clone)]
struct Reqwest(reqwest::Client);

impl HttpClient for Reqwest {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(Connector { client: self.0.clone(), read_timeout: settings.read_timeout() })
    }
}

#[derive(Debug, Clone)]
struct Connector {
    client: reqwest::Client,
    read_timeout: Option<Duration>,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let this = self.clone();
        HttpConnectorFuture::new(Box::pin(async move { this.send(request).await }))
    }
}

impl Connector {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let method =
            reqwest::Method::from_bytes(request.method().as_bytes()).map_err(|e| ConnectorError::user(Box::new(e)))?;
        let mut builder = self.client.request(method, request.uri());
        for (name, value) in request.headers() {
            builder = builder.header(name, value);
        }
        if let Some(timeout) = self.read_timeout {
            builder = builder.timeout(timeout);
        }
        let Some(body) = request.body().bytes() else {
            return Err(ConnectorError::user("a streaming request body (Incident Manager sends none)".into()));
        };
        let response = builder.body(body.to_vec()).send().await.map_err(classify)?;
        let status =
            StatusCode::try_from(response.status().as_u16()).map_err(|e| ConnectorError::other(Box::new(e), None))?;
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let bytes = response.bytes().await.map_err(classify)?;
        let mut out = HttpResponse::new(status, SdkBody::from(bytes));
        for (k, v) in headers {
            out.headers_mut().append(k, v);
        }
        Ok(out)
    }
}

/// A reqwest error as the SDK's retry strategy reads it.
fn classify(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(Box::new(e))
    } else if e.is_connect() || e.is_request() || e.is_body() {
        // Refused, reset, closed mid-answer: the network's fault, worth a
        // retry.
        ConnectorError::io(Box::new(e))
    } else {
        ConnectorError::other(Box::new(e), None)
    }
}

/// Stands in for a client that could not be built.
#[derive(Debug)]
struct Broken(String);

impl HttpClient for Broken {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(BrokenConnector(self.0.clone()))
    }
}

#[derive(Debug)]
struct BrokenConnector(String);

impl HttpConnector for BrokenConnector {
    fn call(&self, _: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::ready(Err(ConnectorError::other(
            format!("the HTTP client could not be built: {}", self.0).into(),
            None,
        )))
    }
}
