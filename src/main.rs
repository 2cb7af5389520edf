//! The `incident-bot` binary: parse the command line, load the configuration,
//! run. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use incident_bot::cli::{Cli, Command};
use incident_bot::config::{Config, ConfigError};
use incident_bot::operator::DeclareArgs;
use incident_bot::{app, backend, operator, telemetry};

fn main() -> ExitCode {
    telemetry::mark_start();
    let cli = Cli::parse();
    let env = |k: &str| std::env::var(k).ok();
    let path = cli.config.as_deref();
    let shown = path.map_or_else(|| "config.toml".to_owned(), |p| p.display().to_string());
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => match Config::load(path, &env) {
            Ok(config) => {
                telemetry::init(&config.log.filter, config.log.json);
                for warning in &config.warnings {
                    tracing::warn!("{warning}");
                }
                run(config)
            }
            Err(e) => config_error(&e),
        },
        Command::Check => match Config::load(path, &env) {
            Ok(config) => ExitCode::from(runtime().block_on(operator::check(&config, &shown))),
            Err(e) => {
                println!("✘ config: {e}");
                config_error(&e)
            }
        },
        Command::Register => match Config::load(path, &env) {
            Ok(config) => ExitCode::from(runtime().block_on(operator::register(&config))),
            Err(e) => config_error(&e),
        },
        Command::Declare(d) => match Config::load_without_token(path, &env) {
            Ok(config) => {
                let args =
                    DeclareArgs { plan: d.plan, impact: d.impact, title: d.title, links: d.links, dry_run: d.dry_run };
                ExitCode::from(runtime().block_on(operator::declare(&config, args)))
            }
            Err(e) => config_error(&e),
        },
    }
}

fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("incident-bot: {e}");
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| {
        eprintln!("incident-bot: cannot start the async runtime: {e}");
        std::process::exit(1)
    })
}

#[tokio::main]
async fn run(config: Config) -> ExitCode {
    tracing::debug!(ms = telemetry::since_start().as_secs_f64() * 1e3, "start-up: runtime ready");
    let sdk = backend::sdk::sdk_config(&config.aws, None).await;
    tracing::debug!(ms = telemetry::since_start().as_secs_f64() * 1e3, "start-up: AWS configuration loaded");
    match app::run(config, &sdk, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("incident-bot: {e}");
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
