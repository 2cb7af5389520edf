//! What Incident Manager keeps about an incident as it moves, as the mirror
//! reads it: the record, its timeline and its related items.

use super::incident::IncidentArn;

/// The event type Incident Manager writes on its own when a record changes
/// (status, title, impact, ...).
pub const RECORD_UPDATE: &str = "SSM Incident Record Update";
/// The event type of events people and integrations write.
pub const CUSTOM_EVENT: &str = "Custom Event";

/// An incident record's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Status {
    Open,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Resolved => "RESOLVED",
        }
    }
}

/// An incident record (`GetIncidentRecord`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRecord {
    pub arn: IncidentArn,
    pub title: String,
    pub impact: i32,
    pub status: Status,
    /// Unix milliseconds.
    pub created_ms: i64,
    pub resolved_ms: Option<i64>,
    /// The principal that made the last change, as AWS reports it.
    pub last_modified_by: String,
}

/// A timeline event as `ListTimelineEvents` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    pub id: String,
    /// Unix milliseconds.
    pub time_ms: i64,
    pub kind: String,
}

/// A timeline event with its data (`GetTimelineEvent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEvent {
    pub id: String,
    pub time_ms: i64,
    pub kind: String,
    /// As stored: often a JSON string (`"\"Incident Started\""`), sometimes
    /// a JSON object (automation, engagements), sometimes plain text.
    pub data: String,
}

impl TimelineEvent {
    /// The event's text for people: a JSON string decoded, anything else as
    /// it is.
    pub fn text(&self) -> String {
        match serde_json::from_str::<serde_json::Value>(&self.data) {
            Ok(serde_json::Value::String(s)) => s,
            Ok(serde_json::Value::Object(o)) => o
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect::<Vec<_>>()
                .join(", "),
            _ => self.data.clone(),
        }
    }
}

/// A related item as `ListRelatedItems` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedItem {
    /// The model's `ItemType` (`OTHER`, `METRIC`, ...).
    pub kind: String,
    /// The URL, ARN or metric definition.
    pub value: String,
    pub title: String,
}

impl ListedItem {
    /// The Discord channel or thread a related item links to
    /// (`https://discord.com/channels/GUILD/CHANNEL`), if it does.
    pub fn discord_channel(&self) -> Option<(u64, u64)> {
        let rest = self.value.strip_prefix("https://discord.com/channels/")?;
        let mut parts = rest.trim_end_matches('/').split('/');
        let guild = parts.next()?.parse().ok()?;
        let channel = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some((guild, channel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_text_for_people() {
        let e = |data: &str| TimelineEvent { id: "e".into(), time_ms: 0, kind: CUSTOM_EVENT.into(), data: data.into() };
        assert_eq!(e("\"Incident Started\"").text(), "Incident Started");
        assert_eq!(
            e(r#"{"contact":"oncall","status":"ACKNOWLEDGED"}"#).text(),
            "contact: oncall, status: ACKNOWLEDGED"
        );
        assert_eq!(e("plain").text(), "plain");
    }

    #[test]
    fn discord_links_are_recognised() {
        let item = |v: &str| ListedItem { kind: "OTHER".into(), value: v.into(), title: String::new() };
        assert_eq!(item("https://discord.com/channels/1/2").discord_channel(), Some((1, 2)));
        assert_eq!(item("https://discord.com/channels/1/2/3").discord_channel(), None, "a message, not a channel");
        assert_eq!(item("https://example.com/channels/1/2").discord_channel(), None);
    }
}
