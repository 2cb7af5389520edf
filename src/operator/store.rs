//! `incident-bot store init`: the shared store's DynamoDB table.

use super::{exit, say};
use crate::backend::sdk::sdk_config;
use crate::config::Config;
use crate::store::dynamodb::DynamoStore;

/// Creates the table `[store] dynamodb_table` names (if it does not exist)
/// and turns its TTL on; one line per step.
pub async fn init(config: &Config) -> u8 {
    let Some(table) = &config.dynamodb_table else {
        eprintln!(
            "incident-bot: no shared store is configured: set [store] dynamodb_table \
             (INCIDENT_BOT_STORE_DYNAMODB_TABLE) to the table's name"
        );
        return exit::USAGE;
    };
    let sdk = sdk_config(&config.aws, None).await;
    if sdk.region().is_none() {
        eprintln!("incident-bot: {}", crate::messages::NO_REGION);
        return exit::USAGE;
    }
    match DynamoStore::new(&sdk, table).init().await {
        Ok(done) => {
            for line in done {
                say(line);
            }
            say(format!("the shared store is ready: DynamoDB table {table}"));
            exit::OK
        }
        Err(e) => {
            eprintln!("incident-bot: {e}");
            exit::FAILED
        }
    }
}
