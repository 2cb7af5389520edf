//! The `incident-bot` binary: parse the command line, load the configuration,
//! run. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use incident_bot::cli::{Cli, Command};
use incident_bot::config::Config;
use incident_bot::{app, incident_manager, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let config = match Config::load(cli.config.as_deref(), &|k| std::env::var(k).ok()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("incident-bot: {e}");
                    return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
                }
            };
            telemetry::init(&config.log.filter);
            for warning in &config.warnings {
                tracing::warn!("{warning}");
            }
            run(config)
        }
    }
}

#[tokio::main]
async fn run(config: Config) -> ExitCode {
    let sdk = incident_manager::sdk_config(&config.aws, None).await;
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
