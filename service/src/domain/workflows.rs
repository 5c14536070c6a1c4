//! Workflows: the configured state machines, addressed by their names.

use std::collections::BTreeMap;

use serde::Serialize;

use super::StateMachineArn;

/// Whether a workflow runs as a STANDARD or an EXPRESS state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum WorkflowType {
    Standard,
    Express,
}

/// One configured state machine, under its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflow {
    pub machine: StateMachineArn,
    pub kind: WorkflowType,
}

impl Workflow {
    /// The workflow's name: its state machine's name.
    pub fn name(&self) -> &str {
        self.machine.name()
    }
}

/// Two configured machines share a name, so a name would not say which one a route means.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("two state machines are named {name:?} ({first} and {second}): a workflow is addressed by its machine's name, so each must be unique")]
pub struct DuplicateName {
    pub name: String,
    pub first: String,
    pub second: String,
}

/// The configured workflows by name, in name order; built once from configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workflows(BTreeMap<String, Workflow>);

impl Workflows {
    /// The workflows of `machines`, EXPRESS where listed in `express`; refuses a shared name.
    pub fn new(
        machines: &[StateMachineArn],
        express: &[StateMachineArn],
    ) -> Result<Self, DuplicateName> {
        let mut by_name = BTreeMap::new();
        for machine in machines {
            let kind = if express.contains(machine) {
                WorkflowType::Express
            } else {
                WorkflowType::Standard
            };
            let workflow = Workflow {
                machine: machine.clone(),
                kind,
            };
            if let Some(first) = by_name.get(machine.name()) {
                let first: &Workflow = first;
                if first.machine == *machine {
                    continue;
                }
                return Err(DuplicateName {
                    name: machine.name().to_owned(),
                    first: first.machine.to_string(),
                    second: machine.to_string(),
                });
            }
            by_name.insert(machine.name().to_owned(), workflow);
        }
        Ok(Self(by_name))
    }

    /// The workflow of this name; `None` for a name no configured machine has (no upstream call
    /// is ever needed to say so).
    pub fn get(&self, name: &str) -> Option<&Workflow> {
        self.0.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Workflow> {
        self.0.values()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arn(name: &str, account: &str) -> StateMachineArn {
        StateMachineArn::parse(&format!(
            "arn:aws:states:us-east-1:{account}:stateMachine:{name}"
        ))
        .expect("a state machine ARN")
    }

    #[test]
    fn workflows_are_named_by_their_machines_and_typed_by_the_express_list() {
        let orders = arn("orders", "123456789012");
        let quote = arn("quote", "123456789012");
        let workflows = Workflows::new(&[quote.clone(), orders], std::slice::from_ref(&quote))
            .expect("distinct names");
        let names: Vec<_> = workflows.iter().map(Workflow::name).collect();
        assert_eq!(names, ["orders", "quote"]);
        assert_eq!(
            workflows.get("orders").map(|w| w.kind),
            Some(WorkflowType::Standard)
        );
        assert_eq!(
            workflows.get("quote").map(|w| w.kind),
            Some(WorkflowType::Express)
        );
        assert_eq!(workflows.get("missing"), None);
        assert_eq!(
            workflows.get("Orders"),
            None,
            "names are case-sensitive, as Step Functions'"
        );
    }

    #[test]
    fn two_machines_with_one_name_are_refused_naming_both() {
        let first = arn("orders", "123456789012");
        let second = arn("orders", "210987654321");
        let err = Workflows::new(&[first.clone(), second.clone()], &[]).expect_err("a shared name");
        let line = err.to_string();
        assert!(
            line.contains("\"orders\"")
                && line.contains(first.as_str())
                && line.contains(second.as_str()),
            "{line}"
        );
    }

    #[test]
    fn a_machine_listed_twice_is_one_workflow() {
        let orders = arn("orders", "123456789012");
        let workflows = Workflows::new(&[orders.clone(), orders], &[]).expect("the same machine");
        assert_eq!(workflows.iter().count(), 1);
    }
}
