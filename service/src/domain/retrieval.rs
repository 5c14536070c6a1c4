//! The read path of the cache rules: result store, then Step Functions, then store what is final.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::arn::ExecutionArn;
use super::execution::{ExecutionStatus, Finality};
use super::ports::{ExecutionSource, PutOutcome, ResultStore, SourceError, StoredResult};

/// How long the store keeps what it is given.
#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    /// How long a redrivable failure is served from the store before Step Functions is asked again.
    pub provisional_ttl: Duration,
    /// How long final results are kept; `None` keeps them until removed by hand.
    pub retention: Option<Duration>,
}

/// Where an answer came from, for the `Cache-Status` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Served from the result store.
    Hit,
    /// Served from an expired store item because Step Functions could not answer.
    StaleHit,
    /// Asked Step Functions; `stored` says whether this request wrote the store.
    Miss { stored: bool },
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
    #[error("Step Functions is unavailable and nothing is cached")]
    Unavailable(#[source] SourceError),
    #[error("Step Functions refused the request")]
    Failed(#[source] SourceError),
}

/// Executions' results, read through the store.
#[derive(Clone)]
pub struct Results {
    source: Arc<dyn ExecutionSource>,
    store: Arc<dyn ResultStore>,
    policy: CachePolicy,
}

impl std::fmt::Debug for Results {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Results")
            .field("policy", &self.policy)
            .finish()
    }
}

impl Results {
    pub fn new(
        source: Arc<dyn ExecutionSource>,
        store: Arc<dyn ResultStore>,
        policy: CachePolicy,
    ) -> Self {
        Self {
            source,
            store,
            policy,
        }
    }

    /// Store, then on a miss `DescribeExecution`, then store the result if it stopped.
    /// A store failure never fails the request; a Step Functions failure never hides what is stored.
    #[tracing::instrument(skip(self), fields(execution_arn = %arn))]
    pub async fn get(&self, arn: &ExecutionArn) -> Result<Answer, RetrievalError> {
        let now = SystemTime::now();
        let cached = match self.store.get(arn).await {
            Ok(item) => item,
            Err(err) => {
                tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "result store read failed; asking Step Functions");
                None
            }
        };
        if let Some(item) = &cached {
            if item.is_live(now) {
                return Ok(Self::stored_answer(item, Origin::Hit));
            }
        }
        let execution = match self.source.describe(arn).await {
            Ok(execution) => execution,
            Err(SourceError::NotFound) => return Err(RetrievalError::NotFound),
            Err(err) => {
                tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "DescribeExecution failed");
                return match (cached, err) {
                    (Some(item), _) => Ok(Self::stored_answer(&item, Origin::StaleHit)),
                    (None, err @ SourceError::Failed(_)) => Err(RetrievalError::Failed(err)),
                    (None, err) => Err(RetrievalError::Unavailable(err)),
                };
            }
        };
        let document = execution.document();
        let finality = execution.finality(now);
        let expires_at = match finality {
            Finality::Open => None,
            Finality::Final => self.policy.retention.map(|keep| now + keep),
            Finality::Provisional => Some(now + self.policy.provisional_ttl),
        };
        let mut stored = false;
        if finality != Finality::Open {
            let item = StoredResult {
                document: document.clone(),
                status: execution.status,
                is_final: finality == Finality::Final,
                stored_at: now,
                expires_at,
            };
            match self.store.put_if_absent(arn, &item).await {
                Ok(PutOutcome::Written) => stored = true,
                Ok(PutOutcome::AlreadyPresent) => {}
                Err(err) => {
                    tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "result store write failed; answering anyway");
                }
            }
        }
        Ok(Answer {
            document,
            status: execution.status,
            finality,
            origin: Origin::Miss { stored },
            age: execution.age(now),
            expires_at: (finality == Finality::Provisional)
                .then_some(expires_at)
                .flatten(),
        })
    }

    fn stored_answer(item: &StoredResult, origin: Origin) -> Answer {
        Answer {
            document: item.document.clone(),
            status: item.status,
            finality: if item.is_final {
                Finality::Final
            } else {
                Finality::Provisional
            },
            origin,
            age: Duration::ZERO,
            expires_at: if item.is_final { None } else { item.expires_at },
        }
    }
}
