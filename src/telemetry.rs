//! Logging: `tracing` to stderr, filtered by `RUST_LOG` or `[log] filter`.

use std::io::IsTerminal;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;

static STARTED: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Marks the process start; call first thing in `main`.
pub fn mark_start() {
    LazyLock::force(&STARTED);
}

/// Time since [`mark_start`] (or since the first call, if it was never made).
pub fn since_start() -> Duration {
    STARTED.elapsed()
}

/// Whole milliseconds, as a number log shippers index.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Installs the global subscriber: text, or one JSON object per line.
/// `RUST_LOG`, when set, wins over `filter`; an invalid filter falls back to
/// `info` with a warning. Text is coloured only on a terminal, and not when
/// `NO_COLOR` is set (<https://no-color.org>): a file, a pipe, `docker logs`
/// or journald get plain text.
pub fn init(filter: &str, json: bool) {
    let (env_filter, bad) = match EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(filter)) {
        Ok(f) => (f, false),
        Err(_) => (EnvFilter::new("info"), true),
    };
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt().with_env_filter(env_filter).with_writer(std::io::stderr).with_ansi(colour);
    let _ = if json { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
    if bad {
        tracing::warn!(filter, "the log filter is not valid; logging at info");
    }
}
