//! The conformance runner: runs one vector file (format: tests/conformance/README.md) through
//! the engine and reports every mismatch. Pure: the caller reads the files. The CLI's
//! `behalf test` uses it too.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::audit::verify_chain;
use crate::decision::Decision;
use crate::engine::{verify_once, Engine, EngineOptions};
use crate::error::ApiError;
use crate::request;
use crate::state::{Approval, Grant};
use crate::time::{parse_duration, parse_rfc3339, Millis};
use crate::webhook;

pub const DEFAULT_NOW: &str = "2026-11-26T11:00:00.000Z";

#[derive(Debug, Serialize)]
pub struct CaseReport {
    pub name: String,
    pub passed: bool,
    pub failures: Vec<String>,
    /// Each verify step's packet with random ids relabelled (`apr#1`, `req#2`), for
    /// differential comparison across runtimes.
    pub packets: Vec<Value>,
}

#[derive(Debug, Serialize)]
pub struct FileReport {
    pub cases: Vec<CaseReport>,
}

impl FileReport {
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed).count()
    }
}

/// Relabels random ids in order of appearance so packets compare across runs and runtimes.
#[derive(Default)]
pub struct Relabel {
    seen: HashMap<String, String>,
}

impl Relabel {
    pub fn packet(&mut self, packet: &Value, given_request_id: bool) -> Value {
        let mut p = packet.clone();
        if let Value::Object(map) = &mut p {
            for key in ["requestId", "approvalId", "grantId"] {
                if key == "requestId" && given_request_id {
                    continue;
                }
                if let Some(Value::String(id)) = map.get(key) {
                    let prefix = id.split('_').next().unwrap_or("id").to_string();
                    let n = self.seen.len() + 1;
                    let label = self
                        .seen
                        .entry(id.clone())
                        .or_insert_with(|| format!("{prefix}#{n}"))
                        .clone();
                    map.insert(key.into(), Value::String(label));
                }
            }
        }
        p
    }
}

fn duration_or_millis(v: &Value) -> Option<Millis> {
    match v {
        Value::Number(n) => n.as_i64(),
        _ => parse_duration(v),
    }
}

/// What a runner drives: the stateful engine itself, or an engine over a store.
pub trait Subject {
    fn verify(&mut self, request: &Value, now: Millis) -> Decision;
    fn verify_json(&mut self, text: &str, now: Millis) -> Decision;
    fn approve(&mut self, id: &str, ttl: Option<&Value>, now: Millis) -> Result<Grant, ApiError>;
    fn deny(&mut self, id: &str, now: Millis) -> Result<Approval, ApiError>;
    /// Export the state and continue on a fresh subject restored from it (for a durable
    /// store: reopen it).
    fn export_restore(&mut self) -> Result<(), String>;
    fn pending_approvals(&mut self, now: Millis) -> usize;
    fn grants(&mut self, now: Millis) -> usize;
    /// The audit records the subject keeps, oldest first, as JSON.
    fn audit_log(&mut self) -> Vec<Value>;
}

/// Makes a fresh subject for a case's policy and options.
pub type MakeSubject<'a> =
    dyn FnMut(&Value, &EngineOptions) -> Result<Box<dyn Subject>, String> + 'a;

/// The engine as a subject.
pub struct EngineSubject {
    engine: Engine,
    policy: Value,
    options: EngineOptions,
    /// Requests go through `verify_fields`, as a binding's fast path sends them.
    by_fields: bool,
}

impl EngineSubject {
    pub fn make(policy: &Value, options: &EngineOptions) -> Result<Box<dyn Subject>, String> {
        EngineSubject::build(policy, options, false)
    }

    /// A subject that hands each request object over field by field (`Engine::verify_fields`),
    /// string fields as text; an object with a key it does not know goes through `verify`,
    /// as a binding falls back for it.
    pub fn make_by_fields(
        policy: &Value,
        options: &EngineOptions,
    ) -> Result<Box<dyn Subject>, String> {
        EngineSubject::build(policy, options, true)
    }

    fn build(
        policy: &Value,
        options: &EngineOptions,
        by_fields: bool,
    ) -> Result<Box<dyn Subject>, String> {
        let engine = Engine::from_value(policy, options.clone()).map_err(|e| e.to_string())?;
        Ok(Box::new(EngineSubject {
            engine,
            policy: policy.clone(),
            options: options.clone(),
            by_fields,
        }))
    }
}

/// A request object as a binding's fast path reads it: its own fields (strings as text),
/// params handed over; `None` when it has any other key (or is not an object).
fn split_fields(request: &Value) -> Option<(request::Fields<'_>, Option<Value>)> {
    let mut fields = request::Fields::default();
    let mut params = None;
    for (key, value) in request.as_object()? {
        let field = Some(match value {
            Value::String(s) => request::Field::Text(s),
            other => request::Field::Json(other),
        });
        match key.as_str() {
            "agentId" => fields.agent_id = field,
            "action" => fields.action = field,
            "vendor" => fields.vendor = field,
            "resource" => fields.resource = field,
            "requestId" => fields.request_id = field,
            "params" => params = Some(value.clone()),
            _ => return None,
        }
    }
    Some((fields, params))
}

impl Subject for EngineSubject {
    fn verify(&mut self, request: &Value, now: Millis) -> Decision {
        if self.by_fields {
            if let Some((fields, params)) = split_fields(request) {
                return self.engine.verify_fields(&fields, params, now);
            }
        }
        self.engine.verify(request, now)
    }
    fn verify_json(&mut self, text: &str, now: Millis) -> Decision {
        self.engine.verify_json(text, now)
    }
    fn approve(&mut self, id: &str, ttl: Option<&Value>, now: Millis) -> Result<Grant, ApiError> {
        self.engine.approve(id, ttl, now)
    }
    fn deny(&mut self, id: &str, now: Millis) -> Result<Approval, ApiError> {
        self.engine.deny(id, now)
    }
    fn export_restore(&mut self) -> Result<(), String> {
        let text = serde_json::to_string(&self.engine.export_state()).unwrap_or_default();
        let reparsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let mut fresh = Engine::from_value(&self.policy, self.options.clone())
            .map_err(|e| format!("rebuilding the engine failed: {e}"))?;
        fresh
            .restore(&reparsed)
            .map_err(|e| format!("restore failed: {e}"))?;
        self.engine = fresh;
        Ok(())
    }
    fn pending_approvals(&mut self, now: Millis) -> usize {
        self.engine.pending_approvals(now).len()
    }
    fn grants(&mut self, now: Millis) -> usize {
        self.engine.grants(now).len()
    }
    fn audit_log(&mut self) -> Vec<Value> {
        self.engine
            .audit_log_value()
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// Runs every case of one file through the engine.
pub fn run_file(file: &Value) -> FileReport {
    run_file_with(file, &mut EngineSubject::make)
}

/// Runs every case of one file through the engine, each request handed over field by field.
pub fn run_file_by_fields(file: &Value) -> FileReport {
    run_file_with(file, &mut EngineSubject::make_by_fields)
}

/// Runs every case of one file through subjects `make` builds (a store's shared suite).
pub fn run_file_with(file: &Value, make: &mut MakeSubject<'_>) -> FileReport {
    let policies = file
        .get("policies")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let cases = file
        .get("cases")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    FileReport {
        cases: cases.iter().map(|c| run_case(c, &policies, make)).collect(),
    }
}

fn run_case(case: &Value, policies: &Map<String, Value>, make: &mut MakeSubject<'_>) -> CaseReport {
    let name = case
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)")
        .to_string();
    let mut report = CaseReport {
        name,
        passed: false,
        failures: Vec::new(),
        packets: Vec::new(),
    };
    if let Some(text) = case.get("policyText").and_then(Value::as_str) {
        let problems = match crate::policy::Policy::from_json_text(text) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems,
        };
        let expected = case
            .get("expectPolicyErrors")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        compare_problems(&problems, &expected, &mut report.failures);
        report.passed = report.failures.is_empty();
        return report;
    }
    let policy = match case.get("policy") {
        Some(Value::String(reference)) => match policies.get(reference) {
            Some(p) => p.clone(),
            None => {
                report.failures.push(format!(
                    "policy `{reference}` is not in this file's policies"
                ));
                return report;
            }
        },
        Some(p) => p.clone(),
        None => {
            report.failures.push("the case has no policy".into());
            return report;
        }
    };
    if let Some(expected) = case.get("expectPolicyErrors").and_then(Value::as_array) {
        check_policy_errors(&policy, expected, &mut report.failures);
        report.passed = report.failures.is_empty();
        return report;
    }
    let mut now = match case
        .get("now")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
    {
        Some(t) => t,
        None => parse_rfc3339(DEFAULT_NOW).unwrap_or(0),
    };
    let capacity = case
        .get("options")
        .and_then(|o| o.get("auditCapacity"))
        .and_then(Value::as_u64)
        .map_or(crate::audit::DEFAULT_CAPACITY, |c| c as usize);
    let options = EngineOptions {
        audit_capacity: capacity,
    };
    let mut engine = match make(&policy, &options) {
        Ok(e) => e,
        Err(e) => {
            report
                .failures
                .push(format!("the policy was rejected: {e}"));
            return report;
        }
    };
    let mut last_approval: Option<String> = None;
    let mut relabel = Relabel::default();
    let steps = case
        .get("steps")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, step) in steps.iter().enumerate() {
        let fail =
            |failures: &mut Vec<String>, what: String| failures.push(format!("step {i}: {what}"));
        let expect = step.get("expect").cloned().unwrap_or(Value::Null);
        let step_now = step
            .get("now")
            .and_then(Value::as_str)
            .and_then(parse_rfc3339)
            .unwrap_or(now);
        if let Some(request) = step.get("verify").or_else(|| step.get("verifyOnce")) {
            let packet = if step.get("verify").is_some() {
                packet_of(&engine.verify(request, step_now), &mut report.failures)
            } else {
                match verify_once(&policy, request, step_now) {
                    Ok(d) => packet_of(&d, &mut report.failures),
                    Err(e) => {
                        fail(&mut report.failures, format!("one-shot verify failed: {e}"));
                        continue;
                    }
                }
            };
            let given = request.get("requestId").is_some_and(Value::is_string);
            check_packet(&packet, &expect, request, &mut last_approval, &mut |w| {
                fail(&mut report.failures, w)
            });
            report.packets.push(relabel.packet(&packet, given));
        } else if let Some(text) = step.get("verifyJson").and_then(Value::as_str) {
            let packet = packet_of(&engine.verify_json(text, step_now), &mut report.failures);
            check_packet(
                &packet,
                &expect,
                &Value::Null,
                &mut last_approval,
                &mut |w| fail(&mut report.failures, w),
            );
            report.packets.push(relabel.packet(&packet, false));
        } else if let Some(d) = step.get("advance") {
            match duration_or_millis(d) {
                Some(ms) => now += ms,
                None => fail(&mut report.failures, format!("bad advance `{d}`")),
            }
        } else if let Some(at) = step.get("at") {
            match at.as_str().and_then(parse_rfc3339) {
                Some(t) => now = t,
                None => fail(&mut report.failures, format!("bad time `{at}`")),
            }
        } else if let Some(id) = step.get("approve").or_else(|| step.get("deny")) {
            let id = match id.as_str() {
                Some("$last") => last_approval.clone().unwrap_or_default(),
                Some(s) => s.to_string(),
                None => String::new(),
            };
            let result = if step.get("approve").is_some() {
                engine.approve(&id, step.get("ttl"), step_now).map(|_| ())
            } else {
                engine.deny(&id, step_now).map(|_| ())
            };
            let got = match &result {
                Ok(_) => json!({"ok": true}),
                Err(e) => json!({"error": e.code}),
            };
            if !expect.is_null() && got != expect {
                fail(
                    &mut report.failures,
                    format!("expected {expect}, got {got} ({result:?})"),
                );
            }
        } else if step.get("exportRestore").is_some() {
            if let Err(e) = engine.export_restore() {
                fail(&mut report.failures, e);
            }
        } else if let Some(n) = step.get("pendingApprovals") {
            let got = engine.pending_approvals(step_now);
            if Some(got as u64) != n.as_u64() {
                fail(
                    &mut report.failures,
                    format!("expected {n} pending approvals, got {got}"),
                );
            }
        } else if let Some(n) = step.get("grants") {
            let got = engine.grants(step_now);
            if Some(got as u64) != n.as_u64() {
                fail(
                    &mut report.failures,
                    format!("expected {n} active grants, got {got}"),
                );
            }
        } else if let Some(want) = step.get("auditVerify") {
            let records = engine.audit_log();
            let r = verify_chain(&records);
            if Some(r.ok) != want.get("ok").and_then(Value::as_bool) {
                fail(
                    &mut report.failures,
                    format!("audit verify: expected {want}, got {r:?}"),
                );
            }
            if let Some(n) = want.get("records").and_then(Value::as_u64) {
                if records.len() as u64 != n {
                    fail(
                        &mut report.failures,
                        format!("audit has {} records, expected {n}", records.len()),
                    );
                }
            }
        } else if let Some(t) = step.get("auditTamper") {
            let mut records = engine.audit_log();
            // The verifier knows where the chain starts and the head it must reach.
            let anchor = crate::audit::Anchor {
                first_seq: records
                    .first()
                    .and_then(|r| r.get("seq"))
                    .and_then(Value::as_u64),
                last_hash: records
                    .last()
                    .and_then(|r| r.get("hash"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
            };
            if let Err(why) = tamper(&mut records, t) {
                fail(&mut report.failures, why);
                continue;
            }
            let r = crate::audit::verify_chain_anchored(&records, &anchor);
            let got = json!({"ok": r.ok, "firstBroken": r.first_broken});
            let want_ok = expect.get("ok").and_then(Value::as_bool);
            let want_at = expect.get("firstBroken");
            if Some(r.ok) != want_ok
                || want_at.is_some_and(|w| w.as_u64() != r.first_broken.map(|b| b as u64))
            {
                fail(
                    &mut report.failures,
                    format!("tampered audit: expected {expect}, got {got}"),
                );
            }
        } else if let Some(w) = step.get("webhookSign") {
            let s = |k: &str| {
                w.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let ts = w.get("timestamp").and_then(Value::as_i64).unwrap_or(0);
            let got = webhook::sign(&s("secret"), &s("id"), ts, s("body").as_bytes());
            let want = expect.get("signature").and_then(Value::as_str);
            if got.as_deref().ok() != want {
                fail(
                    &mut report.failures,
                    format!("signature: expected {want:?}, got {got:?}"),
                );
            }
        } else if let Some(w) = step.get("webhookVerify") {
            let s = |k: &str| {
                w.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let ts = match w.get("timestamp") {
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::String(t)) => t.clone(),
                _ => String::new(),
            };
            let now_s = w.get("now").and_then(Value::as_i64).unwrap_or(0);
            let ok = webhook::verify(
                &s("secret"),
                &s("id"),
                &ts,
                s("body").as_bytes(),
                &s("signature"),
                now_s,
            )
            .is_ok();
            if Some(ok) != expect.get("ok").and_then(Value::as_bool) {
                fail(
                    &mut report.failures,
                    format!("webhook verify: expected {expect}, got ok={ok}"),
                );
            }
        } else {
            fail(&mut report.failures, format!("unknown step {step}"));
        }
    }
    report.passed = report.failures.is_empty();
    report
}

/// The packet as a value, checking that the JSON text the bindings use is byte for byte the
/// typed decision's serde serialization.
fn packet_of(d: &crate::Decision, failures: &mut Vec<String>) -> Value {
    let text = d.to_json();
    match serde_json::to_string(d) {
        Ok(serde) if serde == text => {}
        Ok(serde) => failures.push(format!(
            "to_json() and the serde packet differ:\n  {text}\n  {serde}"
        )),
        Err(e) => failures.push(format!("the packet does not serialize: {e}")),
    }
    d.to_value()
}

fn check_packet(
    packet: &Value,
    expect: &Value,
    request: &Value,
    last_approval: &mut Option<String>,
    fail: &mut dyn FnMut(String),
) {
    let get = |k: &str| packet.get(k).cloned().unwrap_or(Value::Null);
    for key in [
        "decision",
        "reason",
        "matchedPermission",
        "activePermissions",
        "action",
        "vendor",
        "resource",
    ] {
        if let Some(want) = expect.get(key) {
            if get(key) != *want {
                fail(format!(
                    "`{key}`: expected {want}, got {} ({})",
                    get(key),
                    get("message")
                ));
            }
        }
    }
    if get("allowed") != json!(get("decision") == json!("allowed")) {
        fail("`allowed` disagrees with `decision`".into());
    }
    if get("trace").as_array().is_none_or(|t| t.is_empty()) {
        fail("`trace` is empty".into());
    }
    if let Some(id) = request.get("requestId").and_then(Value::as_str) {
        if get("requestId") != json!(id) && get("reason") != json!("invalid_request") {
            fail(format!("`requestId` `{id}` was not echoed"));
        }
    }
    let approval = get("approvalId");
    for key in ["approvalId", "grantId"] {
        let got = get(key);
        match expect.get(key) {
            None => {}
            Some(Value::Bool(true)) if got.is_null() => {
                fail(format!("`{key}`: expected an id, got null"))
            }
            Some(Value::Bool(false)) if !got.is_null() => {
                fail(format!("`{key}`: expected null, got {got}"))
            }
            Some(Value::String(s))
                if s == "same" && (got.as_str() != last_approval.as_deref() || got.is_null()) =>
            {
                fail(format!(
                    "`{key}`: expected the same id as before ({last_approval:?}), got {got}"
                ));
            }
            Some(Value::String(s))
                if s == "new" && (got.is_null() || got.as_str() == last_approval.as_deref()) =>
            {
                fail(format!("`{key}`: expected a new id, got {got}"));
            }
            _ => {}
        }
    }
    if let Some(id) = approval.as_str() {
        *last_approval = Some(id.to_string());
    }
}

fn check_policy_errors(policy: &Value, expected: &[Value], failures: &mut Vec<String>) {
    compare_problems(&crate::policy::validate(policy), expected, failures);
}

fn compare_problems(
    problems: &[crate::policy::Problem],
    expected: &[Value],
    failures: &mut Vec<String>,
) {
    if problems.is_empty() {
        failures.push("the policy was accepted; expected it to be rejected".into());
        return;
    }
    for e in expected {
        let path = e.get("path").and_then(Value::as_str).unwrap_or_default();
        let code = e.get("code").and_then(Value::as_str).unwrap_or_default();
        if !problems
            .iter()
            .any(|p| p.path == path && p.code.as_str() == code)
        {
            failures.push(format!(
                "missing problem {code} at `{path}`; got: {}",
                problems
                    .iter()
                    .map(|p| format!("{} at `{}`", p.code, p.path))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if problems.len() != expected.len() {
        failures.push(format!(
            "expected {} problems, got {}: {}",
            expected.len(),
            problems.len(),
            problems
                .iter()
                .map(|p| format!("{} at `{}`", p.code, p.path))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

fn tamper(records: &mut Vec<Value>, t: &Value) -> Result<(), String> {
    let index = t
        .get("index")
        .and_then(Value::as_u64)
        .ok_or("tamper needs an index")? as usize;
    if index >= records.len() {
        return Err(format!(
            "tamper index {index} is past the {} records",
            records.len()
        ));
    }
    match t.get("op").and_then(Value::as_str) {
        Some("edit") => {
            let field = t
                .get("field")
                .and_then(Value::as_str)
                .ok_or("edit needs a field")?;
            let value = t.get("value").cloned().unwrap_or(Value::Null);
            if let Some(Value::Object(m)) = records.get_mut(index) {
                m.insert(field.to_string(), value);
            }
        }
        Some("delete") => {
            records.remove(index);
        }
        Some("reorder") => {
            if index + 1 >= records.len() {
                return Err("reorder needs a record after the index".into());
            }
            records.swap(index, index + 1);
        }
        Some("splice") => {
            let copy = records.get(index).cloned().unwrap_or(Value::Null);
            records.insert(index + 1, copy);
        }
        other => return Err(format!("unknown tamper op {other:?}")),
    }
    Ok(())
}
