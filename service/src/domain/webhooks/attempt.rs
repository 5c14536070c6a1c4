//! One delivery attempt: the signed POST through the sender (its port is here, its only user),
//! what the answer makes of the delivery (delivered, retried when the schedule or `Retry-After`
//! says, dead, or the endpoint disabled by a `410`), and when the queue should bring it back.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use super::schedule::jitter;
use super::{
    signature, Delivery, DeliveryState, Endpoint, NotifyError, Queued, RetrySchedule, WebhookStore,
    ATTEMPT_TIMEOUT, CONFLICT_RETRIES,
};
use crate::domain::budget::wall_clock;
use crate::domain::execution::rfc3339_millis;
use crate::domain::StoreError;

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

/// Makes attempts: what it needs of the webhooks table, the sender and the schedule.
#[derive(Clone, Copy)]
pub(crate) struct Attempts<'a> {
    pub store: &'a dyn WebhookStore,
    pub sender: &'a dyn WebhookSender,
    pub schedule: &'a RetrySchedule,
}

/// The POST of one attempt of `delivery_id`, signed at `now`.
fn request(endpoint: &Endpoint, delivery_id: &str, payload: &str, now: SystemTime) -> Outgoing {
    let timestamp = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let body = Bytes::from(payload.to_owned().into_bytes());
    Outgoing {
        url: endpoint.url.as_str().to_owned(),
        headers: vec![
            ("content-type", "application/json".to_owned()),
            ("user-agent", "api-sfn-webhooks/1".to_owned()),
            ("webhook-id", delivery_id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            (
                "webhook-signature",
                signature(&endpoint.secrets, delivery_id, timestamp, &body, now),
            ),
        ],
        body,
    }
}

impl Attempts<'_> {
    /// Makes one attempt of the queued delivery and records what happened.
    #[tracing::instrument(skip_all, fields(delivery = %queued.delivery_id))]
    pub async fn attempt(&self, queued: &Queued) -> Result<Disposition, NotifyError> {
        let store = self.store;
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
            self.record(&delivery).await?;
            return Ok(Disposition::Done);
        };
        let request = request(&endpoint, &delivery.id, &delivery.payload, wall_clock());
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
                delivery.delivered_at = Some(rfc3339_millis(wall_clock()));
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
                let jitter = jitter(&delivery.id, delivery.attempts);
                match self.schedule.next(delivery.attempts, honoured, jitter) {
                    Some(wait) => {
                        delivery.state = DeliveryState::Retrying;
                        delivery.next_attempt_at = Some(rfc3339_millis(wall_clock() + wait));
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
        if !self.record(&delivery).await? {
            // Its newer record stands, and so does what that scheduled.
            return Ok(Disposition::Done);
        }
        let outcome = match delivery.state {
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
            _ => "retrying",
        };
        metrics::counter!(crate::domain::metrics::WEBHOOK_DELIVERIES, "Outcome" => outcome)
            .increment(1);
        let error = delivery.last_error.as_deref().unwrap_or_default();
        match delivery.state {
            DeliveryState::Dead => {
                tracing::warn!(execution_arn = %delivery.execution_arn, endpoint = %delivery.endpoint_id, attempts = delivery.attempts, error, "webhook delivery dead")
            }
            DeliveryState::Retrying => {
                tracing::info!(execution_arn = %delivery.execution_arn, endpoint = %delivery.endpoint_id, attempts = delivery.attempts, error, "webhook attempt failed; retried")
            }
            _ => {}
        }
        Ok(disposition)
    }

    /// Writes the delivery over the record it was read from; `false` when that changed since:
    /// another attempt of the same message (queues deliver at least once), or a retry asked
    /// for meanwhile.
    async fn record(&self, delivery: &Delivery) -> Result<bool, NotifyError> {
        let written = self.store.replace_delivery(delivery).await;
        let written = written.map_err(NotifyError)?;
        if !written {
            tracing::info!("the delivery changed meanwhile; its newer record stands");
        }
        Ok(written)
    }

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing::{bench, bench_with};
    use super::super::{Delivery, DeliveryState, RetrySchedule, WebhookStore};
    use super::Disposition;
    use crate::adapters::ScriptedSender;
    use crate::domain::budget::wall_clock;
    use crate::domain::ExecutionStatus;

    const SUCCEEDED: [ExecutionStatus; 1] = [ExecutionStatus::Succeeded];

    /// The wait a retried attempt asked for; it matches the delivery's `nextAttemptAt`.
    fn retried(disposition: Disposition, recorded: &Delivery) -> Duration {
        let Disposition::RetryIn(wait) = disposition else {
            panic!("not retried: {recorded:?}");
        };
        assert_eq!(recorded.state, DeliveryState::Retrying);
        let at = recorded.next_attempt_at.as_deref().expect("scheduled");
        let at = humantime::parse_rfc3339(at).expect("rfc3339");
        let next = at.duration_since(wall_clock()).expect("ahead");
        assert!(
            next.abs_diff(wait) < Duration::from_millis(1),
            "{next:?} {wait:?}"
        );
        wait
    }

    #[tokio::test(start_paused = true)]
    async fn a_410_disables_the_endpoint_and_nothing_more_is_sent_to_it() {
        let b = bench(&[410]);
        b.register("wh_gone", &SUCCEEDED).await;
        b.stop("first", ExecutionStatus::Succeeded).await;
        b.stop("second", ExecutionStatus::Succeeded).await;
        let queued = b.queue.bodies();
        assert_eq!(queued.len(), 2);
        assert_eq!(b.attempt(&queued[0]).await, Disposition::Done);
        let dead = b.delivery(&queued[0]).await;
        assert_eq!(dead.state, DeliveryState::Dead);
        assert_eq!(dead.last_status_code, Some(410));
        let endpoint = b.store.endpoint("wh_gone").await.expect("read");
        assert!(endpoint.expect("kept").disabled, "disabled, not deleted");

        // The delivery queued before the 410 is cancelled unsent; a later stop is not queued.
        assert_eq!(b.attempt(&queued[1]).await, Disposition::Done);
        assert_eq!(b.delivery(&queued[1]).await.state, DeliveryState::Cancelled);
        b.stop("third", ExecutionStatus::Succeeded).await;
        assert_eq!(
            b.queue.bodies().len(),
            2,
            "nothing queued for a disabled endpoint"
        );
        assert_eq!(b.sender.got().len(), 1, "one request: the one answered 410");
    }

    #[tokio::test(start_paused = true)]
    async fn the_schedule_decides_each_retry_within_its_jitter_then_the_delivery_is_dead() {
        let schedule = RetrySchedule::parse("5,300").expect("schedule");
        let b = bench_with(ScriptedSender::answering(&[500, 500, 500]), schedule);
        b.register("wh_down", &SUCCEEDED).await;
        b.stop("failing", ExecutionStatus::Succeeded).await;
        let queued = b.queue.bodies().remove(0);
        for base in [5.0, 300.0] {
            let disposition = b.attempt(&queued).await;
            let wait = retried(disposition, &b.delivery(&queued).await);
            let secs = wait.as_secs_f64();
            assert!(
                (base * 0.9..=base * 1.1).contains(&secs),
                "{secs} s for {base} s"
            );
            tokio::time::advance(wait).await;
        }
        assert_eq!(b.attempt(&queued).await, Disposition::Done);
        let dead = b.delivery(&queued).await;
        assert_eq!((dead.state, dead.attempts), (DeliveryState::Dead, 3));
        assert_eq!(dead.next_attempt_at, None);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_as_seconds_or_an_http_date_puts_a_429_or_503_off_but_not_a_500() {
        let sender = ScriptedSender::default();
        // Asked at the second attempt, which comes 600 s after the first.
        let at_second = wall_clock() + Duration::from_secs(600);
        let in_two_minutes = httpdate::fmt_http_date(at_second + Duration::from_secs(120));
        sender
            .then_retry_after(429, "600")
            .then_retry_after(503, &in_two_minutes)
            .then_retry_after(500, "600")
            .then_retry_after(429, "1");
        let schedule = RetrySchedule::parse("5,5,5,5,5").expect("schedule");
        let b = bench_with(sender, schedule);
        b.register("wh_busy", &SUCCEEDED).await;
        b.stop("busy", ExecutionStatus::Succeeded).await;
        let queued = b.queue.bodies().remove(0);
        // The HTTP-date has whole seconds: up to one of the 120 is gone when it is read.
        let asked = [600.0..=600.0, 119.0..=120.0, 4.5..=5.5, 4.5..=5.5];
        for (n, expected) in asked.into_iter().enumerate() {
            let disposition = b.attempt(&queued).await;
            let wait = retried(disposition, &b.delivery(&queued).await);
            assert!(
                expected.contains(&wait.as_secs_f64()),
                "attempt {n}: {wait:?}"
            );
            tokio::time::advance(wait).await;
        }
        assert_eq!(b.attempt(&queued).await, Disposition::Done);
        assert_eq!(b.sender.got().len(), 5);
    }
}
