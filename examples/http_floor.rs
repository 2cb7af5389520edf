//! The HTTP interactions mode's floor: the least an endpoint can do — verify
//! each request's Ed25519 signature as Discord requires, answer a PING with
//! a PONG and anything else with a deferral ("thinking…"), on hyper alone.
//! Same runtime shape as incident-bot (one thread). `cargo bench --bench
//! loadgen` runs it beside the bot's HTTP mode, so the bot's figures can be
//! read as ratios on a shared machine.
//!
//! Environment: LISTEN (address:port), PUBLIC_KEY (hex).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use ring::signature::{ED25519, UnparsedPublicKey};

fn main() {
    let addr: std::net::SocketAddr = std::env::var("LISTEN").expect("LISTEN").parse().expect("LISTEN");
    let key: [u8; 32] = hex::decode(std::env::var("PUBLIC_KEY").expect("PUBLIC_KEY")).expect("hex").try_into().unwrap();
    let key = Arc::new(UnparsedPublicKey::new(&ED25519, key));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            let key = key.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let key = key.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(req, &key).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
}

async fn answer(req: Request<Incoming>, key: &UnparsedPublicKey<[u8; 32]>) -> Response<Full<Bytes>> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (Some(sig), Some(ts)) = (header("x-signature-ed25519"), header("x-signature-timestamp")) else {
        return status(StatusCode::UNAUTHORIZED);
    };
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let mut signed = ts.into_bytes();
    signed.extend_from_slice(&body);
    let Ok(sig) = hex::decode(sig) else { return status(StatusCode::UNAUTHORIZED) };
    if key.verify(&signed, &sig).is_err() {
        return status(StatusCode::UNAUTHORIZED);
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else { return status(StatusCode::BAD_REQUEST) };
    let reply: &'static [u8] = if v["type"] == 1 { br#"{"type":1}"# } else { br#"{"type":5}"# };
    Response::builder().header("content-type", "application/json").body(Full::new(Bytes::from_static(reply))).unwrap()
}

fn status(s: StatusCode) -> Response<Full<Bytes>> {
    Response::builder().status(s).body(Full::new(Bytes::new())).unwrap()
}
