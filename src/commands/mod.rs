//! The command families, one file each: what is registered with Discord, a
//! pure parse of an interaction into a typed request, and `run`, which acts
//! on it through the backend and answers through the responder.
//!
//! | family | file |
//! |---|---|
//! | `/incident` and its plan autocomplete | [`incident`] (+ [`followups`]: timeline event, thread) |
//! | `/incident-update` and its incident autocomplete | [`update`] |
//! | the confirmation's buttons | [`buttons`] |
//! | the dialogs the buttons open | [`dialogs`] |
//!
//! [`Route`] picks the family of an interaction; [`crate::bot::Bot`] runs it.

pub mod buttons;
pub mod dialogs;
pub mod followups;
pub mod incident;
#[cfg(test)]
mod tests;
pub mod timeline;
pub mod update;

use futures_util::future::BoxFuture;
use serenity::all::{CreateCommand, Interaction, InteractionContext, Permissions};
use tracing::{Span, info_span};

use crate::discord::confirmation::{Action, Dialog};
use crate::discord::responder::Responder;
use crate::domain::access::Caller;
use crate::services::Services;

/// Every command the bot registers.
pub fn all(plan_required: bool, allow_dms: bool) -> Vec<CreateCommand> {
    vec![incident::register(plan_required, allow_dms), update::register(allow_dms), timeline::register(allow_dms)]
}

/// Where a command may be used: servers, and DMs with the bot if allowed.
/// Any member who may send messages in a channel may use it; server admins
/// can narrow that in Server Settings → Integrations, on top of the bot's
/// own `[access]` rules.
fn available(command: CreateCommand, allow_dms: bool) -> CreateCommand {
    let contexts = if allow_dms {
        vec![InteractionContext::Guild, InteractionContext::BotDm]
    } else {
        vec![InteractionContext::Guild]
    };
    command.default_member_permissions(Permissions::SEND_MESSAGES).contexts(contexts)
}

/// One interaction, parsed for the family that handles it. The interaction
/// itself is not kept: a request waiting for AWS holds only what it needs.
pub enum Route {
    Declare(Box<incident::Request>),
    PlanChoices(incident::Choices),
    Update(Box<update::Request>),
    IncidentChoices(update::Choices),
    ToTimeline(Box<timeline::Request>),
    Button(Box<buttons::Click>),
    Dialog(Box<dialogs::Submit>),
}

/// What kind of interaction a route is, for the accept path's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Reads only, answers within Discord's 3 s, may be asked again as the
    /// user types: not de-duplicated, still answered while shutting down.
    Autocomplete,
    /// `/incident`.
    Declaration,
    /// Anything that may change an incident.
    Change,
}

impl Route {
    /// The route of an interaction of the bot's; `None` for any other.
    pub fn parse(interaction: &Interaction) -> Option<Self> {
        Some(match interaction {
            Interaction::Command(c) if c.data.name == incident::NAME => Self::Declare(Box::new(incident::parse(c))),
            Interaction::Command(c) if c.data.name == update::NAME => Self::Update(Box::new(update::parse(c))),
            Interaction::Command(c) if c.data.name == timeline::NAME => Self::ToTimeline(Box::new(timeline::parse(c))),
            Interaction::Autocomplete(c) if c.data.name == incident::NAME => {
                Self::PlanChoices(incident::parse_choices(c))
            }
            Interaction::Autocomplete(c) if c.data.name == update::NAME => {
                Self::IncidentChoices(update::parse_choices(c))
            }
            Interaction::Component(c) => Self::Button(Box::new(buttons::parse(c, Action::parse(&c.data.custom_id)?))),
            Interaction::Modal(m) => Self::Dialog(Box::new(dialogs::parse(m, Dialog::parse(&m.data.custom_id)?))),
            _ => return None,
        })
    }

    pub fn kind(&self) -> Kind {
        match self {
            Self::PlanChoices(_) | Self::IncidentChoices(_) => Kind::Autocomplete,
            Self::Declare(_) => Kind::Declaration,
            Self::Update(_) | Self::Button(_) | Self::Dialog(_) | Self::ToTimeline(_) => Kind::Change,
        }
    }

    /// What the user used, as replies name it.
    pub fn used(&self) -> &'static str {
        match self {
            Self::Declare(_) | Self::PlanChoices(_) => "/incident",
            Self::Update(_) | Self::IncidentChoices(_) => "/incident-update",
            Self::ToTimeline(_) => timeline::NAME,
            Self::Button(_) => "this button",
            Self::Dialog(_) => "this dialog",
        }
    }

    /// Who sent it.
    pub fn caller(&self) -> &Caller {
        match self {
            Self::Declare(r) => &r.caller,
            Self::PlanChoices(r) => &r.caller,
            Self::Update(r) => &r.caller,
            Self::IncidentChoices(r) => &r.caller,
            Self::ToTimeline(r) => &r.caller,
            Self::Button(r) => &r.caller,
            Self::Dialog(r) => &r.caller,
        }
    }

    /// The tracing span the interaction is handled in.
    pub fn span(&self, interaction: u64) -> Span {
        let c = self.caller();
        let (guild, channel, user) = (c.guild_id, c.channel_id, c.user_id);
        match self {
            Self::Declare(_) => info_span!("declare", interaction, guild, channel, user),
            Self::Update(_) => info_span!("update", interaction, guild, channel, user),
            Self::Button(_) => info_span!("button", interaction, guild, channel, user),
            Self::Dialog(_) => info_span!("dialog", interaction, guild, channel, user),
            Self::ToTimeline(_) => info_span!("to_timeline", interaction, guild, channel, user),
            Self::PlanChoices(_) | Self::IncidentChoices(_) => info_span!("autocomplete", interaction, user),
        }
    }

    /// Handles the interaction to the end: the family's future, boxed, so
    /// that the task holds the one that runs and not room for the largest
    /// (a declaration may wait long for its permit to AWS, in a burst).
    pub fn run<'a>(self, svc: &'a Services, r: &'a Responder) -> BoxFuture<'a, ()> {
        match self {
            Self::Declare(req) => Box::pin(incident::run(svc, req, r)),
            Self::PlanChoices(req) => Box::pin(async move { incident::choices(svc, &req, r).await }),
            Self::Update(req) => Box::pin(update::run(svc, *req, r)),
            Self::IncidentChoices(req) => Box::pin(async move { update::choices(svc, &req, r).await }),
            Self::ToTimeline(req) => Box::pin(timeline::run(svc, *req, r)),
            Self::Button(req) => Box::pin(buttons::run(svc, *req, r)),
            Self::Dialog(req) => Box::pin(dialogs::run(svc, *req, r)),
        }
    }
}
