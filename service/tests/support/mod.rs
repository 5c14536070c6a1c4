//! What the router test files share: one request through the whole `Router`, and its answer read
//! once, as text and as JSON.
//!
//! Each test file that declares `mod support;` is its own crate and uses a part of this module,
//! so the parts another file uses are not dead code.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::Value;
use sfn_results::App;
use tower::ServiceExt;

/// A response read whole: its status, headers, body text and that text as JSON (`Null` when it
/// is not JSON, as on the link pages).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

/// Sends `request` through a clone of the router, as one more request to the same instance.
pub async fn call(app: &App, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Sends `method uri` with `body` and no other header.
pub async fn send(app: &App, method: &str, uri: &str, body: &str) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body.to_owned()))
        .expect("request");
    call(app, request).await
}
