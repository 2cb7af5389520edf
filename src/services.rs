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
use crate::discord::responder::Discord;
use crate::domain::IncidentArn;
use crate::domain::access::AccessPolicy;
use crate::domain::limits::RateLimiter;
use crate::observe::Metrics;
use crate::shutdown::Shutdown;
use crate::store::Store;

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
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        tasks: Shutdown,
    ) -> Self {
        let limits = settings.limits;
        Self {
            plans: Arc::default(),
            open: Arc::new(OpenIncidents::new(backend.clone(), tasks)),
            declarations: RateLimiter::new(limits.per_user, Some(limits.per_guild)),
            changes: RateLimiter::new(limits.changes_per_user, None),
            pending_resolves: ExpiringMap::new(PENDING_RESOLVES_MAX, PENDING_RESOLVE_AGE),
            aws_permits: Semaphore::new(limits.max_concurrent),
            followup_permits: Semaphore::new(limits.max_concurrent.div_ceil(4).min(FOLLOWUP_LANE)),
            settings,
            backend,
            discord,
            store,
            incident_locks: KeyedLocks::default(),
            metrics,
        }
    }
}
