//! `GET /executions/{executionArn}`: an execution's state and result, with HTTP caching semantics.

use std::time::SystemTime;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::headers::{
    etag, none_match, preference_applied, requested_wait, retry_after, status_location,
    CACHE_STATUS, PREFERENCE_APPLIED,
};
use super::problem::ApiError;
use super::AppState;
use tokio::time::Instant;

use crate::domain::{Answer, ArnError, Budget, ExecutionArn, Finality, Origin};

/// Final results never change: let any client keep them for a year.
const IMMUTABLE: &str = "private, max-age=31536000, immutable";

pub fn router() -> Router<AppState> {
    // A catch-all, so an ARN holding an encoded or raw `/` is answered 400 rather than 404.
    Router::new().route("/executions/{*execution_arn}", get(get_execution))
}

#[derive(Debug, Deserialize)]
pub struct WaitQuery {
    pub wait: Option<String>,
}

/// Takes the request whole (last extractor) so its headers are read in place, not copied.
async fn get_execution(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let entry = Instant::now();
    let Path(raw) = path.map_err(|_| ApiError::InvalidArn(ArnError::Malformed))?;
    let arn = ExecutionArn::parse(&raw)?;
    tracing::Span::current().record("execution_arn", arn.as_str());
    if !state.allowed.permits(&arn) {
        return Err(ApiError::StateMachineNotAllowed);
    }
    let query_wait = match request.uri().query() {
        None => None,
        Some(query) => {
            let Query(query) = Query::<WaitQuery>::try_from_uri(request.uri()).map_err(|_| {
                ApiError::InvalidWait(format!("the query string {query:?} is malformed"))
            })?;
            query.wait
        }
    };
    let headers = request.headers();
    let wait = requested_wait(query_wait.as_deref(), headers, state.max_wait)?;
    let budget = Budget::from_entry(entry, wait);
    let answer = match wait {
        Some(_) => state.results.wait(&arn, &budget).await?,
        None => state.results.get(&arn, &budget).await?,
    };
    let mut response = respond(&arn, answer, headers);
    if let Some(wait) = wait {
        response
            .headers_mut()
            .insert(PREFERENCE_APPLIED, preference_applied(wait));
    }
    Ok(response)
}

/// Maps an answer to status, headers and body: 200 when stopped, 202 while running, 304 when
/// the client already holds it.
pub fn respond(arn: &ExecutionArn, answer: Answer, request: &HeaderMap) -> Response {
    let origin = match answer.origin {
        Origin::MemoryHit => "memory",
        Origin::Hit => "table",
        Origin::StaleHit => "stale",
        Origin::Miss => "step-functions",
        Origin::SharedRead => "shared-read",
    };
    metrics::counter!(crate::emf::ANSWERS, "Origin" => origin).increment(1);
    let cache = HeaderValue::from_static(match answer.origin {
        Origin::MemoryHit => "sfn-results; hit; detail=memory",
        Origin::Hit => "sfn-results; hit",
        Origin::StaleHit => "sfn-results; hit; detail=stale",
        Origin::Miss => "sfn-results; fwd=miss",
        Origin::SharedRead => "sfn-results; hit; detail=shared-read",
    });
    let json = HeaderValue::from_static("application/json");
    if answer.finality == Finality::Open {
        return (
            StatusCode::ACCEPTED,
            [
                (header::CONTENT_TYPE, json),
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
    let cache_control = match answer.finality {
        Finality::Final => HeaderValue::from_static(IMMUTABLE),
        _ => {
            let left = answer
                .expires_at
                .and_then(|at| at.duration_since(SystemTime::now()).ok())
                .unwrap_or_default();
            HeaderValue::try_from(format!("private, max-age={}", left.as_secs()))
                .unwrap_or(HeaderValue::from_static("no-cache"))
        }
    };
    let tag = etag(&answer.document);
    let headers = [
        (header::ETAG, tag.clone()),
        (header::CACHE_CONTROL, cache_control),
        (CACHE_STATUS, cache),
    ];
    if none_match(request, &tag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, json)],
        headers,
        answer.document,
    )
        .into_response()
}
