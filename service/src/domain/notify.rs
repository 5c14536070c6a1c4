//! Notifying webhook endpoints of stops: the ports (the webhooks table, the delivery queue, the
//! outbound client), the fan-out from a stored result to one delivery per matching endpoint, and
//! one delivery attempt. A result's fan-out is recorded in an outbox before the result is
//! stored and cleared after its deliveries are queued, so a crash in between loses nothing: the
//! sweep finds the outbox entry and fans out again (deliveries are keyed by their message id, so
//! a second fan-out queues nothing twice).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::arn::ExecutionArn;
use super::budget::wall_clock;
use super::execution::ExecutionStatus;
use super::ports::{ResultStore, StoreError};
use super::webhooks::{message_id, payload, signature, Endpoint, RetrySchedule, ATTEMPT_TIMEOUT};

/// An outbox entry whose result never got stored is dropped after this long.
const ABANDONED: Duration = Duration::from_secs(300);

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

/// Endpoints, deliveries and the fan-out outbox: `WEBHOOKS_TABLE`.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a new endpoint; `false` when one with its id exists.
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<bool, StoreError>;
    /// Writes `endpoint` over the stored one only if that is still the version it was read
    /// at; `false` when it changed or was deleted since (nothing written).
    async fn replace_endpoint(&self, endpoint: &Endpoint) -> Result<bool, StoreError>;
    async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>, StoreError>;
    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError>;
    /// `false` when there was none.
    async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError>;
    /// Creates the delivery unless one with its id exists (`false` then).
    async fn create_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError>;
    async fn delivery(&self, endpoint_id: &str, id: &str) -> Result<Option<Delivery>, StoreError>;
    /// As `replace_endpoint`, for a delivery.
    async fn replace_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError>;
    /// The endpoint's deliveries, newest first, at most `limit`.
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

/// The delivery queue (SQS): a message per attempt to make, made visible again for a retry.
#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    async fn send(&self, message: &Queued, delay: Duration) -> Result<(), StoreError>;
}

/// One signed POST.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

/// What an attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Answered {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: timeout, refused connection, or an address an endpoint may not have.
    Failed(String),
}

/// Sends webhooks: resolves and checks the address, posts with a time limit, never follows a
/// redirect.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    async fn send(&self, request: Outgoing, timeout: Duration) -> Sent;
}

/// What to do with the queue message after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Remove it: delivered, dead, cancelled or unknown.
    Done,
    /// Make it visible again after this long.
    RetryIn(Duration),
}

/// Why notifying failed; the caller retries (the outbox keeps the fan-out).
#[derive(Debug, thiserror::Error)]
#[error("webhook store or queue failed")]
pub struct NotifyError(#[source] pub StoreError);

/// Fans stops out to endpoints and makes delivery attempts.
#[derive(Clone)]
pub struct Notifier {
    pub store: Arc<dyn WebhookStore>,
    pub queue: Arc<dyn DeliveryQueue>,
    pub sender: Arc<dyn WebhookSender>,
    pub schedule: RetrySchedule,
    /// Prefix of status URLs in payloads (`https://api.example.com/prod`).
    pub public_base_url: String,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("schedule", &self.schedule)
            .finish_non_exhaustive()
    }
}

fn millis(t: SystemTime) -> u64 {
    u64::try_from(
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

fn rfc3339(t: SystemTime) -> String {
    crate::domain::execution::rfc3339_millis(t)
}

impl Notifier {
    /// The status URL of an execution, as payloads carry it.
    pub fn status_url(&self, arn: &ExecutionArn) -> String {
        let encoded: String = url::form_urlencoded::byte_serialize(arn.as_str().as_bytes())
            .collect::<String>()
            .replace("%3A", ":");
        format!(
            "{}/executions/{encoded}",
            self.public_base_url.trim_end_matches('/')
        )
    }

    /// Queues one delivery per endpoint that wants this stop; `document` is the stored result.
    /// `again` (the sweep) also queues deliveries an earlier fan-out created but may not have
    /// queued; a delivery already attempted is left to its schedule.
    pub async fn fan_out(
        &self,
        arn: &ExecutionArn,
        document: &[u8],
        again: bool,
    ) -> Result<usize, NotifyError> {
        let Some((status, stopped_ms)) = stop_of(document) else {
            return Ok(0);
        };
        let endpoints = self.store.endpoints().await.map_err(NotifyError)?;
        let now = wall_clock();
        let mut queued = 0;
        for endpoint in endpoints {
            if !endpoint.wants(arn.state_machine(), status, stopped_ms) {
                continue;
            }
            let Some(body) = payload(document, &self.status_url(arn), now) else {
                continue;
            };
            let delivery = Delivery {
                id: message_id(&endpoint.id, arn.as_str(), status),
                endpoint_id: endpoint.id.clone(),
                execution_arn: arn.as_str().to_owned(),
                execution_status: status.as_str().to_owned(),
                state: DeliveryState::Pending,
                attempts: 0,
                last_status_code: None,
                last_error: None,
                next_attempt_at: Some(rfc3339(now)),
                delivered_at: None,
                created_at_ms: millis(now),
                payload: String::from_utf8_lossy(&body).into_owned(),
                version: 0,
            };
            // Created before it is queued: a second fan-out of the same stop queues nothing,
            // and a crash between the two leaves a pending delivery the sweep queues.
            let fresh = self
                .store
                .create_delivery(&delivery)
                .await
                .map_err(NotifyError)?;
            let unqueued = !fresh
                && again
                && self
                    .store
                    .delivery(&delivery.endpoint_id, &delivery.id)
                    .await
                    .map_err(NotifyError)?
                    .is_some_and(|d| d.state == DeliveryState::Pending && d.attempts == 0);
            if fresh || unqueued {
                self.enqueue(&delivery, Duration::ZERO).await?;
                queued += 1;
            }
        }
        Ok(queued)
    }

    async fn enqueue(&self, delivery: &Delivery, delay: Duration) -> Result<(), NotifyError> {
        let message = Queued {
            endpoint_id: delivery.endpoint_id.clone(),
            delivery_id: delivery.id.clone(),
        };
        self.queue.send(&message, delay).await.map_err(NotifyError)
    }

    /// Fans out what the outbox still holds (older than `grace`, so a fan-out under way is
    /// left to finish): results stored by a process that died before queueing.
    pub async fn sweep(
        &self,
        results: &dyn ResultStore,
        grace: Duration,
    ) -> Result<usize, NotifyError> {
        let now = wall_clock();
        let mut swept = 0;
        for (arn, token, made) in self.store.outbox(now - grace).await.map_err(NotifyError)? {
            // One entry's trouble does not hold the others up; it is tried at the next sweep.
            match self.sweep_one(results, &arn, &token, made, now).await {
                Ok(true) => swept += 1,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(execution_arn = %arn, error = %err, source = ?std::error::Error::source(&err), "webhook sweep of one stop failed; the next sweep retries it");
                }
            }
        }
        Ok(swept)
    }

    async fn sweep_one(
        &self,
        results: &dyn ResultStore,
        arn: &ExecutionArn,
        token: &str,
        made: SystemTime,
        now: SystemTime,
    ) -> Result<bool, NotifyError> {
        let state = results.state(arn).await.map_err(NotifyError)?;
        let Some(result) = state.result else {
            // Its writer died before storing, or is still storing: left alone for a while.
            if now.duration_since(made).unwrap_or_default() > ABANDONED {
                self.store
                    .remove_outbox(arn, token)
                    .await
                    .map_err(NotifyError)?;
            }
            return Ok(false);
        };
        self.fan_out(arn, &result.document, true).await?;
        self.store
            .remove_outbox(arn, token)
            .await
            .map_err(NotifyError)?;
        Ok(true)
    }

    /// Stores a stopped result through the outbox: recorded, stored, fanned out, cleared. If
    /// this process dies anywhere in between, the sweep finishes the fan-out.
    pub async fn store_and_notify(
        &self,
        results: &dyn ResultStore,
        arn: &ExecutionArn,
        item: &super::ports::StoredResult,
    ) -> Result<super::ports::PutOutcome, StoreError> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        // When the entry is made, not when the result was read: the sweep's grace counts from here.
        self.store.add_outbox(arn, &token, wall_clock()).await?;
        let outcome = results.put_if_absent(arn, item).await?;
        if outcome == super::ports::PutOutcome::Written {
            if let Err(err) = self.fan_out(arn, &item.document, false).await {
                // The outbox entry stays: the sweep fans out again.
                tracing::warn!(execution_arn = %arn, error = %err, source = ?std::error::Error::source(&err), "webhook fan-out failed; the sweep retries it");
                return Ok(outcome);
            }
        }
        self.store.remove_outbox(arn, &token).await?;
        Ok(outcome)
    }

    /// Queues a failed or dead delivery again, now; `None` when there is no such delivery.
    pub async fn resend(
        &self,
        endpoint_id: &str,
        id: &str,
    ) -> Result<Option<Delivery>, NotifyError> {
        // Read, change, write only if nobody wrote between (an attempt finishing, say).
        for _ in 0..CONFLICT_RETRIES {
            let Some(mut delivery) = self
                .store
                .delivery(endpoint_id, id)
                .await
                .map_err(NotifyError)?
            else {
                return Ok(None);
            };
            if delivery.state == DeliveryState::Delivered {
                return Ok(Some(delivery));
            }
            delivery.state = DeliveryState::Pending;
            delivery.next_attempt_at = Some(rfc3339(wall_clock()));
            if self
                .store
                .replace_delivery(&delivery)
                .await
                .map_err(NotifyError)?
            {
                self.enqueue(&delivery, Duration::ZERO).await?;
                return Ok(Some(delivery));
            }
        }
        Err(NotifyError(StoreError(
            "the delivery kept changing while it was being queued again".into(),
        )))
    }

    /// Makes one attempt of the queued delivery and records what happened.
    #[tracing::instrument(skip_all, fields(delivery = %queued.delivery_id))]
    pub async fn attempt(&self, queued: &Queued) -> Result<Disposition, NotifyError> {
        let store = &self.store;
        let Some(mut delivery) = store
            .delivery(&queued.endpoint_id, &queued.delivery_id)
            .await
            .map_err(NotifyError)?
        else {
            return Ok(Disposition::Done);
        };
        if matches!(
            delivery.state,
            DeliveryState::Delivered | DeliveryState::Dead | DeliveryState::Cancelled
        ) {
            return Ok(Disposition::Done);
        }
        let endpoint = store
            .endpoint(&queued.endpoint_id)
            .await
            .map_err(NotifyError)?;
        let Some(mut endpoint) = endpoint.filter(|e| !e.disabled) else {
            delivery.state = DeliveryState::Cancelled;
            delivery.next_attempt_at = None;
            if !store
                .replace_delivery(&delivery)
                .await
                .map_err(NotifyError)?
            {
                tracing::info!("the delivery changed meanwhile; its newer record stands");
            }
            return Ok(Disposition::Done);
        };
        let now = wall_clock();
        let timestamp = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let body = Bytes::from(delivery.payload.clone().into_bytes());
        let request = Outgoing {
            url: endpoint.url.as_str().to_owned(),
            headers: vec![
                ("content-type", "application/json".to_owned()),
                ("user-agent", "api-sfn-webhooks/1".to_owned()),
                ("webhook-id", delivery.id.clone()),
                ("webhook-timestamp", timestamp.to_string()),
                (
                    "webhook-signature",
                    signature(&endpoint.secrets, &delivery.id, timestamp, &body, now),
                ),
            ],
            body,
        };
        let sent = self.sender.send(request, ATTEMPT_TIMEOUT).await;
        delivery.attempts += 1;
        let (code, retry_after) = match &sent {
            Sent::Answered {
                status,
                retry_after,
            } => (Some(*status), *retry_after),
            Sent::Failed(_) => (None, None),
        };
        delivery.last_status_code = code;
        delivery.last_error = match &sent {
            Sent::Answered { status, .. } if (200..300).contains(status) => None,
            Sent::Answered { status, .. } => Some(format!("the endpoint answered {status}")),
            Sent::Failed(why) => Some(why.clone()),
        };
        let disposition = match code {
            Some(200..=299) => {
                delivery.state = DeliveryState::Delivered;
                delivery.delivered_at = Some(rfc3339(wall_clock()));
                delivery.next_attempt_at = None;
                Disposition::Done
            }
            Some(410) => {
                // Gone: the consumer asks for nothing more.
                self.disable(&mut endpoint).await?;
                delivery.state = DeliveryState::Dead;
                delivery.next_attempt_at = None;
                delivery.last_error = Some("the endpoint answered 410 Gone: it is disabled".into());
                Disposition::Done
            }
            _ => {
                let honoured = retry_after.filter(|_| matches!(code, Some(429 | 503)));
                match self.schedule.next(delivery.attempts, honoured, jitter()) {
                    Some(wait) => {
                        delivery.state = DeliveryState::Retrying;
                        delivery.next_attempt_at = Some(rfc3339(wall_clock() + wait));
                        Disposition::RetryIn(wait)
                    }
                    None => {
                        delivery.state = DeliveryState::Dead;
                        delivery.next_attempt_at = None;
                        Disposition::Done
                    }
                }
            }
        };
        if !store
            .replace_delivery(&delivery)
            .await
            .map_err(NotifyError)?
        {
            // Another attempt of the same message (queues deliver at least once), or a retry
            // asked for meanwhile: its record stands, and so does what it scheduled.
            tracing::info!("the delivery changed meanwhile; its newer record stands");
            return Ok(Disposition::Done);
        }
        let outcome = match delivery.state {
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
            _ => "retrying",
        };
        metrics::counter!(crate::emf::WEBHOOK_DELIVERIES, "Outcome" => outcome).increment(1);
        Ok(disposition)
    }
}

impl Notifier {
    /// Disables an endpoint that answered `410`, unless it was deleted meanwhile.
    async fn disable(&self, endpoint: &mut Endpoint) -> Result<(), NotifyError> {
        for _ in 0..CONFLICT_RETRIES {
            endpoint.disabled = true;
            if self
                .store
                .replace_endpoint(endpoint)
                .await
                .map_err(NotifyError)?
            {
                return Ok(());
            }
            match self
                .store
                .endpoint(&endpoint.id)
                .await
                .map_err(NotifyError)?
            {
                Some(fresh) => *endpoint = fresh,
                None => return Ok(()),
            }
        }
        Err(NotifyError(StoreError(
            "the endpoint kept changing while it was being disabled".into(),
        )))
    }
}

/// How often a conditional write is tried again after another writer changed the item.
pub const CONFLICT_RETRIES: usize = 5;

/// A number in [-1, 1] for the schedule's jitter.
fn jitter() -> f64 {
    use ring::rand::SecureRandom;
    let mut byte = [0u8; 2];
    let _ = ring::rand::SystemRandom::new().fill(&mut byte);
    f64::from(u16::from_be_bytes(byte)) / f64::from(u16::MAX) * 2.0 - 1.0
}

/// The status and stop (epoch ms) a result document records.
fn stop_of(document: &[u8]) -> Option<(ExecutionStatus, u64)> {
    let doc: serde_json::Value = serde_json::from_slice(document).ok()?;
    let status = ExecutionStatus::parse(doc.get("status")?.as_str()?)?;
    if !status.is_stopped() {
        return None;
    }
    let stopped = humantime::parse_rfc3339(doc.get("stopDate")?.as_str()?).ok()?;
    Some((status, millis(stopped)))
}
