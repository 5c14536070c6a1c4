//! The emulated AWS side of a test: SDK clients, the sample state machines, the results table.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sfn::config::Credentials;
use aws_sdk_sfn::types::StateMachineType;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::emulators::repo_root;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// A name no other test in this run uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await
}

/// The sample state machines of `infra/state-machines`, created under this test's names.
#[derive(Debug, Clone)]
pub struct Machines {
    pub greeting: String,
    pub rejected: String,
    pub express: String,
}

pub async fn create_machines(sfn: &aws_sdk_sfn::Client, prefix: &str) -> Machines {
    // Named `{prefix}-greeting`, `-rejected` and `-express`: the event fixtures of infra/events
    // name `api-sfn-express`.
    let create = |file: &'static str, stem: &str, kind: StateMachineType| {
        let sfn = sfn.clone();
        let name = format!("{prefix}-{stem}");
        async move {
            let definition =
                std::fs::read_to_string(repo_root().join("infra/state-machines").join(file))
                    .expect("read the state machine definition");
            sfn.create_state_machine()
                .name(name)
                .definition(definition)
                .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/sfn-results-tests"))
                .r#type(kind)
                .send()
                .await
                .expect("create the state machine")
                .state_machine_arn
        }
    };
    Machines {
        greeting: create("greeting.asl.json", "greeting", StateMachineType::Standard).await,
        rejected: create("rejected.asl.json", "rejected", StateMachineType::Standard).await,
        express: create(
            "hello.express.asl.json",
            "express",
            StateMachineType::Express,
        )
        .await,
    }
}

/// Creates the test's machines again under the same names (after an emulator restart).
pub async fn recreate_machines(sfn: &aws_sdk_sfn::Client, machines: &Machines) {
    let greeting = machines.greeting.rsplit(':').next().expect("name");
    let prefix = greeting.trim_end_matches("-greeting");
    let again = create_machines(sfn, prefix).await;
    assert_eq!(again.greeting, machines.greeting);
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("key")
}

pub async fn create_table(ddb: &aws_sdk_dynamodb::Client, table: &str) {
    ddb.create_table()
        .table_name(table)
        .set_attribute_definitions(Some(
            ["executionArn", "stateMachineArn", "startDate"]
                .map(|name| {
                    AttributeDefinition::builder()
                        .attribute_name(name)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .expect("attribute")
                })
                .to_vec(),
        ))
        .key_schema(key("executionArn", KeyType::Hash))
        // GET /executions lists the EXPRESS machine from here (as stack.yaml's table does).
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("byStateMachine")
                .key_schema(key("stateMachineArn", KeyType::Hash))
                .key_schema(key("startDate", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("index"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create the table");
    ddb.update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expiresAt")
                .enabled(true)
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("enable TTL");
}

/// A webhooks table: partition key `pk`, sort key `sk`, both strings.
pub async fn create_webhooks_table(ddb: &aws_sdk_dynamodb::Client, table: &str) {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .expect("key")
    };
    ddb.create_table()
        .table_name(table)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create the webhooks table");
}
