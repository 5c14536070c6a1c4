//! A request's time budget, taken at entry, so no answer outlasts API Gateway's 29 s.
//!
//! The arithmetic: API Gateway cuts an integration at 29 s; the service keeps 2 s of that for
//! the gateway, Lambda's own overhead and the network (`REQUEST_BUDGET`, 27 s). Writes made after
//! the answer is decided (the cache write; under Lambda the invocation waits for them) get at
//! most `WRITE_RESERVE` (2 s, the DynamoDB operation timeout), so reads and waits must be done by
//! `READ_BUDGET` = 27 − 2 = 25 s after entry, which is also the cap on `MAX_WAIT_SECONDS`. Every
//! upstream call is bounded by what is left of the read budget, so the worst case is
//! 25 s + 2 s = 27 s whatever the upstreams do.

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// API Gateway's integration timeout.
pub const GATEWAY_TIMEOUT: Duration = Duration::from_secs(29);
/// The longest a request may take inside the service.
pub const REQUEST_BUDGET: Duration = Duration::from_secs(27);
/// What the writes made after an answer may take.
pub const WRITE_RESERVE: Duration = Duration::from_secs(2);
/// By when, after entry, every read and wait is done.
pub const READ_BUDGET: Duration = REQUEST_BUDGET.saturating_sub(WRITE_RESERVE);
/// What a look at an execution may take however short the wait: a table read (2 s), a lease
/// (2 s) and `DescribeExecution` (5 s), one after another.
pub const FIRST_LOOK: Duration = Duration::from_secs(9);

const _: () = assert!(REQUEST_BUDGET.as_millis() < GATEWAY_TIMEOUT.as_millis());

/// When a request must have its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub entry: Instant,
    /// Reads and waits end here; the answer follows at once.
    pub answer_by: Instant,
}

impl Budget {
    /// A budget from `entry`: a wait of `wait` (at most the read budget), or the whole read
    /// budget for a request that does not wait.
    pub fn from_entry(entry: Instant, wait: Option<Duration>) -> Self {
        let span = wait.map_or(READ_BUDGET, |w| w.min(READ_BUDGET));
        Self {
            entry,
            answer_by: entry + span,
        }
    }

    /// The latest any upstream call of this request may end: the read budget from entry.
    pub fn calls_by(&self) -> Instant {
        self.entry + READ_BUDGET
    }
}

/// The wall-clock time, advanced by tokio's clock: the same as `SystemTime::now()` in a running
/// service, and consistent with tokio's paused time in tests.
pub fn wall_clock() -> SystemTime {
    static BASE: OnceLock<(SystemTime, Instant)> = OnceLock::new();
    let (wall, at) = *BASE.get_or_init(|| (SystemTime::now(), Instant::now()));
    wall + Instant::now().saturating_duration_since(at)
}

/// Runs `call` until `by`; `None` when the time ran out first.
pub async fn bounded<F: Future>(by: Instant, call: F) -> Option<F::Output> {
    tokio::time::timeout_at(by, call).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_case_stays_under_the_gateway_timeout() {
        assert_eq!(READ_BUDGET, Duration::from_secs(25));
        assert!(READ_BUDGET + WRITE_RESERVE < GATEWAY_TIMEOUT);
        let entry = Instant::now();
        let budget = Budget::from_entry(entry, Some(Duration::from_secs(600)));
        assert_eq!(budget.answer_by - entry, READ_BUDGET);
    }
}
