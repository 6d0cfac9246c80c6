//! The decision packet: canonical JSON, camelCase, identical in every runtime.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use smol_str::SmolStr;

use crate::time::{format_rfc3339, Millis};

/// The three answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Allowed,
    Denied,
    ApprovalRequired,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Allowed => "allowed",
            DecisionKind::Denied => "denied",
            DecisionKind::ApprovalRequired => "approval_required",
        }
    }
}

/// The closed set of reasons, highest precedence first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    InvalidRequest,
    UnknownAgent,
    PassportExpired,
    Blocked,
    ApprovalDenied,
    Approved,
    RequiresApproval,
    ApprovalLimitReached,
    Allowed,
    LimitExceeded,
    PermissionExpired,
    NoPermission,
    InternalError,
}

impl Reason {
    pub const ALL: [Reason; 13] = [
        Reason::InvalidRequest,
        Reason::UnknownAgent,
        Reason::PassportExpired,
        Reason::Blocked,
        Reason::ApprovalDenied,
        Reason::Approved,
        Reason::RequiresApproval,
        Reason::ApprovalLimitReached,
        Reason::Allowed,
        Reason::LimitExceeded,
        Reason::PermissionExpired,
        Reason::NoPermission,
        Reason::InternalError,
    ];

    pub fn decision(self) -> DecisionKind {
        match self {
            Reason::Approved | Reason::Allowed => DecisionKind::Allowed,
            Reason::RequiresApproval => DecisionKind::ApprovalRequired,
            _ => DecisionKind::Denied,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidRequest => "invalid_request",
            Reason::UnknownAgent => "unknown_agent",
            Reason::PassportExpired => "passport_expired",
            Reason::Blocked => "blocked",
            Reason::ApprovalDenied => "approval_denied",
            Reason::Approved => "approved",
            Reason::RequiresApproval => "requires_approval",
            Reason::ApprovalLimitReached => "approval_limit_reached",
            Reason::Allowed => "allowed",
            Reason::LimitExceeded => "limit_exceeded",
            Reason::PermissionExpired => "permission_expired",
            Reason::NoPermission => "no_permission",
            Reason::InternalError => "internal_error",
        }
    }
}

/// What a trace step found, a closed set like the reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceResult {
    /// No passport for the agent.
    Missing,
    /// The passport or the permission is outside its validity window (or revoked).
    Inactive,
    /// The passport is valid: its permissions are checked.
    Active,
    /// A permission's patterns or conditions do not match.
    Skipped,
    /// A condition could not be decided on the value given.
    Indeterminate,
    Matched,
    /// A limit does not hold.
    Failed,
    /// A person denied the pending approval.
    Denied,
    /// A grant covers the request.
    Granted,
    /// Too many approvals are pending.
    Limit,
    /// A person must approve.
    Required,
    /// Nothing matched.
    None,
    /// The request failed validation.
    Invalid,
    /// The engine failed; it fails closed.
    Fault,
    /// A binding could not reach the engine.
    Error,
}

impl TraceResult {
    pub fn as_str(self) -> &'static str {
        match self {
            TraceResult::Missing => "missing",
            TraceResult::Inactive => "inactive",
            TraceResult::Active => "active",
            TraceResult::Skipped => "skipped",
            TraceResult::Indeterminate => "indeterminate",
            TraceResult::Matched => "matched",
            TraceResult::Failed => "failed",
            TraceResult::Denied => "denied",
            TraceResult::Granted => "granted",
            TraceResult::Limit => "limit",
            TraceResult::Required => "required",
            TraceResult::None => "none",
            TraceResult::Invalid => "invalid",
            TraceResult::Fault => "fault",
            TraceResult::Error => "error",
        }
    }
}

impl std::fmt::Display for TraceResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A trace step's explanation: mostly fixed text or text prepared when the policy compiled,
/// so building a trace allocates nothing.
#[derive(Clone, Debug)]
pub enum TraceDetail {
    Static(&'static str),
    Shared(Arc<str>),
    Owned(String),
}

impl std::ops::Deref for TraceDetail {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            TraceDetail::Static(s) => s,
            TraceDetail::Shared(s) => s,
            TraceDetail::Owned(s) => s,
        }
    }
}

impl std::fmt::Display for TraceDetail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl From<&'static str> for TraceDetail {
    fn from(s: &'static str) -> Self {
        TraceDetail::Static(s)
    }
}

impl From<String> for TraceDetail {
    fn from(s: String) -> Self {
        TraceDetail::Owned(s)
    }
}

impl From<Arc<str>> for TraceDetail {
    fn from(s: Arc<str>) -> Self {
        TraceDetail::Shared(s)
    }
}

/// One step of the evaluation.
#[derive(Clone, Debug)]
pub struct TraceStep {
    pub step: &'static str,
    pub permission: Option<Arc<str>>,
    pub result: TraceResult,
    pub detail: TraceDetail,
}

/// A decision, as returned by `verify`.
#[derive(Clone, Debug)]
pub struct Decision {
    pub reason: Reason,
    pub request_id: Arc<str>,
    pub agent_id: Option<SmolStr>,
    pub action: Option<Arc<str>>,
    pub vendor: Option<Arc<str>>,
    pub resource: Option<Arc<str>>,
    pub passport_id: Option<Arc<str>>,
    pub active_permissions: Option<usize>,
    pub matched_permission: Option<Arc<str>>,
    pub approval_id: Option<String>,
    pub grant_id: Option<String>,
    pub grant_expires_at: Option<Millis>,
    pub evaluated_at: Millis,
    /// Why the request was invalid, or what failed inside the engine.
    pub problem: Option<String>,
    pub trace: Vec<TraceStep>,
}

impl Decision {
    /// A denied `internal_error` packet made without an engine, for a binding that cannot
    /// reach one (it is not recorded: say so in `message`).
    pub fn fault(message: String, request_id: String, now: Millis) -> Decision {
        Decision {
            reason: Reason::InternalError,
            request_id: request_id.into(),
            agent_id: None,
            action: None,
            vendor: None,
            resource: None,
            passport_id: None,
            active_permissions: None,
            matched_permission: None,
            approval_id: None,
            grant_id: None,
            grant_expires_at: None,
            evaluated_at: now,
            trace: vec![TraceStep {
                step: "engine",
                permission: None,
                result: TraceResult::Error,
                detail: TraceDetail::Owned(message.clone()),
            }],
            problem: Some(message),
        }
    }

    pub fn decision(&self) -> DecisionKind {
        self.reason.decision()
    }

    pub fn allowed(&self) -> bool {
        self.decision() == DecisionKind::Allowed
    }

    /// One human sentence, in the seed's voice. Written piece by piece: it is made for every
    /// packet, and `format!` cost a W1 decision about a third of its packet's writing.
    pub fn message(&self) -> String {
        let action = self.action.as_deref().unwrap_or("action");
        let mut out = String::with_capacity(96);
        let by = |out: &mut String, what: &str| {
            out.push_str(action);
            if let Some(v) = &self.vendor {
                out.push_str(" on ");
                out.push_str(v);
            }
            out.push(' ');
            out.push_str(what);
            if let Some(p) = &self.matched_permission {
                out.push_str(" (permission ");
                out.push_str(p);
                out.push(')');
            }
        };
        match self.reason {
            Reason::InvalidRequest => {
                out.push_str("Invalid request: ");
                out.push_str(
                    self.problem
                        .as_deref()
                        .unwrap_or("the request could not be read"),
                );
            }
            Reason::UnknownAgent => {
                out.push_str("No passport for agent `");
                out.push_str(self.agent_id.as_deref().unwrap_or(""));
                out.push_str("`.");
            }
            Reason::PassportExpired => {
                out.push_str("The agent's passport is expired, not yet valid, or revoked.");
            }
            Reason::Blocked => by(&mut out, "is blocked"),
            Reason::ApprovalDenied => by(&mut out, "was denied by a person"),
            Reason::Approved => by(&mut out, "is allowed by an approved grant"),
            Reason::RequiresApproval => by(&mut out, "requires approval"),
            Reason::ApprovalLimitReached => by(
                &mut out,
                "requires approval, but too many approvals are already pending",
            ),
            Reason::Allowed => by(&mut out, "is allowed"),
            Reason::LimitExceeded => by(&mut out, "exceeds a limit"),
            Reason::PermissionExpired => by(
                &mut out,
                "matches only an expired or not yet valid permission",
            ),
            Reason::NoPermission => {
                out.push_str("No active ");
                out.push_str(action);
                out.push_str(" permission.");
            }
            Reason::InternalError => {
                out.push_str("Internal error; failing closed: ");
                out.push_str(self.problem.as_deref().unwrap_or("unexpected state"));
            }
        }
        out
    }

    /// The canonical packet.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The canonical packet as JSON text, written directly (the bindings' hot path): byte for
    /// byte what `serde_json::to_string(&decision)` writes, a conformance check on every vector.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(320 + self.trace.len() * 112);
        self.write_packet(true, &mut out);
        out
    }

    /// The packet's values alone, in the packet's field order, as a JSON array (each trace
    /// step an array too): for a binding that builds the packet object itself, so its parser
    /// reads no key (the npm package: about half the text, and half the parse).
    pub fn to_json_values(&self) -> String {
        let mut out = String::with_capacity(160 + self.trace.len() * 80);
        self.write_packet(false, &mut out);
        out
    }

    /// The packet as an object (`keyed`) or as the array of its values.
    fn write_packet(&self, keyed: bool, out: &mut String) {
        let (open, close) = if keyed { ('{', '}') } else { ('[', ']') };
        let key = |out: &mut String, name: &str| {
            if keyed {
                out.push('"');
                out.push_str(name);
                out.push_str("\":");
            }
        };
        let next = |out: &mut String, name: &str| {
            out.push(',');
            key(out, name);
        };
        out.push(open);
        key(out, "decision");
        json_string(self.decision().as_str(), out);
        next(out, "allowed");
        out.push_str(if self.allowed() { "true" } else { "false" });
        next(out, "reason");
        json_string(self.reason.as_str(), out);
        next(out, "message");
        json_string(&self.message(), out);
        next(out, "requestId");
        json_string(&self.request_id, out);
        let fields: [(&str, Option<&str>); 5] = [
            ("agentId", self.agent_id.as_deref()),
            ("action", self.action.as_deref()),
            ("vendor", self.vendor.as_deref()),
            ("resource", self.resource.as_deref()),
            ("passportId", self.passport_id.as_deref()),
        ];
        for (name, value) in fields {
            next(out, name);
            json_option(value, out);
        }
        next(out, "activePermissions");
        match self.active_permissions {
            Some(n) => out.push_str(&n.to_string()),
            None => out.push_str("null"),
        }
        next(out, "matchedPermission");
        json_option(self.matched_permission.as_deref(), out);
        next(out, "approvalId");
        json_option(self.approval_id.as_deref(), out);
        next(out, "grantId");
        json_option(self.grant_id.as_deref(), out);
        next(out, "grantExpiresAt");
        match self.grant_expires_at {
            Some(t) => {
                out.push('"');
                crate::time::write_rfc3339(t, out);
                out.push('"');
            }
            None => out.push_str("null"),
        }
        next(out, "evaluatedAt");
        out.push('"');
        crate::time::write_rfc3339(self.evaluated_at, out);
        out.push('"');
        next(out, "trace");
        out.push('[');
        for (i, t) in self.trace.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push(open);
            key(out, "step");
            json_string(t.step, out);
            next(out, "permission");
            json_option(t.permission.as_deref(), out);
            next(out, "result");
            json_string(t.result.as_str(), out);
            next(out, "detail");
            json_string(&t.detail, out);
            out.push(close);
        }
        out.push(']');
        out.push(close);
    }
}

/// A JSON string, or `null` for none.
fn json_option(value: Option<&str>, out: &mut String) {
    match value {
        Some(v) => json_string(v, out),
        None => out.push_str("null"),
    }
}

/// A JSON string with serde_json's escapes (short forms for \b \f \n \r \t).
fn json_string(s: &str, out: &mut String) {
    out.push('"');
    if !crate::canonical::needs_escape(s.as_bytes()) {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(s.get(start..i).unwrap_or_default());
        if escape.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// A decision serializes as its canonical packet, camelCase, in the packet's field order.
impl Serialize for Decision {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Packet::from(self).serialize(s)
    }
}

#[derive(Serialize)]
struct TracePacket<'a> {
    step: &'a str,
    permission: Option<&'a str>,
    result: TraceResult,
    detail: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Packet<'a> {
    decision: DecisionKind,
    allowed: bool,
    reason: Reason,
    message: String,
    request_id: &'a str,
    agent_id: Option<&'a str>,
    action: Option<&'a str>,
    vendor: Option<&'a str>,
    resource: Option<&'a str>,
    passport_id: Option<&'a str>,
    active_permissions: Option<usize>,
    matched_permission: Option<&'a str>,
    approval_id: Option<&'a str>,
    grant_id: Option<&'a str>,
    grant_expires_at: Option<String>,
    evaluated_at: String,
    trace: Vec<TracePacket<'a>>,
}

impl<'a> From<&'a Decision> for Packet<'a> {
    fn from(d: &'a Decision) -> Self {
        Packet {
            decision: d.decision(),
            allowed: d.allowed(),
            reason: d.reason,
            message: d.message(),
            request_id: &d.request_id,
            agent_id: d.agent_id.as_deref(),
            action: d.action.as_deref(),
            vendor: d.vendor.as_deref(),
            resource: d.resource.as_deref(),
            passport_id: d.passport_id.as_deref(),
            active_permissions: d.active_permissions,
            matched_permission: d.matched_permission.as_deref(),
            approval_id: d.approval_id.as_deref(),
            grant_id: d.grant_id.as_deref(),
            grant_expires_at: d.grant_expires_at.map(format_rfc3339),
            evaluated_at: format_rfc3339(d.evaluated_at),
            trace: d
                .trace
                .iter()
                .map(|t| TracePacket {
                    step: t.step,
                    permission: t.permission.as_deref(),
                    result: t.result,
                    detail: &t.detail,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // serde_json's Value indexes to null, never panics
mod tests {
    use super::*;

    /// Every sentence `message` writes, with and without a vendor and a permission.
    #[test]
    fn each_reason_reads_as_its_sentence() {
        let said = |reason: Reason, vendor: Option<&str>, permission: Option<&str>| {
            let mut d = Decision::fault(String::new(), "req_1".into(), 0);
            d.reason = reason;
            d.agent_id = Some("agent_a".into());
            d.action = Some("deploy".into());
            d.vendor = vendor.map(Arc::from);
            d.matched_permission = permission.map(Arc::from);
            d.problem = None;
            d.message()
        };
        let full = |reason| said(reason, Some("vercel.com"), Some("p1"));
        assert_eq!(
            full(Reason::Allowed),
            "deploy on vercel.com is allowed (permission p1)"
        );
        assert_eq!(said(Reason::Allowed, None, None), "deploy is allowed");
        assert_eq!(
            said(Reason::Blocked, None, Some("p1")),
            "deploy is blocked (permission p1)"
        );
        assert_eq!(
            said(Reason::Blocked, Some("a.io"), None),
            "deploy on a.io is blocked"
        );
        for (reason, what) in [
            (Reason::ApprovalDenied, "was denied by a person"),
            (Reason::Approved, "is allowed by an approved grant"),
            (Reason::RequiresApproval, "requires approval"),
            (
                Reason::ApprovalLimitReached,
                "requires approval, but too many approvals are already pending",
            ),
            (Reason::LimitExceeded, "exceeds a limit"),
            (
                Reason::PermissionExpired,
                "matches only an expired or not yet valid permission",
            ),
        ] {
            assert_eq!(
                full(reason),
                format!("deploy on vercel.com {what} (permission p1)")
            );
        }
        for (reason, sentence) in [
            (Reason::NoPermission, "No active deploy permission."),
            (Reason::UnknownAgent, "No passport for agent `agent_a`."),
            (
                Reason::PassportExpired,
                "The agent's passport is expired, not yet valid, or revoked.",
            ),
            (
                Reason::InvalidRequest,
                "Invalid request: the request could not be read",
            ),
            (
                Reason::InternalError,
                "Internal error; failing closed: unexpected state",
            ),
        ] {
            assert_eq!(full(reason), sentence);
        }
        let mut d = Decision::fault("boom".into(), "req_1".into(), 0);
        assert_eq!(d.message(), "Internal error; failing closed: boom");
        d.reason = Reason::InvalidRequest;
        d.action = None;
        assert_eq!(d.message(), "Invalid request: boom");
        d.reason = Reason::NoPermission;
        assert_eq!(d.message(), "No active action permission.");
    }

    fn sample(text: &str) -> Decision {
        let mut d = Decision::fault(text.to_string(), "req_1".into(), 1_795_000_000_123);
        d.agent_id = Some(SmolStr::new(text));
        d.vendor = Some(Arc::from("vercel.com"));
        d.active_permissions = Some(3);
        d.grant_expires_at = Some(1_795_000_100_000);
        d.trace.push(TraceStep {
            step: "match",
            permission: Some(Arc::from("p\"1")),
            result: TraceResult::Skipped,
            detail: TraceDetail::Static("condition on `env` does not hold"),
        });
        d
    }

    #[test]
    fn the_packet_values_are_the_packet_fields_in_order() {
        const KEYS: [&str; 17] = [
            "decision",
            "allowed",
            "reason",
            "message",
            "requestId",
            "agentId",
            "action",
            "vendor",
            "resource",
            "passportId",
            "activePermissions",
            "matchedPermission",
            "approvalId",
            "grantId",
            "grantExpiresAt",
            "evaluatedAt",
            "trace",
        ];
        for text in ["plain", "quote\" nl\n nul\u{0} é 😀", ""] {
            let d = sample(text);
            let object: Value = serde_json::from_str(&d.to_json()).unwrap_or_default();
            let values: Value = serde_json::from_str(&d.to_json_values()).unwrap_or_default();
            let Some(values) = values.as_array() else {
                unreachable!("the values are an array")
            };
            assert_eq!(values.len(), KEYS.len());
            assert_eq!(object.as_object().map(|o| o.len()), Some(KEYS.len()));
            for (key, value) in KEYS.iter().zip(values) {
                if *key == "trace" {
                    let steps: Vec<Value> = object[*key]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|t| {
                            serde_json::json!([
                                t["step"],
                                t["permission"],
                                t["result"],
                                t["detail"]
                            ])
                        })
                        .collect();
                    assert_eq!(value, &Value::Array(steps));
                } else {
                    assert_eq!(value, &object[*key], "{key}");
                }
            }
        }
    }

    #[test]
    fn the_direct_packet_text_is_the_serde_packet_byte_for_byte() {
        for text in [
            "plain",
            "quote\" back\\ nl\n cr\r tab\t bs\u{8} ff\u{c} nul\u{0} us\u{1f} del\u{7f} é ｖ 😀",
            "",
        ] {
            let d = sample(text);
            let serde = serde_json::to_string(&d).unwrap_or_default();
            assert_eq!(d.to_json(), serde);
        }
    }
}
