//! The `incident-bot` binary: parse the command line, load the configuration,
//! run. Everything else lives in the library.

use std::process::ExitCode;

// The allocator, chosen by measurement (docs/performance.md, "Memory").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::Parser;
use incident_bot::cli::{CheckFormat, Cli, Command, StoreCommand};
use incident_bot::config::{Config, ConfigError};
use incident_bot::operator::{self, DeclareArgs, Format, exit};
use incident_bot::{app, backend, telemetry};

fn main() -> ExitCode {
    telemetry::mark_start();
    let cli = Cli::parse();
    let env = |k: &str| std::env::var(k).ok();
    let path = cli.config.as_deref();
    // Started by AWS Lambda (the bootstrap of the Lambda build).
    let in_lambda = env("AWS_LAMBDA_RUNTIME_API").is_some();
    let command = cli.command.unwrap_or(if in_lambda { Command::Lambda } else { Command::Run });
    if !matches!(command, Command::Run | Command::Lambda) {
        // Terminal commands print their own one-line outcomes; the log
        // shows only errors unless RUST_LOG asks for more.
        telemetry::init("error", false);
    }
    let code = match command {
        Command::Run => match Config::load(path, &env) {
            Ok(config) => {
                telemetry::init(&config.log.filter, config.log.json);
                for warning in &config.warnings {
                    tracing::warn!("{warning}");
                }
                return runtime().block_on(run(config));
            }
            Err(e) => config_error(&e),
        },
        Command::Check { format } => {
            let format = match format {
                CheckFormat::Text => Format::Text,
                CheckFormat::Json => Format::Json,
            };
            // A missing token is one failed check among the others.
            let loaded = match Config::load(path, &env) {
                Err(e @ (ConfigError::MissingToken | ConfigError::TokenFile { .. })) => {
                    Config::load_without_token(path, &env).map(|c| (c, Some(e)))
                }
                other => other.map(|c| (c, None)),
            };
            match loaded {
                Ok((mut config, token)) => runtime().block_on(async {
                    if let Err(code) = token_from_arn(&mut config).await {
                        return code;
                    }
                    operator::check(&config, token.as_ref(), format).await
                }),
                Err(e) => config_error(&e),
            }
        }
        Command::Declare(d) => match Config::load_without_token(path, &env) {
            Ok(config) => {
                let args =
                    DeclareArgs { plan: d.plan, impact: d.impact, title: d.title, links: d.links, dry_run: d.dry_run };
                runtime().block_on(operator::declare(&config, args))
            }
            Err(e) => config_error(&e),
        },
        Command::Invite { application_id } => {
            let config = if application_id.is_some() {
                Config::load_without_token(path, &env)
            } else {
                Config::load(path, &env)
            };
            match config {
                Ok(mut config) => runtime().block_on(async {
                    if let Err(code) = token_from_arn(&mut config).await {
                        return code;
                    }
                    operator::invite(&config, application_id).await
                }),
                Err(e) => config_error(&e),
            }
        }
        Command::Register => match Config::load(path, &env) {
            Ok(mut config) => runtime().block_on(async {
                if let Err(code) = token_from_arn(&mut config).await {
                    return code;
                }
                operator::register(&config).await
            }),
            Err(e) => config_error(&e),
        },
        Command::Store(StoreCommand::Init) => match Config::load_without_token(path, &env) {
            Ok(config) => runtime().block_on(operator::store::init(&config)),
            Err(e) => config_error(&e),
        },
        Command::Sync { once: false } => {
            eprintln!("incident-bot: `sync` needs --once (`run` mirrors continuously, every [sync] interval_secs)");
            exit::USAGE
        }
        Command::Sync { once: true } => match Config::load(path, &env) {
            Ok(config) => runtime().block_on(sync_once(config)),
            Err(e) => config_error(&e),
        },
        Command::Lambda => lambda(path, &env),
    };
    ExitCode::from(code)
}

fn config_error(e: &ConfigError) -> u8 {
    eprintln!("incident-bot: {e}");
    exit::USAGE
}

/// The async runtime of every command, the bot's included: one thread. The
/// bot waits on the network; a second worker thread bought nothing in the
/// load benchmark and cost its stack (docs/performance.md, "Memory").
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| {
        eprintln!("incident-bot: cannot start the async runtime: {e}");
        std::process::exit(1)
    })
}

async fn run(mut config: Config) -> ExitCode {
    tracing::debug!(ms = telemetry::since_start().as_secs_f64() * 1e3, "start-up: runtime ready");
    let sdk = backend::sdk::sdk_config(&config.aws, None).await;
    tracing::debug!(ms = telemetry::since_start().as_secs_f64() * 1e3, "start-up: AWS configuration loaded");
    if let Err(e) = app::resolve_token(&mut config, &sdk).await {
        tracing::error!("{e}");
        return ExitCode::from(e.exit_code());
    }
    match app::run(config, &sdk, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The last words, in the log's own format.
            tracing::error!("{e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// For the terminal commands that talk to Discord: the token read from
/// `DISCORD_TOKEN_ARN`'s secret, if that is where it is.
async fn token_from_arn(config: &mut Config) -> Result<(), u8> {
    if config.discord.token_arn.is_none() {
        return Ok(());
    }
    let sdk = backend::sdk::sdk_config(&config.aws, None).await;
    app::resolve_token(config, &sdk).await.map_err(|e| {
        eprintln!("incident-bot: {e}");
        e.exit_code()
    })
}

/// `sync --once`: one pass of the mirror, with `run`'s start-up checks up to
/// the store.
async fn sync_once(mut config: Config) -> u8 {
    let sdk = backend::sdk::sdk_config(&config.aws, None).await;
    let started = async {
        app::resolve_token(&mut config, &sdk).await?;
        app::Headless::start(config, &sdk).await
    };
    match started.await {
        Ok(headless) => {
            let mirrored = headless.sync_once().await;
            headless.tasks.stop(std::time::Duration::from_secs(1)).await;
            println!(
                "{}",
                if mirrored {
                    "mirrored Incident Manager into Discord (one pass)"
                } else {
                    "not mirrored: another replica holds the mirror's lease and mirrors meanwhile"
                }
            );
            exit::OK
        }
        Err(e) => {
            eprintln!("incident-bot: {e}");
            e.exit_code()
        }
    }
}

/// The Lambda build's start-up (a cold start) and its loop. In Lambda the
/// endpoint is the Function URL: `[interactions] listen` is not used, and
/// need not be set.
#[cfg(feature = "lambda")]
fn lambda(path: Option<&std::path::Path>, env: &dyn Fn(&str) -> Option<String>) -> u8 {
    let lambda_env = |k: &str| match env(k) {
        None if k == "INCIDENT_BOT_INTERACTIONS_LISTEN" => Some("127.0.0.1:0".to_owned()),
        other => other,
    };
    let mut config = match Config::load(path, &lambda_env) {
        Ok(c) => c,
        Err(e) => return config_error(&e),
    };
    // CloudWatch keeps what a line says, not its colours.
    telemetry::init(&config.log.filter, config.log.json || env("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f == "JSON"));
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let missing: Vec<&str> = [
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_RUNTIME_API",
    ]
    .into_iter()
    .filter(|k| env(k).is_none())
    .collect();
    if !missing.is_empty() {
        eprintln!("incident-bot: not started by AWS Lambda ({} unset): use `incident-bot run`", missing.join(", "));
        return exit::USAGE;
    }
    runtime().block_on(async move {
        let sdk = backend::sdk::sdk_config(&config.aws, None).await;
        let started = async {
            app::resolve_token(&mut config, &sdk).await?;
            let headless = app::Headless::start(config, &sdk).await?;
            incident_bot::transport::lambda::run(headless, &sdk).await
        };
        match started.await {
            Ok(()) => exit::OK,
            Err(e) => {
                tracing::error!("{e}");
                e.exit_code()
            }
        }
    })
}

#[cfg(not(feature = "lambda"))]
fn lambda(_: Option<&std::path::Path>, _: &dyn Fn(&str) -> Option<String>) -> u8 {
    eprintln!(
        "incident-bot: this build cannot serve AWS Lambda: build it with `--no-default-features --features \
         lambda,jemalloc` (docs/lambda.md)"
    );
    exit::USAGE
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return ctrl_c.await.unwrap_or(()),
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
