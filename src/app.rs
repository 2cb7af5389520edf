//! Wiring: build the Discord client and the Incident Manager backend from the
//! configuration and run until `shutdown` completes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use secrecy::ExposeSecret;
use serenity::all::{ClientBuilder, GatewayIntents, HttpBuilder};
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::directory::PlanDirectory;
use crate::discord::handler::{Gateway, Handler, HandlerConfig};
use crate::incident_manager::IncidentManager;
use crate::observe::{self, Health, Metrics};

/// Why the bot stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("Discord client error: {0}")]
    Discord(#[from] serenity::Error),
    #[error("no AWS region: set `region` in [aws] of the config, or AWS_REGION")]
    NoRegion,
    #[error("cannot serve /healthz and /metrics on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
}

impl AppError {
    /// The process exit code: 2 for configuration problems, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NoRegion | Self::Listen(..) => 2,
            Self::Discord(_) => 1,
        }
    }
}

/// Runs the bot until `shutdown` resolves, then closes the gateway connection.
///
/// `sdk` is the AWS configuration, normally from [`crate::incident_manager::sdk_config`].
pub async fn run(
    config: Config,
    sdk: &SdkConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let backend = IncidentManager::new(sdk, &config.aws).with_metrics(metrics.clone());
    if backend.region().is_none() {
        return Err(AppError::NoRegion);
    }
    // The plans are first listed right after the commands are registered, so
    // start-up never waits for AWS; autocomplete offers the aliases until the
    // list arrives a moment later.
    let directory = Arc::new(PlanDirectory::default());
    let refresh = config.incident.plans_refresh.map(|ttl| {
        let (directory, backend, health) = (directory.clone(), backend.clone(), health.clone());
        tokio::spawn(async move {
            health.wait_registered(Duration::from_secs(30)).await;
            directory.run_refresh(backend, ttl).await;
        })
    });
    let handler = Arc::new(Handler::new(
        HandlerConfig {
            incident: config.incident,
            guild_ids: config.discord.guild_ids,
            access: config.access,
            limits: config.limits,
        },
        backend,
        directory,
        health.clone(),
        metrics.clone(),
    ));
    let server = match config.listen {
        Some(addr) => Some(observe::serve(addr, metrics, health.clone()).await.map_err(|e| AppError::Listen(addr, e))?),
        None => None,
    };
    let grace = config.limits.shutdown_grace;

    let mut http = HttpBuilder::new(config.discord.token.expose_secret());
    if let Some(api) = &config.discord.api_url {
        // serenity swaps `https://discord.com` for the proxy on each request,
        // and only when its own rate limiter is off (the proxy is then
        // responsible for rate limits, as serenity documents).
        http = http.proxy(api_origin(api)).ratelimiter_disabled(true);
    }
    // Interactions arrive whatever the intents; the bot needs no others.
    let mut client = ClientBuilder::new_with_http(http.build(), GatewayIntents::empty())
        .event_handler(Gateway(handler.clone()))
        .await?;
    debug!(ms = crate::telemetry::since_start().as_secs_f64() * 1e3, "start-up: Discord client built");
    let shards = client.shard_manager.clone();
    health.watch(shards.clone());
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        shutdown.await;
        info!(grace_secs = grace.as_secs(), "shutting down: no new declarations; finishing those in flight");
        let left = handler.drain(grace).await;
        if left > 0 {
            warn!(left, "shutdown grace period over with interactions still running");
        }
        info!("closing the gateway connection");
        shards.shutdown_all().await;
        let _ = stopped_tx.send(());
    });
    let start = client.start();
    tokio::pin!(start);
    let result = tokio::select! {
        r = &mut start => r,
        // serenity's client returns once its shards are shut down, except
        // when none was running (the gateway unreachable, between retries):
        // then the shutdown is over anyway.
        Ok(()) = stopped_rx => tokio::time::timeout(Duration::from_secs(2), &mut start).await.unwrap_or(Ok(())),
    };
    for task in [refresh, server].into_iter().flatten() {
        task.abort();
    }
    result?;
    info!("stopped");
    Ok(())
}

/// The part of `api_url` that replaces `https://discord.com`: serenity adds
/// `/api/v10/...` itself, so a configured `/api` or `/api/v10` is dropped.
pub(crate) fn api_origin(api: &url::Url) -> String {
    let s = api.as_str().trim_end_matches('/');
    s.strip_suffix("/api/v10").or_else(|| s.strip_suffix("/api")).unwrap_or(s).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_origin_drops_the_api_prefix() {
        for u in ["http://127.0.0.1:9/", "http://127.0.0.1:9/api", "http://127.0.0.1:9/api/v10/"] {
            assert_eq!(api_origin(&url::Url::parse(u).unwrap()), "http://127.0.0.1:9");
        }
        assert_eq!(
            api_origin(&url::Url::parse("https://proxy.internal/discord").unwrap()),
            "https://proxy.internal/discord"
        );
    }
}
