//! Reconcile: Step Functions' events are best effort, so a scheduled run lists each allowed
//! STANDARD machine's executions and stores every stopped result the table is missing, within
//! a budget of upstream calls that does not grow with the machine's history.
//!
//! `ListExecutions` lists newest first, by start. A run keeps three things in the table:
//! - `top`: the newest start it has handled; the next run lists the head, from the newest
//!   execution down to `top`;
//! - `gap`: when the head was longer than one run's budget, the backlog under it, as the
//!   listing token to go on from and the floor to stop at; each run drains some of it;
//! - `open`: executions above the handled marks that were still running, or stopped but not
//!   yet described (out of budget, or Step Functions failed). Each run checks the table for
//!   them first (events usually stored them) and describes the rest, the longest-unchecked
//!   first. A running execution so never pins the marks: it waits in `open` on its own.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::arn::{ExecutionArn, StateMachineArn};
use super::budget::wall_clock;
use super::ingest::{IngestError, Ingested};
use super::ports::{Listed, SourceError};
use super::retrieval::Results;

/// At most this many open executions are kept per machine (about 200 bytes each in one item of
/// at most 400 KB); past it the longest-unchecked are dropped, with a warning.
pub const OPEN_CAP: usize = 1000;

/// What one run may spend per machine: `ListExecutions` pages (bucket 200, refill 5/s) and
/// `DescribeExecution` calls (bucket 300, refill 15/s in the largest regions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileBudget {
    pub pages: usize,
    pub describes: usize,
}

impl Default for ReconcileBudget {
    fn default() -> Self {
        Self {
            pages: 10,
            describes: 50,
        }
    }
}

/// What a run did for one machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub pages: usize,
    pub listed: usize,
    /// Stopped executions the table did not hold.
    pub missing: usize,
    pub describes: usize,
    pub stored: usize,
    /// Executions left open for the next run (running, or not described yet).
    pub open: usize,
    /// Whether a backlog is left for the next run.
    pub backlog: bool,
}

/// The backlog under the head: listing goes on from `token` (from the newest when `None`, after
/// Step Functions refused an old token) down to executions started before `floor_ms` (to the
/// oldest when `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gap {
    pub token: Option<String>,
    pub floor_ms: Option<u64>,
}

/// An execution reconcile must look at again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenExecution {
    pub arn: String,
    pub checked_ms: u64,
}

/// Where reconcile of one machine stands, as kept in the table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileState {
    /// The newest start handled (epoch ms); `None` before the first run.
    pub top_ms: Option<u64>,
    pub gap: Option<Gap>,
    #[serde(default)]
    pub open: Vec<OpenExecution>,
    /// The store's version of the item this was read from (0: none); saving is conditional on
    /// it, so two runs at once never undo each other's progress.
    #[serde(skip)]
    pub version: u64,
}

/// Epoch milliseconds.
pub fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One run's spending and findings.
struct Run {
    report: Reconciled,
    pages_left: usize,
    describes_left: usize,
    now: SystemTime,
    /// Executions listed in this run: not described again when the open ones are revisited.
    seen: HashSet<String>,
}

impl Results {
    /// Stores what the events missed for `machine`, within `budget`, and saves where it got.
    #[tracing::instrument(skip(self), fields(state_machine = %machine))]
    pub async fn reconcile(
        &self,
        machine: &StateMachineArn,
        budget: ReconcileBudget,
    ) -> Result<Reconciled, IngestError> {
        let loaded = self
            .table
            .reconcile_state(machine)
            .await
            .map_err(IngestError::Store)?;
        let mut state = loaded.clone();
        let mut run = Run {
            report: Reconciled::default(),
            pages_left: budget.pages.max(1),
            describes_left: budget.describes,
            now: wall_clock(),
            seen: HashSet::new(),
        };
        self.reconcile_head(machine, &mut run, &mut state).await?;
        self.reconcile_gap(machine, &mut run, &mut state).await?;
        self.revisit_open(&mut run, &mut state).await?;
        if state.open.len() > OPEN_CAP {
            state
                .open
                .sort_by_key(|open| std::cmp::Reverse(open.checked_ms));
            let dropped = state.open.len() - OPEN_CAP;
            state.open.truncate(OPEN_CAP);
            tracing::warn!(
                dropped,
                "reconcile: more open executions than it keeps; the longest-unchecked are left to events"
            );
        }
        run.report.open = state.open.len();
        run.report.backlog = state.gap.is_some();
        if state != loaded
            && !self
                .table
                .save_reconcile_state(machine, &state)
                .await
                .map_err(IngestError::Store)?
        {
            tracing::info!("reconcile: another run saved first; its progress stands");
        }
        let report = run.report;
        tracing::info!(
            pages = report.pages,
            listed = report.listed,
            missing = report.missing,
            describes = report.describes,
            stored = report.stored,
            open = report.open,
            backlog = report.backlog,
            "reconciled"
        );
        Ok(report)
    }

    /// Lists from the newest execution down to `top`. A head longer than the run's budget leaves
    /// the rest as the gap (an older gap is folded into it: its floor stays).
    async fn reconcile_head(
        &self,
        machine: &StateMachineArn,
        run: &mut Run,
        state: &mut ReconcileState,
    ) -> Result<(), IngestError> {
        let top = state.top_ms;
        let mut token: Option<String> = None;
        let mut newest = None::<u64>;
        loop {
            let page = self
                .lister
                .list(machine, token.as_deref())
                .await
                .map_err(IngestError::Source)?;
            run.pages_left -= 1;
            run.report.pages += 1;
            let (inside, reached) = above(page.executions, top);
            if let Some(first) = inside.first() {
                newest = newest.max(Some(millis(first.start_date)));
            }
            self.settle(run, state, inside).await?;
            match page.next {
                Some(next) if !reached => {
                    if run.pages_left == 0 || run.describes_left == 0 {
                        let floor_ms = match &state.gap {
                            Some(gap) => gap.floor_ms,
                            None => top,
                        };
                        state.gap = Some(Gap {
                            token: Some(next),
                            floor_ms,
                        });
                        break;
                    }
                    token = Some(next);
                }
                _ => break,
            }
        }
        state.top_ms = state.top_ms.max(newest);
        Ok(())
    }

    /// Goes on through the backlog with what is left of the budget.
    async fn reconcile_gap(
        &self,
        machine: &StateMachineArn,
        run: &mut Run,
        state: &mut ReconcileState,
    ) -> Result<(), IngestError> {
        while run.pages_left > 0 && run.describes_left > 0 {
            let Some(gap) = state.gap.clone() else {
                return Ok(());
            };
            let page = match self.lister.list(machine, gap.token.as_deref()).await {
                Ok(page) => page,
                // A token Step Functions no longer takes (they expire after 24 h): the backlog
                // is listed again from the newest, down to the same floor.
                Err(SourceError::Failed(err)) if gap.token.is_some() => {
                    tracing::warn!(error = %err, "reconcile: the backlog's listing token was refused; listing it again from the newest");
                    state.gap = Some(Gap { token: None, ..gap });
                    run.pages_left -= 1;
                    continue;
                }
                Err(err) => return Err(IngestError::Source(err)),
            };
            run.pages_left -= 1;
            run.report.pages += 1;
            let (inside, reached) = above(page.executions, gap.floor_ms);
            self.settle(run, state, inside).await?;
            state.gap = match page.next {
                Some(next) if !reached => Some(Gap {
                    token: Some(next),
                    ..gap
                }),
                _ => None,
            };
        }
        Ok(())
    }

    /// Handles listed executions: the stopped ones the table lacks are described and stored
    /// while the budget lasts; the rest, and the running ones, are left open.
    async fn settle(
        &self,
        run: &mut Run,
        state: &mut ReconcileState,
        listed: Vec<Listed>,
    ) -> Result<(), IngestError> {
        run.report.listed += listed.len();
        let now_ms = millis(run.now);
        run.seen
            .extend(listed.iter().map(|l| l.arn.as_str().to_owned()));
        let stopped: Vec<ExecutionArn> = listed
            .iter()
            .filter(|l| l.status.is_stopped())
            .map(|l| l.arn.clone())
            .collect();
        for running in listed.iter().filter(|l| !l.status.is_stopped()) {
            keep_open(state, &running.arn, now_ms);
        }
        let live = self
            .table
            .live_results(&stopped, run.now)
            .await
            .map_err(IngestError::Store)?;
        for arn in stopped.into_iter().filter(|arn| !live.contains(arn)) {
            run.report.missing += 1;
            if !self.describe_and_store(run, &arn).await? {
                keep_open(state, &arn, now_ms);
            }
        }
        Ok(())
    }

    /// Looks again at the open executions: drops those the table holds now, describes the rest,
    /// the longest-unchecked first, while the budget lasts.
    async fn revisit_open(
        &self,
        run: &mut Run,
        state: &mut ReconcileState,
    ) -> Result<(), IngestError> {
        if state.open.is_empty() {
            return Ok(());
        }
        let now_ms = millis(run.now);
        let arns: Vec<ExecutionArn> = state
            .open
            .iter()
            .filter_map(|open| ExecutionArn::parse(&open.arn).ok())
            .collect();
        let live = self
            .table
            .live_results(&arns, run.now)
            .await
            .map_err(IngestError::Store)?;
        state
            .open
            .retain(|open| ExecutionArn::parse(&open.arn).is_ok_and(|arn| !live.contains(&arn)));
        state.open.sort_by_key(|open| open.checked_ms);
        let mut settled = HashSet::new();
        for open in &mut state.open {
            // Looked at in this run already (listed above): not again.
            if run.describes_left == 0 || run.seen.contains(&open.arn) {
                continue;
            }
            let Ok(arn) = ExecutionArn::parse(&open.arn) else {
                continue;
            };
            // Stopped and stored, or gone (history is kept 90 days after close): settled.
            if self.describe_and_store(run, &arn).await? {
                settled.insert(open.arn.clone());
            } else {
                open.checked_ms = now_ms;
            }
        }
        state.open.retain(|open| !settled.contains(&open.arn));
        Ok(())
    }

    /// Describes a stopped execution the table lacks and stores it; `false` when it must be
    /// looked at again (out of budget, Step Functions failed, or it does not show stopped yet).
    async fn describe_and_store(
        &self,
        run: &mut Run,
        arn: &ExecutionArn,
    ) -> Result<bool, IngestError> {
        if run.describes_left == 0 {
            return Ok(false);
        }
        run.describes_left -= 1;
        run.report.describes += 1;
        match self.source.describe(arn).await {
            Ok(execution) if execution.status.is_stopped() => {
                if self.store_result(&execution).await? == Ingested::Stored {
                    run.report.stored += 1;
                }
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(SourceError::NotFound) => Ok(true),
            Err(err) => {
                tracing::warn!(execution_arn = %arn, error = %err, "reconcile: DescribeExecution failed; next run tries again");
                Ok(false)
            }
        }
    }
}

/// The executions of a page that started at or after `floor_ms` (all when `None`), and whether
/// the page went below it.
fn above(executions: Vec<Listed>, floor_ms: Option<u64>) -> (Vec<Listed>, bool) {
    let Some(floor) = floor_ms else {
        return (executions, false);
    };
    let total = executions.len();
    let inside: Vec<Listed> = executions
        .into_iter()
        .take_while(|l| millis(l.start_date) >= floor)
        .collect();
    let reached = inside.len() < total;
    (inside, reached)
}

fn keep_open(state: &mut ReconcileState, arn: &ExecutionArn, now_ms: u64) {
    match state.open.iter_mut().find(|open| open.arn == arn.as_str()) {
        Some(open) => open.checked_ms = now_ms,
        None => state.open.push(OpenExecution {
            arn: arn.as_str().to_owned(),
            checked_ms: now_ms,
        }),
    }
}
