//! Typed configuration, read once from the environment; an invalid value names its variable.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderValue;

use crate::domain::{ExecutionArn, StateMachineArn, Workflows};

mod machines;
mod reading;
mod vars;

use machines::Machines;
use reading::Reading;
use vars::{fail, Vars};

#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

/// Which state machines' executions may be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowList {
    /// Set explicitly to `*`.
    Any,
    Only(Vec<StateMachineArn>),
}

impl AllowList {
    pub fn permits(&self, arn: &ExecutionArn) -> bool {
        self.permits_machine(arn.state_machine())
    }

    pub fn permits_machine(&self, machine: &StateMachineArn) -> bool {
        match self {
            Self::Any => true,
            Self::Only(machines) => machines.contains(machine),
        }
    }
}

/// Where webhooks live and how they are retried.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub table: String,
    pub queue_url: String,
    pub schedule: crate::domain::webhooks::RetrySchedule,
    /// Prefix of the status URLs in payloads.
    pub public_base_url: String,
}

/// Which entry point a Lambda function runs, from its `Handler` (`_HANDLER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryPoint {
    /// API Gateway's requests: `http`, `bootstrap` (the runtime's default) or unset.
    Http,
    /// EventBridge status changes, the EXPRESS machine's logs, the reconcile schedule.
    Events,
    /// The webhook delivery queue (SQS).
    Deliveries,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub entry: EntryPoint,
    /// Local server: how often reconcile runs; `None` turns it off.
    pub reconcile_every: Option<Duration>,
    /// `DescribeExecution` calls one reconcile run may make per machine.
    pub reconcile_describes: usize,
    /// The STANDARD machines reconcile lists (Step Functions lists no Express executions).
    pub reconcile_machines: Vec<StateMachineArn>,
    /// How old the shared read of a running execution may be before Step Functions is asked.
    pub read_refresh: Duration,
    /// Local server: how often metrics are written (under Lambda: after each invocation).
    pub metrics_every: Duration,
    /// Webhooks: the table, the delivery queue, the retry schedule; off without the table.
    pub webhooks: Option<WebhookConfig>,
    /// Whether `http://` loopback endpoints may be registered (local use only).
    pub webhook_allow_loopback: bool,
    pub results_table: String,
    pub allowed_state_machines: AllowList,
    pub start_state_machine: Option<StateMachineArn>,
    pub cors_allowed_origins: Vec<HeaderValue>,
    pub max_wait: Duration,
    pub listen_addr: SocketAddr,
    /// How long a redrivable failure is served from the cache before Step Functions is asked again.
    pub redrivable_result_ttl: Duration,
    /// How long final results are kept in the table; `None` keeps them.
    pub result_retention: Option<Duration>,
    /// Bytes of result documents kept in this process's memory; 0 turns the memory cache off.
    pub memory_cache_bytes: u64,
    /// The EXPRESS machines (allowed, listed in `ALLOWED_STATE_MACHINES` or not): listed from the
    /// table, never through `ListExecutions`.
    pub express_state_machines: Vec<StateMachineArn>,
    /// The allowed machines by name (none when any machine is allowed with `*`).
    pub workflows: Workflows,
    /// Signs list cursors and callback links; unset, each process signs with a random key of its
    /// own.
    pub cursor_secret: Option<String>,
    /// The API's public base URL (`PUBLIC_BASE_URL`): callback links are absolute under it.
    pub public_base_url: Option<String>,
    /// Whether the status page shows stop and redrive buttons (`ALLOW_CONTROL`, off by default).
    pub allow_control: bool,
    /// Under Lambda (`AWS_LAMBDA_RUNTIME_API` is set) API Gateway compresses answers; the local
    /// server compresses its own.
    pub on_lambda: bool,
}

/// Longest wait a request may ask for: the read budget (see `domain::budget` for the arithmetic
/// that keeps every answer under API Gateway's 29 s).
pub const WAIT_CEILING_SECONDS: u64 = crate::domain::budget::READ_BUDGET.as_secs();

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the process environment;
    /// each concern reads its own variables (`machines.rs`, `reading.rs`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars::new(&lookup);
        let machines = Machines::read(&vars)?;
        let webhooks = read_webhooks(&vars)?;
        let reading = Reading::read(&vars)?;
        let reconcile_seconds = vars.number("RECONCILE_SECONDS", 10, 0..=86_400)?;
        Ok(Self {
            entry: entry_point(&vars)?,
            reconcile_every: (reconcile_seconds > 0)
                .then(|| Duration::from_secs(reconcile_seconds)),
            reconcile_describes: usize::try_from(vars.number(
                "RECONCILE_DESCRIBE_BUDGET",
                50,
                1..=300,
            )?)
            .unwrap_or(50),
            reconcile_machines: machines.reconcile,
            read_refresh: reading.read_refresh,
            metrics_every: Duration::from_secs(vars.number(
                "METRICS_FLUSH_SECONDS",
                60,
                1..=3600,
            )?),
            webhooks,
            webhook_allow_loopback: vars.flag("WEBHOOK_ALLOW_LOOPBACK")?,
            results_table: reading.results_table,
            allowed_state_machines: machines.allowed,
            start_state_machine: machines.start,
            cors_allowed_origins: reading.cors_allowed_origins,
            max_wait: reading.max_wait,
            listen_addr: reading.listen_addr,
            redrivable_result_ttl: reading.redrivable_result_ttl,
            result_retention: reading.result_retention,
            memory_cache_bytes: reading.memory_cache_bytes,
            express_state_machines: machines.express,
            workflows: machines.workflows,
            cursor_secret: reading.cursor_secret,
            public_base_url: vars
                .get("PUBLIC_BASE_URL")
                .map(|url| url.trim_end_matches('/').to_owned()),
            allow_control: vars.flag("ALLOW_CONTROL")?,
            on_lambda: lookup("AWS_LAMBDA_RUNTIME_API").is_some(),
        })
    }
}

/// Which entry point runs, from `_HANDLER`.
fn entry_point(vars: &Vars<'_>) -> Result<EntryPoint, ConfigError> {
    match vars.get("_HANDLER").as_deref().map(str::trim) {
        None | Some("http" | "bootstrap") => Ok(EntryPoint::Http),
        Some("events") => Ok(EntryPoint::Events),
        Some("deliveries") => Ok(EntryPoint::Deliveries),
        Some(other) => Err(fail(
            "_HANDLER",
            format!("{other:?} is not an entry point: http (or bootstrap), events or deliveries"),
        )),
    }
}

/// The webhooks table, queue and retry schedule; `None` without the table.
fn read_webhooks(vars: &Vars<'_>) -> Result<Option<WebhookConfig>, ConfigError> {
    let schedule = match vars.get("WEBHOOK_RETRY_SCHEDULE") {
        None => crate::domain::webhooks::RetrySchedule::default(),
        Some(text) => crate::domain::webhooks::RetrySchedule::parse(&text)
            .map_err(|why| fail("WEBHOOK_RETRY_SCHEDULE", why))?,
    };
    match (vars.get("WEBHOOKS_TABLE"), vars.get("DELIVERY_QUEUE_URL")) {
        (None, _) => Ok(None),
        (Some(_), None) => Err(fail(
            "DELIVERY_QUEUE_URL",
            "required with WEBHOOKS_TABLE: the SQS queue of webhook deliveries".into(),
        )),
        (Some(table), Some(queue_url)) => Ok(Some(WebhookConfig {
            table,
            queue_url,
            schedule,
            public_base_url: vars
                .get("PUBLIC_BASE_URL")
                .unwrap_or_else(|| "http://127.0.0.1:3000".into()),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:Orders";

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn the_defaults_apply_when_only_the_required_variables_are_set() {
        let c = config(&[
            ("RESULTS_TABLE", "results"),
            ("ALLOWED_STATE_MACHINES", MACHINE),
        ])
        .expect("valid");
        assert_eq!(c.max_wait, Duration::from_secs(25));
        assert_eq!(c.listen_addr.to_string(), "127.0.0.1:3000");
        assert!(c.start_state_machine.is_none());
        assert!(c.cors_allowed_origins.is_empty());
        assert_eq!(c.result_retention, None);
    }

    #[test]
    fn each_missing_or_invalid_variable_is_named() {
        let table = ("RESULTS_TABLE", "results");
        let allowed = ("ALLOWED_STATE_MACHINES", MACHINE);
        let cases: [(Vec<(&str, &str)>, &str); 8] = [
            (vec![allowed], "RESULTS_TABLE"),
            (vec![("RESULTS_TABLE", "a b"), allowed], "RESULTS_TABLE"),
            (vec![table], "ALLOWED_STATE_MACHINES"),
            (
                vec![table, ("ALLOWED_STATE_MACHINES", "Orders")],
                "ALLOWED_STATE_MACHINES",
            ),
            (
                vec![table, allowed, ("MAX_WAIT_SECONDS", "600")],
                "MAX_WAIT_SECONDS",
            ),
            (
                vec![table, allowed, ("LISTEN_ADDR", "localhost")],
                "LISTEN_ADDR",
            ),
            (
                vec![table, allowed, ("CORS_ALLOWED_ORIGINS", "*")],
                "CORS_ALLOWED_ORIGINS",
            ),
            (
                vec![table, allowed, ("START_STATE_MACHINE", "nope")],
                "START_STATE_MACHINE",
            ),
        ];
        for (vars, variable) in cases {
            let err = config(&vars).expect_err(variable);
            assert_eq!(err.variable, variable);
            assert!(err.to_string().starts_with(variable), "{err}");
        }
    }

    #[test]
    fn with_a_prefix_machines_may_be_named_by_name_alone_which_fits_fifty_workflows_in_lambdas_4_kb(
    ) {
        let prefix = "arn:aws:states:us-east-1:123456789012:stateMachine:";
        let names: Vec<String> = (0..50)
            .map(|i| format!("workflow-number-{i:02}-abcdefgh"))
            .collect();
        let express = names[25..].join(",");
        let c = config(&[
            ("RESULTS_TABLE", "results"),
            ("STATE_MACHINE_ARN_PREFIX", prefix),
            // Each name once: the EXPRESS ones are allowed by being EXPRESS.
            ("ALLOWED_STATE_MACHINES", &names[..25].join(",")),
            ("EXPRESS_STATE_MACHINES", &express),
            ("START_STATE_MACHINE", &names[0]),
        ])
        .expect("config");
        assert_eq!(c.workflows.iter().count(), 50);
        assert_eq!(
            c.start_state_machine.as_ref().map(StateMachineArn::as_str),
            Some(format!("{prefix}{}", names[0]).as_str())
        );
        assert_eq!(c.express_state_machines.len(), 25);
        assert_eq!(
            c.reconcile_machines.len(),
            25,
            "reconcile leaves the EXPRESS ones out"
        );
        assert!(c
            .reconcile_machines
            .iter()
            .all(|m| !c.express_state_machines.contains(m)));
        let only_express = config(&[
            ("RESULTS_TABLE", "results"),
            ("STATE_MACHINE_ARN_PREFIX", prefix),
            ("EXPRESS_STATE_MACHINES", &express),
        ])
        .expect("EXPRESS machines alone");
        assert_eq!(only_express.workflows.iter().count(), 25);
        assert!(only_express.reconcile_machines.is_empty());

        let bare = config(&[
            ("RESULTS_TABLE", "results"),
            ("ALLOWED_STATE_MACHINES", "orders"),
        ])
        .expect_err("a name without a prefix");
        assert_eq!(bare.variable, "ALLOWED_STATE_MACHINES");
        assert!(bare.problem.contains("STATE_MACHINE_ARN_PREFIX"), "{bare}");
        let wrong = config(&[
            ("RESULTS_TABLE", "results"),
            (
                "STATE_MACHINE_ARN_PREFIX",
                "arn:aws:states:us-east-1:123456789012:",
            ),
            ("ALLOWED_STATE_MACHINES", "orders"),
        ])
        .expect_err("a prefix that is not a machine prefix");
        assert_eq!(wrong.variable, "STATE_MACHINE_ARN_PREFIX");
    }

    #[test]
    fn a_star_allows_any_state_machine_only_when_set_explicitly() {
        let c = config(&[
            ("RESULTS_TABLE", "results"),
            ("ALLOWED_STATE_MACHINES", "*"),
        ])
        .expect("valid");
        assert_eq!(c.allowed_state_machines, AllowList::Any);
        let arn = ExecutionArn::parse("arn:aws:states:us-east-1:123456789012:execution:Other:x")
            .expect("valid");
        assert!(c.allowed_state_machines.permits(&arn));
        let only = config(&[
            ("RESULTS_TABLE", "results"),
            ("ALLOWED_STATE_MACHINES", MACHINE),
        ])
        .expect("valid");
        assert!(!only.allowed_state_machines.permits(&arn));
    }
}
