//! What the bot remembers of Incident Manager, so autocomplete answers within
//! Discord's 3 seconds whatever AWS is doing: the account's response plans
//! (refreshed in the background on a TTL) and its open incidents (refreshed
//! on demand, with a deadline). On AWS failure the last good list is kept.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::sync::Mutex;
use tracing::{debug, warn};

use crate::domain::PlanSummary;
use crate::incident_manager::{IncidentManager, IncidentSummary};

/// The account's response plans, by ARN.
#[derive(Debug, Default)]
pub struct PlanDirectory {
    plans: DashMap<String, PlanSummary>,
}

impl PlanDirectory {
    /// Replaces the list with a fresh one.
    pub fn replace(&self, plans: Vec<PlanSummary>) {
        self.plans.retain(|arn, _| plans.iter().any(|p| &p.arn == arn));
        for p in plans {
            self.plans.insert(p.arn.clone(), p);
        }
    }

    /// The plans, in no particular order.
    pub fn snapshot(&self) -> Vec<PlanSummary> {
        self.plans.iter().map(|e| e.value().clone()).collect()
    }

    /// Lists the plans once; a failure keeps the last list.
    pub async fn refresh(&self, backend: &IncidentManager) {
        match backend.list_response_plans().await {
            Ok(plans) => {
                debug!(plans = plans.len(), "response plans loaded");
                self.replace(plans);
            }
            Err(e) => warn!(
                code = e.code(),
                kept = self.plans.len(),
                "could not list response plans; autocomplete keeps the last list (and the aliases)"
            ),
        }
    }

    /// Lists the plans now, then every `ttl`, forever.
    pub async fn run_refresh(&self, backend: IncidentManager, ttl: Duration) {
        loop {
            self.refresh(&backend).await;
            tokio::time::sleep(ttl).await;
        }
    }
}

/// Open incidents, newest first. One refresh at a time, in the background:
/// callers that need a fresh list wait for it (each at most its own
/// deadline, all at once), and the declaration path uses the last list.
#[derive(Debug)]
pub struct OpenIncidents {
    cached: std::sync::RwLock<(Option<Instant>, Arc<Vec<IncidentSummary>>)>,
    refreshing: Arc<Mutex<()>>,
    /// Bumped after each refresh, whether it worked or not.
    refreshed: tokio::sync::watch::Sender<u64>,
    /// Default age after which [`OpenIncidents::get`] refreshes.
    pub max_age: Duration,
}

/// Most open incidents fetched for autocomplete and duplicate checks.
const OPEN_INCIDENTS_LIMIT: usize = 200;

/// How long a background refresh may take before it is given up (the next
/// caller starts another).
const REFRESH_TIMEOUT: Duration = Duration::from_secs(30);

impl OpenIncidents {
    pub fn new(max_age: Duration) -> Self {
        Self {
            cached: std::sync::RwLock::new((None, Arc::new(Vec::new()))),
            refreshing: Arc::new(Mutex::new(())),
            refreshed: tokio::sync::watch::channel(0).0,
            max_age,
        }
    }

    fn current(&self, max_age: Duration) -> (bool, bool, Arc<Vec<IncidentSummary>>) {
        let c = self.cached.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let loaded = c.0.is_some();
        let fresh = c.0.is_some_and(|t| t.elapsed() < max_age);
        (loaded, fresh, Arc::clone(&c.1))
    }

    /// Starts a refresh in the background unless one is under way.
    fn start_refresh(self: &Arc<Self>, backend: &IncidentManager) {
        let Ok(guard) = Arc::clone(&self.refreshing).try_lock_owned() else { return };
        let (me, backend) = (Arc::clone(self), backend.clone());
        tokio::spawn(async move {
            let _single = guard;
            match tokio::time::timeout(REFRESH_TIMEOUT, backend.list_open_incidents(OPEN_INCIDENTS_LIMIT)).await {
                Ok(Ok(list)) => {
                    *me.cached.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
                        (Some(Instant::now()), Arc::new(list));
                }
                Ok(Err(e)) => warn!(code = e.code(), "could not list open incidents; using the last list"),
                Err(_) => warn!("listing open incidents took too long; using the last list"),
            }
            me.refreshed.send_modify(|n| *n += 1);
        });
    }

    /// The list, refreshed first if older than `max_age`. Waits at most
    /// `deadline` for the refresh; after that (or if it fails) the last good
    /// list, while the refresh goes on in the background.
    pub async fn get(
        self: &Arc<Self>,
        backend: &IncidentManager,
        deadline: Duration,
        max_age: Duration,
    ) -> Arc<Vec<IncidentSummary>> {
        let (_, fresh, list) = self.current(max_age);
        if fresh {
            return list;
        }
        let mut refreshed = self.refreshed.subscribe();
        let seen = *refreshed.borrow_and_update();
        self.start_refresh(backend);
        if tokio::time::timeout(deadline, refreshed.wait_for(|n| *n != seen)).await.is_err() {
            debug!("open incidents not listed in time; using the last list");
        }
        self.current(max_age).2
    }

    /// For the declaration path: never waits for AWS once a list exists. A
    /// stale list is returned as it is and refreshed in the background; only
    /// before the first list arrives does it wait (at most `deadline`).
    pub async fn recent(
        self: &Arc<Self>,
        backend: &IncidentManager,
        deadline: Duration,
        max_age: Duration,
    ) -> Arc<Vec<IncidentSummary>> {
        let (loaded, fresh, list) = self.current(max_age);
        if !loaded {
            return self.get(backend, deadline, max_age).await;
        }
        if !fresh {
            self.start_refresh(backend);
        }
        list
    }
}
