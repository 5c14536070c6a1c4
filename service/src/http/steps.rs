//! `GET /executions/{executionArn}/steps`: the states the execution entered, from its history,
//! a page at a time (`?limit=`, `?cursor=`, and a relative `Link: rel="next"`).

use axum::http::{header, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;
use tokio::time::Instant;

use super::headers::{cache_status, CACHE_STATUS};
use super::problem::ApiError;
use super::AppState;
use crate::domain::{Budget, ExecutionArn};

/// Steps a page holds unless `limit` says otherwise, and the most it may say.
pub const DEFAULT_LIMIT: u16 = 100;
pub const MAX_LIMIT: u16 = 1000;
/// How long a client may keep a stopped execution's page (it may still be redriven).
const STOPPED_MAX_AGE: u32 = 60;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepsQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// Answers the steps of `arn` (an execution of an allowed machine, parsed by the caller).
pub(super) async fn read_steps(
    state: &AppState,
    arn: &ExecutionArn,
    uri: &Uri,
    entry: Instant,
) -> Result<Response, ApiError> {
    let query = match uri.query() {
        None => StepsQuery {
            limit: None,
            cursor: None,
        },
        Some(q) => axum::extract::Query::<StepsQuery>::try_from_uri(uri)
            .map(|q| q.0)
            .map_err(|e| {
                ApiError::InvalidQuery(format!("the query {q:?} takes only limit and cursor: {e}"))
            })?,
    };
    let limit = super::headers::page_limit(query.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = query.cursor.filter(|c| !c.is_empty());
    let budget = Budget::from_entry(entry, None);
    let page = state
        .timeline
        .page(arn, cursor.as_deref(), usize::from(limit), &budget)
        .await?;
    let mut body =
        String::with_capacity(page.steps.iter().map(|s| s.len() + 1).sum::<usize>() + 256);
    body.push_str("{\"executionArn\":");
    body.push_str(&serde_json::to_string(arn.as_str()).unwrap_or_default());
    body.push_str(",\"steps\":[");
    body.push_str(&page.steps.join(","));
    body.push(']');
    if let Some(next) = &page.next {
        body.push_str(",\"nextCursor\":");
        body.push_str(&serde_json::to_string(next).unwrap_or_default());
    }
    body.push('}');
    let cache_control = if page.stopped {
        HeaderValue::from_str(&format!("private, max-age={STOPPED_MAX_AGE}"))
            .unwrap_or(HeaderValue::from_static("no-store"))
    } else {
        HeaderValue::from_static("no-store")
    };
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, cache_control),
            (
                CACHE_STATUS,
                cache_status(if page.cached { "hit" } else { "fwd=miss" }),
            ),
        ],
        body,
    )
        .into_response();
    if let Some(next) = &page.next {
        let cursor = utf8_percent_encode(next, NON_ALPHANUMERIC);
        let link = format!("<steps?limit={limit}&cursor={cursor}>; rel=\"next\"");
        if let Ok(link) = HeaderValue::try_from(link) {
            response.headers_mut().insert(header::LINK, link);
        }
    }
    Ok(response)
}
