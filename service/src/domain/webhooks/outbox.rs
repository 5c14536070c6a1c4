//! The outbox and its sweep: a result's fan-out is recorded before the result is stored and
//! cleared once its deliveries are queued, so a crash in between loses nothing: the sweep finds
//! the entry and fans out again (deliveries are keyed by their message id, so a second fan-out
//! queues nothing twice).

use std::time::{Duration, SystemTime};

use super::{FanOut, NotifyError};
use crate::domain::budget::wall_clock;
use crate::domain::{ExecutionArn, PutOutcome, ResultStore, StoreError, StoredResult};

/// An outbox entry whose result never got stored is dropped after this long.
const ABANDONED: Duration = Duration::from_secs(300);

/// Stores stops through the outbox, and finishes the fan-outs a dead process left in it.
#[derive(Clone, Copy)]
pub(crate) struct Outbox<'a> {
    /// The webhooks table (where the outbox is kept) and the queue.
    pub fan_out: FanOut<'a>,
}

impl Outbox<'_> {
    /// Stores a stopped result through the outbox: recorded, stored, fanned out, cleared. If
    /// this process dies anywhere in between, the sweep finishes the fan-out.
    pub async fn store_and_notify(
        &self,
        results: &dyn ResultStore,
        arn: &ExecutionArn,
        item: &StoredResult,
    ) -> Result<PutOutcome, StoreError> {
        let store = self.fan_out.store;
        let token = uuid::Uuid::new_v4().simple().to_string();
        // When the entry is made, not when the result was read: the sweep's grace counts from here.
        store.add_outbox(arn, &token, wall_clock()).await?;
        let outcome = results.put_if_absent(arn, item).await?;
        if outcome == PutOutcome::Written {
            if let Err(err) = self.fan_out.fan_out(arn, &item.document, false).await {
                // The outbox entry stays: the sweep fans out again.
                tracing::warn!(execution_arn = %arn, error = %err, source = ?std::error::Error::source(&err), "webhook fan-out failed; the sweep retries it");
                return Ok(outcome);
            }
        }
        store.remove_outbox(arn, &token).await?;
        Ok(outcome)
    }

    /// Fans out what the outbox still holds (older than `grace`, so a fan-out under way is
    /// left to finish): results stored by a process that died before queueing.
    pub async fn sweep(
        &self,
        results: &dyn ResultStore,
        grace: Duration,
    ) -> Result<usize, NotifyError> {
        let now = wall_clock();
        let entries = self
            .fan_out
            .store
            .outbox(now - grace)
            .await
            .map_err(NotifyError)?;
        let mut swept = 0;
        for (arn, token, made) in entries {
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
        let store = self.fan_out.store;
        let state = results.state(arn).await.map_err(NotifyError)?;
        let Some(result) = state.result else {
            // Its writer died before storing, or is still storing: left alone for a while.
            if now.duration_since(made).unwrap_or_default() > ABANDONED {
                store.remove_outbox(arn, token).await.map_err(NotifyError)?;
            }
            return Ok(false);
        };
        self.fan_out.fan_out(arn, &result.document, true).await?;
        store.remove_outbox(arn, token).await.map_err(NotifyError)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing::{bench, execution, stopped};
    use super::super::{DeliveryState, WebhookStore};
    use crate::domain::budget::wall_clock;
    use crate::domain::{ExecutionStatus, PutOutcome, ResultStore};

    const GRACE: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn the_sweep_queues_what_a_process_that_died_between_storing_and_queueing_left() {
        let b = bench(&[]);
        b.register("wh_1", &[ExecutionStatus::Succeeded]).await;
        let arn = execution("crashed");
        let result = stopped(&arn, ExecutionStatus::Succeeded);
        // What `store_and_notify` does before it fans out; then the process dies.
        b.store
            .add_outbox(&arn, "dead", wall_clock())
            .await
            .expect("outbox");
        let put = b.results.put_if_absent(&arn, &result).await.expect("put");
        assert_eq!(put, PutOutcome::Written);
        assert!(b.queue.bodies().is_empty());

        assert_eq!(
            b.sweep(GRACE).await,
            0,
            "a fan-out that may be under way is left alone"
        );
        tokio::time::advance(GRACE + Duration::from_secs(1)).await;
        assert_eq!(b.sweep(GRACE).await, 1);
        assert_eq!(b.queue.bodies().len(), 1);
        let left = b.store.outbox(wall_clock()).await.expect("outbox");
        assert!(left.is_empty(), "the entry is cleared: {left:?}");
        assert_eq!(b.sweep(GRACE).await, 0);
        assert_eq!(b.queue.bodies().len(), 1, "queued once");
    }

    #[tokio::test(start_paused = true)]
    async fn a_delivery_recorded_while_the_queue_was_down_is_queued_by_the_sweep_once() {
        let b = bench(&[]);
        b.register("wh_1", &[ExecutionStatus::Succeeded]).await;
        b.queue.set_down(true);
        b.stop("queue-down", ExecutionStatus::Succeeded).await;
        assert!(b.queue.bodies().is_empty());
        let pending = b.store.deliveries("wh_1", 10).await.expect("list");
        assert_eq!(pending.len(), 1, "recorded before it is queued");

        b.queue.set_down(false);
        tokio::time::advance(GRACE + Duration::from_secs(1)).await;
        assert_eq!(b.sweep(GRACE).await, 1);
        assert_eq!(b.sweep(GRACE).await, 0);
        let queued = b.queue.bodies();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].delivery_id, pending[0].id);
        b.attempt(&queued[0]).await;
        assert_eq!(b.delivery(&queued[0]).await.state, DeliveryState::Delivered);
        assert_eq!(b.sender.got().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_entry_whose_result_never_got_stored_is_dropped_after_five_minutes() {
        let b = bench(&[]);
        let arn = execution("never-stored");
        b.store
            .add_outbox(&arn, "dead", wall_clock())
            .await
            .expect("outbox");
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(b.sweep(GRACE).await, 0);
        assert_eq!(b.store.outbox(wall_clock()).await.expect("outbox").len(), 1);
        tokio::time::advance(Duration::from_secs(300)).await;
        assert_eq!(b.sweep(GRACE).await, 0);
        assert!(b
            .store
            .outbox(wall_clock())
            .await
            .expect("outbox")
            .is_empty());
        assert!(b.queue.bodies().is_empty());
    }
}
