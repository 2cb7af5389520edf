//! The gateway transport: serenity's client delivers interactions over the
//! WebSocket; a thin [`EventHandler`] hands each one to the bot's accept
//! path and returns at once. First answers go back as REST callbacks.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serenity::all::{ClientBuilder, Context, EventHandler, GatewayIntents, Interaction, Ready};
use serenity::gateway::{ConnectionStage, ShardManager};
use tracing::info;

use crate::bot::Bot;
use crate::config::Shards as ShardChoice;
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
    /// The shards that had a READY: another READY of one is a reconnect.
    sessions: Mutex<HashSet<u32>>,
}

#[async_trait]
impl EventHandler for Gateway {
    async fn ready(&self, _: Context, ready: Ready) {
        let shard = ready.shard.map_or(0, |s| s.id.0);
        info!(
            user = %ready.user.name,
            guilds = ready.guilds.len(),
            shard,
            shards = ready.shard.map_or(1, |s| s.total),
            startup_ms = crate::telemetry::millis(crate::telemetry::since_start()),
            "connected to the Discord gateway"
        );
        self.rest.set_application_id(ready.application.id);
        let again = self.sessions.lock().map(|mut seen| !seen.insert(shard)).unwrap_or(false);
        if again {
            self.metrics.reconnected();
        }
        self.health.notify();
    }

    async fn resume(&self, ctx: Context, _: serenity::model::event::ResumedEvent) {
        info!(shard = ctx.shard_id.0, "gateway session resumed");
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

/// Ready when every shard of this process is connected (serenity starts
/// them 5 s apart, so counting the runners started so far would not do).
struct Shards {
    manager: Arc<ShardManager>,
    /// How many shards this process runs; 0 until known.
    expected: Arc<AtomicU32>,
}

#[async_trait]
impl Readiness for Shards {
    async fn check(&self) -> Result<(), String> {
        let expected = self.expected.load(Ordering::SeqCst) as usize;
        let runners = self.manager.runners.lock().await;
        let connected = runners.values().filter(|r| r.stage == ConnectionStage::Connected).count();
        match expected {
            n if n > 0 && connected >= n => Ok(()),
            0 | 1 => Err("the Discord gateway is not connected".to_owned()),
            n => Err(format!("{connected} of this process's {n} gateway shards are connected")),
        }
    }
}

/// Runs the gateway at `url`, with the `shards` of this process, until
/// `close` completes, then closes the connections. `health` learns the
/// gateway's readiness, and of every change to it.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    clients: &ClientFactory,
    url: &str,
    shards: ShardChoice,
    rest: Rest,
    bot: Arc<Bot>,
    callback: Arc<dyn Callback>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    close: impl Future<Output = ()> + Send + 'static,
) -> Result<(), serenity::Error> {
    let handler =
        Gateway { bot, callback, rest, metrics, health: health.clone(), sessions: Mutex::new(HashSet::new()) };
    // Interactions arrive whatever the intents; the bot needs no others.
    let mut client =
        ClientBuilder::new_with_http(clients.http(), GatewayIntents::empty()).event_handler(handler).await?;
    // serenity asks for the URL again, and falls back to Discord's public
    // gateway if that fails: the bot never leaves the configured API.
    url.clone_into(&mut *client.ws_url.lock().await);
    tracing::debug!(ms = crate::telemetry::since_start().as_secs_f64() * 1e3, "start-up: Discord client built");
    let manager = client.shard_manager.clone();
    let expected = Arc::new(AtomicU32::new(0));
    health.watch(Arc::new(Shards { manager: manager.clone(), expected: expected.clone() }));
    let shards_for_close = manager.clone();
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        close.await;
        info!("closing the gateway connection");
        shards_for_close.shutdown_all().await;
        let _ = closed_tx.send(());
    });
    // (first, last) of total, `last` included.
    let (first, last, total) = match shards {
        ShardChoice::One => (0, 0, 1),
        ShardChoice::Range { total, first, last } => (first, last, total),
        ShardChoice::Auto => {
            // Asked here rather than by serenity, to know how many to wait for.
            let total = client.http.get_bot_gateway().await?.shards.max(1);
            info!(shards = total, "Discord recommends {total} gateway shards; running them all");
            (0, total - 1, total)
        }
    };
    expected.store(last - first + 1, Ordering::SeqCst);
    health.notify();
    if total > 1 {
        info!(first, last, total, "running gateway shards {first} to {last} of {total}");
    }
    // serenity's "range" includes its end.
    let start = client.start_shard_range(first..last, total);
    tokio::pin!(start);
    tokio::select! {
        r = &mut start => r,
        // serenity's client returns once its shards are shut down, except
        // when none was running (the gateway unreachable, between retries):
        // then the shutdown is over anyway.
        Ok(()) = closed_rx => tokio::time::timeout(Duration::from_secs(2), &mut start).await.unwrap_or(Ok(())),
    }
}
