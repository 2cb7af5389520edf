//! incident-bot: declare AWS Systems Manager Incident Manager incidents from
//! Discord with `/incident`.
//!
//! A declaration flows through the crate in this order:
//!
//! | step | module |
//! |---|---|
//! | an interaction arrives over the gateway | [`discord::handler`] |
//! | its options are read | [`discord::options`] |
//! | they become a validated domain request | [`domain::declaration`] |
//! | the incident backend sends StartIncident | [`incident_manager`] |
//! | the outcome is rendered as a Discord reply | [`discord::render`] |
//!
//! [`config`] loads the operator's settings, [`app`] wires the pieces and runs
//! them until shutdown. [`directory`] caches what autocomplete needs from
//! Incident Manager; [`discord::actions`] handles the buttons, dialogs and
//! `/incident-update`; [`operator`] is `incident-bot check` and `declare`.

pub mod app;
pub mod cli;
pub mod config;
pub mod directory;
pub mod discord;
pub mod domain;
pub mod incident_manager;
pub mod observe;
pub mod operator;
pub mod telemetry;
