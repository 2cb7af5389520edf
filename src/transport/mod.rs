//! How interactions reach the bot. Each transport hands every interaction to
//! [`crate::bot::Bot::accept`] with the [`crate::discord::responder::Callback`]
//! its first answer travels through, and reports its readiness to `/healthz`.
//!
//! | transport | first answer |
//! |---|---|
//! | [`gateway`]: serenity's WebSocket client | a REST callback |
//! | [`http`]: Discord POSTs signed interactions (`[interactions]`) | the HTTP response's body |
//! | `lambda`: the same, to an AWS Lambda Function URL (cargo feature `lambda`) | the invocation's response |
//!
//! The gateway is a cargo feature (`gateway`, on by default): a build for
//! HTTP interactions only leaves serenity's WebSocket client out.

#[cfg(feature = "gateway")]
pub mod gateway;
pub mod http;
#[cfg(feature = "lambda")]
pub mod lambda;
