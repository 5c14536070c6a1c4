//! `GET /`: the ops status page, one HTML document with its script and styles inlined from
//! `service/assets/` at build time, so every URL it uses can stay relative to where it is served
//! (behind a stage prefix too) and its CSP can allow exactly those two inline blocks by hash.

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::{counted, AppState};
use crate::config::AllowList;

const HTML: &str = include_str!("../../assets/index.html");
const SCRIPT: &str = include_str!("../../assets/app.js");
const STYLE: &str = include_str!("../../assets/app.css");

pub fn router() -> Router<AppState> {
    Router::new().route("/", counted("/", get(page)))
}

fn hash(text: &str) -> String {
    format!(
        "'sha256-{}'",
        STANDARD.encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
    )
}

/// Nothing but this page's own script, styles and same-origin requests.
static CSP: LazyLock<HeaderValue> = LazyLock::new(|| {
    let policy = format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src 'self' data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hash(SCRIPT),
        hash(STYLE)
    );
    HeaderValue::try_from(policy).unwrap_or(HeaderValue::from_static("default-src 'none'"))
});

/// The page, with the allowed machines and whether it may stop and redrive (`control`) as a JSON
/// data block (never executed).
pub fn render(allowed: &AllowList, express: &[String], control: bool) -> String {
    let machines: Vec<serde_json::Value> = match allowed {
        AllowList::Any => Vec::new(),
        AllowList::Only(machines) => machines
            .iter()
            .map(|m| {
                serde_json::json!({
                    "arn": m.as_str(),
                    "name": m.name(),
                    "express": express.iter().any(|e| e == m.as_str()),
                })
            })
            .collect(),
    };
    // `<` escaped, so no value can close the data block.
    let config = serde_json::json!({ "machines": machines, "control": control })
        .to_string()
        .replace('<', "\\u003c");
    HTML.replace("{{CONFIG}}", &config)
        .replace("{{STYLE}}", STYLE)
        .replace("{{SCRIPT}}", SCRIPT)
}

async fn page(State(state): State<AppState>) -> Response {
    let express: Vec<String> = match &state.allowed {
        AllowList::Any => Vec::new(),
        AllowList::Only(machines) => machines
            .iter()
            .filter(|m| state.listing.is_express(m))
            .map(|m| m.as_str().to_owned())
            .collect(),
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::CONTENT_SECURITY_POLICY, CSP.clone()),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        render(&state.allowed, &express, state.allow_control),
    )
        .into_response()
}
