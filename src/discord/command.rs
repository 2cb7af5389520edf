//! The `/incident` command as registered with Discord.

use serenity::all::{CommandOptionType, CreateCommand, CreateCommandOption, InteractionContext, Permissions};

use crate::domain::Impact;
use crate::domain::text::MAX_TITLE_LEN;

/// The command's name.
pub const NAME: &str = "incident";

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
    let mut impact = CreateCommandOption::new(
        CommandOptionType::Integer,
        opt::IMPACT,
        "Impact on customers; the response plan's impact applies if omitted",
    );
    for i in Impact::ALL {
        impact = impact.add_int_choice(i.to_string(), i32::from(i.value()));
    }
    CreateCommand::new(NAME)
        .description("Declare an incident in AWS Incident Manager")
        .default_member_permissions(Permissions::SEND_MESSAGES)
        .contexts(if allow_dms {
            vec![InteractionContext::Guild, InteractionContext::BotDm]
        } else {
            vec![InteractionContext::Guild]
        })
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
