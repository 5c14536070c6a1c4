//! The HTTP layer: axum handlers, response mapping and errors, over the domain.

pub mod executions;
pub mod headers;
pub mod list;
pub mod meta;
pub mod page;
pub mod problem;
pub mod start;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{header, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::AllowList;
use crate::domain::{Listing, Results, StateMachineArn};
pub use problem::ApiError;

/// What every handler can reach; one reference count to clone per request.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn from_shared(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The state behind `AppState`.
#[derive(Debug)]
pub struct Shared {
    pub results: Results,
    pub allowed: AllowList,
    pub max_wait: Duration,
    pub cors_allowed_origins: Arc<[HeaderValue]>,
    /// The machine `POST /executions/wait` starts; the route is 404 without it.
    pub start_machine: Option<StateMachineArn>,
    /// Whether `http://` loopback webhook endpoints may be registered.
    pub webhook_allow_loopback: bool,
    /// The ops view's lists (`GET /executions`).
    pub listing: Listing,
}

/// The one `Router` served both under Lambda and as a local server.
pub fn router(state: AppState) -> Router {
    let cors = (!state.cors_allowed_origins.is_empty()).then(|| {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(
                state.cors_allowed_origins.iter().cloned(),
            ))
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([
                header::CONTENT_TYPE,
                header::IF_NONE_MATCH,
                header::AUTHORIZATION,
                HeaderName::from_static("prefer"),
                HeaderName::from_static("x-amz-date"),
                HeaderName::from_static("x-amz-security-token"),
                HeaderName::from_static("x-amz-content-sha256"),
            ])
            .expose_headers([
                header::ETAG,
                header::LOCATION,
                header::RETRY_AFTER,
                headers::CACHE_STATUS,
                headers::PREFERENCE_APPLIED,
                header::LINK,
            ])
            .max_age(Duration::from_secs(600))
    });
    Router::new()
        .merge(start::router())
        .merge(list::router())
        .merge(executions::router())
        .merge(page::router())
        .merge(meta::router())
        .merge(webhooks::router())
        // Matched routes are counted by their template; what matches none, here.
        .route_layer(axum::middleware::from_fn(count_request))
        .fallback(|| async {
            count("unmatched", StatusCode::NOT_FOUND);
            ApiError::RouteNotFound
        })
        .method_not_allowed_fallback(|| async {
            count("unmatched", StatusCode::METHOD_NOT_ALLOWED);
            ApiError::MethodNotAllowed
        })
        .with_state(state)
        // One stack, applied once: each `Router::layer` call would box the routes again.
        .layer(
            ServiceBuilder::new()
                .layer(
                    TraceLayer::new_for_http()
                        // At debug: a span per request costs more than a memory hit does at info.
                        .make_span_with(|request: &Request<_>| {
                            tracing::debug_span!(
                                "request",
                                method = %request.method(),
                                path = %request.uri().path(),
                                execution_arn = tracing::field::Empty,
                            )
                        })
                        // One line per request at debug: API Gateway's access log has them on AWS.
                        .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
                )
                // Outside CORS, so preflight answers carry them too.
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    headers::CACHE_STATUS,
                    headers::cache_status("fwd=bypass"),
                ))
                .option_layer(cors),
        )
}

/// Counts a request by its route's template (never the raw path: an ARN is not a dimension).
async fn count_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let response = next.run(request).await;
    count(route.as_deref().unwrap_or("unmatched"), response.status());
    response
}

fn count(route: &str, status: StatusCode) {
    metrics::counter!(
        crate::emf::REQUESTS,
        "Route" => route.to_owned(),
        "StatusClass" => crate::emf::status_class(status.as_u16()),
    )
    .increment(1);
}
