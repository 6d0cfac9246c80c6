//! What every binding calls: text or values in, packets and typed values out, errors as data.
//! The rules a binding would otherwise write again (which request fields a refused request
//! echoes, the one-shot refusal, which audit records may be signed, which secrets may sign)
//! live here once, so the JS and Python bindings only convert and shape their surface.

use serde::Serialize;
use serde_json::Value;

use crate::audit::{record_from_value, verify_chain_anchored, Anchor, AuditRecord};
use crate::decision::Decision;
use crate::engine::{Engine, EngineOptions};
use crate::error::{ApiError, BehalfError, ErrorCode};
use crate::policy::{json_text_problem, PolicyError};
use crate::request::{is_valid_request_id, Rejection, MAX_ID_CHARS};
use crate::time::Millis;
use crate::webhook;

/// A policy given as JSON text, as a value: unreadable text (or a repeated key) is the policy
/// problem `invalid_json` / `duplicate_key`, never a half-read policy.
pub fn policy_value(text: &str) -> Result<Value, PolicyError> {
    crate::json::from_str(text).map_err(|e| PolicyError {
        problems: vec![json_text_problem(&e)],
    })
}

/// The request fields a binding could read before it refused the request (any of them may be
/// missing or not a string).
#[derive(Clone, Debug, Default)]
pub struct RefusedFields {
    pub agent_id: Option<String>,
    pub action: Option<String>,
    pub vendor: Option<String>,
    pub resource: Option<String>,
    pub request_id: Option<String>,
}

/// The echo rule of a refused request: string fields of at most 128 characters are echoed,
/// and `requestId` only when it is a valid request id (otherwise the engine makes one).
pub fn rejection(message: String, fields: RefusedFields) -> Rejection {
    let echo = |field: Option<String>| field.filter(|s| s.chars().count() <= MAX_ID_CHARS);
    Rejection {
        message,
        agent_id: echo(fields.agent_id),
        action: echo(fields.action),
        vendor: echo(fields.vendor),
        resource: echo(fields.resource),
        request_id: fields.request_id.filter(|id| is_valid_request_id(id)),
    }
}

/// The one-shot verify of a request the binding already holds as a value: stateless (empty
/// usage, no grants, no approval opened); only a bad policy is an error.
pub fn verify_once(policy: &Value, request: &Value, now: Millis) -> Result<Decision, BehalfError> {
    crate::engine::verify_once(policy, request, now)
}

/// The one-shot verify of a request given as JSON text: text that is not a JSON object is an
/// `invalid_request` packet, as on an engine.
pub fn verify_once_text(
    policy: &Value,
    request: &str,
    now: Millis,
) -> Result<Decision, BehalfError> {
    match crate::json::from_str(request) {
        Ok(request) => verify_once(policy, &request, now),
        Err(_) => {
            let mut engine = Engine::from_value(policy, EngineOptions { audit_capacity: 1 })?;
            Ok(engine.verify_json(request, now))
        }
    }
}

/// The one-shot `invalid_request` packet for a request the binding refused to convert: the
/// policy is still checked first, so a bad policy is reported as such.
pub fn reject_once(
    policy: &Value,
    rejection: Rejection,
    now: Millis,
) -> Result<Decision, BehalfError> {
    let mut engine = Engine::from_value(policy, EngineOptions { audit_capacity: 1 })?;
    Ok(engine.reject(rejection, now))
}

/// One audit record, refused unless it is exactly a record the engine wrote: the core reads it
/// back to the same value (nothing dropped or normalized) and its `hash` holds over its content
/// (the `webhook-id` derives from the hash, so an edited record would reach receivers under
/// the id of the original). `hint` names the binding's own way to get records.
pub fn exact_audit_record(value: &Value, hint: &str) -> Result<AuditRecord, ApiError> {
    let bad = |message: String| ApiError::new(ErrorCode::BadAuditRecord, message, hint);
    let record = record_from_value(value)
        .filter(|r| r.to_value() == *value)
        .ok_or_else(|| bad("the value is not an audit record of behalf".into()))?;
    let report = verify_chain_anchored(std::slice::from_ref(value), &Anchor::default());
    if !report.ok {
        let problem = report.problem.unwrap_or_default();
        return Err(bad(format!("the audit record does not hold: {problem}")));
    }
    Ok(record)
}

/// Exactly what to POST for one audit record's event.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    /// `content-type`, `webhook-id`, `webhook-timestamp`, `webhook-signature`, in that order.
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub event_type: String,
}

const SECRETS_HINT: &str =
    "pass the endpoint's secret, or the new and the previous one during a rotation";

/// The signed Standard Webhooks message of one record at `timestamp` (unix seconds), one
/// signature per secret (several during a rotation). No secret, or a secret that is not
/// `whsec_` and base64, is `bad_secret`: nothing is signed with less.
pub fn webhook_delivery(
    record: &AuditRecord,
    secrets: &[String],
    timestamp: i64,
) -> Result<WebhookDelivery, ApiError> {
    if secrets.is_empty() {
        return Err(ApiError::new(
            ErrorCode::BadSecret,
            "`secrets` must hold at least one secret, each a `whsec_...` string".into(),
            SECRETS_HINT,
        ));
    }
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let delivery = webhook::delivery_for(record, &secrets, timestamp).map_err(|e| {
        ApiError::new(
            e.code(),
            e.message().into(),
            "pass the endpoint's `whsec_...` secret (two during a rotation)",
        )
    })?;
    Ok(WebhookDelivery {
        headers: delivery.headers,
        body: delivery.body,
        event_type: record.event_type(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_refused_request_echoes_short_fields_and_only_a_valid_request_id() {
        let long = "a".repeat(MAX_ID_CHARS + 1);
        let r = rejection(
            "bad".into(),
            RefusedFields {
                agent_id: Some("agent_1".into()),
                action: Some(long.clone()),
                vendor: Some("é".repeat(MAX_ID_CHARS)),
                resource: None,
                request_id: Some("has space".into()),
            },
        );
        assert_eq!(r.agent_id.as_deref(), Some("agent_1"));
        assert_eq!(r.action, None, "longer than 128 characters");
        assert_eq!(r.vendor.map(|v| v.chars().count()), Some(MAX_ID_CHARS));
        assert_eq!(r.request_id, None, "not a valid request id");
        let ok = rejection(
            "bad".into(),
            RefusedFields {
                request_id: Some("req_1".into()),
                ..RefusedFields::default()
            },
        );
        assert_eq!(ok.request_id.as_deref(), Some("req_1"));
    }

    fn one_record() -> Value {
        let policy = json!({"version": 1, "passports": [{"id": "pp", "agent": "ag",
            "permissions": [{"id": "p", "action": "a"}]}]});
        let mut engine = Engine::from_value(&policy, EngineOptions::default()).unwrap();
        engine.verify(&json!({"agentId": "ag", "action": "a"}), 0);
        engine.audit_log()[0].to_value()
    }

    #[test]
    fn only_an_exact_unedited_record_is_signed() {
        let record = one_record();
        assert!(exact_audit_record(&record, "h").is_ok());
        let mut edited = record.clone();
        edited["action"] = json!("b");
        let e = exact_audit_record(&edited, "h").err();
        assert_eq!(e.map(|e| e.code), Some(ErrorCode::BadAuditRecord));
        let mut extra = record;
        extra["note"] = json!(1);
        assert!(
            exact_audit_record(&extra, "h").is_err(),
            "a field the engine never writes"
        );
    }

    #[test]
    fn no_secret_signs_nothing() {
        let record = exact_audit_record(&one_record(), "h").unwrap();
        let e = webhook_delivery(&record, &[], 1_700_000_000).err();
        assert_eq!(e.map(|e| e.code), Some(ErrorCode::BadSecret));
        let bad = webhook_delivery(&record, &["whsec_not base64!".into()], 1_700_000_000).err();
        assert_eq!(bad.map(|e| e.code), Some(ErrorCode::BadSecret));
        let ok = webhook_delivery(
            &record,
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()],
            1_700_000_000,
        );
        assert_eq!(
            ok.map(|d| d.event_type).ok().as_deref(),
            Some("decision.allowed")
        );
    }

    #[test]
    fn a_one_shot_request_that_is_not_json_is_denied_not_an_error() {
        let policy = json!({"version": 1, "passports": []});
        let d = verify_once_text(&policy, "{nope", 0).map(|d| d.reason).ok();
        assert_eq!(d, Some(crate::Reason::InvalidRequest));
        let bad_policy = json!({"version": 2});
        assert!(verify_once_text(&bad_policy, "{}", 0).is_err());
        assert!(reject_once(&bad_policy, Rejection::bare("x"), 0).is_err());
    }
}
