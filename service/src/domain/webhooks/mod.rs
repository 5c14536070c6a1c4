//! Webhooks (Standard Webhooks): endpoints notified of the stops they ask for, one room.
//!
//! - The rules: `address` (which URLs and addresses an endpoint may have), `endpoint` (what it
//!   asks for, how its secrets sign), `message` (a delivery's record, `webhook-id`, payload) and
//!   `schedule` (the attempt's time limit, the retry schedule, `Retry-After`).
//! - The ports: `ports` (the webhooks table, the delivery queue); the sender is in `attempt`.
//! - The work: `fanout` (a stored stop becomes deliveries), `outbox` (a crash between storing
//!   and queueing loses nothing; the sweep) and `attempt` (one signed POST and what follows).
//!
//! `Notifier` holds the ports and is what the rest of the crate calls; the deliveries door is
//! `events::deliveries`, the API `http::webhooks`, the fakes `adapters::memory_webhooks`.

mod address;
mod attempt;
mod endpoint;
mod fanout;
mod message;
mod outbox;
mod ports;
mod schedule;
#[cfg(test)]
pub(crate) mod testing;

use std::sync::Arc;

pub use address::{address_allowed, WebhookUrl};
pub(crate) use attempt::Attempts;
pub use attempt::{Disposition, Outgoing, Sent, WebhookSender};
pub use endpoint::{signature, Endpoint, EndpointError, Secret, ROTATION_OVERLAP, STOPPED};
pub(crate) use fanout::FanOut;
pub use message::{event_type, message_id, payload, Delivery, DeliveryState, Queued};
pub(crate) use outbox::Outbox;
pub use ports::{DeliveryInbox, DeliveryQueue, Received, WebhookStore};
pub use schedule::{retry_after, RetrySchedule, ATTEMPT_TIMEOUT};

use super::StoreError;

/// How often a conditional write is tried again after another writer changed the item.
pub const CONFLICT_RETRIES: usize = 5;

/// Why notifying failed; the caller retries (the outbox keeps the fan-out).
#[derive(Debug, thiserror::Error)]
#[error("webhook store or queue failed")]
pub struct NotifyError(#[source] pub StoreError);

/// The room's ports and settings, shared by the rest of the crate: its `fanout()`, `outbox()`
/// and `attempts()` are the work, each over the ports it needs.
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

impl Notifier {
    /// The fan-out over this notifier's table and queue.
    pub(crate) fn fanout(&self) -> FanOut<'_> {
        FanOut {
            store: self.store.as_ref(),
            queue: self.queue.as_ref(),
            public_base_url: &self.public_base_url,
        }
    }

    /// The outbox over this notifier's table and queue.
    pub(crate) fn outbox(&self) -> Outbox<'_> {
        Outbox {
            fan_out: self.fanout(),
        }
    }

    /// Attempts over this notifier's table, sender and schedule.
    pub(crate) fn attempts(&self) -> Attempts<'_> {
        Attempts {
            store: self.store.as_ref(),
            sender: self.sender.as_ref(),
            schedule: &self.schedule,
        }
    }
}
