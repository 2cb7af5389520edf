//! Integration tests: the real bot (serenity + the AWS SDK) against a fake
//! Discord and a fake Incident Manager on 127.0.0.1. One binary, so the
//! crate and its dependencies are linked once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use std::time::Duration;

mod actions;
mod binary;
mod declare;
mod deploy;
mod fake_discord;
mod fake_incident_manager;
mod fake_lambda;
mod hardening;
mod helpers;
mod http;
mod interactions;
mod lambda;
mod layout;
mod observe;
mod operator;
mod properties;
mod replicas;
mod shards;
mod sync;

/// How long a test waits for an event before it fails. Generous: CI runs
/// on a loaded 2-core machine, and waiting costs nothing when things work.
pub const WAIT: Duration = Duration::from_secs(30);
