//! The gateway transport: serenity's client delivers interactions over the
//! WebSocket; a thin [`EventHandler`] hands each one to the bot's accept
//! path and returns at once. First answers go back as REST callbacks.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serenity::all::{ClientBuilder, Context, EventHandler, GatewayIntents, Interaction, Ready};
use serenity::gateway::{ConnectionStage, ShardManager};
use tracing::info;

use crate::bot::Bot;
use crate::discord::responder::Callback;
use crate::discord::rest::{ClientFactory, Rest};
use crate::observe::{Health, Metrics, Readiness};

/// serenity's event handler.
///
/// serenity runs every event in a task of its own that holds the whole event
/// dispatch (about 12 KB); a declaration of a burst can wait seconds for its
/// turn at AWS, and would keep that task alive all along. [`Bot::accept`]
/// starts a small task of its own instead.
struct Gateway {
    bot: Arc<Bot>,
    callback: Arc<dyn Callback>,
    rest: Rest,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    /// READY events seen (the second and later are reconnects).
    sessions: AtomicU64,
}

#[async_trait]
impl EventHandler for Gateway {
    async fn ready(&self, _: Context, ready: Ready) {
        info!(
            user = %ready.user.name,
            guilds = ready.guilds.len(),
            startup_ms = crate::telemetry::millis(crate::telemetry::since_start()),
            "connected to the Discord gateway"
        );
        self.rest.set_application_id(ready.application.id);
        if self.sessions.fetch_add(1, Ordering::SeqCst) > 0 {
            self.metrics.reconnected();
        }
        self.health.notify();
    }

    async fn resume(&self, _: Context, _: serenity::model::event::ResumedEvent) {
        info!("gateway session resumed");
        self.metrics.reconnected();
        self.health.notify();
    }

    async fn shard_stage_update(&self, _: Context, _: serenity::all::ShardStageUpdateEvent) {
        self.health.notify();
    }

    async fn interaction_create(&self, _: Context, interaction: Interaction) {
        self.bot.accept(interaction, self.callback.clone());
    }
}

/// Ready when every shard of this process is connected.
struct Shards(Arc<ShardManager>);

#[async_trait]
impl Readiness for Shards {
    async fn check(&self) -> Result<(), String> {
        let runners = self.0.runners.lock().await;
        let connected = runners.values().filter(|r| r.stage == ConnectionStage::Connected).count();
        if connected > 0 && connected == runners.len() {
            Ok(())
        } else {
            Err("the Discord gateway is not connected".to_owned())
        }
    }
}

/// Runs the gateway at `url` until `close` completes, then closes the
/// connection. `health` learns the gateway's readiness, and of every change
/// to it.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    clients: &ClientFactory,
    url: &str,
    rest: Rest,
    bot: Arc<Bot>,
    callback: Arc<dyn Callback>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    close: impl Future<Output = ()> + Send + 'static,
) -> Result<(), serenity::Error> {
    let handler = Gateway { bot, callback, rest, metrics, health: health.clone(), sessions: AtomicU64::new(0) };
    // Interactions arrive whatever the intents; the bot needs no others.
    let mut client =
        ClientBuilder::new_with_http(clients.http(), GatewayIntents::empty()).event_handler(handler).await?;
    // serenity asks for the URL again, and falls back to Discord's public
    // gateway if that fails: the bot never leaves the configured API.
    url.clone_into(&mut *client.ws_url.lock().await);
    tracing::debug!(ms = crate::telemetry::since_start().as_secs_f64() * 1e3, "start-up: Discord client built");
    let shards = client.shard_manager.clone();
    health.watch(Arc::new(Shards(shards.clone())));
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        close.await;
        info!("closing the gateway connection");
        shards.shutdown_all().await;
        let _ = closed_tx.send(());
    });
    let start = client.start();
    tokio::pin!(start);
    tokio::select! {
        r = &mut start => r,
        // serenity's client returns once its shards are shut down, except
        // when none was running (the gateway unreachable, between retries):
        // then the shutdown is over anyway.
        Ok(()) = closed_rx => tokio::time::timeout(Duration::from_secs(2), &mut start).await.unwrap_or(Ok(())),
    }
}
