//! Standard Webhooks v1: `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::ErrorCode;

/// A signature is accepted for this many seconds either side of now.
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookError {
    /// The secret is not `whsec_<base64>` (or plain base64).
    BadSecret,
    BadTimestamp,
    TooOld,
    TooNew,
    NoMatchingSignature,
}

impl WebhookError {
    pub fn code(&self) -> ErrorCode {
        match self {
            WebhookError::BadSecret => ErrorCode::BadSecret,
            WebhookError::BadTimestamp => ErrorCode::BadTimestamp,
            WebhookError::TooOld => ErrorCode::TimestampTooOld,
            WebhookError::TooNew => ErrorCode::TimestampTooNew,
            WebhookError::NoMatchingSignature => ErrorCode::NoMatchingSignature,
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            WebhookError::BadSecret => "the secret is not `whsec_` followed by base64",
            WebhookError::BadTimestamp => "the `webhook-timestamp` header is not unix seconds",
            WebhookError::TooOld => "the message is older than 5 minutes",
            WebhookError::TooNew => "the message is more than 5 minutes in the future",
            WebhookError::NoMatchingSignature => "no `v1,` signature matches the message",
        }
    }
}

fn key(secret: &str) -> Result<Vec<u8>, WebhookError> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| WebhookError::BadSecret)?;
    if key.is_empty() {
        return Err(WebhookError::BadSecret);
    }
    Ok(key)
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Result<Hmac<Sha256>, WebhookError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| WebhookError::BadSecret)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The `webhook-signature` value for one secret: `v1,<base64>`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, WebhookError> {
    let tag = mac(&key(secret)?, id, timestamp, body)?
        .finalize()
        .into_bytes();
    Ok(format!("v1,{}", STANDARD.encode(tag)))
}

/// Verifies a `webhook-signature` header (space-separated signatures, any may match) at
/// `now_seconds`, in constant time per signature.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signatures: &str,
    now_seconds: i64,
) -> Result<(), WebhookError> {
    let key = key(secret)?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| WebhookError::BadTimestamp)?;
    if ts < now_seconds - TOLERANCE_SECONDS {
        return Err(WebhookError::TooOld);
    }
    if ts > now_seconds + TOLERANCE_SECONDS {
        return Err(WebhookError::TooNew);
    }
    for candidate in signatures.split(' ') {
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            continue;
        };
        let Ok(tag) = STANDARD.decode(encoded) else {
            continue;
        };
        if mac(&key, id, ts, body)?.verify_slice(&tag).is_ok() {
            return Ok(());
        }
    }
    Err(WebhookError::NoMatchingSignature)
}

/// A fresh `whsec_` secret of 24 random bytes.
pub fn new_secret() -> Option<String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).ok()?;
    Some(format!("whsec_{}", STANDARD.encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn matches_the_published_vector() {
        assert_eq!(
            sign(SECRET, ID, 1_614_265_330, BODY).as_deref(),
            Ok("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn tolerance_is_five_minutes_each_way() {
        let sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert!(verify(SECRET, ID, "1614265330", BODY, sig, 1_614_265_630).is_ok());
        assert_eq!(
            verify(SECRET, ID, "1614265330", BODY, sig, 1_614_265_631),
            Err(WebhookError::TooOld)
        );
        assert_eq!(
            verify(SECRET, ID, "1614265330", BODY, sig, 1_614_265_029),
            Err(WebhookError::TooNew)
        );
    }
}

/// The event for one audit record: `{"type", "timestamp", "data"}` (data = the record).
pub fn event_payload(record: &crate::audit::AuditRecord) -> serde_json::Value {
    serde_json::json!({
        "type": record.event_type(),
        "timestamp": crate::time::format_rfc3339(record.time),
        "data": record.to_value(),
    })
}

/// The webhook id of a record's event: stable across retries, unique per record
/// (derived from the record's chain hash).
pub fn message_id(record: &crate::audit::AuditRecord) -> String {
    format!("msg_{}", record.hash.get(..32).unwrap_or(&record.hash))
}

/// Exactly what to POST for one event: headers and body. With several secrets (during a
/// rotation) the signature header carries one signature per secret, space separated.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

pub fn delivery(
    secrets: &[&str],
    id: &str,
    timestamp: i64,
    body: String,
) -> Result<Delivery, WebhookError> {
    if secrets.is_empty() {
        return Err(WebhookError::BadSecret);
    }
    let signatures = secrets
        .iter()
        .map(|s| sign(s, id, timestamp, body.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?
        .join(" ");
    Ok(Delivery {
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("webhook-id".into(), id.to_string()),
            ("webhook-timestamp".into(), timestamp.to_string()),
            ("webhook-signature".into(), signatures),
        ],
        body,
    })
}

/// The delivery of one audit record's event, signed at `timestamp` (unix seconds).
pub fn delivery_for(
    record: &crate::audit::AuditRecord,
    secrets: &[&str],
    timestamp: i64,
) -> Result<Delivery, WebhookError> {
    delivery(
        secrets,
        &message_id(record),
        timestamp,
        event_payload(record).to_string(),
    )
}

#[cfg(test)]
mod delivery_tests {
    use super::*;

    #[test]
    fn a_rotation_signs_with_both_secrets_and_each_verifies() {
        let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let new = "whsec_c2VjcmV0LXR3by1mb3ItdGhlLXJvdGF0aW9u";
        let d = delivery(&[old, new], "msg_1", 1_700_000_000, "{}".into());
        let sig = d
            .as_ref()
            .ok()
            .and_then(|d| d.headers.iter().find(|(k, _)| k == "webhook-signature"))
            .map(|(_, v)| v.clone());
        let sig = sig.unwrap_or_default();
        assert_eq!(sig.split(' ').count(), 2);
        assert!(verify(old, "msg_1", "1700000000", b"{}", &sig, 1_700_000_000).is_ok());
        assert!(verify(new, "msg_1", "1700000000", b"{}", &sig, 1_700_000_000).is_ok());
    }
}
