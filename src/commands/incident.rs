//! `/incident`: declare an incident.
//!
//! access → options → a validated [`Declaration`] → rate limit → defer →
//! StartIncident (with the duplicate check beside it) → the confirmation →
//! the follow-ups ([`super::followups`]). A refused or invalid request gets
//! a private answer and no AWS call; the outcome of every call that reached
//! AWS is shown.

use std::time::Duration;

use serenity::all::{
    CommandInteraction, CommandOptionType, CreateCommand, CreateCommandOption, ResolvedOption, ResolvedValue,
};
use tracing::{error, info, warn};

use super::followups;
use crate::discord::embeds::{self, Extras};
use crate::discord::interaction::{caller, origin};
use crate::discord::responder::{FirstAnswer, Reply, Responder};
use crate::domain::access::Caller;
use crate::domain::incident::{now_unix, recent_of_plan};
use crate::domain::text::MAX_TITLE_LEN;
use crate::domain::{Declaration, DeclareInput, Impact, IncidentSummary, Origin};
use crate::messages;
use crate::services::Services;
use crate::telemetry::millis;

/// The command's name.
pub const NAME: &str = "incident";

/// Option names, shared by registration and parsing.
pub mod opt {
    pub const PLAN: &str = "plan";
    pub const IMPACT: &str = "impact";
    pub const TITLE: &str = "title";
    pub const LINKS: &str = "links";
}

/// How long a declaration waits for the first list of open incidents (only
/// before it has ever arrived), beside its StartIncident.
const FIRST_LIST_WAIT: Duration = Duration::from_secs(2);
/// The open incidents the duplicate check reads may be this old; older, they
/// are refreshed in the background.
const LIST_MAX_AGE: Duration = Duration::from_secs(10);

/// The impact option, 1 Critical … 5 No impact.
pub fn impact_option(description: &str) -> CreateCommandOption {
    let mut impact = CreateCommandOption::new(CommandOptionType::Integer, opt::IMPACT, description);
    for i in Impact::ALL {
        impact = impact.add_int_choice(i.to_string(), i32::from(i.value()));
    }
    impact
}

/// `/incident`: `plan` is required unless a default plan is configured
/// (Discord wants required options first, and `plan` is first anyway).
pub fn register(plan_required: bool, allow_dms: bool) -> CreateCommand {
    let text = |name, description: &str| CreateCommandOption::new(CommandOptionType::String, name, description);
    let command = CreateCommand::new(NAME)
        .description("Declare an incident in AWS Incident Manager")
        .add_option(
            text(opt::PLAN, "Response plan: a configured alias or a response plan ARN")
                .required(plan_required)
                .set_autocomplete(true)
                .max_length(1000),
        )
        .add_option(impact_option("Impact on customers; the response plan's impact applies if omitted"))
        .add_option(
            text(opt::TITLE, "Incident title; the response plan's title applies if omitted")
                .min_length(1)
                .max_length(u16::try_from(MAX_TITLE_LEN).unwrap_or(200)),
        )
        .add_option(
            text(opt::LINKS, "Links and ARNs, separated by spaces or commas; [Title](https://…) sets a title")
                .max_length(6000),
        );
    super::available(command, allow_dms)
}

/// A `/incident` as typed, with who sent it and from where.
#[derive(Debug, Clone)]
pub struct Request {
    pub caller: Caller,
    pub origin: Origin,
    pub input: DeclareInput,
}

/// Reads a `/incident` interaction.
pub fn parse(cmd: &CommandInteraction) -> Request {
    Request { caller: caller(cmd), origin: origin(cmd), input: input(&cmd.data.options()) }
}

/// The options as typed. Unknown options are ignored: Discord only sends
/// the ones the registered command declares.
pub fn input(options: &[ResolvedOption<'_>]) -> DeclareInput {
    let mut input = DeclareInput::default();
    for o in options {
        match (o.name, &o.value) {
            (opt::PLAN, ResolvedValue::String(s)) => input.plan = Some((*s).to_owned()),
            (opt::IMPACT, ResolvedValue::Integer(i)) => input.impact = Some(*i),
            (opt::TITLE, ResolvedValue::String(s)) => input.title = Some((*s).to_owned()),
            (opt::LINKS, ResolvedValue::String(s)) => input.links = Some((*s).to_owned()),
            _ => {}
        }
    }
    input
}

/// Checks a request up to the point of acknowledging it: access, input,
/// rate limit. A refusal is answered privately and counted.
async fn admit(svc: &Services, req: Request, r: &Responder) -> Option<Declaration> {
    let (outcome, text) = match svc.settings.access.check(&req.caller) {
        Err(denied) => {
            info!(outcome = "refused", reason = %denied, "declaration refused by [access]");
            ("refused", format!("⛔ {}", messages::denied(&denied, "/incident")))
        }
        Ok(()) => {
            let mut input = req.input;
            // A listed plan's name (what autocomplete sends for over-long
            // ARNs) stands for its ARN.
            let plans = &svc.settings.incident.plans;
            if let Ok(p) = plans.resolve_listed(input.plan.as_deref(), || svc.plans.snapshot()) {
                input.plan = Some(p.arn.as_str().to_owned());
            }
            #[cfg(feature = "fault-injection")]
            if input.title.as_deref() == Some("fault-injection: panic") {
                panic!("fault injection: a panic in the middle of a declaration");
            }
            match Declaration::build(&input, plans, &svc.settings.incident.source, req.origin) {
                Err(refusal) => {
                    info!(outcome = "invalid", reason = %refusal, "declaration refused");
                    ("invalid", format!("⚠️ {}", messages::refusal(&refusal)))
                }
                Ok(d) => match svc.limit_declaration(r, req.caller.user_id, req.caller.guild_id).await {
                    Err(limited) => {
                        info!(outcome = "rate_limited", scope = ?limited.scope, "declaration refused by [limits]");
                        ("rate_limited", format!("⏳ {}", messages::limited(&limited, true)))
                    }
                    Ok(()) => return Some(d),
                },
            }
        }
    };
    svc.metrics.declaration(outcome, "");
    r.private(text).await;
    None
}

/// Handles one `/incident`.
pub async fn run(svc: &Services, req: Box<Request>, r: &Responder) {
    // What runs before the acknowledgement is boxed, and so is everything
    // awaited after it but StartIncident: this future then holds little
    // more than the declaration while it waits for its permit (a burst
    // queues there), instead of room for the largest step.
    let Some(declaration) = Box::pin(admit(svc, *req, r)).await else { return };
    // Acknowledge first: StartIncident may take longer than Discord's 3 s.
    if let Err(e) = Box::pin(r.answer(FirstAnswer::Defer { private: false })).await {
        error!(error = %e, "could not acknowledge the interaction; nothing was declared");
        svc.metrics.declaration("not_acknowledged", "");
        return;
    }
    let ack_ms = millis(r.received().elapsed());
    svc.metrics.acked(r.received().elapsed());
    // The duplicate check reads the cached open incidents (refreshed in the
    // background); only before the first list has arrived does it wait,
    // beside StartIncident, so it never delays the declaration.
    let open = async {
        match svc.settings.incident.duplicate_window {
            Some(_) => Some(Box::pin(svc.open.recent(FIRST_LIST_WAIT, LIST_MAX_AGE)).await),
            None => None,
        }
    };
    // The SDK call is boxed: it takes memory only while it runs, not while
    // a declaration of a burst waits for its permit.
    let outcome = async {
        let _permit = svc.aws_permits.acquire().await;
        Box::pin(svc.backend.start_incident(&declaration)).await
    };
    let (outcome, open) = tokio::join!(outcome, open);
    let region = svc.backend.region();
    let arn = match outcome {
        Ok(arn) => arn,
        Err(e) => {
            svc.metrics.declaration("aws_error", e.code());
            Box::pin(r.deliver(Reply::embed(embeds::failed(&e, &declaration, region)))).await;
            svc.metrics.declared(r.received().elapsed());
            warn!(
                outcome = "aws_error",
                code = e.code(),
                plan = declaration.plan.label,
                ack_ms,
                total_ms = millis(r.received().elapsed()),
                "incident not declared"
            );
            return;
        }
    };
    let mut extras = Extras { duplicates: duplicates(svc, &declaration, &arn, open.as_deref()), thread: None };
    // What the bot shows next knows of this incident at once.
    svc.open.declared(IncidentSummary {
        arn: arn.clone(),
        title: declaration.title.as_ref().map_or_else(|| declaration.plan.label.clone(), |t| t.as_str().to_owned()),
        impact: declaration.impact.map_or(0, |i| i32::from(i.value())),
        created: now_unix(),
    });
    let buttons = embeds::confirmation_buttons(&embeds::console_url(region, arn.partition()), false);
    let confirmation = |extras: &Extras| {
        Reply::embed(embeds::declared(&declaration, &arn, region, extras)).components(buttons.clone())
    };
    svc.metrics.declaration("ok", "");
    let message = Box::pin(r.deliver(confirmation(&extras))).await;
    svc.metrics.declared(r.received().elapsed());
    info!(
        outcome = "ok",
        incident = arn.as_str(),
        plan = declaration.plan.label,
        ack_ms,
        total_ms = millis(r.received().elapsed()),
        "incident declared"
    );
    let Some(thread) = Box::pin(followups::run(svc, &declaration, &arn, message, r)).await else { return };
    extras.thread = Some(thread);
    if let Err(e) = Box::pin(r.edit(confirmation(&extras))).await {
        warn!(error = %e, "could not show the thread on the confirmation");
    }
}

/// Open incidents of the same plan started within the window, not `arn`.
fn duplicates(
    svc: &Services,
    d: &Declaration,
    arn: &crate::domain::IncidentArn,
    open: Option<&Vec<IncidentSummary>>,
) -> Vec<IncidentSummary> {
    let (Some(window), Some(open)) = (svc.settings.incident.duplicate_window, open) else { return Vec::new() };
    let since = now_unix().saturating_sub(i64::try_from(window.as_secs()).unwrap_or(i64::MAX));
    recent_of_plan(open, d.plan.arn.name(), arn, since)
}

/// An autocomplete of `/incident plan:`.
#[derive(Debug, Clone)]
pub struct Choices {
    pub caller: Caller,
    pub typed: String,
}

/// Reads a `/incident` autocomplete interaction.
pub fn parse_choices(a: &CommandInteraction) -> Choices {
    let typed = a.data.autocomplete().filter(|o| o.name == opt::PLAN).map_or("", |o| o.value);
    Choices { caller: caller(a), typed: typed.to_owned() }
}

/// Offers plans over the aliases and the listed plans; only to those who may
/// declare.
pub async fn choices(svc: &Services, req: &Choices, r: &Responder) {
    let choices = if svc.settings.access.check(&req.caller).is_ok() {
        svc.settings.incident.plans.suggest(&req.typed, &svc.plans.snapshot())
    } else {
        Vec::new()
    };
    if let Err(e) = r.answer(FirstAnswer::Choices(choices)).await {
        tracing::debug!(error = %e, "autocomplete answer failed");
    }
}
