//! The ops view's lists: a machine's executions, newest first, from `ListExecutions` for
//! STANDARD machines (identical lists within a second share one call) and from the result
//! store for the EXPRESS machines Step Functions does not list.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use tokio::sync::OnceCell;

use super::arn::{ExecutionArn, StateMachineArn};
use super::cursor::{CursorError, CursorKey, Position};
use super::execution::ExecutionStatus;
use super::ports::{
    ExecutionLister, HotCache, Listed, Page, RecordedExecutions, ResultStore, SourceError,
    StoreError, Table,
};

/// Identical lists within this share one upstream call.
pub const COALESCE_FOR: Duration = Duration::from_secs(1);
/// Table reads at once when results are embedded.
const EMBED_CONCURRENCY: usize = 16;

/// What a client asked to list.
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub machine: StateMachineArn,
    pub status: Option<ExecutionStatus>,
    pub limit: u16,
    /// The cursor of the page before, as the client sent it.
    pub cursor: Option<String>,
    /// Embed the result documents already stored (never a `DescribeExecution`).
    pub include_results: bool,
}

/// One listed execution, with its stored result when asked for and known.
#[derive(Debug, Clone)]
pub struct ListItem {
    pub execution: Listed,
    pub result: Option<Bytes>,
}

#[derive(Debug, Clone)]
pub struct ListPage {
    pub items: Vec<ListItem>,
    /// The cursor of the next page.
    pub next: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    Cursor(#[from] CursorError),
    #[error("the cursor belongs to another query")]
    CursorMismatch,
    #[error("Step Functions could not list the executions")]
    Source(#[source] Arc<SourceError>),
    #[error("the result store could not list the executions")]
    Store(#[source] StoreError),
}

type Shared = Arc<OnceCell<Result<Page, Arc<SourceError>>>>;

/// Lists executions for the ops view.
#[derive(Clone)]
pub struct Listing {
    lister: Arc<dyn ExecutionLister>,
    /// Stored results, embedded in lists of STANDARD machines.
    store: Arc<dyn ResultStore>,
    /// The EXPRESS machines' executions, as their logs recorded them.
    recorded: Arc<dyn RecordedExecutions>,
    hot: Arc<dyn HotCache>,
    express: Arc<[StateMachineArn]>,
    key: CursorKey,
    /// Lists made within the last second, by query: their callers share one upstream call.
    recent: moka::sync::Cache<(StateMachineArn, Option<&'static str>, u16, String), Shared>,
}

impl std::fmt::Debug for Listing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listing")
            .field("express", &self.express.len())
            .finish_non_exhaustive()
    }
}

impl Listing {
    pub fn new(
        lister: Arc<dyn ExecutionLister>,
        table: Arc<dyn Table>,
        hot: Arc<dyn HotCache>,
        express: Vec<StateMachineArn>,
        key: CursorKey,
    ) -> Self {
        Self {
            lister,
            store: table.clone(),
            recorded: table,
            hot,
            express: express.into(),
            key,
            recent: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(COALESCE_FOR)
                .build(),
        }
    }

    pub fn is_express(&self, machine: &StateMachineArn) -> bool {
        self.express.contains(machine)
    }

    /// Checks a cursor against the query it is sent with, before anything is called.
    pub fn position(&self, request: &ListRequest) -> Result<Option<String>, ListError> {
        let Some(cursor) = &request.cursor else {
            return Ok(None);
        };
        let position = self.key.open(cursor, SystemTime::now())?;
        let same = position.machine == request.machine.as_str()
            && position.status.as_deref() == request.status.map(ExecutionStatus::as_str);
        if !same {
            return Err(ListError::CursorMismatch);
        }
        Ok(Some(position.token))
    }

    pub async fn list(&self, request: &ListRequest) -> Result<ListPage, ListError> {
        let token = self.position(request)?;
        let (items, next) = if self.is_express(&request.machine) {
            let page = self
                .recorded
                .recorded(
                    &request.machine,
                    request.status,
                    request.limit,
                    token.as_deref(),
                )
                .await
                .map_err(ListError::Store)?;
            let items = page
                .executions
                .into_iter()
                .map(|r| ListItem {
                    execution: r.listed,
                    result: r.document.filter(|_| request.include_results),
                })
                .collect();
            (items, page.next)
        } else {
            let page = self.coalesced(request, token).await?;
            let mut items: Vec<ListItem> = page
                .executions
                .into_iter()
                .map(|execution| ListItem {
                    execution,
                    result: None,
                })
                .collect();
            if request.include_results {
                self.embed(&mut items).await;
            }
            (items, page.next)
        };
        let next = next.map(|token| {
            let position = Position {
                machine: request.machine.as_str().to_owned(),
                status: request.status.map(|s| s.as_str().to_owned()),
                token,
            };
            self.key.seal(&position, SystemTime::now())
        });
        Ok(ListPage { items, next })
    }

    async fn coalesced(
        &self,
        request: &ListRequest,
        token: Option<String>,
    ) -> Result<Page, ListError> {
        let key = (
            request.machine.clone(),
            request.status.map(ExecutionStatus::as_str),
            request.limit,
            token.clone().unwrap_or_default(),
        );
        let cell = self.recent.get_with(key, Shared::default);
        let outcome = cell
            .get_or_init(|| async {
                self.lister
                    .list_page(
                        &request.machine,
                        request.status,
                        request.limit,
                        token.as_deref(),
                    )
                    .await
                    .map_err(Arc::new)
            })
            .await;
        outcome.clone().map_err(ListError::Source)
    }

    /// Adds the stored results of stopped executions: memory first, then the table.
    async fn embed(&self, items: &mut [ListItem]) {
        let stopped: Vec<ExecutionArn> = items
            .iter()
            .filter(|item| item.execution.status.is_stopped())
            .map(|item| item.execution.arn.clone())
            .collect();
        // Owned futures: a borrowing closure here trips axum's `Send` bound on the handler.
        let reads = stopped.into_iter().map(|arn| {
            let (hot, store) = (self.hot.clone(), self.store.clone());
            async move {
                if let Some(hit) = hot.get(&arn) {
                    return (arn, Some(hit.document));
                }
                let found = match store.state(&arn).await {
                    Ok(state) => state
                        .result
                        .filter(|r| r.is_live(SystemTime::now()))
                        .map(|r| r.document),
                    Err(_) => None,
                };
                (arn, found)
            }
        });
        let found: Vec<(ExecutionArn, Option<Bytes>)> = stream::iter(reads)
            .buffered(EMBED_CONCURRENCY)
            .collect()
            .await;
        let mut found = found.into_iter().peekable();
        for item in items.iter_mut() {
            if found
                .peek()
                .is_some_and(|(arn, _)| *arn == item.execution.arn)
            {
                item.result = found.next().and_then(|(_, document)| document);
            }
        }
    }
}
