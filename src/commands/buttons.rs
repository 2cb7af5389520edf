//! The confirmation's buttons: Add link, Add note and Update open dialogs
//! ([`super::dialogs`]); Resolve asks privately first, then resolves.
//!
//! The incident is always read from the message the buttons sit on (its
//! embed carries the ARN), never from process memory, so buttons keep
//! working after a restart.

use serenity::all::{
    ButtonStyle, ChannelId, ComponentInteraction, ComponentInteractionDataKind, CreateActionRow, CreateButton, Embed,
    MessageId,
};
use tracing::{info, warn};

use super::dialogs;
use crate::discord::confirmation::{Action, Confirmation, prompt_incident, resolve_prompt};
use crate::discord::embeds;
use crate::discord::format::escape_markdown;
use crate::discord::interaction::caller_of;
use crate::discord::responder::{FirstAnswer, Reply, Responder};
use crate::domain::access::Caller;
use crate::domain::incident::now_unix;
use crate::domain::{ClientToken, RecordChange};
use crate::messages;
use crate::services::Services;
use crate::sync;

/// A click on one of the bot's buttons.
#[derive(Debug, Clone)]
pub struct Click {
    pub caller: Caller,
    pub token: ClientToken,
    pub action: Action,
    /// The message the button is on: its id, its first embed, its text.
    pub message: MessageId,
    pub embed: Option<Embed>,
    pub content: String,
    /// What was picked, for a menu.
    pub values: Vec<String>,
}

/// Reads a click on button `action`.
pub fn parse(c: &ComponentInteraction, action: Action) -> Click {
    Click {
        caller: caller_of(&c.user, c.guild_id, c.channel_id, c.channel.as_ref(), c.member.as_ref()),
        token: ClientToken::for_interaction(c.id.get()),
        action,
        message: c.message.id,
        embed: c.message.embeds.first().cloned(),
        content: c.message.content.clone(),
        values: match &c.data.kind {
            ComponentInteractionDataKind::StringSelect { values } => values.clone(),
            _ => Vec::new(),
        },
    }
}

/// Handles one click.
pub async fn run(svc: &Services, c: Click, r: &Responder) {
    if let Err(denied) = svc.settings.access.check(&c.caller) {
        info!(outcome = "refused", reason = %denied, action = c.action.custom_id(), "action refused by [access]");
        r.private(format!("⛔ {}", messages::denied(&denied, "this button"))).await;
        return;
    }
    let answer = match c.action {
        Action::ResolveCancel => FirstAnswer::Update(Reply::text("Not resolved.").components(vec![])),
        Action::ResolveConfirm { channel, message } => {
            return resolve(svc, &c, ChannelId::new(channel), MessageId::new(message), r).await;
        }
        Action::ToTimeline { channel, message } => {
            let value = c.values.first().map_or("", String::as_str);
            return super::timeline::picked(svc, (channel, message), value, c.caller.user_id, r).await;
        }
        action => {
            let Some((embed, incident)) = c.embed.and_then(|e| Confirmation::read(&e).map(|i| (e, i))) else {
                r.private("⚠️ This message does not show an incident record ARN.").await;
                return;
            };
            match action {
                Action::AddLink => FirstAnswer::Dialog(dialogs::add_link_form()),
                Action::AddNote => FirstAnswer::Dialog(dialogs::add_note_form()),
                Action::Update => FirstAnswer::Dialog(dialogs::update_form(&incident)),
                _ if incident.resolved => FirstAnswer::Message(Reply::private("This incident is already resolved.")),
                _ => {
                    svc.pending_resolves.insert(c.message.get(), embed);
                    let confirm = Action::ResolveConfirm { channel: r.channel().get(), message: c.message.get() };
                    let prompt = resolve_prompt(&escape_markdown(&incident.title), &incident.arn);
                    FirstAnswer::Message(Reply::private(prompt).components(vec![CreateActionRow::Buttons(vec![
                            CreateButton::new(confirm.custom_id()).label("Resolve incident").style(ButtonStyle::Danger),
                            CreateButton::new(Action::ResolveCancel.custom_id())
                                .label("Cancel")
                                .style(ButtonStyle::Secondary),
                        ])]))
                }
            }
        }
    };
    if let Err(e) = r.answer(answer).await {
        warn!(error = %e, action = c.action.custom_id(), "could not answer a button");
    }
}

/// "Resolve incident" on the private prompt: resolves the incident it names,
/// then marks the confirmation (`message` in `channel`) resolved.
async fn resolve(svc: &Services, c: &Click, channel: ChannelId, message: MessageId, r: &Responder) {
    let Some(arn) = prompt_incident(&c.content) else {
        r.private("⚠️ This prompt does not show an incident record ARN.").await;
        return;
    };
    if let Err(limited) = svc.limit_change(r, c.caller.user_id).await {
        r.private(format!("⏳ {}", messages::limited(&limited, false))).await;
        return;
    }
    if let Err(e) = r.answer(FirstAnswer::Acknowledge).await {
        warn!(error = %e, "could not acknowledge the confirmation");
        return;
    }
    let change = RecordChange { resolve: true, ..RecordChange::default() };
    let region = svc.backend.region();
    let turn = svc.incident_locks.lock(&arn).await;
    if let Err(e) = svc.backend.update_record(&arn, &change, &c.token).await {
        let text = format!("⚠️ {}", messages::update_failed(&e, arn.as_str(), region, &[]));
        if let Err(e) = r.edit(Reply::text(text).components(vec![])).await {
            warn!(error = %e, "could not report the failed resolve");
        }
        return;
    }
    svc.open.changed(&arn, &change);
    sync::own_record_change(svc, &arn, &change, &format!("<@{}>", c.caller.user_id)).await;
    drop(turn);
    info!(incident = arn.as_str(), user = c.caller.user_id, "incident resolved");
    let embed = match svc.pending_resolves.take(&message.get()) {
        Some(embed) => Some(embed),
        None => r.discord().message(channel, message).await.ok().and_then(|m| m.embeds.into_iter().next()),
    };
    let mut note = "✅ Resolved in Incident Manager.".to_owned();
    match embed {
        Some(embed) => {
            let title = Confirmation::read(&embed).map(|i| i.title).unwrap_or_default();
            let resolved = embeds::resolved(&embed, &title, c.caller.user_id, now_unix());
            let buttons = embeds::confirmation_buttons(&embeds::console_url(region, arn.partition()), true);
            if let Err(e) = r.discord().edit_message(channel, message, Reply::embed(resolved).components(buttons)).await
            {
                warn!(error = %e, "could not mark the confirmation resolved");
                note.push_str(" The message above could not be updated.");
            }
        }
        None => note.push_str(" The message above could not be read to update it."),
    }
    if let Err(e) = r.edit(Reply::text(note).components(vec![])).await {
        warn!(error = %e, "could not confirm the resolve");
    }
}
