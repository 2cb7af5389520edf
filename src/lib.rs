//! incident-bot: declare AWS Systems Manager Incident Manager incidents from
//! Discord with `/incident`, and work on them from Discord.
//!
//! The path of one interaction, and the file of each step:
//!
//! | step | module |
//! |---|---|
//! | a transport receives it (the gateway, the HTTP endpoint, a Lambda Function URL) | [`transport`] |
//! | the one accept path: dedupe, drain, in-flight, span, panic guard | [`bot`] |
//! | it is parsed for its command family | [`commands`] (`incident`, `update`, `buttons`, `dialogs`) |
//! | the input becomes a validated domain request | [`domain`] |
//! | the backend calls Incident Manager | [`backend`] (the SDK, metered; in memory for tests) |
//! | every answer goes through the responder | [`discord::responder`] |
//!
//! [`config`] loads the operator's settings and [`app`] wires the pieces and
//! runs them until [`shutdown`]. [`directory`] caches what autocomplete and
//! duplicate hints need from Incident Manager; [`messages`] holds every
//! sentence about a refusal or an AWS failure, for Discord and the terminal
//! alike; [`operator`] is `incident-bot check`, `declare` and `register`;
//! [`secrets`] reads the token from Secrets Manager or Parameter Store;
//! [`observe`] is `/healthz` and `/metrics`; [`bounded`] the count- and
//! age-bounded memory the accept path keeps.

pub mod app;
pub mod backend;
pub mod bot;
pub mod bounded;
pub mod cli;
pub mod commands;
pub mod config;
pub mod directory;
pub mod discord;
pub mod domain;
pub mod messages;
pub mod observe;
pub mod operator;
pub mod secrets;
pub mod services;
pub mod shutdown;
pub mod store;
pub mod sync;
pub mod telemetry;
#[cfg(test)]
mod testing;
pub mod transport;
