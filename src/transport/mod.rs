//! How interactions reach the bot. Each transport hands every interaction to
//! [`crate::bot::Bot::accept`] with the [`crate::discord::responder::Callback`]
//! its first answer travels through, and reports its readiness to `/healthz`.
//!
//! | transport | first answer |
//! |---|---|
//! | [`gateway`]: serenity's WebSocket client | a REST callback |
//! | [`http`]: Discord POSTs signed interactions (`[interactions]`) | the HTTP response's body |

pub mod gateway;
pub mod http;
