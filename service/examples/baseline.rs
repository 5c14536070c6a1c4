//! Benchmark baseline: the least an axum server can do to answer a cached result — the same
//! bytes and headers from memory, no parsing, no lookup. `BODY_FILE` holds the bytes, and
//! `CONTENT_ENCODING`, when set, names their encoding; prints `listening <address>` once bound
//! to 127.0.0.1:0.

use axum::http::{header, HeaderName, HeaderValue};
use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let path =
        std::env::var("BODY_FILE").map_err(|_| std::io::Error::other("BODY_FILE is not set"))?;
    let body = axum::body::Bytes::from(std::fs::read(path)?);
    let encoding = std::env::var("CONTENT_ENCODING")
        .ok()
        .and_then(|e| HeaderValue::try_from(e).ok());
    let app = Router::new().route(
        "/executions/{*arn}",
        get(move || {
            let (body, encoding) = (body.clone(), encoding.clone());
            async move {
                let encoding = encoding.map(|e| [(header::CONTENT_ENCODING, e)]);
                (
                    encoding,
                    [
                        (
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        ),
                        (
                            header::ETAG,
                            HeaderValue::from_static("\"0123456789abcdef0123456789abcdef\""),
                        ),
                        (
                            header::CACHE_CONTROL,
                            HeaderValue::from_static("private, max-age=31536000, immutable"),
                        ),
                        (
                            HeaderName::from_static("cache-status"),
                            HeaderValue::from_static("sfn-results; hit; detail=memory"),
                        ),
                        (
                            header::X_CONTENT_TYPE_OPTIONS,
                            HeaderValue::from_static("nosniff"),
                        ),
                    ],
                    body,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
