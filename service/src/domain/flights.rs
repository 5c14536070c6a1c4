//! Request coalescing inside one instance: reads of one execution share one round trip while it
//! is under way, and its outcome for the rest of the poll slot it was made in. Across instances
//! the table does the same job (`fleet.rs`); this keeps each instance's share of it to one read
//! per execution per slot, however many clients wait on it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt, Shared};
use tokio::time::Instant;

use super::arn::ExecutionArn;

/// How often an instance looks at the table for an execution it is waiting on: a result that
/// another instance (or an event) stored is seen within this, and well within 0.5 s.
pub const POLL: Duration = Duration::from_millis(200);
/// How often, across the whole fleet, Step Functions is asked about a running execution.
pub const TICK: Duration = Duration::from_secs(1);
/// Outcomes kept for joiners of the same slot; more are dropped by moka's eviction, in O(1).
const RECENT_CAPACITY: u64 = 100_000;

type Flight<T> = Shared<BoxFuture<'static, T>>;

/// The reads under way, and the outcomes of those made during the current slot.
pub struct Flights<T: Clone + Send + Sync + 'static> {
    inflight: Mutex<HashMap<ExecutionArn, Flight<T>>>,
    recent: moka::sync::Cache<ExecutionArn, (u64, T)>,
}

impl<T: Clone + Send + Sync + 'static> Default for Flights<T> {
    fn default() -> Self {
        Self {
            inflight: Mutex::default(),
            recent: moka::sync::Cache::builder()
                .max_capacity(RECENT_CAPACITY)
                .time_to_live(POLL * 2)
                .build(),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> std::fmt::Debug for Flights<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flights").finish_non_exhaustive()
    }
}

impl<T: Clone + Send + Sync + 'static> Flights<T> {
    /// Joins the read of `arn` under way, or (when `reuse`) takes the outcome of the one made
    /// during `slot`; otherwise starts `read`. The read runs as its own task, so it completes (and its writes
    /// are made) even if every client that asked has gone; `crashed` answers if it panics.
    pub async fn join<F>(
        self: &Arc<Self>,
        arn: &ExecutionArn,
        slot: u64,
        reuse: bool,
        read: F,
        crashed: fn(String) -> T,
    ) -> T
    where
        F: Future<Output = T> + Send + 'static,
    {
        if reuse {
            if let Some((made_in, outcome)) = self.recent.get(arn) {
                if made_in == slot {
                    return outcome;
                }
            }
        }
        let flight = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            match inflight.get(arn) {
                Some(flight) => flight.clone(),
                None => {
                    let (this, key) = (Arc::clone(self), arn.clone());
                    let task = tokio::spawn(async move {
                        // Leaves the map even if `read` panics, so a later read starts afresh.
                        let landed = Landed { flights: this, key };
                        let outcome = read.await;
                        // Recent first, so no joiner of this slot finds neither and reads again.
                        let key = landed.key.clone();
                        landed.flights.recent.insert(key, (slot, outcome.clone()));
                        outcome
                    });
                    let flight =
                        async move { task.await.unwrap_or_else(|join| crashed(join.to_string())) }
                            .boxed()
                            .shared();
                    inflight.insert(arn.clone(), flight.clone());
                    flight
                }
            }
        };
        flight.await
    }

    /// Forgets the outcome of `arn`'s look made in this slot: what it said no longer holds (the
    /// execution was redriven here), so the next joiner looks again.
    pub fn forget(&self, arn: &ExecutionArn) {
        self.recent.invalidate(arn);
    }

    /// Reads under way (for tests of the map's size).
    pub fn in_flight(&self) -> usize {
        self.inflight.lock().map(|m| m.len()).unwrap_or(0)
    }
}

/// Removes a flight from the map when its task ends, however it ends.
struct Landed<T: Clone + Send + Sync + 'static> {
    flights: Arc<Flights<T>>,
    key: ExecutionArn,
}

impl<T: Clone + Send + Sync + 'static> Drop for Landed<T> {
    fn drop(&mut self) {
        let mut inflight = self
            .flights
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        inflight.remove(&self.key);
    }
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The number of the poll slot `now` falls in.
pub fn current_slot() -> u64 {
    let since = Instant::now().saturating_duration_since(epoch());
    (since.as_millis() / POLL.as_millis()) as u64
}

/// When the next poll slot starts.
pub fn next_slot() -> Instant {
    let next = current_slot() + 1;
    epoch() + POLL * u32::try_from(next).unwrap_or(u32::MAX)
}
