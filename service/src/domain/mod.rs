//! The domain: ARNs, executions and workflows; the read path, events' ingestion, reconcile, the
//! ops lists and webhooks; and the ports they call (see `lib.rs` for the map).

pub mod answer;
pub mod arn;
pub mod budget;
pub mod cursor;
pub mod execution;
pub mod execution_builder;
pub mod fleet;
pub mod flights;
pub mod ingest;
pub mod keeper;
pub mod links;
pub mod listing;
pub mod metrics;
pub mod ports;
pub mod reconcile;
pub mod retrieval;
pub mod steering;
pub mod steps;
pub mod timeline;
pub mod webhooks;
pub mod workflows;

pub use arn::{ArnError, ExecutionArn, StateMachineArn};
pub use budget::Budget;
pub use cursor::{CursorError, CursorKey};
pub use execution::{Execution, ExecutionStatus, Finality, Rank, RedriveStatus, UNKNOWN_START};
pub use execution_builder::ExecutionBuilder;
pub use fleet::{Fleet, Step};
pub use ingest::{IngestError, Ingested};
pub use keeper::Keeper;
pub use links::{
    Answered, CallbackError, ClaimOutcome, Decision, LinkFailure, LinkRecord, LinkState, LinkStore,
    Links, MadeLinks, TaskCallbacks,
};
pub use listing::{ListError, ListItem, ListPage, ListRequest, Listing};
pub use ports::{
    Claim, ExecutionControl, ExecutionHistory, ExecutionLister, ExecutionSource, ExecutionStarter,
    HistoryPage, HotCache, Listed, NoHotCache, NotFoundMark, Page, PutOutcome, ReadCoordination,
    ReconcileLedger, Recorded, RecordedExecutions, RecordedPage, RedriveError, ResultStore,
    SharedRead, SharedState, SourceError, StartError, Started, StopReason, StoreError,
    StoredResult, Table,
};
pub use reconcile::{Gap, OpenExecution, ReconcileBudget, ReconcileState, Reconciled};
pub use retrieval::{Answer, CachePolicy, Origin, Outcome, Results, RetrievalError, StartFailure};
pub use steering::{ControlFailure, Steering, Stopped};
pub use steps::{HistoryEvent, StepStatus};
pub use timeline::{StepsFailure, StepsPage, Timeline};
pub use workflows::{DuplicateName, Workflow, WorkflowType, Workflows};
