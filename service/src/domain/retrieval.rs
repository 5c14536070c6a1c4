//! The read path of the cache rules: memory, the table, then Step Functions, then store what
//! stopped; coalesced per execution in each instance (`flights.rs`) and across instances through
//! the table (`fleet.rs`), with waiting and start-and-wait inside a request's budget.

use std::sync::Arc;
use std::time::Duration;

use super::arn::{ExecutionArn, StateMachineArn};
use super::budget::{bounded, wall_clock, Budget, FIRST_LOOK};
use super::execution::{Execution, ExecutionStatus, Finality};
use super::fleet::{stored_answer, Fleet, Step, NOT_FOUND_GRACE};
use super::flights::{current_slot, next_slot, Flights};
use super::keeper::Keeper;
use super::ports::{
    ExecutionLister, ExecutionSource, ExecutionStarter, HotCache, SourceError, StartError, Started,
    Table,
};

pub use super::answer::{Answer, CachePolicy, Origin, Outcome, RetrievalError, StartFailure};

/// Executions' results: read through memory, the table and the fleet's protocol (`fleet.rs`),
/// waited on, started on request, and stored as events and reconcile bring them (`ingest.rs`,
/// `reconcile.rs`).
#[derive(Clone)]
pub struct Results {
    pub(super) source: Arc<dyn ExecutionSource>,
    pub(super) table: Arc<dyn Table>,
    pub(super) keeper: Keeper,
    pub(super) lister: Arc<dyn ExecutionLister>,
    starter: Arc<dyn ExecutionStarter>,
    fleet: Fleet,
    flights: Arc<Flights<Step>>,
}

impl std::fmt::Debug for Results {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Results")
            .field("keeper", &self.keeper)
            .finish_non_exhaustive()
    }
}

impl Results {
    pub fn new(
        source: Arc<dyn ExecutionSource>,
        table: Arc<dyn Table>,
        hot: Arc<dyn HotCache>,
        starter: Arc<dyn ExecutionStarter>,
        lister: Arc<dyn ExecutionLister>,
        policy: CachePolicy,
    ) -> Self {
        let keeper = Keeper::new(table.clone(), hot, policy);
        Self::assemble(source, table, keeper, starter, lister)
    }

    fn assemble(
        source: Arc<dyn ExecutionSource>,
        table: Arc<dyn Table>,
        keeper: Keeper,
        starter: Arc<dyn ExecutionStarter>,
        lister: Arc<dyn ExecutionLister>,
    ) -> Self {
        Self {
            fleet: Fleet::new(source.clone(), table.clone(), keeper.clone()),
            source,
            table,
            keeper,
            lister,
            starter,
            flights: Arc::default(),
        }
    }

    /// Notifies webhook endpoints of every stop stored from now on.
    pub fn with_notifier(self, notifier: super::webhooks::Notifier) -> Self {
        let keeper = self.keeper.with_notifier(notifier);
        Self::assemble(self.source, self.table, keeper, self.starter, self.lister)
    }

    /// What stores stopped results for this read path (and for whoever else stores stops).
    pub fn keeper(&self) -> &Keeper {
        &self.keeper
    }

    pub fn notifier(&self) -> Option<&super::webhooks::Notifier> {
        self.keeper.notifier()
    }

    /// Finishes fan-outs a dead process left in the outbox (older than `grace`).
    pub async fn sweep_notifications(&self, grace: Duration) -> usize {
        self.keeper.sweep_notifications(grace).await
    }

    /// The execution's state as a request that does not wait sees it: from memory, the table,
    /// or one read of Step Functions shared with every instance asking during the tick.
    pub async fn get(&self, arn: &ExecutionArn, budget: &Budget) -> Outcome {
        self.watch(arn, budget, Watch::Get, None).await
    }

    /// Waits until the execution has stopped or the budget's answer time, then answers what it
    /// last knew: upstream trouble during the wait is retried, never answered while a read has
    /// succeeded.
    pub async fn wait(&self, arn: &ExecutionArn, budget: &Budget) -> Outcome {
        self.watch(arn, budget, Watch::Wait, None).await
    }

    /// Forgets this instance's last look at `arn` (an action changed the execution), so no
    /// request shares what it said.
    pub fn forget_looks(&self, arn: &ExecutionArn) {
        self.flights.forget(arn);
    }

    /// Waits for the cache writes started so far (see `Fleet::flush_writes`).
    pub async fn flush_writes(&self) {
        self.fleet.flush_writes().await;
    }

    /// Starts `machine` with `input` under `name` and waits for it as `wait` does. A retry with
    /// the same name and the same input waits on the execution the first attempt started. Once
    /// started, every outcome names the execution.
    pub async fn start_and_wait(
        &self,
        machine: &StateMachineArn,
        name: &str,
        input: &str,
        budget: &Budget,
    ) -> Result<(ExecutionArn, Answer), StartFailure> {
        let arn = machine.execution(name).map_err(StartFailure::InvalidName)?;
        let started = match bounded(budget.calls_by(), self.starter.start(machine, name, input))
            .await
        {
            Some(Ok(started)) => started,
            Some(Err(StartError::AlreadyExists)) => {
                let existing = match bounded(budget.calls_by(), self.source.describe(&arn)).await {
                    Some(Ok(existing)) => existing,
                    Some(Err(e)) => {
                        let e = match e {
                            SourceError::NotFound => RetrievalError::NotFound,
                            e @ SourceError::Failed(_) => RetrievalError::Failed(e),
                            e => RetrievalError::Unavailable(e),
                        };
                        return Err(StartFailure::ExistingUnreadable(arn, Arc::new(e)));
                    }
                    None => {
                        let e = RetrievalError::Unavailable(out_of_time());
                        return Err(StartFailure::ExistingUnreadable(arn, Arc::new(e)));
                    }
                };
                if !same_json(existing.input.as_deref().unwrap_or("{}"), input) {
                    return Err(StartFailure::Conflict);
                }
                Started {
                    arn: arn.clone(),
                    start_date: existing.start_date,
                }
            }
            Some(Err(e @ StartError::Unavailable(_))) => {
                return Err(StartFailure::Uncertain(arn, e))
            }
            Some(Err(e)) => return Err(StartFailure::Start(e)),
            None => {
                let e = StartError::Unavailable(Box::new(out_of_time()));
                return Err(StartFailure::Uncertain(arn, e));
            }
        };
        let known = self.just_started(&started);
        let answer = match self
            .watch(&started.arn, budget, Watch::Started, Some(known.clone()))
            .await
        {
            Ok(answer) => answer,
            // Not reachable with a known answer; kept total rather than unwrapped.
            Err(_) => known,
        };
        Ok((started.arn, answer))
    }

    /// Looks at the execution each poll slot until `mode` is satisfied or the budget's answer
    /// time, through this instance's flights, so its clients share one look per slot.
    async fn watch(
        &self,
        arn: &ExecutionArn,
        budget: &Budget,
        mode: Watch,
        mut last: Option<Answer>,
    ) -> Outcome {
        // Only a final result is served from memory: a redrivable failure may have been
        // redriven through another instance, which marks it so in the table, not here.
        if let Some(item) = self.keeper.hot().get(arn).filter(|item| item.is_final) {
            if item.is_live(wall_clock()) {
                return Ok(stored_answer(&item, Origin::MemoryHit));
            }
        }
        let waiting = mode != Watch::Get;
        // A short wait (`wait=0`) still gets one whole look: it ends the waiting, not the read.
        let look_by = budget.answer_by.max(budget.entry + FIRST_LOOK);
        let mut trouble: Option<Arc<RetrievalError>> = None;
        let mut not_found = false;
        loop {
            let fleet = self.fleet.clone();
            let (owned, by) = (arn.clone(), look_by);
            let look = async move { fleet.look(&owned, waiting, by).await };
            // Waiters share a slot's look; a request that does not wait gets a look no older
            // than itself (joining one under way), so it sees what was stored before it came.
            let step = self
                .flights
                .join(arn, current_slot(), waiting, look, Step::crashed)
                .await;
            match step {
                Step::Known(answer) => {
                    if answer.finality != Finality::Open || !waiting {
                        return Ok(answer);
                    }
                    last = Some(answer);
                }
                Step::NotFound(first_seen) => {
                    let young = wall_clock().duration_since(first_seen).unwrap_or_default()
                        < NOT_FOUND_GRACE;
                    match mode {
                        // It was started by this request: not visible yet, so running.
                        Watch::Started => {}
                        // Express results arrive through logs; a wait waits for them.
                        Watch::Wait if young || arn.is_express() => not_found = true,
                        _ => return Err(Arc::new(not_found_error(arn))),
                    }
                }
                Step::Busy(seen) | Step::OutOfTime(seen) => {
                    if let Some(seen) = seen {
                        if !waiting {
                            return Ok(seen);
                        }
                        last = Some(seen);
                    }
                }
                Step::Trouble(err, seen) => {
                    last = seen.or(last);
                    if !waiting {
                        return last.ok_or(err);
                    }
                    trouble = Some(err);
                }
            }
            // The wait ends at its time once something is known; until then (another instance
            // holds the lease, say) the request keeps looking for as long as one look may take.
            let end = if last.is_some() || not_found || trouble.is_some() {
                budget.answer_by
            } else {
                look_by
            };
            let next = next_slot();
            if next >= end {
                tokio::time::sleep_until(end).await;
                break;
            }
            tokio::time::sleep_until(next).await;
        }
        match (last, trouble) {
            (Some(answer), _) => Ok(answer),
            (None, _) if not_found => Err(Arc::new(not_found_error(arn))),
            (None, Some(err)) => Err(err),
            (None, None) => Err(Arc::new(RetrievalError::Unavailable(out_of_time()))),
        }
    }

    fn just_started(&self, started: &Started) -> Answer {
        let execution = Execution::builder(started.arn.clone())
            .started(started.start_date)
            .build();
        Answer {
            document: execution.document(),
            status: ExecutionStatus::Running,
            finality: Finality::Open,
            origin: Origin::Miss,
            age: execution.age(wall_clock()),
            expires_at: None,
        }
    }
}

/// How a request looks at an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Watch {
    /// Answers the first thing known.
    Get,
    /// Until it stops; a young 404 may be a just-started execution.
    Wait,
    /// Until it stops; this request started it, so a 404 means not visible yet.
    Started,
}

fn not_found_error(arn: &ExecutionArn) -> RetrievalError {
    if arn.is_express() {
        RetrievalError::ExpressNotRecorded
    } else {
        RetrievalError::NotFound
    }
}

pub(super) fn out_of_time() -> SourceError {
    SourceError::Unavailable("the request's time budget ran out".into())
}

/// Whether two JSON texts hold the same value (Step Functions may reformat an input).
fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
