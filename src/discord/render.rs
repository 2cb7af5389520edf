//! What the responder sees: refusals, the declared-incident embed and failure
//! notices. Pure functions; every text is cut to Discord's limits visibly
//! (with `…`) rather than rejected.

use serenity::all::{Colour, CreateEmbed, CreateEmbedFooter, Timestamp};

use crate::domain::access::Denied;
use crate::domain::declaration::Refusal;
use crate::domain::limits::{Limited, Scope};
use crate::domain::links::LinkProblem;
use crate::domain::plans::PlanError;
use crate::domain::text::{TitleError, truncate};
use crate::domain::{Declaration, ItemTarget};
use crate::incident_manager::{AwsError, console_url};

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
        Refusal::Link(e) => {
            let fix = match e.problem {
                LinkProblem::TooMany(_) => " Remove some links and add them in Incident Manager later.",
                _ => "",
            };
            format!("Link {} {}.{fix}", quote(&e.item), e.problem)
        }
    };
    truncate(&format!("⚠️ {why} Nothing was declared."), limits::CONTENT)
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

/// The embed that replaces the deferred response once the incident exists.
pub fn declared(d: &Declaration, incident_arn: &str, region: Option<&str>) -> CreateEmbed {
    let title = match &d.title {
        Some(t) => format!("🚨 {t}"),
        None => format!("🚨 Incident declared ({})", d.plan.label),
    };
    let partition = d.plan.arn.arn().partition();
    let console = console_url(region, partition);
    let impact = d.impact.map_or_else(|| "Response plan's default".to_owned(), |i| i.to_string());
    let fields = [
        ("Impact", impact, true),
        ("Response plan", format!("`{}`", escape_code(&d.plan.label)), true),
        ("Declared by", format!("<@{}>", d.origin.user_id), true),
        ("Related items", related_items(d), false),
        ("Incident record ARN", format!("```\n{}\n```", escape_code(incident_arn)), false),
        ("Incident Manager", format!("[Open the console]({console})"), false),
    ];
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
    embed(title, &err.user_message(d, region), d, fields, Colour::from_rgb(0x99, 0xaa, 0xb5))
}

fn embed<const N: usize>(
    title: &str,
    description: &str,
    d: &Declaration,
    fields: [(&str, String, bool); N],
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
    let lines: Vec<String> = d
        .related_items
        .iter()
        .map(|i| match &i.target {
            ItemTarget::Url(u) if !u.contains(['(', ')', ' ']) => {
                format!("• [{}]({u})", escape_markdown(&truncate(&i.title, 80)))
            }
            ItemTarget::Url(u) => format!("• {} <{u}>", escape_markdown(&truncate(&i.title, 80))),
            ItemTarget::Arn(a) => format!("• `{}`", escape_code(&truncate(a.as_str(), 200))),
        })
        .collect();
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
