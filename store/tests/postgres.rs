//! PostgreSQL as shared state: many connections (as many processes or hosts would hold) on one
//! database are one system. Run by scripts/test-store.sh against a throwaway cluster
//! (`BEHALF_TEST_PG_URL`, and `PG_DIR`/`PG_BIN` for the outage test); each test has a database
//! of its own.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)] // test code may index and panic

use std::sync::{Arc, Barrier};
use std::time::Duration;

use behalf_core::time::Millis;
use behalf_core::{Engine, EngineOptions, Policy};
use behalf_store::postgres::{PostgresStore, MIGRATIONS};
use behalf_store::{approve_in, verify_in, StateStore, StoreError};
use serde_json::{json, Value};

const NOW: Millis = 1_800_000_000_000;

fn base_url() -> String {
    std::env::var("BEHALF_TEST_PG_URL").expect(
        "BEHALF_TEST_PG_URL is not set: run scripts/test-store.sh, which starts a throwaway PostgreSQL cluster",
    )
}

/// A new, empty database for one test; its connection string.
fn database(name: &str) -> String {
    let base = base_url();
    let mut admin = postgres::Client::connect(&base, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    format!("{base} dbname={name}")
}

fn open(url: &str) -> PostgresStore {
    PostgresStore::open(url, Duration::from_secs(30)).unwrap()
}

fn policy() -> Arc<Policy> {
    Arc::new(
        Policy::from_value(&json!({
            "version": 1,
            "passports": [
                {"id": "passport_a", "agent": "agent_a", "expiresAt": "2030-01-01T00:00:00Z",
                 "permissions": [
                    {"id": "buy_within_budget", "action": "buy",
                     "limits": {"budget": {"amount": 200, "per": "1d"}}},
                    {"id": "deploy_needs_approval", "action": "deploy",
                     "effect": "require_approval"}
                 ]},
                {"id": "passport_b", "agent": "agent_b", "expiresAt": "2030-01-01T00:00:00Z",
                 "permissions": [
                    {"id": "b_deploys", "action": "deploy", "effect": "require_approval"}
                 ]}
            ]
        }))
        .unwrap(),
    )
}

fn verify(
    store: &mut PostgresStore,
    engine: &mut Engine,
    request: &Value,
) -> Result<Value, StoreError> {
    let prepared = engine.prepare(request);
    let policy = Policy::clone(engine.policy());
    store
        .write(&policy, |tx| verify_in(tx, engine, &prepared, NOW))
        .map(|(d, _)| d.to_value())
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-store.sh starts a throwaway cluster and runs it"]
fn a_budget_shared_by_eight_connections_is_spent_exactly_never_over() {
    let url = database("behalf_budget");
    drop(open(&url));
    let policy = policy();
    let threads = 8;
    let each = 50; // 400 purchases of 1 against a budget of 200
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (url, policy, barrier) = (url.clone(), policy.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut store = open(&url);
                let mut engine = Engine::from_shared(policy, EngineOptions::default());
                barrier.wait();
                let mut allowed = 0u32;
                for i in 0..each {
                    let packet = verify(
                        &mut store,
                        &mut engine,
                        &json!({"agentId": "agent_a", "action": "buy", "vendor": "shop.example",
                                "params": {"amount": 1}, "requestId": format!("req_t{t}_{i}")}),
                    )
                    .unwrap();
                    if packet["allowed"] == json!(true) {
                        allowed += 1;
                    } else {
                        assert_eq!(packet["reason"], json!("limit_exceeded"), "{packet}");
                    }
                }
                allowed
            })
        })
        .collect();
    let allowed: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(allowed, 200, "the budget of 200 was not spent exactly");

    let mut store = open(&url);
    // A step never waits for another connection's chainer; a reader chains what is left.
    store.chain(u64::MAX).unwrap();
    let check = store.verify_audit().unwrap();
    assert!(check.chain.ok, "{:?}", check.chain);
    assert_eq!(check.records, 400, "every decision has its record");
    assert_eq!(check.unchained, 0);
    let log = store.records_after(0, u64::MAX).unwrap();
    let allowed_in_log = log
        .iter()
        .filter(|r| r["decision"] == json!("allowed"))
        .count();
    assert_eq!(allowed_in_log, 200);
    let mut ids: Vec<&str> = log
        .iter()
        .map(|r| r["requestId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 400, "a decision was recorded twice or lost");
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-store.sh starts a throwaway cluster and runs it"]
fn an_approval_made_on_one_connection_is_honoured_by_another_at_once() {
    let url = database("behalf_approval");
    let policy = policy();
    let (mut one, mut two) = (open(&url), open(&url));
    let mut e1 = Engine::from_shared(policy.clone(), EngineOptions::default());
    let mut e2 = Engine::from_shared(policy.clone(), EngineOptions::default());
    let request = json!({"agentId": "agent_a", "action": "deploy", "vendor": "fly.io",
                         "resource": "api", "requestId": "req_deploy"});
    let held = verify(&mut one, &mut e1, &request).unwrap();
    assert_eq!(held["decision"], json!("approval_required"), "{held}");
    let id = held["approvalId"].as_str().unwrap().to_string();
    // The same request through the other connection is held under the same approval.
    let again = verify(&mut two, &mut e2, &request).unwrap();
    assert_eq!(again["approvalId"].as_str(), Some(id.as_str()));

    let (granted, _) = two
        .write(&policy, |tx| approve_in(tx, &mut e2, &id, None, NOW))
        .unwrap();
    granted.unwrap();
    let retry = verify(&mut one, &mut e1, &request).unwrap();
    assert_eq!(retry["allowed"], json!(true), "{retry}");
    assert_eq!(retry["reason"], json!("approved"));

    // Approving twice is an error, wherever it is tried.
    let (twice, _) = one
        .write(&policy, |tx| approve_in(tx, &mut e1, &id, None, NOW))
        .unwrap();
    assert!(twice.is_err(), "a decided approval was approved again");
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-store.sh starts a throwaway cluster and runs it"]
fn concurrent_held_requests_of_two_agents_chain_into_one_log_with_no_gap() {
    let url = database("behalf_chain");
    drop(open(&url));
    let policy = policy();
    let handles: Vec<_> = ["agent_a", "agent_b"]
        .into_iter()
        .flat_map(|agent| (0..2).map(move |k| (agent, k)))
        .map(|(agent, k)| {
            let (url, policy) = (url.clone(), policy.clone());
            std::thread::spawn(move || {
                let mut store = open(&url);
                let mut engine = Engine::from_shared(policy, EngineOptions::default());
                for i in 0..40 {
                    let packet = verify(
                        &mut store,
                        &mut engine,
                        &json!({"agentId": agent, "action": "deploy", "vendor": "fly.io",
                                "resource": format!("svc-{k}-{i}")}),
                    )
                    .unwrap();
                    assert_eq!(packet["decision"], json!("approval_required"), "{packet}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut store = open(&url);
    let left = store.verify_audit().unwrap().unchained;
    let chained = store.chain(u64::MAX).unwrap();
    assert_eq!(chained, left, "a reader chains exactly what was left");
    let check = store.verify_audit().unwrap();
    assert!(check.chain.ok, "{:?}", check.chain);
    assert_eq!((check.records, check.unchained), (160, 0));
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-store.sh starts a throwaway cluster and runs it"]
fn a_tampered_record_or_a_missing_seq_is_reported() {
    let url = database("behalf_tamper");
    let policy = policy();
    let mut store = open(&url);
    let mut engine = Engine::from_shared(policy, EngineOptions::default());
    for i in 0..5 {
        verify(
            &mut store,
            &mut engine,
            &json!({"agentId": "agent_a", "action": "buy", "vendor": "shop.example",
                    "params": {"amount": 1}, "requestId": format!("req_{i}")}),
        )
        .unwrap();
    }
    assert!(store.verify_audit().unwrap().chain.ok);
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute("UPDATE audit SET record = replace(record, '\"amount\":1', '\"amount\":9') WHERE seq = 3")
        .unwrap();
    let check = store.verify_audit().unwrap();
    assert!(!check.chain.ok);
    assert_eq!(check.chain.first_broken_seq, Some(3), "{:?}", check.chain);

    admin
        .batch_execute("UPDATE audit SET record = replace(record, '\"amount\":9', '\"amount\":1') WHERE seq = 3; DELETE FROM audit WHERE seq = 5")
        .unwrap();
    let check = store.verify_audit().unwrap();
    assert!(
        !check.chain.ok,
        "a record removed at the end went unnoticed"
    );
    admin
        .batch_execute("DELETE FROM audit WHERE seq = 2")
        .unwrap();
    let check = store.verify_audit().unwrap();
    assert!(
        !check.chain.ok,
        "a record removed in the middle went unnoticed"
    );
    assert_eq!(check.chain.first_broken_seq, Some(3), "{:?}", check.chain);
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-store.sh starts a throwaway cluster and runs it"]
fn migrations_apply_once_when_four_instances_start_together() {
    let url = database("behalf_migrations");
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                open(&url).migration_status().unwrap()
            })
        })
        .collect();
    for h in handles {
        let status = h.join().unwrap();
        assert_eq!(status.len(), MIGRATIONS.len());
        assert!(status.iter().all(|m| m.applied), "{status:?}");
    }
    let mut store = open(&url);
    assert_eq!(
        store.migrate().unwrap(),
        Vec::<i32>::new(),
        "nothing left to apply"
    );
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let n: i64 = admin
        .query_one("SELECT count(*) FROM behalf_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(usize::try_from(n).unwrap(), MIGRATIONS.len());

    // A database migrated by a newer behalf is refused, not written to.
    admin
        .batch_execute(
            "INSERT INTO behalf_migrations (version, name) VALUES (999, 'from the future')",
        )
        .unwrap();
    let err = PostgresStore::open(&url, Duration::from_secs(1))
        .err()
        .unwrap();
    assert!(err.to_string().contains("migration 999"), "{err}");
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-store.sh starts a throwaway cluster and runs it"]
fn an_unreachable_database_is_a_fault_naming_the_cause_never_a_decision() {
    let err = PostgresStore::open(
        "host=127.0.0.1 port=1 user=postgres connect_timeout=1",
        Duration::from_secs(1),
    )
    .err()
    .unwrap();
    assert!(matches!(err, StoreError::Fault(_)), "{err:?}");
    assert!(err.to_string().contains("unreachable"), "{err}");
    let err = PostgresStore::open("postgres://[bad", Duration::from_secs(1))
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("not a PostgreSQL connection string"),
        "{err}"
    );
}

/// Stops the throwaway cluster's server and starts it again (scripts/pg.sh).
fn cluster(command: &str) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("source {root}/scripts/pg.sh && {command}"))
        .status()
        .unwrap();
    assert!(status.success(), "{command} failed");
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-store.sh runs it alone, as it stops the server"]
fn outage_every_step_fails_closed_and_service_resumes_by_itself() {
    if std::env::var("BEHALF_TEST_PG_OUTAGE").is_err() {
        panic!("run with BEHALF_TEST_PG_OUTAGE=1 (scripts/test-store.sh does), alone: it stops the server");
    }
    let url = database("behalf_outage");
    let policy = policy();
    let mut store = open(&url);
    let mut engine = Engine::from_shared(policy, EngineOptions::default());
    let buy = |i: u32| {
        json!({"agentId": "agent_a", "action": "buy", "vendor": "shop.example",
               "params": {"amount": 1}, "requestId": format!("req_{i}")})
    };
    assert_eq!(
        verify(&mut store, &mut engine, &buy(0)).unwrap()["allowed"],
        json!(true)
    );

    cluster("pg_pause");
    for i in 1..4 {
        let err = verify(&mut store, &mut engine, &buy(i)).err();
        match err {
            Some(StoreError::Fault(m)) => assert!(m.contains("unreachable"), "{m}"),
            other => panic!("a step during the outage gave {other:?}"),
        }
    }
    cluster("pg_resume");
    let packet = verify(&mut store, &mut engine, &buy(9)).unwrap();
    assert_eq!(
        packet["allowed"],
        json!(true),
        "service did not resume: {packet}"
    );
    let check = store.verify_audit().unwrap();
    assert!(check.chain.ok);
    assert_eq!(check.records, 2, "only the decisions answered are recorded");
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-store.sh starts a throwaway cluster and runs it"]
fn a_state_written_by_the_previous_release_moves_from_sqlite_with_every_fact() {
    use behalf_store::migrate::sqlite_to_postgres;
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../cli/tests/fixtures/schema1");
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../target/store-tests/move-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("state.db");
    std::fs::copy(format!("{fixture}/state.db"), &db).unwrap();
    let text = std::fs::read_to_string(format!("{fixture}/behalf.json")).unwrap();
    let policy = Arc::new(Policy::from_value(&serde_json::from_str(&text).unwrap()).unwrap());

    let url = database("behalf_move");
    let mut store = open(&url);
    let mut heard = Vec::new();
    let report = sqlite_to_postgres(&db, &policy, &mut store, &mut |t, n, _| {
        heard.push((t.to_string(), n));
    })
    .unwrap();
    assert_eq!(report.rows("approvals"), 3, "{report:?}");
    assert_eq!(report.rows("grants"), 1);
    assert_eq!(report.rows("usage"), 2);
    assert_eq!(report.rows("audit"), 8);
    assert!(
        heard.iter().any(|(t, n)| t == "audit" && *n == 8),
        "{heard:?}"
    );

    // The chain moved as it was: it verifies, and the next decision continues it.
    let check = store.verify_audit().unwrap();
    assert!(check.chain.ok, "{:?}", check.chain);
    assert_eq!(check.records, 8);
    let later = behalf_core::time::parse_rfc3339("2026-11-26T11:30:00Z").unwrap();
    let mut engine = Engine::from_shared(policy.clone(), EngineOptions::default());
    let mut decide = |request: Value| {
        let prepared = engine.prepare(&request);
        store
            .write(&policy, |tx| verify_in(tx, &mut engine, &prepared, later))
            .unwrap()
            .0
            .to_value()
    };
    let deploy = |resource: &str| {
        json!({"agentId": "agent_fixture", "action": "deploy", "vendor": "vercel.com",
               "resource": resource, "params": {"env": "production"}})
    };
    let d = decide(deploy("apps/pending"));
    assert_eq!(
        (d["reason"].as_str(), d["approvalId"].as_str()),
        (Some("requires_approval"), Some("apr_Feszhrd091YeyHjl"))
    );
    let d = decide(deploy("apps/granted"));
    assert_eq!(
        (d["reason"].as_str(), d["grantId"].as_str()),
        (Some("approved"), Some("grt_qGvhWzIGv5R5WYGN"))
    );
    let d = decide(deploy("apps/denied"));
    assert_eq!(d["reason"], json!("approval_denied"));
    let buy = |amount: u32| {
        json!({"agentId": "agent_fixture", "action": "purchase",
                                   "params": {"amount": amount}})
    };
    assert_eq!(
        decide(buy(30))["reason"],
        json!("limit_exceeded"),
        "80 of 100 was spent before"
    );
    assert_eq!(decide(buy(20))["reason"], json!("allowed"));
    let check = store.verify_audit().unwrap();
    assert!(check.chain.ok, "{:?}", check.chain);
    assert_eq!(check.records, 13);

    // A second move into a state that is no longer empty is refused, and changes nothing.
    let err = sqlite_to_postgres(&db, &policy, &mut store, &mut |_, _, _| {}).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(store.verify_audit().unwrap().records, 13);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-store.sh starts a throwaway cluster and runs it"]
fn webhook_events_and_revoked_grants_chain_on_postgres_as_on_sqlite() {
    use behalf_store::revoke_grant_in;
    let url = database("behalf_webhooks");
    let policy = Arc::new(
        Policy::from_value(&json!({
            "version": 1,
            "webhooks": [{"id": "w", "url": "https://hooks.example.com/x", "events": ["*"],
                          "secretEnv": "BEHALF_TEST_WEBHOOK_SECRET"}],
            "passports": [{"id": "passport_a", "agent": "agent_a", "expiresAt": "2030-01-01T00:00:00Z",
                "permissions": [{"id": "deploy_needs_approval", "action": "deploy",
                                 "effect": "require_approval"}]}]
        }))
        .unwrap(),
    );
    let mut store = open(&url);
    let mut engine = Engine::from_shared(policy.clone(), EngineOptions::default());
    let request = json!({"agentId": "agent_a", "action": "deploy", "resource": "api"});
    let held = verify(&mut store, &mut engine, &request).unwrap();
    let id = held["approvalId"].as_str().unwrap().to_string();
    let (granted, _) = store
        .write(&policy, |tx| approve_in(tx, &mut engine, &id, None, NOW))
        .unwrap();
    let grant = granted.unwrap();
    let grant_id = grant.id.clone();
    let revoked = store
        .write(&policy, |tx| {
            revoke_grant_in(tx, &policy, &grant_id, None, NOW)
        })
        .unwrap();
    assert!(revoked.is_some(), "the live grant was found");
    let after = verify(&mut store, &mut engine, &request).unwrap();
    assert_eq!(
        after["decision"],
        json!("approval_required"),
        "revoked: {after}"
    );

    // Every record chained, the revocation included, and each webhook event (DESIGN's types:
    // decisions and approvals; a revocation is not one) queued for the endpoint with the
    // payload and id the core makes of the chained record.
    let check = store.verify_audit().unwrap();
    assert!(check.chain.ok, "{:?}", check.chain);
    assert_eq!((check.records, check.unchained), (4, 0));
    let log = store.records_after(0, u64::MAX).unwrap();
    let events: Vec<&str> = log.iter().map(|r| r["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        ["decision", "approval.granted", "grant.revoked", "decision"]
    );
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let rows = admin
        .query(
            "SELECT msg_id, event_type, body, seq FROM webhook_outbox ORDER BY seq",
            &[],
        )
        .unwrap();
    let evented: Vec<&Value> = log
        .iter()
        .filter(|r| r["event"] != "grant.revoked")
        .collect();
    assert_eq!(
        rows.len(),
        evented.len(),
        "one event per record for an endpoint that wants all"
    );
    for (row, record) in rows.iter().zip(evented) {
        let typed = behalf_core::audit::record_from_value(record);
        let body: Value = serde_json::from_str(row.get::<_, &str>(2)).unwrap();
        assert_eq!(body["data"], *record);
        assert_eq!(
            row.get::<_, &str>(1),
            behalf_core::webhook::event_type_of(record)
        );
        if let Some(typed) = typed {
            assert_eq!(
                body,
                behalf_core::webhook::event_payload(&typed),
                "as SQLite queues it"
            );
            assert_eq!(
                row.get::<_, &str>(0),
                behalf_core::webhook::message_id(&typed)
            );
        }
    }
}
