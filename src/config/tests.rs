//! Configuration layering and its error messages.

use std::collections::HashMap;

use secrecy::ExposeSecret;

use super::*;

fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut vars: HashMap<String, String> = env.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    vars.entry("DISCORD_TOKEN".into()).or_insert_with(|| "tok".into());
    Config::from_parts(Some(text), Path::new("config.toml"), &|k| vars.get(k).cloned())
}

const FULL: &str = r#"
    [discord]
    guild_ids = [123456789012345678, "223456789012345678"]
    [aws]
    region = "eu-west-1"
    [incident]
    default_plan = "payments"
    [incident.plans]
    payments = "arn:aws:ssm-incidents::111122223333:response-plan/Payments"
"#;

#[test]
fn defaults_file_then_env() {
    let c = load("", &[]).unwrap();
    assert!(c.discord.guild_ids.is_empty());
    assert_eq!(c.incident.source.as_str(), "discord.incident-bot");
    assert_eq!(c.aws.max_attempts, 3);
    let c = load(FULL, &[]).unwrap();
    assert_eq!(c.discord.guild_ids, vec![123_456_789_012_345_678, 223_456_789_012_345_678]);
    assert_eq!(c.aws.region.as_deref(), Some("eu-west-1"));
    assert!(c.incident.plans.has_default());
    let c = load(FULL, &[("INCIDENT_BOT_GUILD_IDS", "5, 6"), ("INCIDENT_BOT_AWS_REGION", "us-east-2")]).unwrap();
    assert_eq!(c.discord.guild_ids, vec![5, 6]);
    assert_eq!(c.aws.region.as_deref(), Some("us-east-2"));
    assert_eq!(c.discord.token.expose_secret(), "tok");
}

fn error(text: &str, env: &[(&str, &str)]) -> String {
    load(text, env).unwrap_err().to_string()
}

#[test]
fn errors_name_file_key_and_reason() {
    assert!(error("[discord\n", &[]).starts_with("config.toml: not valid TOML"));
    let e = error("[discord]\nguild = 1\n", &[]);
    assert!(e.starts_with("config.toml: key `discord.guild`: unknown field `guild`"), "{e}");
    let e = error("[discord]\nguild_ids = [\"abc\"]\n", &[]);
    assert!(e.starts_with("config.toml: key `discord.guild_ids[0]`: not a Discord id"), "{e}");
    let e = error("[incident.plans]\npay = \"arn:aws:lambda:us-east-1:111122223333:function:x\"\n", &[]);
    assert!(
        e.starts_with("config.toml: key `incident.plans.pay`: is not an Incident Manager response plan ARN"),
        "{e}"
    );
    let e = error("[incident]\nsource = \"aws.bot\"\n", &[]);
    assert!(e.contains("key `incident.source`: must not start with `aws.`"), "{e}");
    let e = error("[incident]\ndefault_plan = \"ghost\"\n", &[]);
    assert!(e.contains("key `incident.default_plan`"), "{e}");
    let e = error("", &[("INCIDENT_BOT_SOURCE", &"x".repeat(51))]);
    assert!(e.starts_with("environment variable INCIDENT_BOT_SOURCE: key `incident.source`: is 51 characters"), "{e}");
    let e = error("[aws]\nmax_attempts = 0\n", &[]);
    assert!(e.contains("key `aws.max_attempts`: must be between 1 and 10"), "{e}");
}

#[test]
fn access_and_limits() {
    let c = load(
        "[access]\nallowed_role_ids = [11]\nallow_dms = true\n[access.guilds.\"22\"]\nallowed_channel_ids = [\"33\"]\n\
         [limits]\nper_user = 5\n",
        &[],
    )
    .unwrap();
    assert!(c.access.global.role_ids.contains(&11));
    assert!(c.access.allow_dms);
    assert!(c.access.guilds[&22].channel_ids.contains(&33));
    assert_eq!(c.limits.per_user.max, 5);
    assert_eq!(c.limits.per_guild.max, 20);
    let e = error("[access.guilds.abc]\n", &[]);
    assert!(e.contains("key `access.guilds.abc`: not a Discord id"), "{e}");
    let e = error("[discord]\ntoken = \"x\"\n", &[]);
    assert!(e.contains("key `discord.token`: the Discord token is never read from the file"), "{e}");
}

#[test]
fn the_example_config_loads() {
    let c = load(include_str!("../../config.toml.example"), &[]).unwrap();
    assert!(c.incident.plans.aliases().count() > 0);
}

#[test]
fn token_is_required_and_redacted() {
    let r = Config::from_parts(Some(""), Path::new("c.toml"), &|_| None);
    assert!(matches!(r, Err(ConfigError::MissingToken)));
    let c = load("", &[("DISCORD_TOKEN", "super-secret-token")]).unwrap();
    assert!(!format!("{c:?}").contains("super-secret-token"));
}

const KEY: &str = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";

#[test]
fn interactions_endpoint() {
    // Absent: the gateway.
    assert!(load("", &[]).unwrap().interactions.is_none());
    let c = load(&format!("[interactions]\nlisten = \"127.0.0.1:8080\"\npublic_key = \"{KEY}\"\n"), &[]).unwrap();
    let i = c.interactions.unwrap();
    assert_eq!(i.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(i.path, "/interactions");
    assert_eq!(i.public_key[0], 0x3b);
    assert_eq!(i.public_key[31], 0x29);
    // Both from the environment, as a container sets them.
    let c = load(
        "[interactions]\npath = \"/discord/x\"\n",
        &[("INCIDENT_BOT_INTERACTIONS_LISTEN", "0.0.0.0:9000"), ("INCIDENT_BOT_DISCORD_PUBLIC_KEY", KEY)],
    )
    .unwrap();
    let i = c.interactions.unwrap();
    assert_eq!((i.listen.port(), i.path.as_str()), (9000, "/discord/x"));

    let e = error("[interactions]\nlisten = \"127.0.0.1:8080\"\n", &[]);
    assert!(e.contains("key `interactions.public_key`: missing: the application's public key"), "{e}");
    let e = error(&format!("[interactions]\npublic_key = \"{KEY}\"\n"), &[]);
    assert!(e.contains("key `interactions.listen`: missing"), "{e}");
    let e = error("[interactions]\nlisten = \"127.0.0.1:8080\"\n", &[("INCIDENT_BOT_DISCORD_PUBLIC_KEY", "abc")]);
    assert!(
        e.starts_with(
            "environment variable INCIDENT_BOT_DISCORD_PUBLIC_KEY: key `interactions.public_key`: not an Ed25519"
        ),
        "{e}"
    );
    let e = error(&format!("[interactions]\nlisten = \"127.0.0.1:8080\"\npublic_key = \"{}\"\n", "zz".repeat(32)), &[]);
    assert!(e.contains("not an Ed25519 public key"), "{e}");
    let e = error(&format!("[interactions]\nlisten = \"127.0.0.1:8080\"\npublic_key = \"{KEY}\"\npath = \"x\"\n"), &[]);
    assert!(e.contains("key `interactions.path`: a path such as"), "{e}");
    let e = error(
        &format!(
            "[server]\nlisten = \"127.0.0.1:8080\"\n[interactions]\nlisten = \"127.0.0.1:8080\"\npublic_key = \"{KEY}\"\n"
        ),
        &[],
    );
    assert!(e.contains("is also [server] listen"), "{e}");
    // Port 0 for both: the system gives each its own port.
    let c = load(
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[interactions]\nlisten = \"127.0.0.1:0\"\npublic_key = \"{KEY}\"\n"
        ),
        &[],
    )
    .unwrap();
    assert_eq!((c.listen.unwrap().port(), c.interactions.unwrap().listen.port()), (0, 0));
}

#[test]
fn gateway_shards() {
    assert_eq!(load("", &[]).unwrap().discord.shards, Shards::One);
    assert_eq!(load("[discord]\nshards = \"auto\"\n", &[]).unwrap().discord.shards, Shards::Auto);
    let c = load("[discord]\nshards = { total = 4, ids = [2, 3] }\n", &[]).unwrap();
    assert_eq!(c.discord.shards, Shards::Range { total: 4, first: 2, last: 3 });
    assert!(!c.discord.shards.has_shard_zero());
    let c = load("[discord]\nshards = { total = 2, ids = [0] }\n", &[]).unwrap();
    assert!(c.discord.shards.has_shard_zero());
    for bad in [
        "\"many\"",
        "3",
        "{ total = 2 }",
        "{ total = 2, ids = [] }",
        "{ total = 2, ids = [2] }",
        "{ total = 4, ids = [0, 2] }",
        "{ total = 4, ids = [1, 0] }",
        "{ total = 0, ids = [0] }",
        "{ total = 2, ids = [-1] }",
        "{ total = 2, ids = [0], first = 0 }",
    ] {
        let e = error(&format!("[discord]\nshards = {bad}\n"), &[]);
        assert!(e.starts_with("config.toml: key `discord.shards`:"), "{bad}: {e}");
        assert!(e.contains("\"auto\" or { total = N, ids = [FIRST, …, LAST] }"), "{bad}: {e}");
    }
}
