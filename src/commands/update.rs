//! `/incident-update incident:… [link:…] [note:…] [title:…] [impact:…] [resolve:…]`:
//! one command, any combination of changes, applied in that order, on any
//! incident (declared from Discord or not).

use std::time::{Duration, SystemTime};

use serenity::all::{
    CommandInteraction, CommandOptionType, CreateCommand, CreateCommandOption, CreateEmbed, ResolvedValue,
};
use tracing::{info, warn};

use super::incident::impact_option;
use crate::backend::AwsError;
use crate::discord::confirmation::field;
use crate::discord::format::{age, escape_markdown, limits};
use crate::discord::interaction::caller;
use crate::discord::responder::{FirstAnswer, Reply, Responder};
use crate::domain::access::Caller;
use crate::domain::impact::ImpactError;
use crate::domain::incident::now_unix;
use crate::domain::links::{LinkError, parse_links};
use crate::domain::notes::{MAX_NOTE_LEN, NoteError};
use crate::domain::text::{MAX_TITLE_LEN, TitleError, truncate};
use crate::domain::{
    ClientToken, Impact, IncidentArn, IncidentSummary, IncidentTitle, ListedItem, Note, RecordChange, RelatedItem,
};
use crate::messages::{self, quote};
use crate::services::Services;
use crate::sync;

/// The command's name.
pub const NAME: &str = "incident-update";

/// Option names.
pub mod opt {
    pub const INCIDENT: &str = "incident";
    pub const LINK: &str = "link";
    pub const NOTE: &str = "note";
    pub const TITLE: &str = "title";
    pub const IMPACT: &str = "impact";
    pub const RESOLVE: &str = "resolve";
}

/// Most links one update may add.
const MAX_LINKS_PER_UPDATE: usize = 10;
/// How long the command and its autocomplete wait for a fresh list of open
/// incidents before using the last one (autocomplete must answer in 3 s).
const LIST_WAIT: Duration = Duration::from_millis(1500);
/// A list of open incidents older than this is refreshed on use, so an
/// incident opened elsewhere seconds ago is offered.
const LIST_MAX_AGE: Duration = Duration::from_secs(3);

pub fn register(allow_dms: bool) -> CreateCommand {
    let text = |name, description: &str| CreateCommandOption::new(CommandOptionType::String, name, description);
    let command = CreateCommand::new(NAME)
        .description("Update an incident in AWS Incident Manager: add links or a note, retitle, re-rate, resolve")
        .add_option(
            text(opt::INCIDENT, "The incident: pick an open one, or paste its incident record ARN")
                .required(true)
                .set_autocomplete(true)
                .max_length(1000),
        )
        .add_option(
            text(opt::LINK, "Links or ARNs to add as related items ([Title](https://…) sets a title)").max_length(6000),
        )
        .add_option(
            text(opt::NOTE, "A note for the incident's timeline")
                .max_length(u16::try_from(MAX_NOTE_LEN).unwrap_or(2000)),
        )
        .add_option(
            text(opt::TITLE, "A new title").min_length(1).max_length(u16::try_from(MAX_TITLE_LEN).unwrap_or(200)),
        )
        .add_option(impact_option("A new impact"))
        .add_option(CreateCommandOption::new(CommandOptionType::Boolean, opt::RESOLVE, "Mark the incident resolved"));
    super::available(command, allow_dms)
}

/// The `incident` option: an incident record ARN, or `id:TAIL` (what
/// autocomplete sends for ARNs over Discord's 100 characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentRef {
    Arn(IncidentArn),
    Id(String),
    /// Neither, as typed.
    Invalid(String),
}

impl IncidentRef {
    pub fn parse(given: &str) -> Self {
        let given = given.trim();
        match given.strip_prefix("id:") {
            Some(tail) if !tail.is_empty() => Self::Id(tail.to_owned()),
            _ => IncidentArn::parse(given).map_or_else(|_| Self::Invalid(given.to_owned()), Self::Arn),
        }
    }

    /// The incident meant, looking `id:` up among the open incidents.
    pub fn resolve(&self, open: &[IncidentSummary]) -> Option<IncidentArn> {
        match self {
            Self::Arn(a) => Some(a.clone()),
            Self::Id(tail) => open.iter().find(|i| i.arn.id() == tail).map(|i| i.arn.clone()),
            Self::Invalid(_) => None,
        }
    }

    fn as_typed(&self) -> String {
        match self {
            Self::Arn(a) => a.to_string(),
            Self::Id(t) => format!("id:{t}"),
            Self::Invalid(s) => s.clone(),
        }
    }
}

/// What is wrong with an update, named for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    UnknownIncident(String),
    Link(LinkError),
    Note(NoteError),
    Title(TitleError),
    Impact(ImpactError),
    NothingToDo,
}

impl Problem {
    fn text(&self) -> String {
        match self {
            Self::UnknownIncident(given) => {
                format!("{} is not an incident record ARN or an open incident.", quote(given))
            }
            Self::Link(e) => messages::link_refusal(e),
            Self::Note(e) => format!("{}.", messages::capitalise(&e.to_string())),
            Self::Title(e) => format!("{}.", messages::capitalise(&e.to_string())),
            Self::Impact(e) => format!("The {e}."),
            Self::NothingToDo => {
                "Nothing to update: give at least one of `link`, `note`, `title`, `impact` or `resolve`.".to_owned()
            }
        }
    }
}

/// The changes asked for, all checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub links: Vec<RelatedItem>,
    pub note: Option<Note>,
    pub record: RecordChange,
}

/// A `/incident-update` as typed.
#[derive(Debug, Clone)]
pub struct Request {
    pub caller: Caller,
    pub user_id: u64,
    pub user_name: String,
    pub token: ClientToken,
    pub incident: IncidentRef,
    pub changes: Result<Changes, Vec<Problem>>,
}

/// Reads and checks the options (all of them, so every problem is named).
pub fn parse(cmd: &CommandInteraction) -> Request {
    let mut incident = IncidentRef::Invalid(String::new());
    let mut changes = Changes::default();
    let mut problems = Vec::new();
    for o in cmd.data.options() {
        match (o.name, o.value) {
            (opt::INCIDENT, ResolvedValue::String(s)) => incident = IncidentRef::parse(s),
            (opt::LINK, ResolvedValue::String(s)) => match parse_links(s, MAX_LINKS_PER_UPDATE) {
                Ok(items) => changes.links = items,
                Err(e) => problems.push(Problem::Link(e)),
            },
            (opt::NOTE, ResolvedValue::String(s)) => match Note::parse(s) {
                Ok(n) => changes.note = Some(n),
                Err(e) => problems.push(Problem::Note(e)),
            },
            (opt::TITLE, ResolvedValue::String(s)) => match IncidentTitle::parse(s) {
                Ok(t) => changes.record.title = Some(t),
                Err(e) => problems.push(Problem::Title(e)),
            },
            (opt::IMPACT, ResolvedValue::Integer(i)) => match Impact::new(i) {
                Ok(i) => changes.record.impact = Some(i),
                Err(e) => problems.push(Problem::Impact(e)),
            },
            (opt::RESOLVE, ResolvedValue::Boolean(b)) => changes.record.resolve = b,
            _ => {}
        }
    }
    if problems.is_empty() && changes.links.is_empty() && changes.note.is_none() && changes.record.is_empty() {
        problems.push(Problem::NothingToDo);
    }
    Request {
        caller: caller(cmd),
        user_id: cmd.user.id.get(),
        user_name: cmd.user.name.clone(),
        token: ClientToken::for_interaction(cmd.id.get()),
        incident,
        changes: if problems.is_empty() { Ok(changes) } else { Err(problems) },
    }
}

/// Handles one `/incident-update`.
pub async fn run(svc: &Services, req: Request, r: &Responder) {
    if let Err(denied) = svc.settings.access.check(&req.caller) {
        info!(outcome = "refused", reason = %denied, "update refused by [access]");
        r.private(format!("⛔ {}", messages::denied(&denied, "/incident-update"))).await;
        return;
    }
    let open = svc.open.get(LIST_WAIT, LIST_MAX_AGE).await;
    let arn = req.incident.resolve(&open);
    let changes = match (&arn, req.changes) {
        (Some(_), Ok(c)) => c,
        (arn, changes) => {
            let mut problems = changes.err().unwrap_or_default();
            if arn.is_none() {
                problems.retain(|p| *p != Problem::NothingToDo);
                problems.insert(0, Problem::UnknownIncident(req.incident.as_typed()));
            }
            let text: Vec<String> = problems.iter().map(Problem::text).collect();
            r.private(format!("⚠️ {} Nothing was changed.", text.join(" "))).await;
            return;
        }
    };
    let Some(arn) = arn else { return };
    if let Err(limited) = svc.limit_change(r, req.user_id).await {
        info!(outcome = "rate_limited", "update refused by [limits]");
        r.private(format!("⏳ {}", messages::limited(&limited, false))).await;
        return;
    }
    if let Err(e) = r.answer(FirstAnswer::Defer { private: false }).await {
        warn!(error = %e, "could not acknowledge /incident-update");
        return;
    }
    let (done, failure) = apply(svc, &arn, &changes, (req.user_id, &req.user_name), &req.token).await;
    let reply = match failure {
        None => {
            info!(incident = arn.as_str(), changes = done.len(), "incident updated with /incident-update");
            let title = open.iter().find(|i| i.arn == arn).map_or_else(|| "Incident".to_owned(), |i| i.title.clone());
            Reply::embed(summary(&title, &done, req.user_id, &arn))
        }
        Some(e) => {
            Reply::text(format!("⚠️ {}", messages::update_failed(&e, arn.as_str(), svc.backend.region(), &done)))
        }
    };
    if let Err(e) = r.edit(reply).await {
        warn!(error = %e, "could not report the update");
    }
}

/// Applies the changes in order, stopping at the first failure: what was
/// done, and the failure.
async fn apply(
    svc: &Services,
    arn: &IncidentArn,
    c: &Changes,
    (user_id, user_name): (u64, &str),
    token: &ClientToken,
) -> (Vec<String>, Option<AwsError>) {
    let mut done = Vec::new();
    let who = format!("<@{user_id}>");
    // What the bot writes and remembers of it, in one turn against the mirror.
    let _turn = svc.incident_locks.lock(arn).await;
    for (n, item) in c.links.iter().enumerate() {
        sync::own(svc, arn, &sync::item_key(item.value())).await;
        if let Err(e) = svc.backend.add_related_item(arn, item, &token.step(format!("link-{n}"))).await {
            return (done, Some(e));
        }
        done.push(format!("added link {}", quote(item.value())));
        // A link to a Discord channel or thread the bot can see: an incident
        // not followed yet is mirrored there from now on.
        let listed =
            ListedItem { kind: item.item_type().to_owned(), value: item.value().to_owned(), title: item.title.clone() };
        if let Some((guild, channel)) = listed.discord_channel() {
            match svc.discord.channel(serenity::all::ChannelId::new(channel)).await {
                Ok(c) => {
                    if let Err(e) = sync::follow(svc, arn, (guild, channel, c.thread), &[]).await {
                        tracing::warn!(error = %e, "could not follow the incident in the linked channel");
                    }
                }
                Err(e) => {
                    tracing::info!(channel, error = %e, "a linked Discord channel cannot be seen; not mirrored there")
                }
            }
        }
    }
    if let Some(note) = &c.note {
        let text = format!("Note from {user_name} on Discord: {note}");
        match svc.backend.add_timeline_event(arn, &text, SystemTime::now(), &token.step("note")).await {
            Ok(id) => sync::own(svc, arn, &id).await,
            Err(e) => return (done, Some(e)),
        }
        done.push("added a note to the timeline".to_owned());
    }
    if !c.record.is_empty() {
        if let Err(e) = svc.backend.update_record(arn, &c.record, &token.step("record")).await {
            return (done, Some(e));
        }
        svc.open.changed(arn, &c.record);
        sync::own_record_change(svc, arn, &c.record, &who).await;
        if let Some(t) = &c.record.title {
            done.push(format!("title set to “{}”", escape_markdown(t.as_str())));
        }
        if let Some(i) = c.record.impact {
            done.push(format!("impact set to {i}"));
        }
        if c.record.resolve {
            done.push("resolved".to_owned());
        }
    }
    (done, None)
}

fn summary(title: &str, done: &[String], user: u64, arn: &IncidentArn) -> CreateEmbed {
    let lines: Vec<String> = done.iter().map(|d| format!("• {d}")).collect();
    CreateEmbed::new()
        .title(truncate(&format!("🛠 Updated: {title}"), limits::EMBED_TITLE))
        .field("Changes", truncate(&lines.join("\n"), limits::FIELD_VALUE), false)
        .field("By", format!("<@{user}>"), true)
        .field(field::ARN, format!("```\n{arn}\n```"), false)
}

/// An autocomplete of `/incident-update incident:`.
#[derive(Debug, Clone)]
pub struct Choices {
    pub caller: Caller,
    pub typed: String,
}

pub fn parse_choices(a: &CommandInteraction) -> Choices {
    Choices { caller: caller(a), typed: a.data.autocomplete().map_or("", |o| o.value).trim().to_lowercase() }
}

/// Offers the open incidents, newest first, matching what was typed. The
/// list is refreshed when older than a few seconds, within the autocomplete
/// deadline; the last list is the fallback.
pub async fn choices(svc: &Services, req: &Choices, r: &Responder) {
    let mut choices = Vec::new();
    if svc.settings.access.check(&req.caller).is_ok() {
        let open = svc.open.get(LIST_WAIT, LIST_MAX_AGE).await;
        let now = now_unix();
        let typed = &req.typed;
        for i in open
            .iter()
            .filter(|i| {
                typed.is_empty()
                    || i.title.to_lowercase().contains(typed)
                    || i.arn.as_str().to_lowercase().contains(typed)
            })
            .take(25)
        {
            let name = truncate(&format!("{} · impact {} · {} ago", i.title, i.impact, age(now - i.created)), 100);
            let value =
                if i.arn.as_str().chars().count() <= 100 { i.arn.to_string() } else { format!("id:{}", i.arn.id()) };
            choices.push((name, value));
        }
    }
    if let Err(e) = r.answer(FirstAnswer::Choices(choices)).await {
        tracing::debug!(error = %e, "autocomplete answer failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_refs() {
        let arn = IncidentArn::parse("arn:aws:ssm-incidents::111122223333:incident-record/Payments/abc-1").unwrap();
        let open = vec![IncidentSummary { arn: arn.clone(), title: "t".into(), impact: 2, created: 0 }];
        assert_eq!(IncidentRef::parse(arn.as_str()).resolve(&[]), Some(arn.clone()));
        assert_eq!(IncidentRef::parse("id:abc-1").resolve(&open), Some(arn));
        assert_eq!(IncidentRef::parse("id:zzz").resolve(&open), None);
        let plan = "arn:aws:ssm-incidents::111122223333:response-plan/P";
        assert_eq!(IncidentRef::parse(plan), IncidentRef::Invalid(plan.into()));
    }
}
