//! In-memory adapters for unit and router tests of the domain; never proof of AWS integration.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::domain::{
    Claim, Execution, ExecutionArn, ExecutionControl, ExecutionLister, ExecutionSource,
    ExecutionStarter, ExecutionStatus, Listed, NotFoundMark, Page, PutOutcome, ReadCoordination,
    ReconcileLedger, ReconcileState, RecordedExecutions, ResultStore, SharedRead, SharedState,
    SourceError, StartError, Started, StateMachineArn, StopReason, StoreError, StoredResult,
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
    delay_ms: Arc<AtomicUsize>,
    /// Stops land, but reads go on saying RUNNING (Step Functions' reads are eventually
    /// consistent).
    stale_after_stop: Arc<AtomicBool>,
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

    /// Makes a stop land without the reads after it seeing it yet.
    pub fn set_stale_after_stop(&self, stale: bool) {
        self.stale_after_stop.store(stale, Ordering::SeqCst);
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
        if execution.status == ExecutionStatus::Running
            && !self.stale_after_stop.load(Ordering::SeqCst)
        {
            execution.status = ExecutionStatus::Aborted;
            execution.stop_date = Some(now);
            execution.error.clone_from(&reason.error);
            execution.cause.clone_from(&reason.cause);
        }
        Ok(execution.stop_date.unwrap_or(now))
    }
}

/// A result store in a map with the table's conditions (first writer wins, one lease holder);
/// can be switched to fail.
#[derive(Debug, Default, Clone)]
pub struct InMemoryStore {
    items: Arc<Mutex<HashMap<String, SharedState>>>,
    reconciles: Arc<Mutex<HashMap<String, ReconcileState>>>,
    failing: Arc<AtomicBool>,
}

impl InMemoryStore {
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// The stored result for `arn`, if any.
    pub fn item(&self, arn: &str) -> Option<StoredResult> {
        let map = self.items.lock().unwrap_or_else(|p| p.into_inner());
        map.get(arn).and_then(|state| state.result.clone())
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError("store unavailable (in-memory)".into()))
        } else {
            Ok(())
        }
    }

    /// Runs `change` on `arn`'s state when no live result is stored; whether it ran.
    fn coordinate(
        &self,
        arn: &ExecutionArn,
        now: SystemTime,
        change: impl FnOnce(&mut SharedState) -> bool,
    ) -> Result<bool, StoreError> {
        self.check()?;
        let mut map = self.items.lock().unwrap_or_else(|p| p.into_inner());
        let state = map.entry(arn.as_str().to_owned()).or_default();
        if state.result.as_ref().is_some_and(|r| r.is_live(now)) {
            return Ok(false);
        }
        Ok(change(state))
    }
}

#[async_trait]
impl ResultStore for InMemoryStore {
    async fn state(&self, arn: &ExecutionArn) -> Result<SharedState, StoreError> {
        self.check()?;
        let map = self.items.lock().unwrap_or_else(|p| p.into_inner());
        Ok(map.get(arn.as_str()).cloned().unwrap_or_default())
    }

    async fn put_if_absent(
        &self,
        arn: &ExecutionArn,
        result: &StoredResult,
    ) -> Result<PutOutcome, StoreError> {
        self.check()?;
        let mut map = self.items.lock().unwrap_or_else(|p| p.into_inner());
        let state = map.entry(arn.as_str().to_owned()).or_default();
        // The table's condition: a greater rank is never replaced, live or not; the same rank
        // only once it is no longer live.
        let written = match &state.result {
            Some(stored) => {
                stored.rank < result.rank
                    || (stored.rank == result.rank && !stored.is_live(result.stored_at))
            }
            None => true,
        };
        if written {
            *state = SharedState {
                result: Some(result.clone()),
                ..SharedState::default()
            };
        }
        Ok(if written {
            PutOutcome::Written
        } else {
            PutOutcome::AlreadyPresent
        })
    }

    async fn replace_result(
        &self,
        arn: &ExecutionArn,
        stored: &StoredResult,
        result: &StoredResult,
    ) -> Result<bool, StoreError> {
        self.check()?;
        let mut map = self.items.lock().unwrap_or_else(|p| p.into_inner());
        let state = map.entry(arn.as_str().to_owned()).or_default();
        if state
            .result
            .as_ref()
            .is_none_or(|r| r.document != stored.document)
        {
            return Ok(false);
        }
        *state = SharedState {
            result: Some(result.clone()),
            ..SharedState::default()
        };
        Ok(true)
    }
}

#[async_trait]
impl ReadCoordination for InMemoryStore {
    async fn claim(&self, arn: &ExecutionArn, claim: &Claim) -> Result<bool, StoreError> {
        self.coordinate(arn, claim.now, |state| {
            let free = state.lease_until.is_none_or(|at| at < claim.now)
                && state
                    .read
                    .as_ref()
                    .is_none_or(|r| r.read_at < claim.read_before)
                && state
                    .not_found
                    .is_none_or(|m| m.last_seen < claim.not_found_before);
            if free {
                state.lease_until = Some(claim.lease_until);
            }
            free
        })
    }

    async fn record_read(&self, arn: &ExecutionArn, read: &SharedRead) -> Result<bool, StoreError> {
        self.coordinate(arn, read.read_at, |state| {
            let newer = state.read.as_ref().is_none_or(|r| r.read_at < read.read_at);
            if newer {
                state.read = Some(read.clone());
                state.lease_until = None;
            }
            newer
        })
    }

    async fn record_not_found(
        &self,
        arn: &ExecutionArn,
        mark: &NotFoundMark,
    ) -> Result<(), StoreError> {
        self.coordinate(arn, mark.last_seen, |state| {
            state.not_found = Some(*mark);
            state.lease_until = None;
            true
        })
        .map(drop)
    }

    async fn hold_lease(&self, arn: &ExecutionArn, until: SystemTime) -> Result<(), StoreError> {
        self.coordinate(arn, crate::domain::budget::wall_clock(), |state| {
            state.lease_until = Some(until);
            true
        })
        .map(drop)
    }
}

#[async_trait]
impl ReconcileLedger for InMemoryStore {
    async fn reconcile_state(
        &self,
        machine: &StateMachineArn,
    ) -> Result<ReconcileState, StoreError> {
        self.check()?;
        let states = self.reconciles.lock().unwrap_or_else(|p| p.into_inner());
        Ok(states.get(machine.as_str()).cloned().unwrap_or_default())
    }

    async fn save_reconcile_state(
        &self,
        machine: &StateMachineArn,
        state: &ReconcileState,
    ) -> Result<bool, StoreError> {
        self.check()?;
        let mut states = self.reconciles.lock().unwrap_or_else(|p| p.into_inner());
        let stored = states.entry(machine.as_str().to_owned()).or_default();
        if stored.version != state.version {
            return Ok(false);
        }
        *stored = ReconcileState {
            version: state.version + 1,
            ..state.clone()
        };
        Ok(true)
    }
}

impl RecordedExecutions for InMemoryStore {}

#[cfg(test)]
mod tests {
    use super::InMemoryStore;

    #[tokio::test]
    async fn the_in_memory_store_keeps_every_conditional_rule_the_table_keeps() {
        super::super::conformance::run(&InMemoryStore::default()).await;
    }
}
