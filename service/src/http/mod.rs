//! The HTTP layer: axum handlers, response mapping and errors, over the domain.

pub mod executions;
pub mod headers;
pub mod links;
pub mod list;
pub mod meta;
pub mod page;
pub mod prepared;
pub mod problem;
pub mod start;
pub mod steering;
pub mod steps;
pub mod webhooks;
pub mod workflows;

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Bytes, HttpBody};
use axum::http::{
    header, Extensions, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Version,
};
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use axum::routing::MethodRouter;
use axum::Router;
use futures_util::future::Either;
use tower::util::MapResponseLayer;
use tower::Service;
use tower::ServiceBuilder;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::AllowList;
use crate::domain::{Links, Listing, Results, StateMachineArn, Steering, Timeline, Workflows};
use crate::emf::RouteCounters;
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
    /// Stops executions for clients.
    pub steering: Steering,
    pub timeline: Timeline,
    /// One-time links a person answers a waiting task from (`/callbacks/…`).
    pub links: Links,
    /// The API's public base URL (`PUBLIC_BASE_URL`), for links sent to people; unset, they
    /// are answered relative to the request.
    pub public_base_url: Option<String>,
    /// Whether the status page shows stop and redrive buttons (`ALLOW_CONTROL`).
    pub allow_control: bool,
    pub allowed: AllowList,
    pub max_wait: Duration,
    pub cors_allowed_origins: Arc<[HeaderValue]>,
    /// The machine `POST /executions/wait` starts; the route is 404 without it.
    pub start_machine: Option<StateMachineArn>,
    /// The configured machines by name (`/workflows/{workflow}/…`).
    pub workflows: Workflows,
    /// Whether `http://` loopback webhook endpoints may be registered.
    pub webhook_allow_loopback: bool,
    /// The ops view's lists (`GET /executions`).
    pub listing: Listing,
    /// Final results' answers, built once (`prepared.rs`).
    pub prepared: prepared::PreparedCache,
    /// Whether answers are compressed here or by API Gateway.
    pub compression: prepared::Compression,
    /// The request and answer counters.
    pub counters: crate::emf::Counters,
}

impl Shared {
    /// Counts an answer by where it came from.
    pub fn count_answer(&self, origin: crate::domain::Origin) {
        self.counters.answer(origin);
    }
}

/// The HTTP service, served both under Lambda and as a local server: the routes, and in front of
/// them, when no shared layer has work on a hot hit, the hot hit itself.
#[derive(Clone, Debug)]
pub struct App {
    routes: Router,
    /// Set when hot hits are answered before routing (no CORS, no debug trace).
    direct: Option<AppState>,
}

impl<B> Service<Request<B>> for App
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, RouteFuture<Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    /// A hot hit is answered here, without the router's matching, its percent-decoding of the
    /// path into parameters and its boxed route (see PROFILE.md); everything else is routed.
    fn call(&mut self, request: Request<B>) -> Self::Future {
        if let Some(state) = &self.direct {
            if request.method() == Method::GET {
                if let Some(hit) = executions::hot_hit(state, request.uri(), request.headers()) {
                    return Either::Left(ready(Ok(hit)));
                }
            }
        }
        Either::Right(self.routes.call(request))
    }
}

/// The one `App` served both under Lambda and as a local server.
pub fn router(state: AppState) -> App {
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
    // Results are compressed once each, by `prepared.rs`; the other answers over 1 KiB as they
    // are sent, here (locally) or by API Gateway (on Lambda).
    let compress_here = state.compression == prepared::Compression::Here;
    let compression = CompressionLayer::new().compress_when(
        SizeAbove::new(prepared::COMPRESS_ABOVE as u16)
            .and(NotForContentType::SSE)
            .and(move |_: StatusCode, _: Version, _: &HeaderMap, _: &Extensions| compress_here),
    );
    let others = Router::new()
        .merge(list::router())
        .merge(page::router())
        .merge(meta::router())
        .merge(webhooks::router())
        .merge(workflows::router())
        .merge(links::router())
        .layer(compression);
    // Hot hits go without the shared layers when none of them has work there (no CORS, no debug
    // trace): `App` answers them in front of the routes, with `nosniff` and `Cache-Status` set.
    let debug = tracing::enabled!(Level::DEBUG);
    let direct = cors.is_none() && !debug;
    let routes = Router::new()
        .merge(executions::router())
        .merge(start::router())
        .merge(others);
    let routes = with_fallbacks(routes).with_state(state.clone());
    // What every answer carries (`SHARED_HEADERS`, also set on hot hits by `App`); outside CORS,
    // so preflight answers carry them too.
    let common = ServiceBuilder::new()
        .layer(MapResponseLayer::new(
            with_shared_headers as fn(Response) -> Response,
        ))
        .option_layer(cors);
    // One stack, applied once: each `Router::layer` call would box the routes again. The trace
    // layer's span and line are at debug, so it is there only when debug is on: otherwise it
    // would record nothing and still time and wrap every answer (see PROFILE.md).
    let routes = if debug {
        let trace = TraceLayer::new_for_http()
            .make_span_with(|request: &Request<_>| {
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    execution_arn = tracing::field::Empty,
                )
            })
            // One line per request at debug: API Gateway's access log has them on AWS.
            .on_response(DefaultOnResponse::new().level(Level::DEBUG));
        routes.layer(ServiceBuilder::new().layer(trace).layer(common))
    } else {
        routes.layer(common)
    };
    App {
        routes,
        direct: direct.then_some(state),
    }
}

/// Whether a shared header replaces what a handler set, or only fills in what it left out.
#[derive(Clone, Copy)]
enum Set {
    Always,
    Unless,
}

/// The headers every answer carries. The one list both the router's layer and the hot hit
/// (answered by `App` before routing) apply, through `with_shared_headers`: a header added here
/// reaches both, so a hot hit can never silently miss one.
const SHARED_HEADERS: [(HeaderName, HeaderValue, Set); 2] = [
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
        Set::Always,
    ),
    // An answer that says where it came from keeps that.
    (
        headers::CACHE_STATUS,
        HeaderValue::from_static(headers::BYPASS_CACHE_STATUS),
        Set::Unless,
    ),
];

/// Sets `SHARED_HEADERS` on an answer: the router's layer for routed answers, `App` for hot hits.
pub(crate) fn with_shared_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value, mode) in &SHARED_HEADERS {
        match mode {
            Set::Always => {
                headers.insert(name, value.clone());
            }
            Set::Unless => {
                if !headers.contains_key(name) {
                    headers.insert(name, value.clone());
                }
            }
        }
    }
    response
}

/// The answers when no route matches (404) or the route lacks the method (405): problem
/// documents, counted as `unmatched`; the shared layers set their headers as on every route.
fn with_fallbacks<S: Clone + Send + Sync + 'static>(routes: Router<S>) -> Router<S> {
    routes
        .fallback(|| async {
            RouteCounters::of(UNMATCHED).count(StatusCode::NOT_FOUND.as_u16());
            ApiError::RouteNotFound.into_response()
        })
        .method_not_allowed_fallback(|| async {
            RouteCounters::of(UNMATCHED).count(StatusCode::METHOD_NOT_ALLOWED.as_u16());
            ApiError::MethodNotAllowed.into_response()
        })
}

/// The `Route` of requests no route matched.
const UNMATCHED: &str = "unmatched";

/// `route` with its answers counted under `template` (never the raw path: an ARN is not a
/// dimension). A response map, not a middleware: nothing is boxed or looked up per request.
pub(crate) fn counted<S>(template: &'static str, route: MethodRouter<S>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    let counters = RouteCounters::of(template);
    route.route_layer(MapResponseLayer::new(move |response: Response| {
        counters.count(response.status().as_u16());
        response
    }))
}
