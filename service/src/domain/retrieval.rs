//! The read path of the cache rules: memory, result store, then Step Functions, then store what
//! stopped; coalesced per execution, with waiting on shared ticks.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::arn::{ArnError, ExecutionArn, StateMachineArn};
use super::execution::{Execution, ExecutionStatus, Finality, RedriveStatus};
use super::flights::{current_tick, next_tick, Flights, Outcome};
use super::ports::{
    ExecutionSource, ExecutionStarter, HotCache, PutOutcome, ResultStore, SourceError, StartError,
    StoredResult,
};

/// How long the store keeps what it is given.
#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    /// How long a redrivable failure is served from the store before Step Functions is asked again.
    pub provisional_ttl: Duration,
    /// How long final results are kept; `None` keeps them until removed by hand.
    pub retention: Option<Duration>,
}

/// Where an answer came from, for the `Cache-Status` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Served from this process's memory.
    MemoryHit,
    /// Served from the result store.
    Hit,
    /// Served from an expired store item because Step Functions could not answer.
    StaleHit,
    /// Asked Step Functions (a stopped result is then written to the store in the background).
    Miss,
}

/// What the service knows about an execution, ready to be answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub document: Bytes,
    pub status: ExecutionStatus,
    pub finality: Finality,
    pub origin: Origin,
    /// How long the execution has run; meaningful while it runs.
    pub age: Duration,
    /// When a provisional result will be checked again.
    pub expires_at: Option<SystemTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    #[error("the execution does not exist")]
    NotFound,
    #[error("Step Functions is unavailable and nothing is cached")]
    Unavailable(#[source] SourceError),
    #[error("Step Functions refused the request")]
    Failed(#[source] SourceError),
    #[error("the read task failed: {0}")]
    Crashed(String),
}

/// Why start-and-wait could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartFailure {
    #[error("invalid execution name: {0}")]
    InvalidName(#[source] ArnError),
    #[error("an execution with this name exists with another input")]
    Conflict,
    #[error(transparent)]
    Start(StartError),
    #[error(transparent)]
    Read(Arc<RetrievalError>),
}

/// Executions' results, read through memory and the store, and started on request.
#[derive(Clone)]
pub struct Results {
    source: Arc<dyn ExecutionSource>,
    store: Arc<dyn ResultStore>,
    hot: Arc<dyn HotCache>,
    starter: Arc<dyn ExecutionStarter>,
    flights: Arc<Flights>,
    writes: TaskTracker,
    policy: CachePolicy,
}

impl std::fmt::Debug for Results {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Results")
            .field("policy", &self.policy)
            .finish()
    }
}

impl Results {
    pub fn new(
        source: Arc<dyn ExecutionSource>,
        store: Arc<dyn ResultStore>,
        hot: Arc<dyn HotCache>,
        starter: Arc<dyn ExecutionStarter>,
        policy: CachePolicy,
    ) -> Self {
        Self {
            source,
            store,
            hot,
            starter,
            flights: Arc::default(),
            writes: TaskTracker::new(),
            policy,
        }
    }

    /// The execution's state: from memory, or one upstream read shared with every request for
    /// the same execution under way or made during the current tick.
    pub async fn get(&self, arn: &ExecutionArn) -> Outcome {
        self.read(arn, current_tick()).await
    }

    /// Waits for the cache writes started so far. Under Lambda the process is frozen between
    /// invocations, so the runtime calls this before answering; the local server never needs to.
    pub async fn flush_writes(&self) {
        self.writes.close();
        self.writes.wait().await;
        self.writes.reopen();
    }

    /// Reads until the execution has stopped or `wait` has passed, asking upstream at most once
    /// per tick whatever the number of waiters.
    pub async fn wait(&self, arn: &ExecutionArn, wait: Duration) -> Outcome {
        let deadline = Instant::now() + wait;
        let mut answer = self.get(arn).await?;
        loop {
            if answer.finality != Finality::Open {
                return Ok(answer);
            }
            let (tick, at) = next_tick();
            if at >= deadline {
                tokio::time::sleep_until(deadline).await;
                return Ok(answer);
            }
            tokio::time::sleep_until(at).await;
            answer = self.read(arn, tick).await?;
        }
    }

    /// Starts `machine` with `input` under `name` and waits for it as `wait` does. A retry with
    /// the same name and the same input waits on the execution the first attempt started.
    pub async fn start_and_wait(
        &self,
        machine: &StateMachineArn,
        name: &str,
        input: &str,
        wait: Duration,
    ) -> Result<(ExecutionArn, Answer), StartFailure> {
        let arn = machine.execution(name).map_err(StartFailure::InvalidName)?;
        let started = match self.starter.start(machine, name, input).await {
            Ok(started) => started,
            Err(StartError::AlreadyExists) => {
                let existing = self.source.describe(&arn).await.map_err(|e| {
                    StartFailure::Read(Arc::new(match e {
                        SourceError::NotFound => RetrievalError::NotFound,
                        e @ SourceError::Failed(_) => RetrievalError::Failed(e),
                        e => RetrievalError::Unavailable(e),
                    }))
                })?;
                if !same_json(existing.input.as_deref().unwrap_or("{}"), input) {
                    return Err(StartFailure::Conflict);
                }
                super::ports::Started {
                    arn: arn.clone(),
                    start_date: existing.start_date,
                }
            }
            Err(e) => return Err(StartFailure::Start(e)),
        };
        let deadline = Instant::now() + wait;
        loop {
            // DescribeExecution is eventually consistent: a just-started execution may not be
            // visible yet; it is running.
            match self
                .wait(
                    &started.arn,
                    deadline.saturating_duration_since(Instant::now()),
                )
                .await
            {
                Ok(answer) => return Ok((started.arn, answer)),
                Err(e) if matches!(*e, RetrievalError::NotFound) => {
                    let (_, at) = next_tick();
                    if at >= deadline {
                        return Ok((started.arn.clone(), self.just_started(&started, machine)));
                    }
                    tokio::time::sleep_until(at).await;
                }
                Err(e) => return Err(StartFailure::Read(e)),
            }
        }
    }

    fn just_started(&self, started: &super::ports::Started, machine: &StateMachineArn) -> Answer {
        let execution = Execution {
            arn: started.arn.clone(),
            state_machine_arn: machine.as_str().to_owned(),
            status: ExecutionStatus::Running,
            start_date: started.start_date,
            stop_date: None,
            output: None,
            error: None,
            cause: None,
            redrive_status: RedriveStatus::Unknown,
            input: None,
        };
        Answer {
            document: execution.document(),
            status: ExecutionStatus::Running,
            finality: Finality::Open,
            origin: Origin::Miss,
            age: execution.age(SystemTime::now()),
            expires_at: None,
        }
    }

    async fn read(&self, arn: &ExecutionArn, tick: u64) -> Outcome {
        if let Some(item) = self.hot.get(arn) {
            if item.is_live(SystemTime::now()) {
                return Ok(stored_answer(&item, Origin::MemoryHit));
            }
        }
        let this = self.clone();
        let owned = arn.clone();
        self.flights
            .join(arn, tick, async move {
                this.read_through(&owned).await.map_err(Arc::new)
            })
            .await
    }

    /// Store, then on a miss `DescribeExecution`, then store the result if it stopped — in the
    /// background, so a miss costs the reader no more than the two reads.
    /// A store failure never fails the request; a Step Functions failure never hides what is stored.
    #[tracing::instrument(skip(self), fields(execution_arn = %arn))]
    async fn read_through(&self, arn: &ExecutionArn) -> Result<Answer, RetrievalError> {
        let now = SystemTime::now();
        let cached = match self.store.get(arn).await {
            Ok(item) => item,
            Err(err) => {
                tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "result store read failed; asking Step Functions");
                None
            }
        };
        if let Some(item) = cached.as_ref().filter(|item| item.is_live(now)) {
            self.hot.insert(arn, item.clone());
            return Ok(stored_answer(item, Origin::Hit));
        }
        let execution = match self.source.describe(arn).await {
            Ok(execution) => execution,
            Err(SourceError::NotFound) => return Err(RetrievalError::NotFound),
            Err(err) => {
                tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "DescribeExecution failed");
                return match (cached, err) {
                    (Some(item), _) => Ok(stored_answer(&item, Origin::StaleHit)),
                    (None, err @ SourceError::Failed(_)) => Err(RetrievalError::Failed(err)),
                    (None, err) => Err(RetrievalError::Unavailable(err)),
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
        if finality != Finality::Open {
            let item = StoredResult {
                document: document.clone(),
                status: execution.status,
                is_final: finality == Finality::Final,
                stored_at: now,
                expires_at,
            };
            self.hot.insert(arn, item.clone());
            let (store, arn) = (Arc::clone(&self.store), arn.clone());
            self.writes.spawn(async move {
                match store.put_if_absent(&arn, &item).await {
                    Ok(PutOutcome::Written) => tracing::debug!(execution_arn = %arn, "result stored"),
                    Ok(PutOutcome::AlreadyPresent) => {}
                    Err(err) => {
                        tracing::warn!(execution_arn = %arn, error = %err, source = ?std::error::Error::source(&err), "result store write failed");
                    }
                }
            });
        }
        Ok(Answer {
            document,
            status: execution.status,
            finality,
            origin: Origin::Miss,
            age: execution.age(now),
            expires_at: (finality == Finality::Provisional)
                .then_some(expires_at)
                .flatten(),
        })
    }
}

fn stored_answer(item: &StoredResult, origin: Origin) -> Answer {
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
