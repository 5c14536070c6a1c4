//! The domain: execution ARNs, statuses, the retrieval rules and the ports they call.

pub mod arn;
pub mod execution;
pub mod ports;
pub mod retrieval;

pub use arn::{ArnError, ExecutionArn, StateMachineArn};
pub use execution::{Execution, ExecutionStatus, Finality, RedriveStatus};
pub use ports::{ExecutionSource, PutOutcome, ResultStore, SourceError, StoreError, StoredResult};
pub use retrieval::{Answer, CachePolicy, Origin, Results, RetrievalError};
