//! `POST /callbacks/links`: approve and reject links for a person, one-time, signed and expiring
//! (the task token stays in the table). `GET /callbacks/{link}` shows a confirmation page and
//! changes nothing (mail scanners fetch links); its form's `POST` sends the answer, once for the
//! pair. A used, expired or altered link gets a page that says so, `410` or `400`.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;

use super::problem::ApiError;
use super::{counted, AppState};
use crate::domain::execution::rfc3339_millis;
use crate::domain::links::{DEFAULT_LINK_LIFETIME, MAX_LINK_LIFETIME, MIN_LINK_LIFETIME};
use crate::domain::{Answered, Decision, LinkFailure, LinkRecord, LinkState};

/// The longest body `POST /callbacks/links` takes: a token of 2,048 characters and a summary of
/// 1,000, each up to 4 bytes in UTF-8 and escaped in JSON.
const MAX_BODY: usize = 64 * 1024;
const MAX_TOKEN_CHARS: usize = 2048;
const MAX_SUMMARY_CHARS: usize = 1000;
/// The gateway's own callback routes: never links.
const GATEWAY_ROUTES: [&str; 3] = ["success", "failure", "heartbeat"];

const STYLE: &str = include_str!("../../assets/link.css");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/callbacks/links", counted("/callbacks/links", post(make)))
        .route(
            "/callbacks/{link}",
            counted("/callbacks/{link}", get(show).post(answer)),
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LinkRequest {
    task_token: String,
    expires_in: Option<u64>,
    summary: Option<String>,
}

fn request_of(body: &[u8]) -> Result<LinkRequest, ApiError> {
    if body.len() > MAX_BODY {
        return Err(ApiError::PayloadTooLarge);
    }
    let request: LinkRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::InvalidInput(format!(
            "the body must be a JSON object with \"taskToken\", and optionally \"expiresIn\" \
             (seconds) and \"summary\": {e}"
        ))
    })?;
    let chars = request.task_token.chars().count();
    if chars == 0 || chars > MAX_TOKEN_CHARS {
        return Err(ApiError::InvalidInput(format!(
            "\"taskToken\" must be 1 to {MAX_TOKEN_CHARS} characters"
        )));
    }
    let (min, max) = (MIN_LINK_LIFETIME.as_secs(), MAX_LINK_LIFETIME.as_secs());
    if request
        .expires_in
        .is_some_and(|s| !(min..=max).contains(&s))
    {
        return Err(ApiError::InvalidInput(format!(
            "\"expiresIn\" must be {min} to {max} seconds"
        )));
    }
    if request
        .summary
        .as_ref()
        .is_some_and(|s| s.chars().count() > MAX_SUMMARY_CHARS)
    {
        return Err(ApiError::InvalidInput(format!(
            "\"summary\" must be at most {MAX_SUMMARY_CHARS} characters"
        )));
    }
    Ok(request)
}

async fn make(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request = request_of(&body?)?;
    let lifetime = request
        .expires_in
        .map_or(DEFAULT_LINK_LIFETIME, Duration::from_secs);
    let made = state
        .links
        .make(
            request.task_token,
            lifetime,
            request.summary,
            SystemTime::now(),
        )
        .await
        .map_err(|e| ApiError::Unavailable(Box::new(e)))?;
    // Absolute under PUBLIC_BASE_URL; otherwise relative to this URL (`/callbacks/links`).
    let url = |link: &str| match &state.public_base_url {
        Some(base) => format!("{base}/callbacks/{link}"),
        None => link.to_owned(),
    };
    let expires = UNIX_EPOCH + Duration::from_secs(made.expires_at);
    let body = serde_json::json!({
        "approveUrl": url(&made.approve),
        "rejectUrl": url(&made.reject),
        "expiresAt": rfc3339_millis(expires),
    });
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(body),
    )
        .into_response())
}

async fn show(State(state): State<AppState>, Path(link): Path<String>) -> Response {
    if GATEWAY_ROUTES.contains(&link.as_str()) {
        return ApiError::MethodNotAllowed.into_response();
    }
    match state.links.state(&link, SystemTime::now()).await {
        Ok(LinkState::Open(record, decision)) => confirmation(&record, decision),
        Ok(refused) => refusal(&refused),
        Err(e) => {
            tracing::warn!(error = %e, "a link could not be read");
            unavailable()
        }
    }
}

async fn answer(State(state): State<AppState>, Path(link): Path<String>) -> Response {
    if GATEWAY_ROUTES.contains(&link.as_str()) {
        // Answered by API Gateway straight from Step Functions; never by this service.
        return ApiError::RouteNotFound.into_response();
    }
    match state.links.answer(&link, SystemTime::now()).await {
        Ok(Answered::Sent(_, decision)) => {
            tracing::info!(
                decision = decision.as_str(),
                "a task was answered through a link"
            );
            let (title, text) = match decision {
                Decision::Approve => ("Approved", "Thank you: the workflow goes on."),
                Decision::Reject => ("Rejected", "Thank you: the workflow was told."),
            };
            page(StatusCode::OK, title, &paragraph(text))
        }
        Ok(Answered::TaskOver(..)) => page(
            StatusCode::GONE,
            "No longer waiting",
            &paragraph(
                "The workflow no longer waits for this answer: it timed out, was answered \
                 another way, or ended. Nothing was sent.",
            ),
        ),
        Ok(Answered::Refused(refused)) => refusal(&refused),
        Err(LinkFailure::Callback(e)) => {
            tracing::warn!(error = %e, "a link's callback was not taken; the link stays usable");
            unavailable()
        }
        Err(LinkFailure::Store(e)) => {
            tracing::warn!(error = %e, "a link could not be claimed");
            unavailable()
        }
    }
}

fn confirmation(record: &LinkRecord, decision: Decision) -> Response {
    let (title, button) = match decision {
        Decision::Approve => ("Approve this request?", "Approve"),
        Decision::Reject => ("Reject this request?", "Reject"),
    };
    let summary = record
        .summary
        .as_deref()
        .unwrap_or("A workflow is waiting for your answer.");
    let expires = rfc3339_millis(UNIX_EPOCH + Duration::from_secs(record.expires_at));
    let body = format!(
        "{}<p>This link works once and expires at <time datetime=\"{expires}\">{expires}</time>. \
         Nothing is sent until you press the button.</p>\
         <form method=\"post\"><button type=\"submit\">{button}</button></form>",
        paragraph(summary)
    );
    page(StatusCode::OK, title, &body)
}

fn refusal(state: &LinkState) -> Response {
    match state {
        LinkState::Used(record) => {
            let said = record.used.map_or("answered", |(d, _)| match d {
                Decision::Approve => "approved",
                Decision::Reject => "rejected",
            });
            page(
                StatusCode::GONE,
                "Already answered",
                &paragraph(&format!(
                    "This request was {said} already; a link works once. Nothing was sent."
                )),
            )
        }
        LinkState::Expired(_) | LinkState::Gone => page(
            StatusCode::GONE,
            "This link has expired",
            &paragraph("Ask for a new link if an answer is still needed. Nothing was sent."),
        ),
        LinkState::Altered | LinkState::Open(..) => page(
            StatusCode::BAD_REQUEST,
            "This link is not valid",
            &paragraph(
                "Check that you opened the whole link, exactly as it was sent. Nothing was sent.",
            ),
        ),
    }
}

fn unavailable() -> Response {
    let mut response = page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again in a moment",
        &paragraph(
            "The answer could not be sent just now; the link still works. Nothing was sent.",
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(5));
    response
}

/// Text as HTML: `&`, `<`, `>` and quotes escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn paragraph(text: &str) -> String {
    format!("<p>{}</p>", escape(text))
}

/// The page's own style, and a form that posts to itself; nothing else, never framed, and the
/// link never sent on as a referrer.
static CSP: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = STANDARD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        STYLE.as_bytes(),
    ));
    HeaderValue::try_from(format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; base-uri 'none'; \
         frame-ancestors 'none'"
    ))
    .unwrap_or(HeaderValue::from_static("default-src 'none'"))
});

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title><style>{STYLE}</style>\
         </head><body><main><h1>{title}</h1>{body}</main></body></html>",
        title = escape(title),
    );
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::CONTENT_SECURITY_POLICY, CSP.clone()),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (
                header::HeaderName::from_static("x-robots-tag"),
                HeaderValue::from_static("noindex"),
            ),
        ],
        html,
    )
        .into_response()
}
