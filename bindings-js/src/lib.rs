//! behalf-wasm: the WebAssembly face of behalf-core for the npm package `behalf`.
//!
//! Conversion only. JSON text crosses the boundary both ways (one copy each way beats
//! per-property reflection), the JS wrapper in `js/api.mjs` shapes the public API, and every
//! rule of evaluation stays in the core. Errors cross as the JSON text of
//! `{code, message, hint, problems?}`, thrown as a string for the wrapper to turn into classes.

use std::sync::{Arc, Mutex};

use behalf_core::audit::{verify_chain_anchored, Anchor, AuditRecord};
use behalf_core::error::BehalfError;
use behalf_core::ffi::{self, RefusedFields};
use behalf_core::policy::json_text_problem;
use behalf_core::time::{format_rfc3339, parse_rfc3339, Millis};
use behalf_core::ErrorCode;
use behalf_core::{webhook, ApiError, Engine, EngineOptions, Rejection};
use serde_json::Value;
use wasm_bindgen::prelude::*;

fn error(e: impl Into<BehalfError>) -> JsValue {
    JsValue::from_str(&e.into().to_value().to_string())
}

fn policy_value(text: &str) -> Result<Value, JsValue> {
    ffi::policy_value(text).map_err(error)
}

/// JS numbers arrive as f64; the wrapper passes only finite whole milliseconds.
fn millis(now: f64) -> Millis {
    now as Millis
}

fn rejection(
    message: String,
    agent_id: Option<String>,
    action: Option<String>,
    vendor: Option<String>,
    resource: Option<String>,
    request_id: Option<String>,
) -> Rejection {
    let fields = RefusedFields {
        agent_id,
        action,
        vendor,
        resource,
        request_id,
    };
    ffi::rejection(message, fields)
}

/// JSON text of a typed value, through `Value` so its keys come sorted (the wrapper's bytes).
fn to_json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).map_or_else(|_| "null".into(), |v| v.to_string())
}

/// A stateful engine: one compiled policy, its usage, approvals, grants and audit chain.
#[wasm_bindgen]
pub struct WasmEngine {
    engine: Engine,
    /// Audit records handed over by the core's sink, waiting for the JS `onDecision`: their
    /// canonical JSON, comma-separated (the inside of the array `take_records` returns).
    delivered: Option<Arc<Mutex<String>>>,
}

#[wasm_bindgen]
impl WasmEngine {
    /// Compiles a policy given as JSON text; throws the policy error's JSON text.
    #[wasm_bindgen(constructor)]
    pub fn new(policy: &str, audit_capacity: u32) -> Result<WasmEngine, JsValue> {
        let value = policy_value(policy)?;
        let options = EngineOptions {
            audit_capacity: audit_capacity as usize,
        };
        let engine = Engine::from_value(&value, options).map_err(error)?;
        Ok(WasmEngine {
            engine,
            delivered: None,
        })
    }

    /// Verifies a request given as JSON text; returns the packet's values as a JSON array
    /// (`Decision::to_json_values`; the wrapper's `packetOf` makes the object). Never fails.
    pub fn verify(&mut self, request: &str, now: f64) -> String {
        self.engine
            .verify_json(request, millis(now))
            .to_json_values()
    }

    /// The `invalid_request` packet (its values) for input the wrapper refused to convert.
    #[allow(clippy::too_many_arguments)]
    pub fn reject(
        &mut self,
        message: String,
        agent_id: Option<String>,
        action: Option<String>,
        vendor: Option<String>,
        resource: Option<String>,
        request_id: Option<String>,
        now: f64,
    ) -> String {
        let r = rejection(message, agent_id, action, vendor, resource, request_id);
        self.engine.reject(r, millis(now)).to_json_values()
    }

    /// The `internal_error` packet (its values): the engine fails closed.
    pub fn internal_error(&mut self, message: &str, now: f64) -> String {
        self.engine
            .internal_error(message, millis(now))
            .to_json_values()
    }

    /// Approves a pending approval; `ttl` is the JSON text of a duration, if any.
    pub fn approve(
        &mut self,
        approval_id: &str,
        ttl: Option<String>,
        now: f64,
    ) -> Result<String, JsValue> {
        let ttl = match ttl {
            Some(text) => Some(serde_json::from_str::<Value>(&text).map_err(|_| {
                error(ApiError::new(
                    ErrorCode::BadDuration,
                    "`ttl` is not a duration".into(),
                    "write a positive duration like `30m`, `2h` or whole seconds",
                ))
            })?),
            None => None,
        };
        self.engine
            .approve(approval_id, ttl.as_ref(), millis(now))
            .map(|grant| to_json_text(&grant))
            .map_err(error)
    }

    pub fn deny(&mut self, approval_id: &str, now: f64) -> Result<String, JsValue> {
        self.engine
            .deny(approval_id, millis(now))
            .map(|approval| to_json_text(&approval))
            .map_err(error)
    }

    pub fn pending_approvals(&self, now: f64) -> String {
        to_json_text(&self.engine.pending_approvals(millis(now)))
    }

    pub fn grants(&self, now: f64) -> String {
        to_json_text(&self.engine.grants(millis(now)))
    }

    pub fn usage(&self, now: f64) -> String {
        to_json_text(&self.engine.usage(millis(now)))
    }

    pub fn audit_log(&mut self) -> String {
        to_json_text(&self.engine.audit_log_value())
    }

    pub fn export_state(&mut self) -> String {
        to_json_text(&self.engine.export_state())
    }

    pub fn restore(&mut self, state: &str) -> Result<(), JsValue> {
        let value: Value = behalf_core::json::from_str(state).map_err(|_| {
            error(ApiError::new(
                ErrorCode::BadState,
                "the state is not valid JSON".into(),
                "pass the exact value exportState() returned",
            ))
        })?;
        self.engine.restore(&value).map_err(error)
    }

    /// Starts handing every audit record to `take_records` (for the JS `onDecision`): each as
    /// the array of its values (`AuditRecord::write_values`; the wrapper builds the object), or
    /// as its canonical object when it has no values form.
    pub fn deliver_records(&mut self) {
        let queue: Arc<Mutex<String>> = Arc::default();
        let sink = Arc::clone(&queue);
        self.engine.set_audit_sink(Some(Box::new(move |record| {
            if let Ok(mut q) = sink.lock() {
                if !q.is_empty() {
                    q.push(',');
                }
                if !record.write_values(&mut q) {
                    record.write_canonical(&mut q);
                }
            }
        })));
        self.delivered = Some(queue);
    }

    /// Chains pending records and returns, as a JSON array, those not yet handed over.
    pub fn take_records(&mut self) -> String {
        self.engine.flush();
        let Some(Ok(mut queue)) = self.delivered.as_ref().map(|q| q.lock()) else {
            return "[]".into();
        };
        let mut taken = String::with_capacity(queue.len() + 2);
        taken.push('[');
        taken.push_str(&queue);
        taken.push(']');
        // Emptied, not replaced: the queue keeps its room for the next record.
        queue.clear();
        taken
    }
}

/// The stateless one-shot verify of JSON texts (the packet's values); throws only for a bad
/// policy.
#[wasm_bindgen]
pub fn verify_once(policy: &str, request: &str, now: f64) -> Result<String, JsValue> {
    let policy = policy_value(policy)?;
    ffi::verify_once_text(&policy, request, millis(now))
        .map(|d| d.to_json_values())
        .map_err(error)
}

/// The one-shot `invalid_request` packet (its values) for input the wrapper refused to convert.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn reject_once(
    policy: &str,
    message: String,
    agent_id: Option<String>,
    action: Option<String>,
    vendor: Option<String>,
    resource: Option<String>,
    request_id: Option<String>,
    now: f64,
) -> Result<String, JsValue> {
    let policy = policy_value(policy)?;
    let r = rejection(message, agent_id, action, vendor, resource, request_id);
    ffi::reject_once(&policy, r, millis(now))
        .map(|d| d.to_json_values())
        .map_err(error)
}

/// Every problem of a policy, as a JSON array (empty when it loads).
#[wasm_bindgen]
pub fn validate(policy: &str) -> String {
    let problems = match behalf_core::json::from_str(policy) {
        Ok(value) => behalf_core::validate(&value),
        Err(e) => vec![json_text_problem(&e)],
    };
    serde_json::to_string(&problems).unwrap_or_else(|_| "[]".into())
}

/// Verifies audit records given as a JSON array; returns the chain report's JSON text. The
/// optional anchor (the first `seq` and the last `hash` the caller knows) catches a chain cut
/// at either end.
#[wasm_bindgen]
pub fn verify_audit_chain(
    records: &str,
    first_seq: Option<f64>,
    last_hash: Option<String>,
) -> Result<String, JsValue> {
    let records: Vec<Value> = serde_json::from_str(records).map_err(|_| {
        error(ApiError::new(
            ErrorCode::BadAuditLog,
            "the audit records are not a JSON array".into(),
            "pass the array auditLog() returned",
        ))
    })?;
    let anchor = Anchor {
        first_seq: first_seq.map(|s| s as u64),
        last_hash,
    };
    let report = verify_chain_anchored(&records, &anchor);
    serde_json::to_string(&report).map_err(|_| JsValue::from_str("{}"))
}

/// The Standard Webhooks `v1,<base64>` signature of `id.timestamp.body`.
#[wasm_bindgen]
pub fn webhook_sign(
    secret: &str,
    id: &str,
    timestamp: f64,
    body: &[u8],
) -> Result<String, JsValue> {
    webhook::sign(secret, id, timestamp as i64, body).map_err(|e| {
        error(ApiError::new(
            e.code(),
            e.message().into(),
            "pass the endpoint's `whsec_...` secret",
        ))
    })
}

/// Checks a `webhook-signature` header; returns "" when it holds, else the error code.
#[wasm_bindgen]
pub fn webhook_verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now_seconds: f64,
) -> String {
    match webhook::verify(secret, id, timestamp, body, signature, now_seconds as i64) {
        Ok(()) => String::new(),
        Err(e) => e.code().as_str().into(),
    }
}

/// One audit record from its JSON text, exactly as the engine wrote it (`ffi::exact_audit_record`).
fn audit_record(text: &str) -> Result<AuditRecord, JsValue> {
    const HINT: &str = "pass one record exactly as onDecision or auditLog() handed it out";
    let value: Value = serde_json::from_str(text).map_err(|_| {
        error(ApiError::new(
            ErrorCode::BadAuditRecord,
            "the audit record is not valid JSON".into(),
            HINT,
        ))
    })?;
    ffi::exact_audit_record(&value, HINT).map_err(error)
}

/// The webhook event of one audit record, `{type, timestamp, data}`, as JSON text.
#[wasm_bindgen]
pub fn webhook_event(record: &str) -> Result<String, JsValue> {
    Ok(to_json_text(&webhook::event_payload(&audit_record(
        record,
    )?)))
}

/// Exactly what to POST for one audit record's event, signed at `timestamp` (unix seconds) with
/// every secret of `secrets` (a JSON array of strings): `{headers: [[name, value]...], body,
/// eventType}` as JSON text.
#[wasm_bindgen]
pub fn webhook_delivery(record: &str, secrets: &str, timestamp: f64) -> Result<String, JsValue> {
    let record = audit_record(record)?;
    let secrets: Vec<String> = serde_json::from_str(secrets).map_err(|_| {
        error(ApiError::new(
            ErrorCode::BadSecret,
            "`secrets` is not a list of strings".into(),
            "pass one `whsec_...` secret or an array of them",
        ))
    })?;
    ffi::webhook_delivery(&record, &secrets, timestamp as i64)
        .map(|d| to_json_text(&d))
        .map_err(error)
}

/// Epoch milliseconds of an RFC 3339 time, or NaN.
#[wasm_bindgen]
pub fn parse_time(text: &str) -> f64 {
    parse_rfc3339(text).map_or(f64::NAN, |t| t as f64)
}

#[wasm_bindgen]
pub fn format_time(millis: f64) -> String {
    format_rfc3339(millis as Millis)
}

/// Test-only hook: executes `unreachable`, so tests can check that a trapped instance is
/// replaced and the call fails closed. Nothing in the library calls it.
#[wasm_bindgen]
pub fn __behalf_test_trap() {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
}
