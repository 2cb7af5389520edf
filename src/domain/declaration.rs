//! The domain request: everything StartIncident needs, validated.
//!
//! `Declaration::build` is the one place where what a responder typed, the
//! operator's configuration and where the command came from meet. If it
//! returns `Ok`, every field satisfies the service model; if it returns a
//! `Refusal`, nothing must be sent to AWS.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::impact::{Impact, ImpactError};
use super::links::{LinkError, MAX_RELATED_ITEMS, RelatedItem, parse_links};
use super::plans::{PlanCatalog, PlanError, ResolvedPlan};
use super::text::{IncidentTitle, TitleError, truncate};
use super::token::ClientToken;

/// Milliseconds from the Unix epoch to Discord's epoch (2015-01-01).
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
/// Longest `triggerDetails.source` (`IncidentSource`, `max: 50`).
pub const MAX_SOURCE_LEN: usize = 50;

/// The `/incident` options as typed, before any checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclareInput {
    pub plan: Option<String>,
    pub impact: Option<i64>,
    pub title: Option<String>,
    pub links: Option<String>,
}

/// Where and by whom a declaration was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub interaction_id: u64,
    pub guild_id: Option<u64>,
    pub channel_id: u64,
    /// The channel's name when Discord sent it with the interaction.
    pub channel_name: Option<String>,
    pub user_id: u64,
    pub user_name: String,
}

impl Origin {
    /// When the interaction was created, from its snowflake id.
    pub fn created_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis((self.interaction_id >> 22) + DISCORD_EPOCH_MS)
    }

    /// A link that opens the channel in Discord.
    pub fn channel_url(&self) -> String {
        match self.guild_id {
            Some(g) => format!("https://discord.com/channels/{g}/{}", self.channel_id),
            None => format!("https://discord.com/channels/@me/{}", self.channel_id),
        }
    }

    /// `Discord #name`, or `Discord channel ID` when the name is unknown.
    pub fn channel_title(&self) -> String {
        match &self.channel_name {
            Some(name) => truncate(&format!("Discord #{name}"), 200),
            None => format!("Discord channel {}", self.channel_id),
        }
    }

    /// The idempotency token: one interaction can start at most one incident.
    pub fn client_token(&self) -> ClientToken {
        ClientToken::for_interaction(self.interaction_id)
    }
}

/// The `triggerDetails.source`: at most 50 characters, not starting `aws.`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct IncidentSource(String);

/// Why a source was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("must not be empty")]
    Empty,
    #[error("is {0} characters long; Incident Manager allows at most {MAX_SOURCE_LEN}")]
    TooLong(usize),
    #[error("must not start with `aws.` (reserved for events from AWS services)")]
    Reserved,
}

impl IncidentSource {
    /// Checks the model's limits and the `aws.` reservation.
    pub fn parse(s: &str) -> Result<Self, SourceError> {
        let len = super::text::service_len(s);
        if s.trim().is_empty() {
            Err(SourceError::Empty)
        } else if len > MAX_SOURCE_LEN {
            Err(SourceError::TooLong(len))
        } else if s.to_ascii_lowercase().starts_with("aws.") {
            Err(SourceError::Reserved)
        } else {
            Ok(Self(s.to_owned()))
        }
    }

    /// The source as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for IncidentSource {
    fn default() -> Self {
        Self("discord.incident-bot".to_owned())
    }
}

impl TryFrom<String> for IncidentSource {
    type Error = SourceError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

/// `triggerDetails` of StartIncident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub source: IncidentSource,
    pub timestamp: SystemTime,
    /// Compact JSON naming guild, channel, user and interaction.
    pub raw_data: String,
}

/// A validated StartIncident request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    pub plan: ResolvedPlan,
    pub impact: Option<Impact>,
    pub title: Option<IncidentTitle>,
    /// The links first, in the order given, then the Discord channel.
    pub related_items: Vec<RelatedItem>,
    pub trigger: Trigger,
    pub client_token: ClientToken,
    pub origin: Origin,
}

/// Why a declaration was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Impact(#[from] ImpactError),
    #[error(transparent)]
    Title(#[from] TitleError),
    #[error(transparent)]
    Link(#[from] LinkError),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RawData<'a> {
    guild_id: Option<String>,
    channel_id: String,
    user_id: String,
    user_name: &'a str,
    interaction_id: String,
}

type Checked = (ResolvedPlan, Option<Impact>, Option<IncidentTitle>, Vec<RelatedItem>);

/// The checks both kinds of declaration share: plan, impact, title, and at
/// most `max_links` related items from the links.
fn checked(input: &DeclareInput, plans: &PlanCatalog, max_links: usize) -> Result<Checked, Refusal> {
    let plan = plans.resolve(input.plan.as_deref())?;
    let impact = input.impact.map(Impact::new).transpose()?;
    let title = input.title.as_deref().map(IncidentTitle::parse).transpose()?;
    let related_items = parse_links(input.links.as_deref().unwrap_or_default(), max_links)?;
    Ok((plan, impact, title, related_items))
}

impl Declaration {
    /// Checks and resolves everything; see the module doc.
    pub fn build(
        input: &DeclareInput,
        plans: &PlanCatalog,
        source: &IncidentSource,
        origin: Origin,
    ) -> Result<Self, Refusal> {
        // One slot of the service's 100 is the channel link.
        let (plan, impact, title, mut related_items) = checked(input, plans, MAX_RELATED_ITEMS - 1)?;
        let channel = RelatedItem::url(origin.channel_url(), origin.channel_title());
        if !related_items.iter().any(|i| i.same_target(&channel)) {
            related_items.push(channel);
        }
        let raw_data = serde_json::to_string(&RawData {
            guild_id: origin.guild_id.map(|g| g.to_string()),
            channel_id: origin.channel_id.to_string(),
            user_id: origin.user_id.to_string(),
            user_name: &origin.user_name,
            interaction_id: origin.interaction_id.to_string(),
        })
        .unwrap_or_default();
        Ok(Self {
            plan,
            impact,
            title,
            related_items,
            trigger: Trigger { source: source.clone(), timestamp: origin.created_at(), raw_data },
            client_token: origin.client_token(),
            origin,
        })
    }
}

impl Declaration {
    /// A declaration typed in a terminal (`incident-bot declare`): no
    /// Discord channel item; `rawData` names the command and the user; a
    /// fresh client token, so each run is a new incident.
    pub fn from_terminal(
        input: &DeclareInput,
        plans: &PlanCatalog,
        source: &IncidentSource,
        user: &str,
        now: SystemTime,
    ) -> Result<Self, Refusal> {
        let (plan, impact, title, related_items) = checked(input, plans, MAX_RELATED_ITEMS)?;
        let nanos = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let raw_data =
            serde_json::json!({"declaredWith": "incident-bot declare", "user": truncate(user, 200)}).to_string();
        Ok(Self {
            plan,
            impact,
            title,
            related_items,
            trigger: Trigger { source: source.clone(), timestamp: now, raw_data },
            client_token: ClientToken::for_terminal(std::process::id(), nanos),
            origin: Origin {
                interaction_id: 0,
                guild_id: None,
                channel_id: 0,
                channel_name: None,
                user_id: 0,
                user_name: user.to_owned(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::arn::ResponsePlanArn;

    fn origin() -> Origin {
        Origin {
            // 2024-01-01T00:00:00.000Z as a snowflake.
            interaction_id: (1_704_067_200_000 - DISCORD_EPOCH_MS) << 22,
            guild_id: Some(10),
            channel_id: 20,
            channel_name: Some("ops".into()),
            user_id: 30,
            user_name: "alice".into(),
        }
    }

    fn plans() -> PlanCatalog {
        let arn = ResponsePlanArn::parse("arn:aws:ssm-incidents::111122223333:response-plan/Payments").unwrap();
        PlanCatalog::new(BTreeMap::from([("payments".to_owned(), arn)]), None).unwrap()
    }

    #[test]
    fn builds_the_full_request() {
        let input = DeclareInput {
            plan: Some("payments".into()),
            impact: Some(2),
            title: Some("Checkout failing".into()),
            links: Some("https://example.com/dash".into()),
        };
        let d = Declaration::build(&input, &plans(), &IncidentSource::default(), origin()).unwrap();
        assert_eq!(d.plan.label, "payments");
        assert_eq!(d.impact.unwrap().value(), 2);
        assert_eq!(d.related_items.len(), 2);
        assert_eq!(d.related_items[1].value(), "https://discord.com/channels/10/20");
        assert_eq!(d.related_items[1].title, "Discord #ops");
        assert_eq!(d.trigger.timestamp, UNIX_EPOCH + Duration::from_millis(1_704_067_200_000));
        assert_eq!(
            d.trigger.raw_data,
            format!(
                r#"{{"guildId":"10","channelId":"20","userId":"30","userName":"alice","interactionId":"{}"}}"#,
                origin().interaction_id
            )
        );
        assert_eq!(d.client_token.as_str(), format!("discord-interaction-{}", origin().interaction_id));
    }

    #[test]
    fn optional_fields_stay_absent() {
        let input = DeclareInput { plan: Some("payments".into()), ..DeclareInput::default() };
        let d = Declaration::build(&input, &plans(), &IncidentSource::default(), origin()).unwrap();
        assert!(d.impact.is_none() && d.title.is_none());
        assert_eq!(d.related_items.len(), 1);
    }

    #[test]
    fn ninety_nine_links_fit_beside_the_channel() {
        let links: Vec<String> = (0..100).map(|i| format!("https://example.com/{i}")).collect();
        let mut input = DeclareInput { plan: Some("payments".into()), ..DeclareInput::default() };
        input.links = Some(links[..99].join(" "));
        let d = Declaration::build(&input, &plans(), &IncidentSource::default(), origin()).unwrap();
        assert_eq!(d.related_items.len(), 100);
        input.links = Some(links.join(" "));
        assert!(matches!(
            Declaration::build(&input, &plans(), &IncidentSource::default(), origin()),
            Err(Refusal::Link(_))
        ));
    }

    #[test]
    fn sources() {
        assert!(IncidentSource::parse("discord.incident-bot").is_ok());
        assert_eq!(IncidentSource::parse("aws.fake"), Err(SourceError::Reserved));
        assert_eq!(IncidentSource::parse("AWS.fake"), Err(SourceError::Reserved));
        assert_eq!(IncidentSource::parse(&"s".repeat(51)), Err(SourceError::TooLong(51)));
        assert_eq!(IncidentSource::parse(""), Err(SourceError::Empty));
    }
}
