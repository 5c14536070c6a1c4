//! The deliveries door: delivery messages from the queue become attempts, whether Lambda's
//! event source hands them over in a batch (`_HANDLER=deliveries`) or the local worker receives
//! them. Both settle a message through `settle`, the one place that decides when a message comes
//! back after a failed attempt.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use crate::domain::webhooks::{DeliveryInbox, Disposition, Notifier, Queued, Received};

/// How soon a message comes back when its attempt could not be read or recorded (the webhooks
/// table failed): the attempt is made again then.
pub const UNRECORDED_RETRY: Duration = Duration::from_secs(30);

/// Attempts one received message and makes it visible again when its retry is due: the
/// delay is the one the attempt scheduled (and recorded as the delivery's `nextAttemptAt`), or
/// `UNRECORDED_RETRY`. `None` when the message is done (delivered, dead, cancelled, unknown or
/// poison) and is to be deleted; else the delay set.
pub async fn settle(
    notifier: &Notifier,
    inbox: &dyn DeliveryInbox,
    message: &Received,
) -> Option<Duration> {
    let queued = message
        .body
        .as_deref()
        .and_then(|body| serde_json::from_str::<Queued>(body).ok());
    let Some(queued) = queued else {
        tracing::warn!(message = %message.id, "poison delivery message acknowledged");
        return None;
    };
    let after = match notifier.attempts().attempt(&queued).await {
        Ok(Disposition::Done) => return None,
        Ok(Disposition::RetryIn(after)) => after,
        Err(err) => {
            tracing::warn!(delivery = %queued.delivery_id, endpoint = %queued.endpoint_id, error = %err, source = ?std::error::Error::source(&err), "delivery attempt not recorded; retried");
            UNRECORDED_RETRY
        }
    };
    let set = match &message.receipt {
        Some(receipt) => inbox.retry_in(receipt, after).await,
        None => Ok(()),
    };
    if let Err(err) = set {
        tracing::warn!(error = %err, "retry delay not set; the queue's visibility applies");
    }
    Some(after)
}

/// One batch of Lambda's event source, attempted one message after another. A message to
/// retry is reported as a batch item failure, so the queue keeps it (hidden until its retry is
/// due); the event source deletes the others.
pub async fn handle_batch(
    notifier: &Notifier,
    inbox: &dyn DeliveryInbox,
    event: SqsEvent,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message = Received {
            id: record.message_id.unwrap_or_default(),
            body: record.body,
            receipt: record.receipt_handle,
        };
        if settle(notifier, inbox, &message).await.is_some() {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message.id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Serves the `deliveries` entry point under the Lambda runtime.
pub async fn run_lambda(
    notifier: Notifier,
    inbox: Arc<dyn DeliveryInbox>,
) -> Result<(), lambda_http::Error> {
    let handler = lambda_http::service_fn(move |event: lambda_http::LambdaEvent<SqsEvent>| {
        let (notifier, inbox) = (notifier.clone(), inbox.clone());
        async move {
            let response = handle_batch(&notifier, inbox.as_ref(), event.payload).await;
            crate::emf::flush();
            Ok::<_, lambda_http::Error>(response)
        }
    });
    lambda_http::lambda_runtime::run(handler).await
}

/// One receive of the local worker: waits up to `wait`, attempts what arrived side by side and
/// deletes what is done; how many messages arrived.
pub async fn receive_once(
    notifier: &Notifier,
    inbox: &dyn DeliveryInbox,
    wait: Duration,
) -> Result<usize, crate::domain::StoreError> {
    let received = inbox.receive(wait).await?;
    let attempts = received.iter().map(|message| async move {
        if settle(notifier, inbox, message).await.is_some() {
            return;
        }
        let Some(receipt) = &message.receipt else {
            return;
        };
        if let Err(err) = inbox.delete(receipt).await {
            tracing::warn!(error = %err, "delivery message not deleted; the queue hands it out again");
        }
    });
    futures_util::future::join_all(attempts).await;
    Ok(received.len())
}

/// The local server's delivery worker: receives from the queue and attempts what arrives, as
/// the `deliveries` function does on AWS, until the process ends.
pub async fn run_local(notifier: Notifier, inbox: Arc<dyn DeliveryInbox>) {
    loop {
        if let Err(err) = receive_once(&notifier, inbox.as_ref(), Duration::from_secs(1)).await {
            tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "delivery queue unreachable; trying again");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
    use tokio::time::Instant;

    use super::{handle_batch, receive_once, UNRECORDED_RETRY};
    use crate::domain::budget::wall_clock;
    use crate::domain::webhooks::testing::{bench, Bench};
    use crate::domain::webhooks::{DeliveryInbox, WebhookStore};
    use crate::domain::ExecutionStatus;

    /// A bench with one stop queued for one endpoint; its sender answers `statuses`, then 200.
    async fn one_queued(statuses: &[u16]) -> Bench {
        let b = bench(statuses);
        b.register("wh_1", &[ExecutionStatus::Succeeded]).await;
        b.stop("door", ExecutionStatus::Succeeded).await;
        b
    }

    /// What Lambda's event source does: receives a batch, invokes the function with it, and
    /// deletes the messages not reported as failures.
    async fn on_lambda(b: &Bench) -> SqsBatchResponse {
        let received = b.queue.receive(Duration::ZERO).await.expect("receive");
        let mut event = SqsEvent::default();
        for message in &received {
            let mut record = SqsMessage::default();
            record.message_id = Some(message.id.clone());
            record.body = message.body.clone();
            record.receipt_handle = message.receipt.clone();
            event.records.push(record);
        }
        let response = handle_batch(&b.notifier, &b.queue, event).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for message in received.iter().filter(|m| !failed.contains(&m.id.as_str())) {
            let receipt = message.receipt.as_deref().expect("receipt");
            b.queue.delete(receipt).await.expect("delete");
        }
        response
    }

    async fn locally(b: &Bench) {
        let received = receive_once(&b.notifier, &b.queue, Duration::ZERO).await;
        assert_eq!(received.expect("received"), 1);
    }

    /// When the only delivery's record says its next attempt is.
    async fn next_attempt_at(b: &Bench) -> std::time::SystemTime {
        let deliveries = b.store.deliveries("wh_1", 1).await.expect("list");
        let at = deliveries[0].next_attempt_at.as_deref().expect("scheduled");
        humantime::parse_rfc3339(at).expect("rfc3339")
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_attempt_comes_back_when_its_retry_is_due_on_lambda_and_locally_alike() {
        let (lambda, local) = (one_queued(&[500]).await, one_queued(&[500]).await);
        let attempted = Instant::now();
        let response = on_lambda(&lambda).await;
        assert_eq!(response.batch_item_failures.len(), 1, "kept for its retry");
        locally(&local).await;

        // One delivery (same endpoint, execution and status): one delay, set one way on both.
        let due = next_attempt_at(&lambda).await;
        assert_eq!(due, next_attempt_at(&local).await);
        let wait = due.duration_since(wall_clock()).expect("ahead");
        assert!(
            (4.5..=5.5).contains(&wait.as_secs_f64()),
            "{wait:?}: 5 s ± 10 %"
        );
        let whole = Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
        for b in [&lambda, &local] {
            assert_eq!(b.queue.visible_at(), [attempted + whole]);
            let again = b
                .queue
                .receive(Duration::from_secs(60))
                .await
                .expect("receive");
            assert_eq!(again.len(), 1);
            assert!(
                wall_clock() >= due,
                "not before the delivery's nextAttemptAt"
            );
            assert_eq!(b.queue.receives(), [2]);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_the_table_could_not_record_comes_back_after_the_same_delay_on_both() {
        let (lambda, local) = (one_queued(&[]).await, one_queued(&[]).await);
        lambda.store.set_failing(true);
        local.store.set_failing(true);
        let attempted = Instant::now();
        assert_eq!(on_lambda(&lambda).await.batch_item_failures.len(), 1);
        locally(&local).await;
        for b in [&lambda, &local] {
            assert_eq!(b.queue.visible_at(), [attempted + UNRECORDED_RETRY]);
            assert!(b.sender.got().is_empty(), "nothing sent without its record");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_delivered_or_poison_message_is_removed_on_lambda_and_locally_alike() {
        let (lambda, local) = (one_queued(&[]).await, one_queued(&[]).await);
        assert!(on_lambda(&lambda).await.batch_item_failures.is_empty());
        locally(&local).await;
        for b in [&lambda, &local] {
            assert!(b.queue.bodies().is_empty());
            assert_eq!(b.sender.got().len(), 1);
        }
        let mut poison = SqsMessage::default();
        poison.message_id = Some("poison".into());
        poison.body = Some("not a delivery".into());
        let mut event = SqsEvent::default();
        event.records.push(poison);
        let response = handle_batch(&lambda.notifier, &lambda.queue, event).await;
        assert!(response.batch_item_failures.is_empty(), "acknowledged");
    }
}
