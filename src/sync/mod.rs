//! The mirror: Incident Manager → Discord. Every incident that lives in a
//! Discord thread (or channel) is followed, and what others change reaches
//! it as one compact line each: status, impact and title changes, timeline
//! events, related items. When the incident is resolved, wherever that
//! happened, the thread gets the post-incident summary and is archived a
//! while later.
//!
//! Never twice: what was shown is marked in the store, and each post carries
//! a nonce Discord de-duplicates by (a crash between posting and marking
//! does not post again). Never lost: the checkpoint is where the last look
//! got to, and the next look (after a restart too) starts a little before
//! it. Never an echo: what the bot itself wrote is marked as its own.
//!
//! Cost, per followed incident and pass (every `[sync] interval_secs`):
//! `ListTimelineEvents` (filtered on time) and `ListRelatedItems`; a
//! `GetTimelineEvent` only for a new event; a `GetIncidentRecord` only when
//! Incident Manager logged a change of the record. With nothing happening
//! that is 2 × (60 / interval) calls a minute. Throttling doubles the wait
//! (up to 5 minutes) until a pass goes through. Every 4th pass lists the
//! timeline without the time filter instead (one page per 100 events:
//! events written with an earlier time than the checkpoint, "backdated",
//! are found there), and looks for open incidents linked to a Discord
//! channel elsewhere (one `ListRelatedItems` for each open incident not
//! followed yet, once; a `GetIncidentRecord` for a summarised one listed as
//! open again).
//!
//! One replica mirrors at a time: the one holding the `mirror` lease
//! ([`LEASE_TTL`], renewed every [`LEASE_EVERY`]); the others try to take it
//! as often, so when the holder dies another takes over within
//! `LEASE_TTL + LEASE_EVERY` (20 s), and starts with a pass at once.

pub mod poll;
pub mod report;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serenity::all::ChannelId;
use tracing::{debug, info, warn};

use crate::backend::ErrorKind;
use crate::domain::{IncidentArn, ListedItem, RecordChange, Status};
use crate::services::Services;
use crate::store::{Checkpoint, Home, Mark};

/// How long a pass waits at most when Incident Manager throttles.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// One pass in this many also looks for incidents linked elsewhere.
const DISCOVER_EVERY: u64 = 4;
/// The lease one replica holds to mirror, its name and how long it lasts
/// unrenewed.
pub const LEASE: &str = "mirror";
pub const LEASE_TTL: Duration = Duration::from_secs(15);
/// How often the holder renews the lease (and the others try to take it).
pub const LEASE_EVERY: Duration = Duration::from_secs(5);
/// How long the list of open incidents used for discovery may be.
const DISCOVERY_LIST_AGE: Duration = Duration::from_secs(60);

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

/// A first checkpoint: nothing shown yet; the record is read at the first
/// look, and only what happens after `since_ms` is shown.
pub fn fresh_checkpoint(since_ms: i64) -> Checkpoint {
    Checkpoint {
        events_after_ms: since_ms,
        title: String::new(),
        impact: 0,
        status: Status::Open,
        created_ms: since_ms,
        resolved_ms: None,
        impact_history: Vec::new(),
        participants: Default::default(),
        summary_posted: false,
        archive_at_ms: None,
    }
}

/// The key under which a related item is marked.
pub fn item_key(value: &str) -> String {
    format!("item:{value}")
}

/// Marks what the bot itself wrote to `incident`, so the mirror does not
/// show it back. A failure is logged: at worst the write is shown once.
pub async fn own(svc: &Services, incident: &IncidentArn, key: &str) {
    if let Err(e) = svc.store.mark(incident, key, Mark::Own).await {
        warn!(error = %e, "could not remember the bot's own write");
    }
}

/// The bot changed `incident` (for `who`, a Discord mention): what the
/// mirror has shown follows at once, so the change is not shown back.
pub async fn own_change(svc: &Services, incident: &IncidentArn, who: &str, change: impl FnOnce(&mut Checkpoint)) {
    let result = async {
        let Some((_, mut cp)) = svc.store.home_of(incident).await? else { return Ok(()) };
        let impact = cp.impact;
        change(&mut cp);
        if cp.impact != impact && impact != 0 {
            cp.impact_history.push((now_ms(), cp.impact));
        }
        cp.participants.insert(who.to_owned());
        svc.store.save_checkpoint(incident, &cp).await
    };
    if let Err(e) = result.await {
        warn!(error = %e, "could not remember the bot's own change");
    }
}

/// The bot changed `incident`'s record (for `who`): the checkpoint takes the
/// change, so Incident Manager's record update is not shown back. Before the
/// mirror's first look (no record read yet) there is nothing to follow.
pub async fn own_record_change(svc: &Services, incident: &IncidentArn, change: &RecordChange, who: &str) {
    own_change(svc, incident, who, |cp| {
        if cp.title.is_empty() {
            return;
        }
        if let Some(t) = &change.title {
            t.as_str().clone_into(&mut cp.title);
        }
        if let Some(i) = change.impact {
            cp.impact = i32::from(i.value());
        }
        if change.resolve && cp.status != Status::Resolved {
            cp.status = Status::Resolved;
            cp.resolved_ms = Some(now_ms());
        }
    })
    .await;
}

/// The mirror's loop and what it remembers between passes.
pub struct Mirror {
    svc: Arc<Services>,
    interval: Duration,
    archive_after: Duration,
    /// Open incidents already looked at for a Discord link, without one.
    unlinked: Mutex<HashSet<IncidentArn>>,
    /// When this replica last took or renewed the lease, if it holds it.
    renewed: Mutex<Option<Instant>>,
}

impl Mirror {
    pub fn new(svc: Arc<Services>, interval: Duration, archive_after: Duration) -> Self {
        Self { svc, interval, archive_after, unlinked: Mutex::default(), renewed: Mutex::default() }
    }

    /// While this replica holds the lease, passes every interval (the first
    /// at once: catching up after a restart, or taking over), until the task
    /// is stopped.
    pub async fn run(self) {
        let mut wait = self.interval;
        let mut next = Instant::now();
        let mut round = 0;
        loop {
            let leader = self.hold().await;
            if leader && Instant::now() >= next {
                let throttled = self.pass(round).await;
                round += 1;
                wait = if throttled { (wait * 2).min(MAX_BACKOFF) } else { self.interval };
                if throttled {
                    warn!(wait_secs = wait.as_secs(), "Incident Manager throttled the mirror; waiting longer");
                }
                next = Instant::now() + wait;
            } else if !leader {
                // Whoever takes over passes at once.
                next = Instant::now();
            }
            let until_pass = next.saturating_duration_since(Instant::now());
            tokio::time::sleep(if leader { until_pass.min(LEASE_EVERY) } else { LEASE_EVERY }).await;
        }
    }

    /// One pass for a scheduler (`incident-bot sync --once`, a scheduled
    /// Lambda invocation): takes the lease, passes, gives the lease up for
    /// the next run, wherever that runs. `false` when another replica holds
    /// the lease (it mirrors meanwhile). Every [`DISCOVER_EVERY`]th minute
    /// of the clock the pass also sweeps, as every `DISCOVER_EVERY`th pass
    /// of [`Self::run`] does.
    pub async fn once(&self) -> bool {
        if !self.hold().await {
            return false;
        }
        let minute = u64::try_from(now_ms() / 60_000).unwrap_or_default();
        if self.pass(minute).await {
            warn!("Incident Manager throttled the mirror; the next run goes on");
        }
        let svc = &self.svc;
        if let Err(e) = svc.coordinator.release(LEASE, &svc.replica).await {
            warn!(error = %e, "could not give the mirror's lease up");
        }
        true
    }

    /// Takes or renews the lease; whether this replica holds it. A store
    /// that cannot answer means not holding it: two replicas mirroring at
    /// once is what the lease is for.
    async fn hold(&self) -> bool {
        let svc = &self.svc;
        let held = match svc.coordinator.lease(LEASE, &svc.replica, LEASE_TTL).await {
            Ok(held) => held,
            Err(e) => {
                warn!(error = %e, "could not take or renew the mirror's lease");
                false
            }
        };
        let mut renewed = self.renewed.lock().unwrap_or_else(PoisonError::into_inner);
        if held != renewed.is_some() {
            if held {
                info!(replica = &*svc.replica, "mirroring Incident Manager: this replica holds the lease");
            } else {
                info!(replica = &*svc.replica, "not mirroring: another replica holds the lease");
            }
            svc.metrics.mirror_leader(held);
        }
        *renewed = held.then(Instant::now);
        held
    }

    /// Whether this replica still holds the lease, renewing it when due
    /// (a long pass must not outlive it).
    async fn still_held(&self) -> bool {
        let due =
            self.renewed.lock().unwrap_or_else(PoisonError::into_inner).is_none_or(|t| t.elapsed() >= LEASE_EVERY);
        if due { self.hold().await } else { true }
    }

    /// One pass over the followed incidents; true if AWS throttled.
    pub async fn pass(&self, round: u64) -> bool {
        let mut throttled = false;
        // Every few passes: incidents linked from elsewhere, and every event
        // of the followed ones (one written with an earlier time than the
        // checkpoint is not in the filtered list).
        let sweep = round % DISCOVER_EVERY == DISCOVER_EVERY - 1;
        if sweep {
            throttled |= self.discover().await;
        }
        let homes = match self.svc.store.homes().await {
            Ok(h) => h,
            Err(e) => {
                warn!(error = %e, "the mirror could not read its store");
                return false;
            }
        };
        for (home, _) in homes {
            if !self.still_held().await {
                break;
            }
            // The bot's own writes to the incident and this look take turns;
            // the checkpoint is read again under the lock.
            let _turn = self.svc.incident_locks.lock(&home.incident).await;
            let checkpoint = match self.svc.store.home_of(&home.incident).await {
                Ok(Some((_, c))) => c,
                Ok(None) => continue,
                Err(e) => {
                    warn!(error = %e, "the mirror could not read its store");
                    continue;
                }
            };
            let look = poll::Look { archive_after: self.archive_after, sweep };
            match poll::poll(&self.svc, &home, checkpoint, look).await {
                Ok(()) => {}
                Err(poll::Failed::Aws(e)) if e.kind == ErrorKind::Throttled => {
                    throttled = true;
                    break;
                }
                Err(e) => warn!(incident = home.incident.as_str(), error = %e, "could not mirror the incident"),
            }
        }
        throttled
    }

    /// Follows open incidents whose related items link a Discord channel or
    /// thread (added in the console, say, or with `/incident-update`).
    async fn discover(&self) -> bool {
        let open = self.svc.open.get(Duration::from_secs(5), DISCOVERY_LIST_AGE).await;
        for incident in open.iter() {
            let known = self.unlinked.lock().unwrap_or_else(PoisonError::into_inner).contains(&incident.arn);
            if known {
                continue;
            }
            match self.svc.store.home_of(&incident.arn).await {
                // Summarised (or done) but open again: reopened elsewhere.
                // Followed again from where the mirror stopped, so the next
                // pass shows the reopening and what came after it.
                // The list may be a minute old: the record says.
                Ok(Some((_, mut cp))) if cp.status == Status::Resolved => {
                    match self.svc.backend.get_incident(&incident.arn).await {
                        Ok(r) if r.status == Status::Open => {}
                        Ok(_) => continue,
                        Err(e) if e.kind == ErrorKind::Throttled => return true,
                        Err(e) => {
                            debug!(code = e.code(), "could not read an incident listed as open again");
                            continue;
                        }
                    }
                    cp.summary_posted = false;
                    cp.archive_at_ms = None;
                    match self.svc.store.follow_again(&incident.arn, &cp).await {
                        Ok(()) => info!(incident = incident.arn.as_str(), "following a reopened incident again"),
                        Err(e) => warn!(error = %e, "could not follow a reopened incident"),
                    }
                    continue;
                }
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => {
                    warn!(error = %e, "the mirror could not read its store");
                    continue;
                }
            }
            let items = match self.svc.backend.list_related_items(&incident.arn).await {
                Ok(items) => items,
                Err(e) if e.kind == ErrorKind::Throttled => return true,
                Err(e) => {
                    debug!(code = e.code(), "could not list related items for discovery");
                    continue;
                }
            };
            // The newest Discord link the bot can see: the incident's thread
            // (linked after the channel it was declared in) or where
            // `/incident-update` pointed it since.
            let mut home = None;
            for (guild, channel) in items.iter().rev().filter_map(ListedItem::discord_channel) {
                match self.svc.discord.channel(ChannelId::new(channel)).await {
                    Ok(c) => {
                        home = Some((guild, channel, c.thread));
                        break;
                    }
                    Err(e) => debug!(channel, error = %e, "a linked Discord channel cannot be seen"),
                }
            }
            match home {
                Some((guild, channel, thread)) => {
                    if let Err(e) = follow(&self.svc, &incident.arn, (guild, channel, thread), &items).await {
                        warn!(error = %e, "could not follow an incident linked to Discord");
                    }
                }
                None => {
                    self.unlinked.lock().unwrap_or_else(PoisonError::into_inner).insert(incident.arn.clone());
                }
            }
        }
        // Forget incidents no longer open, so the set stays as small as the list.
        let still: HashSet<&IncidentArn> = open.iter().map(|i| &i.arn).collect();
        self.unlinked.lock().unwrap_or_else(PoisonError::into_inner).retain(|a| still.contains(a));
        false
    }
}

/// Starts following `incident` in `channel` of `guild` (a thread or not),
/// from now: what its related items already hold is not shown.
pub async fn follow(
    svc: &Services,
    incident: &IncidentArn,
    (guild, channel, thread): (u64, u64, bool),
    items: &[ListedItem],
) -> Result<(), crate::store::StoreError> {
    let home = Home { incident: incident.clone(), guild, channel, thread, confirmation: None };
    svc.store.put_home(&home, &fresh_checkpoint(now_ms())).await?;
    for item in items {
        svc.store.mark(incident, &item_key(&item.value), Mark::Shown).await?;
    }
    info!(incident = incident.as_str(), channel, "following an incident linked to a Discord channel");
    Ok(())
}
