//! The dialogs the confirmation's buttons open: add a link, add a note to the
//! timeline, change title and impact. The input is checked before anything
//! is sent, so a mistake costs no AWS call.

use std::time::SystemTime;

use serenity::all::{
    ActionRowComponent, CreateActionRow, CreateInputText, CreateModal, Embed, InputTextStyle, ModalInteraction,
};
use tracing::{info, warn};

use crate::discord::confirmation::{Confirmation, Dialog, field, input};
use crate::discord::embeds::{self, rebuild, set_field};
use crate::discord::format::with_related_item;
use crate::discord::interaction::caller_of;
use crate::discord::responder::{FirstAnswer, Reply, Responder};
use crate::domain::access::Caller;
use crate::domain::impact::ImpactTextError;
use crate::domain::links::{LinkError, parse_links};
use crate::domain::notes::{MAX_NOTE_LEN, NoteError};
use crate::domain::text::{MAX_TITLE_LEN, TitleError};
use crate::domain::{ClientToken, Impact, IncidentTitle, Note, RecordChange, RelatedItem};
use crate::messages;
use crate::services::Services;
use crate::sync;

fn text_input(style: InputTextStyle, label: &str, id: &str, max: usize, required: bool) -> CreateInputText {
    CreateInputText::new(style, label, id).max_length(u16::try_from(max).unwrap_or(4000)).required(required)
}

/// "Add link": a URL or ARN, and an optional title.
pub fn add_link_form() -> CreateModal {
    CreateModal::new(Dialog::AddLink.custom_id(), "Add a link to the incident").components(vec![
        CreateActionRow::InputText(
            text_input(InputTextStyle::Short, "URL or ARN", input::TARGET, 1000, true)
                .placeholder("https://… or arn:aws:…"),
        ),
        CreateActionRow::InputText(text_input(InputTextStyle::Short, "Title (optional)", input::TITLE, 200, false)),
    ])
}

/// "Add note": the note.
pub fn add_note_form() -> CreateModal {
    CreateModal::new(Dialog::AddNote.custom_id(), "Add a note to the timeline").components(vec![
        CreateActionRow::InputText(text_input(InputTextStyle::Paragraph, "Note", input::NOTE, MAX_NOTE_LEN, true)),
    ])
}

/// "Update": title and impact, filled in with the current ones.
pub fn update_form(current: &Confirmation) -> CreateModal {
    let mut title = text_input(InputTextStyle::Short, "Title", input::TITLE, MAX_TITLE_LEN, false);
    if !current.title.is_empty() && !current.untitled {
        title = title.value(crate::domain::text::truncate(&current.title, MAX_TITLE_LEN));
    }
    let mut impact = text_input(InputTextStyle::Short, "Impact (1 Critical … 5 No impact)", input::IMPACT, 12, false);
    if let Some(i) = current.impact {
        impact = impact.value(i.value().to_string());
    }
    CreateModal::new(Dialog::Update.custom_id(), "Update the incident")
        .components(vec![CreateActionRow::InputText(title), CreateActionRow::InputText(impact)])
}

/// What a submitted dialog asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    Link(RelatedItem),
    Note(Note),
    Record(RecordChange),
}

/// What is wrong with a submitted dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Link(LinkError),
    NotOneLink,
    Note(NoteError),
    Title(TitleError),
    Impact(ImpactTextError),
    NothingToUpdate,
}

impl Problem {
    fn text(&self) -> String {
        match self {
            Self::Link(e) => messages::link_refusal(e),
            Self::NotOneLink => "Give one link (https://…) or ARN (arn:aws:…).".to_owned(),
            Self::Note(e) => format!("{}.", messages::capitalise(&e.to_string())),
            Self::Title(e) => format!("{}.", messages::capitalise(&e.to_string())),
            Self::Impact(e) => format!("{e}."),
            Self::NothingToUpdate => "Nothing to update: give a title or an impact.".to_owned(),
        }
    }
}

/// A submitted dialog.
#[derive(Debug, Clone)]
pub struct Submit {
    pub caller: Caller,
    pub user_id: u64,
    pub user_name: String,
    pub token: ClientToken,
    /// The confirmation the dialog's button is on.
    pub confirmation: Option<(Embed, Confirmation)>,
    pub work: Result<Work, Problem>,
}

/// Reads and checks a submitted dialog `dialog`.
pub fn parse(m: &ModalInteraction, dialog: Dialog) -> Submit {
    let value = |id: &str| {
        m.data.components.iter().flat_map(|row| &row.components).find_map(|c| match c {
            ActionRowComponent::InputText(t) if t.custom_id == id => {
                t.value.as_deref().map(str::trim).filter(|v| !v.is_empty())
            }
            _ => None,
        })
    };
    let embed = m.message.as_ref().and_then(|msg| msg.embeds.first().cloned());
    Submit {
        caller: caller_of(&m.user, m.guild_id, m.channel_id, m.channel.as_ref(), m.member.as_ref()),
        user_id: m.user.id.get(),
        user_name: m.user.name.clone(),
        token: ClientToken::for_interaction(m.id.get()),
        confirmation: embed.and_then(|e| Confirmation::read(&e).map(|c| (e, c))),
        work: work(dialog, value(input::TARGET), value(input::TITLE), value(input::NOTE), value(input::IMPACT)),
    }
}

/// The pure part of [`parse`]: the inputs' values, checked.
pub fn work(
    dialog: Dialog,
    target: Option<&str>,
    title: Option<&str>,
    note: Option<&str>,
    impact: Option<&str>,
) -> Result<Work, Problem> {
    match dialog {
        Dialog::AddLink => {
            let target = target.unwrap_or_default();
            let typed = match title {
                Some(t) => format!("[{}]({target})", t.replace(['[', ']'], "")),
                None => target.to_owned(),
            };
            let mut items = parse_links(&typed, 1).map_err(Problem::Link)?;
            if items.len() != 1 {
                return Err(Problem::NotOneLink);
            }
            Ok(Work::Link(items.remove(0)))
        }
        Dialog::AddNote => Note::parse(note.unwrap_or_default()).map(Work::Note).map_err(Problem::Note),
        Dialog::Update => {
            let title = title.map(IncidentTitle::parse).transpose().map_err(Problem::Title)?;
            let impact = impact.map(Impact::parse_text).transpose().map_err(Problem::Impact)?;
            if title.is_none() && impact.is_none() {
                return Err(Problem::NothingToUpdate);
            }
            Ok(Work::Record(RecordChange { title, impact, resolve: false }))
        }
    }
}

/// Handles one submitted dialog.
pub async fn run(svc: &Services, s: Submit, r: &Responder) {
    if let Err(denied) = svc.settings.access.check(&s.caller) {
        r.private(format!("⛔ {}", messages::denied(&denied, "this dialog"))).await;
        return;
    }
    let Some((embed, incident)) = s.confirmation else {
        r.private("⚠️ This dialog's message does not show an incident record ARN. Nothing was changed.").await;
        return;
    };
    let work = match s.work {
        Ok(w) => w,
        Err(problem) => {
            r.private(format!("⚠️ {} Nothing was changed.", problem.text())).await;
            return;
        }
    };
    if let Err(limited) = svc.limit_change(r, s.user_id).await {
        r.private(format!("⏳ {}", messages::limited(&limited, false))).await;
        return;
    }
    if let Err(e) = r.answer(FirstAnswer::Acknowledge).await {
        warn!(error = %e, "could not acknowledge a dialog");
        return;
    }
    let arn = &incident.arn;
    let who = format!("<@{}>", s.user_id);
    let turn = svc.incident_locks.lock(arn).await;
    let result = match &work {
        Work::Link(item) => {
            sync::own(svc, arn, &sync::item_key(item.value())).await;
            svc.backend.add_related_item(arn, item, &s.token).await.map(|()| {
                let current =
                    embed.fields.iter().find(|f| f.name == field::RELATED).map(|f| f.value.clone()).unwrap_or_default();
                let value = with_related_item(&current, item);
                Some(rebuild(&embed, None, None, |f| set_field(f, field::RELATED, value, false)))
            })
        }
        Work::Note(note) => {
            let text = format!("Note from {} on Discord: {note}", s.user_name);
            match svc.backend.add_timeline_event(arn, &text, SystemTime::now(), &s.token).await {
                Ok(id) => {
                    sync::own(svc, arn, &id).await;
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        }
        Work::Record(change) => match svc.backend.update_record(arn, change, &s.token).await {
            Ok(()) => {
                svc.open.changed(arn, change);
                sync::own_record_change(svc, arn, change, &who).await;
                Ok(Some(embeds::updated(&embed, change)))
            }
            Err(e) => Err(e),
        },
    };
    drop(turn);
    match result {
        Ok(new_embed) => {
            info!(incident = arn.as_str(), user = s.user_id, "incident updated from a dialog");
            if let Some(new_embed) = new_embed
                && let Err(e) = r.edit(Reply::embed(new_embed)).await
            {
                warn!(error = %e, "could not update the confirmation");
            }
            if let Work::Note(note) = &work {
                let echo = format!("📝 <@{}> added a note to the incident timeline:\n>>> {note}", s.user_id);
                if let Err(e) = r.followup(Reply::text(echo)).await {
                    warn!(error = %e, "could not post the note");
                }
            }
        }
        Err(e) => {
            let text = format!("⚠️ {}", messages::update_failed(&e, arn.as_str(), svc.backend.region(), &[]));
            if let Err(e) = r.followup(Reply::private(text)).await {
                warn!(error = %e, "could not report the failed change");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialog_input_is_checked_before_anything_is_sent() {
        let link = work(Dialog::AddLink, Some("https://example.com/x"), Some("Dash [1]"), None, None).unwrap();
        assert_eq!(link, Work::Link(RelatedItem::url("https://example.com/x", "Dash 1")));
        assert!(matches!(work(Dialog::AddLink, Some("ftp://x"), None, None, None), Err(Problem::Link(_))));
        assert_eq!(work(Dialog::AddLink, None, None, None, None), Err(Problem::NotOneLink));
        assert!(matches!(
            work(Dialog::AddLink, Some("https://a.example https://b.example"), None, None, None),
            Err(Problem::Link(_))
        ));
        assert_eq!(work(Dialog::AddNote, None, None, None, None), Err(Problem::Note(NoteError::Empty)));
        assert_eq!(work(Dialog::Update, None, None, None, None), Err(Problem::NothingToUpdate));
        let Ok(Work::Record(change)) = work(Dialog::Update, None, Some("New"), None, Some("2 · High")) else {
            panic!()
        };
        assert_eq!((change.title.unwrap().as_str(), change.impact.unwrap().value()), ("New", 2));
        assert_eq!(
            work(Dialog::Update, None, None, None, Some("9")).unwrap_err().text(),
            "`9` is not an impact: use 1 (Critical) to 5 (No impact)."
        );
    }
}
