//! `POST /executions/wait` (and, for a named workflow, `http/workflows.rs`): start a STANDARD
//! machine with the body as input and wait for it:
//! the result when it is quick, a handle (202 + Location) when it is not.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde::Deserialize;

use tokio::time::Instant;

use super::executions::respond;
use super::headers::{preference_applied, requested_wait, PREFERENCE_APPLIED};
use super::problem::ApiError;
use super::{counted, AppState};
use crate::domain::{Budget, StateMachineArn};

/// Step Functions' limit on an execution's input.
pub const MAX_INPUT_BYTES: usize = 256 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/executions/wait",
            counted("/executions/wait", post(start_and_wait)),
        )
        .layer(DefaultBodyLimit::max(MAX_INPUT_BYTES))
}

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    wait: Option<String>,
    name: Option<String>,
}

async fn start_and_wait(
    State(state): State<AppState>,
    query: Result<Query<StartQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let entry = Instant::now();
    let Some(machine) = state.start_machine.as_ref() else {
        return Err(ApiError::RouteNotFound);
    };
    start_and_wait_on(&state, machine, entry, query, &headers, body).await
}

/// Starts `machine` with the body as input and waits, within a budget that began at `entry`.
pub(super) async fn start_and_wait_on(
    state: &AppState,
    machine: &StateMachineArn,
    entry: Instant,
    query: Result<Query<StartQuery>, QueryRejection>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|_| ApiError::InvalidWait("the query string is malformed".into()))?;
    let body = body.map_err(ApiError::from)?;
    let input = input_of(&body)?;
    let wait =
        requested_wait(query.wait.as_deref(), headers, state.max_wait)?.unwrap_or(state.max_wait);
    let name = query
        .name
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let budget = Budget::from_entry(entry, Some(wait));
    let (arn, answer) = state
        .results
        .start_and_wait(machine, &name, input, &budget)
        .await?;
    tracing::Span::current().record("execution_arn", arn.as_str());
    // Not conditional (a POST), but compressed as the client asks.
    let accepts: HeaderMap = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .map(|v| (header::ACCEPT_ENCODING, v.clone()))
        .collect();
    let mut response = respond(state, &arn, answer, &accepts);
    response
        .headers_mut()
        .insert(PREFERENCE_APPLIED, preference_applied(wait));
    Ok(response)
}

/// The execution input: the body as it is when it is JSON; an empty body is `{}`.
fn input_of(body: &[u8]) -> Result<&str, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::InvalidInput("the body is not UTF-8 text".into()))?;
    if text.trim().is_empty() {
        return Ok("{}");
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map_err(|e| ApiError::InvalidInput(format!("the body is not JSON: {e}")))?;
    Ok(text)
}
