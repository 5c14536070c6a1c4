//! `POST /executions/{executionArn}/stop`: stop a running Standard execution, answered with its
//! ABORTED result (stored at once); one that is not running gets `409` with its result.
//! `POST /executions/{executionArn}/redrive`: run a failed one again from the states that failed,
//! answered `202` with the redriven run; one Step Functions will not redrive gets `409` with its
//! reason.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::time::Instant;

use super::headers::{cache_status, status_location_from_action, CACHE_STATUS};
use super::problem::{ApiError, Refusal};
use super::AppState;
use crate::domain::{ArnError, Budget, ControlFailure, ExecutionArn, StopReason, Stopped};
use crate::emf::RouteCounters;

/// The longest body a stop takes: an error of 256 characters and a cause of 32,768, each up to 4
/// bytes in UTF-8 and escaped in JSON.
pub const MAX_STOP_BYTES: usize = 256 * 1024;
/// Step Functions' limits on a stop's error and cause, in characters.
const MAX_ERROR_CHARS: usize = 256;
const MAX_CAUSE_CHARS: usize = 32_768;

const STOP_ROUTE: &str = "/executions/{executionArn}/stop";
const REDRIVE_ROUTE: &str = "/executions/{executionArn}/redrive";

/// `POST /executions/{arn}/{action}`: the catch-all's POST (the ARN may not hold a `/`, so the
/// action is what follows the last one).
pub(super) async fn post_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let entry = Instant::now();
    let Ok(Path(raw)) = path else {
        return ApiError::InvalidArn(ArnError::Malformed).into_response();
    };
    if cross_site(&state, &headers) {
        return ApiError::CrossSite.into_response();
    }
    match raw.rsplit_once('/') {
        Some((arn, "stop")) => {
            let response = stop(&state, arn, body, entry)
                .await
                .unwrap_or_else(IntoResponse::into_response);
            counters(STOP_ROUTE).count(response.status().as_u16());
            response
        }
        Some((arn, "redrive")) => {
            let response = redrive(&state, arn, body, entry)
                .await
                .unwrap_or_else(IntoResponse::into_response);
            counters(REDRIVE_ROUTE).count(response.status().as_u16());
            response
        }
        Some(_) => ApiError::RouteNotFound.into_response(),
        None => ApiError::MethodNotAllowed.into_response(),
    }
}

/// A browser's request sent by a page of another site (CSRF): its Fetch Metadata says so, or its
/// `Origin` is neither this host nor one of `CORS_ALLOWED_ORIGINS`. Clients that are not browsers
/// send neither header and pass: their signature (SigV4) or token (Cognito), which a page of
/// another site cannot attach, stays what authorizes them.
fn cross_site(state: &AppState, headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN);
    if origin.is_some_and(|o| state.cors_allowed_origins.iter().any(|a| a == o)) {
        return false;
    }
    let fetched_from = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(fetched_from, Some("cross-site" | "same-site")) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match origin.map(|o| o.to_str().unwrap_or("null")) {
        None => false,
        Some(origin) => origin
            .split_once("://")
            .is_none_or(|(_, origin_host)| Some(origin_host) != host),
    }
}

fn counters(route: &'static str) -> &'static RouteCounters {
    static STOP: OnceLock<&RouteCounters> = OnceLock::new();
    static REDRIVE: OnceLock<&RouteCounters> = OnceLock::new();
    let cell = if route == STOP_ROUTE { &STOP } else { &REDRIVE };
    cell.get_or_init(|| RouteCounters::of(route))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopBody {
    error: Option<String>,
    cause: Option<String>,
}

/// The execution an action names: a valid ARN of a machine among the workflows (checked before
/// any upstream call).
fn target(state: &AppState, raw: &str) -> Result<ExecutionArn, ApiError> {
    let arn = ExecutionArn::parse(raw)?;
    tracing::Span::current().record("execution_arn", arn.as_str());
    if !state.allowed.permits(&arn) {
        return Err(ApiError::StateMachineNotAllowed);
    }
    Ok(arn)
}

/// An action's answer: the execution's document as the action left it, never cached, pointing
/// at its status URL.
fn acted(status: StatusCode, arn: &ExecutionArn, document: Bytes) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::LOCATION, status_location_from_action(arn)),
            (CACHE_STATUS, cache_status("fwd=miss")),
        ],
        document,
    )
        .into_response()
}

async fn stop(
    state: &AppState,
    raw: &str,
    body: Result<Bytes, BytesRejection>,
    entry: Instant,
) -> Result<Response, ApiError> {
    let arn = target(state, raw)?;
    let reason = reason_of(&body?)?;
    let budget = Budget::from_entry(entry, None);
    match state.steering.stop(&arn, &reason, &budget).await? {
        Stopped::Now(answer) => {
            tracing::info!(execution_arn = %arn, "execution stopped on request");
            Ok(acted(StatusCode::OK, &arn, answer.document))
        }
        Stopped::Already(answer) => Err(ApiError::ExecutionNotRunning(arn, answer.document)),
    }
}

async fn redrive(
    state: &AppState,
    raw: &str,
    body: Result<Bytes, BytesRejection>,
    entry: Instant,
) -> Result<Response, ApiError> {
    let arn = target(state, raw)?;
    let body = body?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::InvalidInput("the body is not UTF-8 text".into()))?;
    let empty = text.trim().is_empty()
        || matches!(serde_json::from_str(text), Ok(serde_json::Value::Object(fields)) if fields.is_empty());
    if !empty {
        return Err(ApiError::InvalidInput(
            "a redrive takes no parameters: send {} or nothing".into(),
        ));
    }
    let budget = Budget::from_entry(entry, None);
    let answer = match state.steering.redrive(&arn, &budget).await {
        Ok(answer) => answer,
        Err(ControlFailure::NotRedrivable(reason, answer)) => {
            return Err(ApiError::ExecutionNotRedrivable(Box::new(Refusal {
                execution: arn,
                reason,
                document: answer.document,
            })))
        }
        Err(e) => return Err(e.into()),
    };
    // This instance's last look said FAILED: no request here may share it now.
    state.results.forget_looks(&arn);
    state.timeline.forget(&arn);
    let mut response = acted(StatusCode::ACCEPTED, &arn, answer.document);
    // The redriven run has just started: the first read is worth making at once.
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(1));
    Ok(response)
}

/// The stop's error and cause from the body: `{}` or nothing at all stops without either.
fn reason_of(body: &[u8]) -> Result<StopReason, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::InvalidInput("the body is not UTF-8 text".into()))?;
    let parsed = if text.trim().is_empty() {
        StopBody::default()
    } else {
        serde_json::from_str::<StopBody>(text).map_err(|e| {
            ApiError::InvalidInput(format!(
                "the body must be a JSON object with an optional \"error\" and \"cause\": {e}"
            ))
        })?
    };
    let too_long = |field: &str, text: &Option<String>, max: usize| {
        text.as_ref()
            .is_some_and(|t| t.chars().count() > max)
            .then(|| ApiError::InvalidInput(format!("{field} is longer than {max} characters")))
    };
    if let Some(e) = too_long("error", &parsed.error, MAX_ERROR_CHARS)
        .or_else(|| too_long("cause", &parsed.cause, MAX_CAUSE_CHARS))
    {
        return Err(e);
    }
    Ok(StopReason {
        error: parsed.error,
        cause: parsed.cause,
    })
}

impl From<ControlFailure> for ApiError {
    fn from(e: ControlFailure) -> Self {
        match e {
            ControlFailure::Express => Self::ExecutionTypeNotSupported,
            // Answered by the redrive route, which knows the execution.
            e @ ControlFailure::NotRedrivable(..) => Self::Upstream(Box::new(e)),
            ControlFailure::NotFound => Self::ExecutionNotFound,
            e @ ControlFailure::Unavailable(_) => Self::Unavailable(Box::new(e)),
            e @ ControlFailure::Failed(_) => Self::Upstream(Box::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_body_stops_without_a_reason() {
        assert_eq!(reason_of(b"").ok(), Some(StopReason::default()));
        assert_eq!(reason_of(b" {} ").ok(), Some(StopReason::default()));
    }

    #[test]
    fn a_reason_is_taken_as_given() {
        let reason = reason_of(br#"{"error": "Operator", "cause": "stuck on the payment step"}"#)
            .expect("valid");
        assert_eq!(reason.error.as_deref(), Some("Operator"));
        assert_eq!(reason.cause.as_deref(), Some("stuck on the payment step"));
    }

    #[test]
    fn unknown_fields_other_json_and_long_reasons_are_refused() {
        for body in [
            br#"{"reason": "x"}"#.to_vec(),
            b"[]".to_vec(),
            b"stop".to_vec(),
            vec![0xff, 0xfe],
            format!(r#"{{"error": "{}"}}"#, "e".repeat(257)).into_bytes(),
            format!(r#"{{"cause": "{}"}}"#, "c".repeat(32_769)).into_bytes(),
        ] {
            let refused = reason_of(&body).expect_err("refused");
            assert_eq!(refused.status_code(), StatusCode::BAD_REQUEST);
        }
        // At the limits, both are taken.
        let at_limits = format!(
            r#"{{"error": "{}", "cause": "{}"}}"#,
            "é".repeat(256),
            "c".repeat(32_768)
        );
        assert!(reason_of(at_limits.as_bytes()).is_ok());
    }
}
