//! The benchmark's floor: the least a serenity bot can do for a slash
//! command — register it, defer each interaction, then edit the reply with a
//! fixed text. Same serenity features and proxy settings as incident-bot, no
//! AWS, no validation; a title of `hold <ms>` waits that long before the
//! edit, standing in for the AWS call in the benchmark's probe phase. `cargo bench --bench loadgen` runs it beside the real
//! bot so figures can be read as ratios on a shared machine.
//!
//! Environment: DISCORD_TOKEN, DISCORD_API_URL (origin of the REST API),
//! GUILD_ID.

use serenity::all::{
    ClientBuilder, CommandOptionType, Context, CreateCommand, CreateCommandOption, EditInteractionResponse,
    EventHandler, GatewayIntents, GuildId, HttpBuilder, Interaction, Ready,
};
use serenity::async_trait;

struct Floor {
    guild: GuildId,
}

#[async_trait]
impl EventHandler for Floor {
    async fn ready(&self, ctx: Context, _: Ready) {
        let cmd = CreateCommand::new("incident")
            .description("Floor")
            .add_option(CreateCommandOption::new(CommandOptionType::String, "plan", "Plan").required(false));
        if let Err(e) = self.guild.set_commands(&ctx.http, vec![cmd]).await {
            eprintln!("floor: could not register: {e}");
        }
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        if let Interaction::Command(cmd) = interaction
            && cmd.defer(&ctx.http).await.is_ok()
        {
            // The benchmark's stand-in for a slow AWS call: a title of
            // `hold <ms>` waits that long before answering.
            let hold = cmd.data.options.iter().find_map(|o| o.value.as_str()?.strip_prefix("hold ")?.parse().ok());
            if let Some(ms) = hold {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            let _ = cmd.edit_response(&ctx.http, EditInteractionResponse::new().content("declared")).await;
        }
    }
}

#[tokio::main]
async fn main() {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("set {k}"));
    let http = HttpBuilder::new(var("DISCORD_TOKEN")).proxy(var("DISCORD_API_URL")).ratelimiter_disabled(true).build();
    let guild = GuildId::new(var("GUILD_ID").parse().expect("GUILD_ID"));
    let mut client = ClientBuilder::new_with_http(http, GatewayIntents::empty())
        .event_handler(Floor { guild })
        .await
        .expect("client");
    let shards = client.shard_manager.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        shards.shutdown_all().await;
    });
    let _ = client.start().await;
}
