//! Typed configuration, read once from the environment; an invalid value names its variable.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderValue;

use crate::domain::{ExecutionArn, StateMachineArn, Workflows};

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
    /// Signs list cursors; unset, each process signs with a random key of its own.
    pub cursor_secret: Option<String>,
    /// Under Lambda (`AWS_LAMBDA_RUNTIME_API` is set) API Gateway compresses answers; the local
    /// server compresses its own.
    pub on_lambda: bool,
}

/// A state machine named by its ARN, or by its name alone when a prefix is configured.
fn machine_of(prefix: Option<&str>, s: &str) -> Result<StateMachineArn, String> {
    let arn = match prefix {
        Some(prefix) if !s.starts_with("arn:") => format!("{prefix}{s}"),
        None if !s.starts_with("arn:") => {
            return Err(format!(
                "{s:?} is not a state machine ARN (a bare name needs STATE_MACHINE_ARN_PREFIX)"
            ))
        }
        _ => s.to_owned(),
    };
    StateMachineArn::parse(&arn).map_err(|e| format!("{s:?} is not a state machine ARN: {e}"))
}

/// Longest wait a request may ask for: the read budget (see `domain::budget` for the arithmetic
/// that keeps every answer under API Gateway's 29 s).
pub const WAIT_CEILING_SECONDS: u64 = crate::domain::budget::READ_BUDGET.as_secs();

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let fail = |variable: &'static str, problem: String| ConfigError { variable, problem };

        let results_table = get("RESULTS_TABLE")
            .ok_or_else(|| fail("RESULTS_TABLE", "required: the DynamoDB table name".into()))?;
        let valid_table = (3..=255).contains(&results_table.len())
            && results_table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !valid_table {
            return Err(fail(
                "RESULTS_TABLE",
                format!("{results_table:?} is not a DynamoDB table name"),
            ));
        }

        // With a prefix, machine lists may name machines by name alone: 50 workflows' full ARNs
        // would not fit in Lambda's 4 KB of environment.
        let prefix = get("STATE_MACHINE_ARN_PREFIX")
            .map(|p| p.trim().to_owned())
            .map(|p| {
                let valid = p.ends_with(":stateMachine:")
                    && StateMachineArn::parse(&format!("{p}x")).is_ok();
                if valid {
                    Ok(p)
                } else {
                    Err(fail(
                        "STATE_MACHINE_ARN_PREFIX",
                        format!("{p:?} is not like arn:aws:states:REGION:ACCOUNT:stateMachine:"),
                    ))
                }
            })
            .transpose()?;
        let machine = |s: &str| machine_of(prefix.as_deref(), s);
        let express_state_machines = get("EXPRESS_STATE_MACHINES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| machine(s).map_err(|e| fail("EXPRESS_STATE_MACHINES", e)))
            .collect::<Result<Vec<_>, _>>()?;
        // The EXPRESS machines are allowed without being listed twice (each name counts against
        // Lambda's 4 KB of environment); with them, ALLOWED_STATE_MACHINES may be left out.
        let allowed = get("ALLOWED_STATE_MACHINES")
            .or_else(|| (!express_state_machines.is_empty()).then(String::new))
            .ok_or_else(|| {
                fail(
                    "ALLOWED_STATE_MACHINES",
                    "required: comma-separated state machine ARNs, or `*` to allow any".into(),
                )
            })?;
        let allowed_state_machines = if allowed.trim() == "*" {
            AllowList::Any
        } else {
            let mut machines = allowed
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| machine(s).map_err(|e| fail("ALLOWED_STATE_MACHINES", e)))
                .collect::<Result<Vec<_>, _>>()?;
            for express in &express_state_machines {
                if !machines.contains(express) {
                    machines.push(express.clone());
                }
            }
            AllowList::Only(machines)
        };

        let start_state_machine = get("START_STATE_MACHINE")
            .map(|s| machine(s.trim()).map_err(|e| fail("START_STATE_MACHINE", e)))
            .transpose()?;

        let cors_allowed_origins =
            get("CORS_ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|origin| {
                            let valid = (origin.starts_with("https://")
                                || origin.starts_with("http://"))
                                && !origin.ends_with('/');
                            HeaderValue::from_str(origin)
                                .ok()
                                .filter(|_| valid)
                                .ok_or_else(|| {
                                    fail(
                                "CORS_ALLOWED_ORIGINS",
                                format!("{origin:?} is not an origin like https://app.example.com"),
                            )
                                })
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?
                .unwrap_or_default();

        let number = |variable: &'static str,
                      default: u64,
                      range: std::ops::RangeInclusive<u64>| match get(variable)
        {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    fail(
                        variable,
                        format!(
                            "{v:?} is not a whole number from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    )
                }),
        };
        let max_wait =
            Duration::from_secs(number("MAX_WAIT_SECONDS", 25, 0..=WAIT_CEILING_SECONDS)?);
        let redrivable_result_ttl =
            Duration::from_secs(number("REDRIVABLE_RESULT_TTL_SECONDS", 60, 1..=86_400)?);
        let retention_days = number("RESULT_RETENTION_DAYS", 0, 0..=36_500)?;
        let result_retention =
            (retention_days > 0).then(|| Duration::from_secs(retention_days * 86_400));

        let memory_cache_bytes = number("MEMORY_CACHE_MB", 64, 0..=65_536)? * 1024 * 1024;
        if let Some(machine) = &start_state_machine {
            if let AllowList::Only(machines) = &allowed_state_machines {
                if !machines.contains(machine) {
                    return Err(fail(
                        "START_STATE_MACHINE",
                        format!("{machine} must also be in ALLOWED_STATE_MACHINES, or its executions could not be read"),
                    ));
                }
            }
        }

        let entry = match get("_HANDLER").as_deref().map(str::trim) {
            None | Some("http" | "bootstrap") => EntryPoint::Http,
            Some("events") => EntryPoint::Events,
            Some("deliveries") => EntryPoint::Deliveries,
            Some(other) => {
                return Err(fail(
                    "_HANDLER",
                    format!(
                    "{other:?} is not an entry point: http (or bootstrap), events or deliveries"
                ),
                ))
            }
        };
        let reconcile_seconds = number("RECONCILE_SECONDS", 10, 0..=86_400)?;
        let reconcile_every =
            (reconcile_seconds > 0).then(|| Duration::from_secs(reconcile_seconds));
        let reconcile_machines = match get("RECONCILE_STATE_MACHINES") {
            None => match &allowed_state_machines {
                AllowList::Only(machines) => machines.clone(),
                AllowList::Any => Vec::new(),
            },
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    let machine = machine(s).map_err(|e| fail("RECONCILE_STATE_MACHINES", e))?;
                    match &allowed_state_machines {
                        AllowList::Only(allowed) if !allowed.contains(&machine) => Err(fail(
                            "RECONCILE_STATE_MACHINES",
                            format!("{machine} must also be in ALLOWED_STATE_MACHINES"),
                        )),
                        _ => Ok(machine),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let metrics_every = Duration::from_secs(number("METRICS_FLUSH_SECONDS", 60, 1..=3600)?);
        let webhook_allow_loopback = match get("WEBHOOK_ALLOW_LOOPBACK").as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(fail(
                    "WEBHOOK_ALLOW_LOOPBACK",
                    format!("{other:?} is not true or false"),
                ))
            }
        };
        let schedule = match get("WEBHOOK_RETRY_SCHEDULE") {
            None => crate::domain::webhooks::RetrySchedule::default(),
            Some(text) => crate::domain::webhooks::RetrySchedule::parse(&text)
                .map_err(|why| fail("WEBHOOK_RETRY_SCHEDULE", why))?,
        };
        let webhooks = match (get("WEBHOOKS_TABLE"), get("DELIVERY_QUEUE_URL")) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(fail(
                    "DELIVERY_QUEUE_URL",
                    "required with WEBHOOKS_TABLE: the SQS queue of webhook deliveries".into(),
                ))
            }
            (Some(table), Some(queue_url)) => Some(WebhookConfig {
                table,
                queue_url,
                schedule,
                public_base_url: get("PUBLIC_BASE_URL")
                    .unwrap_or_else(|| "http://127.0.0.1:3000".into()),
            }),
        };
        // Step Functions lists no Express executions: by default reconcile lists the others.
        let reconcile_machines = if get("RECONCILE_STATE_MACHINES").is_none() {
            reconcile_machines
                .into_iter()
                .filter(|m| !express_state_machines.contains(m))
                .collect()
        } else {
            reconcile_machines
        };
        // `*` reads any machine's results but names no workflow.
        let workflows = match &allowed_state_machines {
            AllowList::Any => Workflows::default(),
            AllowList::Only(machines) => Workflows::new(machines, &express_state_machines)
                .map_err(|e| fail("ALLOWED_STATE_MACHINES", e.to_string()))?,
        };
        let cursor_secret = get("CURSOR_SECRET");
        if cursor_secret.as_ref().is_some_and(|s| s.len() < 16) {
            return Err(fail(
                "CURSOR_SECRET",
                "must be at least 16 characters".into(),
            ));
        }
        let read_refresh = Duration::from_secs(number("READ_REFRESH_SECONDS", 1, 1..=300)?);
        let reconcile_describes =
            usize::try_from(number("RECONCILE_DESCRIBE_BUDGET", 50, 1..=300)?).unwrap_or(50);

        let listen_addr = match get("LISTEN_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
            Some(v) => v.trim().parse().map_err(|_| {
                fail(
                    "LISTEN_ADDR",
                    format!("{v:?} is not an address like 127.0.0.1:3000"),
                )
            })?,
        };

        Ok(Self {
            entry,
            reconcile_every,
            reconcile_describes,
            reconcile_machines,
            read_refresh,
            metrics_every,
            webhooks,
            webhook_allow_loopback,
            results_table,
            allowed_state_machines,
            start_state_machine,
            cors_allowed_origins,
            max_wait,
            listen_addr,
            redrivable_result_ttl,
            result_retention,
            memory_cache_bytes,
            express_state_machines,
            workflows,
            cursor_secret,
            on_lambda: lookup("AWS_LAMBDA_RUNTIME_API").is_some(),
        })
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
