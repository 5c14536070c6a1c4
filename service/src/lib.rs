//! sfn-results: serves AWS Step Functions execution results by ARN over HTTP, cached in DynamoDB.
//!
//! # Layout
//!
//! Start here. The folders are the layers: the doors (`http/`, `events/`) call the `domain/`,
//! which calls its ports (traits); `adapters/` implement the ports. Only `adapters/` names the
//! AWS SDK; the domain imports neither door nor adapter.
//!
//! - `main.rs`: reads `config/`, sets up `telemetry.rs` and `emf.rs`, builds the SDK clients
//!   (`adapters/aws.rs`) and picks one of the three entry points from `_HANDLER`:
//!   - `http` (the default): the API, [`router`] on the Lambda runtime (`server.rs`, with
//!     `gateway.rs` mapping API Gateway's events to paths) or as a local server;
//!   - `events`: `events/` (Step Functions' status changes, Express execution logs, the
//!     reconcile schedule);
//!   - `deliveries`: `events/deliveries.rs` (webhook delivery messages from SQS).
//! - `config/`: the environment, read once per concern (`machines.rs`: the allowed machines and
//!   the workflows they make; `reading.rs`: the table, waits, caching, CORS).
//! - `http/`: one file per resource, each with its `router()`: `executions.rs` (the result by
//!   ARN, and the hot hit answered before routing), `steering.rs` (stop, redrive), `steps.rs` (steps), `links.rs` (callback links), `start.rs` (start
//!   and wait), `list.rs` (the ops list), `workflows.rs`, `webhooks.rs`, `page.rs` (the status page), `meta.rs`; answers
//!   are shaped by `prepared.rs` (a stopped result's answer built once), `headers.rs`, and
//!   `problem.rs` (the one error type, RFC 9457).
//! - `domain/`: the rules. `arn.rs`, `execution.rs`, `workflows.rs` are the vocabulary;
//!   `retrieval.rs` (`Results`) is the read path: memory, then `fleet.rs` (`Fleet`, the
//!   cross-instance protocol: lease, tick, shared read, remembered 404), with `flights.rs`
//!   (coalescing inside one process), waiting and start-and-wait; `answer.rs` is what it
//!   answers; `keeper.rs` (`Keeper`) stores a stop, for the read path, `ingest.rs` (what events
//!   push) and `reconcile.rs` (what events missed) alike; `listing.rs` and `cursor.rs` serve the
//!   ops lists; `steering.rs` (`Steering`) stops and redrives executions, keeping what they became;
//!   `steps.rs` folds a history into steps and `timeline.rs` (`Timeline`) reads, keeps and pages them;
//!   `links.rs` (`Links`) makes, shows and answers one-time callback links;
//!   `webhooks/` is the webhooks room (rules, fan-out, outbox and sweep, attempts,
//!   with their ports); `ports.rs` holds the other ports, the table's split by concern
//!   (`ResultStore`, `ReadCoordination`, `ReconcileLedger`, `RecordedExecutions`; `Table` is all
//!   four); `budget.rs` keeps every answer under API Gateway's 29 s.
//! - `adapters/`: Step Functions (`sfn.rs`), the results table (`dynamodb.rs`,
//!   `dynamodb_list.rs`), the webhooks table (`webhooks_table.rs`, `webhooks_layout.rs`), SQS
//!   (`sqs.rs`), the outbound client (`sender.rs`), the in-process cache (`hot.rs`), and the
//!   in-memory fakes (`memory_sfn.rs`, `memory.rs`, `memory_webhooks.rs`) that keep the real rules, checked by
//!   one conformance suite each (`conformance.rs`, `webhooks_conformance.rs`).
//!
//! A request: `App` answers a hot hit (a stopped result in memory) at once; anything else is
//! routed to a handler in `http/`, which parses the ARN (`domain::arn`), checks the allow list
//! and asks `Results` (`domain::retrieval`): memory, then the table, then one fleet-wide
//! `DescribeExecution` (`fleet.rs`), storing a stopped result; `prepared.rs` and `headers.rs`
//! shape the answer (ETag, Cache-Control, Cache-Status).
//!
//! An event: `events/` parses the payload (`status.rs`, `logs.rs`) into executions and hands them
//! to `domain::ingest`, which stores each with the same conditional write the read path uses;
//! a stored stop goes through the webhooks outbox to the delivery queue, whose messages
//! `events/deliveries.rs` turns into signed attempts.
//!
//! docs/ARCHITECTURE.md has the protocol's sequence diagram and a glossary of the project's words.

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
    CachePolicy, CursorKey, ExecutionControl, ExecutionHistory, ExecutionLister, ExecutionSource,
    ExecutionStarter, HotCache, LinkStore, Links, Listing, NoHotCache, Results, Steering, Table,
    TaskCallbacks, Timeline,
};
pub use http::{router, App, AppState};

/// The upstream ports the service needs.
#[derive(Clone)]
pub struct Ports {
    pub source: Arc<dyn ExecutionSource>,
    pub starter: Arc<dyn ExecutionStarter>,
    /// Stops and redrives executions for clients (`POST /executions/{arn}/stop`, `/redrive`).
    pub control: Arc<dyn ExecutionControl>,
    /// Reads executions' histories for their steps (`GET /executions/{arn}/steps`).
    pub history: Arc<dyn ExecutionHistory>,
    pub lister: Arc<dyn ExecutionLister>,
    /// The table: results, the fleet's coordination, reconcile's ledger, recorded executions.
    pub store: Arc<dyn Table>,
    /// Answers waiting tasks for links (`SendTaskSuccess`, `SendTaskFailure`).
    pub callbacks: Arc<dyn TaskCallbacks>,
    /// The table's callback links (`POST /callbacks/links`).
    pub links: Arc<dyn LinkStore>,
}

impl Ports {
    /// Every port in memory, for tests of the domain and the router: one set of executions
    /// (`DescribeExecution`, `StartExecution`, `StopExecution`, `ListExecutions`) and one table.
    pub fn in_memory(
        executions: &adapters::InMemoryExecutions,
        store: &adapters::InMemoryStore,
    ) -> Self {
        Self {
            source: Arc::new(executions.clone()),
            starter: Arc::new(executions.clone()),
            control: Arc::new(executions.clone()),
            history: Arc::new(executions.clone()),
            lister: Arc::new(executions.clone()),
            store: Arc::new(store.clone()),
            callbacks: Arc::new(adapters::InMemoryTasks::default()),
            links: Arc::new(store.clone()),
        }
    }
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
        notifier: Option<domain::webhooks::Notifier>,
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
        // One key for the lists' and the steps' cursors (a random one when no secret is set).
        let cursors = cursor_key(config);
        let listing = Listing::new(
            ports.lister.clone(),
            ports.store.clone(),
            hot.clone(),
            config.express_state_machines.clone(),
            cursors.clone(),
        );
        let results = Results::new(
            ports.source.clone(),
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
        let steering = Steering::new(ports.control, ports.source, results.keeper().clone());
        // Steps are kept beside results, in as much memory again.
        let links = Links::new(ports.links, ports.callbacks, cursors.clone());
        let timeline = Timeline::new(ports.history, cursors, policy, config.memory_cache_bytes);
        Self::from_shared(http::Shared {
            listing,
            results,
            steering,
            timeline,
            links,
            public_base_url: config.public_base_url.clone(),
            allow_control: config.allow_control,
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

/// The key that signs list cursors: from `CURSOR_SECRET`, so every instance honours another's
/// cursors, or random (cursors then last as long as the process).
fn cursor_key(config: &Config) -> CursorKey {
    config
        .cursor_secret
        .as_ref()
        .map_or_else(CursorKey::random, |s| CursorKey::new(s.as_bytes()))
}

/// Webhooks from the configuration: the notifier over the webhooks table, the delivery queue
/// and the outbound client; `None` when `WEBHOOKS_TABLE` is not set.
pub fn webhooks(
    sdk: &aws_config::SdkConfig,
    config: &Config,
) -> Result<Option<(domain::webhooks::Notifier, Arc<adapters::DeliveryQueueSqs>)>, String> {
    let Some(webhooks) = &config.webhooks else {
        return Ok(None);
    };
    let queue = Arc::new(adapters::DeliveryQueueSqs::new(sdk, &webhooks.queue_url));
    let sender = adapters::HttpSender::new(config.webhook_allow_loopback)
        .map_err(|e| format!("the webhook client could not be built: {e}"))?;
    let notifier = domain::webhooks::Notifier {
        store: Arc::new(adapters::WebhooksTable::new(sdk, &webhooks.table)),
        queue: queue.clone(),
        sender: Arc::new(sender),
        schedule: webhooks.schedule.clone(),
        public_base_url: webhooks.public_base_url.clone(),
    };
    Ok(Some((notifier, queue)))
}
