//! The AWS Lambda transport: Discord POSTs each interaction, signed, to the
//! function's **Function URL**; the Lambda runtime hands it over as an
//! event, and the function's response is the HTTP response. Built with the
//! cargo feature `lambda`; a process started by Lambda (the variable
//! `AWS_LAMBDA_RUNTIME_API` set, no command given) runs this.
//!
//! Lambda freezes the process as soon as an invocation has returned, so no
//! work may be left running after the first answer, as the HTTP endpoint
//! leaves it. The work is handed over instead, by an **asynchronous
//! invocation of the function itself** (docs/lambda.md says why this
//! pattern, against the others):
//!
//! 1. *front*: the Function URL event is verified as the HTTP endpoint
//!    verifies a request ([`Verifier`]); a PING gets a PONG; an interaction
//!    goes through the one accept path ([`crate::bot::Bot::handle_here`]: the claim,
//!    the access rules, the input, the rate limits) up to its first answer.
//!    An answer that ends the interaction (a private refusal, autocomplete
//!    choices, a dialog) is the response. An answer that announces work (a
//!    deferral, an acknowledgement) stops the command there: the function
//!    invokes itself with `{"incident_bot": {"resume": …}}` (the
//!    interaction and that answer), and then returns the answer;
//! 2. *resume*: that invocation runs the command again from the start with
//!    a [`Responder::resumed`](crate::discord::responder::Responder::resumed):
//!    the steps before the first answer replay without counting again, the
//!    answer itself is taken as given, and the rest (StartIncident, the
//!    edit, the thread) runs to the end before the invocation returns.
//!    A resumption delivered twice (Lambda's asynchronous invocations are
//!    at least once) is claimed and runs once.
//!
//! Other events: `{"incident_bot": "sync"}` (EventBridge Scheduler, every
//! minute) is one pass of the mirror; `{"incident_bot": "register"}` (the
//! operator's `aws lambda invoke` after a deploy) registers the commands.
//! Nothing runs between invocations: no health listener, no refresh of the
//! plan list (autocomplete offers the configured aliases), no mirror loop.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::SdkConfig;
use base64::Engine as _;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use serenity::all::{CreateInteractionResponse, Interaction, InteractionId};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use super::http::{ANSWER_WITHIN, MAX_BODY, PONG, Refusal, Signed, Verifier};
use crate::app::{AppError, Headless};
use crate::discord::api::{ApiError, error_chain};
use crate::discord::responder::{Callback, FirstAnswer, Reply};
use crate::messages;

/// The key of the bot's own events (resume, sync, register).
pub const EVENT_KEY: &str = "incident_bot";

/// What the function needs between invocations.
struct Function {
    headless: Headless,
    verifier: Verifier,
    lambda_client: aws_sdk_lambda::Client,
    /// The REST client's application id, once an interaction told it.
    application: Mutex<Option<u64>>,
}

/// Serves Lambda invocations until the runtime stops.
pub async fn run(headless: Headless, sdk: &SdkConfig) -> Result<(), AppError> {
    let Some(key) = headless.interactions.as_ref().map(|i| i.public_key) else {
        return Err(AppError::LambdaSetting(
            "INCIDENT_BOT_DISCORD_PUBLIC_KEY is not set: the application's public key from the Developer Portal, \
             General Information, verifies every request",
        ));
    };
    if !headless.bot.services().coordinator.shared() {
        return Err(AppError::LambdaSetting(
            "INCIDENT_BOT_STORE_DYNAMODB_TABLE is not set: on Lambda the store is the DynamoDB table (the function's \
             instances share it, and nothing on their disks lasts)",
        ));
    }
    let function = Arc::new(Function {
        headless,
        verifier: Verifier::new(key),
        lambda_client: aws_sdk_lambda::Client::new(sdk),
        application: Mutex::default(),
    });
    info!(
        startup_ms = crate::telemetry::millis(crate::telemetry::since_start()),
        "ready: serving Discord interactions from the Lambda Function URL"
    );
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let function = function.clone();
        async move { Ok::<Value, lambda_runtime::Error>(function.invoked(event).await) }
    });
    lambda_runtime::run(handler).await.map_err(|e| AppError::LambdaRuntime(error_chain(&*e)))
}

impl Function {
    async fn invoked(&self, event: LambdaEvent<Value>) -> Value {
        let LambdaEvent { payload, context } = event;
        if payload.get("requestContext").and_then(|c| c.get("http")).is_some() {
            return self.front(&payload, &context.invoked_function_arn).await;
        }
        match payload.get(EVENT_KEY) {
            Some(Value::Object(o)) if o.contains_key("resume") => self.resume(&o["resume"]).await,
            Some(Value::String(s)) if s == "sync" => {
                let mirrored = self.headless.sync_once().await;
                json!({ "mirrored": mirrored })
            }
            Some(Value::String(s)) if s == "register" => match self.headless.register().await {
                Ok(app) => {
                    info!(application = %app.name, guilds = ?self.headless.guild_ids, "registered /incident");
                    json!({ "registered": app.name })
                }
                Err(e) => {
                    error!(error = %e, "could not register the commands");
                    json!({ "registered": null, "error": e.to_string() })
                }
            },
            // EventBridge's own scheduled events, as a rule (not Scheduler) sends them.
            _ if payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") => {
                json!({ "mirrored": self.headless.sync_once().await })
            }
            _ => {
                warn!(
                    "an event the function does not know was ignored (not a Function URL request, nor the bot's own)"
                );
                json!({ "ignored": true })
            }
        }
    }

    /// A Function URL request: checked as the HTTP endpoint checks one,
    /// answered with the first answer (module documentation, step 1).
    async fn front(&self, event: &Value, function_arn: &str) -> Value {
        match self.answer(event, function_arn).await {
            Ok(response) => response,
            Err(refusal) => {
                tracing::debug!(reason = refusal.label(), "interactions request refused");
                self.headless.metrics.interaction_refused(refusal.label());
                let mut response = url_response(refusal.status().as_u16(), "text/plain; charset=utf-8", refusal.text());
                if refusal == Refusal::Method {
                    response["headers"]["allow"] = json!("POST");
                }
                response
            }
        }
    }

    async fn answer(&self, event: &Value, function_arn: &str) -> Result<Value, Refusal> {
        let method = event["requestContext"]["http"]["method"].as_str().unwrap_or_default();
        if method != "POST" {
            return Err(Refusal::Method);
        }
        let raw = event["body"].as_str().unwrap_or_default();
        let body = if event["isBase64Encoded"].as_bool() == Some(true) {
            base64::engine::general_purpose::STANDARD.decode(raw).map_err(|_| Refusal::Body)?
        } else {
            raw.as_bytes().to_vec()
        };
        if body.len() > MAX_BODY {
            return Err(Refusal::TooLarge);
        }
        let headers = &event["headers"];
        let header = |name: &str| headers.get(name).and_then(Value::as_str).map(str::to_owned);
        let interaction = match self.verifier.open(header, &body, SystemTime::now())? {
            Signed::Ping => {
                return Ok(url_response(200, "application/json", std::str::from_utf8(PONG).unwrap_or("{}")));
            }
            Signed::Interaction(i) => *i,
        };
        self.learn_application(&interaction);
        let id = interaction.id().get();
        let (tx, mut rx) = oneshot::channel();
        let callback = Arc::new(Front(Mutex::new(Some(tx))));
        let bot = self.headless.bot.clone();
        let mut handled = Box::pin(bot.handle_here(interaction, callback));
        // The command runs until it ends, or stops at an answer that
        // announces work (which `Front` holds there).
        let mut ended = false;
        let first = tokio::time::timeout(ANSWER_WITHIN, async {
            tokio::select! {
                answer = &mut rx => answer.ok(),
                () = &mut handled => {
                    ended = true;
                    rx.try_recv().ok()
                }
            }
        })
        .await;
        let answer = match first {
            Ok(Some(answer)) => answer,
            // A repeated delivery, or nothing of the bot's.
            Ok(None) => return Ok(json!({ "statusCode": 204 })),
            Err(_) => {
                warn!("no first answer within 3 s; Discord shows the interaction as failed");
                return Ok(url_response(503, "text/plain; charset=utf-8", "no answer in time\n"));
            }
        };
        if announces_work(&answer) {
            // Stopped at its first answer: the rest runs in the resumption.
            drop(handled);
            if let Err(cause) = self.hand_over(&body, &answer, function_arn).await {
                error!(interaction = id, %cause, "could not invoke the function to finish the interaction");
                let text = format!("⚠️ {}", messages::could_not_hand_over());
                let refusal = FirstAnswer::Message(Reply::private(text)).into_response();
                return Ok(json_response(&refusal));
            }
        } else if !ended && tokio::time::timeout(Duration::from_secs(1), &mut handled).await.is_err() {
            warn!(interaction = id, "the command went on after its last answer; stopped");
        }
        Ok(json_response(&answer))
    }

    /// The asynchronous invocation that finishes an interaction.
    async fn hand_over(
        &self,
        body: &[u8],
        answer: &CreateInteractionResponse,
        function_arn: &str,
    ) -> Result<(), String> {
        let interaction = std::str::from_utf8(body).map_err(|e| e.to_string())?;
        let answer = serde_json::to_value(answer).map_err(|e| e.to_string())?;
        let payload = json!({ EVENT_KEY: { "resume": { "interaction": interaction, "answer": answer } } });
        let bytes = serde_json::to_vec(&payload).map_err(|e| e.to_string())?;
        self.lambda_client
            .invoke()
            .function_name(function_arn)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_smithy_types::Blob::new(bytes))
            .send()
            .await
            .map(drop)
            .map_err(|e| error_chain(&e))
    }

    /// A resumption (module documentation, step 2).
    async fn resume(&self, resume: &Value) -> Value {
        let Some(raw) = resume["interaction"].as_str() else {
            warn!("a resumption without its interaction was ignored");
            return json!({ "resumed": false });
        };
        let interaction: Interaction = match serde_json::from_str(raw) {
            Ok(i) => i,
            Err(e) => {
                warn!(error = %e, "a resumption's interaction could not be read");
                return json!({ "resumed": false });
            }
        };
        self.learn_application(&interaction);
        let given = resume["answer"]["type"].as_u64();
        let callback = Arc::new(Given(Mutex::new(given)));
        self.headless.bot.resume(interaction, callback).await;
        json!({ "resumed": true })
    }

    /// Edits of the first answer go to `/webhooks/{application}/…`: the id
    /// comes with every interaction (the gateway's READY, or the HTTP
    /// mode's start-up check, tell it elsewhere).
    fn learn_application(&self, interaction: &Interaction) {
        let id = match interaction {
            Interaction::Command(c) | Interaction::Autocomplete(c) => c.application_id,
            Interaction::Component(c) => c.application_id,
            Interaction::Modal(m) => m.application_id,
            _ => return,
        };
        let mut known = self.application.lock().unwrap_or_else(PoisonError::into_inner);
        if *known != Some(id.get()) {
            self.headless.rest.set_application_id(id);
            *known = Some(id.get());
        }
    }
}

/// Whether the command has more to do after this first answer.
fn announces_work(answer: &CreateInteractionResponse) -> bool {
    matches!(answer, CreateInteractionResponse::Defer(_) | CreateInteractionResponse::Acknowledge)
}

/// The front invocation's first answer: handed to the waiting invocation,
/// and when it announces work, the command is held there (it goes on in the
/// resumption).
struct Front(Mutex<Option<oneshot::Sender<CreateInteractionResponse>>>);

#[async_trait]
impl Callback for Front {
    async fn send(&self, _: InteractionId, _: &str, answer: CreateInteractionResponse) -> Result<(), ApiError> {
        let waiting = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some(tx) = waiting else { return Err(already_acknowledged()) };
        let hold = announces_work(&answer);
        tx.send(answer).map_err(|_| ApiError::Refused {
            status: 404,
            code: 10062,
            message: "the invocation waited longer than 3 s".to_owned(),
        })?;
        if hold {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// The first answer the front invocation gave (its `type`), in the
/// resumption: reaching it again is sending nothing.
struct Given(Mutex<Option<u64>>);

#[async_trait]
impl Callback for Given {
    async fn send(&self, _: InteractionId, _: &str, answer: CreateInteractionResponse) -> Result<(), ApiError> {
        let given = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        let again = serde_json::to_value(&answer).ok().and_then(|v| v["type"].as_u64());
        match given {
            Some(t) if Some(t) == again => Ok(()),
            Some(t) => {
                // The state changed between the two invocations (a store
                // read, say): Discord has the first answer, not this one.
                warn!(given = t, now = ?again, "the resumed command reached another first answer; it is not sent");
                Err(already_acknowledged())
            }
            None => Err(already_acknowledged()),
        }
    }
}

fn already_acknowledged() -> ApiError {
    ApiError::Refused { status: 400, code: 40060, message: "Interaction has already been acknowledged.".to_owned() }
}

/// A Function URL response (payload format 2.0).
fn url_response(status: u16, content_type: &str, body: &str) -> Value {
    json!({ "statusCode": status, "headers": { "content-type": content_type }, "body": body, "isBase64Encoded": false })
}

fn json_response(answer: &CreateInteractionResponse) -> Value {
    match serde_json::to_string(answer) {
        Ok(body) => url_response(200, "application/json", &body),
        Err(e) => {
            warn!(error = %e, "an answer could not be written");
            url_response(500, "text/plain; charset=utf-8", "internal error\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serenity::all::CreateInteractionResponseMessage;

    #[tokio::test]
    async fn the_front_holds_a_command_at_an_answer_that_announces_work() {
        let id = InteractionId::new(1);
        // A refusal ends the command: the callback returns.
        let (tx, rx) = oneshot::channel();
        let front = Front(Mutex::new(Some(tx)));
        let refusal = FirstAnswer::Message(Reply::private("no")).into_response();
        front.send(id, "t", refusal).await.unwrap();
        assert_eq!(serde_json::to_value(rx.await.unwrap()).unwrap()["type"], 4);
        // A deferral holds it: the answer arrives, the callback never returns.
        let (tx, rx) = oneshot::channel();
        let front = Front(Mutex::new(Some(tx)));
        let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::default());
        let held = tokio::time::timeout(Duration::from_millis(50), front.send(id, "t", defer)).await;
        assert!(held.is_err(), "the command went on past its deferral");
        assert_eq!(serde_json::to_value(rx.await.unwrap()).unwrap()["type"], 5);
    }

    #[tokio::test]
    async fn the_resumption_sends_the_given_answer_never_again() {
        let id = InteractionId::new(1);
        let defer = || CreateInteractionResponse::Defer(CreateInteractionResponseMessage::default());
        let given = Given(Mutex::new(Some(5)));
        given.send(id, "t", defer()).await.unwrap();
        assert!(matches!(given.send(id, "t", defer()).await, Err(ApiError::Refused { code: 40060, .. })));
        let other = Given(Mutex::new(Some(6)));
        assert!(matches!(other.send(id, "t", defer()).await, Err(ApiError::Refused { code: 40060, .. })));
    }

    #[test]
    fn function_url_responses() {
        let r = url_response(401, "text/plain; charset=utf-8", "invalid request signature\n");
        assert_eq!(r["statusCode"], 401);
        assert_eq!(r["headers"]["content-type"], "text/plain; charset=utf-8");
        assert_eq!(r["isBase64Encoded"], false);
    }
}
