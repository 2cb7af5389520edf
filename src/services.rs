//! What the command families run with, shared by all interactions: the
//! settings, the backend, Discord, the caches, the limiters and the permits
//! that bound a burst.

use std::sync::Arc;
use std::time::Duration;

use serenity::all::Embed;
use tokio::sync::Semaphore;

use crate::backend::IncidentBackend;
use crate::bounded::{ExpiringMap, KeyedLocks};
use crate::config::{IncidentSettings, LimitSettings};
use crate::directory::{OpenIncidents, PlanDirectory};
use crate::discord::responder::{Discord, Responder};
use crate::domain::IncidentArn;
use crate::domain::access::AccessPolicy;
use crate::domain::limits::{Limited, RateLimiter};
use crate::observe::Metrics;
use crate::shutdown::Shutdown;
use crate::store::{Coordinator, Store};

/// How long the confirmation's embed is kept between a Resolve click and
/// its confirmation (after that, or after a restart, it is read back from
/// Discord), and for how many confirmations at most.
pub const PENDING_RESOLVE_AGE: Duration = Duration::from_secs(15 * 60);
pub const PENDING_RESOLVES_MAX: usize = 256;
/// At most this many declarations do their follow-ups (timeline event,
/// thread) at once (fewer if `max_concurrent_declarations` is below 64).
const FOLLOWUP_LANE: usize = 16;

/// The parts of the configuration the commands use.
#[derive(Debug, Clone)]
pub struct Settings {
    pub incident: IncidentSettings,
    pub access: AccessPolicy,
    pub limits: LimitSettings,
}

/// What the command families run with, shared by all interactions.
pub struct Services {
    pub settings: Settings,
    pub backend: Arc<dyn IncidentBackend>,
    pub discord: Arc<Discord>,
    /// What outlives a restart: incidents' homes, the mirror's checkpoints.
    pub store: Arc<dyn Store>,
    /// What the replicas agree on: repeated deliveries, the limits' counts,
    /// the mirror's lease (in memory for one process).
    pub coordinator: Arc<dyn Coordinator>,
    /// This process's name among replicas (the lease holder's).
    pub replica: Arc<str>,
    /// Per incident: the bot's writes (with what it remembers of them) and
    /// the mirror's looks take turns, so a write is never shown back.
    pub incident_locks: KeyedLocks<IncidentArn>,
    /// The account's response plans, for autocomplete.
    pub plans: Arc<PlanDirectory>,
    /// Open incidents, for `/incident-update` and duplicate hints.
    pub open: Arc<OpenIncidents>,
    /// Declarations per user and per guild.
    pub declarations: RateLimiter,
    /// Changes to incidents (updates, dialogs, resolves) per user.
    pub changes: RateLimiter,
    /// Confirmation embeds between a Resolve click and its confirmation.
    pub pending_resolves: ExpiringMap<u64, Embed>,
    pub metrics: Arc<Metrics>,
    /// Bounds the StartIncident calls in flight, and so the connections,
    /// buffers and CPU a burst can take; acknowledgements never wait for it.
    pub aws_permits: Semaphore,
    /// Bounds the declarations doing their follow-ups at once: a separate,
    /// smaller pool, so that during a burst follow-ups never queue ahead of
    /// a declaration still waiting for its StartIncident.
    pub followup_permits: Semaphore,
}

impl Services {
    pub fn new(
        settings: Settings,
        backend: Arc<dyn IncidentBackend>,
        discord: Arc<Discord>,
        (store, coordinator): (Arc<dyn Store>, Arc<dyn Coordinator>),
        metrics: Arc<Metrics>,
        tasks: Shutdown,
    ) -> Self {
        let limits = settings.limits;
        Self {
            plans: Arc::default(),
            open: Arc::new(OpenIncidents::new(backend.clone(), tasks)),
            declarations: RateLimiter::new("decl", limits.per_user, Some(limits.per_guild)),
            changes: RateLimiter::new("change", limits.changes_per_user, None),
            pending_resolves: ExpiringMap::new(PENDING_RESOLVES_MAX, PENDING_RESOLVE_AGE),
            aws_permits: Semaphore::new(limits.max_concurrent),
            followup_permits: Semaphore::new(limits.max_concurrent.div_ceil(4).min(FOLLOWUP_LANE)),
            settings,
            backend,
            discord,
            store,
            coordinator,
            replica: replica_name().into(),
            incident_locks: KeyedLocks::default(),
            metrics,
        }
    }

    /// Counts a declaration by `user` in `guild` against the limits (once:
    /// not again while `r` replays what was counted).
    pub async fn limit_declaration(&self, r: &Responder, user: u64, guild: Option<u64>) -> Result<(), Limited> {
        if r.replaying() {
            return Ok(());
        }
        self.declarations.try_acquire(&*self.coordinator, user, guild, crate::sync::now_ms()).await
    }

    /// Counts a change to an incident by `user` against the limits (once).
    pub async fn limit_change(&self, r: &Responder, user: u64) -> Result<(), Limited> {
        if r.replaying() {
            return Ok(());
        }
        self.changes.try_acquire(&*self.coordinator, user, None, crate::sync::now_ms()).await
    }
}

/// This process among replicas: host name, process id and start time (a
/// restarted replica is a new holder).
fn replica_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map_or_else(|| "host".to_owned(), |h| h.trim().to_owned());
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros());
    format!("{host}-{}-{started}", std::process::id())
}
