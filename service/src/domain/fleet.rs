//! One look at an execution, coordinated across instances through the table: each instance
//! that cannot answer from the table takes a short read lease with a conditional write, and only
//! the holder asks Step Functions; the others wait on the table. So the fleet spends one
//! `DescribeExecution` per running execution per tick, one per stopped execution, and one per
//! unknown name per minute, however many processes serve it.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::answer::{Answer, Origin, RetrievalError};
use super::budget::{bounded, wall_clock, WRITE_RESERVE};
use super::execution::Finality;
use super::flights::TICK;
use super::keeper::Keeper;
use super::ports::{
    Claim, ExecutionSource, NotFoundMark, PutOutcome, ReadCoordination, ResultStore, SharedRead,
    SourceError, StoreError, StoredResult, Table,
};
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

/// One instance's part in the cross-instance protocol: the lease, the tick, the shared read and
/// the remembered 404, kept in the table's item for each execution. Every instance of the fleet
/// holds one over the same table; none shares memory with another.
#[derive(Clone)]
pub struct Fleet {
    source: Arc<dyn ExecutionSource>,
    store: Arc<dyn ResultStore>,
    leases: Arc<dyn ReadCoordination>,
    keeper: Keeper,
    /// This instance's reads of running executions, kept a tick: its fallback when the table
    /// cannot be read.
    reads: moka::sync::Cache<ExecutionArn, Answer>,
    /// The table writes made after an answer.
    writes: TaskTracker,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("keeper", &self.keeper)
            .finish_non_exhaustive()
    }
}

impl Fleet {
    pub fn new(source: Arc<dyn ExecutionSource>, table: Arc<dyn Table>, keeper: Keeper) -> Self {
        Self {
            source,
            store: table.clone(),
            leases: table,
            keeper,
            reads: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(TICK)
                .build(),
            writes: TaskTracker::new(),
        }
    }

    /// Waits for the table writes started so far. Under Lambda the process is frozen between
    /// invocations, so the runtime calls this before answering; the local server never needs to.
    /// Each write is bounded by the write reserve of the budget.
    pub async fn flush_writes(&self) {
        self.writes.close();
        self.writes.wait().await;
        self.writes.reopen();
    }

    /// Looks at `arn` once: the table, then (holding the lease) Step Functions. `waiting` asks a
    /// young 404 again, once a tick, instead of taking it as final.
    pub async fn look(&self, arn: &ExecutionArn, waiting: bool, by: Instant) -> Step {
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
        if let Some(result) = &state.result {
            if result.is_live(now) {
                self.keeper.hot().insert(arn, result.clone());
                return Step::Known(stored_answer(result, Origin::Hit));
            }
        }
        let last = state.read.as_ref().map(|read| shared_answer(read, now));
        // A 404 is remembered a minute, unless a read made since shows the execution started.
        let read_since = |mark: &NotFoundMark| {
            state
                .read
                .as_ref()
                .is_some_and(|read| read.read_at > mark.last_seen)
        };
        let mut not_found_before = match (&state.read, state.not_found) {
            (Some(read), Some(mark)) if read_since(&mark) => {
                read.read_at + Duration::from_millis(1)
            }
            _ => now - NOT_FOUND_MEMORY,
        };
        let mut first_not_found = None;
        if let Some(mark) = state
            .not_found
            .filter(|m| since(m.last_seen, now) < NOT_FOUND_MEMORY && !read_since(m))
        {
            let young = since(mark.first_seen, now) < NOT_FOUND_GRACE;
            if !(waiting && young) || since(mark.last_seen, now) < TICK {
                return Step::NotFound(mark.first_seen);
            }
            first_not_found = Some(mark.first_seen);
            not_found_before = now - TICK;
        }
        if let (Some(read), Some(answer)) = (&state.read, &last) {
            if since(read.read_at, now) < self.keeper.policy().refresh {
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
            read_before: now - self.keeper.policy().refresh,
            not_found_before,
        };
        match bounded(by, self.leases.claim(arn, &claim)).await {
            Some(Ok(true)) => {}
            Some(Ok(false)) => return Step::Busy(last),
            Some(Err(err)) => {
                tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "read lease failed; asking Step Functions");
            }
            None => return Step::OutOfTime(last),
        }
        self.describe(arn, now, state.result.as_ref(), last, first_not_found, by)
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
                self.keeper.hot().insert(arn, result.clone());
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
    /// `stored` is the table's result that is no longer live: served if Step Functions fails,
    /// and, when it is a redriven run's mark, the floor under which a read is late.
    async fn describe(
        &self,
        arn: &ExecutionArn,
        now: SystemTime,
        stored: Option<&StoredResult>,
        last: Option<Answer>,
        first_not_found: Option<SystemTime>,
        by: Instant,
    ) -> Step {
        let stale = stored.map(|result| stored_answer(result, Origin::StaleHit));
        let execution = match bounded(by, self.source.describe(arn)).await {
            Some(Ok(execution)) => execution,
            Some(Err(SourceError::NotFound)) => {
                let mark = NotFoundMark {
                    first_seen: first_not_found.unwrap_or(now),
                    last_seen: now,
                };
                let (leases, owned) = (self.leases.clone(), arn.clone());
                self.share(arn, "404", async move {
                    leases.record_not_found(&owned, &mark).await
                });
                return Step::NotFound(mark.first_seen);
            }
            failed => {
                let (leases, owned) = (self.leases.clone(), arn.clone());
                self.share(arn, "lease", async move {
                    leases.hold_lease(&owned, now + TICK).await
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
        // A read of the run before a redrive, made after it (reads are eventually consistent):
        // the redriven run is running, as its mark says; the failure is not answered again.
        if let Some(mark) = stored.filter(|r| !r.status.is_stopped()) {
            if execution.rank() < mark.rank {
                // Shared as the running read it stands for, which frees the lease.
                let read = SharedRead {
                    document: mark.document.clone(),
                    status: mark.status,
                    start_date: execution.start_date,
                    read_at: now,
                };
                let (leases, owned) = (self.leases.clone(), arn.clone());
                self.share(arn, "read", async move {
                    leases.record_read(&owned, &read).await.map(drop)
                });
                return Step::Known(stored_answer(mark, Origin::Miss));
            }
        }
        let finality = execution.finality(now);
        let answer = Answer {
            document: execution.document(),
            status: execution.status,
            finality,
            origin: Origin::Miss,
            age: execution.age(now),
            expires_at: None,
        };
        let Some(item) = self.keeper.item(&execution, now) else {
            let read = SharedRead {
                document: answer.document.clone(),
                status: execution.status,
                start_date: execution.start_date,
                read_at: now,
            };
            self.reads.insert(arn.clone(), shared_answer(&read, now));
            let (leases, owned) = (self.leases.clone(), arn.clone());
            self.share(arn, "read", async move {
                leases.record_read(&owned, &read).await.map(drop)
            });
            return Step::Known(answer);
        };
        let answer = Answer {
            expires_at: (!item.is_final).then_some(item.expires_at).flatten(),
            ..answer
        };
        self.keeper.hot().insert(arn, item.clone());
        let (keeper, owned) = (self.keeper.clone(), arn.clone());
        self.share(arn, "result", async move {
            match keeper.persist(&owned, &item).await? {
                PutOutcome::Written => tracing::debug!(execution_arn = %owned, "result stored"),
                PutOutcome::AlreadyPresent => {}
            }
            Ok(())
        });
        Step::Known(answer)
    }

    /// This instance's own read of a running execution made within the tick, if any.
    fn recent_read(&self, arn: &ExecutionArn) -> Option<Answer> {
        self.reads.get(arn)
    }

    /// Writes to the table after the answer (the local server answers first; under Lambda the
    /// invocation waits for them). A failed write is logged, never answered.
    fn share<F>(&self, arn: &ExecutionArn, what: &'static str, write: F)
    where
        F: Future<Output = Result<(), StoreError>> + Send + 'static,
    {
        let arn = arn.clone();
        self.writes.spawn(async move {
            match tokio::time::timeout(WRITE_RESERVE, write).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::warn!(execution_arn = %arn, write = what, error = %err, source = ?std::error::Error::source(&err), "result store write failed");
                }
                Err(_) => tracing::warn!(execution_arn = %arn, write = what, "result store write timed out"),
            }
        });
    }
}

/// A stored result as an answer (a redriven run's mark, RUNNING, as an open one).
pub fn stored_answer(item: &StoredResult, origin: Origin) -> Answer {
    Answer {
        document: item.document.clone(),
        status: item.status,
        finality: if item.is_final {
            Finality::Final
        } else if item.status.is_stopped() {
            Finality::Provisional
        } else {
            Finality::Open
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
