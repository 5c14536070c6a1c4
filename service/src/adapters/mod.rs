//! Implementations of the domain's ports: Step Functions, DynamoDB (results and webhooks), SQS,
//! the outbound webhook client, the in-process cache, and in-memory fakes for tests.

pub mod aws;
pub mod conformance;
pub mod dynamodb;
mod dynamodb_item;
mod dynamodb_links;
pub mod dynamodb_list;
mod dynamodb_reconcile;
pub mod hot;
pub mod links_conformance;
pub mod memory;
pub mod memory_sfn;
pub mod memory_tasks;
pub mod memory_webhooks;
pub mod sender;
pub mod sfn;
mod sfn_callbacks;
mod sfn_history;
pub mod sqs;
pub mod webhooks_conformance;
pub mod webhooks_layout;
pub mod webhooks_table;

pub use dynamodb::DynamoDbStore;
pub use hot::MemoryCache;
pub use memory::InMemoryStore;
pub use memory_sfn::InMemoryExecutions;
pub use memory_tasks::InMemoryTasks;
pub use memory_webhooks::{InMemoryQueue, InMemoryWebhooks, ScriptedSender};
pub use sender::HttpSender;
pub use sfn::StepFunctions;
pub use sqs::DeliveryQueueSqs;
pub use webhooks_table::WebhooksTable;
