//! What the bot remembers of Incident Manager, so autocomplete answers within
//! Discord's 3 seconds whatever AWS is doing: the account's response plans
//! (refreshed in the background on a TTL) and its open incidents (refreshed
//! on use, with a deadline). On AWS failure the last good list is kept.
//!
//! The bot's own writes (a declaration, a new title or impact, a resolve)
//! show at once in the open incidents: they are applied to the list when
//! made, and again to every list fetched soon after, which Incident Manager
//! may have answered before it saw them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::backend::IncidentBackend;
use crate::domain::{IncidentArn, IncidentSummary, PlanSummary, RecordChange};
use crate::shutdown::Shutdown;

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
    pub async fn refresh(&self, backend: &dyn IncidentBackend) {
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

    /// Lists the plans now, then every `ttl`, until the task is stopped.
    pub async fn run_refresh(&self, backend: Arc<dyn IncidentBackend>, ttl: Duration) {
        loop {
            self.refresh(backend.as_ref()).await;
            tokio::time::sleep(ttl).await;
        }
    }
}

/// Most open incidents fetched for autocomplete and duplicate checks.
const OPEN_INCIDENTS_LIMIT: usize = 200;

/// How long a refresh may take before it is given up (the next caller
/// starts another).
const REFRESH_TIMEOUT: Duration = Duration::from_secs(30);

/// How long after the bot's own write a fetched list may still lack it
/// (Incident Manager's lists are eventually consistent).
const CONSISTENCY_LAG: Duration = Duration::from_secs(10);

/// The bot's own writes kept to re-apply: at most this many, none older
/// than [`CONSISTENCY_LAG`] plus the refresh timeout.
const OWN_WRITES_MAX: usize = 256;

/// A write the bot made, as it changes the open incidents.
#[derive(Debug, Clone)]
enum OwnWrite {
    Declared(IncidentSummary),
    Changed(IncidentArn, RecordChange),
}

impl OwnWrite {
    fn apply(&self, list: &mut Vec<IncidentSummary>) {
        match self {
            Self::Declared(s) => {
                if !list.iter().any(|i| i.arn == s.arn) {
                    list.insert(0, s.clone());
                }
            }
            Self::Changed(arn, change) if change.resolve => list.retain(|i| &i.arn != arn),
            Self::Changed(arn, change) => {
                for i in list.iter_mut().filter(|i| &i.arn == arn) {
                    if let Some(t) = &change.title {
                        t.as_str().clone_into(&mut i.title);
                    }
                    if let Some(impact) = change.impact {
                        i.impact = i32::from(impact.value());
                    }
                }
            }
        }
    }
}

#[derive(Debug, Default)]
struct Listed {
    /// When the list was last fetched.
    at: Option<Instant>,
    list: Arc<Vec<IncidentSummary>>,
    own: VecDeque<(Instant, OwnWrite)>,
}

/// Open incidents, newest first. One refresh at a time, in the background:
/// callers that need a fresh list wait for it (each at most its own
/// deadline, all at once), and the declaration path uses the last list.
pub struct OpenIncidents {
    backend: Arc<dyn IncidentBackend>,
    tasks: Shutdown,
    listed: Mutex<Listed>,
    refreshing: Arc<tokio::sync::Mutex<()>>,
    /// Bumped after each refresh, whether it worked or not.
    refreshed: tokio::sync::watch::Sender<u64>,
}

impl OpenIncidents {
    /// Lists through `backend`; refreshes run as tasks of `tasks`.
    pub fn new(backend: Arc<dyn IncidentBackend>, tasks: Shutdown) -> Self {
        Self {
            backend,
            tasks,
            listed: Mutex::default(),
            refreshing: Arc::default(),
            refreshed: tokio::sync::watch::channel(0).0,
        }
    }

    fn listed(&self) -> MutexGuard<'_, Listed> {
        self.listed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// (loaded at all, younger than `max_age`, the list).
    fn current(&self, max_age: Duration) -> (bool, bool, Arc<Vec<IncidentSummary>>) {
        let l = self.listed();
        (l.at.is_some(), l.at.is_some_and(|t| t.elapsed() < max_age), Arc::clone(&l.list))
    }

    /// Starts a refresh in the background unless one is under way.
    fn start_refresh(self: &Arc<Self>) {
        let Ok(guard) = Arc::clone(&self.refreshing).try_lock_owned() else { return };
        let me = Arc::clone(self);
        self.tasks.spawn("open incidents refresh", async move {
            let _single = guard;
            let started = Instant::now();
            match tokio::time::timeout(REFRESH_TIMEOUT, me.backend.list_open_incidents(OPEN_INCIDENTS_LIMIT)).await {
                Ok(Ok(mut list)) => {
                    let mut l = me.listed();
                    // Own writes the list may predate are applied again.
                    l.own.retain(|(at, _)| at.elapsed() < CONSISTENCY_LAG + REFRESH_TIMEOUT);
                    for (at, write) in &l.own {
                        if *at + CONSISTENCY_LAG > started {
                            write.apply(&mut list);
                        }
                    }
                    l.at = Some(Instant::now());
                    l.list = Arc::new(list);
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
    pub async fn get(self: &Arc<Self>, deadline: Duration, max_age: Duration) -> Arc<Vec<IncidentSummary>> {
        let (_, fresh, list) = self.current(max_age);
        if fresh {
            return list;
        }
        let mut refreshed = self.refreshed.subscribe();
        let seen = *refreshed.borrow_and_update();
        self.start_refresh();
        if tokio::time::timeout(deadline, refreshed.wait_for(|n| *n != seen)).await.is_err() {
            debug!("open incidents not listed in time; using the last list");
        }
        self.current(max_age).2
    }

    /// For the declaration path: never waits for AWS once a list exists. A
    /// stale list is returned as it is and refreshed in the background; only
    /// before the first list arrives does it wait (at most `deadline`).
    pub async fn recent(self: &Arc<Self>, deadline: Duration, max_age: Duration) -> Arc<Vec<IncidentSummary>> {
        let (loaded, fresh, list) = self.current(max_age);
        if !loaded {
            return self.get(deadline, max_age).await;
        }
        if !fresh {
            self.start_refresh();
        }
        list
    }

    /// The bot declared `incident`.
    pub fn declared(&self, incident: IncidentSummary) {
        self.own_write(OwnWrite::Declared(incident));
    }

    /// The bot changed `incident` (a resolve takes it off the list).
    pub fn changed(&self, incident: &IncidentArn, change: &RecordChange) {
        self.own_write(OwnWrite::Changed(incident.clone(), change.clone()));
    }

    fn own_write(&self, write: OwnWrite) {
        let mut l = self.listed();
        write.apply(Arc::make_mut(&mut l.list));
        if l.own.len() >= OWN_WRITES_MAX {
            l.own.pop_front();
        }
        l.own.push_back((Instant::now(), write));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::memory::InMemoryBackend;
    use crate::domain::IncidentTitle;

    fn open(backend: &Arc<InMemoryBackend>) -> Arc<OpenIncidents> {
        Arc::new(OpenIncidents::new(backend.clone(), Shutdown::new()))
    }

    const WAIT: Duration = Duration::from_secs(2);
    const AGE: Duration = Duration::from_secs(30);

    #[tokio::test(start_paused = true)]
    async fn own_writes_show_at_once_and_survive_a_stale_refresh() {
        let backend = Arc::new(InMemoryBackend::new());
        let older = backend.open_elsewhere("Payments", "Older", 3, 100);
        let open = open(&backend);
        assert_eq!(open.get(WAIT, AGE).await.len(), 1);
        // The bot declares; Incident Manager's list does not have it yet.
        let arn = IncidentArn::parse("arn:aws:ssm-incidents::111122223333:incident-record/Payments/new").unwrap();
        open.declared(IncidentSummary { arn: arn.clone(), title: "Mine".into(), impact: 2, created: 200 });
        assert_eq!(open.recent(WAIT, AGE).await[0].arn, arn, "shown at once");
        tokio::time::advance(Duration::from_secs(5)).await;
        let list = open.get(WAIT, Duration::from_secs(3)).await;
        assert_eq!(list.iter().map(|i| i.title.as_str()).collect::<Vec<_>>(), ["Mine", "Older"]);
        // A retitle and a resolve apply at once too.
        let retitle = RecordChange { title: Some(IncidentTitle::parse("Renamed").unwrap()), ..RecordChange::default() };
        open.changed(&older, &retitle);
        assert_eq!(open.recent(WAIT, AGE).await[1].title, "Renamed");
        open.changed(&arn, &RecordChange { resolve: true, ..RecordChange::default() });
        assert_eq!(open.recent(WAIT, AGE).await.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_list_older_than_asked_is_refreshed_within_the_deadline() {
        let backend = Arc::new(InMemoryBackend::new());
        let open = open(&backend);
        assert!(open.get(WAIT, AGE).await.is_empty());
        backend.open_elsewhere("Payments", "From the CLI", 2, 100);
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(open.get(WAIT, AGE).await.is_empty(), "30 s old is fresh enough for this caller");
        assert_eq!(open.get(WAIT, Duration::from_secs(3)).await.len(), 1, "not for this one");
    }
}
