//! Execution and state machine ARNs, parsed once at the edge so everything behind takes the type.

use std::fmt;

/// The longest ARN Step Functions accepts.
pub const MAX_ARN_LENGTH: usize = 256;

/// Why a string is not a Standard execution ARN this service can serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    #[error("the ARN is longer than {MAX_ARN_LENGTH} characters")]
    TooLong,
    #[error(
        "not an ARN: expected arn:PARTITION:states:REGION:ACCOUNT:execution:STATE_MACHINE:NAME (or :express:STATE_MACHINE:NAME:ID)"
    )]
    Malformed,
    #[error("not a Step Functions ARN (service is `{0}`, expected `states`)")]
    NotStepFunctions(String),
    #[error("not an execution ARN (resource type is `{0}`)")]
    NotAnExecution(String),
    #[error("the partition `{0}` is not an AWS partition")]
    Partition(String),
    #[error("the region `{0}` is not an AWS region name")]
    Region(String),
    #[error("the account `{0}` is not a 12-digit AWS account ID")]
    Account(String),
    #[error("the {0} name is empty, longer than 80 characters, or holds characters Step Functions does not allow in names")]
    Name(&'static str),
}

/// The ARN of a workflow execution: Standard, `arn:PARTITION:states:REGION:ACCOUNT:execution:MACHINE:NAME`,
/// or Express, `arn:PARTITION:states:REGION:ACCOUNT:express:MACHINE:NAME:ID`.
#[derive(Clone, PartialEq, Eq)]
pub struct ExecutionArn {
    raw: String,
    state_machine: StateMachineArn,
    name: std::ops::Range<usize>,
    express: bool,
}

/// The unqualified ARN of a state machine: `arn:PARTITION:states:REGION:ACCOUNT:stateMachine:NAME`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StateMachineArn(String);

struct Parts<'a> {
    partition: &'a str,
    region: &'a str,
    account: &'a str,
    resource: &'a str,
    rest: Vec<&'a str>,
}

fn split(s: &str) -> Result<Parts<'_>, ArnError> {
    if s.chars().count() > MAX_ARN_LENGTH {
        return Err(ArnError::TooLong);
    }
    let fields: Vec<&str> = s.split(':').collect();
    if fields.len() < 7 || fields[0] != "arn" {
        return Err(ArnError::Malformed);
    }
    if fields[2] != "states" {
        return Err(ArnError::NotStepFunctions(fields[2].to_owned()));
    }
    let parts = Parts {
        partition: fields[1],
        region: fields[3],
        account: fields[4],
        resource: fields[5],
        rest: fields[6..].to_vec(),
    };
    if !is_partition(parts.partition) {
        return Err(ArnError::Partition(parts.partition.to_owned()));
    }
    if !is_region(parts.region) {
        return Err(ArnError::Region(parts.region.to_owned()));
    }
    if parts.account.len() != 12 || !parts.account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ArnError::Account(parts.account.to_owned()));
    }
    Ok(parts)
}

impl ExecutionArn {
    /// Parses a Standard or Express execution ARN; anything else (state machines, activities,
    /// map runs, foreign services) is refused with the reason.
    pub fn parse(s: &str) -> Result<Self, ArnError> {
        let parts = split(s)?;
        let (machine, name, id) = match (parts.resource, parts.rest.as_slice()) {
            ("execution", [machine, name]) => (*machine, *name, None),
            ("express", [machine, name, id]) => (*machine, *name, Some(*id)),
            ("execution" | "express", _) => return Err(ArnError::Malformed),
            (other, _) => return Err(ArnError::NotAnExecution(other.to_owned())),
        };
        if !is_name(machine) {
            return Err(ArnError::Name("state machine"));
        }
        if !is_name(name) || id.is_some_and(|id| !is_name(id)) {
            return Err(ArnError::Name("execution"));
        }
        let state_machine = StateMachineArn(format!(
            "arn:{}:states:{}:{}:stateMachine:{machine}",
            parts.partition, parts.region, parts.account
        ));
        let end = s.len() - id.map_or(0, |id| id.len() + 1);
        Ok(Self {
            raw: s.to_owned(),
            state_machine,
            name: end - name.len()..end,
            express: id.is_some(),
        })
    }

    /// Whether this is an Express execution: Step Functions' `DescribeExecution` does not serve
    /// those; only what their logs delivered is known.
    pub fn is_express(&self) -> bool {
        self.express
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The execution's name.
    pub fn name(&self) -> &str {
        &self.raw[self.name.clone()]
    }

    pub fn state_machine(&self) -> &StateMachineArn {
        &self.state_machine
    }
}

impl StateMachineArn {
    pub fn parse(s: &str) -> Result<Self, ArnError> {
        let parts = split(s)?;
        if parts.resource != "stateMachine" {
            return Err(ArnError::NotAnExecution(parts.resource.to_owned()));
        }
        match parts.rest.as_slice() {
            [machine] if is_name(machine) => Ok(Self(s.to_owned())),
            [_] => Err(ArnError::Name("state machine")),
            _ => Err(ArnError::Malformed),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The machine's name, the last field of its ARN: a workflow's name.
    pub fn name(&self) -> &str {
        self.0.rsplit(':').next().unwrap_or_default()
    }

    /// The ARN an execution of this machine with the given name gets.
    pub fn execution(&self, name: &str) -> Result<ExecutionArn, ArnError> {
        let prefix = self.0.replacen(":stateMachine:", ":execution:", 1);
        ExecutionArn::parse(&format!("{prefix}:{name}"))
    }
}

/// `aws`, `aws-cn`, `aws-us-gov`, `aws-iso-b`, ...
fn is_partition(s: &str) -> bool {
    s == "aws"
        || s.strip_prefix("aws-").is_some_and(|rest| {
            rest.split('-')
                .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        })
}

/// `us-east-1`, `us-gov-west-1`, `cn-northwest-1`, `eu-isoe-west-1`, ...
fn is_region(s: &str) -> bool {
    let words: Vec<&str> = s.split('-').collect();
    let Some((number, names)) = words.split_last() else {
        return false;
    };
    names.len() >= 2
        && names
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.len() <= 2
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// Step Functions' rule for state machine and execution names: 1 to 80 characters, no
/// whitespace, brackets, wildcards, special characters or control characters.
fn is_name(s: &str) -> bool {
    const FORBIDDEN: &str = "<>{}[]?*\"#%\\^|~`$&,;:/";
    let count = s.chars().count();
    (1..=80).contains(&count)
        && s.chars().all(|c| {
            !c.is_whitespace() && !c.is_control() && !FORBIDDEN.contains(c) && c != '\u{FEFF}'
        })
}

/// Hashes the text alone: the other fields are derived from it.
impl std::hash::Hash for ExecutionArn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.raw.hash(state);
    }
}

impl fmt::Display for ExecutionArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl fmt::Debug for ExecutionArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExecutionArn({})", self.raw)
    }
}

impl fmt::Display for StateMachineArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StateMachineArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateMachineArn({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "arn:aws:states:us-east-1:123456789012:execution:Orders:7f3c-01";

    #[test]
    fn a_standard_execution_arn_parses_with_its_machine_and_name() {
        let arn = ExecutionArn::parse(GOOD).expect("valid");
        assert_eq!(arn.as_str(), GOOD);
        assert_eq!(arn.name(), "7f3c-01");
        assert_eq!(
            arn.state_machine().as_str(),
            "arn:aws:states:us-east-1:123456789012:stateMachine:Orders"
        );
    }

    #[test]
    fn other_partitions_and_regions_parse() {
        for arn in [
            "arn:aws-cn:states:cn-north-1:123456789012:execution:M:n",
            "arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:M:n",
            "arn:aws-iso-b:states:us-isob-east-1:123456789012:execution:M:n",
        ] {
            assert!(ExecutionArn::parse(arn).is_ok(), "{arn}");
        }
    }

    #[test]
    fn an_express_execution_arn_parses_with_its_machine_name_and_id() {
        let raw = "arn:aws:states:us-east-1:123456789012:express:Fast:order-1:0a1b-2c";
        let arn = ExecutionArn::parse(raw).expect("valid");
        assert!(arn.is_express());
        assert_eq!(arn.name(), "order-1");
        assert_eq!(
            arn.state_machine().as_str(),
            "arn:aws:states:us-east-1:123456789012:stateMachine:Fast"
        );
        assert!(!ExecutionArn::parse(GOOD).expect("valid").is_express());
        assert_eq!(
            ExecutionArn::parse("arn:aws:states:us-east-1:123456789012:express:Fast:n"),
            Err(ArnError::Malformed)
        );
    }

    #[test]
    fn anything_but_an_execution_is_refused() {
        let cases = [
            ("", ArnError::Malformed),
            ("*", ArnError::Malformed),
            (
                "arn:aws:states:us-east-1:123456789012:stateMachine:Orders",
                ArnError::NotAnExecution("stateMachine".into()),
            ),
            (
                "arn:aws:states:us-east-1:123456789012:activity:Act:x",
                ArnError::NotAnExecution("activity".into()),
            ),
            (
                "arn:aws:states:us-east-1:123456789012:mapRun:Orders/label:x",
                ArnError::NotAnExecution("mapRun".into()),
            ),
            (
                "arn:aws:lambda:us-east-1:123456789012:execution:M:n",
                ArnError::NotStepFunctions("lambda".into()),
            ),
            (
                "arn:foo:states:us-east-1:123456789012:execution:M:n",
                ArnError::Partition("foo".into()),
            ),
            (
                "arn:aws:states:*:123456789012:execution:M:n",
                ArnError::Region("*".into()),
            ),
            (
                "arn:aws:states:us-east-1:12345:execution:M:n",
                ArnError::Account("12345".into()),
            ),
            (
                "arn:aws:states:us-east-1:123456789012:execution:M:n:extra",
                ArnError::Malformed,
            ),
            (
                "arn:aws:states:us-east-1:123456789012:execution:M/label:n",
                ArnError::Name("state machine"),
            ),
            (
                "arn:aws:states:us-east-1:123456789012:execution:M:a b",
                ArnError::Name("execution"),
            ),
            (
                "arn:aws:states:us-east-1:123456789012:execution:M:a\u{0}b",
                ArnError::Name("execution"),
            ),
            (
                "arn:aws:states:us-east-1:123456789012:execution:M:",
                ArnError::Name("execution"),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(ExecutionArn::parse(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn an_arn_over_256_characters_is_too_long() {
        let long = format!("{GOOD}{}", "x".repeat(MAX_ARN_LENGTH));
        assert_eq!(ExecutionArn::parse(&long), Err(ArnError::TooLong));
    }

    #[test]
    fn a_state_machine_arn_builds_its_execution_arns() {
        let machine =
            StateMachineArn::parse("arn:aws:states:eu-west-1:123456789012:stateMachine:Orders")
                .expect("valid");
        let arn = machine.execution("run-1").expect("valid");
        assert_eq!(
            arn.as_str(),
            "arn:aws:states:eu-west-1:123456789012:execution:Orders:run-1"
        );
        assert_eq!(arn.state_machine(), &machine);
        assert!(machine.execution("bad name").is_err());
    }
}
