//! The operator's commands: `check` (is this deployment able to work?),
//! `declare` (the `/incident` code path from a terminal, with `--dry-run`)
//! and `register` (the commands, without running the bot).

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::backend::IncidentBackend;
use crate::backend::sdk::{SdkBackend, sdk_config};
use crate::config::Config;
use crate::discord::api::{ApiError, DiscordApi};
use crate::discord::register::{register as register_commands, scopes};
use crate::discord::rest::{ClientFactory, Rest};
use crate::domain::{Declaration, DeclareInput};
use crate::messages::{self, Subject};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

/// What `incident-bot declare` was asked.
#[derive(Debug, Clone, Default)]
pub struct DeclareArgs {
    pub plan: Option<String>,
    pub impact: Option<i64>,
    pub title: Option<String>,
    pub links: Vec<String>,
    pub dry_run: bool,
}

/// Runs every start-up dependency and prints one line per check. Returns
/// the process exit code: 0 when all pass, 1 otherwise.
pub async fn check(config: &Config, config_path: &str) -> u8 {
    let mut failed = 0u32;
    let mut report = |ok: bool, line: String| {
        println!("{} {line}", if ok { "✔" } else { "✘" });
        failed += u32::from(!ok);
    };
    let aliases: Vec<_> = config.incident.plans.aliases().collect();
    report(true, format!("config: {config_path} ({} response plan aliases)", aliases.len()));

    let sdk = sdk_config(&config.aws, None).await;
    match sdk.region() {
        Some(r) => report(true, format!("AWS region: {r}")),
        None => report(false, "AWS region: none; set [aws] region or AWS_REGION".to_owned()),
    }
    match sdk.credentials_provider() {
        Some(p) => match p.provide_credentials().await {
            Ok(c) => report(
                true,
                format!(
                    "AWS credentials: found (access key {}…)",
                    c.access_key_id().chars().take(4).collect::<String>()
                ),
            ),
            Err(e) => report(false, format!("AWS credentials: none found in the SDK's default chain ({e})")),
        },
        None => report(false, "AWS credentials: no credential provider".to_owned()),
    }
    if sdk.region().is_some() {
        let backend = SdkBackend::new(&sdk, &config.aws);
        match backend.list_response_plans().await {
            Ok(plans) => {
                report(true, format!("Incident Manager: ListResponsePlans listed {} response plans", plans.len()));
                for (alias, arn) in &aliases {
                    match plans.iter().find(|p| p.arn == arn.as_str()) {
                        Some(p) => report(
                            true,
                            format!("plan alias {alias} → {} ({})", arn, p.display_name.as_deref().unwrap_or(&p.name)),
                        ),
                        None => report(
                            false,
                            format!("plan alias {alias} → {arn}: no such response plan in this account and region"),
                        ),
                    }
                }
            }
            Err(e) => {
                let subject = Subject {
                    doing: "list response plans",
                    resource: "*",
                    target: "Response plans",
                    command: "incident-bot check",
                };
                report(
                    false,
                    format!(
                        "Incident Manager: {}",
                        messages::aws_failure(&e, &subject, sdk.region().map(|r| r.as_ref()))
                    ),
                );
            }
        }
    }
    match rest(config).application().await {
        Ok(app) => report(true, format!("Discord token: accepted, the bot is {} ({})", app.name, app.id)),
        Err(e) => report(false, format!("Discord token: {}", discord_problem(&e))),
    }
    if failed == 0 {
        println!("all checks passed");
        0
    } else {
        println!("{failed} check(s) failed");
        1
    }
}

/// The bot's REST client, as `run` builds it.
fn rest(config: &Config) -> Rest {
    Rest::new(ClientFactory::new(&config.discord.token, config.discord.api_url.as_ref()).http())
}

fn discord_problem(e: &ApiError) -> String {
    match e {
        e if e.is_unauthorized() => {
            "rejected by Discord (401): reset it in the Developer Portal and set DISCORD_TOKEN".to_owned()
        }
        ApiError::Refused { status, .. } => format!("Discord answered {status}"),
        _ => "Discord could not be reached".to_owned(),
    }
}

/// `incident-bot register`: replaces the application's commands with the
/// bot's, in the configured guilds (or globally), and says where. Returns
/// the exit code.
pub async fn register(config: &Config) -> u8 {
    let commands = crate::commands::all(!config.incident.plans.has_default(), config.access.allow_dms);
    match register_commands(&rest(config), &commands, &config.discord.guild_ids).await {
        Ok(app) => {
            let names: Vec<String> = commands
                .iter()
                .filter_map(|c| serde_json::to_value(c).ok())
                .filter_map(|c| c["name"].as_str().map(|n| format!("/{n}")))
                .collect();
            for scope in scopes(&config.discord.guild_ids) {
                println!("registered {} for {} ({}) in {scope}", names.join(", "), app.name, app.id);
            }
            0
        }
        Err(e) => {
            eprintln!("incident-bot: could not register the commands: {}", discord_problem(&e));
            1
        }
    }
}

/// `incident-bot declare`: the same checks and request as `/incident`.
/// Prints the incident ARN, or with `--dry-run` the exact StartIncident
/// body the SDK would send (no credentials needed). Returns the exit code.
pub async fn declare(config: &Config, args: DeclareArgs) -> u8 {
    let input = DeclareInput {
        plan: args.plan,
        impact: args.impact,
        title: args.title,
        links: (!args.links.is_empty()).then(|| args.links.join(" ")),
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    let now = SystemTime::now();
    let declaration =
        match Declaration::from_terminal(&input, &config.incident.plans, &config.incident.source, &user, now) {
            Ok(d) => d,
            Err(refusal) => {
                eprintln!("incident-bot: {}", messages::refusal(&refusal));
                return 2;
            }
        };
    if args.dry_run {
        let capture = Capture::default();
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new(config.aws.region.clone().unwrap_or_else(|| "us-east-1".to_owned())))
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                "DRYRUN", "DRYRUN", None, None, "dry-run",
            )))
            .http_client(capture.clone())
            .build();
        let _ = SdkBackend::new(&sdk, &config.aws).start_incident(&declaration).await;
        let body = capture.0.lock().map(|b| b.clone()).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default());
        return 0;
    }
    let sdk = sdk_config(&config.aws, None).await;
    let backend = SdkBackend::new(&sdk, &config.aws);
    match backend.start_incident(&declaration).await {
        Ok(arn) => {
            println!("{arn}");
            0
        }
        Err(e) => {
            let plan = &declaration.plan;
            let text = messages::declaration_failed(
                &e,
                &plan.label,
                plan.arn.as_str(),
                backend.region(),
                "incident-bot declare",
            );
            eprintln!("incident-bot: {text}");
            1
        }
    }
}

/// An HTTP client that keeps the request body and answers as StartIncident
/// would, so a dry run goes through the real SDK serialisation.
#[derive(Debug, Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl HttpConnector for Capture {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if let (Ok(mut b), Some(bytes)) = (self.0.lock(), request.body().bytes()) {
            *b = bytes.to_vec();
        }
        let arn = format!(
            "{{\"incidentRecordArn\":\"arn:aws:ssm-incidents::000000000000:incident-record/dry-run/{}\"}}",
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
        );
        let response = HttpResponse::new(200u16.try_into().unwrap_or_else(|_| unreachable!()), SdkBody::from(arn));
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl HttpClient for Capture {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}
