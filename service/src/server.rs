//! Running the router: under the Lambda runtime, or as a plain HTTP server until Ctrl-C/SIGTERM.

use std::net::SocketAddr;

use axum::Router;
use tower::ServiceExt;

use crate::domain::Results;
use crate::events::EventsApp;
use crate::gateway;

/// Serves `app` through `lambda_http` (API Gateway REST/HTTP events). Each invocation waits for
/// the cache writes it started, since Lambda freezes the process once it has answered.
pub async fn run_lambda(app: Router, results: Results) -> Result<(), lambda_http::Error> {
    let handler = tower::service_fn(move |request: lambda_http::Request| {
        let (app, results) = (app.clone(), results.clone());
        async move {
            let response = app.oneshot(gateway::to_api_path(request)).await;
            results.flush_writes().await;
            crate::emf::flush();
            response
        }
    });
    lambda_http::run(handler).await
}

/// Handles the events entry point's invocations under the Lambda runtime: a store failure fails
/// the invocation, so Lambda retries it.
pub async fn run_events_lambda(events: EventsApp) -> Result<(), lambda_http::Error> {
    let handler = lambda_http::service_fn(
        move |event: lambda_http::LambdaEvent<Box<serde_json::value::RawValue>>| {
            let events = events.clone();
            async move {
                let summary = events.handle(event.payload.get()).await;
                events.results.flush_writes().await;
                crate::emf::flush();
                Ok::<_, lambda_http::Error>(summary?)
            }
        },
    );
    lambda_http::lambda_runtime::run(handler).await
}

/// Reconciles every `every` until the process ends (the local server's stand-in for the
/// deployed schedule).
pub async fn reconcile_every(events: EventsApp, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        events.reconcile_all().await;
    }
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
