//! In-memory adapters for unit and router tests of the domain; never proof of AWS integration.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::domain::{
    Execution, ExecutionArn, ExecutionSource, ExecutionStarter, ExecutionStatus, PutOutcome,
    RedriveStatus, ResultStore, SourceError, StartError, Started, StateMachineArn, StoreError,
    StoredResult,
};

/// Executions held in a map; can be switched to answer as if throttled.
#[derive(Debug, Default, Clone)]
pub struct InMemoryExecutions {
    executions: Arc<Mutex<HashMap<String, Execution>>>,
    throttled: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
    delay_ms: Arc<AtomicUsize>,
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

#[async_trait]
impl ExecutionStarter for InMemoryExecutions {
    /// Starts a RUNNING execution (the test decides later what it becomes).
    async fn start(
        &self,
        machine: &StateMachineArn,
        name: &str,
        input: &str,
    ) -> Result<Started, StartError> {
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
            Execution {
                arn: arn.clone(),
                state_machine_arn: machine.as_str().to_owned(),
                status: ExecutionStatus::Running,
                start_date,
                stop_date: None,
                output: None,
                error: None,
                cause: None,
                redrive_status: RedriveStatus::Unknown,
                input: Some(input.to_owned()),
            },
        );
        Ok(Started { arn, start_date })
    }
}

/// A result store in a map with DynamoDB's first-writer-wins rule; can be switched to fail.
#[derive(Debug, Default, Clone)]
pub struct InMemoryStore {
    items: Arc<Mutex<HashMap<String, StoredResult>>>,
    failing: Arc<AtomicBool>,
}

impl InMemoryStore {
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub fn item(&self, arn: &str) -> Option<StoredResult> {
        let map = self.items.lock().unwrap_or_else(|p| p.into_inner());
        map.get(arn).cloned()
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError("store unavailable (in-memory)".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl ResultStore for InMemoryStore {
    async fn get(&self, arn: &ExecutionArn) -> Result<Option<StoredResult>, StoreError> {
        self.check()?;
        Ok(self.item(arn.as_str()))
    }

    async fn put_if_absent(
        &self,
        arn: &ExecutionArn,
        result: &StoredResult,
    ) -> Result<PutOutcome, StoreError> {
        self.check()?;
        let mut map = self.items.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(arn.as_str()) {
            Some(existing) if existing.is_live(result.stored_at) => Ok(PutOutcome::AlreadyPresent),
            _ => {
                map.insert(arn.as_str().to_owned(), result.clone());
                Ok(PutOutcome::Written)
            }
        }
    }
}
