//! How results are read and served: the table, waits, caching, CORS, cursors, the local address.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderValue;

use super::vars::{fail, Vars};
use super::{ConfigError, WAIT_CEILING_SECONDS};

pub(super) struct Reading {
    pub(super) results_table: String,
    pub(super) max_wait: Duration,
    pub(super) redrivable_result_ttl: Duration,
    pub(super) result_retention: Option<Duration>,
    pub(super) memory_cache_bytes: u64,
    pub(super) read_refresh: Duration,
    pub(super) cors_allowed_origins: Vec<HeaderValue>,
    pub(super) cursor_secret: Option<String>,
    pub(super) listen_addr: SocketAddr,
}

impl Reading {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let results_table = vars
            .get("RESULTS_TABLE")
            .ok_or_else(|| fail("RESULTS_TABLE", "required: the DynamoDB table name".into()))?;
        let valid_table = (3..=255).contains(&results_table.len())
            && results_table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !valid_table {
            return Err(fail(
                "RESULTS_TABLE",
                format!("{results_table:?} is not a DynamoDB table name"),
            ));
        }
        let cors_allowed_origins = vars
            .list("CORS_ALLOWED_ORIGINS")
            .iter()
            .map(|origin| {
                let valid = (origin.starts_with("https://") || origin.starts_with("http://"))
                    && !origin.ends_with('/');
                HeaderValue::from_str(origin)
                    .ok()
                    .filter(|_| valid)
                    .ok_or_else(|| {
                        fail(
                            "CORS_ALLOWED_ORIGINS",
                            format!("{origin:?} is not an origin like https://app.example.com"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let retention_days = vars.number("RESULT_RETENTION_DAYS", 0, 0..=36_500)?;
        let cursor_secret = vars.get("CURSOR_SECRET");
        if cursor_secret.as_ref().is_some_and(|s| s.len() < 16) {
            return Err(fail(
                "CURSOR_SECRET",
                "must be at least 16 characters".into(),
            ));
        }
        let listen_addr = match vars.get("LISTEN_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
            Some(v) => v.trim().parse().map_err(|_| {
                fail(
                    "LISTEN_ADDR",
                    format!("{v:?} is not an address like 127.0.0.1:3000"),
                )
            })?,
        };
        Ok(Self {
            results_table,
            max_wait: Duration::from_secs(vars.number(
                "MAX_WAIT_SECONDS",
                25,
                0..=WAIT_CEILING_SECONDS,
            )?),
            redrivable_result_ttl: Duration::from_secs(vars.number(
                "REDRIVABLE_RESULT_TTL_SECONDS",
                60,
                1..=86_400,
            )?),
            result_retention: (retention_days > 0)
                .then(|| Duration::from_secs(retention_days * 86_400)),
            memory_cache_bytes: vars.number("MEMORY_CACHE_MB", 64, 0..=65_536)? * 1024 * 1024,
            read_refresh: Duration::from_secs(vars.number("READ_REFRESH_SECONDS", 1, 1..=300)?),
            cors_allowed_origins,
            cursor_secret,
            listen_addr,
        })
    }
}
