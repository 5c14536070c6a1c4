//! Logging: `lambda_http`'s default subscriber, with the crates that see payloads capped at info.
//!
//! At debug and trace the AWS SDK logs whole response bodies (an execution's input and output),
//! the Lambda runtime logs whole invocation events (a start request's body), and the HTTP and
//! TLS crates log frames. No `RUST_LOG` or `AWS_LAMBDA_LOG_LEVEL` may turn those on, so the cap
//! is a filter of its own beside the user's, not a directive the user's could outrank.

use std::str::FromStr;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, registry, Layer};

/// Target prefixes (matched as string prefixes) whose logs stop at info whatever is asked:
/// the AWS SDK and smithy runtime, the Lambda runtime, hyper, h2 and rustls. tower-http's trace
/// layer is left alone: it logs method, path, status and latency, never headers or bodies.
pub const CAPPED_AT_INFO: &[&str] = &["aws_", "lambda_", "hyper", "h2", "rustls", "tokio_rustls"];

/// Installs the global subscriber writing to stdout: the level from `AWS_LAMBDA_LOG_LEVEL`, else
/// `RUST_LOG` (directives included), else info; JSON lines when `AWS_LAMBDA_LOG_FORMAT=json` —
/// as `lambda_http::tracing::init_default_subscriber` does — plus the cap.
pub fn init() {
    let _ = registry()
        .with(filter(|name| std::env::var(name).ok()))
        .with(cap())
        .with(format(
            std::io::stdout,
            std::env::var("AWS_LAMBDA_LOG_FORMAT").unwrap_or_default(),
        ))
        .try_init();
}

/// The user's filter, read as `init_default_subscriber` reads it: the level of
/// `AWS_LAMBDA_LOG_LEVEL`, else of `RUST_LOG`, else info, under `RUST_LOG`'s `target=level`
/// directives (a bare level among them sets the default). Span and field directives, which need
/// `EnvFilter`'s regex engine, are not read: a `RUST_LOG` holding one is ignored whole.
fn filter(var: impl Fn(&str) -> Option<String>) -> Targets {
    let level = var("AWS_LAMBDA_LOG_LEVEL").or_else(|| var("RUST_LOG"));
    let level =
        LevelFilter::from_str(level.as_deref().unwrap_or("INFO")).unwrap_or(LevelFilter::INFO);
    let directives = var("RUST_LOG")
        .and_then(|text| Targets::from_str(&text).ok())
        .unwrap_or_default();
    match directives.default_level() {
        Some(_) => directives,
        None => directives.with_default(level),
    }
}

/// Everything passes but the capped crates' debug and trace.
fn cap() -> Targets {
    CAPPED_AT_INFO.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |targets, prefix| targets.with_target(*prefix, LevelFilter::INFO),
    )
}

fn format<S, W>(writer: W, log_format: String) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> registry::LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = fmt::layer()
        .with_target(false)
        .without_time()
        .with_writer(writer);
    if log_format.eq_ignore_ascii_case("json") {
        layer.json().boxed()
    } else {
        layer.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A writer into a shared buffer, for tests of what reaches the log.
    #[derive(Clone, Debug, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut bytes) = self.0.lock() {
                bytes.extend_from_slice(buf);
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Self;

        fn make_writer(&'w self) -> Self {
            self.clone()
        }
    }

    #[test]
    fn capped_crates_stay_at_info_when_everything_is_asked_for_at_trace() {
        let captured = Captured::default();
        let subscriber = registry()
            .with(filter(|name| {
                (name == "RUST_LOG").then(|| "trace,aws_smithy_runtime::client=trace".into())
            }))
            .with(cap())
            .with(format(captured.clone(), "json".into()));
        let _guard = subscriber.set_default();
        tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "SDK-BODY");
        tracing::debug!(target: "lambda_runtime::layers::api_response", "RAW-EVENT");
        tracing::trace!(target: "h2::codec", "FRAME");
        tracing::info!(target: "aws_config", "SDK-INFO");
        tracing::trace!(target: "sfn_results::http", "OWN-TRACE");
        let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
        for hidden in ["SDK-BODY", "RAW-EVENT", "FRAME"] {
            assert!(!text.contains(hidden), "{hidden} logged: {text}");
        }
        for shown in ["SDK-INFO", "OWN-TRACE"] {
            assert!(text.contains(shown), "{shown} missing: {text}");
        }
    }

    #[test]
    fn aws_lambda_log_level_sets_the_level_unless_rust_log_has_directives() {
        let filter = filter(|name| match name {
            "AWS_LAMBDA_LOG_LEVEL" => Some("WARN".into()),
            "RUST_LOG" => Some("debug".into()),
            _ => None,
        });
        // RUST_LOG's directives still apply, as in `init_default_subscriber`.
        assert_eq!(filter.default_level(), Some(LevelFilter::DEBUG));
        let quiet = super::filter(|name| (name == "AWS_LAMBDA_LOG_LEVEL").then(|| "error".into()));
        assert_eq!(quiet.default_level(), Some(LevelFilter::ERROR));
        let targeted = super::filter(|name| match name {
            "AWS_LAMBDA_LOG_LEVEL" => Some("warn".into()),
            "RUST_LOG" => Some("sfn_results=trace".into()),
            _ => None,
        });
        assert_eq!(targeted.default_level(), Some(LevelFilter::WARN));
        assert!(targeted.would_enable("sfn_results::http", &tracing::Level::TRACE));
        assert!(!targeted.would_enable("aws_config", &tracing::Level::INFO));
    }
}
