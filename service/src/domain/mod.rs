//! The domain: execution ARNs, statuses, the retrieval rules and the ports they call.

pub mod arn;
pub mod execution;
pub mod flights;
pub mod ports;
pub mod retrieval;

pub use arn::{ArnError, ExecutionArn, StateMachineArn};
pub use execution::{Execution, ExecutionStatus, Finality, RedriveStatus};
pub use ports::{
    ExecutionSource, ExecutionStarter, HotCache, NoHotCache, PutOutcome, ResultStore, SourceError,
    StartError, Started, StoreError, StoredResult,
};
pub use retrieval::{Answer, CachePolicy, Origin, Results, RetrievalError, StartFailure};
