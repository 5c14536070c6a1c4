//! `GET /healthz` (no upstream call) and `GET /openapi.json` (the API's own description).

use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::{counted, AppState};

/// The OpenAPI 3.1 document of every route, kept in `infra/` beside the gateway definition.
pub const OPENAPI_DOCUMENT: &str = include_str!("../../../infra/openapi.json");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", counted("/healthz", get(healthz)))
        .route("/openapi.json", counted("/openapi.json", get(openapi)))
}

async fn healthz() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        r#"{"status":"ok"}"#,
    )
}

async fn openapi() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        OPENAPI_DOCUMENT,
    )
}
