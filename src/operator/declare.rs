//! `incident-bot declare`: the `/incident` request from a terminal, through
//! the same checks; `--dry-run` prints the exact StartIncident body the SDK
//! would send, and needs no credentials.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

use super::{exit, say};
use crate::backend::IncidentBackend;
use crate::backend::sdk::{SdkBackend, sdk_config};
use crate::config::Config;
use crate::domain::{Declaration, DeclareInput};
use crate::messages::{self, Subject};

/// What `incident-bot declare` was asked.
#[derive(Debug, Clone, Default)]
pub struct DeclareArgs {
    pub plan: Option<String>,
    pub impact: Option<i64>,
    pub title: Option<String>,
    pub links: Vec<String>,
    pub dry_run: bool,
}

/// Declares, and prints the incident record ARN (or the body, for a dry
/// run). Returns the exit code (see [`exit`]).
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
                return exit::USAGE;
            }
        };
    if args.dry_run {
        say(dry_run_body(config, &declaration).await);
        return exit::OK;
    }
    let sdk = sdk_config(&config.aws, None).await;
    if sdk.region().is_none() {
        eprintln!("incident-bot: {} Nothing was declared.", messages::NO_REGION);
        return exit::USAGE;
    }
    let backend = SdkBackend::new(&sdk, &config.aws);
    match backend.start_incident(&declaration).await {
        Ok(arn) => {
            say(arn);
            exit::OK
        }
        Err(e) => {
            let plan = &declaration.plan;
            let doing = format!("start incidents with response plan `{}`", plan.label);
            let target = format!("Response plan `{}`", plan.label);
            let subject = Subject {
                doing: &doing,
                resource: plan.arn.as_str(),
                target: &target,
                command: "incident-bot declare",
            };
            let (text, ending) = messages::for_terminal(&e, &subject, backend.region(), &backend.endpoint());
            eprintln!("incident-bot: {text}");
            exit::of(ending)
        }
    }
}

/// The StartIncident body the SDK serialises for `d`, through the real SDK
/// with an HTTP client that keeps the request and sends nothing.
async fn dry_run_body(config: &Config, d: &Declaration) -> String {
    let capture = Capture::default();
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new(config.aws.region.clone().unwrap_or_else(|| "us-east-1".to_owned())))
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
            "DRYRUN", "DRYRUN", None, None, "dry-run",
        )))
        .http_client(capture.clone())
        .build();
    let _ = SdkBackend::new(&sdk, &config.aws).start_incident(d).await;
    let body = capture.0.lock().map(|b| b.clone()).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    serde_json::to_string_pretty(&json).unwrap_or_default()
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
