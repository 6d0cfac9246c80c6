//! The published schema is generated from the same field table the validator reads.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)] // test code may index and panic

use std::path::PathBuf;

#[test]
fn published_schema_is_generated_from_the_field_table() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schema/behalf.schema.json");
    let published: serde_json::Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    assert_eq!(
        published,
        behalf_core::spec::full_json_schema(),
        "schema/behalf.schema.json is stale: run `cargo run -p behalf-core --example schema > schema/behalf.schema.json`"
    );
}

#[test]
fn every_field_the_schema_names_is_accepted_by_the_validator() {
    // A policy using every optional field must load: the table and the validator agree.
    let policy = serde_json::json!({
        "$schema": "./schema/behalf.schema.json",
        "version": 1,
        "passports": [{
            "id": "p", "agent": "a", "expiresAt": "2027-01-01T00:00:00Z",
            "notBefore": "2026-01-01T00:00:00Z", "revoked": false, "description": "d",
            "permissions": [
                {"id": "x", "action": ["buy"], "vendor": "*.shop.com", "resource": "a/**",
                 "when": {"n": {"lte": 5}}, "effect": "allow",
                 "limits": {"maxAmount": 5, "budget": {"amount": 10, "per": "1d"},
                            "rate": {"count": 2, "per": 60}, "overLimit": "require_approval"},
                 "approval": {"grantTtl": "5m", "pendingTtl": "1h", "scope": "permission", "singleUse": true},
                 "expiresAt": "2027-01-01T00:00:00Z", "notBefore": "2026-01-01T00:00:00Z",
                 "description": "d"}
            ]
        }],
        "webhooks": [{"id": "w", "url": "https://hooks.example.com/x", "events": ["*"],
                      "secretEnv": "BEHALF_SECRET", "description": "d"}]
    });
    assert_eq!(behalf_core::validate(&policy), vec![]);
}
