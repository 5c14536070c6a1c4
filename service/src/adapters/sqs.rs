//! SQS adapter of the delivery queue: a message per delivery attempt to make; a failed attempt's
//! message is made visible again when its retry is due, so the queue drives the schedule.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sqs::Client;

use super::aws::timeouts;
use crate::domain::notify::{DeliveryQueue, Queued};
use crate::domain::StoreError;

/// SQS's longest visibility timeout: a retry further out is reached in several hops.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60 - 60);
/// SQS's longest message delay.
const MAX_DELAY: Duration = Duration::from_secs(900);

#[derive(Debug, Clone)]
pub struct DeliveryQueueSqs {
    client: Client,
    url: String,
}

/// A message as received: its delivery, and the handle to settle it with.
#[derive(Debug, Clone)]
pub struct Received {
    pub queued: Option<Queued>,
    pub receipt: String,
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

    /// Waits up to `wait` for up to 10 messages (the local worker; Lambda's event source polls
    /// on AWS).
    pub async fn receive(&self, wait: Duration) -> Result<Vec<Received>, StoreError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(i32::try_from(wait.as_secs()).unwrap_or(20).min(20))
            .visibility_timeout(60)
            .send()
            .await
            .map_err(err)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                Some(Received {
                    queued: m.body.as_deref().and_then(|b| serde_json::from_str(b).ok()),
                    receipt: m.receipt_handle?,
                })
            })
            .collect())
    }

    pub async fn delete(&self, receipt: &str) -> Result<(), StoreError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(drop)
            .map_err(err)
    }

    /// Makes the message visible again after `after` (capped at SQS's 12 hours).
    pub async fn retry_in(&self, receipt: &str, after: Duration) -> Result<(), StoreError> {
        let seconds = after.min(MAX_VISIBILITY).as_secs().max(1);
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

#[async_trait]
impl DeliveryQueue for DeliveryQueueSqs {
    async fn send(&self, message: &Queued, delay: Duration) -> Result<(), StoreError> {
        let body = serde_json::to_string(message).map_err(err)?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(i32::try_from(delay.min(MAX_DELAY).as_secs()).unwrap_or(0))
            .send()
            .await
            .map(drop)
            .map_err(err)
    }
}
