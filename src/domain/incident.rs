//! Incident records: their ARN, what the bot knows of an open one, and the
//! changes it can make to one.

use std::fmt;

use super::arn::{Arn, ArnError};
use super::impact::Impact;
use super::text::IncidentTitle;

/// An incident record ARN:
/// `arn:aws:ssm-incidents::111122223333:incident-record/PLAN/ID`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IncidentArn(Arn);

impl IncidentArn {
    /// Parses an incident record ARN; any other valid ARN is refused.
    pub fn parse(s: &str) -> Result<Self, ArnError> {
        let arn = Arn::parse(s)?;
        let parts = arn.resource().strip_prefix("incident-record/").map(|r| r.split('/').collect::<Vec<_>>());
        match parts {
            Some(p) if arn.service() == "ssm-incidents" && p.len() >= 2 && p.iter().all(|s| !s.is_empty()) => {
                Ok(Self(arn))
            }
            _ => Err(ArnError::NotIncidentRecord),
        }
    }

    /// The first incident record ARN in `text`, as the bot writes one into a
    /// message: in backticks or a code block, or on a line of its own.
    pub fn find_in(text: &str) -> Option<Self> {
        text.split(['`', '\n', ' ']).find_map(|p| Self::parse(p.trim()).ok())
    }

    /// The ARN as sent to the service.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// `aws`, `aws-cn` or `aws-us-gov`.
    pub fn partition(&self) -> &str {
        self.0.partition()
    }

    /// The response plan's name, the part after `incident-record/`.
    pub fn plan_name(&self) -> &str {
        self.0.resource().trim_start_matches("incident-record/").split('/').next().unwrap_or_default()
    }

    /// The record's id, the last part of the ARN.
    pub fn id(&self) -> &str {
        self.0.resource().rsplit('/').next().unwrap_or_default()
    }
}

impl fmt::Display for IncidentArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An open incident as `ListIncidentRecords` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentSummary {
    pub arn: IncidentArn,
    pub title: String,
    pub impact: i32,
    /// Seconds since the Unix epoch.
    pub created: i64,
}

/// Changes to an incident record (`UpdateIncidentRecord`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordChange {
    pub title: Option<IncidentTitle>,
    pub impact: Option<Impact>,
    pub resolve: bool,
}

impl RecordChange {
    /// Whether the change changes nothing.
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.impact.is_none() && !self.resolve
    }
}

/// Unix seconds now.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// The incidents of `open` on response plan `plan` created at or after
/// `since` (Unix seconds), other than `except`: at most 5, as `open` orders
/// them (newest first).
pub fn recent_of_plan(open: &[IncidentSummary], plan: &str, except: &IncidentArn, since: i64) -> Vec<IncidentSummary> {
    open.iter()
        .filter(|i| &i.arn != except && i.created >= since && i.arn.plan_name() == plan)
        .take(5)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:ssm-incidents::111122223333:incident-record/Payments/6cc8a1b2";

    #[test]
    fn parses_incident_record_arns_only() {
        let arn = IncidentArn::parse(ARN).unwrap();
        assert_eq!((arn.plan_name(), arn.id(), arn.partition()), ("Payments", "6cc8a1b2", "aws"));
        for bad in [
            "arn:aws:ssm-incidents::111122223333:response-plan/Payments",
            "arn:aws:ssm-incidents::111122223333:incident-record/Payments",
            "arn:aws:ssm-incidents::111122223333:incident-record//x",
            "arn:aws:lambda:us-east-1:111122223333:incident-record/P/1",
        ] {
            assert_eq!(IncidentArn::parse(bad), Err(ArnError::NotIncidentRecord), "{bad}");
        }
    }

    #[test]
    fn finds_the_arn_in_what_the_bot_wrote() {
        for text in [format!("Resolve **x**?\n`{ARN}`"), format!("```\n{ARN}\n```"), ARN.to_owned()] {
            assert_eq!(IncidentArn::find_in(&text).unwrap().as_str(), ARN, "{text}");
        }
        assert!(IncidentArn::find_in("no arn here").is_none());
    }

    #[test]
    fn recent_incidents_of_a_plan() {
        let summary = |plan: &str, id: &str, created| IncidentSummary {
            arn: IncidentArn::parse(&format!("arn:aws:ssm-incidents::111122223333:incident-record/{plan}/{id}"))
                .unwrap(),
            title: id.into(),
            impact: 3,
            created,
        };
        let open =
            [summary("P", "new", 100), summary("P", "me", 100), summary("Q", "other", 100), summary("P", "old", 10)];
        let found = recent_of_plan(&open, "P", &open[1].arn, 50);
        assert_eq!(found.iter().map(|i| i.title.as_str()).collect::<Vec<_>>(), ["new"]);
    }
}
