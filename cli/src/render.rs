//! Human output: the decision trace in the style of `behalf verify` on the seed page.

use serde_json::{Map, Value};

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The packet as a trace: the request, the passport check, each permission considered, and
/// the decision.
/// A decision as `behalf verify` prints it. `server`: the `behalf serve` that decided, whose
/// dashboard is where a person approves a held request.
pub fn decision(
    packet: &Value,
    params: Option<&Map<String, Value>>,
    server: Option<&crate::remote::RemoteServer>,
) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: &str| out.push_str(&format!("{k:<9} {v}\n"));
    line("agent", s(packet, "agentId").unwrap_or("-"));
    line("action", s(packet, "action").unwrap_or("-"));
    if let Some(v) = s(packet, "vendor") {
        line("vendor", v);
    }
    if let Some(r) = s(packet, "resource") {
        line("resource", r);
    }
    if let Some(params) = params {
        for (k, v) in params {
            let text = scalar(v);
            let text = if text.len() > 200 {
                format!(
                    "{}… ({} bytes)",
                    text.chars().take(80).collect::<String>(),
                    text.len()
                )
            } else {
                text
            };
            line(k, &text);
        }
    }
    let empty = Vec::new();
    let trace = packet
        .get("trace")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    for step in trace {
        let kind = s(step, "step").unwrap_or("");
        let result = s(step, "result").unwrap_or("");
        let detail = s(step, "detail").unwrap_or("");
        let permission = s(step, "permission");
        match (kind, result) {
            ("passport", "active") => {
                out.push_str(&format!(
                    "checking {}...\n",
                    s(packet, "passportId").unwrap_or("passport")
                ));
                if let Some(n) = packet.get("activePermissions").and_then(Value::as_u64) {
                    out.push_str(&format!(
                        "{n} permission{} active\n",
                        if n == 1 { "" } else { "s" }
                    ));
                }
            }
            ("passport", _) => {
                let name = s(packet, "passportId").unwrap_or("passports");
                out.push_str(&format!("checking {name}... {detail}\n"));
            }
            _ => {
                let mark = match result {
                    "matched" | "granted" | "allowed" | "charged" => "+",
                    "skipped" | "inactive" | "none" => "-",
                    _ => "!",
                };
                let who = permission.unwrap_or(kind);
                out.push_str(&format!("  {mark} {who:<22} {result:<9} {detail}\n"));
            }
        }
    }
    let mut line = |k: &str, v: &str| out.push_str(&format!("{k:<9} {v}\n"));
    line("DECISION", s(packet, "decision").unwrap_or("denied"));
    line("reason", s(packet, "reason").unwrap_or("internal_error"));
    if let Some(m) = s(packet, "message") {
        line("message", m);
    }
    let allowed = packet.get("allowed").and_then(Value::as_bool) == Some(true);
    line("allowed", if allowed { "true" } else { "false" });
    line("requestId", s(packet, "requestId").unwrap_or("-"));
    if let Some(p) = s(packet, "matchedPermission") {
        line("matched", p);
    }
    if let Some(g) = s(packet, "grantId") {
        let until = s(packet, "grantExpiresAt").unwrap_or("?");
        line("grant", &format!("{g} (until {until})"));
    }
    if let Some(a) = s(packet, "approvalId") {
        line("approval", a);
        if s(packet, "decision") == Some("approval_required") {
            match server {
                Some(server) => out.push_str(&format!(
                    "\nAPPROVAL REQUIRED — a person must approve this before it runs.\n  Approve at: {}\nthen retry the same request.\n",
                    server.approval_url(a)
                )),
                None => out.push_str(&format!(
                    "\nA person must approve this before it runs:\n  behalf approvals approve {a}\nthen retry the same request.\n"
                )),
            }
        }
    }
    out
}

/// One audit record on one line.
pub fn audit_line(r: &Value) -> String {
    let get = |k: &str| s(r, k).unwrap_or("-");
    let seq = r.get("seq").and_then(Value::as_u64).unwrap_or(0);
    let what = match s(r, "event") {
        Some("decision") => format!("{:<17} {:<17}", get("decision"), get("reason")),
        Some(e) => format!("{:<35}", e),
        None => "?".into(),
    };
    let mut line = format!(
        "#{seq:<6} {} {what} {} {}",
        get("time"),
        get("agentId"),
        get("action")
    );
    if let Some(v) = s(r, "vendor") {
        line.push_str(&format!(" on {v}"));
    }
    if let Some(res) = s(r, "resource") {
        line.push_str(&format!(" [{res}]"));
    }
    for key in ["requestId", "approvalId", "grantId"] {
        if let Some(id) = s(r, key) {
            line.push(' ');
            line.push_str(id);
        }
    }
    line
}
