//! What responders see in the channel: the declared-incident confirmation
//! and its buttons, the failure notice, the resolved confirmation, the
//! thread's first message. Pure functions over the domain; the field names
//! and markers they write are [`super::confirmation`]'s protocol.

use serenity::all::{
    ButtonStyle, Colour, CreateActionRow, CreateButton, CreateEmbed, CreateEmbedFooter, Embed, EmbedField, Timestamp,
};

use super::confirmation::{Action, OPEN_MARK, RESOLVED_MARK, UNTITLED, field};
use super::format::{escape_code, escape_markdown, fit_lines, item_line, limits};
use crate::backend::{AwsError, ErrorKind};
use crate::domain::text::truncate;
use crate::domain::{Declaration, IncidentArn, IncidentSummary};
use crate::messages;

/// What the confirmation shows beyond the declaration itself.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// Open incidents of the same plan, started recently.
    pub duplicates: Vec<IncidentSummary>,
    /// The incident's thread: its id, or why it could not be created.
    pub thread: Option<Result<u64, String>>,
}

/// The Incident Manager console of `region`, in `partition`.
pub fn console_url(region: Option<&str>, partition: &str) -> String {
    let domain = match partition {
        "aws-cn" => "console.amazonaws.cn",
        "aws-us-gov" => "console.amazonaws-us-gov.com",
        _ => "console.aws.amazon.com",
    };
    match region {
        Some(r) => format!("https://{r}.{domain}/systems-manager/incidents/home?region={r}"),
        None => format!("https://{domain}/systems-manager/incidents/home"),
    }
}

/// The confirmation's buttons: act on the incident, or open the console.
pub fn confirmation_buttons(console: &str, resolved: bool) -> Vec<CreateActionRow> {
    let button =
        |a: Action, label: &str, style| CreateButton::new(a.custom_id()).label(label).style(style).disabled(resolved);
    vec![CreateActionRow::Buttons(vec![
        button(Action::AddLink, "Add link", ButtonStyle::Secondary),
        button(Action::AddNote, "Add note", ButtonStyle::Secondary),
        button(Action::Update, "Update", ButtonStyle::Primary),
        button(Action::Resolve, "Resolve", ButtonStyle::Danger),
        CreateButton::new_link(console).label("Open in console"),
    ])]
}

/// The embed that replaces the deferred response once the incident exists.
pub fn declared(d: &Declaration, arn: &IncidentArn, region: Option<&str>, extras: &Extras) -> CreateEmbed {
    let title = match &d.title {
        Some(t) => format!("{OPEN_MARK}{t}"),
        None => format!("{OPEN_MARK}{UNTITLED}{})", d.plan.label),
    };
    let console = console_url(region, arn.partition());
    let impact = d.impact.map_or_else(|| "Response plan's default".to_owned(), |i| i.to_string());
    let related: Vec<String> = d.related_items.iter().map(item_line).collect();
    let mut fields = vec![
        (field::IMPACT, impact, true),
        (field::PLAN, format!("`{}`", escape_code(&d.plan.label)), true),
        (field::DECLARED_BY, format!("<@{}>", d.origin.user_id), true),
        (field::RELATED, fit_lines(&related, limits::FIELD_VALUE), false),
        (field::ARN, format!("```\n{}\n```", escape_code(arn.as_str())), false),
        (field::CONSOLE, format!("[Open the console]({console})"), false),
    ];
    if !extras.duplicates.is_empty() {
        let lines: Vec<String> = extras
            .duplicates
            .iter()
            .map(|i| {
                format!("• {} (started <t:{}:R>) `{}`", escape_markdown(&truncate(&i.title, 80)), i.created, i.arn)
            })
            .collect();
        fields.push((field::DUPLICATES, fit_lines(&lines, limits::FIELD_VALUE), false));
    }
    match &extras.thread {
        Some(Ok(id)) => fields.push((field::THREAD, format!("<#{id}>"), false)),
        Some(Err(why)) => fields.push((field::THREAD, format!("Not created: {why}"), false)),
        None => {}
    }
    embed(&title, "", d, fields, colour_for(d.impact.map(crate::domain::Impact::value))).url(console).footer(
        CreateEmbedFooter::new(truncate(
            &format!("Declared with /incident · {}", region.unwrap_or("AWS")),
            limits::FOOTER,
        )),
    )
}

/// The embed that replaces the deferred response when AWS refused or failed.
pub fn failed(e: &AwsError, d: &Declaration, region: Option<&str>) -> CreateEmbed {
    let title = match e.kind {
        ErrorKind::NoAnswer => "⚠️ Declaration outcome unknown",
        _ => "⚠️ Incident not declared",
    };
    let plan = escape_code(&d.plan.label);
    let fields = [(field::PLAN, format!("`{plan}`"), true), ("Requested by", format!("<@{}>", d.origin.user_id), true)];
    let message = messages::declaration_failed(e, &plan, d.plan.arn.as_str(), region, "/incident");
    embed(title, &message, d, fields, grey())
}

/// [`messages::internal_error`] as an embed, for a reply that was already
/// deferred; `declaring` when it was a declaration.
pub fn internal_error(declaring: bool) -> CreateEmbed {
    CreateEmbed::new()
        .title(if declaring { "⚠️ Declaration outcome unknown" } else { "⚠️ Outcome unknown" })
        .description(messages::internal_error())
        .colour(grey())
}

fn grey() -> Colour {
    Colour::from_rgb(0x99, 0xaa, 0xb5)
}

fn embed(
    title: &str,
    description: &str,
    d: &Declaration,
    fields: impl IntoIterator<Item = (&'static str, String, bool)>,
    colour: Colour,
) -> CreateEmbed {
    let mut e = CreateEmbed::new().title(truncate(title, limits::EMBED_TITLE)).colour(colour);
    if !description.is_empty() {
        e = e.description(truncate(description, limits::EMBED_DESCRIPTION));
    }
    for (name, value, inline) in fields {
        e = e.field(truncate(name, limits::FIELD_NAME), truncate(&value, limits::FIELD_VALUE), inline);
    }
    let at = d.trigger.timestamp.duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.as_secs());
    if let Ok(ts) = Timestamp::from_unix_timestamp(i64::try_from(at).unwrap_or(0)) {
        e = e.timestamp(ts);
    }
    e
}

/// A copy of `embed` with `change` applied to its fields (and title, colour).
pub fn rebuild(
    embed: &Embed,
    title: Option<&str>,
    colour: Option<Colour>,
    change: impl FnOnce(&mut Vec<EmbedField>),
) -> CreateEmbed {
    let mut fields = embed.fields.clone();
    change(&mut fields);
    let mut e = CreateEmbed::new();
    if let Some(t) = title.or(embed.title.as_deref()) {
        e = e.title(truncate(t, limits::EMBED_TITLE));
    }
    if let Some(d) = &embed.description {
        e = e.description(d.clone());
    }
    if let Some(u) = &embed.url {
        e = e.url(u.clone());
    }
    if let Some(c) = colour.or(embed.colour) {
        e = e.colour(c);
    }
    if let Some(ts) = embed.timestamp {
        e = e.timestamp(ts);
    }
    if let Some(f) = &embed.footer {
        e = e.footer(CreateEmbedFooter::new(f.text.clone()));
    }
    for f in fields.into_iter().take(25) {
        e = e.field(truncate(&f.name, limits::FIELD_NAME), truncate(&f.value, limits::FIELD_VALUE), f.inline);
    }
    e
}

/// Sets field `name` to `value`, adding it at the end if missing.
pub fn set_field(fields: &mut Vec<EmbedField>, name: &str, value: String, inline: bool) {
    match fields.iter_mut().find(|f| f.name == name) {
        Some(f) => f.value = value,
        None => fields.push(EmbedField::new(name, value, inline)),
    }
}

/// The confirmation turned into a resolved one.
pub fn resolved(embed: &Embed, title: &str, by: u64, at_unix: i64) -> CreateEmbed {
    let title = format!("{RESOLVED_MARK}{title}");
    rebuild(embed, Some(&title), Some(Colour::from_rgb(0x2e, 0xa0, 0x43)), |f| {
        set_field(f, field::STATUS, format!("Resolved by <@{by}> <t:{at_unix}:f>"), false);
    })
}

/// The confirmation with a new title and/or impact.
pub fn updated(embed: &Embed, change: &crate::domain::RecordChange) -> CreateEmbed {
    let title = change.title.as_ref().map(|t| format!("{OPEN_MARK}{t}"));
    rebuild(embed, title.as_deref(), change.impact.map(|i| colour_for(Some(i.value()))), |f| {
        if let Some(i) = change.impact {
            set_field(f, field::IMPACT, i.to_string(), true);
        }
    })
}

/// The confirmation as the record is now (title, impact, status), changed
/// in Incident Manager by `who`.
pub fn current(embed: &Embed, r: &crate::domain::IncidentRecord, who: &str) -> CreateEmbed {
    let resolved = r.status == crate::domain::Status::Resolved;
    let mark = if resolved { RESOLVED_MARK } else { OPEN_MARK };
    let title = format!("{mark}{}", r.title);
    let impact = crate::domain::Impact::new(i64::from(r.impact)).ok();
    let colour = if resolved {
        Colour::from_rgb(0x2e, 0xa0, 0x43)
    } else {
        colour_for(impact.map(crate::domain::Impact::value))
    };
    rebuild(embed, Some(&title), Some(colour), |f| {
        if let Some(i) = impact {
            set_field(f, field::IMPACT, i.to_string(), true);
        }
        if resolved {
            if !f.iter().any(|f| f.name == field::STATUS) {
                let at = r.resolved_ms.unwrap_or(0) / 1000;
                set_field(f, field::STATUS, format!("Resolved in Incident Manager by {who} <t:{at}:f>"), false);
            }
        } else {
            f.retain(|f| f.name != field::STATUS);
        }
    })
}

/// The first message in an incident's thread.
pub fn thread_opening(d: &Declaration, arn: &IncidentArn) -> String {
    let impact = d.impact.map_or_else(|| "the response plan's default".to_owned(), |i| i.to_string());
    truncate(
        &format!(
            "🚨 **Incident declared** by <@{}>\nResponse plan: `{}` · Impact: {impact}\nIncident record: `{}`\n\
             Use this thread for the incident; the buttons on the message above add links and notes, update or resolve it.",
            d.origin.user_id,
            escape_code(&d.plan.label),
            escape_code(arn.as_str())
        ),
        limits::CONTENT,
    )
}

fn colour_for(impact: Option<u8>) -> Colour {
    match impact {
        Some(1) | None => Colour::from_rgb(0xd9, 0x1e, 0x18),
        Some(2) => Colour::from_rgb(0xf0, 0x6b, 0x00),
        Some(3) => Colour::from_rgb(0xf2, 0xc0, 0x00),
        Some(4) => Colour::from_rgb(0x2f, 0x80, 0xed),
        Some(_) => Colour::from_rgb(0x95, 0xa5, 0xa6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discord::confirmation::Confirmation;
    use crate::domain::DeclareInput;

    fn declaration(title: Option<&str>, impact: Option<i64>) -> Declaration {
        crate::testing::declaration(&DeclareInput {
            plan: Some("payments".into()),
            impact,
            title: title.map(str::to_owned),
            links: Some("https://example.com/a [Runbook](https://wiki.example.com/r)".into()),
        })
    }

    /// What Discord hands back: the embed as sent, read as a message's embed.
    fn as_received(e: CreateEmbed) -> Embed {
        serde_json::from_value(serde_json::to_value(e).unwrap()).unwrap()
    }

    fn arn() -> IncidentArn {
        IncidentArn::parse("arn:aws:ssm-incidents::111122223333:incident-record/Payments/6cc8").unwrap()
    }

    #[test]
    fn a_confirmation_reads_back_as_written() {
        let sent = as_received(declared(
            &declaration(Some("Checkout *down*"), Some(2)),
            &arn(),
            Some("eu-west-1"),
            &Extras::default(),
        ));
        let read = Confirmation::read(&sent).unwrap();
        assert_eq!(read.arn, arn());
        assert_eq!(read.title, "Checkout *down*");
        assert!(!read.untitled && !read.resolved);
        assert_eq!(read.impact.map(crate::domain::Impact::value), Some(2));

        let untitled = as_received(declared(&declaration(None, None), &arn(), None, &Extras::default()));
        let read = Confirmation::read(&untitled).unwrap();
        assert!(read.untitled);
        assert_eq!(read.impact, None);

        let done = as_received(resolved(&sent, "Checkout *down*", 3, 1_700_000_000));
        let read = Confirmation::read(&done).unwrap();
        assert!(read.resolved);
        assert_eq!(read.title, "Checkout *down*", "the marker is not part of the title");
    }

    #[test]
    fn an_update_shows_the_new_title_and_impact() {
        let sent = as_received(declared(&declaration(Some("Old"), Some(3)), &arn(), None, &Extras::default()));
        let change = crate::domain::RecordChange {
            title: Some(crate::domain::IncidentTitle::parse("New").unwrap()),
            impact: crate::domain::Impact::new(1).ok(),
            resolve: false,
        };
        let read = Confirmation::read(&as_received(updated(&sent, &change))).unwrap();
        assert_eq!((read.title.as_str(), read.impact.map(crate::domain::Impact::value)), ("New", Some(1)));
    }

    #[test]
    fn console_urls() {
        assert_eq!(
            console_url(Some("eu-west-1"), "aws"),
            "https://eu-west-1.console.aws.amazon.com/systems-manager/incidents/home?region=eu-west-1"
        );
        assert!(console_url(Some("cn-north-1"), "aws-cn").starts_with("https://cn-north-1.console.amazonaws.cn/"));
    }
}
