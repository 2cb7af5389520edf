//! What people read: every sentence the bot says about a refusal or a failed
//! AWS call, written once. Discord replies add their marker (⚠️, ⛔, ⏳) and
//! the terminal CLI prints the same sentences.
//!
//! Texts quote what a user typed with [`quote`], which cannot be broken out
//! of, and never include a raw AWS error message.

use crate::backend::{AwsError, ErrorKind, Operation};
use crate::domain::access::Denied;
use crate::domain::declaration::Refusal;
use crate::domain::limits::{Limited, Scope};
use crate::domain::links::{LinkError, LinkProblem};
use crate::domain::plans::PlanError;
use crate::domain::text::{TitleError, truncate};

/// Longest user-typed item quoted back in a refusal.
const QUOTE_LEN: usize = 120;

/// What an AWS call was for, in the words of the reply.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// What the bot was doing: ``start incidents with response plan `payments` ``.
    pub doing: &'a str,
    /// The resource the call acts on (an ARN, or `*`).
    pub resource: &'a str,
    /// What to call the resource: ``Response plan `payments` ``, `The incident`.
    pub target: &'a str,
    /// The command to run again: `/incident`, `incident-bot check`.
    pub command: &'a str,
}

/// The sentence about a failed AWS call: what happened, whether anything
/// changed, and what to do.
pub fn aws_failure(e: &AwsError, s: &Subject<'_>, region: Option<&str>) -> String {
    let region = region.unwrap_or("the configured region");
    let (doing, resource, target, command) = (s.doing, s.resource, s.target, s.command);
    let action = e.operation.iam_action();
    let declaring = e.operation == Operation::StartIncident;
    let nothing = if e.operation.is_read() {
        "Nothing was read"
    } else if declaring {
        "Nothing was declared"
    } else {
        "Nothing was changed"
    };
    match &e.kind {
        ErrorKind::AccessDenied => format!(
            "The bot's AWS role is not allowed to {doing}. An operator must grant `{action}` on `{resource}`. {nothing}."
        ),
        ErrorKind::BadCredentials(code) => format!(
            "AWS rejected the bot's credentials (`{code}`). An operator must fix the bot's IAM role or keys. {nothing}."
        ),
        ErrorKind::NoCredentials => format!(
            "The bot has no AWS credentials. An operator must give it an IAM role (or credentials in its \
             environment). {nothing}."
        ),
        ErrorKind::NotFound if declaring => format!(
            "{target} was not found in {region} (`{resource}`). Check the plan, or ask an operator to fix its alias. \
             {nothing}."
        ),
        ErrorKind::NotFound => format!("{target} was not found in {region} (`{resource}`). {nothing}."),
        ErrorKind::Throttled => format!(
            "Incident Manager is throttling requests and still refused after retries. {nothing}: run `{command}` \
             again in a minute."
        ),
        ErrorKind::Validation { field: Some(field) } => {
            format!("Incident Manager rejected the `{field}` field of the request. {nothing}.")
        }
        ErrorKind::Validation { field: None } => {
            format!("Incident Manager rejected the request as invalid. {nothing}.")
        }
        ErrorKind::Conflict => {
            format!("Incident Manager reported a conflicting change in progress. {nothing}: run `{command}` again.")
        }
        ErrorKind::QuotaExceeded => format!(
            "The account has reached an Incident Manager quota. {nothing}: an operator must raise the quota or close \
             incidents."
        ),
        ErrorKind::ServiceFault => {
            format!("Incident Manager had an internal error, also on retry. {nothing}: run `{command}` again.")
        }
        ErrorKind::Unreachable => {
            format!("Could not reach Incident Manager, {} — retry `{command}`.", nothing.to_lowercase())
        }
        ErrorKind::NoAnswer => format!(
            "Incident Manager did not answer in time. {}: check the Incident Manager console ({region}) before \
             retrying.",
            if declaring {
                "The incident may or may not have been declared"
            } else {
                "The change may or may not have been made"
            }
        ),
        ErrorKind::Other(code) => {
            format!("Incident Manager refused the request (`{code}`). {nothing}; the bot's log has the details.")
        }
        ErrorKind::Internal(_) => {
            format!("The bot failed before reaching Incident Manager. {nothing}; the bot's log has the details.")
        }
    }
}

/// No AWS region is configured: where to set one.
pub const NO_REGION: &str = "No AWS region is set: set `region` under [aws] in config.toml, or AWS_REGION \
     (Incident Manager is offered in us-east-1, us-east-2, us-west-1, us-west-2, eu-west-1 and 11 more).";

/// The ways to give the bot AWS credentials.
pub const CREDENTIALS_FIX: &str = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or give the \
     bot an IAM role (ECS task, EC2 instance, EKS service account)";

/// How a terminal command that called AWS ended, for its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// AWS answered with an error (refused, throttled, failed).
    Refused,
    /// AWS could not be reached, or did not answer in time.
    Unreachable,
    /// Something the operator must configure (credentials).
    Config,
    /// The bot itself failed.
    Internal,
}

/// [`aws_failure`] for a terminal: the causes a person at a shell can act
/// on (the endpoint and the operating system's error when AWS could not be
/// reached, how to give credentials, AWS's own message), and how it ended.
pub fn for_terminal(e: &AwsError, s: &Subject<'_>, region: Option<&str>, endpoint: &str) -> (String, Ending) {
    let detail = e.detail.as_deref().unwrap_or("no answer");
    let nothing = if e.operation == Operation::StartIncident { "Nothing was declared" } else { "Nothing was changed" };
    match &e.kind {
        ErrorKind::NoCredentials => {
            (format!("No AWS credentials were found: {CREDENTIALS_FIX}. {nothing}."), Ending::Config)
        }
        ErrorKind::Unreachable => (
            format!(
                "Could not reach Incident Manager at {endpoint}: {detail}. {nothing}; check the network and the region."
            ),
            Ending::Unreachable,
        ),
        ErrorKind::NoAnswer => (
            format!(
                "Incident Manager at {endpoint} did not answer in time ({detail}). It may or may not have acted: check \
                 the Incident Manager console ({}) before retrying.",
                region.unwrap_or("the configured region")
            ),
            Ending::Unreachable,
        ),
        ErrorKind::Internal(why) => (format!("{} ({why})", aws_failure(e, s, region)), Ending::Internal),
        _ => {
            let mut text = aws_failure(e, s, region);
            if let Some(said) = &e.detail {
                text.push_str(&format!(" AWS said: {said}"));
            }
            (text, Ending::Refused)
        }
    }
}

/// [`aws_failure`] for a declaration on the plan called `plan` (`plan_arn`).
pub fn declaration_failed(e: &AwsError, plan: &str, plan_arn: &str, region: Option<&str>, command: &str) -> String {
    let doing = format!("start incidents with response plan `{plan}`");
    let target = format!("Response plan `{plan}`");
    aws_failure(e, &Subject { doing: &doing, resource: plan_arn, target: &target, command }, region)
}

/// [`aws_failure`] for a change to `incident`, with what was `done` before it
/// failed.
pub fn update_failed(e: &AwsError, incident: &str, region: Option<&str>, done: &[String]) -> String {
    let subject = Subject {
        doing: "update this incident",
        resource: incident,
        target: "The incident",
        command: "/incident-update",
    };
    let mut text = aws_failure(e, &subject, region);
    if !done.is_empty() {
        text.push_str(&format!(" Already done: {}.", done.join("; ")));
    }
    text
}

/// Input that cannot be declared; ends with "Nothing was declared."
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
    format!("{why} Nothing was declared.")
}

/// What is wrong with one link, naming it.
pub fn link_refusal(e: &LinkError) -> String {
    let fix = match e.problem {
        LinkProblem::TooMany(_) => " Remove some links and add them in Incident Manager later.",
        _ => "",
    };
    format!("Link {} {}.{fix}", quote(&e.item), e.problem)
}

/// Someone the `[access]` rules refuse; `used` is what they used: a command
/// (`/incident`) or `this button`.
pub fn denied(d: &Denied, used: &str) -> String {
    let shown = if used.starts_with('/') { format!("`{used}`") } else { capitalise(used) };
    let why = match d {
        Denied::DirectMessage => format!("{shown} works in a server channel, not in direct messages."),
        Denied::Role { roles } if roles.is_empty() => {
            "You are not on the list of people who may declare incidents here. Ask a server admin.".to_owned()
        }
        Denied::Role { roles } => format!(
            "Declaring incidents here takes one of these roles: {}. Ask a server admin.",
            mentions("<@&", roles)
        ),
        Denied::Channel { channels } => format!("{shown} can only be used in {}.", mentions("<#", channels)),
    };
    format!("{why} {}", nothing_for(used))
}

/// What a refused use of `used` did not do.
fn nothing_for(used: &str) -> &'static str {
    if used == "/incident" { "Nothing was declared." } else { "Nothing was changed." }
}

/// A use over a cooldown or rate limit, of declarations or of changes.
pub fn limited(l: &Limited, declarations: bool) -> String {
    let who = match l.scope {
        Scope::User => "You have",
        Scope::Guild => "This server has",
    };
    let secs = l.retry_after.as_secs() + u64::from(l.retry_after.subsec_nanos() > 0);
    let (did, nothing) = if declarations {
        (format!("declared {} incidents", l.max), "Nothing was declared.")
    } else {
        (format!("made {} changes to incidents", l.max), "Nothing was changed.")
    };
    format!("{who} {did} in the last {}. Try again in {secs} s. {nothing}", human_duration(l.window.as_secs()))
}

/// The answer while the bot is shutting down; `used` as for [`denied`].
pub fn restarting(used: &str) -> String {
    let again = if used.starts_with('/') { format!("Run `{used}` again") } else { "Try again".to_owned() };
    format!("incident-bot is restarting. {again} in a few seconds. {}", nothing_for(used))
}

/// Handling failed inside the bot.
pub fn internal_error() -> String {
    "incident-bot hit an internal error handling this command. Check the Incident Manager console before \
     retrying: the incident may have been declared or changed. The bot's log has the details."
        .to_owned()
}

/// On AWS Lambda, the invocation that would have done the work could not be
/// started: nothing was done.
pub fn could_not_hand_over() -> String {
    "incident-bot could not start this command's work (AWS Lambda did not take the invocation): nothing was \
     declared or changed. Try again; the bot's log has the cause."
        .to_owned()
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

/// `text` in backticks, cut to a readable length, with backticks and control
/// characters removed so the quote cannot be broken out of.
pub fn quote(text: &str) -> String {
    let clean: String = text.chars().map(|c| if c == '`' || c.is_control() { ' ' } else { c }).collect();
    format!("`{}`", truncate(clean.trim(), QUOTE_LEN))
}

/// `s` with its first letter in upper case.
pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_region_hint_counts_the_regions() {
        let listed = crate::backend::REGIONS.iter().take(5).filter(|r| NO_REGION.contains(*r)).count();
        assert_eq!(listed, 5);
        assert!(NO_REGION.contains(&format!("and {} more", crate::backend::REGIONS.len() - 5)));
    }

    #[test]
    fn quotes_cannot_break_out() {
        assert_eq!(quote("a`b"), "`a b`");
        assert_eq!(quote("a\nb"), "`a b`");
    }

    #[test]
    fn a_failure_names_the_operation_it_needs() {
        let e = AwsError::new(Operation::UpdateRelatedItems, ErrorKind::AccessDenied);
        let text = update_failed(&e, "arn:x", Some("eu-west-1"), &["added a note".into()]);
        assert!(text.contains("`ssm-incidents:UpdateRelatedItems` on `arn:x`"), "{text}");
        assert!(text.contains("Nothing was changed. Already done: added a note."), "{text}");
        let e = AwsError::new(Operation::StartIncident, ErrorKind::NotFound);
        let text = declaration_failed(&e, "payments", "arn:p", Some("eu-west-1"), "/incident");
        assert!(text.starts_with("Response plan `payments` was not found in eu-west-1"), "{text}");
        assert!(text.ends_with("Nothing was declared."), "{text}");
    }

    #[test]
    fn limits_say_when_to_retry() {
        let l = Limited {
            scope: Scope::User,
            max: 3,
            window: Duration::from_secs(60),
            retry_after: Duration::from_millis(1500),
        };
        assert_eq!(
            limited(&l, true),
            "You have declared 3 incidents in the last minute. Try again in 2 s. Nothing was declared."
        );
        assert_eq!(
            limited(&l, false),
            "You have made 3 changes to incidents in the last minute. Try again in 2 s. Nothing was changed."
        );
    }
}
