//! Stopped results kept: the item a stop is stored as (how long it lives, by the cache policy),
//! written to the table (first writer wins, a greater rank replaces), remembered in this
//! instance's memory, and fanned out to webhooks when they are on. The read path (`fleet.rs`),
//! events (`ingest.rs`) and reconcile all store through it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::answer::CachePolicy;
use super::arn::ExecutionArn;
use super::execution::{Execution, Finality};
use super::ports::{HotCache, PutOutcome, ResultStore, StoreError, StoredResult};
use super::webhooks::Notifier;

/// Stores stopped results, and keeps the hottest in memory.
#[derive(Clone)]
pub struct Keeper {
    store: Arc<dyn ResultStore>,
    hot: Arc<dyn HotCache>,
    policy: CachePolicy,
    /// Webhooks, when `WEBHOOKS_TABLE` is set: every stored stop is fanned out through it.
    notifier: Option<Notifier>,
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keeper")
            .field("policy", &self.policy)
            .field("webhooks", &self.notifier.is_some())
            .finish_non_exhaustive()
    }
}

impl Keeper {
    pub fn new(store: Arc<dyn ResultStore>, hot: Arc<dyn HotCache>, policy: CachePolicy) -> Self {
        Self {
            store,
            hot,
            policy,
            notifier: None,
        }
    }

    /// Notifies webhook endpoints of every stop stored from now on.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    pub fn notifier(&self) -> Option<&Notifier> {
        self.notifier.as_ref()
    }

    pub fn policy(&self) -> CachePolicy {
        self.policy
    }

    /// This instance's memory of stored results.
    pub fn hot(&self) -> &dyn HotCache {
        self.hot.as_ref()
    }

    /// The item a stopped execution is kept as, read at `now`: a final result for the
    /// retention, a redrivable failure briefly; `None` while it runs.
    pub fn item(&self, execution: &Execution, now: SystemTime) -> Option<StoredResult> {
        let finality = execution.finality(now);
        let expires_at = match finality {
            Finality::Open => return None,
            Finality::Final => self.policy.retention.map(|keep| now + keep),
            Finality::Provisional => Some(now + self.policy.provisional_ttl),
        };
        Some(StoredResult {
            document: execution.document(),
            status: execution.status,
            is_final: finality == Finality::Final,
            stored_at: now,
            expires_at,
            keep_until: self.policy.retention.map(|keep| now + keep),
            rank: execution.rank(),
        })
    }

    /// Stores `running`, a redriven run, in place of the failure it ran again: never live, so
    /// no instance serves the failure from the table again, and of a greater redrive count, so
    /// a late read or event of the earlier run is refused (and known as late, see `fleet.rs`).
    /// Not fanned out to webhooks: nothing stopped.
    pub async fn supersede(
        &self,
        arn: &ExecutionArn,
        running: &Execution,
        now: SystemTime,
    ) -> Result<PutOutcome, StoreError> {
        let mark = StoredResult {
            document: running.document(),
            status: running.status,
            is_final: false,
            stored_at: now,
            expires_at: Some(now - Duration::from_secs(1)),
            keep_until: self.policy.retention.map(|keep| now + keep),
            rank: running.rank(),
        };
        self.store.put_if_absent(arn, &mark).await
    }

    /// The result the table holds for `arn`, live or not.
    pub async fn stored(&self, arn: &ExecutionArn) -> Result<Option<StoredResult>, StoreError> {
        Ok(self.store.state(arn).await?.result)
    }

    /// Stores a stopped result (first writer wins, a greater rank replaces) and, with webhooks
    /// on, fans it out through the outbox. Memory is the caller's to update.
    pub async fn persist(
        &self,
        arn: &ExecutionArn,
        item: &StoredResult,
    ) -> Result<PutOutcome, StoreError> {
        match &self.notifier {
            Some(notifier) => {
                notifier
                    .outbox()
                    .store_and_notify(self.store.as_ref(), arn, item)
                    .await
            }
            None => self.store.put_if_absent(arn, item).await,
        }
    }

    /// Finishes fan-outs a dead process left in the outbox (older than `grace`).
    pub async fn sweep_notifications(&self, grace: Duration) -> usize {
        let Some(notifier) = &self.notifier else {
            return 0;
        };
        match notifier.outbox().sweep(self.store.as_ref(), grace).await {
            Ok(swept) => swept,
            Err(err) => {
                tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "webhook sweep failed; the next run tries again");
                0
            }
        }
    }
}
