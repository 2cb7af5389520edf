//! The gateway event handler: registers `/incident` on READY and runs each
//! interaction through parse → declaration → Incident Manager → reply.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use serenity::all::{
    Command, CommandInteraction, Context, CreateAllowedMentions, CreateAutocompleteResponse, CreateInteractionResponse,
    CreateInteractionResponseMessage, CreateMessage, EditInteractionResponse, EventHandler, GuildId, Interaction,
    Ready,
};
use serenity::async_trait;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::{command, options, render};
use crate::config::IncidentSettings;
use crate::domain::Declaration;
use crate::incident_manager::IncidentManager;

/// How long an interaction id is remembered to drop repeated deliveries:
/// Discord's interaction tokens are valid for 15 minutes.
const DEDUPE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Map size at which expired interaction ids are swept.
const DEDUPE_SWEEP_AT: usize = 4096;
/// Attempts to register the command before giving up (the log says so).
const REGISTER_ATTEMPTS: u32 = 5;

/// Everything the handler needs, shared by all interactions.
pub struct Handler {
    incident: IncidentSettings,
    guild_ids: Vec<u64>,
    backend: IncidentManager,
    /// Interaction ids already handled, with when they were first seen.
    seen: DashMap<u64, Instant>,
}

impl Handler {
    /// A handler that declares through `backend` with `incident` settings and
    /// registers `/incident` in `guild_ids` (globally when empty).
    pub fn new(incident: IncidentSettings, guild_ids: Vec<u64>, backend: IncidentManager) -> Self {
        Self { incident, guild_ids, backend, seen: DashMap::new() }
    }

    /// True the first time an interaction id is seen within the window.
    fn first_delivery(&self, id: u64) -> bool {
        if self.seen.len() >= DEDUPE_SWEEP_AT {
            self.seen.retain(|_, t| t.elapsed() < DEDUPE_WINDOW);
        }
        let mut fresh = false;
        self.seen.entry(id).or_insert_with(|| {
            fresh = true;
            Instant::now()
        });
        fresh
    }

    async fn register(&self, ctx: &Context) -> serenity::Result<()> {
        let cmd = command::register(!self.incident.plans.has_default());
        if self.guild_ids.is_empty() {
            Command::set_global_commands(&ctx.http, vec![cmd]).await?;
        } else {
            for g in &self.guild_ids {
                GuildId::new(*g).set_commands(&ctx.http, vec![cmd.clone()]).await?;
            }
        }
        Ok(())
    }

    async fn declare(&self, ctx: &Context, cmd: &CommandInteraction) {
        let origin = options::origin(cmd);
        let input = options::declare_input(&cmd.data.options());
        let declaration = match Declaration::build(&input, &self.incident.plans, &self.incident.source, origin) {
            Ok(d) => d,
            Err(refusal) => {
                info!(outcome = "invalid", reason = %refusal, "declaration refused");
                let reply = CreateInteractionResponseMessage::new()
                    .content(render::refusal(&refusal))
                    .ephemeral(true)
                    .allowed_mentions(CreateAllowedMentions::new());
                if let Err(e) = cmd.create_response(&ctx.http, CreateInteractionResponse::Message(reply)).await {
                    warn!(error = %e, "could not send the refusal");
                }
                return;
            }
        };
        // Acknowledge first: StartIncident may take longer than Discord's 3 s.
        let acked = Instant::now();
        if let Err(e) = cmd.defer(&ctx.http).await {
            error!(error = %e, "could not acknowledge the interaction; nothing was declared");
            return;
        }
        let outcome = self.backend.start_incident(&declaration).await;
        let region = self.backend.region();
        let embed = match &outcome {
            Ok(arn) => render::declared(&declaration, arn, region),
            Err(e) => render::failed(e, &declaration, region),
        };
        match &outcome {
            Ok(arn) => info!(
                outcome = "ok",
                incident = arn.as_str(),
                plan = declaration.plan.label,
                elapsed_ms = acked.elapsed().as_millis(),
                "incident declared"
            ),
            Err(e) => {
                warn!(outcome = "aws_error", code = e.code(), plan = declaration.plan.label, "incident not declared")
            }
        }
        let edit = EditInteractionResponse::new().embed(embed.clone()).allowed_mentions(CreateAllowedMentions::new());
        if let Err(e) = cmd.edit_response(&ctx.http, edit).await {
            // The channel must still learn the outcome (the token may have
            // expired after 15 minutes, or the edit failed): post it there.
            warn!(error = %e, "could not edit the response; posting the outcome to the channel");
            let msg = CreateMessage::new().embed(embed).allowed_mentions(CreateAllowedMentions::new());
            if let Err(e) = cmd.channel_id.send_message(&ctx.http, msg).await {
                error!(error = %e, outcome = ?outcome, "could not report the outcome to Discord");
            }
        }
    }

    async fn autocomplete(&self, ctx: &Context, cmd: &CommandInteraction) {
        let typed = cmd.data.autocomplete().filter(|o| o.name == command::opt::PLAN).map_or("", |o| o.value);
        let mut response = CreateAutocompleteResponse::new();
        for (name, value) in self.incident.plans.suggest(typed) {
            response = response.add_string_choice(name, value);
        }
        if let Err(e) = cmd.create_response(&ctx.http, CreateInteractionResponse::Autocomplete(response)).await {
            debug!(error = %e, "autocomplete answer failed");
        }
    }
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        info!(user = %ready.user.name, guilds = ready.guilds.len(), "connected to the Discord gateway");
        let mut delay = Duration::from_millis(500);
        for attempt in 1..=REGISTER_ATTEMPTS {
            match self.register(&ctx).await {
                Ok(()) => {
                    info!(
                        scope = if self.guild_ids.is_empty() { "global" } else { "guild" },
                        guilds = ?self.guild_ids,
                        "registered /incident"
                    );
                    return;
                }
                Err(e) if attempt < REGISTER_ATTEMPTS => {
                    warn!(error = %e, attempt, "could not register /incident; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => error!(error = %e, "could not register /incident; the command will not work"),
            }
        }
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Command(cmd) if cmd.data.name == command::NAME => {
                if !self.first_delivery(cmd.id.get()) {
                    info!(interaction = cmd.id.get(), "repeated delivery of an interaction ignored");
                    return;
                }
                let span = info_span!(
                    "declare",
                    interaction = cmd.id.get(),
                    guild = cmd.guild_id.map(|g| g.get()),
                    channel = cmd.channel_id.get(),
                    user = cmd.user.id.get()
                );
                self.declare(&ctx, &cmd).instrument(span).await;
            }
            Interaction::Autocomplete(cmd) if cmd.data.name == command::NAME => self.autocomplete(&ctx, &cmd).await,
            _ => {}
        }
    }
}
