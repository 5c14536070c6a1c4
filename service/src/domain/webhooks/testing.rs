//! The room's test bench: a notifier over the in-memory fakes (the webhooks table, the queue, a
//! scripted sender, the result store), endpoints and stopped results to feed it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{
    Delivery, Disposition, Endpoint, Notifier, Queued, RetrySchedule, Secret, WebhookStore,
    WebhookUrl,
};
use crate::adapters::{InMemoryQueue, InMemoryStore, InMemoryWebhooks, ScriptedSender};
use crate::domain::budget::wall_clock;
use crate::domain::execution::rfc3339_millis;
use crate::domain::reconcile::millis;
use crate::domain::{
    ExecutionArn, ExecutionStatus, PutOutcome, Rank, StateMachineArn, StoredResult,
};

pub(crate) struct Bench {
    pub store: InMemoryWebhooks,
    pub queue: InMemoryQueue,
    pub sender: ScriptedSender,
    pub results: InMemoryStore,
    pub notifier: Notifier,
}

/// A bench whose sender answers `statuses` in turn, then 200; the default retry schedule.
pub(crate) fn bench(statuses: &[u16]) -> Bench {
    bench_with(
        ScriptedSender::answering(statuses),
        RetrySchedule::default(),
    )
}

pub(crate) fn bench_with(sender: ScriptedSender, schedule: RetrySchedule) -> Bench {
    let (store, queue) = (InMemoryWebhooks::default(), InMemoryQueue::default());
    let notifier = Notifier {
        store: Arc::new(store.clone()),
        queue: Arc::new(queue.clone()),
        sender: Arc::new(sender.clone()),
        schedule,
        public_base_url: "https://api.example.com/prod".into(),
    };
    Bench {
        store,
        queue,
        sender,
        results: InMemoryStore::default(),
        notifier,
    }
}

pub(crate) fn machine() -> StateMachineArn {
    StateMachineArn::parse("arn:aws:states:us-east-1:123456789012:stateMachine:orders")
        .expect("machine")
}

pub(crate) fn execution(name: &str) -> ExecutionArn {
    machine().execution(name).expect("execution")
}

/// A stopped result of `arn` as the result store keeps it, stopped a second ago.
pub(crate) fn stopped(arn: &ExecutionArn, status: ExecutionStatus) -> StoredResult {
    let now = wall_clock();
    let stop = now - Duration::from_secs(1);
    let document = serde_json::json!({
        "executionArn": arn.as_str(),
        "stateMachineArn": machine().as_str(),
        "name": arn.name(),
        "status": status.as_str(),
        "startDate": rfc3339_millis(stop - Duration::from_secs(1)),
        "stopDate": rfc3339_millis(stop),
        "output": {"ok": true},
        "error": null,
        "cause": null,
    });
    StoredResult {
        document: Bytes::from(serde_json::to_vec(&document).expect("json")),
        status,
        is_final: true,
        stored_at: now,
        expires_at: None,
        keep_until: None,
        rank: Rank {
            redrive_count: 0,
            stop_date_ms: millis(stop),
        },
    }
}

impl Bench {
    /// Registers an endpoint for `statuses` of every machine, a minute before now.
    pub(crate) async fn register(&self, id: &str, statuses: &[ExecutionStatus]) -> Endpoint {
        let endpoint = Endpoint {
            id: id.into(),
            url: WebhookUrl::parse(&format!("https://hooks.example.com/{id}"), false).expect("url"),
            state_machines: None,
            workflows: None,
            statuses: statuses.iter().map(|s| s.as_str().to_owned()).collect(),
            description: None,
            created_at_ms: millis(wall_clock() - Duration::from_secs(60)),
            disabled: false,
            secrets: vec![Secret::generate()],
            version: 0,
        };
        assert!(self.store.create_endpoint(&endpoint).await.expect("create"));
        endpoint
    }

    /// Stores `result` through the outbox, as any path that learns of a stop does.
    pub(crate) async fn store(&self, arn: &ExecutionArn, result: &StoredResult) -> PutOutcome {
        let outbox = self.notifier.outbox();
        let stored = outbox.store_and_notify(&self.results, arn, result).await;
        stored.expect("stored")
    }

    /// A stop of the execution `name` with `status`, stored through the outbox.
    pub(crate) async fn stop(&self, name: &str, status: ExecutionStatus) -> ExecutionArn {
        let arn = execution(name);
        self.store(&arn, &stopped(&arn, status)).await;
        arn
    }

    pub(crate) async fn attempt(&self, queued: &Queued) -> Disposition {
        let attempts = self.notifier.attempts();
        attempts.attempt(queued).await.expect("attempt")
    }

    pub(crate) async fn sweep(&self, grace: Duration) -> usize {
        let outbox = self.notifier.outbox();
        outbox.sweep(&self.results, grace).await.expect("sweep")
    }

    /// The delivery `queued` names, as stored.
    pub(crate) async fn delivery(&self, queued: &Queued) -> Delivery {
        let read = self
            .store
            .delivery(&queued.endpoint_id, &queued.delivery_id);
        read.await.expect("read").expect("there")
    }
}
