//! verify on arbitrary request bytes against a fixed policy: never panics, anything that is
//! not exactly a valid request for a permitted action is not allowed, no spelling reaches a
//! blocked address or path, and the canonical form behalf echoes is a fixed point.
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

const POLICY: &str = r#"{"version": 1, "passports": [{"id": "p", "agent": "agent", "permissions": [
  {"id": "stage", "action": "deploy", "vendor": "vercel.com", "when": {"env": "staging"}},
  {"id": "buy", "action": "purchase", "vendor": "*.amazon.com",
   "limits": {"maxAmount": 100, "budget": {"amount": 300, "per": "1d"}, "rate": {"count": 5, "per": "1h"}}},
  {"id": "prod", "action": "deploy", "when": {"env": "production"}, "effect": "require_approval"},
  {"id": "nodb", "action": "*", "resource": "db/prod/**", "effect": "block"},
  {"id": "db", "action": "*", "resource": "db/**"},
  {"id": "docs", "action": "read", "resource": ["docs/*", "wiki/**"], "when": {"tag": {"notIn": ["secret"]}}},
  {"id": "fetch", "action": "fetch", "vendor": "*"},
  {"id": "noloop", "action": "*", "vendor": ["127.0.0.1", "[::1]"], "effect": "block"},
  {"id": "mail", "action": "send_email", "when": {"to": {"emailDomain": "example.com"}}},
  {"id": "nomail", "action": "send_email", "when": {"to": {"emailDomain": "evil.com"}}, "effect": "block"}
]}]}"#;

const NOW: i64 = 1_795_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(mut engine) = behalf_core::Engine::from_json(POLICY, Default::default()) else { return };
    let text = String::from_utf8_lossy(data);
    let d = engine.verify_json(&text, NOW);
    let packet = d.to_value();
    assert_eq!(packet.get("allowed").and_then(|v| v.as_bool()), Some(d.allowed()));
    if d.allowed() {
        // An allow can only come from a request that parses and names the agent.
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(v.get("agentId").and_then(|a| a.as_str()), Some("agent"));
        assert!(d.matched_permission.is_some());
        let vendor = packet["vendor"].as_str().unwrap_or("");
        assert!(vendor != "127.0.0.1" && vendor != "[::1]", "allowed a blocked host: {text}");
        let resource = packet["resource"].as_str().unwrap_or("");
        assert!(resource != "db/prod" && !resource.starts_with("db/prod/"), "allowed {text}");
    }
    // The echoed canonical form is a fixed point: verified again, it echoes itself.
    if packet["reason"] != "invalid_request" {
        let original: Value = behalf_core::json::from_str(&text).unwrap_or_default();
        let again = json!({
            "agentId": packet["agentId"], "action": packet["action"], "vendor": packet["vendor"],
            "resource": packet["resource"], "params": original.get("params").cloned().unwrap_or(Value::Null),
        });
        if let Ok(mut fresh) = behalf_core::Engine::from_json(POLICY, Default::default()) {
            let second = fresh.verify(&again, NOW).to_value();
            for field in ["action", "vendor", "resource", "decision"] {
                assert_eq!(second[field], packet[field], "{field} is not a fixed point: {text}");
            }
        }
    }
    let records = engine.audit_log_value();
    let report = behalf_core::verify_chain(records.as_array().map_or(&[][..], |r| r.as_slice()));
    assert!(report.ok);
});
