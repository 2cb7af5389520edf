//! How interactions reach the bot. Each transport hands every interaction to
//! [`crate::bot::Bot::accept`] with the [`crate::discord::responder::Callback`]
//! its first answer travels through, and reports its readiness to `/healthz`.
//!
//! | transport | first answer |
//! |---|---|
//! | [`gateway`]: serenity's WebSocket client | a REST callback |

pub mod gateway;
