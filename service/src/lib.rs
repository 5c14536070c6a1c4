//! sfn-results: serves AWS Step Functions execution results by ARN over HTTP, cached in DynamoDB.
//!
//! `http/` (axum handlers) depends on `domain/` (ARNs, statuses, retrieval rules, ports);
//! `adapters/` implement the ports for Step Functions, DynamoDB and tests.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod emf;
pub mod events;
pub mod gateway;
pub mod http;
pub mod server;
pub mod telemetry;

use std::sync::Arc;

use adapters::MemoryCache;
use config::Config;
use domain::{
    CachePolicy, CursorKey, ExecutionLister, ExecutionSource, ExecutionStarter, HotCache, Listing,
    NoHotCache, ResultStore, Results,
};
pub use http::{router, App, AppState};

/// The upstream ports the service needs.
#[derive(Clone)]
pub struct Ports {
    pub source: Arc<dyn ExecutionSource>,
    pub starter: Arc<dyn ExecutionStarter>,
    pub lister: Arc<dyn ExecutionLister>,
    pub store: Arc<dyn ResultStore>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ports").finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state from the configuration and the upstream ports; the in-process cache is
    /// sized by the configuration.
    pub fn new(config: &Config, ports: Ports) -> Self {
        Self::with_notifier(config, ports, None)
    }

    /// As `new`, with webhooks notified of every stored stop.
    pub fn with_notifier(
        config: &Config,
        ports: Ports,
        notifier: Option<domain::notify::Notifier>,
    ) -> Self {
        let policy = CachePolicy {
            provisional_ttl: config.redrivable_result_ttl,
            retention: config.result_retention,
            refresh: config.read_refresh,
        };
        let hot: Arc<dyn HotCache> = match config.memory_cache_bytes {
            0 => Arc::new(NoHotCache),
            bytes => Arc::new(MemoryCache::new(bytes)),
        };
        let results = Results::new(
            ports.source,
            ports.store,
            hot,
            ports.starter,
            ports.lister,
            policy,
        );
        let results = match notifier {
            Some(notifier) => results.with_notifier(notifier),
            None => results,
        };
        let key = config
            .cursor_secret
            .as_ref()
            .map_or_else(CursorKey::random, |s| CursorKey::new(s.as_bytes()));
        Self::from_shared(http::Shared {
            listing: Listing::new(&results, config.express_state_machines.clone(), key),
            results,
            allowed: config.allowed_state_machines.clone(),
            max_wait: config.max_wait,
            cors_allowed_origins: config.cors_allowed_origins.clone().into(),
            start_machine: config.start_state_machine.clone(),
            workflows: config.workflows.clone(),
            webhook_allow_loopback: config.webhook_allow_loopback,
            prepared: http::prepared::PreparedCache::new(config.memory_cache_bytes),
            compression: if config.on_lambda {
                http::prepared::Compression::Gateway
            } else {
                http::prepared::Compression::Here
            },
            counters: emf::Counters::default(),
        })
    }
}

/// Webhooks from the configuration: the notifier over the webhooks table, the delivery queue
/// and the outbound client; `None` when `WEBHOOKS_TABLE` is not set.
pub fn webhooks(
    sdk: &aws_config::SdkConfig,
    config: &Config,
) -> Result<Option<(domain::notify::Notifier, Arc<adapters::DeliveryQueueSqs>)>, String> {
    let Some(webhooks) = &config.webhooks else {
        return Ok(None);
    };
    let queue = Arc::new(adapters::DeliveryQueueSqs::new(sdk, &webhooks.queue_url));
    let sender = adapters::HttpSender::new(config.webhook_allow_loopback)
        .map_err(|e| format!("the webhook client could not be built: {e}"))?;
    let notifier = domain::notify::Notifier {
        store: Arc::new(adapters::WebhooksTable::new(sdk, &webhooks.table)),
        queue: queue.clone(),
        sender: Arc::new(sender),
        schedule: webhooks.schedule.clone(),
        public_base_url: webhooks.public_base_url.clone(),
    };
    Ok(Some((notifier, queue)))
}
