//! EventBridge `Step Functions Execution Status Change` events of STANDARD machines.

use std::time::SystemTime;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};

use crate::domain::execution::from_epoch_millis;
use crate::domain::{Execution, ExecutionArn, ExecutionStatus, RedriveStatus};

/// The `detail` of a status change, as Step Functions sends it (dates in epoch milliseconds,
/// input and output as JSON texts).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub status: String,
    pub start_date: u64,
    #[serde(default)]
    pub stop_date: Option<u64>,
    #[serde(default)]
    pub output: Option<String>,
    #[serde(default)]
    pub output_details: Option<Details>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
    #[serde(default)]
    pub redrive_count: Option<u32>,
    #[serde(default)]
    pub redrive_status: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Details {
    #[serde(default)]
    pub included: Option<bool>,
}

/// A stopped execution as its event tells it, and whether the event held its output.
#[derive(Debug, Clone)]
pub struct Stop {
    pub execution: Execution,
    pub output_included: bool,
}

/// Why an event is not a stop this service stores.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    #[error("not a stop (status {0})")]
    NotStopped(String),
    #[error("malformed: {0}")]
    Malformed(String),
}

/// A date of the event, refused (the event is poison) past what a document can carry.
fn millis(ms: u64, name: &str) -> Result<SystemTime, Skip> {
    from_epoch_millis(ms)
        .ok_or_else(|| Skip::Malformed(format!("{name} {ms} is past the year 9999")))
}

/// Reads a status change event into the stop it reports.
pub fn parse(event: &str) -> Result<Stop, Skip> {
    let event: EventBridgeEvent<StatusChange> =
        serde_json::from_str(event).map_err(|e| Skip::Malformed(e.to_string()))?;
    let detail = event.detail;
    let status = ExecutionStatus::parse(&detail.status)
        .ok_or_else(|| Skip::Malformed(format!("unknown status {:?}", detail.status)))?;
    if !status.is_stopped() {
        return Err(Skip::NotStopped(detail.status));
    }
    let arn = ExecutionArn::parse(&detail.execution_arn)
        .map_err(|e| Skip::Malformed(format!("executionArn: {e}")))?;
    if arn.is_express() || arn.state_machine().as_str() != detail.state_machine_arn {
        return Err(Skip::Malformed(
            "executionArn does not belong to stateMachineArn".into(),
        ));
    }
    let stop_date = detail
        .stop_date
        .ok_or_else(|| Skip::Malformed("a stop without stopDate".into()))?;
    // A failure carries error and cause, not output; otherwise the output is there unless
    // Step Functions left it out (over 248 KB escaped).
    let output_included = status != ExecutionStatus::Succeeded
        || detail
            .output_details
            .as_ref()
            .and_then(|d| d.included)
            .unwrap_or(detail.output.is_some());
    Ok(Stop {
        execution: Execution {
            arn,
            state_machine_arn: detail.state_machine_arn,
            status,
            start_date: millis(detail.start_date, "startDate")?,
            stop_date: Some(millis(stop_date, "stopDate")?),
            output: detail.output,
            error: detail.error,
            cause: detail.cause,
            redrive_status: match detail.redrive_status.as_deref() {
                Some("REDRIVABLE") => RedriveStatus::Redrivable,
                Some("NOT_REDRIVABLE") => RedriveStatus::NotRedrivable,
                _ => RedriveStatus::Unknown,
            },
            redrive_count: detail.redrive_count.unwrap_or(0),
            output_truncated: false,
            input: None,
        },
        output_included,
    })
}
