//! Webhook rules, the timing: an attempt's time limit, the retry schedule with its jitter, and
//! `Retry-After` in both of its forms.

use std::time::{Duration, SystemTime};

/// A delivery attempt's time limit.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest wait a receiver's `Retry-After` can ask for.
const LONGEST_ASKED: Duration = Duration::from_secs(12 * 3600);

/// Seconds before each retry; the delivery is dead after the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(pub Vec<Duration>);

impl RetrySchedule {
    pub fn parse(text: &str) -> Result<Self, String> {
        let delays = text
            .split(',')
            .map(str::trim)
            .map(|s| {
                s.parse::<u64>()
                    .ok()
                    .filter(|n| *n <= 12 * 3600)
                    .map(Duration::from_secs)
                    .ok_or_else(|| format!("{s:?} is not a whole number of seconds up to 43200"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if delays.is_empty() || delays.len() > 20 {
            return Err("1 to 20 delays".into());
        }
        Ok(Self(delays))
    }

    /// The wait before the retry that follows `attempts` attempts, with ±10 % jitter, at least
    /// what the receiver's `Retry-After` asked; `None` when no retry is left.
    pub fn next(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        let base = *self
            .0
            .get(usize::try_from(attempts).ok()?.checked_sub(1)?)?;
        let jittered = base.mul_f64(1.0 + 0.1 * jitter.clamp(-1.0, 1.0));
        Some(retry_after.map_or(jittered, |asked| jittered.max(asked.min(LONGEST_ASKED))))
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self(
            [5, 300, 1800, 7200, 18000, 36000, 36000]
                .map(Duration::from_secs)
                .to_vec(),
        )
    }
}

/// The schedule's jitter for one delivery's retry, in [-1, 1]: spread over deliveries (so
/// those that failed together do not retry together) and fixed for each, so the same
/// attempt is scheduled alike wherever it runs.
pub fn jitter(delivery_id: &str, attempts: u32) -> f64 {
    let hash = xxhash_rust::xxh3::xxh3_64(format!("{delivery_id}\n{attempts}").as_bytes());
    // The top 53 bits: exactly representable.
    (hash >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// A `Retry-After` value in either of its forms (RFC 9110 §10.2.3): delay seconds, or an
/// HTTP-date, as the time left until then (zero for a date passed). `None` when it is neither.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // A number too large for u64 is still a (very long) delay.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now = httpdate::parse_http_date("Wed, 02 Dec 2026 10:00:00 GMT").expect("date");
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            retry_after("Wed, 02 Dec 2026 10:05:00 GMT", now),
            Some(Duration::from_secs(300))
        );
        // The obsolete forms RFC 9110 says a recipient must accept.
        assert_eq!(
            retry_after("Wednesday, 02-Dec-26 10:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            retry_after("Wed Dec  2 10:00:30 2026", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Wed, 02 Dec 2026 09:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date passed: no wait"
        );
        for bad in ["", "-5", "1.5", "soon", "Wed, 32 Dec 2026 10:00:00 GMT"] {
            assert_eq!(retry_after(bad, now), None, "{bad:?}");
        }
        assert_eq!(
            retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn the_schedule_jitters_and_honours_retry_after_then_ends() {
        let schedule = RetrySchedule::parse("5,300").expect("valid");
        assert_eq!(schedule.next(1, None, 0.0), Some(Duration::from_secs(5)));
        assert_eq!(
            schedule.next(1, None, 1.0),
            Some(Duration::from_millis(5500))
        );
        assert_eq!(
            schedule.next(1, Some(Duration::from_secs(60)), 0.0),
            Some(Duration::from_secs(60))
        );
        assert_eq!(schedule.next(3, None, 0.0), None);
        assert!(RetrySchedule::parse("5,x").is_err());
    }

    #[test]
    fn the_jitter_stays_within_ten_percent_differs_between_deliveries_and_repeats_for_one() {
        let spread: Vec<f64> = (0..200).map(|n| jitter(&format!("msg_{n}"), 1)).collect();
        assert!(spread.iter().all(|j| (-1.0..=1.0).contains(j)));
        assert!(spread.iter().any(|j| *j < -0.5) && spread.iter().any(|j| *j > 0.5));
        assert_eq!(jitter("msg_a", 3), jitter("msg_a", 3));
        assert_ne!(jitter("msg_a", 3), jitter("msg_a", 4));
    }
}
