//! `behalf serve` killed with SIGKILL in the middle of a load, then started again on the same
//! state: every decision a client got back is in the audit chain (matched by requestId, with
//! the same decision), so nothing was allowed without a record, and the chain verifies.
//! Runs the `behalf` binary ($BEHALF_BIN, default target/debug/behalf).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use behalf_store::sqlite::SqliteStore;
use behalf_store::{Listings, Scope};
use common::{bin, serve};
use serde_json::{json, Value};

#[test]
fn every_decision_a_client_got_is_in_the_chain_after_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let policy = json!({"version": 1, "passports": [{"id": "p", "agent": "agent_load",
        "permissions": [
            {"id": "reads", "action": "read", "limits": {"rate": {"count": 1000000, "per": "1h"}}},
            {"id": "writes", "action": "write", "effect": "require_approval"},
            {"id": "drops", "action": "drop", "effect": "block"}]}]});
    std::fs::write(dir.path().join("behalf.json"), policy.to_string()).unwrap();
    let out = Command::new(bin())
        .args(["agents", "key", "create", "agent_load", "--quiet"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let (mut server, url) = serve(dir.path());
    let got: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|t| {
            let (got, stop, url, key) = (got.clone(), stop.clone(), url.clone(), key.clone());
            std::thread::spawn(move || {
                let http: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(2)))
                    .build()
                    .into();
                let started = Instant::now();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(20) {
                    i += 1;
                    let id = format!("req_t{t}_{i}");
                    let action = ["read", "write", "drop"][i % 3];
                    let body = json!({"agentId": "agent_load", "action": action,
                                      "params": {"n": i}, "requestId": id});
                    let Ok(mut r) = http
                        .post(format!("{url}/v1/verify"))
                        .header("Authorization", format!("Bearer {key}"))
                        .send(body.to_string())
                    else {
                        continue;
                    };
                    let Ok(text) = r.body_mut().read_to_string() else {
                        continue;
                    };
                    let p: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(p["requestId"], id.as_str());
                    got.lock()
                        .unwrap()
                        .insert(id, p["decision"].as_str().unwrap().to_string());
                }
            })
        })
        .collect();
    // Kill in the middle of the load: once a few hundred decisions are answered.
    let started = Instant::now();
    while got.lock().unwrap().len() < 300 {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the load did not run"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let answered = got.lock().unwrap().clone();
    assert!(answered.len() >= 300);

    // Restarted on the same state, it serves again; the chain holds every answer.
    let (mut again, url) = serve(dir.path());
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = http
        .post(format!("{url}/v1/verify"))
        .header("Authorization", format!("Bearer {key}"))
        .send(json!({"agentId": "agent_load", "action": "read"}).to_string())
        .unwrap();
    assert!(r
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("\"allowed\":true"));
    again.kill().unwrap();
    again.wait().unwrap();

    let mut store = SqliteStore::open(
        &dir.path().join(".behalf/state.db"),
        Duration::from_secs(5),
        Duration::from_secs(5),
    )
    .unwrap();
    let mut recorded: HashMap<String, String> = HashMap::new();
    let mut after = 0;
    let mut records = Vec::new();
    loop {
        let page = store.audit_after(Scope::All, after, 1000).unwrap();
        let Some(last) = page.last() else { break };
        after = last["seq"].as_u64().unwrap();
        for r in &page {
            if let (Some(id), Some(d)) = (r["requestId"].as_str(), r["decision"].as_str()) {
                recorded.insert(id.to_string(), d.to_string());
            }
        }
        records.extend(page);
    }
    let report = behalf_core::verify_chain(&records);
    assert!(report.ok, "{:?}", report.problem);
    for (id, decision) in &answered {
        assert_eq!(
            recorded.get(id),
            Some(decision),
            "{id} was answered {decision} but not recorded"
        );
    }
    let allowed = answered.values().filter(|d| *d == "allowed").count();
    assert!(allowed > 50, "only {allowed} allowed answers were checked");
    let audit = Command::new(bin())
        .args(["audit", "verify"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        audit.status.success(),
        "{}",
        String::from_utf8_lossy(&audit.stdout)
    );
}
