//! The results table in memory, with DynamoDB's conditions, for unit and router tests of the
//! domain; never proof of AWS integration (`conformance.rs` holds it to the table's rules).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;

use crate::domain::{
    Claim, ClaimOutcome, Decision, ExecutionArn, LinkRecord, LinkStore, NotFoundMark, PutOutcome,
    ReadCoordination, ReconcileLedger, ReconcileState, RecordedExecutions, ResultStore, SharedRead,
    SharedState, StateMachineArn, StoreError, StoredResult,
};

/// A result store in a map with the table's conditions (first writer wins, one lease holder);
/// can be switched to fail.
#[derive(Debug, Default, Clone)]
pub struct InMemoryStore {
    items: Arc<Mutex<HashMap<String, SharedState>>>,
    reconciles: Arc<Mutex<HashMap<String, ReconcileState>>>,
    links: Arc<Mutex<HashMap<String, LinkRecord>>>,
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

/// The table's link conditions: an id is made once; a claim takes an unused, unexpired pair; a
/// release gives back only the claim it names.
#[async_trait]
impl LinkStore for InMemoryStore {
    async fn create_link(&self, record: &LinkRecord) -> Result<(), StoreError> {
        self.check()?;
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        if links.contains_key(&record.id) {
            return Err(StoreError("the link id is taken (in-memory)".into()));
        }
        links.insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn link(&self, id: &str) -> Result<Option<LinkRecord>, StoreError> {
        self.check()?;
        let links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        Ok(links.get(id).cloned())
    }

    async fn claim_link(
        &self,
        id: &str,
        decision: Decision,
        now: u64,
    ) -> Result<ClaimOutcome, StoreError> {
        self.check()?;
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        let Some(record) = links.get_mut(id) else {
            return Ok(ClaimOutcome::Missing);
        };
        Ok(if record.used.is_some() {
            ClaimOutcome::Used(record.clone())
        } else if record.expires_at <= now {
            ClaimOutcome::Expired(record.clone())
        } else {
            record.used = Some((decision, now));
            ClaimOutcome::Taken(record.clone())
        })
    }

    async fn release_link(&self, id: &str, decision: Decision) -> Result<(), StoreError> {
        self.check()?;
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(record) = links.get_mut(id) {
            if record.used.is_some_and(|(used, _)| used == decision) {
                record.used = None;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::InMemoryStore;

    #[tokio::test]
    async fn the_in_memory_store_keeps_every_conditional_rule_the_table_keeps() {
        super::super::conformance::run(&InMemoryStore::default()).await;
    }

    #[tokio::test]
    async fn the_in_memory_store_keeps_every_link_rule_the_table_keeps() {
        super::super::links_conformance::run(&InMemoryStore::default()).await;
    }
}
