//! `verify_batch_in` (a server's group commit) decides exactly as `verify_in` called once per
//! request: the same decisions and reasons in order — a budget spent by an earlier request of
//! the batch counts for the later ones, a request held once is the same approval — and the
//! same audit records, one chain.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::Duration;

use behalf_core::{Engine, EngineOptions, Policy, Prepared};
use behalf_store::sqlite::SqliteStore;
use behalf_store::{verify_batch_in, verify_in, Listings, Scope, StateStore};
use serde_json::{json, Value};

fn store(name: &str) -> SqliteStore {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/store-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("batch-{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    SqliteStore::open(&path, Duration::from_secs(5), Duration::from_secs(5)).unwrap()
}

/// (decision, reason, approval id seen before or not) of each packet; and (event, reason) of
/// each record.
type Outcome = (Vec<(String, String, bool)>, Vec<(String, Option<String>)>);

fn outcome(store: &mut SqliteStore, packets: &[Value]) -> Outcome {
    let mut seen = Vec::new();
    let decisions = packets
        .iter()
        .map(|p| {
            let id = p["approvalId"].as_str().map(str::to_string);
            let again = id.as_ref().is_some_and(|i| seen.contains(i));
            if let Some(i) = id {
                seen.push(i);
            }
            (
                p["decision"].as_str().unwrap().into(),
                p["reason"].as_str().unwrap().into(),
                again,
            )
        })
        .collect();
    let records = store.audit_after(Scope::All, 0, 1000).unwrap();
    assert!(behalf_core::verify_chain(&records).ok);
    let events = records
        .iter()
        .map(|r| {
            (
                r["event"].as_str().unwrap().into(),
                r["reason"].as_str().map(str::to_string),
            )
        })
        .collect();
    (decisions, events)
}

#[test]
fn a_batch_decides_and_records_as_one_step_per_request() {
    let policy = Arc::new(
        Policy::from_value(
            &json!({"version": 1, "passports": [{"id": "p", "agent": "a", "permissions": [
            {"id": "buy", "action": "purchase", "limits": {"budget": {"amount": 100, "per": "1d"}}},
            {"id": "ship", "action": "deploy", "effect": "require_approval"},
            {"id": "drop", "action": "drop", "effect": "block"}]}]}),
        )
        .unwrap(),
    );
    let requests: Vec<Value> = [40, 40, 40, 10]
        .iter()
        .map(|n| json!({"agentId": "a", "action": "purchase", "params": {"amount": n}}))
        .chain([
            json!({"agentId": "a", "action": "deploy"}),
            json!({"agentId": "a", "action": "deploy"}),
            json!({"agentId": "a", "action": "drop"}),
            json!({"agentId": "nobody", "action": "drop"}),
            json!("not a request"),
        ])
        .collect();
    let now = 1_000_000;

    let mut one = store("one");
    let mut engine = Engine::from_shared(policy.clone(), EngineOptions::default());
    let mut singly = Vec::new();
    for r in &requests {
        let p = engine.prepare(r);
        let d = one
            .write(&policy, |tx| {
                verify_in(tx, &mut engine, &p, now).map(|(d, _)| d)
            })
            .unwrap();
        singly.push(d.to_value());
    }

    let mut batched_store = store("batch");
    let mut engine = Engine::from_shared(policy.clone(), EngineOptions::default());
    let prepared: Vec<Prepared> = requests.iter().map(|r| engine.prepare(r)).collect();
    let refs: Vec<&Prepared> = prepared.iter().collect();
    let batched: Vec<Value> = batched_store
        .write(&policy, |tx| verify_batch_in(tx, &mut engine, &refs, now))
        .unwrap()
        .iter()
        .map(|d| d.to_value())
        .collect();

    let expected = outcome(&mut one, &singly);
    assert_eq!(outcome(&mut batched_store, &batched), expected);
    let reasons: Vec<&str> = expected.0.iter().map(|(_, r, _)| r.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "allowed",
            "allowed",
            "limit_exceeded",
            "allowed",
            "requires_approval",
            "requires_approval",
            "blocked",
            "unknown_agent",
            "invalid_request"
        ]
    );
    assert!(expected.0[5].2, "the second hold is the same approval");
}
