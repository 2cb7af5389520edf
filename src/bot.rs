//! The one accept path. A transport (the gateway today) hands each
//! interaction to [`Bot::accept`] with the [`Callback`] its first answer
//! goes through; everything after that is the same for every transport and
//! every kind of interaction:
//!
//! 1. the interaction is parsed into a [`Route`] and dropped;
//! 2. a repeated delivery of an interaction id is ignored (to every replica:
//!    the id is claimed through the coordinator);
//! 3. while shutting down, a new interaction gets a private "restarting";
//! 4. it runs in its own task, counted in flight (a shutdown waits for it),
//!    in a tracing span, with a panic guard: a panic is contained, logged and
//!    answered.
//!
//! [`Services`] is what the command families run with.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use serenity::all::{ChannelId, Interaction, InteractionId};
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error, info, warn};

use crate::commands::{Kind, Route};
use crate::discord::embeds;
use crate::discord::responder::{Callback, Reply, Responder};
use crate::messages;
use crate::services::Services;

/// How long an interaction id is remembered to drop repeated deliveries:
/// Discord's interaction tokens are valid for 15 minutes.
pub const DEDUPE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How many interaction ids are remembered at most (a burst of this many in
/// 15 minutes is far beyond any team's).
pub const DEDUPE_MAX: usize = 50_000;
/// The longest wait for the coordinator's answer to an interaction's claim
/// (see [`Bot::claim`]).
pub const CLAIM_WAIT: Duration = Duration::from_millis(1500);
/// The claim of an interaction's resumption (see [`Bot::resume`]), apart
/// from its delivery's: interaction ids are snowflakes, below 2^63.
pub fn resumed_claim(id: u64) -> u64 {
    id | 1 << 63
}

/// What answering an interaction of any kind takes from it.
fn parts(interaction: Interaction) -> Option<(InteractionId, String, ChannelId)> {
    Some(match interaction {
        Interaction::Command(c) | Interaction::Autocomplete(c) => (c.id, c.token, c.channel_id),
        Interaction::Component(c) => (c.id, c.token, c.channel_id),
        Interaction::Modal(m) => (m.id, m.token, m.channel_id),
        _ => return None,
    })
}

/// The bot's core: see the module documentation.
pub struct Bot {
    services: Arc<Services>,
    /// Set when shutting down: new interactions are turned away.
    draining: AtomicBool,
    /// Interactions being handled now.
    in_flight: TaskTracker,
}

impl Bot {
    pub fn new(services: Services) -> Arc<Self> {
        Arc::new(Self { services: Arc::new(services), draining: AtomicBool::new(false), in_flight: TaskTracker::new() })
    }

    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// Takes an interaction from a transport; its first answer goes through
    /// `callback`. Returns at once: the interaction runs in a task of its
    /// own, which holds only the parsed request and what answering takes.
    pub fn accept(self: &Arc<Self>, interaction: Interaction, callback: Arc<dyn Callback>) {
        let Some((route, responder, id)) = self.prepare(interaction, callback) else { return };
        let bot = Arc::clone(self);
        self.in_flight.spawn(async move { Box::pin(bot.handle(route, responder, id)).await });
    }

    /// [`Self::accept`], handled to the end before it returns: for a
    /// transport that may not leave work running once it has answered (an
    /// AWS Lambda invocation).
    pub async fn handle_here(self: &Arc<Self>, interaction: Interaction, callback: Arc<dyn Callback>) {
        if let Some((route, responder, id)) = self.prepare(interaction, callback) {
            self.handle(route, responder, id).await;
        }
    }

    /// Handles, to the end, an interaction whose first answer another
    /// process gave (a Lambda invocation that handed the rest over): the
    /// command runs from the start with a [`Responder::resumed`], and
    /// `callback` stands for that first answer. Claimed apart from the
    /// first delivery (see [`resumed_claim`]), so a resumption delivered
    /// twice runs once.
    pub async fn resume(self: &Arc<Self>, interaction: Interaction, callback: Arc<dyn Callback>) {
        let Some(route) = Route::parse(&interaction) else { return };
        let Some((id, token, channel)) = parts(interaction) else { return };
        if !self.claim(resumed_claim(id.get())).await {
            info!(interaction = id.get(), "repeated resumption of an interaction ignored");
            return;
        }
        let r = Responder::resumed(id, token, channel, callback, self.services.discord.clone());
        self.run(route, &r, id.get()).await;
    }

    /// The route and the responder of an interaction of the bot's, which is
    /// then dropped.
    fn prepare(&self, interaction: Interaction, callback: Arc<dyn Callback>) -> Option<(Route, Responder, u64)> {
        let received = Instant::now();
        let route = Route::parse(&interaction)?;
        let (id, token, channel) = parts(interaction)?;
        let responder = Responder::new(id, token, channel, received, callback, self.services.discord.clone());
        Some((route, responder, id.get()))
    }

    async fn handle(&self, route: Route, r: Responder, id: u64) {
        let kind = route.kind();
        if kind != Kind::Autocomplete && !self.claim(id).await {
            info!(interaction = id, "repeated delivery of an interaction ignored");
            return;
        }
        self.run(route, &r, id).await;
    }

    async fn run(&self, route: Route, r: &Responder, id: u64) {
        let kind = route.kind();
        let used = route.used();
        // The answers here are boxed: a task waiting in the command (for a
        // permit, say) then holds no room for them.
        if kind != Kind::Autocomplete && self.draining.load(Ordering::SeqCst) {
            Box::pin(r.private(format!("⏳ {}", messages::restarting(used)))).await;
            return;
        }
        let span = route.span(id);
        let run = AssertUnwindSafe(route.run(&self.services, r)).catch_unwind().instrument(span.clone()).await;
        if run.is_err() {
            Box::pin(self.answer_panic(kind, r)).instrument(span).await;
        }
    }

    /// Whether this delivery of interaction `id` is the first, to any
    /// replica. When the coordinator cannot tell (the shared store
    /// unreachable), it is handled: a declaration repeated on two replicas
    /// is still one incident (its client token is the interaction's), and a
    /// page must not be lost to the bot's bookkeeping.
    ///
    /// The claim comes before the first answer, so it has [`CLAIM_WAIT`] at
    /// most of Discord's 3 s: a store slower than that is treated as
    /// unreachable.
    async fn claim(&self, id: u64) -> bool {
        match tokio::time::timeout(CLAIM_WAIT, self.services.coordinator.claim_interaction(id)).await {
            Ok(Ok(first)) => first,
            Ok(Err(e)) => {
                warn!(interaction = id, error = %e, "could not claim the interaction; handling it");
                true
            }
            Err(_) => {
                warn!(
                    interaction = id,
                    wait_ms = CLAIM_WAIT.as_millis(),
                    "the store did not answer the claim in time; handling it"
                );
                true
            }
        }
    }

    /// A panic while handling one interaction: the process goes on, and the
    /// user is told.
    async fn answer_panic(&self, kind: Kind, r: &Responder) {
        error!("internal error (panic) while handling an interaction");
        if kind == Kind::Declaration {
            self.services.metrics.declaration("internal_error", "");
        }
        if kind == Kind::Autocomplete {
            return;
        }
        if r.answered() {
            // Already acknowledged: replace the "thinking…" reply instead.
            r.deliver(Reply::embed(embeds::internal_error(kind == Kind::Declaration))).await;
        } else {
            r.private(format!("⚠️ {}", messages::internal_error())).await;
        }
    }

    /// Stops accepting interactions and waits up to `grace` for those in
    /// flight. Returns how many were still running when the wait ended.
    pub async fn drain(&self, grace: Duration) -> usize {
        self.draining.store(true, Ordering::SeqCst);
        self.in_flight.close();
        let _ = tokio::time::timeout(grace, self.in_flight.wait()).await;
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discord::responder::RestCallback;
    use crate::testing::{Harness, command, opt};

    /// A burst of declarations queues behind the permits to AWS, each as a
    /// task waiting in `/incident`: the task's state is most of what a
    /// queued declaration costs. It stays small because every step that
    /// does not wait long is boxed; before, a queued declaration held about
    /// 6 KiB (3.6 KiB of room for the answers and autocomplete in the task,
    /// 2.4 KiB for the steps before the acknowledgement in the command).
    #[tokio::test]
    async fn a_queued_declaration_holds_little() {
        let h = Harness::new("");
        let mut d = command("incident", serde_json::json!([opt("plan", "payments")]));
        d["id"] = "1".into();
        d["token"] = "itoken-1".into();
        let interaction: Interaction = serde_json::from_value(d).unwrap();
        let route = Route::parse(&interaction).unwrap();
        let (id, token, channel) = parts(interaction).unwrap();
        let discord = h.bot.services().discord.clone();
        let r = Responder::new(id, token, channel, Instant::now(), Arc::new(RestCallback(discord.clone())), discord);
        let Route::Declare(req) = route else { panic!("not a declaration") };

        let command = std::mem::size_of_val(&crate::commands::incident::run(h.bot.services(), req.clone(), &r));
        let task = std::mem::size_of_val(&h.bot.handle(Route::Declare(req), r, id.get()));
        assert!(command + task <= 2048, "a queued declaration holds {command} + {task} bytes of futures");
    }
}
