//! Step Functions in memory (describe, list, start, stop, redrive, history), counting every call, for unit and
//! router tests of the domain; never proof of AWS integration.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::domain::{
    Execution, ExecutionArn, ExecutionControl, ExecutionHistory, ExecutionLister, ExecutionSource,
    ExecutionStarter, ExecutionStatus, HistoryEvent, HistoryPage, Listed, Page, RedriveError,
    RedriveStatus, SourceError, StartError, Started, StateMachineArn, StopReason,
};

/// Executions held in a map; can be switched to answer as if throttled.
#[derive(Debug, Default, Clone)]
pub struct InMemoryExecutions {
    executions: Arc<Mutex<HashMap<String, Execution>>>,
    throttled: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
    lists: Arc<AtomicUsize>,
    starts: Arc<AtomicUsize>,
    stops: Arc<AtomicUsize>,
    redrives: Arc<AtomicUsize>,
    histories: Arc<Mutex<HashMap<String, Vec<HistoryEvent>>>>,
    history_calls: Arc<AtomicUsize>,
    delay_ms: Arc<AtomicUsize>,
    /// Stops and redrives land, but reads go on saying what they said before (Step Functions'
    /// reads are eventually consistent).
    reads_lag: Arc<AtomicBool>,
}

impl InMemoryExecutions {
    pub fn insert(&self, execution: Execution) {
        let mut map = self.executions.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(execution.arn.as_str().to_owned(), execution);
    }

    pub fn set_throttled(&self, throttled: bool) {
        self.throttled.store(throttled, Ordering::SeqCst);
    }

    /// Makes every `describe` take this long, as a real upstream does.
    pub fn set_delay(&self, delay: Duration) {
        let ms = usize::try_from(delay.as_millis()).unwrap_or(usize::MAX);
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Changes a stored execution, e.g. to let a running one succeed.
    pub fn update(&self, arn: &str, change: impl FnOnce(&mut Execution)) {
        let mut map = self.executions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(execution) = map.get_mut(arn) {
            change(execution);
        }
    }

    /// How many times `describe` was called.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// How many times `start` (`StartExecution`) was called.
    pub fn starts(&self) -> usize {
        self.starts.load(Ordering::SeqCst)
    }

    /// How many times `stop` (`StopExecution`) was called.
    pub fn stops(&self) -> usize {
        self.stops.load(Ordering::SeqCst)
    }

    /// Sets the history `GetExecutionHistory` gives for `arn`.
    pub fn set_history(&self, arn: &str, events: Vec<HistoryEvent>) {
        let mut map = self.histories.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(arn.to_owned(), events);
    }

    /// How many pages of history (`GetExecutionHistory`) were read.
    pub fn history_calls(&self) -> usize {
        self.history_calls.load(Ordering::SeqCst)
    }

    /// How many times `redrive` (`RedriveExecution`) was called.
    pub fn redrives(&self) -> usize {
        self.redrives.load(Ordering::SeqCst)
    }

    /// Makes stops and redrives land without the reads after them seeing it yet.
    pub fn set_reads_lag(&self, lag: bool) {
        self.reads_lag.store(lag, Ordering::SeqCst);
    }

    /// How many times `list` (`ListExecutions`) was called.
    pub fn lists(&self) -> usize {
        self.lists.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl ExecutionSource for InMemoryExecutions {
    async fn describe(&self, arn: &ExecutionArn) -> Result<Execution, SourceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let delay = self.delay_ms.load(Ordering::SeqCst) as u64;
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.throttled.load(Ordering::SeqCst) {
            return Err(SourceError::Throttled("throttled (in-memory)".into()));
        }
        let map = self.executions.lock().unwrap_or_else(|p| p.into_inner());
        map.get(arn.as_str()).cloned().ok_or(SourceError::NotFound)
    }
}

/// How many executions one `ListExecutions` page holds by default.
const LIST_PAGE: usize = 100;

impl InMemoryExecutions {
    /// Every execution of `machine`, newest first (one `ListExecutions` call counted).
    fn all(&self, machine: &StateMachineArn) -> Result<Page, SourceError> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        if self.throttled.load(Ordering::SeqCst) {
            return Err(SourceError::Throttled("throttled (in-memory)".into()));
        }
        let map = self.executions.lock().unwrap_or_else(|p| p.into_inner());
        let mut executions: Vec<Listed> = map
            .values()
            .filter(|e| e.arn.state_machine() == machine)
            .map(|e| Listed {
                arn: e.arn.clone(),
                status: e.status,
                start_date: e.start_date,
                stop_date: e.stop_date,
            })
            .collect();
        executions.sort_by_key(|e| std::cmp::Reverse(e.start_date));
        Ok(Page {
            executions,
            next: None,
        })
    }
}

#[async_trait]
impl ExecutionLister for InMemoryExecutions {
    /// The executions of `machine`, newest first, 100 a page as `ListExecutions` gives them.
    async fn list(
        &self,
        machine: &StateMachineArn,
        next: Option<&str>,
    ) -> Result<Page, SourceError> {
        // The token is the index to start from, as opaque to callers as Step Functions' own.
        let from: usize = next.and_then(|n| n.parse().ok()).unwrap_or(0);
        let mut executions = self.all(machine)?.executions;
        let total = executions.len();
        let end = from.saturating_add(LIST_PAGE).min(total);
        Ok(Page {
            executions: executions.drain(from.min(end)..end).collect(),
            next: (end < total).then(|| end.to_string()),
        })
    }

    /// Pages of `limit`, the token being the index of the next page's first execution.
    async fn list_page(
        &self,
        machine: &StateMachineArn,
        status: Option<ExecutionStatus>,
        limit: u16,
        next: Option<&str>,
    ) -> Result<Page, SourceError> {
        let from: usize = next.and_then(|n| n.parse().ok()).unwrap_or(0);
        let mut page = self.all(machine)?;
        page.executions
            .retain(|e| status.is_none_or(|s| s == e.status));
        let total = page.executions.len();
        let end = from.saturating_add(usize::from(limit)).min(total);
        page.executions = page.executions.drain(from.min(end)..end).collect();
        page.next = (end < total).then(|| end.to_string());
        Ok(page)
    }
}

#[async_trait]
impl ExecutionStarter for InMemoryExecutions {
    /// Starts a RUNNING execution (the test decides later what it becomes).
    async fn start(
        &self,
        machine: &StateMachineArn,
        name: &str,
        input: &str,
    ) -> Result<Started, StartError> {
        self.starts.fetch_add(1, Ordering::SeqCst);
        let arn = machine
            .execution(name)
            .map_err(|e| StartError::Failed(Box::new(e)))?;
        let mut map = self.executions.lock().unwrap_or_else(|p| p.into_inner());
        if map.contains_key(arn.as_str()) {
            return Err(StartError::AlreadyExists);
        }
        let start_date = SystemTime::now();
        map.insert(
            arn.as_str().to_owned(),
            Execution::builder(arn.clone())
                .started(start_date)
                .input(input)
                .build(),
        );
        Ok(Started { arn, start_date })
    }
}

#[async_trait]
impl ExecutionControl for InMemoryExecutions {
    /// Aborts a running execution with the reason given; one that has stopped is left as it is.
    async fn stop(
        &self,
        arn: &ExecutionArn,
        reason: &StopReason,
    ) -> Result<SystemTime, SourceError> {
        self.stops.fetch_add(1, Ordering::SeqCst);
        if self.throttled.load(Ordering::SeqCst) {
            return Err(SourceError::Throttled("throttled (in-memory)".into()));
        }
        let mut map = self.executions.lock().unwrap_or_else(|p| p.into_inner());
        let execution = map.get_mut(arn.as_str()).ok_or(SourceError::NotFound)?;
        let now = crate::domain::budget::wall_clock();
        if execution.status == ExecutionStatus::Running && !self.reads_lag.load(Ordering::SeqCst) {
            execution.status = ExecutionStatus::Aborted;
            execution.stop_date = Some(now);
            execution.error.clone_from(&reason.error);
            execution.cause.clone_from(&reason.cause);
        }
        Ok(execution.stop_date.unwrap_or(now))
    }

    /// Runs a failed, timed out or aborted execution again under its ARN, as Step Functions
    /// does: not one that succeeded, runs, is marked not redrivable or stopped over 14 days ago.
    async fn redrive(&self, arn: &ExecutionArn) -> Result<SystemTime, RedriveError> {
        self.redrives.fetch_add(1, Ordering::SeqCst);
        if self.throttled.load(Ordering::SeqCst) {
            return Err(SourceError::Throttled("throttled (in-memory)".into()).into());
        }
        let mut map = self.executions.lock().unwrap_or_else(|p| p.into_inner());
        let execution = map.get_mut(arn.as_str()).ok_or(SourceError::NotFound)?;
        let now = crate::domain::budget::wall_clock();
        let redrivable = matches!(
            execution.status,
            ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted
        ) && execution.redrive_status != RedriveStatus::NotRedrivable
            && execution.finality(now) != crate::domain::Finality::Final;
        if !redrivable {
            return Err(RedriveError::NotRedrivable(format!(
                "Execution {} with status {} cannot be redriven",
                arn,
                execution.status.as_str()
            )));
        }
        if !self.reads_lag.load(Ordering::SeqCst) {
            execution.status = ExecutionStatus::Running;
            execution.stop_date = None;
            execution.output = None;
            execution.error = None;
            execution.cause = None;
            execution.redrive_count += 1;
            execution.redrive_status = RedriveStatus::Unknown;
        }
        Ok(now)
    }
}

#[async_trait]
impl ExecutionHistory for InMemoryExecutions {
    /// Pages of 1,000 events, as Step Functions gives them at most; the token is the offset.
    async fn history(
        &self,
        arn: &ExecutionArn,
        next: Option<&str>,
    ) -> Result<HistoryPage, SourceError> {
        self.history_calls.fetch_add(1, Ordering::SeqCst);
        if self.throttled.load(Ordering::SeqCst) {
            return Err(SourceError::Throttled("throttled (in-memory)".into()));
        }
        let map = self.histories.lock().unwrap_or_else(|p| p.into_inner());
        let events = map.get(arn.as_str()).ok_or(SourceError::NotFound)?;
        let from = match next {
            None => 0,
            Some(token) => token
                .parse::<usize>()
                .map_err(|_| SourceError::Failed("invalid next token (in-memory)".into()))?,
        };
        let to = (from + 1000).min(events.len());
        Ok(HistoryPage {
            events: events[from.min(to)..to].to_vec(),
            next: (to < events.len()).then(|| to.to_string()),
        })
    }
}
