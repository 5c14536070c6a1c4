//! `GET /executions/{arn}/steps`: an execution's whole history read (`GetExecutionHistory`, 1,000
//! events a call, 25,000 at most: all Step Functions keeps), folded into steps (`steps.rs`), and
//! answered a page at a time behind a signed cursor. A stopped execution's steps are kept in
//! this instance's memory as its result would be: a success's for good, a failure's (which may
//! still be redriven) briefly; a running one's are read again for every page.

use std::sync::Arc;
use std::time::SystemTime;

use super::answer::CachePolicy;
use super::arn::ExecutionArn;
use super::budget::{bounded, wall_clock, Budget};
use super::cursor::{CursorError, CursorKey, Position};
use super::ports::{ExecutionHistory, SourceError};
use super::retrieval::out_of_time;
use super::steps::{fold, HistoryEvent};

/// The most events Step Functions keeps for one execution.
pub const MAX_HISTORY_EVENTS: usize = 25_000;

/// One execution's steps, each already in JSON, and how long they may be served.
struct Folded {
    steps: Vec<String>,
    /// `None`: final (the execution succeeded); otherwise served until then.
    fresh_until: Option<SystemTime>,
    stopped: bool,
}

/// A page of steps.
#[derive(Debug, Clone)]
pub struct StepsPage {
    /// The page's steps, each a JSON object.
    pub steps: Vec<String>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
    /// The execution had stopped when its history was read.
    pub stopped: bool,
    /// Answered from memory, with no upstream call.
    pub cached: bool,
    /// `GetExecutionHistory` calls this page made.
    pub calls: u32,
}

/// Why the steps could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum StepsFailure {
    #[error("Step Functions keeps no history of Express executions")]
    Express,
    #[error("the execution does not exist")]
    NotFound,
    #[error(transparent)]
    Cursor(#[from] CursorError),
    #[error("the cursor was issued for another execution")]
    CursorMismatch,
    #[error("Step Functions is unavailable")]
    Unavailable(#[source] SourceError),
    #[error("Step Functions refused the request")]
    Failed(#[source] SourceError),
}

impl From<SourceError> for StepsFailure {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::NotFound => Self::NotFound,
            e @ SourceError::Failed(_) => Self::Failed(e),
            e => Self::Unavailable(e),
        }
    }
}

/// Reads, folds, keeps and pages executions' steps.
#[derive(Clone)]
pub struct Timeline {
    history: Arc<dyn ExecutionHistory>,
    cache: moka::sync::Cache<ExecutionArn, Arc<Folded>>,
    key: CursorKey,
    policy: CachePolicy,
}

impl std::fmt::Debug for Timeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeline").finish_non_exhaustive()
    }
}

impl Timeline {
    /// Keeps at most `max_bytes` of stopped executions' steps in memory.
    pub fn new(
        history: Arc<dyn ExecutionHistory>,
        key: CursorKey,
        policy: CachePolicy,
        max_bytes: u64,
    ) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_: &ExecutionArn, folded: &Arc<Folded>| {
                let bytes: usize = folded.steps.iter().map(|s| s.len() + 24).sum();
                u32::try_from(bytes + 128).unwrap_or(u32::MAX)
            })
            .build();
        Self {
            history,
            cache,
            key,
            policy,
        }
    }

    /// The page of `arn`'s steps after `cursor` (the first without one), `limit` long. The
    /// cursor is checked before anything is read.
    pub async fn page(
        &self,
        arn: &ExecutionArn,
        cursor: Option<&str>,
        limit: usize,
        budget: &Budget,
    ) -> Result<StepsPage, StepsFailure> {
        if arn.is_express() {
            return Err(StepsFailure::Express);
        }
        let now = wall_clock();
        let from = match cursor {
            None => 0,
            Some(cursor) => {
                let position = self.key.open(cursor, now)?;
                if position.machine != arn.as_str() || position.status.is_some() {
                    return Err(StepsFailure::CursorMismatch);
                }
                position
                    .token
                    .parse::<usize>()
                    .map_err(|_| StepsFailure::Cursor(CursorError::Invalid))?
            }
        };
        let kept = self
            .cache
            .get(arn)
            .filter(|f| f.fresh_until.is_none_or(|until| until > now));
        let (folded, cached, calls) = match kept {
            Some(folded) => (folded, true, 0),
            None => {
                let (events, calls) = self.read(arn, budget).await?;
                let folded = Arc::new(self.fold(&events, now));
                if folded.stopped {
                    self.cache.insert(arn.clone(), folded.clone());
                }
                (folded, false, calls)
            }
        };
        let to = (from + limit).min(folded.steps.len());
        let steps = folded.steps[from.min(to)..to].to_vec();
        let next = (to < folded.steps.len()).then(|| {
            let position = Position {
                machine: arn.as_str().to_owned(),
                status: None,
                token: to.to_string(),
            };
            self.key.seal(&position, now)
        });
        Ok(StepsPage {
            steps,
            next,
            stopped: folded.stopped,
            cached,
            calls,
        })
    }

    /// Forgets `arn`'s steps (it was redriven here).
    pub fn forget(&self, arn: &ExecutionArn) {
        self.cache.invalidate(arn);
    }

    /// The whole history, a page of 1,000 events a call, within the request's budget.
    async fn read(
        &self,
        arn: &ExecutionArn,
        budget: &Budget,
    ) -> Result<(Vec<HistoryEvent>, u32), StepsFailure> {
        let mut events = Vec::new();
        let mut next: Option<String> = None;
        let mut calls = 0;
        loop {
            let page = bounded(
                budget.calls_by(),
                self.history.history(arn, next.as_deref()),
            )
            .await
            .ok_or_else(|| StepsFailure::Unavailable(out_of_time()))??;
            calls += 1;
            events.extend(page.events);
            match page.next {
                Some(token) if events.len() < MAX_HISTORY_EVENTS => next = Some(token),
                _ => return Ok((events, calls)),
            }
        }
    }

    fn fold(&self, events: &[HistoryEvent], now: SystemTime) -> Folded {
        let last = events.last().map(|e| e.kind.as_str());
        let stopped = matches!(
            last,
            Some(
                "ExecutionSucceeded" | "ExecutionFailed" | "ExecutionTimedOut" | "ExecutionAborted"
            )
        );
        let fresh_until = match last {
            Some("ExecutionSucceeded") => None,
            _ => Some(now + self.policy.provisional_ttl),
        };
        Folded {
            steps: fold(events)
                .iter()
                .map(|step| serde_json::to_string(step).unwrap_or_default())
                .collect(),
            fresh_until,
            stopped,
        }
    }
}
