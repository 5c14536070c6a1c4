//! One-time links a person answers a waiting task from (`POST /callbacks/links`, then
//! `GET`/`POST /callbacks/{link}`).
//!
//! A link is `{id}.{a|r}.{tag}`: a random id, the answer it gives (approve or reject) and an
//! HMAC of both, so an altered link is told from an unknown one without a table read. The task
//! token, the expiry and whether the pair was used live in the table under the id, never in the
//! URL. Answering claims the pair first (a conditional write: unused and unexpired), then sends
//! the callback, so a task gets at most one answer from its links however many clicks race; a
//! callback Step Functions could not take for now (throttled, unreachable) gives the claim back.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::cursor::CursorKey;
use super::ports::{BoxError, StoreError};

/// How long a link lasts unless its maker says otherwise, and the bounds they may say.
pub const DEFAULT_LINK_LIFETIME: Duration = Duration::from_secs(24 * 3600);
pub const MIN_LINK_LIFETIME: Duration = Duration::from_secs(60);
pub const MAX_LINK_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// What an approval sends as the task's output, and a rejection as its error and cause.
pub const REJECTED_ERROR: &str = "Rejected";
pub const REJECTED_CAUSE: &str = "Rejected through a one-time link";

/// The answer a link gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    fn letter(self) -> char {
        match self {
            Self::Approve => 'a',
            Self::Reject => 'r',
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
        }
    }
}

/// A pair of links as the table keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRecord {
    pub id: String,
    pub task_token: String,
    /// Whole seconds since the epoch.
    pub expires_at: u64,
    /// What the person is asked, shown on the page (plain text).
    pub summary: Option<String>,
    /// The answer given, and when (epoch seconds).
    pub used: Option<(Decision, u64)>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This claim took the pair: send the callback.
    Taken(LinkRecord),
    /// Answered already, or expired, or never made (or deleted by the table's TTL).
    Used(LinkRecord),
    Expired(LinkRecord),
    Missing,
}

/// The table's link items.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Stores a new pair; an id already taken is an error (ids are random).
    async fn create_link(&self, record: &LinkRecord) -> Result<(), StoreError>;
    async fn link(&self, id: &str) -> Result<Option<LinkRecord>, StoreError>;
    /// Marks the pair used by `decision` if it is unused and unexpired at `now` (epoch seconds).
    async fn claim_link(
        &self,
        id: &str,
        decision: Decision,
        now: u64,
    ) -> Result<ClaimOutcome, StoreError>;
    /// Gives back a claim whose callback Step Functions could not take for now.
    async fn release_link(&self, id: &str, decision: Decision) -> Result<(), StoreError>;
}

/// Why Step Functions did not take a callback.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// `TaskTimedOut`: the task timed out, was answered, or its execution ended.
    #[error("the task no longer waits for an answer")]
    TaskOver,
    /// `TaskDoesNotExist`.
    #[error("no task has this token")]
    TaskNotFound,
    /// `InvalidToken`.
    #[error("Step Functions cannot read the task token")]
    InvalidToken,
    #[error("Step Functions throttled the callback")]
    Throttled(#[source] BoxError),
    #[error("Step Functions could not be reached")]
    Unavailable(#[source] BoxError),
    #[error("Step Functions refused the callback")]
    Failed(#[source] BoxError),
}

/// `SendTaskSuccess` and `SendTaskFailure`.
#[async_trait]
pub trait TaskCallbacks: Send + Sync {
    async fn succeed(&self, token: &str, output: &str) -> Result<(), CallbackError>;
    async fn fail(&self, token: &str, error: &str, cause: &str) -> Result<(), CallbackError>;
}

/// A new pair of links, as paths under the API's base (`callbacks/{link}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeLinks {
    pub approve: String,
    pub reject: String,
    pub expires_at: u64,
}

/// What a link's page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Not answered yet: the page asks to confirm `decision`.
    Open(LinkRecord, Decision),
    Used(LinkRecord),
    Expired(LinkRecord),
    /// Signed by this service, but the table has no such pair (never stored, or long expired).
    Gone,
    /// Not a link this service signed, or altered.
    Altered,
}

/// What answering through a link did.
#[derive(Debug)]
pub enum Answered {
    /// Sent: the task goes on (approve) or fails (reject).
    Sent(LinkRecord, Decision),
    /// The link could not be used: its state says why.
    Refused(LinkState),
    /// Step Functions had no waiting task for it any more (timed out, answered elsewhere, ended).
    TaskOver(LinkRecord, Decision),
}

#[derive(Debug, thiserror::Error)]
pub enum LinkFailure {
    #[error("the table could not be read or written")]
    Store(#[from] StoreError),
    /// Step Functions could not take the callback for now; the link may be used again.
    #[error(transparent)]
    Callback(CallbackError),
}

/// Makes, shows and answers links.
#[derive(Clone)]
pub struct Links {
    store: Arc<dyn LinkStore>,
    callbacks: Arc<dyn TaskCallbacks>,
    key: CursorKey,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links").finish_non_exhaustive()
    }
}

fn epoch(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

impl Links {
    pub fn new(
        store: Arc<dyn LinkStore>,
        callbacks: Arc<dyn TaskCallbacks>,
        key: CursorKey,
    ) -> Self {
        Self {
            store,
            callbacks,
            key,
        }
    }

    fn link(&self, id: &str, decision: Decision) -> String {
        let signed = format!("callback-link.{id}.{}", decision.letter());
        let tag = URL_SAFE_NO_PAD.encode(self.key.sign(signed.as_bytes()));
        format!("{id}.{}.{tag}", decision.letter())
    }

    /// The id and answer of a link this service signed.
    pub fn open(&self, link: &str) -> Option<(String, Decision)> {
        let mut parts = link.splitn(3, '.');
        let (id, letter, tag) = (parts.next()?, parts.next()?, parts.next()?);
        let decision = match letter {
            "a" => Decision::Approve,
            "r" => Decision::Reject,
            _ => return None,
        };
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let signed = format!("callback-link.{id}.{letter}");
        self.key
            .verify(signed.as_bytes(), &tag)
            .then(|| (id.to_owned(), decision))
    }

    /// Stores a pair for `token` and answers its links.
    pub async fn make(
        &self,
        token: String,
        lifetime: Duration,
        summary: Option<String>,
        now: SystemTime,
    ) -> Result<MadeLinks, StoreError> {
        let id = URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
        let expires_at = epoch(now) + lifetime.as_secs();
        let record = LinkRecord {
            id: id.clone(),
            task_token: token,
            expires_at,
            summary,
            used: None,
        };
        self.store.create_link(&record).await?;
        Ok(MadeLinks {
            approve: self.link(&id, Decision::Approve),
            reject: self.link(&id, Decision::Reject),
            expires_at,
        })
    }

    /// What a link's page shows; changes nothing.
    pub async fn state(&self, link: &str, now: SystemTime) -> Result<LinkState, StoreError> {
        let Some((id, decision)) = self.open(link) else {
            return Ok(LinkState::Altered);
        };
        Ok(match self.store.link(&id).await? {
            None => LinkState::Gone,
            Some(record) if record.used.is_some() => LinkState::Used(record),
            Some(record) if record.expires_at <= epoch(now) => LinkState::Expired(record),
            Some(record) => LinkState::Open(record, decision),
        })
    }

    /// Sends the link's answer, once for the pair.
    pub async fn answer(&self, link: &str, now: SystemTime) -> Result<Answered, LinkFailure> {
        let Some((id, decision)) = self.open(link) else {
            return Ok(Answered::Refused(LinkState::Altered));
        };
        let record = match self.store.claim_link(&id, decision, epoch(now)).await? {
            ClaimOutcome::Taken(record) => record,
            ClaimOutcome::Used(record) => return Ok(Answered::Refused(LinkState::Used(record))),
            ClaimOutcome::Expired(record) => {
                return Ok(Answered::Refused(LinkState::Expired(record)))
            }
            ClaimOutcome::Missing => return Ok(Answered::Refused(LinkState::Gone)),
        };
        let sent = match decision {
            Decision::Approve => {
                let output = serde_json::json!({
                    "approved": true,
                    "answeredAt": super::execution::rfc3339_millis(now),
                    "via": "link",
                });
                self.callbacks
                    .succeed(&record.task_token, &output.to_string())
                    .await
            }
            Decision::Reject => {
                self.callbacks
                    .fail(&record.task_token, REJECTED_ERROR, REJECTED_CAUSE)
                    .await
            }
        };
        match sent {
            Ok(()) => Ok(Answered::Sent(record, decision)),
            Err(
                CallbackError::TaskOver | CallbackError::TaskNotFound | CallbackError::InvalidToken,
            ) => Ok(Answered::TaskOver(record, decision)),
            Err(e) => {
                // Not taken: the person may try again (a lost release leaves the pair used).
                if let Err(release) = self.store.release_link(&id, decision).await {
                    tracing::warn!(error = %release, "a link's claim could not be given back");
                }
                Err(LinkFailure::Callback(e))
            }
        }
    }
}
