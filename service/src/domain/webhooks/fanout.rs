//! The fan-out: a stored stop becomes one delivery per endpoint that wants it, recorded before
//! it is queued; and a failed or dead delivery is queued again on request.

use std::time::Duration;

use super::message::stop_of;
use super::{
    message_id, payload, Delivery, DeliveryQueue, DeliveryState, NotifyError, Queued, WebhookStore,
    CONFLICT_RETRIES,
};
use crate::domain::budget::wall_clock;
use crate::domain::execution::rfc3339_millis;
use crate::domain::reconcile::millis;
use crate::domain::{ExecutionArn, StoreError};

/// Queues deliveries: what it needs of the webhooks table and the delivery queue.
#[derive(Clone, Copy)]
pub(crate) struct FanOut<'a> {
    pub store: &'a dyn WebhookStore,
    pub queue: &'a dyn DeliveryQueue,
    /// Prefix of status URLs in payloads (`https://api.example.com/prod`).
    pub public_base_url: &'a str,
}

impl FanOut<'_> {
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
                next_attempt_at: Some(rfc3339_millis(now)),
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
                self.enqueue(&delivery).await?;
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// Queues `delivery` for an attempt now.
    async fn enqueue(&self, delivery: &Delivery) -> Result<(), NotifyError> {
        self.queue
            .send(&Queued::of(delivery), Duration::ZERO)
            .await
            .map_err(NotifyError)
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
            delivery.next_attempt_at = Some(rfc3339_millis(wall_clock()));
            if self
                .store
                .replace_delivery(&delivery)
                .await
                .map_err(NotifyError)?
            {
                self.enqueue(&delivery).await?;
                return Ok(Some(delivery));
            }
        }
        Err(NotifyError(StoreError(
            "the delivery kept changing while it was being queued again".into(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing::{bench, execution, stopped};
    use super::super::{DeliveryState, WebhookStore, STOPPED};
    use crate::domain::{ExecutionStatus, PutOutcome, ResultStore};

    #[tokio::test(start_paused = true)]
    async fn a_stop_stored_twice_by_two_paths_is_fanned_out_once_per_matching_endpoint() {
        let b = bench(&[]);
        b.register("wh_succeeded", &[ExecutionStatus::Succeeded])
            .await;
        b.register("wh_all", &STOPPED).await;
        b.register("wh_failed", &[ExecutionStatus::Failed]).await;
        let arn = execution("twice");
        let result = stopped(&arn, ExecutionStatus::Succeeded);
        // An event and a GET miss store the same stop at once.
        let (event, miss) = tokio::join!(b.store(&arn, &result), b.store(&arn, &result));
        let mut outcomes = [event, miss];
        outcomes.sort_by_key(|o| *o == PutOutcome::AlreadyPresent);
        assert_eq!(outcomes, [PutOutcome::Written, PutOutcome::AlreadyPresent]);
        // Both cleared their outbox entries: the sweep has nothing to fan out again.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(b.sweep(Duration::from_secs(10)).await, 0);

        let mut queued: Vec<String> = b
            .queue
            .bodies()
            .into_iter()
            .map(|q| q.endpoint_id)
            .collect();
        queued.sort();
        assert_eq!(queued, ["wh_all", "wh_succeeded"]);
        for endpoint in ["wh_all", "wh_succeeded"] {
            let deliveries = b.store.deliveries(endpoint, 10).await.expect("list");
            assert_eq!(deliveries.len(), 1, "{endpoint}");
            assert_eq!(deliveries[0].state, DeliveryState::Pending);
        }
        assert!(b
            .store
            .deliveries("wh_failed", 10)
            .await
            .expect("list")
            .is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_redriven_run_is_notified_once_more_for_its_new_final_status_only() {
        let b = bench(&[]);
        b.register("wh_all", &STOPPED).await;
        let arn = b.stop("redriven", ExecutionStatus::Failed).await;
        tokio::time::advance(Duration::from_secs(60)).await;
        let mut succeeded = stopped(&arn, ExecutionStatus::Succeeded);
        succeeded.rank.redrive_count = 1;
        // The redriven run's result replaces the first (a greater rank), then is stored again.
        assert_eq!(b.store(&arn, &succeeded).await, PutOutcome::Written);
        assert_eq!(b.store(&arn, &succeeded).await, PutOutcome::AlreadyPresent);
        let state = b.results.state(&arn).await.expect("state");
        assert_eq!(
            state.result.expect("stored").status,
            ExecutionStatus::Succeeded
        );
        let deliveries = b.store.deliveries("wh_all", 10).await.expect("list");
        let mut statuses: Vec<String> =
            deliveries.into_iter().map(|d| d.execution_status).collect();
        statuses.sort();
        assert_eq!(statuses, ["FAILED", "SUCCEEDED"]);
        assert_eq!(b.queue.bodies().len(), 2);
    }
}
