//! A minimal HTTP/1.1 server on loopback for the fakes (hyper 1).

use std::future::Future;
use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A request as the fakes see it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lower-cased names, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A response from a fake.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(body).unwrap(),
        }
    }

    pub fn empty(status: u16) -> Self {
        Self { status, headers: vec![], body: vec![] }
    }

    pub fn with_header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// Binds 127.0.0.1 on a free port and serves `handler` on every connection.
pub async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Req) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Resp> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let req = Req {
                            method: parts.method.to_string(),
                            path: parts.uri.path().to_owned(),
                            query: parts.uri.query().unwrap_or_default().to_owned(),
                            headers: parts
                                .headers
                                .iter()
                                .map(|(k, v)| {
                                    (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned())
                                })
                                .collect(),
                            body,
                        };
                        let resp = handler(req).await;
                        let mut builder = hyper::Response::builder().status(resp.status);
                        for (k, v) in &resp.headers {
                            builder = builder.header(k, v);
                        }
                        Ok::<_, std::convert::Infallible>(builder.body(Full::new(Bytes::from(resp.body))).unwrap())
                    }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    addr
}

/// Waits (up to [`super::WAIT`]) until `f` returns `Some` for a fake's
/// recorded state; `changed` ticks on every change. Panics with `dump` of the
/// state on time-out, so a failing test shows what did cross the wire.
pub async fn wait_until<S, T>(
    state: &std::sync::Mutex<S>,
    changed: &watch::Sender<u64>,
    what: &str,
    f: impl Fn(&S) -> Option<T>,
    dump: impl Fn(&S) -> String,
) -> T {
    let mut rx = changed.subscribe();
    let deadline = tokio::time::Instant::now() + super::WAIT;
    loop {
        if let Some(t) = f(&state.lock().unwrap()) {
            return t;
        }
        if tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
            panic!("timed out waiting for {what}; {}", dump(&state.lock().unwrap()));
        }
    }
}
