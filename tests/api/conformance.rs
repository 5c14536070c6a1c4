//! The result store's conditional rules (`sfn_results::adapters::conformance`) and its callback
//! links' (`links_conformance`) hold on DynamoDB as they do in the in-memory fake: the same
//! suites, here against the table on the emulator.

use sfn_results::adapters::{conformance, links_conformance, DynamoDbStore};

use crate::emulators;
use crate::upstream::{create_table, sdk_config, unique};

#[tokio::test]
async fn the_dynamodb_store_keeps_every_conditional_rule_the_fake_keeps() {
    let emulator = emulators::shared();
    let sdk = sdk_config(&emulator.endpoint()).await;
    let table = unique("conformance");
    create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await;
    conformance::run(&DynamoDbStore::new(&sdk, table)).await;
}

#[tokio::test]
async fn the_dynamodb_store_keeps_every_link_rule_the_fake_keeps() {
    let emulator = emulators::shared();
    let sdk = sdk_config(&emulator.endpoint()).await;
    let table = unique("links");
    create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await;
    links_conformance::run(&DynamoDbStore::new(&sdk, table)).await;
}
