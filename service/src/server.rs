//! Running the router: under the Lambda runtime, or as a plain HTTP server until Ctrl-C/SIGTERM.

use std::net::SocketAddr;

use crate::http::App;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::domain::Results;
use crate::events::EventsApp;
use crate::gateway;
use std::time::Duration;

/// Serves `app` through `lambda_http` (API Gateway REST/HTTP events). Each invocation waits for
/// the cache writes it started, since Lambda freezes the process once it has answered.
pub async fn run_lambda(app: App, results: Results) -> Result<(), lambda_http::Error> {
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
/// deployed schedule). The outbox is swept on a timer of its own, so a long reconcile (a
/// backlog, a slow upstream) never holds a fan-out up.
pub async fn reconcile_every(events: EventsApp, every: std::time::Duration) {
    let sweeper = events.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            sweeper.sweep().await;
        }
    });
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        events.reconcile_all().await;
    }
}

/// Serves `app` on `addr` over HTTP/1.1 until interrupted; in-flight requests finish first.
///
/// The loop `axum::serve` runs, but with hyper's HTTP/1.1 connection instead of its automatic
/// one: that one also speaks cleartext HTTP/2 (which no client of this server uses: browsers
/// speak it only over TLS, and API Gateway stands in front on AWS), so it reads every
/// connection's first bytes to tell the two apart, and its HTTP/2 server half is a tenth of the
/// function zip (see PROFILE.md and BENCHMARKS.md).
pub async fn run_local(app: App, addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    // `stopping` closes when the signal comes; each connection holds an `open` receiver.
    let (stopping, stop) = watch::channel(());
    tokio::spawn(async move {
        shutdown_signal().await;
        drop(stop);
    });
    let (all_closed, open) = watch::channel(());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // A connection that failed before it was accepted concerns no one else; any
                    // other error (out of descriptors) passes with time.
                    if !is_connection_error(&err) {
                        tracing::warn!(error = %err, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
            _ = stopping.closed() => break,
        };
        let (stopping, open) = (stopping.clone(), open.clone());
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stopping.closed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(open);
        });
    }
    drop((listener, open));
    all_closed.closed().await;
    Ok(())
}

fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        err.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
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
