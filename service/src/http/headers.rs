//! Header vocabulary: Cache-Status (RFC 9211), ETags, Prefer: wait (RFC 7240), Location, Retry-After.

use std::time::Duration;

use axum::http::header::{HeaderMap, HeaderName, HeaderValue, IF_NONE_MATCH};

use super::problem::ApiError;
use crate::domain::ExecutionArn;

pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");
pub const PREFERENCE_APPLIED: HeaderName = HeaderName::from_static("preference-applied");
pub const PREFER: HeaderName = HeaderName::from_static("prefer");
const CACHE_NAME: &str = "sfn-results";

/// `Cache-Status` of an answer that went past every cache (must start with `CACHE_NAME`).
pub const BYPASS_CACHE_STATUS: &str = "sfn-results; fwd=bypass";

/// `Cache-Status: sfn-results; <params>`.
pub fn cache_status(params: &str) -> HeaderValue {
    HeaderValue::try_from(format!("{CACHE_NAME}; {params}"))
        .unwrap_or(HeaderValue::from_static(CACHE_NAME))
}

/// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks for this header).
pub fn none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(current) = etag.to_str() else {
        return false;
    };
    let current = current.trim_start_matches("W/");
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == current)
}

/// The wait a request asks for, from `?wait=N` (strict) or `Prefer: wait=N` (a hint; a malformed
/// preference is ignored as RFC 7240 asks), capped at `max`.
/// A page's `limit` from the query: `default` when absent, else a whole number from 1 to `max`.
pub fn page_limit(asked: Option<&str>, default: u16, max: u16) -> Result<u16, ApiError> {
    let Some(l) = asked else {
        return Ok(default);
    };
    l.trim()
        .parse::<u16>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            ApiError::InvalidQuery(format!(
                "limit must be a whole number from 1 to {max}, got {l:?}"
            ))
        })
}

pub fn requested_wait(
    query: Option<&str>,
    headers: &HeaderMap,
    max: Duration,
) -> Result<Option<Duration>, ApiError> {
    let asked = match query {
        Some(value) => Some(value.trim().parse::<u64>().map_err(|_| {
            ApiError::InvalidWait(format!(
                "wait must be a whole number of seconds, got {value:?}"
            ))
        })?),
        None => prefer_wait(headers),
    };
    Ok(asked.map(|secs| Duration::from_secs(secs).min(max)))
}

fn prefer_wait(headers: &HeaderMap) -> Option<u64> {
    headers
        .get_all(PREFER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|pref| {
            let (name, value) = pref.split(';').next()?.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("wait")
                .then(|| value.trim().trim_matches('"').parse::<u64>().ok())?
        })
        .next()
}

/// `Preference-Applied: wait=N` for a request that waited.
pub fn preference_applied(wait: Duration) -> HeaderValue {
    HeaderValue::try_from(format!("wait={}", wait.as_secs()))
        .unwrap_or(HeaderValue::from_static("wait"))
}

/// The status URL of an execution, relative to any `/executions/...` URL it is resolved
/// against, so it stays right behind an API Gateway stage prefix. `./` keeps the ARN's
/// `arn:` from reading as a URI scheme.
pub fn status_location(arn: &ExecutionArn) -> HeaderValue {
    relative_location("./", arn)
}

/// The status URL of an execution, relative to one of its action URLs
/// (`/executions/{arn}/stop`).
pub fn status_location_from_action(arn: &ExecutionArn) -> HeaderValue {
    relative_location("../", arn)
}

fn relative_location(prefix: &'static str, arn: &ExecutionArn) -> HeaderValue {
    let mut location = String::from(prefix);
    for c in arn.as_str().chars() {
        match c {
            'A'..='Z'
            | 'a'..='z'
            | '0'..='9'
            | '-'
            | '.'
            | '_'
            | '~'
            | ':'
            | '@'
            | '!'
            | '('
            | ')'
            | '*'
            | '+'
            | '='
            | '\'' => location.push(c),
            other => {
                let mut buf = [0u8; 4];
                for b in other.encode_utf8(&mut buf).bytes() {
                    location.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    HeaderValue::from_str(&location).unwrap_or(HeaderValue::from_static(prefix))
}

/// Seconds to wait before polling again: short for young executions, longer for old ones.
pub fn retry_after(age: Duration) -> u64 {
    match age.as_secs() {
        0..10 => 1,
        10..60 => 2,
        60..600 => 5,
        600..3600 => 15,
        _ => 30,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn prefer_wait_is_read_among_other_preferences_and_capped() {
        let max = Duration::from_secs(25);
        let h = headers(&[("prefer", "respond-async, wait=10")]);
        assert_eq!(
            requested_wait(None, &h, max).ok().flatten(),
            Some(Duration::from_secs(10))
        );
        let h = headers(&[("prefer", "wait=9999")]);
        assert_eq!(requested_wait(None, &h, max).ok().flatten(), Some(max));
        let h = headers(&[("prefer", "wait=soon")]);
        assert_eq!(requested_wait(None, &h, max).ok().flatten(), None);
    }

    #[test]
    fn a_malformed_wait_query_is_a_client_error() {
        let max = Duration::from_secs(25);
        assert!(requested_wait(Some("-1"), &HeaderMap::new(), max).is_err());
        assert!(requested_wait(Some("1e9"), &HeaderMap::new(), max).is_err());
        assert_eq!(
            requested_wait(Some("99999999999999"), &HeaderMap::new(), max)
                .ok()
                .flatten(),
            Some(max)
        );
    }

    #[test]
    fn if_none_match_matches_lists_weak_tags_and_star() {
        let tag = HeaderValue::from_static("\"abc\"");
        assert!(none_match(
            &headers(&[("if-none-match", "\"x\", W/\"abc\"")]),
            &tag
        ));
        assert!(none_match(&headers(&[("if-none-match", "*")]), &tag));
        assert!(!none_match(&headers(&[("if-none-match", "\"abd\"")]), &tag));
        let weak = HeaderValue::from_static("W/\"abc\"");
        assert!(none_match(&headers(&[("if-none-match", "\"abc\"")]), &weak));
        assert!(none_match(
            &headers(&[("if-none-match", "W/\"abc\"")]),
            &weak
        ));
    }

    #[test]
    fn the_status_location_is_relative_and_encodes_what_a_path_cannot_hold() {
        let arn =
            ExecutionArn::parse("arn:aws:states:us-east-1:123456789012:execution:M:caf\u{e9}")
                .expect("valid");
        assert_eq!(
            status_location(&arn),
            "./arn:aws:states:us-east-1:123456789012:execution:M:caf%C3%A9"
        );
    }

    #[test]
    fn retry_after_grows_with_the_execution_age() {
        let ages = [1, 30, 300, 1800, 86_400].map(|s| retry_after(Duration::from_secs(s)));
        assert!(ages.windows(2).all(|w| w[0] < w[1]), "{ages:?}");
        assert_eq!(ages[0], 1);
    }
}
