//! What the read path answers: an execution's answer (its document, finality and origin), the
//! cache policy it is stored under, and its errors.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::arn::{ArnError, ExecutionArn};
use super::execution::{ExecutionStatus, Finality};
use super::ports::{SourceError, StartError};

pub type Outcome = Result<Answer, Arc<RetrievalError>>;

/// How long the store keeps what it is given.
#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    /// How long a redrivable failure is served from the store before Step Functions is asked again.
    pub provisional_ttl: Duration,
    /// How long final results are kept; `None` keeps them until removed by hand.
    pub retention: Option<Duration>,
    /// How old the fleet's last read of a running execution may be before an instance asks
    /// Step Functions again: the tick (1 s) when only polling tells of stops; longer when
    /// Step Functions' events store results as they happen and reads are only a safety net.
    pub refresh: Duration,
}

/// Where an answer came from, for the `Cache-Status` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Served from this process's memory.
    MemoryHit,
    /// Served from the result store.
    Hit,
    /// Served from an expired store item because Step Functions could not answer.
    StaleHit,
    /// Asked Step Functions (a stopped result is then written to the store in the background).
    Miss,
    /// A read of the running execution that another instance made within the tick.
    SharedRead,
}

/// What the service knows about an execution, ready to be answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub document: Bytes,
    pub status: ExecutionStatus,
    pub finality: Finality,
    pub origin: Origin,
    /// How long the execution has run; meaningful while it runs.
    pub age: Duration,
    /// When a provisional result will be checked again.
    pub expires_at: Option<SystemTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    #[error("the execution does not exist")]
    NotFound,
    #[error("no result of this Express execution was recorded")]
    ExpressNotRecorded,
    #[error("Step Functions is unavailable and nothing is cached")]
    Unavailable(#[source] SourceError),
    #[error("Step Functions refused the request")]
    Failed(#[source] SourceError),
    #[error("the read task failed: {0}")]
    Crashed(String),
}

/// Why start-and-wait could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartFailure {
    #[error("invalid execution name: {0}")]
    InvalidName(#[source] ArnError),
    #[error("an execution with this name exists with another input")]
    Conflict,
    #[error(transparent)]
    Start(StartError),
    /// `StartExecution` did not answer in time: the execution may have started under `arn`.
    #[error("StartExecution did not answer; {0} may have started")]
    Uncertain(ExecutionArn, #[source] StartError),
    /// The name is taken, and the execution holding it could not be read to compare inputs.
    #[error("{0} exists and could not be read")]
    ExistingUnreadable(ExecutionArn, #[source] Arc<RetrievalError>),
}
