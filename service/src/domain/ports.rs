//! The ports the domain calls; `adapters/` implements them for AWS and in memory.

use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;

use super::arn::ExecutionArn;
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
