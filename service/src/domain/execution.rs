//! What Step Functions says about an execution, and the result document built from it.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use super::arn::ExecutionArn;

/// The start date of an Express execution whose start was never logged: `startDate` is null.
pub const UNKNOWN_START: SystemTime = SystemTime::UNIX_EPOCH;

/// The latest instant RFC 3339 can write (four-digit years): 9999-12-31T23:59:59.999Z.
pub const LATEST_MILLIS: u64 = 253_402_300_799_999;

/// An instant from epoch milliseconds, when it lies within what a result document can carry;
/// outside data is parsed through this, never by adding to the epoch unchecked.
pub fn from_epoch_millis(ms: u64) -> Option<SystemTime> {
    (ms <= LATEST_MILLIS).then(|| SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
}

/// RFC 3339 UTC with milliseconds. Total: an instant past year 9999 (which outside data is
/// refused for at the edge) is written as the latest one rather than panicking.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let latest = SystemTime::UNIX_EPOCH + Duration::from_millis(LATEST_MILLIS);
    humantime::format_rfc3339_millis(t.min(latest)).to_string()
}

/// How long a FAILED, TIMED_OUT or ABORTED Standard execution can still be redriven.
pub const REDRIVE_WINDOW: Duration = Duration::from_secs(14 * 24 * 60 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
    PendingRedrive,
}

impl ExecutionStatus {
    /// Parses the status names Step Functions uses.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "RUNNING" => Self::Running,
            "SUCCEEDED" => Self::Succeeded,
            "FAILED" => Self::Failed,
            "TIMED_OUT" => Self::TimedOut,
            "ABORTED" => Self::Aborted,
            "PENDING_REDRIVE" => Self::PendingRedrive,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
            Self::Aborted => "ABORTED",
            Self::PendingRedrive => "PENDING_REDRIVE",
        }
    }

    /// Whether the execution has stopped (it may still be redriven if it did not succeed).
    pub fn is_stopped(self) -> bool {
        !matches!(self, Self::Running | Self::PendingRedrive)
    }
}

/// Whether a stopped execution may still be redriven under the same ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedriveStatus {
    Redrivable,
    NotRedrivable,
    /// Any other value, or none (older APIs and emulators do not report it).
    Unknown,
}

/// One `DescribeExecution` answer, reduced to what the result document needs.
#[derive(Debug, Clone)]
pub struct Execution {
    pub arn: ExecutionArn,
    pub state_machine_arn: String,
    pub status: ExecutionStatus,
    pub start_date: SystemTime,
    pub stop_date: Option<SystemTime>,
    /// The output exactly as Step Functions returned it (a JSON text).
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub redrive_status: RedriveStatus,
    /// How many times it was redriven: a later run under the same ARN has a greater count.
    pub redrive_count: u32,
    /// Step Functions cut the output (an Express log holds 248 KB at most): `output` is `None`
    /// and the document says so, rather than carrying cut JSON.
    pub output_truncated: bool,
    /// The execution's input, only to recognise an idempotent retry; never logged or answered.
    pub input: Option<String>,
}

/// The order of results stored under one ARN: `(redriveCount, stopDate)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rank {
    pub redrive_count: u32,
    pub stop_date_ms: u64,
}

/// How long a result may be kept, decided by the cache rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finality {
    /// Will never change: cache it and serve it as immutable.
    Final,
    /// Stopped but still redrivable: cache it briefly, then ask Step Functions again.
    Provisional,
    /// Still running: never cached.
    Open,
}

impl Execution {
    pub fn finality(&self, now: SystemTime) -> Finality {
        match self.status {
            ExecutionStatus::Running | ExecutionStatus::PendingRedrive => Finality::Open,
            ExecutionStatus::Succeeded => Finality::Final,
            ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted => {
                let window_closed = self.stop_date.is_some_and(|stop| {
                    now.duration_since(stop)
                        .is_ok_and(|age| age > REDRIVE_WINDOW)
                });
                if self.redrive_status == RedriveStatus::NotRedrivable || window_closed {
                    Finality::Final
                } else {
                    Finality::Provisional
                }
            }
        }
    }

    /// Where this result stands among the results of the same ARN: a redriven run's, or one
    /// that stopped later, replaces an earlier one.
    pub fn rank(&self) -> Rank {
        Rank {
            redrive_count: self.redrive_count,
            stop_date_ms: self
                .stop_date
                .and_then(|d| d.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }

    /// How long the execution has been running (or ran).
    pub fn age(&self, now: SystemTime) -> Duration {
        self.stop_date
            .unwrap_or(now)
            .duration_since(self.start_date)
            .unwrap_or_default()
    }

    /// The result document's bytes: the same for a cached and a fresh answer.
    pub fn document(&self) -> Bytes {
        let output = match &self.output {
            None => Output::Null,
            Some(text) => match serde_json::from_str::<&RawValue>(text) {
                Ok(raw) => Output::Json(raw),
                // Step Functions only emits JSON; keep a non-JSON output readable rather than drop it.
                Err(_) => Output::Text(text),
            },
        };
        let stopped = self.status.is_stopped();
        let document = Document {
            execution_arn: self.arn.as_str(),
            state_machine_arn: &self.state_machine_arn,
            name: self.arn.name(),
            status: self.status.as_str(),
            start_date: (self.start_date != UNKNOWN_START).then(|| rfc3339_millis(self.start_date)),
            stop_date: self.stop_date.map(rfc3339_millis),
            output: stopped.then_some(output),
            error: self.error.as_deref(),
            cause: self.cause.as_deref(),
            output_truncated: self.output_truncated,
        };
        // Serializing borrowed strings and a validated raw value cannot fail.
        Bytes::from(serde_json::to_vec(&document).unwrap_or_default())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    execution_arn: &'a str,
    state_machine_arn: &'a str,
    name: &'a str,
    status: &'a str,
    start_date: Option<String>,
    stop_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<Output<'a>>,
    error: Option<&'a str>,
    cause: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    output_truncated: bool,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Output<'a> {
    Json(&'a RawValue),
    Text(&'a str),
    Null,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execution(status: ExecutionStatus) -> Execution {
        let start = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_064_800_000);
        Execution {
            arn: ExecutionArn::parse("arn:aws:states:us-east-1:123456789012:execution:Orders:o-1")
                .expect("valid"),
            state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:Orders".into(),
            status,
            start_date: start,
            stop_date: status
                .is_stopped()
                .then_some(start + Duration::from_millis(2_120)),
            output: None,
            error: None,
            cause: None,
            redrive_status: RedriveStatus::Unknown,
            redrive_count: 0,
            output_truncated: false,
            input: None,
        }
    }

    #[test]
    fn a_succeeded_document_carries_the_output_as_json_not_as_a_string() {
        let mut e = execution(ExecutionStatus::Succeeded);
        e.output = Some(r#"{"total": 42, "items": ["a"]}"#.into());
        let doc: serde_json::Value = serde_json::from_slice(&e.document()).expect("json");
        assert_eq!(doc["output"]["total"], 42);
        assert_eq!(doc["name"], "o-1");
        assert_eq!(doc["startDate"], "2025-11-25T10:00:00.000Z");
        assert_eq!(doc["stopDate"], "2025-11-25T10:00:02.120Z");
        assert!(doc["error"].is_null());
    }

    #[test]
    fn the_output_bytes_are_kept_exactly() {
        let mut e = execution(ExecutionStatus::Succeeded);
        e.output = Some(r#"{"b": 1,   "a": "\u00e9"}"#.into());
        let text = String::from_utf8(e.document().to_vec()).expect("utf8");
        assert!(
            text.contains(r#""output":{"b": 1,   "a": "\u00e9"}"#),
            "{text}"
        );
    }

    #[test]
    fn a_running_document_has_no_output_field() {
        let doc: serde_json::Value =
            serde_json::from_slice(&execution(ExecutionStatus::Running).document()).expect("json");
        assert!(doc.get("output").is_none());
        assert!(doc["stopDate"].is_null());
    }

    #[test]
    fn succeeded_is_final_and_running_is_never_cached() {
        let now = SystemTime::now();
        assert_eq!(
            execution(ExecutionStatus::Succeeded).finality(now),
            Finality::Final
        );
        assert_eq!(
            execution(ExecutionStatus::Running).finality(now),
            Finality::Open
        );
        assert_eq!(
            execution(ExecutionStatus::PendingRedrive).finality(now),
            Finality::Open
        );
    }

    #[test]
    fn a_failure_is_final_only_when_it_can_no_longer_be_redriven() {
        for status in [
            ExecutionStatus::Failed,
            ExecutionStatus::TimedOut,
            ExecutionStatus::Aborted,
        ] {
            let e = execution(status);
            let stop = e.stop_date.expect("stopped");
            assert_eq!(
                e.finality(stop + Duration::from_secs(60)),
                Finality::Provisional
            );
            assert_eq!(
                e.finality(stop + REDRIVE_WINDOW + Duration::from_secs(1)),
                Finality::Final
            );
            let not_redrivable = Execution {
                redrive_status: RedriveStatus::NotRedrivable,
                ..e
            };
            assert_eq!(not_redrivable.finality(stop), Finality::Final);
        }
    }
}
