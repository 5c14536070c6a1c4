//! Request coalescing: reads of one execution share one upstream round trip while it is under
//! way, and reads of a still-running execution share it for the rest of the one-second tick it
//! was made in; waiters ask again at tick boundaries. So an execution costs at most one
//! `DescribeExecution` per tick however many clients read or wait on it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt, Shared};
use tokio::time::Instant;

use super::arn::ExecutionArn;
use super::execution::Finality;
use super::retrieval::{Answer, RetrievalError};

/// How often waiters ask again.
pub const TICK: Duration = Duration::from_secs(1);
/// Completed flights kept for joiners of the same tick are swept past this many entries.
const SWEEP_ABOVE: usize = 1024;

pub type Outcome = Result<Answer, Arc<RetrievalError>>;
type Flight = Shared<BoxFuture<'static, Outcome>>;

struct Entry {
    id: u64,
    tick: u64,
    flight: Flight,
}

/// The upstream reads under way (and, for waiters, the ones done during the current tick).
#[derive(Default)]
pub struct Flights {
    entries: Mutex<HashMap<ExecutionArn, Entry>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Flights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flights").finish_non_exhaustive()
    }
}

impl Flights {
    /// Joins the read of `arn` under way, or the one done during `tick`; otherwise starts `read`.
    /// The read runs as its own task, so it completes even if every client that asked has gone.
    pub async fn join<F>(&self, arn: &ExecutionArn, tick: u64, read: F) -> Outcome
    where
        F: Future<Output = Outcome> + Send + 'static,
    {
        let (id, flight) = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            match entries.get(arn) {
                Some(e) if e.flight.peek().is_none() || e.tick == tick => (None, e.flight.clone()),
                _ => {
                    if entries.len() > SWEEP_ABOVE {
                        let now = current_tick();
                        entries.retain(|_, e| e.flight.peek().is_none() || e.tick == now);
                    }
                    let task = tokio::spawn(read);
                    let flight = async move {
                        task.await.unwrap_or_else(|join| {
                            Err(Arc::new(RetrievalError::Crashed(join.to_string())))
                        })
                    }
                    .boxed()
                    .shared();
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    entries.insert(
                        arn.clone(),
                        Entry {
                            id,
                            tick,
                            flight: flight.clone(),
                        },
                    );
                    (Some(id), flight)
                }
            }
        };
        let outcome = flight.await;
        let stopped = matches!(&outcome, Ok(answer) if answer.finality != Finality::Open);
        if let (Some(id), true) = (id, stopped) {
            // A stopped result is in the memory cache now; drop the (possibly large) copy here.
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if entries.get(arn).is_some_and(|e| e.id == id) {
                entries.remove(arn);
            }
        }
        outcome
    }
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The number of the tick `now` falls in.
pub fn current_tick() -> u64 {
    tick_at(Instant::now())
}

fn tick_at(at: Instant) -> u64 {
    let since = at.saturating_duration_since(epoch());
    (since.as_millis() / TICK.as_millis()) as u64
}

/// When the next tick starts, and its number.
pub fn next_tick() -> (u64, Instant) {
    let next = current_tick() + 1;
    let at = epoch() + TICK * u32::try_from(next).unwrap_or(u32::MAX);
    (next, at)
}
