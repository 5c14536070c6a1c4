//! Steering executions: a stop (`StopExecution`) answered with the ABORTED result, which is
//! stored at once, so every instance serves it from the next read on; a redrive
//! (`RedriveExecution`) marked in the table at once, so no instance serves the failure again.

use std::sync::Arc;

use super::arn::ExecutionArn;
use super::budget::{bounded, wall_clock, Budget};
use super::execution::{Execution, ExecutionStatus, Finality, RedriveStatus};
use super::fleet::stored_answer;
use super::keeper::Keeper;
use super::ports::{ExecutionControl, ExecutionSource, RedriveError, SourceError, StopReason};
use super::retrieval::{out_of_time, Answer, Origin};

/// Acts on executions for clients: stops them, keeping what they became.
#[derive(Clone)]
pub struct Steering {
    control: Arc<dyn ExecutionControl>,
    source: Arc<dyn ExecutionSource>,
    keeper: Keeper,
}

impl std::fmt::Debug for Steering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Steering").finish_non_exhaustive()
    }
}

/// What a stop found.
#[derive(Debug, Clone)]
pub enum Stopped {
    /// The execution was running and is now ABORTED: its result, stored.
    Now(Answer),
    /// It had stopped already, or stopped on its own before the stop landed: its result.
    Already(Answer),
}

/// Why a stop or a redrive could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ControlFailure {
    #[error("Step Functions cannot stop or redrive an Express execution")]
    Express,
    /// Step Functions refused the redrive: its reason, and the execution as it stands.
    #[error("the execution cannot be redriven: {0}")]
    NotRedrivable(String, Answer),
    #[error("the execution does not exist")]
    NotFound,
    #[error("Step Functions is unavailable")]
    Unavailable(#[source] SourceError),
    #[error("Step Functions refused the request")]
    Failed(#[source] SourceError),
}

impl From<SourceError> for ControlFailure {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::NotFound => Self::NotFound,
            e @ SourceError::Failed(_) => Self::Failed(e),
            e => Self::Unavailable(e),
        }
    }
}

impl Steering {
    pub fn new(
        control: Arc<dyn ExecutionControl>,
        source: Arc<dyn ExecutionSource>,
        keeper: Keeper,
    ) -> Self {
        Self {
            control,
            source,
            keeper,
        }
    }

    /// Stops a running execution and stores it ABORTED. A final result already stored answers
    /// without a call; otherwise Step Functions is read first, so an execution that is not
    /// running is never stopped, and read again after, so one that ended on its own just before
    /// the stop is answered as it ended.
    pub async fn stop(
        &self,
        arn: &ExecutionArn,
        reason: &StopReason,
        budget: &Budget,
    ) -> Result<Stopped, ControlFailure> {
        if arn.is_express() {
            return Err(ControlFailure::Express);
        }
        if let Some(item) = self.keeper.hot().get(arn).filter(|item| item.is_final) {
            return Ok(Stopped::Already(stored_answer(&item, Origin::MemoryHit)));
        }
        // A redrivable failure may have been redriven since: only a final result is trusted.
        // The table failing is no reason to refuse a stop: Step Functions is asked instead.
        if let Ok(Some(item)) = self.keeper.stored(arn).await {
            if item.is_final && item.is_live(wall_clock()) {
                return Ok(Stopped::Already(stored_answer(&item, Origin::Hit)));
            }
        }
        let before = self.describe(arn, budget).await?;
        if before.status.is_stopped() {
            return Ok(Stopped::Already(self.keep(&before).await));
        }
        let stop_date = bounded(budget.calls_by(), self.control.stop(arn, reason))
            .await
            .ok_or_else(|| ControlFailure::Unavailable(out_of_time()))??;
        // Step Functions' reads are eventually consistent: one that still says RUNNING after
        // the stop was accepted is answered with what the stop recorded.
        let after = match self.describe(arn, budget).await {
            Ok(after) if after.status.is_stopped() => after,
            _ => Execution {
                status: ExecutionStatus::Aborted,
                stop_date: Some(stop_date),
                output: None,
                error: reason.error.clone(),
                cause: reason.cause.clone(),
                // An aborted Standard execution may be redriven for 14 days.
                redrive_status: RedriveStatus::Unknown,
                ..before
            },
        };
        let aborted = after.status == ExecutionStatus::Aborted;
        let answer = self.keep(&after).await;
        Ok(if aborted {
            Stopped::Now(answer)
        } else {
            Stopped::Already(answer)
        })
    }

    /// Redrives a stopped execution from the states that failed (Step Functions decides whether
    /// it may be) and marks the redriven run in the table before answering: from then on no
    /// instance answers the failure, and a waiter on the status URL sees the new run through.
    /// Read first, for the redrive count and for the document a refusal is answered with.
    pub async fn redrive(
        &self,
        arn: &ExecutionArn,
        budget: &Budget,
    ) -> Result<Answer, ControlFailure> {
        if arn.is_express() {
            return Err(ControlFailure::Express);
        }
        let before = self.describe(arn, budget).await?;
        let redriven = bounded(budget.calls_by(), self.control.redrive(arn))
            .await
            .ok_or_else(|| ControlFailure::Unavailable(out_of_time()))?;
        let redrive_date = match redriven {
            Ok(date) => date,
            Err(RedriveError::NotRedrivable(reason)) => {
                return Err(ControlFailure::NotRedrivable(
                    reason,
                    self.keep(&before).await,
                ))
            }
            Err(RedriveError::Source(e)) => return Err(e.into()),
        };
        // The read before may lag a redrive already stored: the new run counts above both.
        let stored = match self.keeper.stored(arn).await {
            Ok(stored) => stored.map_or(0, |item| item.rank.redrive_count),
            Err(_) => 0,
        };
        let running = Execution {
            status: ExecutionStatus::Running,
            stop_date: None,
            output: None,
            output_truncated: false,
            error: None,
            cause: None,
            redrive_status: RedriveStatus::Unknown,
            redrive_count: before.redrive_count.max(stored) + 1,
            ..before
        };
        let now = wall_clock();
        if let Err(err) = self.keeper.supersede(arn, &running, now).await {
            tracing::warn!(execution_arn = %arn, error = %err, source = ?std::error::Error::source(&err), "the redrive was not marked in the table; the failure may be served until it is read again");
        }
        tracing::info!(execution_arn = %arn, redrive_date = ?redrive_date, "execution redriven on request");
        Ok(Answer {
            document: running.document(),
            status: ExecutionStatus::Running,
            finality: Finality::Open,
            origin: Origin::Miss,
            age: running.age(now),
            expires_at: None,
        })
    }

    async fn describe(
        &self,
        arn: &ExecutionArn,
        budget: &Budget,
    ) -> Result<Execution, ControlFailure> {
        Ok(bounded(budget.calls_by(), self.source.describe(arn))
            .await
            .ok_or_else(|| ControlFailure::Unavailable(out_of_time()))??)
    }

    /// Stores a stopped execution (memory, then the table, before answering) and answers it.
    async fn keep(&self, execution: &Execution) -> Answer {
        let now = wall_clock();
        let Some(item) = self.keeper.item(execution, now) else {
            // Only stopped executions reach here; a running one is answered as it is.
            return Answer {
                document: execution.document(),
                status: execution.status,
                finality: Finality::Open,
                origin: Origin::Miss,
                age: execution.age(now),
                expires_at: None,
            };
        };
        self.keeper.hot().insert(&execution.arn, item.clone());
        if let Err(err) = self.keeper.persist(&execution.arn, &item).await {
            tracing::warn!(execution_arn = %execution.arn, error = %err, source = ?std::error::Error::source(&err), "the stopped result was not stored; the next read stores it");
        }
        stored_answer(&item, Origin::Miss)
    }
}
