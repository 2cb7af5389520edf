//! The Discord edge.
//!
//! | file | what |
//! |---|---|
//! | [`interaction`] | who sent an interaction, from where |
//! | [`responder`] | every answer: first answer, edits, follow-ups, channel and thread posts |
//! | [`api`], [`rest`], [`retry`] | the REST calls behind a trait, on serenity's client, retried |
//! | [`register`] | command registration, for any mode |
//! | [`permissions`] | the permissions the bot needs, the invite URL, a channel's permissions |
//! | [`embeds`], [`format`] | what responders see |
//! | [`confirmation`] | the read-back protocol of custom ids and embed fields |

pub mod api;
pub mod confirmation;
pub mod embeds;
pub mod format;
pub mod interaction;
pub mod permissions;
pub mod register;
pub mod responder;
pub mod rest;
pub mod retry;
