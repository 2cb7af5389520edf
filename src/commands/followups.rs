//! After a declaration is shown: its event on the incident's timeline, and
//! the incident's thread (started on the confirmation, linked from the
//! incident, greeted), which the mirror then follows (the channel, without a
//! thread). Neither can undo the declaration; each failure is logged, and a
//! missing thread is explained on the confirmation.

use serenity::all::{AutoArchiveDuration, CreateThread};
use tracing::warn;

use crate::discord::api::{ApiError, MessageRef};
use crate::discord::embeds;
use crate::discord::responder::{Discord, Reply, Responder};
use crate::domain::text::truncate;
use crate::domain::{Declaration, IncidentArn, RelatedItem};
use crate::services::Services;
use crate::store::Home;
use crate::sync;

/// Runs the follow-ups of `d` (declared as `arn`, confirmed in `message`)
/// under a follow-up permit. Returns the thread, or why there is none, when
/// one was to be opened.
pub async fn run(
    svc: &Services,
    d: &Declaration,
    arn: &IncidentArn,
    message: Option<MessageRef>,
    r: &Responder,
) -> Option<Result<u64, String>> {
    let _permit = svc.followup_permits.acquire().await;
    // What the declaration itself wrote is the bot's own: never mirrored back.
    for item in &d.related_items {
        sync::own(svc, arn, &sync::item_key(item.value())).await;
    }
    let place = d.origin.channel_name.as_deref().map_or_else(|| "a direct message".to_owned(), |c| format!("#{c}"));
    let event = format!("Declared from Discord by {} in {place}", d.origin.user_name);
    let token = d.client_token.step("declared");
    let timeline = Box::pin(svc.backend.add_timeline_event(arn, &event, d.trigger.timestamp, &token));
    let thread = async {
        match (message, d.origin.guild_id) {
            (Some(message), Some(guild)) if svc.settings.incident.create_thread => {
                Some(Box::pin(open_thread(svc, d, arn, message, guild, r.discord())).await)
            }
            _ => None,
        }
    };
    let (timeline, thread) = tokio::join!(timeline, thread);
    match timeline {
        Ok(id) => sync::own(svc, arn, &id).await,
        Err(e) => warn!(code = e.code(), "could not add the declaration to the incident's timeline"),
    }
    if let (Some(message), Some(guild)) = (message, d.origin.guild_id) {
        let (channel, is_thread) = match &thread {
            Some(Ok(t)) => (*t, true),
            _ => (d.origin.channel_id, false),
        };
        let home = Home {
            incident: arn.clone(),
            guild,
            channel,
            thread: is_thread,
            confirmation: Some((message.channel_id.get(), message.id.get())),
        };
        let declared = d.trigger.timestamp.duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.as_millis());
        let mut checkpoint = sync::fresh_checkpoint(i64::try_from(declared).unwrap_or(0));
        checkpoint.participants.insert(format!("<@{}>", d.origin.user_id));
        // What the bot declared is the starting point, so a change made
        // before the mirror's first look is shown too. With the title or
        // impact left to the response plan, the record says what they are.
        let declared = match (&d.title, d.impact) {
            (Some(title), Some(impact)) => Some((title.as_str().to_owned(), i32::from(impact.value()))),
            _ => match svc.backend.get_incident(arn).await {
                Ok(r) => Some((r.title, r.impact)),
                Err(e) => {
                    warn!(code = e.code(), "could not read the new incident; the mirror reads it at its first look");
                    None
                }
            },
        };
        if let Some((title, impact)) = declared {
            checkpoint.title = title;
            checkpoint.impact = impact;
            checkpoint.impact_history.push((checkpoint.created_ms, impact));
        }
        if let Err(e) = svc.store.put_home(&home, &checkpoint).await {
            warn!(error = %e, "could not remember where the incident lives; it will not be mirrored");
        }
    }
    thread
}

/// Starts the incident's thread on the confirmation, links it from the
/// incident and posts the first message. Returns the thread's id, or why
/// there is none.
async fn open_thread(
    svc: &Services,
    d: &Declaration,
    arn: &IncidentArn,
    message: MessageRef,
    guild: u64,
    discord: &Discord,
) -> Result<u64, String> {
    let title = d.title.as_ref().map_or_else(|| d.plan.label.clone(), |t| t.as_str().to_owned());
    let name = truncate(&format!("INC · {title}"), 100);
    let create = CreateThread::new(name.clone()).auto_archive_duration(AutoArchiveDuration::OneWeek);
    let thread = discord.start_thread(message.channel_id, message.id, create).await.map_err(|e| {
        warn!(error = %e, "could not create the incident's thread");
        thread_failure(&e)
    })?;
    let url = format!("https://discord.com/channels/{guild}/{}", thread.get());
    sync::own(svc, arn, &sync::item_key(&url)).await;
    let item = RelatedItem::url(url, truncate(&format!("Discord thread {name}"), 200));
    if let Err(e) = svc.backend.add_related_item(arn, &item, &d.client_token.step("thread")).await {
        warn!(code = e.code(), "could not add the thread to the incident's related items");
    }
    if let Err(e) = discord.post(thread, Reply::text(embeds::thread_opening(d, arn))).await {
        warn!(error = %e, "could not post the first message in the thread");
    }
    Ok(thread.get())
}

/// Why a thread could not be created, for the confirmation.
fn thread_failure(e: &ApiError) -> String {
    match e {
        e if e.is_missing_permission() => {
            "the bot lacks the Create Public Threads permission in this channel".to_owned()
        }
        ApiError::Refused { status, code, .. } => format!("Discord refused it ({status}, code {code})"),
        _ => "Discord could not be reached".to_owned(),
    }
}
