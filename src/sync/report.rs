//! What the mirror says in the thread: one compact line per change (when,
//! who, what), and the post-incident summary. Pure functions.

use std::fmt::Write as _;

use crate::discord::format::{escape_code, escape_markdown, limits};
use crate::domain::text::truncate;
use crate::domain::timeline::RECORD_UPDATE;
use crate::domain::{Impact, IncidentRecord, ListedItem, Status, TimelineEvent};
use crate::store::Checkpoint;

/// A principal ARN as people say it: `role/session` or `user/name`.
pub fn principal(arn: &str) -> String {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or(arn);
    let short = resource.strip_prefix("assumed-role/").unwrap_or(resource);
    if short.is_empty() { "someone".to_owned() } else { format!("`{}`", escape_code(&truncate(short, 80))) }
}

fn impact_text(impact: i32) -> String {
    Impact::new(i64::from(impact)).map_or_else(|_| impact.to_string(), |i| i.to_string())
}

/// `<t:…:t>`, Discord's own rendering of a time in each reader's zone.
fn when(ms: i64) -> String {
    format!("<t:{}:t>", ms.div_euclid(1000))
}

/// The lines for what changed between what was shown (`before`) and the
/// record now.
pub fn record_changes(before: &Checkpoint, now: &IncidentRecord, at_ms: i64) -> Vec<String> {
    let who = principal(&now.last_modified_by);
    let mut lines = Vec::new();
    if before.status != now.status {
        let what = match now.status {
            Status::Resolved => "✅ resolved the incident",
            Status::Open => "🔁 reopened the incident",
        };
        lines.push(format!("{} · {who} {what} in Incident Manager", when(at_ms)));
    }
    if before.impact != now.impact {
        lines.push(format!(
            "{} · {who} changed the impact: {} → **{}**",
            when(at_ms),
            impact_text(before.impact),
            impact_text(now.impact)
        ));
    }
    if before.title != now.title {
        lines.push(format!(
            "{} · {who} renamed the incident: “{}” → “{}”",
            when(at_ms),
            escape_markdown(&truncate(&before.title, 200)),
            escape_markdown(&truncate(&now.title, 200))
        ));
    }
    lines
}

/// The line for a timeline event written elsewhere.
pub fn event_line(e: &TimelineEvent) -> String {
    let text = truncate(&e.text(), 1500);
    truncate(
        &format!("{} · 🗒 **{}**: {}", when(e.time_ms), escape_markdown(&e.kind), escape_markdown(&text)),
        limits::CONTENT,
    )
}

/// The line for a related item added elsewhere.
pub fn item_line(item: &ListedItem, at_ms: i64) -> String {
    let title = if item.title.is_empty() { item.value.clone() } else { item.title.clone() };
    let target = if item.value.starts_with("http") {
        format!("[{}](<{}>)", escape_markdown(&truncate(&title, 100)), item.value)
    } else {
        format!("{} `{}`", escape_markdown(&truncate(&title, 100)), escape_code(&truncate(&item.value, 300)))
    };
    format!("{} · 🔗 related item added: {target}", when(at_ms))
}

/// How long, for people: `1 h 23 min`, `12 min`, `40 s`.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// The post-incident summary: a short message for the thread and the same
/// in full as Markdown (for a review document).
pub fn summary(
    record: &IncidentRecord,
    checkpoint: &Checkpoint,
    timeline: &[TimelineEvent],
    items: &[ListedItem],
) -> (String, String) {
    let resolved = record.resolved_ms.unwrap_or(record.created_ms);
    let took = duration(resolved - record.created_ms);
    let impacts: Vec<String> = checkpoint.impact_history.iter().map(|(_, i)| impact_text(*i)).collect();
    let people: Vec<&str> = checkpoint.participants.iter().map(String::as_str).collect();
    let short = truncate(
        &format!(
            "📋 **Post-incident summary** · {}\nDuration: {took} (<t:{}:f> → <t:{}:f>)\nImpact: {}\nTimeline: {} \
             events · Related items: {}\nTook part: {}\nThe full summary is attached (Markdown, for the review).",
            escape_markdown(&truncate(&record.title, 200)),
            record.created_ms / 1000,
            resolved / 1000,
            if impacts.is_empty() { impact_text(record.impact) } else { impacts.join(" → ") },
            timeline.len(),
            items.len(),
            if people.is_empty() { "—".to_owned() } else { people.join(", ") },
        ),
        limits::CONTENT,
    );
    let mut md = String::new();
    let _ = writeln!(md, "# Post-incident summary: {}\n", record.title);
    let _ = writeln!(md, "- Incident record: `{}`", record.arn);
    let _ = writeln!(md, "- Started: {}", iso(record.created_ms));
    let _ = writeln!(md, "- Resolved: {}", iso(resolved));
    let _ = writeln!(md, "- Duration: {took}");
    let _ =
        writeln!(md, "- Impact: {}", if impacts.is_empty() { impact_text(record.impact) } else { impacts.join(" → ") });
    let _ = writeln!(md, "- Took part: {}\n", if people.is_empty() { "—".to_owned() } else { people.join(", ") });
    let _ = writeln!(md, "## Timeline\n");
    for e in timeline {
        let text = if e.kind == RECORD_UPDATE { record_update(e) } else { e.text() };
        let _ = writeln!(md, "- {} · **{}**: {}", iso(e.time_ms), e.kind, text.replace('\n', " "));
    }
    let _ = writeln!(md, "\n## Related items\n");
    for i in items {
        let _ = writeln!(md, "- {}: {}", if i.title.is_empty() { &i.kind } else { &i.title }, i.value);
    }
    (short, md)
}

/// Incident Manager's own record-update event, for people.
fn record_update(e: &TimelineEvent) -> String {
    let by = serde_json::from_str::<serde_json::Value>(&e.data)
        .ok()
        .and_then(|v| v["modifiedBy"].as_str().map(principal))
        .unwrap_or_else(|| "someone".to_owned());
    format!("record updated by {by}")
}

/// `2024-01-01 12:00:00 UTC`.
fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rest / 3600, (rest % 3600) / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::IncidentArn;

    fn record(status: Status, impact: i32, title: &str) -> IncidentRecord {
        IncidentRecord {
            arn: IncidentArn::parse("arn:aws:ssm-incidents::111122223333:incident-record/P/x").unwrap(),
            title: title.into(),
            impact,
            status,
            created_ms: 1_704_067_200_000,
            resolved_ms: Some(1_704_067_200_000 + 83 * 60_000),
            last_modified_by: "arn:aws:sts::111122223333:assumed-role/OnCall/alice".into(),
        }
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            events_after_ms: 0,
            title: "Checkout".into(),
            impact: 2,
            status: Status::Open,
            created_ms: 1_704_067_200_000,
            resolved_ms: None,
            impact_history: vec![(0, 2), (1, 1)],
            participants: ["<@1>".to_owned(), "`OnCall/alice`".to_owned()].into(),
            summary_posted: false,
            archive_at_ms: None,
        }
    }

    #[test]
    fn each_change_is_one_line_naming_who() {
        let lines = record_changes(&checkpoint(), &record(Status::Resolved, 1, "Checkout down"), 1_704_067_260_000);
        assert_eq!(
            lines,
            [
                "<t:1704067260:t> · `OnCall/alice` ✅ resolved the incident in Incident Manager",
                "<t:1704067260:t> · `OnCall/alice` changed the impact: 2 · High → **1 · Critical**",
                "<t:1704067260:t> · `OnCall/alice` renamed the incident: “Checkout” → “Checkout down”",
            ]
        );
        assert!(record_changes(&checkpoint(), &record(Status::Open, 2, "Checkout"), 0).is_empty());
        assert_eq!(principal("arn:aws:iam::111122223333:user/bob"), "`user/bob`");
    }

    #[test]
    fn the_summary_tells_the_incident() {
        let e = TimelineEvent {
            id: "1".into(),
            time_ms: 1_704_067_260_000,
            kind: "Custom Event".into(),
            data: "\"Rolled back\"".into(),
        };
        let item = ListedItem {
            kind: "OTHER".into(),
            value: "https://grafana.example.com/d/1".into(),
            title: "Dashboard".into(),
        };
        let (short, md) = summary(&record(Status::Resolved, 1, "Checkout down"), &checkpoint(), &[e], &[item]);
        assert!(short.contains("Duration: 1 h 23 min"), "{short}");
        assert!(short.contains("Impact: 2 · High → 1 · Critical"), "{short}");
        assert!(short.contains("Took part: <@1>, `OnCall/alice`"), "{short}");
        assert!(md.starts_with("# Post-incident summary: Checkout down\n"), "{md}");
        assert!(md.contains("- Started: 2024-01-01 00:00:00 UTC"), "{md}");
        assert!(md.contains("- 2024-01-01 00:01:00 UTC · **Custom Event**: Rolled back"), "{md}");
        assert!(md.contains("- Dashboard: https://grafana.example.com/d/1"), "{md}");
    }
}
