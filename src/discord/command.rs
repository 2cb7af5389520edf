//! The `/incident` command as registered with Discord.

use serenity::all::{CommandOptionType, CreateCommand, CreateCommandOption, InteractionContext, Permissions};

use crate::domain::Impact;
use crate::domain::text::MAX_TITLE_LEN;

/// The command's name.
pub const NAME: &str = "incident";

/// The name of the command that updates an existing incident.
pub const UPDATE_NAME: &str = "incident-update";

/// `/incident-update` option names.
pub mod update_opt {
    pub const INCIDENT: &str = "incident";
    pub const LINK: &str = "link";
    pub const NOTE: &str = "note";
    pub const TITLE: &str = "title";
    pub const IMPACT: &str = "impact";
    pub const RESOLVE: &str = "resolve";
}

/// Everything the bot registers.
pub fn all(plan_required: bool, allow_dms: bool) -> Vec<CreateCommand> {
    vec![register(plan_required, allow_dms), register_update(allow_dms)]
}

fn contexts(allow_dms: bool) -> Vec<InteractionContext> {
    if allow_dms { vec![InteractionContext::Guild, InteractionContext::BotDm] } else { vec![InteractionContext::Guild] }
}

fn impact_option(description: &str) -> CreateCommandOption {
    let mut impact = CreateCommandOption::new(CommandOptionType::Integer, opt::IMPACT, description);
    for i in Impact::ALL {
        impact = impact.add_int_choice(i.to_string(), i32::from(i.value()));
    }
    impact
}

/// `/incident-update incident:… [link:…] [note:…] [title:…] [impact:…] [resolve:…]`:
/// one command, any combination of changes, applied in that order.
pub fn register_update(allow_dms: bool) -> CreateCommand {
    let text = |name, description: &str| CreateCommandOption::new(CommandOptionType::String, name, description);
    CreateCommand::new(UPDATE_NAME)
        .description("Update an incident in AWS Incident Manager: add links or a note, retitle, re-rate, resolve")
        .default_member_permissions(Permissions::SEND_MESSAGES)
        .contexts(contexts(allow_dms))
        .add_option(
            text(update_opt::INCIDENT, "The incident: pick an open one, or paste its incident record ARN")
                .required(true)
                .set_autocomplete(true)
                .max_length(1000),
        )
        .add_option(
            text(update_opt::LINK, "Links or ARNs to add as related items ([Title](https://…) sets a title)")
                .max_length(6000),
        )
        .add_option(text(update_opt::NOTE, "A note for the incident's timeline").max_length(2000))
        .add_option(
            text(update_opt::TITLE, "A new title")
                .min_length(1)
                .max_length(u16::try_from(MAX_TITLE_LEN).unwrap_or(200)),
        )
        .add_option(impact_option("A new impact"))
        .add_option(CreateCommandOption::new(
            CommandOptionType::Boolean,
            update_opt::RESOLVE,
            "Mark the incident resolved",
        ))
}

/// Option names, shared by registration and parsing.
pub mod opt {
    pub const PLAN: &str = "plan";
    pub const IMPACT: &str = "impact";
    pub const TITLE: &str = "title";
    pub const LINKS: &str = "links";
}

/// `/incident`: `plan` is required unless a default plan is configured
/// (Discord wants required options first, and `plan` is first anyway).
///
/// By default any member who may send messages in a channel may use it;
/// server admins can narrow that in Server Settings → Integrations, on top
/// of the bot's own `[access]` rules. DMs are offered only when allowed.
pub fn register(plan_required: bool, allow_dms: bool) -> CreateCommand {
    let impact = impact_option("Impact on customers; the response plan's impact applies if omitted");
    CreateCommand::new(NAME)
        .description("Declare an incident in AWS Incident Manager")
        .default_member_permissions(Permissions::SEND_MESSAGES)
        .contexts(contexts(allow_dms))
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::String,
                opt::PLAN,
                "Response plan: a configured alias or a response plan ARN",
            )
            .required(plan_required)
            .set_autocomplete(true)
            .max_length(1000),
        )
        .add_option(impact)
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::String,
                opt::TITLE,
                "Incident title; the response plan's title applies if omitted",
            )
            .min_length(1)
            .max_length(u16::try_from(MAX_TITLE_LEN).unwrap_or(200)),
        )
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::String,
                opt::LINKS,
                "Links and ARNs, separated by spaces or commas; [Title](https://…) sets a title",
            )
            .max_length(6000),
        )
}
