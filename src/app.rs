//! Wiring: the backend, the Discord client, the core and the gateway built
//! from the configuration, run until `shutdown` completes.
//!
//! Start-up, each step saying what is wrong in one line when it is:
//! 1. an AWS region and credentials (none: the bot does not start);
//! 2. the health listener;
//! 3. the Discord token, checked over REST (rejected: the bot stops at
//!    once), then the gateway's URL, or in HTTP mode (`[interactions]`, its
//!    port taken before this step) the application, whose public key must
//!    be the configured one; from the configured API only; while Discord
//!    cannot be reached, each is retried with backoff;
//! 4. the commands registered over REST (by the process with gateway shard
//!    0) and the plans listed, in the background; the gateway's shards
//!    connected, or the endpoint serving; one "ready" line once both are.
//!
//! Shutdown: `/healthz` turns 503, new interactions are turned away, those
//! in flight finish (up to the grace period), the gateway or the endpoint
//! closes, background tasks stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::backend::IncidentBackend;
use crate::backend::metered::Metered;
use crate::backend::offload::OwnThread;
use crate::backend::sdk::SdkBackend;
use crate::bot::Bot;
use crate::config::{Config, InteractionsSettings};
use crate::discord::api::{ApiError, BotUser, DiscordApi, error_chain};
use crate::discord::register;
use crate::discord::responder::Discord;
use crate::discord::rest::{ClientFactory, Rest};
use crate::messages::{CREDENTIALS_FIX, NO_REGION};
use crate::observe::{self, Health, Metrics};
use crate::services::{Services, Settings};
use crate::shutdown::Shutdown;
use crate::store::dynamodb::DynamoStore;
use crate::store::local::Local;
use crate::store::sqlite::SqliteStore;
use crate::store::{Coordinator, Store};
use crate::sync::{LEASE, Mirror};
#[cfg(feature = "gateway")]
use crate::transport::gateway;
use crate::transport::http;

/// Why the bot stopped with an error; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("Discord client error: {0}")]
    Discord(#[from] serenity::Error),
    #[error("{NO_REGION}")]
    NoRegion,
    #[error("No AWS credentials: {CREDENTIALS_FIX}.")]
    NoCredentials(String),
    #[error("Discord rejected the bot token (check DISCORD_TOKEN; reset it in the Developer Portal)")]
    TokenRejected,
    #[error("cannot serve /healthz and /metrics on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
    #[error("cannot serve Discord interactions on {0} ([interactions] listen): {1}")]
    InteractionsListen(std::net::SocketAddr, std::io::Error),
    #[error(
        "[interactions] public_key is not the public key of the application this token belongs to ({app}): copy \
         it from the Developer Portal, General Information → Public Key"
    )]
    PublicKeyMismatch { app: String },
    #[error("the store at {} cannot be used ({cause}): set [store] path (INCIDENT_BOT_STORE_PATH) to a writable file", path.display())]
    Store { path: std::path::PathBuf, cause: crate::store::StoreError },
    #[error("the shared store ([store] dynamodb_table) cannot be used: {}", .0.0)]
    SharedStore(crate::store::StoreError),
    #[error("cannot run on AWS Lambda: {0}")]
    LambdaSetting(&'static str),
    #[error("the AWS Lambda runtime stopped: {0}")]
    LambdaRuntime(String),
    #[error("cannot read the Discord token: {0}")]
    TokenSecret(String),
    #[error(
        "this incident-bot was built without the gateway (cargo feature `gateway`): configure [interactions] \
         (Discord POSTs interactions to it), or run a build with the gateway"
    )]
    NoGateway,
    #[error(
        "cannot start the thread the calls to Incident Manager run on ({0}): the system refused a new thread; \
         raise the process or container limit on threads (ulimit -u, pids.max) or free memory"
    )]
    AwsThread(std::io::Error),
}

impl AppError {
    /// The process exit code: 2 for what the operator must configure, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NoRegion
            | Self::NoCredentials(_)
            | Self::TokenRejected
            | Self::Listen(..)
            | Self::InteractionsListen(..)
            | Self::PublicKeyMismatch { .. }
            | Self::Store { .. }
            | Self::SharedStore(_)
            | Self::NoGateway
            | Self::LambdaSetting(_)
            | Self::TokenSecret(_) => 2,
            Self::Discord(_) | Self::LambdaRuntime(_) | Self::AwsThread(_) => 1,
        }
    }
}

/// How long background tasks get to stop once the gateway is closed.
const TASKS_GRACE: Duration = Duration::from_secs(5);
/// How long start-up waits for the AWS credential chain.
const CREDENTIALS_WAIT: Duration = Duration::from_secs(10);
/// The longest wait between two attempts to reach Discord at start-up.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

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
    let requested = CancellationToken::new();
    tokio::spawn({
        let requested = requested.clone();
        async move {
            shutdown.await;
            requested.cancel();
        }
    });
    let metrics = Arc::new(Metrics::new());
    let aws = SdkBackend::new(sdk, &config.aws);
    if cfg!(not(feature = "gateway")) && config.interactions.is_none() {
        return Err(AppError::NoGateway);
    }
    let endpoint = aws.endpoint();
    let Some(region) = aws.region().map(str::to_owned) else { return Err(AppError::NoRegion) };
    // The calls to Incident Manager run on a thread of their own, so that
    // none of their work delays a first answer (backend::offload).
    let aws = OwnThread::start(aws).map_err(AppError::AwsThread)?;
    let backend: Arc<dyn IncidentBackend> = Arc::new(Metered::new(aws, metrics.clone()));
    check_credentials(sdk).await?;
    let stores = open_store(&config, sdk).await?;
    // The interactions endpoint's port, taken before anything talks to
    // Discord: a port in use stops the bot at once.
    let endpoint_listener = match &config.interactions {
        Some(i) => {
            let listener =
                tokio::net::TcpListener::bind(i.listen).await.map_err(|e| AppError::InteractionsListen(i.listen, e))?;
            health.set_endpoint_addr(listener.local_addr().map_err(|e| AppError::InteractionsListen(i.listen, e))?);
            Some(listener)
        }
        None => None,
    };
    let tasks = Shutdown::new();
    if let Some(addr) = config.listen {
        observe::serve(addr, metrics.clone(), health.clone(), &tasks).await.map_err(|e| AppError::Listen(addr, e))?;
    }
    let clients = ClientFactory::new(&config.discord.token, config.discord.api_url.as_ref());
    let rest = Rest::new(clients.http());
    let mode = match &config.interactions {
        Some(i) => Preflight::Endpoint(i),
        None => Preflight::Gateway,
    };
    let Some((me, gateway_url)) = preflight(&rest, &clients.api_base(), mode, &requested).await? else {
        tasks.stop(TASKS_GRACE).await;
        return Ok(());
    };
    let limits = config.limits;
    let discord = Arc::new(Discord::new(Arc::new(rest.clone()), limits.discord_acks, limits.discord_messages));
    let settings = Settings { incident: config.incident, access: config.access, limits: config.limits };
    let services = Services::new(settings, backend.clone(), discord.clone(), stores, metrics.clone(), tasks.clone());
    let bot = Bot::new(services);
    if let Some(interval) = config.sync.interval {
        let mirror = Mirror::new(bot.services().clone(), interval, config.sync.archive_after);
        tasks.spawn("mirror", mirror.run());
    }

    let guilds = config.discord.guild_ids;
    // Once for the bot: the process running gateway shard 0 registers (every
    // HTTP replica does; the bulk overwrite is idempotent).
    let registers = config.interactions.is_some() || config.discord.shards.has_shard_zero();
    start_registration(&bot, guilds.clone(), registers, &health, &tasks);
    let ready = format!(
        "ready: serving /incident, /incident-update and “Add to incident timeline” as {} ({}) in {}, {}; AWS \
         region {region} at {endpoint}; {}; store {}; {}",
        me.name,
        me.id,
        if guilds.is_empty() { "every server (global commands)".to_owned() } else { format!("servers {guilds:?}") },
        config.interactions.as_ref().map_or_else(
            || "over the gateway".to_owned(),
            |i| format!("over HTTP interactions at {}{}", health.endpoint_addr().unwrap_or(i.listen), i.path)
        ),
        config
            .sync
            .interval
            .map_or_else(|| "mirror off".to_owned(), |i| format!("mirroring Incident Manager every {} s", i.as_secs())),
        config.dynamodb_table.as_ref().map_or_else(
            || config.store_path.display().to_string(),
            |t| format!("DynamoDB table {t} (shared by replicas)")
        ),
        health
            .health_addr()
            .map_or_else(|| "no health listener".to_owned(), |a| format!("/healthz and /metrics on {a}"))
    );
    tasks.spawn("ready line", {
        let health = health.clone();
        async move {
            while health.wait_ready(Duration::from_secs(3600)).await.is_err() {}
            info!("{ready}");
        }
    });
    let grace = config.limits.shutdown_grace;
    let close = {
        let (bot, health) = (bot.clone(), health.clone());
        async move {
            requested.cancelled().await;
            health.set_draining();
            info!(grace_secs = grace.as_secs(), "shutting down: no new interactions; finishing those in flight");
            let left = bot.drain(grace).await;
            if left > 0 {
                warn!(left, "shutdown grace period over with interactions still running");
            }
            // Another replica takes the mirror over at its next try.
            let svc = bot.services();
            if let Err(e) = svc.coordinator.release(LEASE, &svc.replica).await {
                warn!(error = %e, "could not give the mirror's lease up");
            }
        }
    };
    let result = match (endpoint_listener, &config.interactions, gateway_url) {
        (Some(listener), Some(i), _) => {
            let endpoint = http::Endpoint::new(i.public_key, i.path.clone(), bot, metrics);
            http::run(listener, endpoint, health, close).await.map_err(|e| AppError::InteractionsListen(i.listen, e))
        }
        #[cfg(feature = "gateway")]
        (_, _, Some(url)) => {
            let callback = Arc::new(crate::discord::responder::RestCallback(discord));
            let shards = config.discord.shards;
            gateway::run(&clients, &url, shards, rest, bot, callback, metrics, health, close)
                .await
                .map_err(AppError::from)
        }
        _ => unreachable!("preflight gives the gateway's URL when there is no endpoint"),
    };
    tasks.stop(TASKS_GRACE).await;
    result?;
    info!("stopped");
    Ok(())
}

/// Reads the Discord token from where `DISCORD_TOKEN_ARN` says it is kept,
/// when it is set (see [`crate::secrets`]).
pub async fn resolve_token(config: &mut Config, sdk: &SdkConfig) -> Result<(), AppError> {
    let Some(arn) = config.discord.token_arn.clone() else { return Ok(()) };
    let started = std::time::Instant::now();
    config.discord.token = crate::secrets::resolve(sdk, &arn).await.map_err(AppError::TokenSecret)?;
    info!(arn = %arn, ms = crate::telemetry::millis(started.elapsed()), "read the Discord token");
    Ok(())
}

/// The bot without a transport, for work done once and then left: an AWS
/// Lambda invocation, `incident-bot sync --once`. Start-up checks as `run`'s
/// up to the store (region, credentials, the store); Discord is asked
/// nothing until there is something to say, and nothing runs in the
/// background (a Lambda function is frozen between invocations).
pub struct Headless {
    pub bot: Arc<Bot>,
    pub rest: Rest,
    pub tasks: Shutdown,
    pub metrics: Arc<Metrics>,
    pub archive_after: Duration,
    pub guild_ids: Vec<u64>,
    pub interactions: Option<InteractionsSettings>,
}

impl Headless {
    pub async fn start(config: Config, sdk: &SdkConfig) -> Result<Self, AppError> {
        let metrics = Arc::new(Metrics::new());
        let aws = SdkBackend::new(sdk, &config.aws);
        let backend: Arc<dyn IncidentBackend> = Arc::new(Metered::new(aws, metrics.clone()));
        if backend.region().is_none() {
            return Err(AppError::NoRegion);
        }
        check_credentials(sdk).await?;
        let stores = open_store(&config, sdk).await?;
        let tasks = Shutdown::new();
        let rest = Rest::new(ClientFactory::new(&config.discord.token, config.discord.api_url.as_ref()).http());
        let limits = config.limits;
        let discord = Arc::new(Discord::new(Arc::new(rest.clone()), limits.discord_acks, limits.discord_messages));
        let settings = Settings { incident: config.incident, access: config.access, limits: config.limits };
        let services = Services::new(settings, backend, discord, stores, metrics.clone(), tasks.clone());
        Ok(Self {
            bot: Bot::new(services),
            rest,
            tasks,
            metrics,
            archive_after: config.sync.archive_after,
            guild_ids: config.discord.guild_ids,
            interactions: config.interactions,
        })
    }

    /// One pass of the mirror (see [`Mirror::once`]): `false` when another
    /// replica holds its lease.
    pub async fn sync_once(&self) -> bool {
        let mirror = Mirror::new(self.bot.services().clone(), Duration::from_secs(60), self.archive_after);
        mirror.once().await
    }

    /// Registers the commands (`incident-bot register`'s work).
    pub async fn register(&self) -> Result<crate::discord::api::AppInfo, ApiError> {
        let svc = self.bot.services();
        let commands = crate::commands::all(!svc.settings.incident.plans.has_default(), svc.settings.access.allow_dms);
        register::register(svc.discord.api().as_ref(), &commands, &self.guild_ids).await
    }
}

/// The store and the coordinator: the SQLite database and memory for one
/// process, or the DynamoDB table (checked now) for several replicas.
async fn open_store(config: &Config, sdk: &SdkConfig) -> Result<(Arc<dyn Store>, Arc<dyn Coordinator>), AppError> {
    if let Some(table) = &config.dynamodb_table {
        let shared = Arc::new(DynamoStore::new(sdk, table));
        shared.verify().await.map_err(AppError::SharedStore)?;
        return Ok((shared.clone(), shared));
    }
    let store = SqliteStore::open(&config.store_path)
        .map_err(|cause| AppError::Store { path: config.store_path.clone(), cause })?;
    Ok((Arc::new(store), Arc::new(Local::default())))
}

/// The AWS credential chain finds credentials, or the bot does not start:
/// serving would only fail every declaration, and an orchestrator restarts
/// a bot that stops (the cause goes to the log at debug level).
async fn check_credentials(sdk: &SdkConfig) -> Result<(), AppError> {
    let Some(provider) = sdk.credentials_provider() else {
        return Err(AppError::NoCredentials("no credential provider".to_owned()));
    };
    let cause = match tokio::time::timeout(CREDENTIALS_WAIT, provider.provide_credentials()).await {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(e)) => error_chain(&e),
        Err(_) => format!("the credential chain did not answer in {} s", CREDENTIALS_WAIT.as_secs()),
    };
    tracing::debug!(%cause, "the AWS credential chain found no credentials");
    Err(AppError::NoCredentials(cause))
}

/// What start-up checks with Discord besides the token.
#[derive(Debug, Clone, Copy)]
enum Preflight<'a> {
    /// The gateway's URL.
    Gateway,
    /// The application, whose public key must be the endpoint's.
    Endpoint(&'a InteractionsSettings),
}

/// The token (over REST: a rejected one stops the bot at once), then the
/// gateway's URL or the application's public key, from the configured API
/// only: while it cannot be reached, each attempt logs one line naming it
/// and the cause, and waits longer. `None` when shutdown was requested
/// meanwhile; the gateway's URL in gateway mode.
async fn preflight(
    api: &Rest,
    base: &str,
    mode: Preflight<'_>,
    requested: &CancellationToken,
) -> Result<Option<(BotUser, Option<String>)>, AppError> {
    let Some(me) = until_reached(base, requested, || api.bot_user()).await? else { return Ok(None) };
    match mode {
        Preflight::Gateway => {
            let Some(url) = until_reached(base, requested, || api.gateway_url()).await? else { return Ok(None) };
            Ok(Some((me, Some(url))))
        }
        Preflight::Endpoint(endpoint) => {
            // Also gives the REST client the application id, which the
            // gateway's READY would otherwise.
            let Some(app) = until_reached(base, requested, || api.application()).await? else { return Ok(None) };
            if !endpoint.is_key_of(&app.verify_key) {
                return Err(AppError::PublicKeyMismatch { app: format!("{} {}", app.name, app.id) });
            }
            Ok(Some((me, None)))
        }
    }
}

async fn until_reached<T, F, Fut>(base: &str, requested: &CancellationToken, mut call: F) -> Result<Option<T>, AppError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut delay = Duration::from_secs(1);
    loop {
        let error = tokio::select! {
            r = call() => match r {
                Ok(v) => return Ok(Some(v)),
                Err(e) if e.is_unauthorized() => return Err(AppError::TokenRejected),
                Err(e) => e,
            },
            () = requested.cancelled() => return Ok(None),
        };
        warn!(
            url = base,
            retry_in_secs = delay.as_secs(),
            "Discord could not be reached at {base} ({}); retrying in {} s",
            error.cause(),
            delay.as_secs()
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = requested.cancelled() => return Ok(None),
        }
        delay = (delay * 2).min(MAX_RETRY_DELAY);
    }
}

/// Registers the commands in the background, then lists the response plans
/// and keeps them fresh.
fn start_registration(bot: &Arc<Bot>, guild_ids: Vec<u64>, registers: bool, health: &Arc<Health>, tasks: &Shutdown) {
    let svc = bot.services().clone();
    let health = health.clone();
    tasks.spawn("registration and plan refresh", async move {
        let incident = &svc.settings.incident;
        let commands = crate::commands::all(!incident.plans.has_default(), svc.settings.access.allow_dms);
        let registered = if registers {
            register::register(svc.discord.api().as_ref(), &commands, &guild_ids).await.map(Some)
        } else {
            info!("not registering the commands: the process running gateway shard 0 does");
            Ok(None)
        };
        match registered {
            Ok(None) => health.set_registered(),
            Ok(Some(app)) => {
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
        // Autocomplete offers the aliases until the list arrives.
        if let Some(ttl) = incident.plans_refresh {
            svc.plans.run_refresh(svc.backend.clone(), ttl).await;
        }
    });
}
