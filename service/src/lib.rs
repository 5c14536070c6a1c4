//! sfn-results: serves AWS Step Functions execution results by ARN over HTTP, cached in DynamoDB.
//!
//! `http/` (axum handlers) depends on `domain/` (ARNs, statuses, retrieval rules, ports);
//! `adapters/` implement the ports for Step Functions, DynamoDB and tests.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod http;
pub mod server;

use std::sync::Arc;

use config::Config;
use domain::{CachePolicy, ExecutionSource, ResultStore, Results};
pub use http::{router, AppState};

impl AppState {
    /// Builds the state from the configuration and the two ports.
    pub fn new(
        config: &Config,
        source: Arc<dyn ExecutionSource>,
        store: Arc<dyn ResultStore>,
    ) -> Self {
        let policy = CachePolicy {
            provisional_ttl: config.redrivable_result_ttl,
            retention: config.result_retention,
        };
        Self {
            results: Results::new(source, store, policy),
            allowed: Arc::new(config.allowed_state_machines.clone()),
            max_wait: config.max_wait,
            cors_allowed_origins: config.cors_allowed_origins.clone().into(),
        }
    }
}
