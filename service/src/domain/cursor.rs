//! Opaque list cursors: the upstream position and the query it belongs to, HMAC-signed so a
//! client can neither forge nor alter one, and dated so an old one is refused.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// How long a cursor is honoured; `ListExecutions` tokens last 24 h, an ops view far less.
pub const CURSOR_LIFETIME: Duration = Duration::from_secs(3600);

/// The key cursors are signed with (HMAC-SHA256 from ring, as webhook signatures are).
#[derive(Clone)]
pub struct CursorKey(ring::hmac::Key);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(…)")
    }
}

impl CursorKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret))
    }

    /// A key of this process only: its cursors are refused by any other instance.
    pub fn random() -> Self {
        let mut key = uuid::Uuid::new_v4().as_bytes().to_vec();
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self::new(&key)
    }

    /// The HMAC-SHA256 of `data` (for other signed values than cursors: callback links).
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        ring::hmac::sign(&self.0, data).as_ref().to_vec()
    }

    /// Whether `tag` is this key's HMAC of `data` (compared in constant time).
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        ring::hmac::verify(&self.0, data, tag).is_ok()
    }

    /// Signs `position` as a cursor valid until `now + CURSOR_LIFETIME`.
    pub fn seal(&self, position: &Position, now: SystemTime) -> String {
        let sealed = Sealed {
            position: position.clone(),
            expires: now
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .saturating_add(CURSOR_LIFETIME)
                .as_secs(),
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&sealed).unwrap_or_default());
        let tag = URL_SAFE_NO_PAD.encode(ring::hmac::sign(&self.0, payload.as_bytes()));
        format!("{payload}.{tag}")
    }

    /// The position a cursor holds, if this key signed it and it has not expired.
    pub fn open(&self, cursor: &str, now: SystemTime) -> Result<Position, CursorError> {
        let (payload, tag) = cursor.split_once('.').ok_or(CursorError::Invalid)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| CursorError::Invalid)?;
        ring::hmac::verify(&self.0, payload.as_bytes(), &tag).map_err(|_| CursorError::Invalid)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| CursorError::Invalid)?;
        let sealed: Sealed = serde_json::from_slice(&json).map_err(|_| CursorError::Invalid)?;
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        if sealed.expires < now {
            return Err(CursorError::Expired);
        }
        Ok(sealed.position)
    }
}

/// Where the next page starts, and the query it continues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    #[serde(rename = "m")]
    pub machine: String,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The upstream's own token: `ListExecutions`' `nextToken`, or the table's last key.
    #[serde(rename = "t")]
    pub token: String,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    #[serde(rename = "p")]
    position: Position,
    #[serde(rename = "e")]
    expires: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("the cursor was not issued by this service or was altered")]
    Invalid,
    #[error("the cursor has expired; list again from the first page")]
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position() -> Position {
        Position {
            machine: "arn:aws:states:us-east-1:123456789012:stateMachine:Orders".into(),
            status: Some("RUNNING".into()),
            token: "abc".into(),
        }
    }

    #[test]
    fn a_sealed_cursor_opens_to_its_position() {
        let key = CursorKey::new(b"k");
        let now = SystemTime::now();
        assert_eq!(key.open(&key.seal(&position(), now), now), Ok(position()));
    }

    #[test]
    fn an_altered_or_foreign_cursor_is_invalid() {
        let key = CursorKey::new(b"k");
        let now = SystemTime::now();
        let cursor = key.seal(&position(), now);
        let mut bytes = cursor.clone().into_bytes();
        bytes[3] ^= 1;
        let altered = String::from_utf8(bytes).expect("ascii");
        assert_eq!(key.open(&altered, now), Err(CursorError::Invalid));
        assert_eq!(
            CursorKey::new(b"other").open(&cursor, now),
            Err(CursorError::Invalid)
        );
        assert_eq!(key.open("nonsense", now), Err(CursorError::Invalid));
    }

    #[test]
    fn an_old_cursor_has_expired() {
        let key = CursorKey::new(b"k");
        let then = SystemTime::now() - CURSOR_LIFETIME - Duration::from_secs(5);
        assert_eq!(
            key.open(&key.seal(&position(), then), SystemTime::now()),
            Err(CursorError::Expired)
        );
    }
}
