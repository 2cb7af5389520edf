//! One look at one followed incident: what changed since the checkpoint,
//! shown in its thread; the confirmation kept current; the summary and the
//! archiving once it is resolved.

use std::time::{Duration, UNIX_EPOCH};

use serenity::all::{ChannelId, MessageId};
use tracing::{info, warn};

use super::{item_key, now_ms, report};
use crate::backend::AwsError;
use crate::discord::api::ApiError;
use crate::discord::embeds;
use crate::discord::responder::Reply;
use crate::domain::timeline::RECORD_UPDATE;
use crate::domain::{IncidentRecord, Status};
use crate::services::Services;
use crate::store::{Checkpoint, Home, Mark, StoreError};

/// Events up to this much older than the checkpoint are listed again (and
/// skipped when marked): Incident Manager may store an event a little after
/// its time.
const OVERLAP_MS: i64 = 60_000;
/// With replicas, events younger than this are left to the next look: the
/// replica that wrote one (a note, a declaration) marks it as its own just
/// after Incident Manager answers, and the mirror, on another replica, does
/// not wait on that replica's turn.
const SETTLE_MS: i64 = 5_000;
/// Most timeline events fetched one by one for a summary.
const SUMMARY_EVENTS: usize = 100;

/// Why a look failed; the next pass tries again from the checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum Failed {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Discord(#[from] ApiError),
}

fn since(ms: i64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms.max(0)).unwrap_or(0))
}

/// How a look is made.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    /// How long after the summary the thread is archived.
    pub archive_after: Duration,
    /// Whether every timeline event is listed, not only those after the
    /// checkpoint.
    pub sweep: bool,
}

/// Looks at `home`'s incident once; see the module documentation.
pub async fn poll(svc: &Services, home: &Home, mut cp: Checkpoint, look: Look) -> Result<(), Failed> {
    let arn = &home.incident;
    let channel = ChannelId::new(home.channel);
    if cp.summary_posted {
        return archive_when_due(svc, home, &cp).await;
    }
    let first_look = cp.title.is_empty();
    let mut record_changed = first_look;
    // When the newest change of the record was made (its event's time).
    let mut changed_at = 0;
    let after = if look.sweep { UNIX_EPOCH } else { since(cp.events_after_ms - OVERLAP_MS) };
    let events = svc.backend.list_timeline_events(arn, after).await?;
    tracing::debug!(incident = arn.as_str(), events = events.len(), sweep = look.sweep, "looked at the timeline");
    let settled = if svc.coordinator.shared() { now_ms() - SETTLE_MS } else { i64::MAX };
    for e in &events {
        if svc.store.marked(arn, &e.id).await? {
            cp.events_after_ms = cp.events_after_ms.max(e.time_ms);
            continue;
        }
        if e.time_ms > settled {
            // Sorted by time: the rest are as new. The next look lists
            // them again (it starts a minute before the checkpoint).
            break;
        }
        if e.kind == RECORD_UPDATE {
            record_changed = true;
            changed_at = changed_at.max(e.time_ms);
        } else if !first_look || e.time_ms >= cp.events_after_ms {
            let event = svc.backend.get_timeline_event(arn, &e.id).await?;
            let line = report::event_line(&event);
            svc.discord.post(channel, Reply::text(line).once(&format!("{arn}/{}", e.id))).await?;
            svc.metrics.mirror_lag(now_ms() - e.time_ms);
        }
        svc.store.mark(arn, &e.id, Mark::Shown).await?;
        cp.events_after_ms = cp.events_after_ms.max(e.time_ms);
    }
    if record_changed {
        let record = svc.backend.get_incident(arn).await?;
        if first_look {
            // Kept at once: a change made after this look is shown even if
            // the process stops before the end of the pass.
            take(&mut cp, &record);
            svc.store.save_checkpoint(arn, &cp).await?;
        } else if show_changes(svc, home, &mut cp, &record).await? && changed_at > 0 {
            svc.metrics.mirror_lag(now_ms() - changed_at);
        }
    }
    let items = svc.backend.list_related_items(arn).await?;
    for item in &items {
        let key = item_key(&item.value);
        if !svc.store.marked(arn, &key).await? {
            svc.discord
                .post(channel, Reply::text(report::item_line(item, now_ms())).once(&format!("{arn}/{key}")))
                .await?;
            svc.store.mark(arn, &key, Mark::Shown).await?;
        }
    }
    if cp.status == Status::Resolved && !cp.summary_posted {
        summarise(svc, home, &mut cp, &items).await?;
        cp.archive_at_ms = Some(now_ms() + i64::try_from(look.archive_after.as_millis()).unwrap_or(i64::MAX));
    }
    svc.store.save_checkpoint(arn, &cp).await?;
    if cp.summary_posted {
        archive_when_due(svc, home, &cp).await?;
    }
    Ok(())
}

/// The record as the checkpoint's starting point, shown to no one.
fn take(cp: &mut Checkpoint, r: &IncidentRecord) {
    r.title.clone_into(&mut cp.title);
    cp.impact = r.impact;
    cp.status = r.status;
    cp.created_ms = r.created_ms;
    cp.resolved_ms = r.resolved_ms;
    if cp.impact_history.is_empty() {
        cp.impact_history.push((r.created_ms, r.impact));
    }
}

/// Shows what changed in the record, and keeps the confirmation current;
/// whether anything was shown.
async fn show_changes(svc: &Services, home: &Home, cp: &mut Checkpoint, r: &IncidentRecord) -> Result<bool, Failed> {
    let lines = report::record_changes(cp, r, now_ms());
    if lines.is_empty() {
        return Ok(false);
    }
    let key = format!("{}/record/{}/{}/{}", r.arn, r.status.as_str(), r.impact, r.title);
    svc.discord.post(ChannelId::new(home.channel), Reply::text(lines.join("\n")).once(&key)).await?;
    info!(incident = r.arn.as_str(), changes = lines.len(), "showed a change made in Incident Manager");
    if cp.impact != r.impact {
        cp.impact_history.push((now_ms(), r.impact));
    }
    cp.participants.insert(report::principal(&r.last_modified_by));
    take(cp, r);
    if let Some((channel, message)) = home.confirmation
        && let Err(e) = refresh_confirmation(svc, channel, message, r).await
    {
        warn!(error = %e, "could not bring the confirmation up to date");
    }
    Ok(true)
}

/// The confirmation shows the record's title, impact and status; resolved,
/// its action buttons are disabled.
async fn refresh_confirmation(svc: &Services, channel: u64, message: u64, r: &IncidentRecord) -> Result<(), ApiError> {
    let (channel, message) = (ChannelId::new(channel), MessageId::new(message));
    let current = svc.discord.message(channel, message).await?;
    let Some(embed) = current.embeds.first() else { return Ok(()) };
    let region = svc.backend.region();
    let console = embeds::console_url(region, r.arn.partition());
    let resolved = r.status == Status::Resolved;
    let updated = embeds::current(embed, r, &report::principal(&r.last_modified_by));
    let reply = Reply::embed(updated).components(embeds::confirmation_buttons(&console, resolved));
    svc.discord.edit_message(channel, message, reply).await
}

/// The post-incident summary, in the thread and as a Markdown file.
async fn summarise(
    svc: &Services,
    home: &Home,
    cp: &mut Checkpoint,
    items: &[crate::domain::ListedItem],
) -> Result<(), Failed> {
    let arn = &home.incident;
    let record = svc.backend.get_incident(arn).await?;
    let summaries = svc.backend.list_timeline_events(arn, since(record.created_ms - OVERLAP_MS)).await?;
    let mut timeline = Vec::new();
    for e in summaries.iter().take(SUMMARY_EVENTS) {
        timeline.push(svc.backend.get_timeline_event(arn, &e.id).await?);
    }
    let (short, markdown) = report::summary(&record, cp, &timeline, items);
    let reply = Reply::text(short)
        .file("incident-summary.md", markdown.into_bytes())
        .once(&format!("{arn}/summary/{}", record.resolved_ms.unwrap_or(0)));
    svc.discord.post(ChannelId::new(home.channel), reply).await?;
    cp.summary_posted = true;
    info!(incident = arn.as_str(), "posted the post-incident summary");
    Ok(())
}

/// Archives the thread once its time has come; then the incident is done.
async fn archive_when_due(svc: &Services, home: &Home, cp: &Checkpoint) -> Result<(), Failed> {
    if cp.archive_at_ms.is_some_and(|at| at > now_ms()) {
        return Ok(());
    }
    if home.thread
        && let Err(e) = svc.discord.archive_thread(ChannelId::new(home.channel)).await
    {
        warn!(error = %e, "could not archive the incident's thread");
    }
    svc.store.finish(&home.incident).await?;
    info!(incident = home.incident.as_str(), "done with the incident: summarised and archived");
    Ok(())
}
