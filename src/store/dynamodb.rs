//! [`Store`] and [`Coordinator`] on one DynamoDB table, shared by every
//! replica of the bot (`[store] dynamodb_table`).
//!
//! The table has a string partition key `pk` and a string sort key `sk`,
//! on-demand capacity, and DynamoDB's TTL on `expires_at` (Unix seconds).
//! `incident-bot store init` creates it. The items:
//!
//! | pk | sk | attributes | for |
//! |---|---|---|---|
//! | `home` | incident ARN | `guild`, `channel`, `thread`, `conf_channel`, `conf_message`, `checkpoint` (JSON), `followed`, `expires_at` once finished | where an incident lives, how far the mirror got |
//! | `channel#<id>` | `home` | `incident` | the incident living in a thread |
//! | `marks#<ARN>` | the key | `mark` | what was shown, or written by the bot |
//! | `message#<id>` | `claim` | `incident`, `expires_at` | messages put on a timeline |
//! | `interaction#<id>` | `claim` | `until_ms`, `expires_at` | interactions claimed by one replica |
//! | `limit#<key>#<n>` | `limit` | `uses`, `expires_at` | the rate limits' counts, window `n` |
//! | `lease#<name>` | `lease` | `holder`, `until_ms`, `expires_at` | the mirror's lease |
//!
//! Every decision between replicas is one conditional write (a claim, a
//! lease, a window's count): the first writer wins, the others read
//! `ConditionalCheckFailed`. Reads are strongly consistent.
//! DynamoDB deletes expired items lazily (up to days late), so a condition
//! also compares the time an item holds with now: expiry is exact, TTL only
//! keeps the table small. Times are each replica's clock; replicas are
//! expected to run NTP (a skew of seconds only moves a lease's hand-over).

use std::collections::HashMap;
use std::fmt::Display;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest, ScalarAttributeType,
    TableStatus, TimeToLiveSpecification, TimeToLiveStatus, WriteRequest,
};

use super::{Checkpoint, Coordinator, Home, Mark, Store, StoreError};
use crate::bot::DEDUPE_WINDOW;
use crate::domain::IncidentArn;
use crate::domain::limits::Window;

/// The TTL attribute (Unix seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// How long a finished incident (with its marks) and a claimed message are
/// kept, as in the SQLite store.
const KEEP: Duration = Duration::from_secs(30 * 86_400);

type Item = HashMap<String, AttributeValue>;

/// See the module documentation.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn failed<E: std::error::Error + 'static, R: std::fmt::Debug>(what: &str, e: SdkError<E, R>) -> StoreError {
    StoreError(format!("DynamoDB {what}: {}", DisplayErrorContext(e)))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

fn now_ms() -> i64 {
    crate::sync::now_ms()
}

/// Unix seconds `after` from now, for the TTL attribute.
fn expiry(after: Duration) -> i64 {
    (now_ms() + i64::try_from(after.as_millis()).unwrap_or(i64::MAX / 2)) / 1000
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn home_item(home: &Home, checkpoint: &str) -> Item {
    let mut item = key("home", home.incident.as_str());
    item.insert("guild".into(), n(home.guild));
    item.insert("channel".into(), n(home.channel));
    item.insert("thread".into(), AttributeValue::Bool(home.thread));
    if let Some((c, m)) = home.confirmation {
        item.insert("conf_channel".into(), n(c));
        item.insert("conf_message".into(), n(m));
    }
    item.insert("checkpoint".into(), s(checkpoint));
    item.insert("followed".into(), AttributeValue::Bool(true));
    item
}

fn home_of_item(item: &Item) -> Result<(Home, Checkpoint, bool), StoreError> {
    let bad = |what: &str| StoreError(format!("a home item in the table is malformed ({what})"));
    let incident = IncidentArn::parse(get_s(item, "sk").ok_or_else(|| bad("sk"))?).map_err(|e| bad(&e.to_string()))?;
    let confirmation = get_n(item, "conf_channel").zip(get_n(item, "conf_message"));
    let home = Home {
        incident,
        guild: get_n(item, "guild").ok_or_else(|| bad("guild"))?,
        channel: get_n(item, "channel").ok_or_else(|| bad("channel"))?,
        thread: item.get("thread").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        confirmation,
    };
    let checkpoint = serde_json::from_str(get_s(item, "checkpoint").ok_or_else(|| bad("checkpoint"))?)
        .map_err(|e| bad(&e.to_string()))?;
    let followed = item.get("followed").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
    Ok((home, checkpoint, followed))
}

fn conditional<E: ProvideConditional, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().is_some_and(ProvideConditional::conditional)
}

/// The service errors that mean "the condition did not hold".
trait ProvideConditional {
    fn conditional(&self) -> bool;
}

macro_rules! conditional_errors {
    ($($error:ty => $check:ident),* $(,)?) => {
        $(impl ProvideConditional for $error {
            fn conditional(&self) -> bool {
                self.$check()
            }
        })*
    };
}

conditional_errors! {
    aws_sdk_dynamodb::operation::put_item::PutItemError => is_conditional_check_failed_exception,
    aws_sdk_dynamodb::operation::update_item::UpdateItemError => is_conditional_check_failed_exception,
    aws_sdk_dynamodb::operation::delete_item::DeleteItemError => is_conditional_check_failed_exception,
}

impl DynamoStore {
    /// The store on `table`, with the AWS configuration the backend uses
    /// (the endpoint from `AWS_ENDPOINT_URL_DYNAMODB` when set).
    pub fn new(sdk: &SdkConfig, table: &str) -> Self {
        Self { client: Client::new(sdk), table: table.to_owned() }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Checks that the table exists with the bot's key schema and is active:
    /// a start-up check, so a missing table is one clear message, not an
    /// error on every interaction.
    pub async fn verify(&self) -> Result<(), StoreError> {
        let t = match self.client.describe_table().table_name(&self.table).send().await {
            Ok(out) => match out.table {
                Some(t) => t,
                None => return Err(StoreError(format!("DynamoDB described no table {}", self.table))),
            },
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {
                return Err(StoreError(format!(
                    "the DynamoDB table {} does not exist: create it with `incident-bot store init`",
                    self.table
                )));
            }
            Err(e) => return Err(failed("DescribeTable", e)),
        };
        let keys: Vec<(String, KeyType)> =
            t.key_schema().iter().map(|k| (k.attribute_name().to_owned(), k.key_type().clone())).collect();
        if keys != [("pk".to_owned(), KeyType::Hash), ("sk".to_owned(), KeyType::Range)] {
            return Err(StoreError(format!(
                "the DynamoDB table {} is not the bot's: its key must be pk (partition) and sk (sort), both \
                 strings; create a table of its own with `incident-bot store init`",
                self.table
            )));
        }
        match t.table_status() {
            Some(TableStatus::Active | TableStatus::Updating) => Ok(()),
            other => Err(StoreError(format!("the DynamoDB table {} is not active ({other:?})", self.table))),
        }
    }

    /// Creates the table if it does not exist (on-demand capacity) and turns
    /// TTL on; what was done, one line each. Running it again changes
    /// nothing.
    pub async fn init(&self) -> Result<Vec<String>, StoreError> {
        let mut done = Vec::new();
        let attr = |name: &str| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()
        };
        let schema = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError(e.to_string());
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attr("pk").map_err(built)?)
            .attribute_definitions(attr("sk").map_err(built)?)
            .key_schema(schema("pk", KeyType::Hash).map_err(built)?)
            .key_schema(schema("sk", KeyType::Range).map_err(built)?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match created {
            Ok(_) => done.push(format!("created the table {} (on-demand capacity)", self.table)),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {
                done.push(format!("the table {} exists", self.table));
            }
            Err(e) => return Err(failed("CreateTable", e)),
        }
        // A new table is CREATING for a few seconds.
        let mut waited = Duration::ZERO;
        loop {
            match self.verify().await {
                Ok(()) => break,
                Err(e) if waited >= Duration::from_secs(120) => return Err(e),
                Err(_) => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    waited += Duration::from_secs(1);
                }
            }
        }
        let ttl = self
            .client
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| failed("DescribeTimeToLive", e))?;
        let status = ttl.time_to_live_description().and_then(|d| d.time_to_live_status().cloned());
        if matches!(status, Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)) {
            done.push(format!("TTL is on ({TTL_ATTRIBUTE})"));
        } else {
            let spec = TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL_ATTRIBUTE)
                .build()
                .map_err(built)?;
            self.client
                .update_time_to_live()
                .table_name(&self.table)
                .time_to_live_specification(spec)
                .send()
                .await
                .map_err(|e| failed("UpdateTimeToLive", e))?;
            done.push(format!("turned TTL on ({TTL_ATTRIBUTE})"));
        }
        Ok(done)
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failed("GetItem", e))?;
        Ok(out.item)
    }

    /// Writes `item` if `condition` holds: `false` when it did not.
    async fn put_if(&self, item: Item, condition: &str, values: Item) -> Result<bool, StoreError> {
        let mut put =
            self.client.put_item().table_name(&self.table).set_item(Some(item)).condition_expression(condition);
        if !values.is_empty() {
            put = put.set_expression_attribute_values(Some(values));
        }
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if conditional(&e) => Ok(false),
            Err(e) => Err(failed("PutItem", e)),
        }
    }

    /// Every item of partition `pk` (strongly consistent, all pages).
    async fn query(&self, pk: String, filter: Option<(&str, Item)>) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut values = HashMap::from([(":pk".to_owned(), s(pk.clone()))]);
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            if let Some((expression, more)) = &filter {
                q = q.filter_expression(*expression);
                values.extend(more.clone());
            }
            let out = q.set_expression_attribute_values(Some(values)).send().await.map_err(|e| failed("Query", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    /// Gives every mark of `incident` an expiry (finished), or takes it away
    /// (followed again).
    async fn expire_marks(&self, incident: &IncidentArn, expires_at: Option<i64>) -> Result<(), StoreError> {
        let marks = self.query(format!("marks#{incident}"), None).await?;
        for chunk in marks.chunks(25) {
            let mut requests = Vec::with_capacity(chunk.len());
            for mark in chunk {
                let mut item = mark.clone();
                match expires_at {
                    Some(at) => item.insert(TTL_ATTRIBUTE.into(), n(at)),
                    None => item.remove(TTL_ATTRIBUTE),
                };
                let put = PutRequest::builder().set_item(Some(item)).build().map_err(|e| StoreError(e.to_string()))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            let mut pending = HashMap::from([(self.table.clone(), requests)]);
            // What DynamoDB did not process (throttled) is sent again.
            for attempt in 0.. {
                let out = self
                    .client
                    .batch_write_item()
                    .set_request_items(Some(pending))
                    .send()
                    .await
                    .map_err(|e| failed("BatchWriteItem", e))?;
                pending = out.unprocessed_items.unwrap_or_default();
                if pending.values().all(Vec::is_empty) {
                    break;
                }
                if attempt >= 5 {
                    return Err(StoreError("DynamoDB BatchWriteItem: items left unprocessed".into()));
                }
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
        }
        Ok(())
    }

    /// Sets `expression` on the home of `incident` if it exists; the new
    /// item, or `None` when there is no such home.
    async fn update_home(
        &self,
        incident: &IncidentArn,
        expression: &str,
        values: Item,
    ) -> Result<Option<Item>, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key("home", incident.as_str())))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        if !values.is_empty() {
            update = update.set_expression_attribute_values(Some(values));
        }
        match update.send().await {
            Ok(out) => Ok(out.attributes),
            Err(e) if conditional(&e) => Ok(None),
            Err(e) => Err(failed("UpdateItem", e)),
        }
    }

    /// Points the channel's item at `incident` with `expression`, if it
    /// still names it.
    async fn update_channel(
        &self,
        channel: u64,
        incident: &IncidentArn,
        expression: &str,
        values: Item,
    ) -> Result<(), StoreError> {
        let mut all = HashMap::from([(":arn".to_owned(), s(incident.as_str()))]);
        all.extend(values);
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("channel#{channel}"), "home")))
            .update_expression(expression)
            .condition_expression("incident = :arn")
            .set_expression_attribute_values(Some(all));
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if conditional(&e) => Ok(()),
            Err(e) => Err(failed("UpdateItem", e)),
        }
    }

    /// Takes one use back from each counter in `counted` (a later window
    /// refused it); a failure is logged: the use then counts until its window
    /// ends.
    async fn take_back(&self, counted: &[String]) {
        for pk in counted {
            let undo = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone(), "limit")))
                .update_expression("ADD uses :minus")
                .expression_attribute_values(":minus", n(-1))
                .send()
                .await;
            if let Err(e) = undo {
                tracing::warn!(error = %failed("UpdateItem", e), "could not take a refused use back from a rate limit");
            }
        }
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn put_home(&self, home: &Home, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let json = serde_json::to_string(checkpoint).map_err(|e| StoreError(e.to_string()))?;
        let new = self.put_if(home_item(home, &json), "attribute_not_exists(pk)", Item::new()).await?;
        if !new && let Some((c, m)) = home.confirmation {
            let values = HashMap::from([(":c".to_owned(), n(c)), (":m".to_owned(), n(m))]);
            let set =
                "SET conf_channel = if_not_exists(conf_channel, :c), conf_message = if_not_exists(conf_message, :m)";
            self.update_home(&home.incident, set, values).await?;
        }
        let mut pointer = key(format!("channel#{}", home.channel), "home");
        pointer.insert("incident".into(), s(home.incident.as_str()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(pointer))
            .send()
            .await
            .map_err(|e| failed("PutItem", e))?;
        Ok(())
    }

    async fn homes(&self) -> Result<Vec<(Home, Checkpoint)>, StoreError> {
        let followed = HashMap::from([(":t".to_owned(), AttributeValue::Bool(true))]);
        let items = self.query("home".to_owned(), Some(("followed = :t", followed))).await?;
        items.iter().map(|i| home_of_item(i).map(|(h, c, _)| (h, c))).collect()
    }

    async fn home_in(&self, channel: u64) -> Result<Option<Home>, StoreError> {
        let Some(pointer) = self.get(format!("channel#{channel}"), "home").await? else { return Ok(None) };
        let Some(incident) = get_s(&pointer, "incident") else { return Ok(None) };
        let Some(item) = self.get("home".to_owned(), incident).await? else { return Ok(None) };
        Ok(Some(home_of_item(&item)?.0))
    }

    async fn home_of(&self, incident: &IncidentArn) -> Result<Option<(Home, Checkpoint)>, StoreError> {
        let Some(item) = self.get("home".to_owned(), incident.as_str()).await? else { return Ok(None) };
        home_of_item(&item).map(|(h, c, _)| Some((h, c)))
    }

    async fn save_checkpoint(&self, incident: &IncidentArn, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let json = serde_json::to_string(checkpoint).map_err(|e| StoreError(e.to_string()))?;
        self.update_home(incident, "SET checkpoint = :c", HashMap::from([(":c".to_owned(), s(json))])).await?;
        Ok(())
    }

    async fn finish(&self, incident: &IncidentArn) -> Result<(), StoreError> {
        let at = expiry(KEEP);
        let values = HashMap::from([(":f".to_owned(), AttributeValue::Bool(false)), (":e".to_owned(), n(at))]);
        let Some(item) = self.update_home(incident, "SET followed = :f, expires_at = :e", values).await? else {
            return Ok(());
        };
        if let Some(channel) = get_n(&item, "channel") {
            let values = HashMap::from([(":e".to_owned(), n(at))]);
            self.update_channel(channel, incident, "SET expires_at = :e", values).await?;
        }
        self.expire_marks(incident, Some(at)).await
    }

    async fn follow_again(&self, incident: &IncidentArn, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let json = serde_json::to_string(checkpoint).map_err(|e| StoreError(e.to_string()))?;
        let values = HashMap::from([(":c".to_owned(), s(json)), (":t".to_owned(), AttributeValue::Bool(true))]);
        let Some(item) =
            self.update_home(incident, "SET checkpoint = :c, followed = :t REMOVE expires_at", values).await?
        else {
            return Ok(());
        };
        if let Some(channel) = get_n(&item, "channel") {
            self.update_channel(channel, incident, "REMOVE expires_at", Item::new()).await?;
        }
        self.expire_marks(incident, None).await
    }

    async fn mark(&self, incident: &IncidentArn, key_: &str, mark: Mark) -> Result<bool, StoreError> {
        let mut item = key(format!("marks#{incident}"), key_);
        item.insert("mark".into(), s(mark.as_str()));
        self.put_if(item, "attribute_not_exists(pk)", Item::new()).await
    }

    async fn marked(&self, incident: &IncidentArn, key_: &str) -> Result<bool, StoreError> {
        Ok(self.get(format!("marks#{incident}"), key_).await?.is_some())
    }

    async fn claim_message(&self, message: u64, incident: &IncidentArn) -> Result<Option<IncidentArn>, StoreError> {
        for _ in 0..3 {
            let mut item = key(format!("message#{message}"), "claim");
            item.insert("incident".into(), s(incident.as_str()));
            item.insert(TTL_ATTRIBUTE.into(), n(expiry(KEEP)));
            let now = HashMap::from([(":now".to_owned(), n(now_ms() / 1000))]);
            if self.put_if(item, "attribute_not_exists(pk) OR expires_at < :now", now).await? {
                return Ok(None);
            }
            // Claimed before: by whom (unless it was released meanwhile).
            if let Some(existing) = self.get(format!("message#{message}"), "claim").await?
                && let Some(arn) = get_s(&existing, "incident").and_then(|a| IncidentArn::parse(a).ok())
            {
                return Ok(Some(arn));
            }
        }
        Err(StoreError(format!("message {message} is being claimed and released by other replicas")))
    }

    async fn release_message(&self, message: u64) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("message#{message}"), "claim")))
            .send()
            .await
            .map_err(|e| failed("DeleteItem", e))?;
        Ok(())
    }
}

#[async_trait]
impl Coordinator for DynamoStore {
    fn shared(&self) -> bool {
        true
    }

    async fn claim_interaction(&self, id: u64) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut item = key(format!("interaction#{id}"), "claim");
        item.insert("until_ms".into(), n(now + ms(DEDUPE_WINDOW)));
        item.insert(TTL_ATTRIBUTE.into(), n(expiry(DEDUPE_WINDOW)));
        let values = HashMap::from([(":now".to_owned(), n(now))]);
        self.put_if(item, "attribute_not_exists(pk) OR until_ms < :now", values).await
    }

    /// Fixed windows, aligned to their length, one atomic counter each
    /// (`ADD`, conditioned on the count being under the maximum): one write
    /// per window, which DynamoDB serialises on the item, so a burst from
    /// many users of one server never retries. A use refused by one window
    /// is taken back from the others. Across a window's
    /// boundary a user may get up to twice the maximum (the one-process
    /// coordinator's windows slide).
    async fn acquire(&self, keys: &[(String, Window)], now_ms: i64) -> Result<Option<(usize, Duration)>, StoreError> {
        // Every window at once: one round trip, whatever the number of keys.
        let counts = keys.iter().map(|(name, window)| {
            let length = ms(window.window).max(1);
            let bucket = now_ms.div_euclid(length);
            let pk = format!("limit#{name}#{bucket}");
            let update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone(), "limit")))
                .update_expression("ADD uses :one SET expires_at = :e")
                .condition_expression("attribute_not_exists(uses) OR uses < :max")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":max", n(window.max))
                .expression_attribute_values(":e", n((bucket + 1) * length / 1000 + 60));
            async move {
                let left = Duration::from_millis(u64::try_from((bucket + 1) * length - now_ms).unwrap_or(0));
                (pk, left, update.send().await)
            }
        });
        let results = futures_util::future::join_all(counts).await;
        let counted: Vec<String> = results.iter().filter(|(.., r)| r.is_ok()).map(|(pk, ..)| pk.clone()).collect();
        if counted.len() == results.len() {
            return Ok(None);
        }
        self.take_back(&counted).await;
        for (i, (_, left, r)) in results.into_iter().enumerate() {
            match r {
                Ok(_) => {}
                Err(e) if conditional(&e) => return Ok(Some((i, left))),
                Err(e) => return Err(failed("UpdateItem", e)),
            }
        }
        Ok(None)
    }

    async fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut item = key(format!("lease#{name}"), "lease");
        item.insert("holder".into(), s(holder));
        item.insert("until_ms".into(), n(now + ms(ttl)));
        item.insert(TTL_ATTRIBUTE.into(), n(expiry(ttl) + 3600));
        let values = HashMap::from([(":h".to_owned(), s(holder)), (":now".to_owned(), n(now))]);
        self.put_if(item, "attribute_not_exists(pk) OR holder = :h OR until_ms < :now", values).await
    }

    async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("lease#{name}"), "lease")))
            .condition_expression("holder = :h")
            .expression_attribute_values(":h", s(holder))
            .send()
            .await;
        match delete {
            Ok(_) => Ok(()),
            Err(e) if conditional(&e) => Ok(()),
            Err(e) => Err(failed("DeleteItem", e)),
        }
    }
}
