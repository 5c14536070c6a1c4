//! One look at an execution, coordinated across instances through the table: each instance
//! that cannot answer from the table takes a short read lease with a conditional write, and only
//! the holder asks Step Functions; the others wait on the table. So the fleet spends one
//! `DescribeExecution` per running execution per tick, one per stopped execution, and one per
//! unknown name per minute, however many processes serve it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::budget::{bounded, wall_clock, WRITE_RESERVE};
use super::execution::Finality;
use super::flights::TICK;
use super::ports::{Claim, NotFoundMark, PutOutcome, SharedRead, SourceError, StoredResult};
use super::retrieval::{Answer, Origin, Results, RetrievalError};
use super::ExecutionArn;

/// How long a 404 is remembered for a name.
pub const NOT_FOUND_MEMORY: Duration = Duration::from_secs(60);
/// While waiting, how long a name Step Functions does not know yet is taken for a just-started
/// execution (`DescribeExecution` is eventually consistent) and asked about again each tick.
pub const NOT_FOUND_GRACE: Duration = Duration::from_secs(5);
/// An Express execution's longest run, and a margin for its logs to arrive.
pub const EXPRESS_LONGEST: Duration = Duration::from_secs(6 * 60);
/// The longest a read lease is held: Step Functions' whole-call timeout and a margin.
const LEASE: Duration = Duration::from_secs(6);

/// What one look found.
#[derive(Debug, Clone)]
pub enum Step {
    /// A stopped result, or a read of the running execution made within the tick.
    Known(Answer),
    /// Step Functions does not know it; first said so then.
    NotFound(SystemTime),
    /// Another instance is reading Step Functions; the last shared read, if any.
    Busy(Option<Answer>),
    /// The read failed; the last shared read, if any.
    Trouble(Arc<RetrievalError>, Option<Answer>),
    /// The budget of the request that started this look ran out before it was done.
    OutOfTime(Option<Answer>),
}

impl Step {
    pub fn crashed(why: String) -> Self {
        Self::Trouble(Arc::new(RetrievalError::Crashed(why)), None)
    }
}

fn since(t: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(t).unwrap_or_default()
}

impl Results {
    /// Looks at `arn` once: the table, then (holding the lease) Step Functions. `waiting` asks a
    /// young 404 again, once a tick, instead of taking it as final.
    pub(super) async fn step(&self, arn: &ExecutionArn, waiting: bool, by: Instant) -> Step {
        if arn.is_express() {
            return self.step_express(arn, by).await;
        }
        let now = wall_clock();
        let state = match bounded(by, self.store.state(arn)).await {
            Some(Ok(state)) => Some(state),
            Some(Err(err)) => {
                tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "result store read failed; asking Step Functions");
                None
            }
            None => return Step::OutOfTime(self.recent_read(arn)),
        };
        let Some(state) = state else {
            // No table: this instance still asks at most once a tick.
            if let Some(answer) = self.recent_read(arn) {
                return Step::Known(answer);
            }
            return self.describe(arn, now, None, None, None, by).await;
        };
        let mut stale = None;
        if let Some(result) = &state.result {
            if result.is_live(now) {
                self.hot.insert(arn, result.clone());
                return Step::Known(stored_answer(result, Origin::Hit));
            }
            stale = Some(stored_answer(result, Origin::StaleHit));
        }
        let last = state.read.as_ref().map(|read| shared_answer(read, now));
        let mut not_found_before = now - NOT_FOUND_MEMORY;
        let mut first_not_found = None;
        if let Some(mark) = state
            .not_found
            .filter(|m| since(m.last_seen, now) < NOT_FOUND_MEMORY)
        {
            let young = since(mark.first_seen, now) < NOT_FOUND_GRACE;
            if !(waiting && young) || since(mark.last_seen, now) < TICK {
                return Step::NotFound(mark.first_seen);
            }
            first_not_found = Some(mark.first_seen);
            not_found_before = now - TICK;
        }
        if let (Some(read), Some(answer)) = (&state.read, &last) {
            if since(read.read_at, now) < self.policy.refresh {
                return Step::Known(answer.clone());
            }
        }
        if state.lease_until.is_some_and(|until| until > now) {
            return Step::Busy(last);
        }
        let left = by.saturating_duration_since(Instant::now());
        let claim = Claim {
            now,
            lease_until: now + LEASE.min(left),
            read_before: now - self.policy.refresh,
            not_found_before,
        };
        match bounded(by, self.store.claim(arn, &claim)).await {
            Some(Ok(true)) => {}
            Some(Ok(false)) => return Step::Busy(last),
            Some(Err(err)) => {
                tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "read lease failed; asking Step Functions");
            }
            None => return Step::OutOfTime(last),
        }
        self.describe(arn, now, stale, last, first_not_found, by)
            .await
    }

    /// An Express execution: only what its logs delivered to the table is known, and
    /// `DescribeExecution` does not serve it, so it is never asked.
    async fn step_express(&self, arn: &ExecutionArn, by: Instant) -> Step {
        let now = wall_clock();
        let state = match bounded(by, self.store.state(arn)).await {
            Some(Ok(state)) => state,
            Some(Err(err)) => {
                tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "result store read failed");
                let err = RetrievalError::Unavailable(SourceError::Unavailable(Box::new(err)));
                return Step::Trouble(Arc::new(err), None);
            }
            None => return Step::OutOfTime(None),
        };
        if let Some(result) = &state.result {
            if result.is_live(now) {
                self.hot.insert(arn, result.clone());
                return Step::Known(stored_answer(result, Origin::Hit));
            }
        }
        match &state.read {
            // Express executions run 5 minutes at most: a start recorded longer ago whose stop
            // never arrived is not known to be running.
            Some(read) if since(read.read_at, now) < EXPRESS_LONGEST => {
                let mut answer = shared_answer(read, now);
                answer.origin = Origin::Hit;
                Step::Known(answer)
            }
            _ => Step::NotFound(now),
        }
    }

    /// `DescribeExecution`, holding the lease, and shares what it says: a stopped result is
    /// stored, a running one's read is shared, a 404 remembered, a failure backs the fleet off.
    async fn describe(
        &self,
        arn: &ExecutionArn,
        now: SystemTime,
        stale: Option<Answer>,
        last: Option<Answer>,
        first_not_found: Option<SystemTime>,
        by: Instant,
    ) -> Step {
        let execution = match bounded(by, self.source.describe(arn)).await {
            Some(Ok(execution)) => execution,
            Some(Err(SourceError::NotFound)) => {
                let mark = NotFoundMark {
                    first_seen: first_not_found.unwrap_or(now),
                    last_seen: now,
                };
                self.share(arn, "404", move |store, arn| async move {
                    store.record_not_found(&arn, &mark).await.map(drop)
                });
                return Step::NotFound(mark.first_seen);
            }
            failed => {
                self.share(arn, "lease", move |store, arn| async move {
                    store.hold_lease(&arn, now + TICK).await
                });
                if let Some(answer) = stale {
                    return Step::Known(answer);
                }
                return match failed {
                    Some(Err(err)) => {
                        tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "DescribeExecution failed");
                        let err = match err {
                            err @ SourceError::Failed(_) => RetrievalError::Failed(err),
                            err => RetrievalError::Unavailable(err),
                        };
                        Step::Trouble(Arc::new(err), last)
                    }
                    _ => Step::OutOfTime(last),
                };
            }
        };
        let document = execution.document();
        let finality = execution.finality(now);
        let expires_at = match finality {
            Finality::Open => None,
            Finality::Final => self.policy.retention.map(|keep| now + keep),
            Finality::Provisional => Some(now + self.policy.provisional_ttl),
        };
        let answer = Answer {
            document: document.clone(),
            status: execution.status,
            finality,
            origin: Origin::Miss,
            age: execution.age(now),
            expires_at: (finality == Finality::Provisional)
                .then_some(expires_at)
                .flatten(),
        };
        if finality == Finality::Open {
            let read = SharedRead {
                document,
                status: execution.status,
                start_date: execution.start_date,
                read_at: now,
            };
            self.reads.insert(arn.clone(), shared_answer(&read, now));
            self.share(arn, "read", move |store, arn| async move {
                store.record_read(&arn, &read).await.map(drop)
            });
        } else {
            let item = StoredResult {
                document,
                status: execution.status,
                is_final: finality == Finality::Final,
                stored_at: now,
                expires_at,
                keep_until: self.policy.retention.map(|keep| now + keep),
                rank: execution.rank(),
            };
            self.hot.insert(arn, item.clone());
            let notifier = self.notifier.clone();
            self.share(arn, "result", move |store, arn| async move {
                match Results::persist(store.as_ref(), notifier.as_ref(), &arn, &item).await? {
                    PutOutcome::Written => tracing::debug!(execution_arn = %arn, "result stored"),
                    PutOutcome::AlreadyPresent => {}
                }
                Ok(())
            });
        }
        Step::Known(answer)
    }

    /// This instance's own read of a running execution made within the tick, if any.
    fn recent_read(&self, arn: &ExecutionArn) -> Option<Answer> {
        self.reads.get(arn)
    }

    /// Writes to the table after the answer (the local server answers first; under Lambda the
    /// invocation waits for them). A failed write is logged, never answered.
    fn share<F, Fut>(&self, arn: &ExecutionArn, what: &'static str, write: F)
    where
        F: FnOnce(Arc<dyn super::ports::ResultStore>, ExecutionArn) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), super::ports::StoreError>> + Send,
    {
        let (store, arn) = (Arc::clone(&self.store), arn.clone());
        self.writes.spawn(async move {
            match tokio::time::timeout(WRITE_RESERVE, write(store, arn.clone())).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::warn!(execution_arn = %arn, write = what, error = %err, source = ?std::error::Error::source(&err), "result store write failed");
                }
                Err(_) => tracing::warn!(execution_arn = %arn, write = what, "result store write timed out"),
            }
        });
    }
}

/// A stored result as an answer.
pub fn stored_answer(item: &StoredResult, origin: Origin) -> Answer {
    Answer {
        document: item.document.clone(),
        status: item.status,
        finality: if item.is_final {
            Finality::Final
        } else {
            Finality::Provisional
        },
        origin,
        age: Duration::ZERO,
        expires_at: if item.is_final { None } else { item.expires_at },
    }
}

/// A shared read of a running execution as an answer.
fn shared_answer(read: &SharedRead, now: SystemTime) -> Answer {
    Answer {
        document: read.document.clone(),
        status: read.status,
        // Only reads of running executions are shared; stopped ones are stored as results.
        finality: Finality::Open,
        origin: Origin::SharedRead,
        age: since(read.start_date, now),
        expires_at: None,
    }
}
