//! Webhook rules (Standard Webhooks): which endpoints a stop notifies, the signed request, the
//! retry schedule, and which addresses an endpoint may resolve to.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::arn::StateMachineArn;
use super::execution::ExecutionStatus;

/// How long a rotated-out secret keeps signing beside the new one.
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 60 * 60);
/// A delivery attempt's time limit.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// The statuses an endpoint can ask for: the four stops.
pub const STOPPED: [ExecutionStatus; 4] = [
    ExecutionStatus::Succeeded,
    ExecutionStatus::Failed,
    ExecutionStatus::TimedOut,
    ExecutionStatus::Aborted,
];

/// Why an endpoint's registration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("url: {0}")]
    Url(String),
    #[error("unknown status {0:?}: one of SUCCEEDED, FAILED, TIMED_OUT, ABORTED")]
    Status(String),
    #[error("{0} is not an allowed state machine")]
    StateMachine(String),
    #[error("no workflow is named {0:?} (GET /workflows lists them)")]
    Workflow(String),
    #[error("description: at most 256 characters")]
    Description,
}

/// An endpoint's URL: `https`, or `http` to a loopback address when that is allowed; no
/// credentials; an address literal must be one an endpoint may have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub fn parse(raw: &str, allow_loopback: bool) -> Result<Self, EndpointError> {
        let bad = |why: &str| EndpointError::Url(why.to_owned());
        if raw.len() > 2048 {
            return Err(bad("longer than 2048 characters"));
        }
        let url = url::Url::parse(raw).map_err(|e| EndpointError::Url(e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not hold credentials"));
        }
        let host = url.host().ok_or_else(|| bad("has no host"))?;
        let literal: Option<IpAddr> = match host {
            url::Host::Ipv4(ip) => Some(ip.into()),
            url::Host::Ipv6(ip) => Some(ip.into()),
            url::Host::Domain(_) => None,
        };
        let loopback_name =
            matches!(host, url::Host::Domain(d) if d.eq_ignore_ascii_case("localhost"));
        let loopback = loopback_name || literal.is_some_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if allow_loopback && loopback => {}
            "http" => return Err(bad("must be https (http only to loopback, when allowed)")),
            _ => return Err(bad("must be an https URL")),
        }
        if let Some(ip) = literal {
            address_allowed(ip, allow_loopback).map_err(|why| EndpointError::Url(why.into()))?;
        } else if loopback_name && !allow_loopback {
            return Err(bad("points at loopback"));
        }
        Ok(Self(url.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a delivery may go to `ip`: never to loopback (unless allowed), private, link-local
/// (the instance metadata address), CGNAT, multicast, unspecified or IPv6 unique-local ranges.
pub fn address_allowed(ip: IpAddr, allow_loopback: bool) -> Result<(), &'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if ip.is_loopback() {
        return if allow_loopback {
            Ok(())
        } else {
            Err("resolves to a loopback address")
        };
    }
    let refused = match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
                || a == 0
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_multicast()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    };
    if refused {
        Err("resolves to a private, link-local, CGNAT or multicast address")
    } else {
        Ok(())
    }
}

/// A signing secret: `whsec_` and the base64 of its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    pub secret: String,
    /// After this, a rotated-out secret no longer signs.
    #[serde(default)]
    pub expires_at_ms: Option<u64>,
}

impl Secret {
    /// A new secret of 32 random bytes.
    pub fn generate() -> Self {
        use ring::rand::SecureRandom;
        let mut key = [0u8; 32];
        // The system's random source; it does not fail on the platforms Lambda runs.
        let _ = ring::rand::SystemRandom::new().fill(&mut key);
        Self {
            secret: format!("whsec_{}", BASE64.encode(key)),
            expires_at_ms: None,
        }
    }

    fn key(&self) -> Option<Vec<u8>> {
        BASE64.decode(self.secret.strip_prefix("whsec_")?).ok()
    }

    pub fn signs_at(&self, now: SystemTime) -> bool {
        self.expires_at_ms.is_none_or(|ms| millis(now) < ms)
    }
}

fn millis(t: SystemTime) -> u64 {
    u64::try_from(
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

/// The `webhook-signature` header: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for each
/// secret that signs at `now`, space-separated.
pub fn signature(
    secrets: &[Secret],
    id: &str,
    timestamp: u64,
    body: &[u8],
    now: SystemTime,
) -> String {
    let mut content = Vec::with_capacity(id.len() + body.len() + 24);
    content.extend_from_slice(format!("{id}.{timestamp}.").as_bytes());
    content.extend_from_slice(body);
    secrets
        .iter()
        .filter(|s| s.signs_at(now))
        .filter_map(Secret::key)
        .map(|key| {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
            format!(
                "v1,{}",
                BASE64.encode(ring::hmac::sign(&key, &content).as_ref())
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A registered endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub id: String,
    pub url: WebhookUrl,
    /// `None` (and no `workflows`): every allowed machine.
    pub state_machines: Option<Vec<String>>,
    /// Workflow names (state machine names); a stop matches when its machine is in either list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflows: Option<Vec<String>>,
    pub statuses: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub created_at_ms: u64,
    #[serde(default)]
    pub disabled: bool,
    pub secrets: Vec<Secret>,
    /// The stored item's version when it was read (0: never stored): a replace is conditional
    /// on it, so a write never brings back a deleted endpoint or undoes another's change.
    #[serde(skip)]
    pub version: u64,
}

impl Endpoint {
    /// Whether a stop of `machine` with `status` at `stopped_ms` is for this endpoint: it asked
    /// for them, and it was registered before the stop.
    pub fn wants(
        &self,
        machine: &StateMachineArn,
        status: ExecutionStatus,
        stopped_ms: u64,
    ) -> bool {
        !self.disabled
            && stopped_ms >= self.created_at_ms
            && self.statuses.iter().any(|s| s == status.as_str())
            && self.wants_machine(machine)
    }
}

impl Endpoint {
    /// Whether stops of `machine` are for this endpoint: every machine when it named none, else
    /// one it named by ARN or by workflow name.
    pub fn wants_machine(&self, machine: &StateMachineArn) -> bool {
        match (&self.state_machines, &self.workflows) {
            (None, None) => true,
            (machines, workflows) => {
                machines.iter().flatten().any(|m| m == machine.as_str())
                    || workflows.iter().flatten().any(|w| w == machine.name())
            }
        }
    }
}

/// `execution.succeeded`, `execution.failed`, `execution.timed_out`, `execution.aborted`.
pub fn event_type(status: ExecutionStatus) -> String {
    format!("execution.{}", status.as_str().to_ascii_lowercase())
}

/// The `webhook-id`, the same for every attempt and re-send of one (endpoint, execution,
/// status), so a consumer can de-duplicate.
pub fn message_id(endpoint: &str, execution_arn: &str, status: ExecutionStatus) -> String {
    let hash = xxhash_rust::xxh3::xxh3_128(
        format!("{endpoint}\n{execution_arn}\n{}", status.as_str()).as_bytes(),
    );
    format!("msg_{hash:032x}")
}

/// The thin payload: what the result document says, without the output, and where to read it.
pub fn payload(document: &[u8], status_url: &str, now: SystemTime) -> Option<Bytes> {
    let doc: serde_json::Value = serde_json::from_slice(document).ok()?;
    let status = ExecutionStatus::parse(doc.get("status")?.as_str()?)?;
    let mut data = serde_json::Map::new();
    for field in [
        "executionArn",
        "stateMachineArn",
        "name",
        "status",
        "startDate",
        "stopDate",
        "error",
        "cause",
    ] {
        data.insert(field.into(), doc.get(field).cloned().unwrap_or_default());
    }
    data.insert("statusUrl".into(), status_url.into());
    let body = serde_json::json!({
        "type": event_type(status),
        "timestamp": crate::domain::execution::rfc3339_millis(now),
        "data": data,
    });
    serde_json::to_vec(&body).ok().map(Bytes::from)
}

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
        Some(retry_after.map_or(jittered, |asked| {
            jittered.max(asked.min(Duration::from_secs(12 * 3600)))
        }))
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

    fn endpoint(machines: Option<&[&str]>, workflows: Option<&[&str]>) -> Endpoint {
        let owned =
            |list: Option<&[&str]>| list.map(|l| l.iter().map(|s| (*s).to_owned()).collect());
        Endpoint {
            id: "wh_1".into(),
            url: WebhookUrl::parse("https://hooks.example.com/x", false).expect("url"),
            state_machines: owned(machines),
            workflows: owned(workflows),
            statuses: vec!["SUCCEEDED".into()],
            description: None,
            created_at_ms: 0,
            disabled: false,
            secrets: Vec::new(),
            version: 0,
        }
    }

    #[test]
    fn an_endpoint_wants_the_machines_it_named_by_arn_or_by_workflow_name() {
        let orders = "arn:aws:states:us-east-1:123456789012:stateMachine:orders";
        let quote = "arn:aws:states:us-east-1:123456789012:stateMachine:quote";
        let other = "arn:aws:states:us-east-1:123456789012:stateMachine:other";
        let machine = |arn: &str| StateMachineArn::parse(arn).expect("arn");
        let every = endpoint(None, None);
        let by_name = endpoint(None, Some(&["orders"]));
        let both = endpoint(Some(&[quote]), Some(&["orders"]));
        for arn in [orders, quote, other] {
            assert!(every.wants_machine(&machine(arn)));
        }
        assert!(by_name.wants_machine(&machine(orders)));
        assert!(!by_name.wants_machine(&machine(quote)));
        assert!(both.wants_machine(&machine(orders)) && both.wants_machine(&machine(quote)));
        assert!(!both.wants_machine(&machine(other)));
        assert!(by_name.wants(&machine(orders), ExecutionStatus::Succeeded, 1));
        assert!(!by_name.wants(&machine(orders), ExecutionStatus::Failed, 1));
    }

    #[test]
    fn urls_must_be_https_without_credentials_or_refused_addresses() {
        assert!(WebhookUrl::parse("https://hooks.example.com/in", false).is_ok());
        for bad in [
            "http://hooks.example.com/in",
            "ftp://hooks.example.com",
            "https://user:pw@hooks.example.com/",
            "https://10.0.0.8/",
            "https://169.254.169.254/latest",
            "https://100.64.1.1/",
            "https://[fd00::1]/",
            "https://127.0.0.1/",
            "http://127.0.0.1:9000/",
        ] {
            assert!(WebhookUrl::parse(bad, false).is_err(), "{bad}");
        }
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(WebhookUrl::parse("http://10.0.0.1/hook", true).is_err());
    }

    #[test]
    fn an_international_host_is_taken_in_its_ascii_form_only() {
        // The binary carries no Unicode tables (idna_adapter 1.0).
        assert!(WebhookUrl::parse("https://xn--bcher-kva.example/in", false).is_ok());
        assert!(WebhookUrl::parse("https://b\u{fc}cher.example/in", false).is_err());
    }

    #[test]
    fn every_live_secret_signs_and_an_expired_one_does_not() {
        let now = SystemTime::now();
        let new = Secret::generate();
        let old = Secret {
            expires_at_ms: Some(millis(now) + 1000),
            ..Secret::generate()
        };
        let both = signature(&[new.clone(), old.clone()], "msg_1", 1, b"{}", now);
        assert_eq!(both.split(' ').count(), 2);
        let later = now + Duration::from_secs(2);
        assert_eq!(
            signature(&[new, old], "msg_1", 1, b"{}", later)
                .split(' ')
                .count(),
            1
        );
    }

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
}
