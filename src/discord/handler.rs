//! The gateway event handler: registers `/incident` on READY and runs each
//! interaction through access → parse → declaration → rate limit →
//! Incident Manager → reply.
//!
//! Guarantees kept here (see README, "Security and reliability"):
//! - a refused or invalid request gets a private answer and no AWS call;
//! - an interaction id is handled once (replays are dropped), and its
//!   StartIncident carries a client token derived from that id;
//! - the outcome of every call that reached AWS is delivered: by editing the
//!   reply, or, if that fails for good, as a message in the channel;
//! - a panic while handling one interaction is contained and answered;
//! - on shutdown no new declaration starts and those in flight finish.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use dashmap::DashMap;
use futures_util::FutureExt;
use serenity::all::{
    AutoArchiveDuration, ChannelId, Command, CommandInteraction, Context, CreateActionRow, CreateAllowedMentions,
    CreateAutocompleteResponse, CreateEmbed, CreateInteractionResponse, CreateInteractionResponseMessage,
    CreateMessage, CreateThread, EditInteractionResponse, Embed, EventHandler, GuildId, Interaction, InteractionId,
    Message, Ready,
};
use serenity::async_trait;
use serenity::builder::Builder as _;
use tokio::sync::watch;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::{command, options, render};
use crate::config::{IncidentSettings, LimitSettings};
use crate::directory::{OpenIncidents, PlanDirectory};
use crate::domain::access::AccessPolicy;
use crate::domain::limits::RateLimiter;
use crate::domain::text::truncate;
use crate::domain::{Declaration, RelatedItem};
use crate::incident_manager::{IncidentManager, IncidentSummary};
use crate::observe::{Health, Metrics};

/// How long an interaction id is remembered to drop repeated deliveries:
/// Discord's interaction tokens are valid for 15 minutes.
const DEDUPE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Map size at which expired interaction ids are swept.
const DEDUPE_SWEEP_AT: usize = 4096;
/// Attempts to register the command before giving up (the log says so).
const REGISTER_ATTEMPTS: u32 = 5;
/// Attempts to deliver an outcome to Discord on 429, 5xx or network errors.
const DELIVERY_ATTEMPTS: u32 = 4;
/// At most this many first answers to interactions in flight to Discord. At
/// 100 ms a request that is 640 a second, far inside the 3 s rule for any
/// burst a team produces.
const ACK_LANE: usize = 64;
/// At most this many outcome edits (or fallback channel posts) in flight.
const REPLY_LANE: usize = 32;
/// At most this many declarations doing their follow-ups (timeline event,
/// thread) at once (fewer if `max_concurrent_declarations` is below 64).
const FOLLOWUP_LANE: usize = 16;

/// The parts of the configuration the handler uses.
#[derive(Debug)]
pub struct HandlerConfig {
    pub incident: IncidentSettings,
    /// Guilds to register the commands in; empty: globally.
    pub guild_ids: Vec<u64>,
    pub access: AccessPolicy,
    pub limits: LimitSettings,
}

/// Everything the handler needs, shared by all interactions.
pub struct Handler {
    incident: IncidentSettings,
    guild_ids: Vec<u64>,
    pub(super) backend: IncidentManager,
    pub(super) access: AccessPolicy,
    limiter: RateLimiter,
    /// The account's response plans, for autocomplete.
    directory: Arc<PlanDirectory>,
    /// Open incidents, for `/incident-update` and duplicate checks.
    pub(super) open_incidents: Arc<OpenIncidents>,
    /// Confirmations waiting for "Resolve incident", by message id.
    pub(super) pending_resolves: DashMap<u64, (Embed, Instant)>,
    /// Interaction ids already handled, with when they were first seen.
    seen: DashMap<u64, Instant>,
    /// Gateway and registration state, for `/healthz`; READY after a
    /// reconnect skips registering again.
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    /// READY events seen (the second and later are reconnects).
    sessions: std::sync::atomic::AtomicU64,
    /// Set when shutting down: new interactions are turned away.
    draining: AtomicBool,
    /// Interactions being handled now.
    in_flight: watch::Sender<usize>,
    /// Bounds the StartIncident calls in flight, and so the connections,
    /// buffers and CPU a burst can take; acknowledgements never wait for it.
    aws_permits: tokio::sync::Semaphore,
    /// Bounds the declarations doing their follow-ups (timeline event,
    /// thread) at once: a separate, smaller pool, so that during a burst
    /// follow-ups never queue ahead of a declaration still waiting for its
    /// StartIncident, and hold a bounded share of connections and memory.
    followup_permits: tokio::sync::Semaphore,
    /// Bounds the first answers (acknowledgements, refusals) being sent to
    /// Discord at once, and [`Self::reply_lane`] the outcome edits: a burst
    /// then reuses a few dozen connections instead of opening one per
    /// interaction, and an outcome never waits behind an acknowledgement.
    ack_lane: tokio::sync::Semaphore,
    reply_lane: tokio::sync::Semaphore,
}

/// What answering an interaction takes, without the interaction itself
/// (about 3 KB with its member, user and options): a declaration waiting for
/// AWS keeps only this. (No `Debug`: the token is a credential.)
struct Reply {
    id: InteractionId,
    token: String,
    channel_id: ChannelId,
}

impl Reply {
    fn of(cmd: &CommandInteraction) -> Self {
        Self { id: cmd.id, token: cmd.token.clone(), channel_id: cmd.channel_id }
    }
}

/// Decrements the in-flight count when an interaction is done, however it ends.
struct InFlight<'a>(&'a watch::Sender<usize>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl Handler {
    /// A handler that declares through `backend` and registers `/incident`
    /// in `guild_ids` (globally when empty).
    pub fn new(
        config: HandlerConfig,
        backend: IncidentManager,
        directory: Arc<PlanDirectory>,
        health: Arc<Health>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let HandlerConfig { incident, guild_ids, access, limits } = config;
        Self {
            incident,
            guild_ids,
            backend,
            access,
            limiter: RateLimiter::new(limits.per_user, limits.per_guild),
            directory,
            open_incidents: Arc::new(OpenIncidents::new(Duration::from_secs(30))),
            pending_resolves: DashMap::new(),
            seen: DashMap::new(),
            health,
            metrics,
            sessions: std::sync::atomic::AtomicU64::new(0),
            draining: AtomicBool::new(false),
            in_flight: watch::channel(0).0,
            aws_permits: tokio::sync::Semaphore::new(limits.max_concurrent),
            followup_permits: tokio::sync::Semaphore::new(limits.max_concurrent.div_ceil(4).min(FOLLOWUP_LANE)),
            ack_lane: tokio::sync::Semaphore::new(ACK_LANE),
            reply_lane: tokio::sync::Semaphore::new(REPLY_LANE),
        }
    }

    /// Stops accepting interactions and waits up to `grace` for those in
    /// flight. Returns how many were still running when the wait ended.
    pub async fn drain(&self, grace: Duration) -> usize {
        self.draining.store(true, Ordering::SeqCst);
        let mut rx = self.in_flight.subscribe();
        let _ = tokio::time::timeout(grace, rx.wait_for(|n| *n == 0)).await;
        *self.in_flight.borrow()
    }

    /// While draining, answers `cmd` privately and returns true.
    async fn refuse_while_draining(&self, ctx: &Context, cmd: &CommandInteraction) -> bool {
        if !self.draining.load(Ordering::SeqCst) {
            return false;
        }
        let _ = self.reply_private(ctx, &Reply::of(cmd), render::shutting_down()).await;
        true
    }

    /// True the first time an interaction id is seen within the window.
    fn first_delivery(&self, id: u64) -> bool {
        if self.seen.len() >= DEDUPE_SWEEP_AT {
            self.seen.retain(|_, t| t.elapsed() < DEDUPE_WINDOW);
        }
        let mut fresh = false;
        self.seen.entry(id).or_insert_with(|| {
            fresh = true;
            Instant::now()
        });
        fresh
    }

    async fn register(&self, ctx: &Context) -> serenity::Result<()> {
        let cmds = command::all(!self.incident.plans.has_default(), self.access.allow_dms);
        if self.guild_ids.is_empty() {
            Command::set_global_commands(&ctx.http, cmds).await?;
        } else {
            for g in &self.guild_ids {
                GuildId::new(*g).set_commands(&ctx.http, cmds.clone()).await?;
            }
        }
        Ok(())
    }

    /// A private answer as the first response to an interaction.
    async fn reply_private(&self, ctx: &Context, to: &Reply, text: String) -> serenity::Result<()> {
        let _lane = self.ack_lane.acquire().await;
        let reply = CreateInteractionResponseMessage::new()
            .content(text)
            .ephemeral(true)
            .allowed_mentions(CreateAllowedMentions::new());
        CreateInteractionResponse::Message(reply).execute(&ctx.http, (to.id, &to.token)).await
    }

    /// `/incident`. The interaction is dropped once acknowledged: while the
    /// declaration waits for AWS it keeps only `reply`.
    async fn declare(&self, ctx: &Context, interaction: Box<Interaction>, reply: &Reply, started: Instant) {
        let Interaction::Command(cmd) = &*interaction else { return };
        let caller = options::caller(cmd);
        if let Err(denied) = self.access.check(&caller) {
            info!(outcome = "refused", reason = %denied, "declaration refused by [access]");
            self.metrics.declaration("refused", "");
            if let Err(e) = Box::pin(self.reply_private(ctx, reply, render::denied(&denied))).await {
                warn!(error = %e, "could not send the refusal");
            }
            return;
        }
        let mut input = options::declare_input(&cmd.data.options());
        // A listed plan's name (what autocomplete sends for over-long ARNs)
        // stands for its ARN.
        if let Ok(p) = self.incident.plans.resolve_listed(input.plan.as_deref(), &self.directory.snapshot()) {
            input.plan = Some(p.arn.as_str().to_owned());
        }
        #[cfg(feature = "fault-injection")]
        if input.title.as_deref() == Some("fault-injection: panic") {
            panic!("fault injection: a panic in the middle of a declaration");
        }
        let declaration =
            match Declaration::build(&input, &self.incident.plans, &self.incident.source, options::origin(cmd)) {
                Ok(d) => d,
                Err(refusal) => {
                    info!(outcome = "invalid", reason = %refusal, "declaration refused");
                    self.metrics.declaration("invalid", "");
                    if let Err(e) = Box::pin(self.reply_private(ctx, reply, render::refusal(&refusal))).await {
                        warn!(error = %e, "could not send the refusal");
                    }
                    return;
                }
            };
        if let Err(limited) = self.limiter.try_acquire(caller.user_id, caller.guild_id, Instant::now()) {
            info!(outcome = "rate_limited", scope = ?limited.scope, "declaration refused by [limits]");
            self.metrics.declaration("rate_limited", "");
            if let Err(e) = Box::pin(self.reply_private(ctx, reply, render::limited(&limited))).await {
                warn!(error = %e, "could not send the refusal");
            }
            return;
        }
        // Acknowledge first: StartIncident may take longer than Discord's 3 s.
        let acked = {
            let _lane = self.ack_lane.acquire().await;
            Box::pin(cmd.defer(&ctx.http)).await
        };
        if let Err(e) = acked {
            error!(error = %e, "could not acknowledge the interaction; nothing was declared");
            self.metrics.declaration("not_acknowledged", "");
            return;
        }
        drop(interaction);
        let ack_ms = millis(started.elapsed());
        self.metrics.acked(started.elapsed());
        // The duplicate check reads the cached open incidents (refreshed in
        // the background); only before the first list has arrived does it
        // wait, beside StartIncident, so it never delays the declaration.
        let open = async {
            match self.incident.duplicate_window {
                Some(_) => {
                    let recent =
                        self.open_incidents.recent(&self.backend, Duration::from_secs(2), Duration::from_secs(10));
                    Some(Box::pin(recent).await)
                }
                None => None,
            }
        };
        // The large futures (the SDK call, the Discord edits) are boxed: they
        // then take memory only while they run, not while a declaration of a
        // burst waits for its turn.
        let outcome = async {
            let _permit = self.aws_permits.acquire().await;
            Box::pin(self.backend.start_incident(&declaration)).await
        };
        let (outcome, open) = tokio::join!(outcome, open);
        let region = self.backend.region();
        let arn = match outcome {
            Ok(arn) => arn,
            Err(e) => {
                self.metrics.declaration("aws_error", e.code());
                Box::pin(self.deliver(ctx, reply, render::failed(&e, &declaration, region), vec![])).await;
                self.metrics.declared(started.elapsed());
                warn!(
                    outcome = "aws_error",
                    code = e.code(),
                    plan = declaration.plan.label,
                    ack_ms,
                    total_ms = millis(started.elapsed()),
                    "incident not declared"
                );
                return;
            }
        };
        let mut extras = render::Extras {
            duplicates: self.duplicates(&declaration, &arn, open.as_deref().map(Vec::as_slice).unwrap_or_default()),
            thread: None,
        };
        let console = render::console_for(&arn, region);
        let buttons = render::confirmation_buttons(&console, false);
        let embed = render::declared_with(&declaration, &arn, region, &extras);
        self.metrics.declaration("ok", "");
        let message = Box::pin(self.deliver(ctx, reply, embed, buttons.clone())).await;
        self.metrics.declared(started.elapsed());
        info!(
            outcome = "ok",
            incident = arn.as_str(),
            plan = declaration.plan.label,
            ack_ms,
            total_ms = millis(started.elapsed()),
            "incident declared"
        );

        // Follow-ups: the declaration is in the timeline, the thread is open.
        let _permit = self.followup_permits.acquire().await;
        let event = format!(
            "Declared from Discord by {} in {}",
            declaration.origin.user_name,
            declaration
                .origin
                .channel_name
                .as_deref()
                .map_or_else(|| "a direct message".to_owned(), |c| format!("#{c}"))
        );
        let event_token = format!("{}-declared", declaration.client_token);
        let timeline =
            Box::pin(self.backend.add_timeline_event(&arn, &event, declaration.trigger.timestamp, &event_token));
        let thread = async {
            match (&message, declaration.origin.guild_id) {
                (Some(message), Some(_)) if self.incident.create_thread => {
                    Some(Box::pin(self.open_thread(ctx, &declaration, &arn, message)).await)
                }
                _ => None,
            }
        };
        let (timeline, thread) = tokio::join!(timeline, thread);
        if let Err(e) = timeline {
            warn!(code = e.code(), "could not add the declaration to the incident's timeline");
        }
        if let Some(thread) = thread {
            extras.thread = Some(thread);
            let embed = render::declared_with(&declaration, &arn, region, &extras);
            let edit = EditInteractionResponse::new()
                .embed(embed)
                .components(buttons)
                .allowed_mentions(CreateAllowedMentions::new());
            if let Err(e) = Box::pin(edit.execute(&ctx.http, &reply.token)).await {
                warn!(error = %e, "could not show the thread on the confirmation");
            }
        }
    }

    /// Open incidents of the same plan started within the window (not `arn`).
    fn duplicates(&self, d: &Declaration, arn: &str, open: &[IncidentSummary]) -> Vec<IncidentSummary> {
        let Some(window) = self.incident.duplicate_window else { return Vec::new() };
        let since = SystemTime::now()
            .checked_sub(window)
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        open.iter()
            .filter(|i| i.arn != arn && i.created >= since && i.plan_name() == Some(d.plan.arn.name()))
            .take(5)
            .cloned()
            .collect()
    }

    /// Starts the incident's thread on the confirmation, links it from the
    /// incident and posts the first message. Returns the thread's id, or why
    /// there is none (the declaration stands either way).
    async fn open_thread(&self, ctx: &Context, d: &Declaration, arn: &str, message: &Message) -> Result<u64, String> {
        let title = d.title.as_ref().map_or_else(|| d.plan.label.clone(), |t| t.as_str().to_owned());
        let name = truncate(&format!("INC · {title}"), 100);
        let thread = ChannelId::new(d.origin.channel_id)
            .create_thread_from_message(
                &ctx.http,
                message.id,
                CreateThread::new(name.clone()).auto_archive_duration(AutoArchiveDuration::OneWeek),
            )
            .await
            .map_err(|e| {
                warn!(error = %e, "could not create the incident's thread");
                thread_failure(&e)
            })?;
        let url = format!("https://discord.com/channels/{}/{}", d.origin.guild_id.unwrap_or_default(), thread.id.get());
        let item = RelatedItem::url(url, truncate(&format!("Discord thread {name}"), 200));
        // (Under the caller's follow-up permit.)
        let linked = self.backend.add_related_item(arn, &item, &format!("{}-thread", d.client_token)).await;
        if let Err(e) = linked {
            warn!(code = e.code(), "could not add the thread to the incident's related items");
        }
        let first =
            CreateMessage::new().content(render::thread_opening(d, arn)).allowed_mentions(CreateAllowedMentions::new());
        if let Err(e) = thread.id.send_message(&ctx.http, first).await {
            warn!(error = %e, "could not post the first message in the thread");
        }
        Ok(thread.id.get())
    }

    async fn autocomplete(&self, ctx: &Context, cmd: &CommandInteraction) {
        let typed = cmd.data.autocomplete().filter(|o| o.name == command::opt::PLAN).map_or("", |o| o.value);
        let mut response = CreateAutocompleteResponse::new();
        // Plans are only shown to those who may declare.
        if self.access.check(&options::caller(cmd)).is_ok() {
            for (name, value) in self.incident.plans.suggest(typed, &self.directory.snapshot()) {
                response = response.add_string_choice(name, value);
            }
        }
        if let Err(e) = cmd.create_response(&ctx.http, CreateInteractionResponse::Autocomplete(response)).await {
            debug!(error = %e, "autocomplete answer failed");
        }
    }

    /// Runs one `/incident`, containing any panic in it: the process goes on
    /// and the user is told.
    async fn declare_guarded(&self, ctx: &Context, interaction: Box<Interaction>, started: Instant) {
        let Interaction::Command(cmd) = &*interaction else { return };
        let reply = Reply::of(cmd);
        if AssertUnwindSafe(self.declare(ctx, interaction, &reply, started)).catch_unwind().await.is_ok() {
            return;
        }
        error!("internal error (panic) while handling /incident");
        self.metrics.declaration("internal_error", "");
        let text = render::internal_error();
        if Box::pin(self.reply_private(ctx, &reply, text.clone())).await.is_err() {
            // Already acknowledged: replace the "thinking…" reply instead.
            Box::pin(self.deliver(ctx, &reply, render::internal_error_embed(), vec![])).await;
        }
    }
}

impl Handler {
    /// Puts the outcome in the channel: edits the deferred reply, retrying on
    /// rate limits and transient errors; when the reply cannot be edited (the
    /// 15-minute token expired, or it was deleted), posts a channel message.
    async fn deliver(
        &self,
        ctx: &Context,
        to: &Reply,
        embed: CreateEmbed,
        components: Vec<CreateActionRow>,
    ) -> Option<Message> {
        let mut delay = Duration::from_secs(1);
        for attempt in 1..=DELIVERY_ATTEMPTS {
            let edit = EditInteractionResponse::new()
                .embed(embed.clone())
                .components(components.clone())
                .allowed_mentions(CreateAllowedMentions::new());
            let edited = {
                let _lane = self.reply_lane.acquire().await;
                edit.execute(&ctx.http, &to.token).await
            };
            match edited {
                Ok(m) => return Some(m),
                Err(e) if attempt < DELIVERY_ATTEMPTS && transient(&e) => {
                    warn!(error = %e, attempt, "could not edit the reply; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => {
                    warn!(error = %e, "could not edit the reply; posting the outcome to the channel");
                    break;
                }
            }
        }
        let mut delay = Duration::from_secs(1);
        for attempt in 1..=DELIVERY_ATTEMPTS {
            let msg = CreateMessage::new()
                .embed(embed.clone())
                .components(components.clone())
                .allowed_mentions(CreateAllowedMentions::new());
            let posted = {
                let _lane = self.reply_lane.acquire().await;
                to.channel_id.send_message(&ctx.http, msg).await
            };
            match posted {
                Ok(m) => return Some(m),
                Err(e) if attempt < DELIVERY_ATTEMPTS && transient(&e) => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => {
                    error!(error = %e, "could not report the outcome to Discord; the log line above has it");
                    return None;
                }
            }
        }
        None
    }
}

/// Whole milliseconds, as a number log shippers index.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Why a thread could not be created, for the confirmation.
fn thread_failure(e: &serenity::Error) -> String {
    use serenity::http::HttpError;
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r))
            if r.error.code == 50013 || r.status_code.as_u16() == 403 =>
        {
            "the bot lacks the Create Public Threads permission in this channel".to_owned()
        }
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            format!("Discord refused it ({}, code {})", r.status_code.as_u16(), r.error.code)
        }
        _ => "Discord could not be reached".to_owned(),
    }
}

/// A rate limit, a Discord server error, or a network failure: worth a retry.
///
/// serenity's own rate limiter waits out 429s when it is on; with an
/// `api_url` proxy it is off, and serenity 0.12's error type does not carry
/// `retry_after`, so these retries back off exponentially (1 s, 2 s, 4 s).
fn transient(e: &serenity::Error) -> bool {
    use serenity::http::HttpError;
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            r.status_code.as_u16() == 429 || r.status_code.is_server_error()
        }
        serenity::Error::Http(HttpError::Request(_)) => true,
        _ => false,
    }
}

/// The gateway's events, as [`Gateway`] hands them over.
impl Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        info!(
            user = %ready.user.name,
            guilds = ready.guilds.len(),
            startup_ms = millis(crate::telemetry::since_start()),
            "connected to the Discord gateway"
        );
        if self.sessions.fetch_add(1, Ordering::SeqCst) > 0 {
            self.metrics.reconnected();
        }
        if self.health.registered() {
            return;
        }

        let mut delay = Duration::from_millis(500);
        for attempt in 1..=REGISTER_ATTEMPTS {
            match self.register(&ctx).await {
                Ok(()) => {
                    self.health.set_registered();
                    info!(
                        scope = if self.guild_ids.is_empty() { "global" } else { "guild" },
                        guilds = ?self.guild_ids,
                        startup_ms = millis(crate::telemetry::since_start()),
                        "registered /incident"
                    );
                    return;
                }
                Err(e) if attempt < REGISTER_ATTEMPTS => {
                    warn!(error = %e, attempt, "could not register /incident; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => error!(error = %e, "could not register /incident; the command will not work"),
            }
        }
    }

    fn resumed(&self) {
        info!("gateway session resumed");
        self.metrics.reconnected();
    }
}

/// serenity's event handler: hands each interaction to its own small task and
/// returns at once.
///
/// serenity runs every event in a task of its own that holds the whole event
/// dispatch (about 12 KB); a declaration of a burst can wait seconds for its
/// turn at AWS, and would keep that task alive all along. Our task holds only
/// the interaction (boxed) and the handler.
pub struct Gateway(pub Arc<Handler>);

#[async_trait]
impl EventHandler for Gateway {
    async fn ready(&self, ctx: Context, ready: Ready) {
        self.0.ready(ctx, ready).await;
    }

    async fn resume(&self, _: Context, _: serenity::model::event::ResumedEvent) {
        self.0.resumed();
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        let started = Instant::now();
        let handler = Arc::clone(&self.0);
        // Counted before the task starts, so a shutdown waits for it.
        handler.in_flight.send_modify(|n| *n += 1);
        let interaction = Box::new(interaction);
        tokio::spawn(async move {
            let _in_flight = InFlight(&handler.in_flight);
            Box::pin(handler.interaction(ctx, interaction, started)).await;
        });
    }
}

impl Handler {
    async fn interaction(&self, ctx: Context, interaction: Box<Interaction>, started: Instant) {
        match &*interaction {
            Interaction::Command(cmd) if cmd.data.name == command::NAME => {
                if !self.first_delivery(cmd.id.get()) {
                    info!(interaction = cmd.id.get(), "repeated delivery of an interaction ignored");
                    return;
                }
                if Box::pin(self.refuse_while_draining(&ctx, cmd)).await {
                    return;
                }
                let span = info_span!(
                    "declare",
                    interaction = cmd.id.get(),
                    guild = cmd.guild_id.map(|g| g.get()),
                    channel = cmd.channel_id.get(),
                    user = cmd.user.id.get()
                );
                Box::pin(self.declare_guarded(&ctx, interaction, started).instrument(span)).await;
            }
            Interaction::Command(cmd) if cmd.data.name == command::UPDATE_NAME => {
                if !self.first_delivery(cmd.id.get()) || Box::pin(self.refuse_while_draining(&ctx, cmd)).await {
                    return;
                }
                let span = info_span!("update", interaction = cmd.id.get(), user = cmd.user.id.get());
                Box::pin(self.update_command(&ctx, cmd).instrument(span)).await;
            }
            Interaction::Autocomplete(cmd) if cmd.data.name == command::NAME => {
                Box::pin(self.autocomplete(&ctx, cmd)).await
            }
            Interaction::Autocomplete(cmd) if cmd.data.name == command::UPDATE_NAME => {
                Box::pin(self.update_autocomplete(&ctx, cmd)).await;
            }
            Interaction::Component(c)
                if c.data.custom_id.starts_with("incident:") && self.first_delivery(c.id.get()) =>
            {
                let span = info_span!("button", interaction = c.id.get(), user = c.user.id.get());
                Box::pin(self.component(&ctx, c).instrument(span)).await;
            }
            Interaction::Modal(m) if m.data.custom_id.starts_with("incident:") && self.first_delivery(m.id.get()) => {
                let span = info_span!("dialog", interaction = m.id.get(), user = m.user.id.get());
                Box::pin(self.modal(&ctx, m).instrument(span)).await;
            }
            _ => {}
        }
    }
}
