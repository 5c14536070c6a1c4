//! `GET /executions/{executionArn}`: an execution's state and result, with HTTP caching semantics;
//! the route's POST goes to `steering.rs`.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::headers::{
    preference_applied, requested_wait, retry_after, status_location, CACHE_STATUS, PREFER,
    PREFERENCE_APPLIED,
};
use super::prepared::Prepared;
use super::problem::ApiError;
use super::{with_shared_headers, AppState};
use tokio::time::Instant;

use crate::domain::{Answer, ArnError, Budget, ExecutionArn, Finality, Origin};
use crate::emf::RouteCounters;

/// Final results never change: let any client keep them for a year.
const IMMUTABLE: &str = "private, max-age=31536000, immutable";

pub fn router() -> Router<AppState> {
    // A catch-all, so an ARN holding an encoded or raw `/` is answered 400 rather than 404.
    // Its POST is the actions on an execution (`steering.rs`).
    Router::new().route(
        ROUTE,
        get(get_execution).merge(
            post(super::steering::post_action)
                .layer(DefaultBodyLimit::max(super::steering::MAX_STOP_BYTES)),
        ),
    )
}

#[derive(Debug, Deserialize)]
pub struct WaitQuery {
    pub wait: Option<String>,
}

const ROUTE: &str = "/executions/{*execution_arn}";

/// Answers a hot hit from its prepared answer before anything else is looked at; every other
/// request takes the whole path. Counted here rather than by `counted`, which would wrap the
/// route in one more boxed service per request. (With no CORS and no debug trace, `App` answers
/// hot hits before routing and only the rest reach this handler.)
async fn get_execution(State(state): State<AppState>, request: Request) -> Response {
    if let Some(hit) = hot_hit(&state, request.uri(), request.headers()) {
        return hit;
    }
    let response = read(state, request)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    counters().count(response.status().as_u16());
    response
}

/// The route's counters, registered once.
fn counters() -> &'static RouteCounters {
    static COUNTERS: OnceLock<&RouteCounters> = OnceLock::new();
    COUNTERS.get_or_init(|| RouteCounters::of(ROUTE))
}

/// A final result in this process's memory, asked for without a wait: the ARN is looked up as
/// written (no decoding, no parsing, no allocation; an encoded one takes the whole path). The
/// answer is counted and carries the shared headers.
pub(super) fn hot_hit(state: &AppState, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    if uri.query().is_some() || headers.contains_key(PREFER) {
        return None;
    }
    let arn = uri.path().strip_prefix("/executions/")?;
    if arn.contains('%') {
        return None;
    }
    let prepared = state.prepared.get(arn)?;
    state.count_answer(Origin::MemoryHit);
    let mut response = with_shared_headers(prepared.respond(
        headers,
        cache_status(Origin::MemoryHit),
        state.compression,
    ));
    // As axum's routes do: the length of a body of known size.
    if let Some(length) = axum::body::HttpBody::size_hint(response.body()).exact() {
        if !response.headers().contains_key(header::CONTENT_LENGTH) {
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
    }
    counters().count(response.status().as_u16());
    Some(response)
}

/// Takes the request whole (last extractor) so its headers are read in place, not copied.
async fn read(state: AppState, request: Request) -> Result<Response, ApiError> {
    let entry = Instant::now();
    let (mut parts, _) = request.into_parts();
    let Path(raw) = Path::<String>::from_request_parts(&mut parts, &state)
        .await
        .map_err(|_: PathRejection| ApiError::InvalidArn(ArnError::Malformed))?;
    // `{arn}/steps`: an ARN holds no `/`, so the last segment names the resource.
    let (raw, steps) = match raw.strip_suffix("/steps") {
        Some(arn) => (arn, true),
        None => (raw.as_str(), false),
    };
    let arn = ExecutionArn::parse(raw)?;
    tracing::Span::current().record("execution_arn", arn.as_str());
    if !state.allowed.permits(&arn) {
        return Err(ApiError::StateMachineNotAllowed);
    }
    if steps {
        return super::steps::read_steps(&state, &arn, &parts.uri, entry).await;
    }
    let query_wait = match parts.uri.query() {
        None => None,
        Some(query) => {
            let Query(query) = Query::<WaitQuery>::try_from_uri(&parts.uri).map_err(|_| {
                ApiError::InvalidWait(format!("the query string {query:?} is malformed"))
            })?;
            query.wait
        }
    };
    let headers = &parts.headers;
    let wait = requested_wait(query_wait.as_deref(), headers, state.max_wait)?;
    let budget = Budget::from_entry(entry, wait);
    let answer = match wait {
        Some(_) => state.results.wait(&arn, &budget).await?,
        None => state.results.get(&arn, &budget).await?,
    };
    let mut response = respond(&state, &arn, answer, headers);
    if let Some(wait) = wait {
        response
            .headers_mut()
            .insert(PREFERENCE_APPLIED, preference_applied(wait));
    }
    Ok(response)
}

fn cache_status(origin: Origin) -> HeaderValue {
    HeaderValue::from_static(match origin {
        Origin::MemoryHit => "sfn-results; hit; detail=memory",
        Origin::Hit => "sfn-results; hit",
        Origin::StaleHit => "sfn-results; hit; detail=stale",
        Origin::Miss => "sfn-results; fwd=miss",
        Origin::SharedRead => "sfn-results; hit; detail=shared-read",
    })
}

/// Maps an answer to status, headers and body: 200 when stopped, 202 while running, 304 when
/// the client already holds it. A final result's answer is prepared once and kept, so the next
/// request for it is a hot hit.
pub fn respond(
    state: &AppState,
    arn: &ExecutionArn,
    answer: Answer,
    request: &HeaderMap,
) -> Response {
    state.count_answer(answer.origin);
    let cache = cache_status(answer.origin);
    if answer.finality == Finality::Open {
        return (
            StatusCode::ACCEPTED,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after(answer.age)),
                ),
                (header::LOCATION, status_location(arn)),
                (CACHE_STATUS, cache),
            ],
            answer.document,
        )
            .into_response();
    }
    let prepared = match answer.finality {
        Finality::Final => {
            let prepared = Arc::new(Prepared::new(
                answer.document,
                HeaderValue::from_static(IMMUTABLE),
            ));
            state.prepared.insert(arn, prepared.clone());
            prepared
        }
        _ => {
            let left = answer
                .expires_at
                .and_then(|at| at.duration_since(SystemTime::now()).ok())
                .unwrap_or_default();
            let cache_control =
                HeaderValue::try_from(format!("private, max-age={}", left.as_secs()))
                    .unwrap_or(HeaderValue::from_static("no-cache"));
            Arc::new(Prepared::new(answer.document, cache_control))
        }
    };
    prepared.respond(request, cache, state.compression)
}
