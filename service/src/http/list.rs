//! `GET /executions`: the ops view's list of a machine's executions, newest first, paged by a
//! signed cursor and a relative `Link: rel="next"`.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::headers::{cache_status, status_location, CACHE_STATUS};
use super::problem::ApiError;
use super::{counted, AppState};
use crate::domain::{ExecutionStatus, ListItem, ListRequest, StateMachineArn};

pub const DEFAULT_LIMIT: u16 = 50;
pub const MAX_LIMIT: u16 = 1000;

pub fn router() -> Router<AppState> {
    Router::new().route("/executions", counted("/executions", get(list_executions)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    state_machine: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    include: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Item<'a> {
    execution_arn: &'a str,
    name: &'a str,
    status: ExecutionStatus,
    start_date: String,
    stop_date: Option<String>,
    status_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a RawValue>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    executions: Vec<Item<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<&'a str>,
}

/// Which machine a list is of: named by the query (`GET /executions?stateMachine=`) or by the
/// route (`GET /workflows/{workflow}/executions`), which also decides where its links point.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scope<'a> {
    Query,
    Workflow(&'a StateMachineArn),
}

impl Scope<'_> {
    /// From the list's own URL to `/executions/`: status URLs are relative, so they hold behind
    /// a stage prefix.
    fn to_executions(self) -> &'static str {
        match self {
            Self::Query => "executions/",
            Self::Workflow(_) => "../../executions/",
        }
    }
}

/// Parses the query into a request; every refusal happens here, before any upstream call.
fn parse(state: &AppState, uri: &Uri, scope: Scope<'_>) -> Result<ListRequest, ApiError> {
    let Query(q) = Query::<ListQuery>::try_from_uri(uri)
        .map_err(|_| ApiError::InvalidQuery("the query string is malformed".into()))?;
    let machine = match (scope, q.state_machine) {
        (Scope::Workflow(_), Some(_)) => {
            return Err(ApiError::InvalidQuery(
                "stateMachine is not taken here: the workflow in the path names the machine".into(),
            ))
        }
        (Scope::Workflow(machine), None) => machine.clone(),
        (Scope::Query, None) => {
            return Err(ApiError::InvalidQuery(
                "stateMachine is required: the ARN of an allowed state machine".into(),
            ))
        }
        (Scope::Query, Some(machine)) => StateMachineArn::parse(machine.trim()).map_err(|e| {
            ApiError::InvalidQuery(format!("stateMachine is not a state machine ARN: {e}"))
        })?,
    };
    if !state.allowed.permits_machine(&machine) {
        return Err(ApiError::StateMachineNotAllowed);
    }
    let status = q
        .status
        .map(|s| {
            ExecutionStatus::parse(&s).ok_or_else(|| {
                ApiError::InvalidQuery(format!(
                    "status {s:?} is not one of RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE"
                ))
            })
        })
        .transpose()?;
    let limit = super::headers::page_limit(q.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let include_results = match q.include.as_deref() {
        None | Some("") => false,
        Some("result") => true,
        Some(other) => {
            return Err(ApiError::InvalidQuery(format!(
                "include {other:?} is not known; the only one is `result`"
            )))
        }
    };
    let request = ListRequest {
        machine,
        status,
        limit,
        cursor: q.cursor.filter(|c| !c.is_empty()),
        include_results,
    };
    state.listing.position(&request)?;
    Ok(request)
}

async fn list_executions(State(state): State<AppState>, uri: Uri) -> Result<Response, ApiError> {
    list_of(&state, &uri, Scope::Query).await
}

/// The list answer for `scope`.
pub(super) async fn list_of(
    state: &AppState,
    uri: &Uri,
    scope: Scope<'_>,
) -> Result<Response, ApiError> {
    let request = parse(state, uri, scope)?;
    let page = state.listing.list(&request).await?;
    let executions = page.items.iter().map(|i| item(i, scope)).collect();
    let body = Body {
        executions,
        next_cursor: page.next.as_deref(),
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        json,
    )
        .into_response();
    let origin = if state.listing.is_express(&request.machine) {
        "hit"
    } else {
        "fwd=miss"
    };
    let headers = response.headers_mut();
    headers.insert(CACHE_STATUS, cache_status(origin));
    if let Some(next) = &page.next {
        if let Ok(link) = HeaderValue::try_from(next_link(&request, next, scope)) {
            headers.insert(header::LINK, link);
        }
    }
    Ok(response)
}

fn item<'a>(item: &'a ListItem, scope: Scope<'_>) -> Item<'a> {
    let e = &item.execution;
    let location = status_location(&e.arn);
    let relative = location.to_str().unwrap_or("./").trim_start_matches("./");
    Item {
        execution_arn: e.arn.as_str(),
        name: e.arn.name(),
        status: e.status,
        start_date: crate::domain::execution::rfc3339_millis(e.start_date),
        stop_date: e.stop_date.map(crate::domain::execution::rfc3339_millis),
        status_url: format!("{}{relative}", scope.to_executions()),
        result: item
            .result
            .as_ref()
            .and_then(|doc| serde_json::from_slice::<&RawValue>(doc).ok()),
    }
}

/// `<executions?…&cursor=…>; rel="next"`, relative to the list's own URL.
fn next_link(request: &ListRequest, cursor: &str, scope: Scope<'_>) -> String {
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let mut query = match scope {
        Scope::Query => format!("stateMachine={}&", enc(request.machine.as_str())),
        Scope::Workflow(_) => String::new(),
    };
    query.push_str(&format!("limit={}", request.limit));
    if let Some(status) = request.status {
        query.push_str(&format!("&status={}", status.as_str()));
    }
    if request.include_results {
        query.push_str("&include=result");
    }
    format!("<executions?{query}&cursor={}>; rel=\"next\"", enc(cursor))
}
