//! What the responder sees: refusals, the declared-incident embed and failure
//! notices. Pure functions; every text is cut to Discord's limits visibly
//! (with `…`) rather than rejected.

use serenity::all::{
    ButtonStyle, Colour, CreateActionRow, CreateButton, CreateEmbed, CreateEmbedFooter, Embed, EmbedField, Timestamp,
};

use crate::domain::access::Denied;
use crate::domain::declaration::Refusal;
use crate::domain::limits::{Limited, Scope};
use crate::domain::links::LinkProblem;
use crate::domain::plans::PlanError;
use crate::domain::text::{TitleError, truncate};
use crate::domain::{Declaration, ItemTarget};
use crate::incident_manager::{AwsError, IncidentSummary, Subject, console_url};

/// Discord's limits for message content and embeds.
pub mod limits {
    pub const CONTENT: usize = 2000;
    pub const EMBED_TITLE: usize = 256;
    pub const EMBED_DESCRIPTION: usize = 4096;
    pub const FIELD_NAME: usize = 256;
    pub const FIELD_VALUE: usize = 1024;
    pub const FOOTER: usize = 2048;
    pub const EMBED_TOTAL: usize = 6000;
}

/// Longest user-typed item quoted back in a refusal.
const QUOTE_LEN: usize = 120;

/// The private answer to input that cannot be declared.
pub fn refusal(r: &Refusal) -> String {
    let why = match r {
        Refusal::Plan(PlanError::Missing) => {
            "Choose a response plan in the `plan` option: no default plan is configured.".to_owned()
        }
        Refusal::Plan(PlanError::UnknownAlias { given, known }) if known.is_empty() => format!(
            "{} is not a response plan alias here, and none are configured: paste a full response plan ARN \
             (arn:aws:ssm-incidents::ACCOUNT:response-plan/NAME).",
            quote(given)
        ),
        Refusal::Plan(PlanError::UnknownAlias { given, known }) => format!(
            "{} is not a response plan here. Pick one of {}, or paste a full response plan ARN.",
            quote(given),
            known.iter().take(25).map(|k| quote(k)).collect::<Vec<_>>().join(", ")
        ),
        Refusal::Plan(PlanError::BadArn { given, reason }) => {
            format!("{} is not a response plan ARN: it {reason}.", quote(given))
        }
        Refusal::Impact(e) => format!("The {e}."),
        Refusal::Title(TitleError::Empty) => "The title is empty: give a title or leave the option out.".to_owned(),
        Refusal::Title(e @ TitleError::TooLong(_)) => format!("{}.", capitalise(&e.to_string())),
        Refusal::Link(e) => link_refusal(e),
    };
    truncate(&format!("⚠️ {why} Nothing was declared."), limits::CONTENT)
}

/// What is wrong with one link, naming it.
pub fn link_refusal(e: &crate::domain::links::LinkError) -> String {
    let fix = match e.problem {
        LinkProblem::TooMany(_) => " Remove some links and add them in Incident Manager later.",
        _ => "",
    };
    format!("Link {} {}.{fix}", quote(&e.item), e.problem)
}

/// `5 min`, `3 h`, `2 d`: how long ago, roughly.
pub fn age(secs: i64) -> String {
    match secs.max(0) {
        s if s < 90 => format!("{s} s"),
        s if s < 90 * 60 => format!("{} min", s / 60),
        s if s < 36 * 3600 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// The first message in an incident's thread.
pub fn thread_opening(d: &Declaration, arn: &str) -> String {
    let impact = d.impact.map_or_else(|| "the response plan's default".to_owned(), |i| i.to_string());
    truncate(
        &format!(
            "🚨 **Incident declared** by <@{}>\nResponse plan: `{}` · Impact: {impact}\nIncident record: `{}`\n\
             Use this thread for the incident; the buttons on the message above add links and notes, update or resolve it.",
            d.origin.user_id,
            escape_code(&d.plan.label),
            escape_code(arn)
        ),
        limits::CONTENT,
    )
}

/// The private answer to someone the `[access]` rules refuse.
pub fn denied(d: &Denied) -> String {
    let why = match d {
        Denied::DirectMessage => "`/incident` works in a server channel, not in direct messages.".to_owned(),
        Denied::Role { roles } if roles.is_empty() => {
            "You are not on the list of people who may declare incidents here. Ask a server admin.".to_owned()
        }
        Denied::Role { roles } => format!(
            "Declaring incidents here takes one of these roles: {}. Ask a server admin.",
            mentions("<@&", roles)
        ),
        Denied::Channel { channels } => {
            format!("`/incident` can only be used in {}.", mentions("<#", channels))
        }
    };
    truncate(&format!("⛔ {why} Nothing was declared."), limits::CONTENT)
}

/// The private answer to a declaration over the cooldown or rate limit.
pub fn limited(l: &Limited) -> String {
    let who = match l.scope {
        Scope::User => "You have",
        Scope::Guild => "This server has",
    };
    let secs = l.retry_after.as_secs() + u64::from(l.retry_after.subsec_nanos() > 0);
    format!(
        "⏳ {who} declared {} incidents in the last {}. Try again in {secs} s. Nothing was declared.",
        l.max,
        human_duration(l.window.as_secs())
    )
}

/// The private answer while the bot is shutting down.
pub fn shutting_down() -> String {
    "⏳ incident-bot is restarting. Run `/incident` again in a few seconds. Nothing was declared.".to_owned()
}

/// The private answer when handling failed inside the bot.
pub fn internal_error() -> String {
    "⚠️ incident-bot hit an internal error handling this command. Check the Incident Manager console before \
     retrying: the incident may have been declared. The bot's log has the details."
        .to_owned()
}

/// [`internal_error`] as an embed, for a reply that was already deferred.
pub fn internal_error_embed() -> CreateEmbed {
    CreateEmbed::new()
        .title("⚠️ Declaration outcome unknown")
        .description(internal_error())
        .colour(Colour::from_rgb(0x99, 0xaa, 0xb5))
}

fn mentions(prefix: &str, ids: &[u64]) -> String {
    let shown: Vec<String> = ids.iter().take(20).map(|id| format!("{prefix}{id}>")).collect();
    let more = ids.len().saturating_sub(shown.len());
    if more > 0 { format!("{} and {more} more", shown.join(", ")) } else { shown.join(", ") }
}

fn human_duration(secs: u64) -> String {
    match secs {
        60 => "minute".to_owned(),
        3600 => "hour".to_owned(),
        s if s % 3600 == 0 => format!("{} hours", s / 3600),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

/// Field names the confirmation uses; buttons read the incident back from them.
pub mod field {
    pub const IMPACT: &str = "Impact";
    pub const RELATED: &str = "Related items";
    pub const ARN: &str = "Incident record ARN";
    pub const STATUS: &str = "Status";
    pub const THREAD: &str = "Thread";
    pub const DUPLICATES: &str = "Possible duplicate";
}

/// Custom ids of the confirmation's buttons and of the dialogs they open.
pub mod action {
    pub const ADD_LINK: &str = "incident:link";
    pub const ADD_NOTE: &str = "incident:note";
    pub const UPDATE: &str = "incident:update";
    pub const RESOLVE: &str = "incident:resolve";
    /// Followed by `:CHANNEL:MESSAGE` of the confirmation to resolve.
    pub const RESOLVE_CONFIRM: &str = "incident:resolve-confirm";
    pub const RESOLVE_CANCEL: &str = "incident:resolve-cancel";
}

/// What the confirmation shows beyond the declaration itself.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// Open incidents of the same plan, started recently.
    pub duplicates: Vec<IncidentSummary>,
    /// The incident's thread: its id, or why it could not be created.
    pub thread: Option<Result<u64, String>>,
}

/// The confirmation's buttons: act on the incident, or open the console.
pub fn confirmation_buttons(console: &str, resolved: bool) -> Vec<CreateActionRow> {
    let button = |id: &str, label: &str, style| CreateButton::new(id).label(label).style(style).disabled(resolved);
    vec![CreateActionRow::Buttons(vec![
        button(action::ADD_LINK, "Add link", ButtonStyle::Secondary),
        button(action::ADD_NOTE, "Add note", ButtonStyle::Secondary),
        button(action::UPDATE, "Update", ButtonStyle::Primary),
        button(action::RESOLVE, "Resolve", ButtonStyle::Danger),
        CreateButton::new_link(console).label("Open in console"),
    ])]
}

/// The console link of the region for `incident_arn`'s partition.
pub fn console_for(incident_arn: &str, region: Option<&str>) -> String {
    let partition = incident_arn.split(':').nth(1).unwrap_or("aws");
    console_url(region, partition)
}

/// The embed that replaces the deferred response once the incident exists.
pub fn declared(d: &Declaration, incident_arn: &str, region: Option<&str>) -> CreateEmbed {
    declared_with(d, incident_arn, region, &Extras::default())
}

/// [`declared`], with possible duplicates and the thread.
pub fn declared_with(d: &Declaration, incident_arn: &str, region: Option<&str>, extras: &Extras) -> CreateEmbed {
    let title = match &d.title {
        Some(t) => format!("🚨 {t}"),
        None => format!("🚨 Incident declared ({})", d.plan.label),
    };
    let partition = d.plan.arn.arn().partition();
    let console = console_url(region, partition);
    let impact = d.impact.map_or_else(|| "Response plan's default".to_owned(), |i| i.to_string());
    let mut fields = vec![
        (field::IMPACT, impact, true),
        ("Response plan", format!("`{}`", escape_code(&d.plan.label)), true),
        ("Declared by", format!("<@{}>", d.origin.user_id), true),
        (field::RELATED, related_items(d), false),
        (field::ARN, format!("```\n{}\n```", escape_code(incident_arn)), false),
        ("Incident Manager", format!("[Open the console]({console})"), false),
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
    embed(&title, "", d, fields, colour_for(d)).url(console).footer(CreateEmbedFooter::new(truncate(
        &format!("Declared with /incident · {}", region.unwrap_or("AWS")),
        limits::FOOTER,
    )))
}

/// The embed that replaces the deferred response when AWS refused or failed.
pub fn failed(err: &AwsError, d: &Declaration, region: Option<&str>) -> CreateEmbed {
    let title = match err {
        AwsError::NoAnswer => "⚠️ Declaration outcome unknown",
        _ => "⚠️ Incident not declared",
    };
    let fields = [
        ("Response plan", format!("`{}`", escape_code(&d.plan.label)), true),
        ("Requested by", format!("<@{}>", d.origin.user_id), true),
    ];
    let doing = format!("start incidents with response plan `{}`", escape_code(&d.plan.label));
    let target = format!("Response plan `{}`", escape_code(&d.plan.label));
    let message = err.user_message(&Subject::declaring(d, &doing, &target), region);
    embed(title, &message, d, fields, Colour::from_rgb(0x99, 0xaa, 0xb5))
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
    if let Ok(ts) = Timestamp::from_unix_timestamp(
        d.trigger
            .timestamp
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| i64::try_from(t.as_secs()).unwrap_or(0)),
    ) {
        e = e.timestamp(ts);
    }
    e
}

/// One line per related item, cut at a line boundary with a count of the
/// rest so the field never exceeds 1024 characters.
fn related_items(d: &Declaration) -> String {
    let lines: Vec<String> = d.related_items.iter().map(item_line).collect();
    fit_lines(&lines, limits::FIELD_VALUE)
}

/// Joins as many whole lines as fit in `max`, then `… and N more`.
fn fit_lines(lines: &[String], max: usize) -> String {
    let mut out = String::new();
    for (shown, line) in lines.iter().enumerate() {
        let rest = lines.len() - shown;
        let tail = if rest > 1 { format!("\n… and {} more", rest - 1) } else { String::new() };
        let candidate_len = out.chars().count() + line.chars().count() + 1;
        if candidate_len + tail.chars().count() > max {
            let more = format!("… and {rest} more");
            if out.is_empty() {
                return truncate(line, max);
            }
            return format!("{out}\n{more}");
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
    }
    if out.is_empty() { "—".to_owned() } else { out }
}

/// The incident record ARN a confirmation shows, if it is one.
pub fn incident_arn_of(embed: &Embed) -> Option<String> {
    let value = &embed.fields.iter().find(|f| f.name == field::ARN)?.value;
    let arn = value.trim().trim_start_matches("```").trim_end_matches("```").trim();
    let parsed = crate::domain::Arn::parse(arn).ok()?;
    (parsed.service() == "ssm-incidents" && parsed.resource().starts_with("incident-record/")).then(|| arn.to_owned())
}

/// The incident's title as the confirmation shows it, without the marker.
pub fn incident_title_of(embed: &Embed) -> String {
    let t = embed.title.as_deref().unwrap_or_default();
    let t = t.trim_start_matches("🚨 ").trim_start_matches("✅ Resolved · ");
    t.to_owned()
}

/// The impact value (1–5) the confirmation shows, if any.
pub fn impact_of(embed: &Embed) -> Option<u8> {
    let v = &embed.fields.iter().find(|f| f.name == field::IMPACT)?.value;
    v.chars().next()?.to_digit(10).and_then(|d| u8::try_from(d).ok())
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

/// The related-items field with one more item, still within 1024 characters.
pub fn with_related_item(current: &str, item: &crate::domain::RelatedItem) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut hidden = 0usize;
    for line in current.lines() {
        if let Some(n) = line.strip_prefix("… and ").and_then(|r| r.strip_suffix(" more")) {
            hidden += n.parse::<usize>().unwrap_or(0);
        } else if line != "—" {
            lines.push(line.to_owned());
        }
    }
    lines.push(item_line(item));
    let shown = fit_lines(&lines, limits::FIELD_VALUE.saturating_sub(24));
    if hidden == 0 {
        return shown;
    }
    // Fold the earlier hidden count into the new tail.
    let (body, extra) = match shown.rsplit_once("\n… and ") {
        Some((b, tail)) => (b.to_owned(), tail.trim_end_matches(" more").parse::<usize>().unwrap_or(0)),
        None => (shown, 0),
    };
    format!("{body}\n… and {} more", hidden + extra)
}

/// The confirmation turned into a resolved one.
pub fn resolved(embed: &Embed, by: u64, at_unix: i64) -> CreateEmbed {
    let title = format!("✅ Resolved · {}", incident_title_of(embed));
    rebuild(embed, Some(&title), Some(Colour::from_rgb(0x2e, 0xa0, 0x43)), |f| {
        set_field(f, field::STATUS, format!("Resolved by <@{by}> <t:{at_unix}:f>"), false);
    })
}

/// The private summary of what `/incident-update` or a dialog changed.
pub fn update_failed(err: &AwsError, incident_arn: &str, region: Option<&str>, done: &[String]) -> String {
    let subject = Subject {
        doing: "update this incident",
        action: "ssm-incidents:UpdateIncidentRecord, ssm-incidents:UpdateRelatedItems and ssm-incidents:CreateTimelineEvent",
        resource: incident_arn,
        target: "The incident",
        command: "/incident-update",
    };
    let mut text = format!("⚠️ {}", err.user_message(&subject, region));
    if !done.is_empty() {
        text.push_str(&format!(" Already done: {}.", done.join("; ")));
    }
    truncate(&text, limits::CONTENT)
}

fn item_line(i: &crate::domain::RelatedItem) -> String {
    match &i.target {
        ItemTarget::Url(u) if !u.contains(['(', ')', ' ']) => {
            format!("• [{}]({u})", escape_markdown(&truncate(&i.title, 80)))
        }
        ItemTarget::Url(u) => format!("• {} <{u}>", escape_markdown(&truncate(&i.title, 80))),
        ItemTarget::Arn(a) => format!("• `{}`", escape_code(&truncate(a.as_str(), 200))),
    }
}

fn colour_for(d: &Declaration) -> Colour {
    match d.impact.map(crate::domain::Impact::value) {
        Some(1) => Colour::from_rgb(0xd9, 0x1e, 0x18),
        Some(2) => Colour::from_rgb(0xf0, 0x6b, 0x00),
        Some(3) => Colour::from_rgb(0xf2, 0xc0, 0x00),
        Some(4) => Colour::from_rgb(0x2f, 0x80, 0xed),
        Some(_) => Colour::from_rgb(0x95, 0xa5, 0xa6),
        None => Colour::from_rgb(0xd9, 0x1e, 0x18),
    }
}

/// `text` in backticks, cut to a readable length, with backticks removed so
/// the quote cannot be broken out of.
pub fn quote(text: &str) -> String {
    let clean: String = text.chars().map(|c| if c == '`' || c.is_control() { ' ' } else { c }).collect();
    format!("`{}`", truncate(clean.trim(), QUOTE_LEN))
}

fn escape_code(text: &str) -> String {
    text.replace('`', "ˋ")
}

/// Escapes Discord markdown so user text shows as typed.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '(' | ')' | '>' | '#' | '-' | '@') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_lines_counts_what_it_leaves_out() {
        let lines: Vec<String> = (0..100).map(|i| format!("• line number {i:03} with some padding text")).collect();
        let out = fit_lines(&lines, 1024);
        assert!(out.chars().count() <= 1024, "{}", out.len());
        assert!(out.ends_with("more"));
        let shown = out.lines().count() - 1;
        assert!(out.ends_with(&format!("… and {} more", 100 - shown)));
        assert_eq!(fit_lines(&lines[..2], 1024).lines().count(), 2);
    }

    #[test]
    fn quotes_cannot_break_out() {
        assert_eq!(quote("a`b"), "`a b`");
        assert_eq!(escape_markdown("[x](y)"), "\\[x\\]\\(y\\)");
    }
}
