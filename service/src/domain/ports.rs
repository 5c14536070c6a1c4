//! The ports the domain calls; `adapters/` implements them for AWS and in memory.

use std::collections::HashSet;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;

use super::arn::{ExecutionArn, StateMachineArn};
use super::execution::{Execution, ExecutionStatus, Rank};
use super::reconcile::ReconcileState;

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why the execution source could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("the execution does not exist")]
    NotFound,
    #[error("Step Functions throttled the request")]
    Throttled(#[source] BoxError),
    #[error("Step Functions could not be reached or timed out")]
    Unavailable(#[source] BoxError),
    #[error("Step Functions refused the request")]
    Failed(#[source] BoxError),
}

/// Reads executions: `DescribeExecution`.
#[async_trait]
pub trait ExecutionSource: Send + Sync {
    async fn describe(&self, arn: &ExecutionArn) -> Result<Execution, SourceError>;
}

/// What a stop records on the ABORTED execution: an error code and a cause, as the client gave
/// them (Step Functions allows 256 and 32,768 characters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopReason {
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// Why a redrive was not made.
#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    /// Step Functions refused it (`ExecutionNotRedrivable`): its reason, as it gave it.
    #[error("the execution cannot be redriven: {0}")]
    NotRedrivable(String),
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Acts on executions: `StopExecution` and `RedriveExecution`.
#[async_trait]
pub trait ExecutionControl: Send + Sync {
    /// Stops the execution; answers the stop date Step Functions recorded.
    async fn stop(
        &self,
        arn: &ExecutionArn,
        reason: &StopReason,
    ) -> Result<SystemTime, SourceError>;
    /// Redrives a stopped execution from its failed states; answers the redrive date.
    async fn redrive(&self, arn: &ExecutionArn) -> Result<SystemTime, RedriveError>;
}

/// A page of an execution's history, oldest first, and Step Functions' token for the next.
#[derive(Debug, Clone, Default)]
pub struct HistoryPage {
    pub events: Vec<super::steps::HistoryEvent>,
    pub next: Option<String>,
}

/// Reads an execution's history: `GetExecutionHistory`.
#[async_trait]
pub trait ExecutionHistory: Send + Sync {
    /// One page (up to 1,000 events, oldest first) from `next`.
    async fn history(
        &self,
        arn: &ExecutionArn,
        next: Option<&str>,
    ) -> Result<HistoryPage, SourceError>;
}

/// One execution as `ListExecutions` lists it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub arn: ExecutionArn,
    pub status: ExecutionStatus,
    pub start_date: SystemTime,
    pub stop_date: Option<SystemTime>,
}

/// A page of `ListExecutions`, newest first.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub executions: Vec<Listed>,
    pub next: Option<String>,
}

/// Lists a state machine's executions: `ListExecutions`.
#[async_trait]
pub trait ExecutionLister: Send + Sync {
    async fn list(
        &self,
        machine: &StateMachineArn,
        next: Option<&str>,
    ) -> Result<Page, SourceError>;

    /// One page of at most `limit` executions, newest first, only those in `status` when given;
    /// `next` is the token of the page before. Lists in memory by default (for fakes).
    async fn list_page(
        &self,
        machine: &StateMachineArn,
        status: Option<ExecutionStatus>,
        limit: u16,
        next: Option<&str>,
    ) -> Result<Page, SourceError> {
        let mut page = self.list(machine, next).await?;
        page.executions
            .retain(|e| status.is_none_or(|s| s == e.status));
        page.executions.truncate(usize::from(limit));
        Ok(page)
    }
}

/// One execution the result store recorded (the EXPRESS machine's, from its logs), newest first.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub listed: Listed,
    /// The stored result document of a stopped execution.
    pub document: Option<Bytes>,
}

/// A page of recorded executions and the store's opaque position after it.
#[derive(Debug, Clone, Default)]
pub struct RecordedPage {
    pub executions: Vec<Recorded>,
    pub next: Option<String>,
}

/// A stopped execution's result document as kept in the result store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResult {
    pub document: Bytes,
    pub status: ExecutionStatus,
    /// True when the result can never change; false for a redrivable failure kept briefly.
    pub is_final: bool,
    pub stored_at: SystemTime,
    /// After this instant the result is treated as absent: a provisional one is read again.
    pub expires_at: Option<SystemTime>,
    /// When the store may delete the item (the TTL): never before `expires_at`, and for a
    /// provisional result as long as a final one is kept, so that its rank still refuses an
    /// older run's late result after it stopped being live.
    pub keep_until: Option<SystemTime>,
    /// A result of a greater rank (a redrive, a later stop) replaces this one even while live.
    pub rank: Rank,
}

impl StoredResult {
    pub fn is_live(&self, now: SystemTime) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Written,
    /// Another writer stored a live item first; it was left as it is.
    AlreadyPresent,
}

#[derive(Debug, thiserror::Error)]
#[error("the result store failed")]
pub struct StoreError(#[source] pub BoxError);

/// The last `DescribeExecution` of a running execution, shared with every instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedRead {
    pub document: Bytes,
    pub status: ExecutionStatus,
    pub start_date: SystemTime,
    /// When the read that produced `document` was made.
    pub read_at: SystemTime,
}

/// A remembered `ExecutionDoesNotExist`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotFoundMark {
    /// When Step Functions first said so (within the current memory of it).
    pub first_seen: SystemTime,
    /// When it last said so.
    pub last_seen: SystemTime,
}

/// Everything the table knows about one execution: its stored result and the coordination
/// state the instances share (the last read of a running execution, a read lease, a 404).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedState {
    pub result: Option<StoredResult>,
    pub read: Option<SharedRead>,
    /// An instance is reading Step Functions for this execution until then.
    pub lease_until: Option<SystemTime>,
    pub not_found: Option<NotFoundMark>,
}

/// The conditions under which an instance may take the read lease: no live result, no lease
/// held, the shared read made before `read_before`, the 404 seen before `not_found_before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub now: SystemTime,
    pub lease_until: SystemTime,
    pub read_before: SystemTime,
    pub not_found_before: SystemTime,
}

/// Keeps stopped executions' results: the DynamoDB table's result items.
#[async_trait]
pub trait ResultStore: Send + Sync {
    /// The item for `arn`, read consistently: its result and the coordination state with it.
    async fn state(&self, arn: &ExecutionArn) -> Result<SharedState, StoreError>;
    /// Writes when no result is stored, when the stored one has a lower rank (a redriven run's
    /// result replaces an earlier one), or when it has the same rank and is no longer live (a
    /// provisional result read again). A result of a greater rank is never replaced, live or
    /// not; one of the same rank that is live wins (first writer wins). Replaces any
    /// coordination state.
    async fn put_if_absent(
        &self,
        arn: &ExecutionArn,
        result: &StoredResult,
    ) -> Result<PutOutcome, StoreError>;
    /// Replaces `stored` by `result` only if the item still holds `stored`'s document; `false`
    /// when it does not (nothing written).
    async fn replace_result(
        &self,
        arn: &ExecutionArn,
        stored: &StoredResult,
        result: &StoredResult,
    ) -> Result<bool, StoreError>;
    /// Which of `arns` have a live stored result, read consistently: one `BatchGetItem` per
    /// 100 on the table. Reads them one by one by default (for fakes).
    async fn live_results(
        &self,
        arns: &[ExecutionArn],
        now: SystemTime,
    ) -> Result<HashSet<ExecutionArn>, StoreError> {
        let mut live = HashSet::new();
        for arn in arns {
            let state = self.state(arn).await?;
            if state.result.is_some_and(|r| r.is_live(now)) {
                live.insert(arn.clone());
            }
        }
        Ok(live)
    }
}

/// The state through which instances that never share memory coordinate their reads of Step
/// Functions (`fleet.rs`), kept on the result's item: every write yields to a live result.
#[async_trait]
pub trait ReadCoordination: Send + Sync {
    /// Takes the read lease if `claim`'s conditions hold; `false` when another instance has it
    /// or a result or a recent enough read is there.
    async fn claim(&self, arn: &ExecutionArn, claim: &Claim) -> Result<bool, StoreError>;
    /// Shares a read of a running execution and gives the lease up; `false` when a live
    /// result or a newer read is there (nothing written).
    async fn record_read(&self, arn: &ExecutionArn, read: &SharedRead) -> Result<bool, StoreError>;
    /// Remembers that Step Functions does not know `arn` and gives the lease up.
    async fn record_not_found(
        &self,
        arn: &ExecutionArn,
        mark: &NotFoundMark,
    ) -> Result<(), StoreError>;
    /// Holds the lease until `until` (after a failed read: the fleet backs off together).
    async fn hold_lease(&self, arn: &ExecutionArn, until: SystemTime) -> Result<(), StoreError>;
}

/// Where reconcile of each machine stands, kept under a key that is not an execution ARN.
#[async_trait]
pub trait ReconcileLedger: Send + Sync {
    /// The default state when no run saved one yet.
    async fn reconcile_state(
        &self,
        machine: &StateMachineArn,
    ) -> Result<ReconcileState, StoreError>;
    /// Saves a run's progress only if no other run saved since `state` was read (its
    /// `version`); `false` when one did, and nothing was written.
    async fn save_reconcile_state(
        &self,
        machine: &StateMachineArn,
        state: &ReconcileState,
    ) -> Result<bool, StoreError>;
}

/// The executions the store recorded: how the EXPRESS machines, which `ListExecutions` does not
/// serve, are listed.
#[async_trait]
pub trait RecordedExecutions: Send + Sync {
    /// `machine`'s recorded executions, newest first; none by default.
    async fn recorded(
        &self,
        _machine: &StateMachineArn,
        _status: Option<ExecutionStatus>,
        _limit: u16,
        _after: Option<&str>,
    ) -> Result<RecordedPage, StoreError> {
        Ok(RecordedPage::default())
    }
}

/// The whole table, as the service is wired with it; each part of the domain takes only the
/// concern it uses.
pub trait Table: ResultStore + ReadCoordination + ReconcileLedger + RecordedExecutions {}

impl<T> Table for T where
    T: ResultStore + ReadCoordination + ReconcileLedger + RecordedExecutions + ?Sized
{
}

/// An in-process cache of stopped executions' results, in front of the result store.
pub trait HotCache: Send + Sync {
    fn get(&self, arn: &ExecutionArn) -> Option<StoredResult>;
    fn insert(&self, arn: &ExecutionArn, result: StoredResult);
}

/// No in-process cache: every read goes to the result store.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHotCache;

impl HotCache for NoHotCache {
    fn get(&self, _: &ExecutionArn) -> Option<StoredResult> {
        None
    }

    fn insert(&self, _: &ExecutionArn, _: StoredResult) {}
}

/// What `StartExecution` answered.
#[derive(Debug, Clone)]
pub struct Started {
    pub arn: ExecutionArn,
    pub start_date: SystemTime,
}

/// Why an execution could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("an execution with this name already exists")]
    AlreadyExists,
    #[error("Step Functions refused the input: {0}")]
    InvalidInput(String),
    #[error("Step Functions throttled the request")]
    Throttled(#[source] BoxError),
    #[error("Step Functions could not be reached or timed out")]
    Unavailable(#[source] BoxError),
    #[error("Step Functions refused the request")]
    Failed(#[source] BoxError),
}

/// Starts executions: `StartExecution`.
#[async_trait]
pub trait ExecutionStarter: Send + Sync {
    async fn start(
        &self,
        machine: &StateMachineArn,
        name: &str,
        input: &str,
    ) -> Result<Started, StartError>;
}
