//! The ports the domain calls; `adapters/` implements them for AWS and in memory.

use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;

use super::arn::{ExecutionArn, StateMachineArn};
use super::execution::{Execution, ExecutionStatus};

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

/// A stopped execution's result document as kept in the result store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResult {
    pub document: Bytes,
    pub status: ExecutionStatus,
    /// True when the result can never change; false for a redrivable failure kept briefly.
    pub is_final: bool,
    pub stored_at: SystemTime,
    /// After this instant the item is treated as absent (DynamoDB TTL deletes it later).
    pub expires_at: Option<SystemTime>,
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

/// Keeps stopped executions' results: the DynamoDB table.
#[async_trait]
pub trait ResultStore: Send + Sync {
    async fn get(&self, arn: &ExecutionArn) -> Result<Option<StoredResult>, StoreError>;
    /// Writes unless a live item is already there: the first writer wins.
    async fn put_if_absent(
        &self,
        arn: &ExecutionArn,
        result: &StoredResult,
    ) -> Result<PutOutcome, StoreError>;
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
