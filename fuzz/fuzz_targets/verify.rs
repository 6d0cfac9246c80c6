//! verify on arbitrary request bytes against a fixed policy: never panics, and anything
//! that is not exactly a valid request for a permitted action is not allowed.
#![no_main]
use libfuzzer_sys::fuzz_target;

const POLICY: &str = r#"{"version": 1, "passports": [{"id": "p", "agent": "agent", "permissions": [
  {"id": "stage", "action": "deploy", "vendor": "vercel.com", "when": {"env": "staging"}},
  {"id": "buy", "action": "purchase", "vendor": "*.amazon.com",
   "limits": {"maxAmount": 100, "budget": {"amount": 300, "per": "1d"}, "rate": {"count": 5, "per": "1h"}}},
  {"id": "prod", "action": "deploy", "when": {"env": "production"}, "effect": "require_approval"},
  {"id": "nodb", "action": "*", "resource": "db/prod/**", "effect": "block"},
  {"id": "docs", "action": "read", "resource": ["docs/*", "wiki/**"], "when": {"tag": {"notIn": ["secret"]}}}
]}]}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(mut engine) = behalf_core::Engine::from_json(POLICY, Default::default()) else { return };
    let text = String::from_utf8_lossy(data);
    let d = engine.verify_json(&text, 1_795_000_000_000);
    let packet = d.to_value();
    assert_eq!(packet.get("allowed").and_then(|v| v.as_bool()), Some(d.allowed()));
    if d.allowed() {
        // An allow can only come from a request that parses and names the agent.
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(v.get("agentId").and_then(|a| a.as_str()), Some("agent"));
        assert!(d.matched_permission.is_some());
    }
    let records = engine.audit_log_value();
    let report = behalf_core::verify_chain(records.as_array().map_or(&[][..], |r| r.as_slice()));
    assert!(report.ok);
});
