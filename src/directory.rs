//! What the bot remembers of Incident Manager, so autocomplete answers within
//! Discord's 3 seconds whatever AWS is doing: the account's response plans
//! (refreshed in the background on a TTL) and its open incidents (refreshed
//! on demand, with a deadline). On AWS failure the last good list is kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::sync::Mutex;
use tracing::{debug, warn};

use crate::domain::PlanSummary;
use crate::incident_manager::{IncidentManager, IncidentSummary};

/// The account's response plans, by ARN.
#[derive(Debug)]
pub struct PlanDirectory {
    plans: DashMap<String, PlanSummary>,
    /// Successful refreshes so far (0: only aliases are known).
    loads: AtomicU64,
    /// Set once the first listing finished (or failed).
    attempted: tokio::sync::watch::Sender<bool>,
}

impl Default for PlanDirectory {
    fn default() -> Self {
        Self { plans: DashMap::new(), loads: AtomicU64::new(0), attempted: tokio::sync::watch::channel(false).0 }
    }
}

impl PlanDirectory {
    /// Replaces the list with a fresh one.
    pub fn replace(&self, plans: Vec<PlanSummary>) {
        self.plans.retain(|arn, _| plans.iter().any(|p| &p.arn == arn));
        for p in plans {
            self.plans.insert(p.arn.clone(), p);
        }
        self.loads.fetch_add(1, Ordering::Relaxed);
    }

    /// The plans, in no particular order.
    pub fn snapshot(&self) -> Vec<PlanSummary> {
        self.plans.iter().map(|e| e.value().clone()).collect()
    }

    /// How many times the list was loaded.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// Waits until the first listing has finished or failed, at most `deadline`.
    pub async fn first_load(&self, deadline: Duration) {
        let mut rx = self.attempted.subscribe();
        if tokio::time::timeout(deadline, rx.wait_for(|done| *done)).await.is_err() {
            warn!("listing response plans takes over {deadline:?}; autocomplete starts with the aliases only");
        }
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
        self.attempted.send_replace(true);
    }

    /// Lists the plans now, then every `ttl`.
    pub fn spawn_refresh(self: &Arc<Self>, backend: IncidentManager, ttl: Duration) -> tokio::task::JoinHandle<()> {
        let dir = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                dir.refresh(&backend).await;
                tokio::time::sleep(ttl).await;
            }
        })
    }
}

/// Open incidents, newest first. One refresh at a time: callers that find
/// a refresh under way wait for it and share its result.
#[derive(Debug)]
pub struct OpenIncidents {
    cached: Mutex<(Option<Instant>, Arc<Vec<IncidentSummary>>)>,
    /// Default age after which [`OpenIncidents::get`] refreshes.
    pub max_age: Duration,
}

/// Most open incidents fetched for autocomplete and duplicate checks.
const OPEN_INCIDENTS_LIMIT: usize = 200;

impl OpenIncidents {
    pub fn new(max_age: Duration) -> Self {
        Self { cached: Mutex::new((None, Arc::new(Vec::new()))), max_age }
    }

    /// The list, refreshed first if older than `max_age`; a refresh that
    /// fails or takes longer than `deadline` leaves the last good list.
    pub async fn get(
        &self,
        backend: &IncidentManager,
        deadline: Duration,
        max_age: Duration,
    ) -> Arc<Vec<IncidentSummary>> {
        let mut cached = self.cached.lock().await;
        if cached.0.is_some_and(|t| t.elapsed() < max_age) {
            return Arc::clone(&cached.1);
        }
        match tokio::time::timeout(deadline, backend.list_open_incidents(OPEN_INCIDENTS_LIMIT)).await {
            Ok(Ok(list)) => *cached = (Some(Instant::now()), Arc::new(list)),
            Ok(Err(e)) => warn!(code = e.code(), "could not list open incidents; using the last list"),
            Err(_) => warn!("listing open incidents took too long; using the last list"),
        }
        Arc::clone(&cached.1)
    }
}
