//! SQS adapter of the delivery queue: a message per delivery attempt to make; a failed attempt's
//! message is made visible again when its retry is due, so the queue drives the schedule.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sqs::Client;

use super::aws::timeouts;
use crate::domain::webhooks::{DeliveryInbox, DeliveryQueue, Queued, Received};
use crate::domain::StoreError;

/// SQS's longest visibility timeout, less a minute: a change is refused past 12 hours.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60 - 60);
/// SQS's longest message delay.
const MAX_DELAY: Duration = Duration::from_secs(900);
/// How long a message the local worker received stays hidden while its attempt runs: more than
/// one attempt (15 s and its table writes), and the most a receive whose answer never arrived
/// (cut off on a busy machine) keeps its messages from the worker. On AWS, Lambda's event
/// source receives instead, under the queue's own visibility.
const RECEIVE_VISIBILITY: Duration = Duration::from_secs(60);
/// What a receive may take beyond its long poll before its answer is given up.
const RECEIVE_MARGIN: Duration = Duration::from_secs(10);

/// The visibility timeout, in SQS's whole seconds, that hides a message for at least `after`
/// (rounded up, so a retry never comes before it is due), at least 1 s and at most SQS's cap.
pub(crate) fn visibility_seconds(after: Duration) -> u32 {
    let capped = after.min(MAX_VISIBILITY);
    let seconds = capped.as_secs() + u64::from(capped.subsec_nanos() > 0);
    u32::try_from(seconds.max(1)).unwrap_or(u32::MAX)
}

/// A message's delay, in SQS's whole seconds: at most its 15 minutes.
pub(crate) fn delay_seconds(delay: Duration) -> u32 {
    u32::try_from(delay.min(MAX_DELAY).as_secs()).unwrap_or(0)
}

#[derive(Debug, Clone)]
pub struct DeliveryQueueSqs {
    client: Client,
    url: String,
}

fn err(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError(Box::new(e))
}

impl DeliveryQueueSqs {
    pub fn new(sdk: &SdkConfig, url: impl Into<String>) -> Self {
        let config = aws_sdk_sqs::config::Builder::from(sdk)
            .timeout_config(timeouts(Duration::from_secs(2), Duration::from_secs(25)))
            .build();
        Self {
            client: Client::from_conf(config),
            url: url.into(),
        }
    }
}

#[async_trait]
impl DeliveryQueue for DeliveryQueueSqs {
    async fn send(&self, message: &Queued, delay: Duration) -> Result<(), StoreError> {
        let body = serde_json::to_string(message).map_err(err)?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(i32::try_from(delay_seconds(delay)).unwrap_or(0))
            .send()
            .await
            .map(drop)
            .map_err(err)
    }
}

/// The local worker receives through this; on AWS, Lambda's event source polls and the
/// deliveries function only settles (`retry_in`).
#[async_trait]
impl DeliveryInbox for DeliveryQueueSqs {
    async fn receive(&self, wait: Duration) -> Result<Vec<Received>, StoreError> {
        // No visibility timeout of its own: the queue's, as the event source receives.
        let wait = wait.min(Duration::from_secs(20));
        // A receive's messages are hidden as soon as SQS answers: an answer given up by a short
        // attempt timeout would hide them unseen, so the receive waits for its answer.
        let patient = aws_sdk_sqs::config::Builder::default()
            .timeout_config(timeouts(wait + RECEIVE_MARGIN, wait + RECEIVE_MARGIN * 2));
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(i32::try_from(wait.as_secs()).unwrap_or(20))
            .visibility_timeout(i32::try_from(RECEIVE_VISIBILITY.as_secs()).unwrap_or(60))
            .customize()
            .config_override(patient)
            .send()
            .await
            .map_err(err)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| Received {
                id: m.message_id.unwrap_or_default(),
                body: m.body,
                receipt: m.receipt_handle,
            })
            .collect())
    }

    async fn delete(&self, receipt: &str) -> Result<(), StoreError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(drop)
            .map_err(err)
    }

    async fn retry_in(&self, receipt: &str, after: Duration) -> Result<(), StoreError> {
        let seconds = visibility_seconds(after);
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(i32::try_from(seconds).unwrap_or(43_140))
            .send()
            .await
            .map(drop)
            .map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_hidden_in_whole_seconds_never_less_than_asked_and_at_most_sqss_cap() {
        let secs = |s: f64| visibility_seconds(Duration::from_secs_f64(s));
        assert_eq!(secs(4.5), 5);
        assert_eq!(secs(5.0), 5);
        assert_eq!(secs(5.001), 6);
        assert_eq!(secs(0.0), 1, "SQS's 0 would hand it out again at once");
        assert_eq!(secs(13.0 * 3600.0), 43_140);
        assert_eq!(delay_seconds(Duration::from_secs(3600)), 900);
    }
}
