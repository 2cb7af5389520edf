//! Logging: `tracing` to stderr, filtered by `RUST_LOG` or `[log] filter`.

use std::io::IsTerminal;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

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
/// `info` with a warning. Filters are `target=level` directives
/// (`info,incident_bot=debug,aws_config=error`): `tracing-subscriber`'s
/// `Targets`, which needs no regular-expression engine in the binary. Text
/// is coloured only on a terminal, and not when `NO_COLOR` is set
/// (<https://no-color.org>): a file, a pipe, `docker logs` or journald get
/// plain text.
pub fn init(filter: &str, json: bool) {
    let from_env = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty());
    let wanted = from_env.as_deref().unwrap_or(filter);
    let (targets, bad) = match wanted.parse::<Targets>() {
        Ok(t) => (t, false),
        Err(_) => (Targets::new().with_default(LevelFilter::INFO), true),
    };
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder =
        tracing_subscriber::fmt().with_max_level(LevelFilter::TRACE).with_writer(std::io::stderr).with_ansi(colour);
    let _ = if json {
        builder.json().flatten_event(true).finish().with(targets).try_init()
    } else {
        builder.finish().with(targets).try_init()
    };
    if bad {
        tracing::warn!(filter = wanted, "the log filter is not valid; logging at info");
    }
}
