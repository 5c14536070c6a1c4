//! The ports webhooks share: the webhooks table (endpoints, deliveries, the fan-out outbox) and
//! the delivery queue, as the fan-out sends to it and the deliveries door receives from it. The
//! sender, which only the attempt calls, is beside it (`attempt.rs`).

use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::{Delivery, Endpoint, Queued};
use crate::domain::{ExecutionArn, StoreError};

/// Endpoints, deliveries and the fan-out outbox: `WEBHOOKS_TABLE`.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a new endpoint; `false` when one with its id exists.
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<bool, StoreError>;
    /// Writes `endpoint` over the stored one only if that is still the version it was read
    /// at; `false` when it changed or was deleted since (nothing written).
    async fn replace_endpoint(&self, endpoint: &Endpoint) -> Result<bool, StoreError>;
    async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>, StoreError>;
    /// Every endpoint, oldest first; their `version` is not read (0), so none of them can
    /// replace a stored one: read it by id first.
    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError>;
    /// `false` when there was none.
    async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError>;
    /// Creates the delivery unless one with its id exists (`false` then).
    async fn create_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError>;
    async fn delivery(&self, endpoint_id: &str, id: &str) -> Result<Option<Delivery>, StoreError>;
    /// As `replace_endpoint`, for a delivery.
    async fn replace_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError>;
    /// The endpoint's deliveries, newest first, at most `limit` (their `version` not read).
    async fn deliveries(
        &self,
        endpoint_id: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Records that `arn`'s result is about to be stored and fanned out (`token` tells this
    /// writer's entry from another's).
    async fn add_outbox(
        &self,
        arn: &ExecutionArn,
        token: &str,
        at: SystemTime,
    ) -> Result<(), StoreError>;
    async fn remove_outbox(&self, arn: &ExecutionArn, token: &str) -> Result<(), StoreError>;
    /// Outbox entries made before `before`: the execution, the writer's token, when it was made.
    async fn outbox(
        &self,
        before: SystemTime,
    ) -> Result<Vec<(ExecutionArn, String, SystemTime)>, StoreError>;
}

/// The delivery queue (SQS) as the fan-out uses it: a message per delivery to attempt.
#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// Sends `message`, received no sooner than `delay` from now (at most the queue's longest
    /// delay).
    async fn send(&self, message: &Queued, delay: Duration) -> Result<(), StoreError>;
}

/// A delivery message as received: the queue's id for it, its body (a `Queued`, unless it is
/// poison) and the handle that settles it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: String,
    pub body: Option<String>,
    pub receipt: Option<String>,
}

/// The delivery queue as the deliveries door consumes it. A received message is hidden from
/// other receivers for the queue's own visibility timeout (on Lambda its event source receives
/// the same way); it is then deleted, or made visible again when its retry is due.
#[async_trait]
pub trait DeliveryInbox: Send + Sync {
    /// Waits up to `wait` for up to 10 visible messages.
    async fn receive(&self, wait: Duration) -> Result<Vec<Received>, StoreError>;
    async fn delete(&self, receipt: &str) -> Result<(), StoreError>;
    /// Makes the message visible again no sooner than `after` from now: rounded up to the
    /// queue's granularity, and at most its longest visibility.
    async fn retry_in(&self, receipt: &str, after: Duration) -> Result<(), StoreError>;
}
