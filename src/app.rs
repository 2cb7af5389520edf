//! Wiring: the backend, the Discord client, the core and the gateway built
//! from the configuration, run until `shutdown` completes.
//!
//! Start-up: health listener → commands registered over REST (retried, in
//! the background) → response plans listed → gateway connected. Shutdown:
//! new interactions are turned away, those in flight finish (up to the
//! grace period), the gateway closes, background tasks stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use tracing::{error, info, warn};

use crate::backend::IncidentBackend;
use crate::backend::metered::Metered;
use crate::backend::sdk::SdkBackend;
use crate::bot::Bot;
use crate::config::Config;
use crate::discord::register;
use crate::discord::responder::{Discord, RestCallback};
use crate::discord::rest::{ClientFactory, Rest};
use crate::observe::{self, Health, Metrics};
use crate::services::{Services, Settings};
use crate::shutdown::Shutdown;
use crate::transport::gateway;

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

/// How long background tasks get to stop once the gateway is closed.
const TASKS_GRACE: Duration = Duration::from_secs(5);

/// Runs the bot until `shutdown` resolves, then stops it as the module
/// documentation says.
///
/// `sdk` is the AWS configuration, normally from [`crate::backend::sdk::sdk_config`].
pub async fn run(
    config: Config,
    sdk: &SdkConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    run_with_health(config, sdk, shutdown, Arc::default()).await
}

/// [`run`], reporting readiness to `health` (tests wait on it).
pub async fn run_with_health(
    config: Config,
    sdk: &SdkConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    health: Arc<Health>,
) -> Result<(), AppError> {
    let metrics = Arc::new(Metrics::new());
    let backend: Arc<dyn IncidentBackend> = Arc::new(Metered::new(SdkBackend::new(sdk, &config.aws), metrics.clone()));
    if backend.region().is_none() {
        return Err(AppError::NoRegion);
    }
    let tasks = Shutdown::new();
    if let Some(addr) = config.listen {
        observe::serve(addr, metrics.clone(), health.clone(), &tasks).await.map_err(|e| AppError::Listen(addr, e))?;
    }
    let clients = ClientFactory::new(&config.discord.token, config.discord.api_url.as_ref());
    let rest = Rest::new(clients.http());
    let discord = Arc::new(Discord::new(Arc::new(rest.clone())));
    let settings = Settings { incident: config.incident, access: config.access, limits: config.limits };
    let services = Services::new(settings, backend.clone(), discord.clone(), metrics.clone(), tasks.clone());
    let bot = Bot::new(services);

    start_registration(&bot, config.discord.guild_ids, &health, &tasks);
    let grace = config.limits.shutdown_grace;
    let close = {
        let bot = bot.clone();
        async move {
            shutdown.await;
            info!(grace_secs = grace.as_secs(), "shutting down: no new interactions; finishing those in flight");
            let left = bot.drain(grace).await;
            if left > 0 {
                warn!(left, "shutdown grace period over with interactions still running");
            }
        }
    };
    let callback = Arc::new(RestCallback(discord));
    let result = gateway::run(&clients, rest, bot, callback, metrics, health, close).await;
    tasks.stop(TASKS_GRACE).await;
    result?;
    info!("stopped");
    Ok(())
}

/// Registers the commands in the background (start-up never waits for
/// Discord or AWS), then lists the response plans and keeps them fresh.
fn start_registration(bot: &Arc<Bot>, guild_ids: Vec<u64>, health: &Arc<Health>, tasks: &Shutdown) {
    let svc = bot.services().clone();
    let health = health.clone();
    tasks.spawn("registration and plan refresh", async move {
        let incident = &svc.settings.incident;
        let commands = crate::commands::all(!incident.plans.has_default(), svc.settings.access.allow_dms);
        match register::register(svc.discord.api().as_ref(), &commands, &guild_ids).await {
            Ok(app) => {
                health.set_registered();
                info!(
                    application = %app.name,
                    scope = if guild_ids.is_empty() { "global" } else { "guild" },
                    guilds = ?guild_ids,
                    startup_ms = crate::telemetry::millis(crate::telemetry::since_start()),
                    "registered /incident"
                );
            }
            Err(e) => error!(error = %e, "could not register the commands; they will not work"),
        }
        // The plans are first listed right after the commands are
        // registered; autocomplete offers the aliases until the list arrives.
        if let Some(ttl) = incident.plans_refresh {
            svc.plans.run_refresh(svc.backend.clone(), ttl).await;
        }
    });
}
