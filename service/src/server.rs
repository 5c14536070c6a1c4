//! Running the router: under the Lambda runtime, or as a plain HTTP server until Ctrl-C/SIGTERM.

use std::net::SocketAddr;

use axum::Router;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use tower::ServiceExt;

use crate::domain::Results;

/// Serves `app` through `lambda_http` (API Gateway REST/HTTP events). Each invocation waits for
/// the cache writes it started, since Lambda freezes the process once it has answered.
pub async fn run_lambda(app: Router, results: Results) -> Result<(), lambda_http::Error> {
    let handler = tower::service_fn(move |request: lambda_http::Request| {
        let (app, results) = (app.clone(), results.clone());
        async move {
            let response = app.oneshot(strip_stage(request)).await;
            results.flush_writes().await;
            response
        }
    });
    lambda_http::run(handler).await
}

/// Removes a REST API stage (`/prod/...`) from the path, whether API Gateway put it there or
/// `lambda_http` did (it adds it unless `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set), so
/// routes match the same paths as the local server.
pub fn strip_stage(mut request: lambda_http::Request) -> lambda_http::Request {
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage.filter(|s| !s.is_empty() && s != "$default") else {
        return request;
    };
    let uri = request.uri();
    let Some(rest) = uri
        .path()
        .strip_prefix(&format!("/{stage}"))
        .filter(|rest| rest.starts_with('/'))
    else {
        return request;
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(pq) = path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Serves `app` on `addr` until interrupted; in-flight requests finish first.
pub async fn run_local(app: Router, addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
