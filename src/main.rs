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
    let command = cli.command.unwrap_or(Command::Run);
    if !matches!(command, Command::Run) {
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
                Ok((config, token)) => runtime().block_on(operator::check(&config, token.as_ref(), format)),
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
                Ok(config) => runtime().block_on(operator::invite(&config, application_id)),
                Err(e) => config_error(&e),
            }
        }
        Command::Register => match Config::load(path, &env) {
            Ok(config) => runtime().block_on(operator::register(&config)),
            Err(e) => config_error(&e),
        },
        Command::Store(StoreCommand::Init) => match Config::load_without_token(path, &env) {
            Ok(config) => runtime().block_on(operator::store::init(&config)),
            Err(e) => config_error(&e),
        },
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

async fn run(config: Config) -> ExitCode {
    tracing::debug!(ms = telemetry::since_start().as_secs_f64() * 1e3, "start-up: runtime ready");
    let sdk = backend::sdk::sdk_config(&config.aws, None).await;
    tracing::debug!(ms = telemetry::since_start().as_secs_f64() * 1e3, "start-up: AWS configuration loaded");
    match app::run(config, &sdk, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The last words, in the log's own format.
            tracing::error!("{e}");
            ExitCode::from(e.exit_code())
        }
    }
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
