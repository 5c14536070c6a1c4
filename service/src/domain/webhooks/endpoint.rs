//! Webhook rules, the endpoint: what it asks for (matching a stop to it) and how its secrets
//! sign a delivery (`webhook-signature`).

use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::WebhookUrl;
use crate::domain::arn::StateMachineArn;
use crate::domain::execution::ExecutionStatus;
use crate::domain::reconcile::millis;

/// How long a rotated-out secret keeps signing beside the new one.
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 60 * 60);
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
}
