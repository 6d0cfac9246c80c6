//! Signed approvals. An operator approves or denies with a WebAuthn assertion whose challenge
//! is the SHA-256 of a canonical text naming exactly what is decided:
//!
//! ```text
//! behalf approval signature v1
//! decision approve
//! approval apr_…
//! fingerprint <hex SHA-256 of the held request>
//! ttl 30m            (or `default`; always `-` for a denial)
//! nonce <the server's one-time nonce>
//! ```
//!
//! The authenticator signs `authenticatorData ‖ SHA-256(clientDataJSON)`, and clientDataJSON
//! carries that challenge, so the signature covers this exact action and nothing else. The
//! audit record keeps the text's fields and the assertion; [`verify_record`] rebuilds the text
//! from the record itself (the fingerprint recomputed from its request fields) and checks the
//! assertion with the operator's stored public key, through webauthn-rs, offline.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use behalf_core::request::Request;
use behalf_store::operators::OperatorStore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PublicKeyCredential, RequestChallengeResponse, Url,
    WebauthnBuilder,
};

/// What a signature commits to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commitment {
    pub decision: Verdict,
    pub approval_id: String,
    pub fingerprint: String,
    /// The grant window asked for (`None`: the permission's own); always `None` for a denial.
    pub ttl: Option<String>,
    pub nonce: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Deny,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Deny => "deny",
        }
    }

    pub fn parse(text: &str) -> Option<Verdict> {
        match text {
            "approve" => Some(Verdict::Approve),
            "deny" => Some(Verdict::Deny),
            _ => None,
        }
    }

    /// The audit event a verdict records.
    pub fn event(self) -> &'static str {
        match self {
            Verdict::Approve => "approval.granted",
            Verdict::Deny => "approval.denied",
        }
    }
}

impl Commitment {
    /// The canonical text; one field a line, in this order, so no two commitments share a text.
    pub fn text(&self) -> String {
        let ttl = match (self.decision, &self.ttl) {
            (Verdict::Deny, _) => "-",
            (Verdict::Approve, None) => "default",
            (Verdict::Approve, Some(t)) => t.as_str(),
        };
        format!(
            "behalf approval signature v1\ndecision {}\napproval {}\nfingerprint {}\nttl {ttl}\nnonce {}\n",
            self.decision.as_str(),
            self.approval_id,
            self.fingerprint,
            self.nonce
        )
    }

    /// The WebAuthn challenge: base64url of the SHA-256 of the text.
    pub fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.text().as_bytes()))
    }

    /// Every field is a plain token (letters, digits, `_`, `-`, `.`), so the one-field-a-line
    /// text has exactly one reading.
    pub fn is_plain(&self) -> bool {
        let plain = |t: &str| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        };
        plain(&self.approval_id)
            && plain(&self.fingerprint)
            && plain(&self.nonce)
            && self.ttl.as_deref().is_none_or(plain)
    }

    /// The fields as the audit record keeps them.
    pub fn to_value(&self) -> Value {
        json!({
            "decision": self.decision.as_str(),
            "approvalId": self.approval_id,
            "fingerprint": self.fingerprint,
            "ttl": self.ttl,
            "nonce": self.nonce,
        })
    }
}

/// Replaces the library's random challenge with the committing one, in the options sent to the
/// browser and in the state the server checks the answer against. webauthn-rs then verifies
/// the signature and that clientDataJSON names exactly this challenge.
pub fn commit(
    options: RequestChallengeResponse,
    state: PasskeyAuthentication,
    challenge: &str,
) -> Result<(Value, PasskeyAuthentication), String> {
    let mut options = serde_json::to_value(&options).map_err(|e| e.to_string())?;
    let mut state = serde_json::to_value(&state).map_err(|e| e.to_string())?;
    match (
        options.pointer_mut("/publicKey/challenge"),
        state.pointer_mut("/ast/challenge"),
    ) {
        (Some(o), Some(s)) => {
            *o = Value::String(challenge.into());
            *s = Value::String(challenge.into());
        }
        _ => return Err("the WebAuthn library's challenge has moved".into()),
    }
    let state = serde_json::from_value(state).map_err(|e| e.to_string())?;
    Ok((options, state))
}

/// The hex fingerprint of a record's request fields, as the engine computes it.
pub fn record_fingerprint(record: &Value) -> Option<String> {
    let text = |k: &str| record.get(k).and_then(Value::as_str).map(Arc::<str>::from);
    let request = Request {
        agent_id: text("agentId")?.as_ref().into(),
        action: text("action")?,
        vendor: text("vendor"),
        resource: text("resource"),
        params: std::borrow::Cow::Borrowed(record.get("params")?.as_object()?),
        request_id: None,
        amount: None,
    };
    Some(behalf_core::audit::hex(&behalf_core::engine::fingerprint(
        &request,
    )))
}

/// Checks one signed `approval.granted` / `approval.denied` record: the operator's passkey
/// (`passkey`, as stored) signed a challenge that commits to this record's decision, approval
/// id and request. `Err` says what is wrong.
pub fn verify_record(record: &Value, passkey: &Value) -> Result<(), String> {
    let operator = record
        .get("operator")
        .ok_or("the record names no operator")?;
    let signature = operator
        .get("signature")
        .ok_or("the record carries no signature")?;
    let field = |v: &Value, k: &str| -> Result<String, String> {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("the signature has no `{k}`"))
    };
    let committed = signature
        .get("challenge")
        .ok_or("the signature has no challenge")?;
    let decision = match record.get("event").and_then(Value::as_str) {
        Some("approval.granted") => Verdict::Approve,
        Some("approval.denied") => Verdict::Deny,
        _ => return Err("only approvals and denials are signed".into()),
    };
    let fingerprint =
        record_fingerprint(record).ok_or("the record's request fields are incomplete")?;
    let approval_id = record
        .get("approvalId")
        .and_then(Value::as_str)
        .ok_or("the record names no approval")?;
    let commitment = Commitment {
        decision,
        approval_id: approval_id.to_string(),
        fingerprint,
        ttl: committed
            .get("ttl")
            .and_then(Value::as_str)
            .map(str::to_string),
        nonce: field(committed, "nonce")?,
    };
    if !commitment.is_plain() || commitment.to_value() != *committed {
        return Err(
            "the signed challenge is for another decision, approval or request than the record's"
                .into(),
        );
    }
    let rp_id = field(signature, "rpId")?;
    let origin = Url::parse(&field(signature, "origin")?)
        .map_err(|_| "the signature's origin is not a URL".to_string())?;
    let credential: PublicKeyCredential = serde_json::from_value(json!({
        "id": field(signature, "credentialId")?,
        "rawId": field(signature, "credentialId")?,
        "type": "public-key",
        "response": {
            "authenticatorData": field(signature, "authenticatorData")?,
            "clientDataJSON": field(signature, "clientDataJSON")?,
            "signature": field(signature, "signature")?,
            "userHandle": signature.get("userHandle"),
        },
        "extensions": {},
    }))
    .map_err(|e| format!("the assertion cannot be read: {e}"))?;
    // The signature counter guards against cloned authenticators when a signature is made;
    // a record checked later is older than the counter, so the check starts from zero here.
    let mut passkey = passkey.clone();
    match passkey.pointer_mut("/cred/counter") {
        Some(counter) => *counter = json!(0),
        None => return Err("the stored passkey is damaged".into()),
    }
    let passkey: Passkey =
        serde_json::from_value(passkey).map_err(|_| "the stored passkey is damaged".to_string())?;
    let webauthn = WebauthnBuilder::new(&rp_id, &origin)
        .and_then(|b| b.build())
        .map_err(|e| format!("the signature's relying party is not valid: {e}"))?;
    let (options, state) = webauthn
        .start_passkey_authentication(&[passkey])
        .map_err(|e| e.to_string())?;
    let (_, state) = commit(options, state, &commitment.challenge())?;
    webauthn
        .finish_passkey_authentication(&credential, &state)
        .map(|_| ())
        .map_err(|e| format!("the signature does not verify: {e}"))
}

/// What a record's `operator` field was checked to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorCheck {
    /// A passkey signature that verifies with the named operator's stored public key.
    Signed,
    /// An operator API token of the named operator (named, not signed).
    Token,
    /// An act that is not signed by design (revoking a grant in a session).
    Unsigned,
}

/// Checks the operator a record names: a passkey signature must verify with that operator's
/// stored public key over the challenge the record commits to; a token must be that
/// operator's. An approval or denial is never merely a session's.
pub fn check_operator(
    store: &mut impl OperatorStore,
    record: &Value,
) -> Result<OperatorCheck, String> {
    let operator = record.get("operator").cloned().unwrap_or(Value::Null);
    let operator_id = operator.get("operatorId").and_then(Value::as_str);
    let event = record.get("event").and_then(Value::as_str).unwrap_or("");
    let unreadable = |e: behalf_store::StoreError| format!("the operators cannot be read: {e}");
    match operator.get("via").and_then(Value::as_str) {
        Some("passkey") => {
            let credential_id = operator
                .pointer("/signature/credentialId")
                .and_then(Value::as_str)
                .ok_or("the signature names no credential")?;
            let stored = store
                .credential(credential_id)
                .map_err(unreadable)?
                .filter(|c| Some(c.operator_id.as_str()) == operator_id)
                .ok_or_else(|| {
                    format!("the passkey `{credential_id}` is not one of the named operator's")
                })?;
            verify_record(record, &stored.passkey)?;
            Ok(OperatorCheck::Signed)
        }
        Some("token") => {
            let token_id = operator.get("tokenId").and_then(Value::as_str);
            let tokens = store.tokens().map_err(unreadable)?;
            let theirs = tokens.iter().any(|t| {
                Some(t.id.as_str()) == token_id && Some(t.operator_id.as_str()) == operator_id
            });
            if theirs {
                Ok(OperatorCheck::Token)
            } else {
                Err("the operator API token it names is not the named operator's".into())
            }
        }
        Some("session") if !event.starts_with("approval.") => Ok(OperatorCheck::Unsigned),
        _ => Err(format!(
            "the `{event}` record's operator is neither signed nor an operator API token"
        )),
    }
}

/// The assertion's parts, as the audit record keeps them.
pub fn assertion_value(credential: &PublicKeyCredential) -> Value {
    let v = serde_json::to_value(credential).unwrap_or(Value::Null);
    json!({
        "credentialId": v.get("id"),
        "authenticatorData": v.pointer("/response/authenticatorData"),
        "clientDataJSON": v.pointer("/response/clientDataJSON"),
        "signature": v.pointer("/response/signature"),
        "userHandle": v.pointer("/response/userHandle"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commitment() -> Commitment {
        Commitment {
            decision: Verdict::Approve,
            approval_id: "apr_A".into(),
            fingerprint: "ab".repeat(32),
            ttl: Some("30m".into()),
            nonce: "n1".into(),
        }
    }

    #[test]
    fn the_challenge_changes_with_every_committed_field() {
        let base = commitment().challenge();
        let mut other = commitment();
        other.decision = Verdict::Deny;
        assert_ne!(other.challenge(), base);
        let mut other = commitment();
        other.approval_id = "apr_B".into();
        assert_ne!(other.challenge(), base);
        let mut other = commitment();
        other.fingerprint = "cd".repeat(32);
        assert_ne!(other.challenge(), base);
        let mut other = commitment();
        other.ttl = Some("2h".into());
        assert_ne!(other.challenge(), base);
        let mut other = commitment();
        other.ttl = None;
        assert_ne!(other.challenge(), base);
        let mut other = commitment();
        other.nonce = "n2".into();
        assert_ne!(other.challenge(), base);
    }

    #[test]
    fn a_field_with_a_line_break_or_space_is_not_plain() {
        assert!(commitment().is_plain());
        let mut a = commitment();
        a.nonce = "n1\nnonce n2".into();
        assert!(!a.is_plain());
        let mut a = commitment();
        a.ttl = Some("30 m".into());
        assert!(!a.is_plain());
    }

    #[test]
    fn a_record_without_a_signature_does_not_verify() {
        let record = json!({"event": "approval.granted", "operator": {"name": "alice"}});
        assert!(verify_record(&record, &json!({})).is_err());
    }
}
