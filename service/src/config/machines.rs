//! Which state machines this deployment serves: the allow list, the EXPRESS ones, the one
//! `POST /executions/wait` starts, the ones reconcile lists, and the workflows they make.

use super::vars::{fail, Vars};
use super::{AllowList, ConfigError};
use crate::domain::{StateMachineArn, Workflows};

/// The machine variables, read together: each refers to the others.
pub(super) struct Machines {
    pub(super) allowed: AllowList,
    pub(super) express: Vec<StateMachineArn>,
    pub(super) start: Option<StateMachineArn>,
    pub(super) reconcile: Vec<StateMachineArn>,
    pub(super) workflows: Workflows,
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

impl Machines {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        // With a prefix, machine lists may name machines by name alone: 50 workflows' full ARNs
        // would not fit in Lambda's 4 KB of environment.
        let prefix = vars
            .get("STATE_MACHINE_ARN_PREFIX")
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
        let machines = |variable: &'static str| {
            vars.list(variable)
                .iter()
                .map(|s| machine_of(prefix.as_deref(), s).map_err(|e| fail(variable, e)))
                .collect::<Result<Vec<_>, _>>()
        };
        let express = machines("EXPRESS_STATE_MACHINES")?;
        // The EXPRESS machines are allowed without being listed twice (each name counts against
        // Lambda's 4 KB of environment); with them, ALLOWED_STATE_MACHINES may be left out.
        let allowed = match vars.get("ALLOWED_STATE_MACHINES") {
            None if express.is_empty() => {
                return Err(fail(
                    "ALLOWED_STATE_MACHINES",
                    "required: comma-separated state machine ARNs, or `*` to allow any".into(),
                ))
            }
            Some(star) if star.trim() == "*" => AllowList::Any,
            _ => {
                let mut listed = machines("ALLOWED_STATE_MACHINES")?;
                for machine in &express {
                    if !listed.contains(machine) {
                        listed.push(machine.clone());
                    }
                }
                AllowList::Only(listed)
            }
        };
        let start = vars
            .get("START_STATE_MACHINE")
            .map(|s| {
                machine_of(prefix.as_deref(), s.trim()).map_err(|e| fail("START_STATE_MACHINE", e))
            })
            .transpose()?;
        if let Some(machine) = &start {
            if !allowed.permits_machine(machine) {
                return Err(fail(
                    "START_STATE_MACHINE",
                    format!("{machine} must also be in ALLOWED_STATE_MACHINES, or its executions could not be read"),
                ));
            }
        }
        // Step Functions lists no Express executions: by default reconcile lists the others.
        let reconcile = match vars.get("RECONCILE_STATE_MACHINES") {
            None => match &allowed {
                AllowList::Only(listed) => listed
                    .iter()
                    .filter(|m| !express.contains(m))
                    .cloned()
                    .collect(),
                AllowList::Any => Vec::new(),
            },
            Some(_) => {
                let listed = machines("RECONCILE_STATE_MACHINES")?;
                if let Some(machine) = listed.iter().find(|m| !allowed.permits_machine(m)) {
                    return Err(fail(
                        "RECONCILE_STATE_MACHINES",
                        format!("{machine} must also be in ALLOWED_STATE_MACHINES"),
                    ));
                }
                listed
            }
        };
        // `*` reads any machine's results but names no workflow.
        let workflows = match &allowed {
            AllowList::Any => Workflows::default(),
            AllowList::Only(listed) => Workflows::new(listed, &express)
                .map_err(|e| fail("ALLOWED_STATE_MACHINES", e.to_string()))?,
        };
        Ok(Self {
            allowed,
            express,
            start,
            reconcile,
            workflows,
        })
    }
}
