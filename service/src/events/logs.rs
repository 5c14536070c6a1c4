//! CloudWatch Logs subscription payloads of the EXPRESS machine (logging level `ALL` with
//! execution data): `ExecutionStarted` opens an execution, the four stop types close it.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_lambda_events::cloudwatch_logs::LogsEvent;
use serde::Deserialize;

use crate::domain::execution::from_epoch_millis;
use crate::domain::{Execution, ExecutionArn, ExecutionStatus, RedriveStatus, UNKNOWN_START};

/// One Step Functions log record (the `message` of a log event).
#[derive(Debug, Deserialize)]
struct Record {
    #[serde(rename = "type")]
    kind: String,
    execution_arn: String,
    event_timestamp: String,
    #[serde(default)]
    details: Details,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Details {
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    output_details: Option<Truncation>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    cause: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Truncation {
    #[serde(default)]
    truncated: bool,
}

/// What a batch of log records says, in the order to apply it.
#[derive(Debug)]
pub enum Change {
    Started {
        arn: ExecutionArn,
        at: SystemTime,
    },
    Stopped {
        execution: Box<Execution>,
        /// The start, when the same batch held it.
        start: Option<SystemTime>,
    },
}

/// The parse of one subscription payload.
#[derive(Debug, Default)]
pub struct Batch {
    pub changes: Vec<Change>,
    /// Records that are not execution starts or stops (state transitions, for instance).
    pub other: usize,
    /// Records that could not be read, with the reason.
    pub poison: Vec<String>,
    /// A `CONTROL_MESSAGE` (CloudWatch checking that the destination is reachable).
    pub control: bool,
}

/// Reads a subscription payload (`awslogs.data`, gzip and base64, decoded by
/// `aws_lambda_events`).
pub fn parse(event: &str) -> Result<Batch, String> {
    let event: LogsEvent = serde_json::from_str(event).map_err(|e| e.to_string())?;
    let data = event.aws_logs.data;
    let mut batch = Batch::default();
    if data.message_type == "CONTROL_MESSAGE" {
        batch.control = true;
        return Ok(batch);
    }
    let mut records: Vec<(i64, Record)> = Vec::new();
    for entry in data.log_events {
        match serde_json::from_str::<Record>(&entry.message) {
            Ok(record) => records.push((entry.timestamp, record)),
            Err(e) => batch.poison.push(format!("log event {}: {e}", entry.id)),
        }
    }
    // Delivery order is not guaranteed within a batch; a start must precede its stop.
    records.sort_by_key(|(timestamp, _)| *timestamp);
    let mut starts: HashMap<String, SystemTime> = HashMap::new();
    for (timestamp, record) in records {
        let ms = record
            .event_timestamp
            .parse::<u64>()
            .ok()
            .or(u64::try_from(timestamp).ok());
        let at = match ms.map(from_epoch_millis) {
            None => UNKNOWN_START,
            Some(Some(at)) => at,
            Some(None) => {
                batch.poison.push(format!(
                    "{}: event_timestamp is past the year 9999",
                    record.execution_arn
                ));
                continue;
            }
        };
        let status = match record.kind.as_str() {
            "ExecutionStarted" => None,
            "ExecutionSucceeded" => Some(ExecutionStatus::Succeeded),
            "ExecutionFailed" => Some(ExecutionStatus::Failed),
            "ExecutionTimedOut" => Some(ExecutionStatus::TimedOut),
            "ExecutionAborted" => Some(ExecutionStatus::Aborted),
            _ => {
                batch.other += 1;
                continue;
            }
        };
        let arn = match ExecutionArn::parse(&record.execution_arn) {
            Ok(arn) if arn.is_express() => arn,
            Ok(_) => {
                batch.poison.push(format!(
                    "{} is not an Express execution",
                    record.execution_arn
                ));
                continue;
            }
            Err(e) => {
                batch.poison.push(format!("execution_arn: {e}"));
                continue;
            }
        };
        let Some(status) = status else {
            starts.insert(arn.as_str().to_owned(), at);
            batch.changes.push(Change::Started { arn, at });
            continue;
        };
        let truncated = record
            .details
            .output_details
            .as_ref()
            .is_some_and(|d| d.truncated);
        let start = starts.get(arn.as_str()).copied();
        batch.changes.push(Change::Stopped {
            execution: Box::new(Execution {
                state_machine_arn: arn.state_machine().as_str().to_owned(),
                arn,
                status,
                start_date: start.unwrap_or(UNKNOWN_START),
                stop_date: Some(at),
                // Cut JSON is never stored: a truncated output is recorded as such.
                output: if truncated {
                    None
                } else {
                    record.details.output
                },
                error: record.details.error,
                cause: record.details.cause,
                redrive_status: RedriveStatus::NotRedrivable,
                redrive_count: 0,
                output_truncated: truncated,
                input: None,
            }),
            start,
        });
    }
    Ok(batch)
}
