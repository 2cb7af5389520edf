//! Working on a declared incident from Discord: the confirmation's buttons
//! and dialogs, and `/incident-update` for incidents declared elsewhere.
//!
//! The incident is always read from the message the buttons sit on (its
//! embed carries the ARN), never from process memory, so buttons keep working
//! after a restart. Every action passes the same `[access]` rules as
//! declaring; every refusal and AWS error gets a short private message.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serenity::all::{
    ActionRowComponent, ButtonStyle, ChannelId, CommandInteraction, ComponentInteraction, Context, CreateActionRow,
    CreateAllowedMentions, CreateAutocompleteResponse, CreateButton, CreateEmbed, CreateInputText,
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage, CreateModal,
    EditInteractionResponse, EditMessage, InputTextStyle, MessageId, ModalInteraction, ResolvedValue,
};
use tracing::{info, warn};

use super::handler::Handler;
use super::render::{self, action, field};
use super::{command, options};
use crate::domain::links::parse_links;
use crate::domain::text::truncate;
use crate::domain::{Impact, IncidentTitle, RelatedItem};
use crate::incident_manager::{AwsError, IncidentSummary, RecordChange};

/// Longest note accepted for the timeline.
pub const MAX_NOTE_LEN: usize = 2000;
/// Most links one update may add.
const MAX_LINKS_PER_UPDATE: usize = 10;

/// A private first answer.
fn private(text: impl Into<String>) -> CreateInteractionResponse {
    CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(truncate(&text.into(), render::limits::CONTENT))
            .ephemeral(true)
            .allowed_mentions(CreateAllowedMentions::new()),
    )
}

/// A private follow-up, after the interaction was acknowledged.
fn private_followup(text: &str) -> CreateInteractionResponseFollowup {
    CreateInteractionResponseFollowup::new()
        .content(truncate(text, render::limits::CONTENT))
        .ephemeral(true)
        .allowed_mentions(CreateAllowedMentions::new())
}

fn text_input(style: InputTextStyle, label: &str, id: &str, max: u16, required: bool) -> CreateInputText {
    CreateInputText::new(style, label, id).max_length(max).required(required)
}

/// The value of the text input `id` in a submitted dialog.
fn modal_value<'a>(m: &'a ModalInteraction, id: &str) -> Option<&'a str> {
    m.data.components.iter().flat_map(|row| &row.components).find_map(|c| match c {
        ActionRowComponent::InputText(t) if t.custom_id == id => {
            t.value.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        _ => None,
    })
}

/// Checks a note: not blank, at most [`MAX_NOTE_LEN`] characters.
pub fn parse_note(note: &str) -> Result<String, String> {
    let note = note.trim();
    if note.is_empty() {
        return Err("The note is empty.".to_owned());
    }
    let len = note.chars().count();
    if len > MAX_NOTE_LEN {
        return Err(format!("The note is {len} characters long; at most {MAX_NOTE_LEN} fit on the timeline here."));
    }
    Ok(note.to_owned())
}

/// Reads an impact typed in a dialog: `2`, or `2 · High`.
pub fn parse_impact_text(text: &str) -> Result<Impact, String> {
    let digits: String = text.trim().chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse::<i64>()
        .ok()
        .and_then(|v| Impact::new(v).ok())
        .ok_or_else(|| format!("`{}` is not an impact: use 1 (Critical) to 5 (No impact).", truncate(text.trim(), 20)))
}

/// An incident named by `/incident-update`'s option: an incident record ARN,
/// or `id:TAIL` (what autocomplete sends for ARNs over 100 characters).
pub fn resolve_incident_ref(given: &str, open: &[IncidentSummary]) -> Option<String> {
    let given = given.trim();
    if let Some(tail) = given.strip_prefix("id:") {
        return open.iter().find(|i| i.arn.ends_with(&format!("/{tail}"))).map(|i| i.arn.clone());
    }
    let arn = crate::domain::Arn::parse(given).ok()?;
    (arn.service() == "ssm-incidents" && arn.resource().starts_with("incident-record/")).then(|| given.to_owned())
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

impl Handler {
    /// A button on a confirmation (or on a resolve confirmation).
    pub(super) async fn component(&self, ctx: &Context, c: &ComponentInteraction) {
        let id = c.data.custom_id.as_str();
        if let Err(denied) = self.access.check(&options::caller_of(
            &c.user,
            c.guild_id,
            c.channel_id,
            c.channel.as_ref(),
            c.member.as_ref(),
        )) {
            info!(outcome = "refused", reason = %denied, action = id, "action refused by [access]");
            let _ = c.create_response(&ctx.http, private(render::denied(&denied))).await;
            return;
        }
        if id == action::RESOLVE_CANCEL {
            let msg = CreateInteractionResponseMessage::new().content("Not resolved.").components(vec![]);
            let _ = c.create_response(&ctx.http, CreateInteractionResponse::UpdateMessage(msg)).await;
            return;
        }
        if let Some(target) = id.strip_prefix(action::RESOLVE_CONFIRM) {
            self.resolve_confirmed(ctx, c, target).await;
            return;
        }
        let Some(embed) = c.message.embeds.first() else { return };
        let Some(arn) = render::incident_arn_of(embed) else {
            let _ =
                c.create_response(&ctx.http, private("⚠️ This message does not show an incident record ARN.")).await;
            return;
        };
        let response = match id {
            action::ADD_LINK => CreateInteractionResponse::Modal(
                CreateModal::new(action::ADD_LINK, "Add a link to the incident").components(vec![
                    CreateActionRow::InputText(
                        text_input(InputTextStyle::Short, "URL or ARN", "target", 1000, true)
                            .placeholder("https://… or arn:aws:…"),
                    ),
                    CreateActionRow::InputText(text_input(
                        InputTextStyle::Short,
                        "Title (optional)",
                        "title",
                        200,
                        false,
                    )),
                ]),
            ),
            action::ADD_NOTE => CreateInteractionResponse::Modal(
                CreateModal::new(action::ADD_NOTE, "Add a note to the timeline").components(vec![
                    CreateActionRow::InputText(text_input(
                        InputTextStyle::Paragraph,
                        "Note",
                        "note",
                        u16::try_from(MAX_NOTE_LEN).unwrap_or(2000),
                        true,
                    )),
                ]),
            ),
            action::UPDATE => {
                let title = truncate(&render::incident_title_of(embed), 200);
                let mut title_input = text_input(InputTextStyle::Short, "Title", "title", 200, false);
                if !title.is_empty() && !title.starts_with("Incident declared (") {
                    title_input = title_input.value(title);
                }
                let mut impact_input =
                    text_input(InputTextStyle::Short, "Impact (1 Critical … 5 No impact)", "impact", 12, false);
                if let Some(i) = render::impact_of(embed) {
                    impact_input = impact_input.value(i.to_string());
                }
                CreateInteractionResponse::Modal(CreateModal::new(action::UPDATE, "Update the incident").components(
                    vec![CreateActionRow::InputText(title_input), CreateActionRow::InputText(impact_input)],
                ))
            }
            action::RESOLVE => {
                if embed.fields.iter().any(|f| f.name == field::STATUS) {
                    private("This incident is already resolved.")
                } else {
                    self.pending_resolves.insert(c.message.id.get(), ((*embed).clone(), Instant::now()));
                    let title = render::escape_markdown(&render::incident_title_of(embed));
                    let confirm = format!("{}:{}:{}", action::RESOLVE_CONFIRM, c.channel_id.get(), c.message.id.get());
                    CreateInteractionResponse::Message(
                        CreateInteractionResponseMessage::new()
                            .ephemeral(true)
                            .content(truncate(
                                &format!(
                                    "Resolve **{title}**? It will be marked RESOLVED in Incident Manager.\n`{arn}`"
                                ),
                                2000,
                            ))
                            .components(vec![CreateActionRow::Buttons(vec![
                                CreateButton::new(confirm).label("Resolve incident").style(ButtonStyle::Danger),
                                CreateButton::new(action::RESOLVE_CANCEL).label("Cancel").style(ButtonStyle::Secondary),
                            ])])
                            .allowed_mentions(CreateAllowedMentions::new()),
                    )
                }
            }
            _ => return,
        };
        if let Err(e) = c.create_response(&ctx.http, response).await {
            warn!(error = %e, action = id, "could not answer a button");
        }
    }

    async fn resolve_confirmed(&self, ctx: &Context, c: &ComponentInteraction, target: &str) {
        let mut parts = target.trim_start_matches(':').split(':').filter_map(|p| p.parse::<u64>().ok());
        let (Some(channel), Some(message)) = (parts.next(), parts.next()) else { return };
        let content = &c.message.content;
        let arn =
            content.split('`').find(|p| p.starts_with("arn:") && p.contains(":incident-record/")).map(str::to_owned);
        let Some(arn) = arn else { return };
        if let Err(e) = c.defer(&ctx.http).await {
            warn!(error = %e, "could not acknowledge the confirmation");
            return;
        }
        let token = format!("discord-interaction-{}", c.id.get());
        let change = RecordChange { resolve: true, ..RecordChange::default() };
        if let Err(e) = self.backend.update_record(&arn, &change, &token).await {
            let text = render::update_failed(&e, &arn, self.backend.region(), &[]);
            let _ = c.edit_response(&ctx.http, EditInteractionResponse::new().content(text).components(vec![])).await;
            return;
        }
        info!(incident = arn, user = c.user.id.get(), "incident resolved");
        let embed = match self.pending_resolves.remove(&message) {
            Some((_, (embed, _))) => Some(embed),
            None => ChannelId::new(channel)
                .message(&ctx.http, MessageId::new(message))
                .await
                .ok()
                .and_then(|m| m.embeds.into_iter().next()),
        };
        let mut note = "✅ Resolved in Incident Manager.".to_owned();
        match embed {
            Some(embed) => {
                let console = render::console_for(&arn, self.backend.region());
                let edit = EditMessage::new()
                    .embed(render::resolved(&embed, c.user.id.get(), now_unix()))
                    .components(render::confirmation_buttons(&console, true))
                    .allowed_mentions(CreateAllowedMentions::new());
                if let Err(e) = ChannelId::new(channel).edit_message(&ctx.http, MessageId::new(message), edit).await {
                    warn!(error = %e, "could not mark the confirmation resolved");
                    note.push_str(" The message above could not be updated.");
                }
            }
            None => note.push_str(" The message above could not be read to update it."),
        }
        let _ = c.edit_response(&ctx.http, EditInteractionResponse::new().content(note).components(vec![])).await;
    }

    /// A submitted dialog from one of the confirmation's buttons.
    pub(super) async fn modal(&self, ctx: &Context, m: &ModalInteraction) {
        let caller = options::caller_of(&m.user, m.guild_id, m.channel_id, m.channel.as_ref(), m.member.as_ref());
        if let Err(denied) = self.access.check(&caller) {
            let _ = m.create_response(&ctx.http, private(render::denied(&denied))).await;
            return;
        }
        let Some(message) = &m.message else { return };
        let Some(embed) = message.embeds.first() else { return };
        let Some(arn) = render::incident_arn_of(embed) else { return };
        let token = format!("discord-interaction-{}", m.id.get());
        let region = self.backend.region();
        // Check the input first, so a mistake costs no AWS call.
        enum Work {
            Link(RelatedItem),
            Note(String),
            Record(RecordChange),
        }
        let work: Result<Work, String> = match m.data.custom_id.as_str() {
            action::ADD_LINK => {
                let target = modal_value(m, "target").unwrap_or_default();
                let input = match modal_value(m, "title") {
                    Some(t) => format!("[{}]({target})", t.replace(['[', ']'], "")),
                    None => target.to_owned(),
                };
                match parse_links(&input, 1) {
                    Ok(mut items) if items.len() == 1 => Ok(Work::Link(items.remove(0))),
                    Ok(_) => Err("Give one link (https://…) or ARN (arn:aws:…).".to_owned()),
                    Err(e) => Err(render::link_refusal(&e)),
                }
            }
            action::ADD_NOTE => parse_note(modal_value(m, "note").unwrap_or_default()).map(Work::Note),
            action::UPDATE => {
                let title = modal_value(m, "title").map(IncidentTitle::parse).transpose();
                let impact = modal_value(m, "impact").map(parse_impact_text).transpose();
                match (title, impact) {
                    (Ok(title), Ok(impact)) if title.is_some() || impact.is_some() => {
                        Ok(Work::Record(RecordChange { title, impact, resolve: false }))
                    }
                    (Ok(_), Ok(_)) => Err("Nothing to update: give a title or an impact.".to_owned()),
                    (Err(e), _) => Err(format!("The {e}.")),
                    (_, Err(e)) => Err(e),
                }
            }
            _ => return,
        };
        let work = match work {
            Ok(w) => w,
            Err(problem) => {
                let _ = m.create_response(&ctx.http, private(format!("⚠️ {problem} Nothing was changed."))).await;
                return;
            }
        };
        if let Err(e) = m.defer(&ctx.http).await {
            warn!(error = %e, "could not acknowledge a dialog");
            return;
        }
        let user = m.user.id.get();
        let result: Result<Option<CreateEmbed>, AwsError> = match work {
            Work::Link(item) => self.backend.add_related_item(&arn, &item, &token).await.map(|()| {
                let current =
                    embed.fields.iter().find(|f| f.name == field::RELATED).map(|f| f.value.clone()).unwrap_or_default();
                let value = render::with_related_item(&current, &item);
                Some(render::rebuild(embed, None, None, |f| render::set_field(f, field::RELATED, value, false)))
            }),
            Work::Note(note) => {
                let text = format!("Note from {} on Discord: {note}", m.user.name);
                match self.backend.add_timeline_event(&arn, &text, SystemTime::now(), &token).await {
                    Ok(()) => {
                        let body = format!("📝 <@{user}> added a note to the incident timeline:\n>>> {}", note);
                        let followup = CreateInteractionResponseFollowup::new()
                            .content(truncate(&body, render::limits::CONTENT))
                            .allowed_mentions(CreateAllowedMentions::new());
                        if let Err(e) = m.create_followup(&ctx.http, followup).await {
                            warn!(error = %e, "could not post the note");
                        }
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            }
            Work::Record(change) => self.backend.update_record(&arn, &change, &token).await.map(|()| {
                let title = change.title.as_ref().map(|t| format!("🚨 {t}"));
                Some(render::rebuild(embed, title.as_deref(), None, |f| {
                    if let Some(i) = change.impact {
                        render::set_field(f, field::IMPACT, i.to_string(), true);
                    }
                }))
            }),
        };
        match result {
            Ok(Some(new_embed)) => {
                let edit =
                    EditInteractionResponse::new().embed(new_embed).allowed_mentions(CreateAllowedMentions::new());
                if let Err(e) = m.edit_response(&ctx.http, edit).await {
                    warn!(error = %e, "could not update the confirmation");
                }
                info!(incident = arn, action = m.data.custom_id, user, "incident updated");
            }
            Ok(None) => info!(incident = arn, action = m.data.custom_id, user, "incident updated"),
            Err(e) => {
                let text = render::update_failed(&e, &arn, region, &[]);
                let _ = m.create_followup(&ctx.http, private_followup(&text)).await;
            }
        }
    }

    /// `/incident-update`.
    pub(super) async fn update_command(&self, ctx: &Context, cmd: &CommandInteraction) {
        if let Err(denied) = self.access.check(&options::caller(cmd)) {
            info!(outcome = "refused", reason = %denied, "update refused by [access]");
            let _ = cmd.create_response(&ctx.http, private(render::denied(&denied))).await;
            return;
        }
        let mut incident = None;
        let (mut links, mut note, mut change) = (Vec::new(), None, RecordChange::default());
        let mut problems = Vec::new();
        for o in cmd.data.options() {
            match (o.name, o.value) {
                (command::update_opt::INCIDENT, ResolvedValue::String(s)) => incident = Some(s.to_owned()),
                (command::update_opt::LINK, ResolvedValue::String(s)) => match parse_links(s, MAX_LINKS_PER_UPDATE) {
                    Ok(items) => links = items,
                    Err(e) => problems.push(render::link_refusal(&e)),
                },
                (command::update_opt::NOTE, ResolvedValue::String(s)) => match parse_note(s) {
                    Ok(n) => note = Some(n),
                    Err(e) => problems.push(e),
                },
                (command::update_opt::TITLE, ResolvedValue::String(s)) => match IncidentTitle::parse(s) {
                    Ok(t) => change.title = Some(t),
                    Err(e) => problems.push(format!("The {e}.")),
                },
                (command::update_opt::IMPACT, ResolvedValue::Integer(i)) => match Impact::new(i) {
                    Ok(i) => change.impact = Some(i),
                    Err(e) => problems.push(format!("The {e}.")),
                },
                (command::update_opt::RESOLVE, ResolvedValue::Boolean(b)) => change.resolve = b,
                _ => {}
            }
        }
        let open = self
            .open_incidents
            .get(&self.backend, std::time::Duration::from_secs(2), self.open_incidents.max_age)
            .await;
        let arn = incident.as_deref().and_then(|i| resolve_incident_ref(i, &open));
        if arn.is_none() {
            problems.insert(
                0,
                format!(
                    "{} is not an incident record ARN or an open incident.",
                    render::quote(incident.as_deref().unwrap_or_default())
                ),
            );
        }
        let record_changes = change.title.is_some() || change.impact.is_some() || change.resolve;
        if problems.is_empty() && links.is_empty() && note.is_none() && !record_changes {
            problems.push(
                "Nothing to update: give at least one of `link`, `note`, `title`, `impact` or `resolve`.".to_owned(),
            );
        }
        let Some(arn) = arn.filter(|_| problems.is_empty()) else {
            let _ = cmd
                .create_response(&ctx.http, private(format!("⚠️ {} Nothing was changed.", problems.join(" "))))
                .await;
            return;
        };
        if let Err(e) = cmd.defer(&ctx.http).await {
            warn!(error = %e, "could not acknowledge /incident-update");
            return;
        }
        let base = format!("discord-interaction-{}", cmd.id.get());
        let mut done: Vec<String> = Vec::new();
        let mut failure = None;
        for (n, item) in links.iter().enumerate() {
            match self.backend.add_related_item(&arn, item, &format!("{base}-link-{n}")).await {
                Ok(()) => done.push(format!("added link {}", render::quote(item.value()))),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if failure.is_none()
            && let Some(note) = &note
        {
            let text = format!("Note from {} on Discord: {note}", cmd.user.name);
            match self.backend.add_timeline_event(&arn, &text, SystemTime::now(), &format!("{base}-note")).await {
                Ok(()) => done.push("added a note to the timeline".to_owned()),
                Err(e) => failure = Some(e),
            }
        }
        if failure.is_none() && record_changes {
            match self.backend.update_record(&arn, &change, &format!("{base}-record")).await {
                Ok(()) => {
                    if let Some(t) = &change.title {
                        done.push(format!("title set to “{}”", render::escape_markdown(t.as_str())));
                    }
                    if let Some(i) = change.impact {
                        done.push(format!("impact set to {i}"));
                    }
                    if change.resolve {
                        done.push("resolved".to_owned());
                    }
                }
                Err(e) => failure = Some(e),
            }
        }
        let edit = match failure {
            None => {
                info!(incident = arn, changes = done.len(), "incident updated with /incident-update");
                let title =
                    open.iter().find(|i| i.arn == arn).map_or_else(|| "Incident".to_owned(), |i| i.title.clone());
                let lines: Vec<String> = done.iter().map(|d| format!("• {d}")).collect();
                let embed = CreateEmbed::new()
                    .title(truncate(&format!("🛠 Updated: {title}"), render::limits::EMBED_TITLE))
                    .field("Changes", truncate(&lines.join("\n"), render::limits::FIELD_VALUE), false)
                    .field("By", format!("<@{}>", cmd.user.id.get()), true)
                    .field(field::ARN, format!("```\n{arn}\n```"), false);
                EditInteractionResponse::new().embed(embed)
            }
            Some(e) => {
                EditInteractionResponse::new().content(render::update_failed(&e, &arn, self.backend.region(), &done))
            }
        };
        if let Err(e) = cmd.edit_response(&ctx.http, edit.allowed_mentions(CreateAllowedMentions::new())).await {
            warn!(error = %e, "could not report the update");
        }
    }

    /// Autocomplete of `/incident-update incident:` from the open incidents.
    pub(super) async fn update_autocomplete(&self, ctx: &Context, cmd: &CommandInteraction) {
        let typed = cmd.data.autocomplete().map_or("", |o| o.value).trim().to_lowercase();
        let mut response = CreateAutocompleteResponse::new();
        if self.access.check(&options::caller(cmd)).is_ok() {
            let open = self
                .open_incidents
                .get(&self.backend, std::time::Duration::from_secs(2), self.open_incidents.max_age)
                .await;
            let now = now_unix();
            for i in open
                .iter()
                .filter(|i| {
                    typed.is_empty() || i.title.to_lowercase().contains(&typed) || i.arn.to_lowercase().contains(&typed)
                })
                .take(25)
            {
                let age = render::age(now - i.created);
                let name = truncate(&format!("{} · impact {} · {age} ago", i.title, i.impact), 100);
                let value = if i.arn.chars().count() <= 100 {
                    i.arn.clone()
                } else {
                    format!("id:{}", i.arn.rsplit('/').next().unwrap_or_default())
                };
                response = response.add_string_choice(name, value);
            }
        }
        let _ = cmd.create_response(&ctx.http, CreateInteractionResponse::Autocomplete(response)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impacts_and_notes() {
        assert_eq!(parse_impact_text("2").unwrap().value(), 2);
        assert_eq!(parse_impact_text(" 4 · Low").unwrap().value(), 4);
        assert!(parse_impact_text("9").is_err());
        assert!(parse_impact_text("high").is_err());
        assert!(parse_note("  ").is_err());
        assert!(parse_note(&"n".repeat(2001)).is_err());
        assert_eq!(parse_note(" ok \n").unwrap(), "ok");
    }

    #[test]
    fn incident_refs() {
        let arn = "arn:aws:ssm-incidents::111122223333:incident-record/Payments/abc-1";
        let open = vec![IncidentSummary { arn: arn.into(), title: "t".into(), impact: 2, created: 0 }];
        assert_eq!(resolve_incident_ref(arn, &[]).as_deref(), Some(arn));
        assert_eq!(resolve_incident_ref("id:abc-1", &open).as_deref(), Some(arn));
        assert_eq!(resolve_incident_ref("id:zzz", &open), None);
        assert_eq!(resolve_incident_ref("arn:aws:ssm-incidents::111122223333:response-plan/P", &open), None);
    }
}
