//! Metrics as CloudWatch Embedded Metric Format lines on stdout (on Lambda, the function's log
//! is all it takes): the `metrics` facade, emitted by `metrics_cloudwatch_embedded`. Under
//! Lambda they are written after each invocation; on the local server every
//! `METRICS_FLUSH_SECONDS`.
//!
//! | metric | unit | dimensions |
//! | --- | --- | --- |
//! | `Requests` | Count | `Route`, `StatusClass` |
//! | `Answers` | Count | `Origin` (memory, table, shared-read, stale, step-functions) |
//! | `UpstreamCalls` | Count | `Operation`, `Outcome` (ok, throttled, not-found, failed) |
//! | `Events` | Count | `Outcome` (stored, unchanged, ignored, poison) |
//! | `EventLag` | Milliseconds | — (stop → stored) |
//! | `WebhookDeliveries` | Count | `Outcome` (delivered, retrying, dead) |

use std::sync::OnceLock;
use std::time::Duration;

use metrics::Unit;

/// The namespace the metrics are filed under.
pub const NAMESPACE: &str = "api-sfn";

pub const REQUESTS: &str = "Requests";
pub const ANSWERS: &str = "Answers";
pub const UPSTREAM_CALLS: &str = "UpstreamCalls";
pub const EVENTS: &str = "Events";
pub use crate::domain::metrics::{EVENT_LAG, WEBHOOK_DELIVERIES};

static COLLECTOR: OnceLock<&'static metrics_cloudwatch_embedded::Collector> = OnceLock::new();

/// Installs the recorder, once. `flush_every` writes on a timer (the local server); `None`
/// leaves writing to [`flush`], after each Lambda invocation.
pub fn init(entry_point: &'static str, flush_every: Option<Duration>) {
    if COLLECTOR.get().is_some() {
        return;
    }
    let mut builder = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension("EntryPoint", entry_point);
    if let Some(every) = flush_every {
        builder = builder.with_auto_flush_interval(every);
    }
    let collector = match builder.init() {
        Ok(collector) => collector,
        Err(err) => {
            tracing::warn!(error = %err, "metrics are off: the recorder could not be installed");
            return;
        }
    };
    let _ = COLLECTOR.set(collector);
    metrics::describe_counter!(REQUESTS, Unit::Count, "requests by route and status class");
    metrics::describe_counter!(ANSWERS, Unit::Count, "answers by origin");
    metrics::describe_counter!(
        UPSTREAM_CALLS,
        Unit::Count,
        "Step Functions calls by outcome"
    );
    metrics::describe_counter!(EVENTS, Unit::Count, "events by outcome");
    metrics::describe_histogram!(EVENT_LAG, Unit::Milliseconds, "stop to stored");
    metrics::describe_counter!(
        WEBHOOK_DELIVERIES,
        Unit::Count,
        "delivery attempts by outcome"
    );
}

/// Writes what was counted since the last flush, as EMF lines on stdout.
pub fn flush() {
    if let Some(collector) = COLLECTOR.get() {
        if let Err(err) = collector.flush(std::io::stdout()) {
            tracing::warn!(error = %err, "metrics could not be written");
        }
    }
}

/// `2xx`, `4xx`, `5xx`, ...
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// `Answers` by origin, each counter kept once registered, so counting is one atomic add rather
/// than building a key and looking it up in the recorder on every request. Each is registered on
/// first use: after the recorder is installed, and only once something is counted (as
/// `metrics::counter!` would).
#[derive(Default)]
pub struct Counters {
    answers: [OnceLock<metrics::Counter>; 5],
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters").finish_non_exhaustive()
    }
}

impl Counters {
    /// `Answers` by origin.
    pub fn answer(&self, origin: crate::domain::Origin) {
        use crate::domain::Origin;
        let (slot, label) = match origin {
            Origin::MemoryHit => (0, "memory"),
            Origin::Hit => (1, "table"),
            Origin::StaleHit => (2, "stale"),
            Origin::Miss => (3, "step-functions"),
            Origin::SharedRead => (4, "shared-read"),
        };
        self.answers[slot]
            .get_or_init(|| metrics::counter!(ANSWERS, "Origin" => label))
            .increment(1);
    }
}

/// `Requests` of one route template, by status class, kept as `Counters` are.
pub struct RouteCounters {
    route: &'static str,
    classes: [OnceLock<metrics::Counter>; 5],
}

impl std::fmt::Debug for RouteCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteCounters")
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl RouteCounters {
    /// The counters of `route`: one set per template for the life of the process, however many
    /// routers are built.
    pub fn of(route: &'static str) -> &'static Self {
        static ROUTES: std::sync::Mutex<Vec<&'static RouteCounters>> =
            std::sync::Mutex::new(Vec::new());
        let mut routes = ROUTES.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = routes.iter().find(|r| r.route == route) {
            return known;
        }
        let made: &'static Self = Box::leak(Box::new(Self {
            route,
            classes: Default::default(),
        }));
        routes.push(made);
        made
    }

    /// Counts one answer with `status`.
    pub fn count(&self, status: u16) {
        let class = status_class(status);
        let slot = usize::from((status / 100).clamp(1, 5) - 1);
        self.classes[slot]
            .get_or_init(
                || metrics::counter!(REQUESTS, "Route" => self.route, "StatusClass" => class),
            )
            .increment(1);
    }
}
