//! The read-back protocol: what the bot writes into its messages so that a
//! later interaction (a button click, a submitted dialog, possibly after a
//! restart) can tell which incident it is about without process memory.
//!
//! - Buttons and dialogs carry a custom id ([`Action`], [`Dialog`]).
//! - The confirmation's embed names its fields ([`field`]); the incident
//!   record ARN, title, impact and status are read back from them
//!   ([`Confirmation::read`]).
//! - The private "Resolve …?" prompt carries the ARN in its text
//!   ([`resolve_prompt`], [`prompt_incident`]).
//!
//! Writing and reading sit side by side here, with round-trip tests.

use serenity::all::Embed;

use crate::domain::{Impact, IncidentArn};

/// Field names of the confirmation embed.
pub mod field {
    pub const IMPACT: &str = "Impact";
    pub const PLAN: &str = "Response plan";
    pub const DECLARED_BY: &str = "Declared by";
    pub const RELATED: &str = "Related items";
    pub const ARN: &str = "Incident record ARN";
    pub const CONSOLE: &str = "Incident Manager";
    pub const STATUS: &str = "Status";
    pub const THREAD: &str = "Thread";
    pub const DUPLICATES: &str = "Possible duplicate";
}

/// The embed title's marker of a resolved incident.
pub const RESOLVED_MARK: &str = "✅ Resolved · ";
/// The embed title's marker of an open incident.
pub const OPEN_MARK: &str = "🚨 ";
/// The title shown when the response plan's title applies: `Incident declared (PLAN)`.
pub const UNTITLED: &str = "Incident declared (";

/// What a button of the bot's does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    AddLink,
    AddNote,
    Update,
    Resolve,
    /// Confirms resolving the incident of the confirmation `message` in `channel`.
    ResolveConfirm {
        channel: u64,
        message: u64,
    },
    ResolveCancel,
    /// The incident picked for message `message` of `channel` (a menu).
    ToTimeline {
        channel: u64,
        message: u64,
    },
}

const ADD_LINK: &str = "incident:link";
const ADD_NOTE: &str = "incident:note";
const UPDATE: &str = "incident:update";
const RESOLVE: &str = "incident:resolve";
const RESOLVE_CONFIRM: &str = "incident:resolve-confirm";
const RESOLVE_CANCEL: &str = "incident:resolve-cancel";
const TO_TIMELINE: &str = "incident:to-timeline";

impl Action {
    /// The button's custom id (at most 100 characters: two snowflakes fit).
    pub fn custom_id(self) -> String {
        match self {
            Self::AddLink => ADD_LINK.to_owned(),
            Self::AddNote => ADD_NOTE.to_owned(),
            Self::Update => UPDATE.to_owned(),
            Self::Resolve => RESOLVE.to_owned(),
            Self::ResolveConfirm { channel, message } => format!("{RESOLVE_CONFIRM}:{channel}:{message}"),
            Self::ResolveCancel => RESOLVE_CANCEL.to_owned(),
            Self::ToTimeline { channel, message } => format!("{TO_TIMELINE}:{channel}:{message}"),
        }
    }

    /// The action of a custom id the bot made; `None` for any other.
    pub fn parse(custom_id: &str) -> Option<Self> {
        Some(match custom_id {
            ADD_LINK => Self::AddLink,
            ADD_NOTE => Self::AddNote,
            UPDATE => Self::Update,
            RESOLVE => Self::Resolve,
            RESOLVE_CANCEL => Self::ResolveCancel,
            other => {
                let two_ids = |rest: &str| -> Option<(u64, u64)> {
                    let mut ids = rest.strip_prefix(':')?.split(':');
                    let pair = (ids.next()?.parse().ok()?, ids.next()?.parse().ok()?);
                    ids.next().is_none().then_some(pair)
                };
                if let Some(rest) = other.strip_prefix(RESOLVE_CONFIRM) {
                    let (channel, message) = two_ids(rest)?;
                    Self::ResolveConfirm { channel, message }
                } else {
                    let (channel, message) = two_ids(other.strip_prefix(TO_TIMELINE)?)?;
                    Self::ToTimeline { channel, message }
                }
            }
        })
    }
}

/// A dialog of the bot's, opened by the button of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialog {
    AddLink,
    AddNote,
    Update,
}

/// Custom ids of the dialogs' text inputs.
pub mod input {
    pub const TARGET: &str = "target";
    pub const TITLE: &str = "title";
    pub const NOTE: &str = "note";
    pub const IMPACT: &str = "impact";
}

impl Dialog {
    /// The dialog's custom id (the same as its button's).
    pub fn custom_id(self) -> &'static str {
        match self {
            Self::AddLink => ADD_LINK,
            Self::AddNote => ADD_NOTE,
            Self::Update => UPDATE,
        }
    }

    pub fn parse(custom_id: &str) -> Option<Self> {
        match custom_id {
            ADD_LINK => Some(Self::AddLink),
            ADD_NOTE => Some(Self::AddNote),
            UPDATE => Some(Self::Update),
            _ => None,
        }
    }
}

/// An incident as its confirmation shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    pub arn: IncidentArn,
    /// The title, without the open/resolved marker.
    pub title: String,
    /// Whether the title is the placeholder for the response plan's title.
    pub untitled: bool,
    pub impact: Option<Impact>,
    pub resolved: bool,
}

impl Confirmation {
    /// Reads a confirmation embed; `None` if it shows no incident record ARN.
    pub fn read(embed: &Embed) -> Option<Self> {
        let field = |name: &str| embed.fields.iter().find(|f| f.name == name).map(|f| f.value.as_str());
        let arn = IncidentArn::find_in(field(field::ARN)?)?;
        let title = embed.title.as_deref().unwrap_or_default();
        let title = title.strip_prefix(RESOLVED_MARK).or_else(|| title.strip_prefix(OPEN_MARK)).unwrap_or(title);
        let impact = field(field::IMPACT).and_then(|v| Impact::parse_text(v).ok());
        Some(Self {
            arn,
            untitled: title.starts_with(UNTITLED),
            title: title.to_owned(),
            impact,
            resolved: field(field::STATUS).is_some(),
        })
    }
}

/// The private question before resolving: names the incident, carries its ARN.
pub fn resolve_prompt(title_markdown: &str, arn: &IncidentArn) -> String {
    format!("Resolve **{title_markdown}**? It will be marked RESOLVED in Incident Manager.\n`{arn}`")
}

/// The incident a resolve prompt is about.
pub fn prompt_incident(content: &str) -> Option<IncidentArn> {
    IncidentArn::find_in(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_ids_round_trip() {
        for a in [
            Action::AddLink,
            Action::AddNote,
            Action::Update,
            Action::Resolve,
            Action::ResolveCancel,
            Action::ResolveConfirm { channel: 900_000_000_000_000_200, message: u64::MAX },
            Action::ToTimeline { channel: 900_000_000_000_000_200, message: u64::MAX },
        ] {
            assert!(a.custom_id().len() <= 100);
            assert_eq!(Action::parse(&a.custom_id()), Some(a));
        }
        for d in [Dialog::AddLink, Dialog::AddNote, Dialog::Update] {
            assert_eq!(Dialog::parse(d.custom_id()), Some(d));
        }
        for other in ["incident:resolve-confirm", "incident:resolve-confirm:1", "incident:resolve-confirm:1:2:3", "x"] {
            assert_eq!(Action::parse(other), None, "{other}");
        }
    }

    #[test]
    fn the_prompt_carries_the_incident() {
        let arn = IncidentArn::parse("arn:aws:ssm-incidents::111122223333:incident-record/P/abc").unwrap();
        assert_eq!(prompt_incident(&resolve_prompt("Checkout \\*down\\*", &arn)), Some(arn));
    }
}
