//! In-memory fakes of the webhook ports, for unit tests: the webhooks table's items under the
//! conditions DynamoDB applies, a queue with SQS's delays and visibility, and a sender that
//! answers from a script. Time is tokio's, so tests may pause it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::time::Instant;

use super::sqs::{delay_seconds, visibility_seconds};
use super::webhooks_layout::WebhookItems;
use crate::domain::budget::wall_clock;
use crate::domain::webhooks::{
    retry_after, DeliveryInbox, DeliveryQueue, Outgoing, Queued, Received, Sent, WebhookSender,
};
use crate::domain::StoreError;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Items by `(pk, sk)`: their body and version.
type Items = BTreeMap<(String, String), (String, u64)>;

/// The webhooks table's items; a `WebhookStore` through the table's layout, as `WebhooksTable`
/// is one.
#[derive(Debug, Clone, Default)]
pub struct InMemoryWebhooks {
    items: Arc<Mutex<Items>>,
    failing: Arc<AtomicBool>,
}

impl InMemoryWebhooks {
    /// Makes every operation fail, as an unreachable table does.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError(
                "the webhooks table is unavailable (in-memory)".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl WebhookItems for InMemoryWebhooks {
    async fn get_body(&self, pk: &str, sk: &str) -> Result<Option<(String, u64)>, StoreError> {
        self.check()?;
        Ok(lock(&self.items)
            .get(&(pk.to_owned(), sk.to_owned()))
            .cloned())
    }

    async fn put_body(
        &self,
        pk: &str,
        sk: &str,
        body: String,
        read: u64,
        only_new: bool,
    ) -> Result<bool, StoreError> {
        self.check()?;
        let mut items = lock(&self.items);
        let key = (pk.to_owned(), sk.to_owned());
        // DynamoDB's conditions: `attribute_not_exists(pk)` for a new item; else the item must
        // exist at version `read` (every item here carries a version, so `read` 0 never holds).
        let holds = match items.get(&key) {
            None => only_new,
            Some((_, version)) => !only_new && read != 0 && *version == read,
        };
        if holds {
            items.insert(key, (body, read + 1));
        }
        Ok(holds)
    }

    async fn query(&self, pk: &str) -> Result<Vec<(String, Option<String>)>, StoreError> {
        self.check()?;
        Ok(lock(&self.items)
            .iter()
            .filter(|((p, _), _)| p == pk)
            .map(|((_, sk), (body, _))| (sk.clone(), Some(body.clone())))
            .collect())
    }

    async fn delete(&self, pk: &str, sk: &str) -> Result<bool, StoreError> {
        self.check()?;
        Ok(lock(&self.items)
            .remove(&(pk.to_owned(), sk.to_owned()))
            .is_some())
    }
}

/// One message on the fake queue.
#[derive(Debug, Clone)]
struct Message {
    id: String,
    body: String,
    visible_at: Instant,
    /// The handle of its latest receive; an older one no longer settles it.
    receipt: Option<String>,
    receives: u32,
}

/// A delivery queue as SQS keeps one: a delay in whole seconds up to 15 minutes, a receive
/// hides a message for the queue's visibility timeout, `retry_in` hides it for whole seconds up
/// to SQS's cap, only the latest receipt settles a message. `when(...)` tells when it comes back.
#[derive(Debug, Clone)]
pub struct InMemoryQueue {
    messages: Arc<Mutex<Vec<Message>>>,
    visibility: Duration,
    next_id: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
}

impl Default for InMemoryQueue {
    /// A queue whose visibility timeout is SQS's default, 30 s.
    fn default() -> Self {
        Self::with_visibility(Duration::from_secs(30))
    }
}

impl InMemoryQueue {
    pub fn with_visibility(visibility: Duration) -> Self {
        Self {
            messages: Arc::default(),
            visibility,
            next_id: Arc::default(),
            down: Arc::default(),
        }
    }

    /// Makes `send` fail, as an unreachable queue does.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The queued messages' bodies, sent or not yet visible, oldest first.
    pub fn bodies(&self) -> Vec<Queued> {
        lock(&self.messages)
            .iter()
            .filter_map(|m| serde_json::from_str(&m.body).ok())
            .collect()
    }

    /// When each message becomes visible, oldest first.
    pub fn visible_at(&self) -> Vec<Instant> {
        lock(&self.messages).iter().map(|m| m.visible_at).collect()
    }

    /// How many times each message was received, oldest first.
    pub fn receives(&self) -> Vec<u32> {
        lock(&self.messages).iter().map(|m| m.receives).collect()
    }

    /// Takes up to 10 visible messages now.
    fn take(&self) -> Vec<Received> {
        let now = Instant::now();
        let mut messages = lock(&self.messages);
        messages
            .iter_mut()
            .filter(|m| m.visible_at <= now)
            .take(10)
            .map(|m| {
                m.receives += 1;
                m.visible_at = now + self.visibility;
                let receipt = format!("{}#{}", m.id, m.receives);
                m.receipt = Some(receipt.clone());
                Received {
                    id: m.id.clone(),
                    body: Some(m.body.clone()),
                    receipt: Some(receipt),
                }
            })
            .collect()
    }

    /// Runs `change` on the message `receipt` is the latest handle of.
    fn settle(&self, receipt: &str, change: impl FnOnce(&mut Vec<Message>, usize)) {
        let mut messages = lock(&self.messages);
        if let Some(at) = messages
            .iter()
            .position(|m| m.receipt.as_deref() == Some(receipt))
        {
            change(&mut messages, at);
        }
    }
}

#[async_trait]
impl DeliveryQueue for InMemoryQueue {
    async fn send(&self, message: &Queued, delay: Duration) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError(
                "the delivery queue is unreachable (in-memory)".into(),
            ));
        }
        let id = format!("m{}", self.next_id.fetch_add(1, Ordering::SeqCst));
        let body = serde_json::to_string(message).map_err(|e| StoreError(Box::new(e)))?;
        let delay = Duration::from_secs(u64::from(delay_seconds(delay)));
        lock(&self.messages).push(Message {
            id,
            body,
            visible_at: Instant::now() + delay,
            receipt: None,
            receives: 0,
        });
        Ok(())
    }
}

#[async_trait]
impl DeliveryInbox for InMemoryQueue {
    /// A long poll: returns as soon as a message is visible, or after `wait`.
    async fn receive(&self, wait: Duration) -> Result<Vec<Received>, StoreError> {
        let until = Instant::now() + wait;
        loop {
            let taken = self.take();
            if !taken.is_empty() || Instant::now() >= until {
                return Ok(taken);
            }
            let next = lock(&self.messages).iter().map(|m| m.visible_at).min();
            tokio::time::sleep_until(next.map_or(until, |at| at.min(until))).await;
        }
    }

    async fn delete(&self, receipt: &str) -> Result<(), StoreError> {
        self.settle(receipt, |messages, at| drop(messages.remove(at)));
        Ok(())
    }

    async fn retry_in(&self, receipt: &str, after: Duration) -> Result<(), StoreError> {
        let hidden = Duration::from_secs(u64::from(visibility_seconds(after)));
        self.settle(receipt, |messages, at| {
            messages[at].visible_at = Instant::now() + hidden;
        });
        Ok(())
    }
}

/// A request the fake sender got, and when.
#[derive(Debug, Clone)]
pub struct SentRequest {
    pub request: Outgoing,
    pub at: SystemTime,
}

/// One answer of the script.
#[derive(Debug, Clone)]
enum Answer {
    Sent(Sent),
    /// A status with a `Retry-After` header, read as `HttpSender` reads it, when it is sent.
    RetryAfter(u16, String),
}

/// Answers each request with the next of its scripted answers, then 200; keeps what it got.
#[derive(Debug, Clone, Default)]
pub struct ScriptedSender {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    got: Arc<Mutex<Vec<SentRequest>>>,
}

impl ScriptedSender {
    /// Answers these statuses in turn, then 200.
    pub fn answering(statuses: &[u16]) -> Self {
        let sender = Self::default();
        for status in statuses {
            sender.then(Sent::Answered {
                status: *status,
                retry_after: None,
            });
        }
        sender
    }

    /// Adds an answer to the script.
    pub fn then(&self, answer: Sent) -> &Self {
        lock(&self.answers).push_back(Answer::Sent(answer));
        self
    }

    /// Adds `status` with this `Retry-After` header value (seconds or an HTTP-date).
    pub fn then_retry_after(&self, status: u16, value: &str) -> &Self {
        lock(&self.answers).push_back(Answer::RetryAfter(status, value.to_owned()));
        self
    }

    /// The requests so far, in order.
    pub fn got(&self) -> Vec<SentRequest> {
        lock(&self.got).clone()
    }
}

#[async_trait]
impl WebhookSender for ScriptedSender {
    async fn send(&self, request: Outgoing, _timeout: Duration) -> Sent {
        let now = wall_clock();
        lock(&self.got).push(SentRequest { request, at: now });
        match lock(&self.answers).pop_front() {
            Some(Answer::Sent(sent)) => sent,
            Some(Answer::RetryAfter(status, value)) => Sent::Answered {
                status,
                retry_after: retry_after(&value, now),
            },
            None => Sent::Answered {
                status: 200,
                retry_after: None,
            },
        }
    }
}
