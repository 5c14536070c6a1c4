//! Webhook rules, the message: a delivery's record and its queue message, its `webhook-id`, and
//! the thin payload built from a stored result.

use std::time::SystemTime;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::domain::execution::{rfc3339_millis, ExecutionStatus};
use crate::domain::reconcile::millis;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Queued, not attempted yet (or queued again by the retry route).
    Pending,
    /// An attempt failed; the next one is scheduled.
    Retrying,
    Delivered,
    /// Every attempt of the schedule failed, or the endpoint answered 410.
    Dead,
    /// The endpoint was deleted or disabled before it could be delivered.
    Cancelled,
}

/// One notification of one endpoint: the same `webhook-id` and body on every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: String,
    pub endpoint_id: String,
    pub execution_arn: String,
    pub execution_status: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub created_at_ms: u64,
    /// The request body, sent as these exact bytes on every attempt.
    pub payload: String,
    /// The stored item's version when it was read (0: never stored): see `Endpoint::version`.
    #[serde(skip)]
    pub version: u64,
}

/// What the queue carries: which delivery to attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Queued {
    pub endpoint_id: String,
    pub delivery_id: String,
}

impl Queued {
    /// The message that attempts `delivery`.
    pub fn of(delivery: &Delivery) -> Self {
        Self {
            endpoint_id: delivery.endpoint_id.clone(),
            delivery_id: delivery.id.clone(),
        }
    }
}

/// `execution.succeeded`, `execution.failed`, `execution.timed_out`, `execution.aborted`.
pub fn event_type(status: ExecutionStatus) -> String {
    format!("execution.{}", status.as_str().to_ascii_lowercase())
}

/// The `webhook-id`, the same for every attempt and re-send of one (endpoint, execution,
/// status), so a consumer can de-duplicate.
pub fn message_id(endpoint: &str, execution_arn: &str, status: ExecutionStatus) -> String {
    let hash = xxhash_rust::xxh3::xxh3_128(
        format!("{endpoint}\n{execution_arn}\n{}", status.as_str()).as_bytes(),
    );
    format!("msg_{hash:032x}")
}

/// The thin payload: what the result document says, without the output, and where to read it.
pub fn payload(document: &[u8], status_url: &str, now: SystemTime) -> Option<Bytes> {
    let doc: serde_json::Value = serde_json::from_slice(document).ok()?;
    let status = ExecutionStatus::parse(doc.get("status")?.as_str()?)?;
    let mut data = serde_json::Map::new();
    for field in [
        "executionArn",
        "stateMachineArn",
        "name",
        "status",
        "startDate",
        "stopDate",
        "error",
        "cause",
    ] {
        data.insert(field.into(), doc.get(field).cloned().unwrap_or_default());
    }
    data.insert("statusUrl".into(), status_url.into());
    let body = serde_json::json!({
        "type": event_type(status),
        "timestamp": rfc3339_millis(now),
        "data": data,
    });
    serde_json::to_vec(&body).ok().map(Bytes::from)
}

/// The status and stop (epoch ms) a result document records; `None` for one not stopped.
pub(super) fn stop_of(document: &[u8]) -> Option<(ExecutionStatus, u64)> {
    let doc: serde_json::Value = serde_json::from_slice(document).ok()?;
    let status = ExecutionStatus::parse(doc.get("status")?.as_str()?)?;
    if !status.is_stopped() {
        return None;
    }
    let stopped = humantime::parse_rfc3339(doc.get("stopDate")?.as_str()?).ok()?;
    Some((status, millis(stopped)))
}
