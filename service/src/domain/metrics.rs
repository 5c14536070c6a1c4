//! The names of the metrics the domain records through the `metrics` facade; `emf.rs` writes
//! them out (the domain never imports it).

/// Milliseconds from a stop to its result being stored by an event.
pub const EVENT_LAG: &str = "EventLag";
/// Webhook attempts, by `Outcome`.
pub const WEBHOOK_DELIVERIES: &str = "WebhookDeliveries";
