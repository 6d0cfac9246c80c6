//! Agent keys and grant revocation, the same on every backend: a key is found by its hash and
//! only by it, a hash is never stored twice, a revocation keeps its first time; a revoked grant
//! is gone for the next decision, its revocation is chained as `grant.revoked`, and revoking it
//! again finds nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::Duration;

use behalf_core::{Engine, EngineOptions, Policy};
use behalf_store::memory::MemoryStore;
use behalf_store::sqlite::SqliteStore;
use behalf_store::{approve_in, revoke_grant_in, verify_in, AgentKey, AgentKeys, StateStore};
use serde_json::json;

fn sqlite() -> (SqliteStore, tempfile_dir::Dir) {
    let dir = tempfile_dir::Dir::new();
    let store = SqliteStore::open(
        &dir.0.join("state.db"),
        Duration::from_secs(5),
        Duration::from_secs(5),
    )
    .unwrap();
    (store, dir)
}

/// A directory under target/ removed when dropped (the store crate has no tempfile dependency).
mod tempfile_dir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
                "../target/store-tests/keys-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn keys_behave(store: &mut impl AgentKeys) {
    let key = |id: &str, agent: &str| AgentKey {
        key_id: id.into(),
        agent_id: agent.into(),
        created_at: 10,
        revoked_at: None,
    };
    store
        .create_agent_key(&key("key_a", "agent_a"), "hash_a")
        .unwrap();
    store
        .create_agent_key(&key("key_b", "agent_b"), "hash_b")
        .unwrap();
    assert!(
        store
            .create_agent_key(&key("key_c", "agent_a"), "hash_a")
            .is_err(),
        "a hash has one owner"
    );
    assert_eq!(
        store.agent_key_by_hash("hash_a").unwrap().unwrap().agent_id,
        "agent_a"
    );
    assert_eq!(
        store.agent_key_by_hash("key_a").unwrap(),
        None,
        "found by hash only"
    );
    assert!(store.revoke_agent_key("key_a", 20).unwrap());
    assert!(store.revoke_agent_key("key_a", 30).unwrap());
    assert!(!store.revoke_agent_key("key_zzz", 30).unwrap());
    assert_eq!(
        store
            .agent_key_by_hash("hash_a")
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(20)
    );
    let all = store.agent_keys().unwrap();
    assert_eq!(
        all.iter().map(|k| k.key_id.as_str()).collect::<Vec<_>>(),
        ["key_a", "key_b"]
    );
}

#[test]
fn agent_keys_behave_the_same_on_every_backend() {
    keys_behave(&mut MemoryStore::default());
    let (mut s, _dir) = sqlite();
    keys_behave(&mut s);
}

fn revoke_behaves<S: StateStore>(store: &mut S, audit: impl Fn(&mut S) -> Vec<String>) {
    let policy = Arc::new(
        Policy::from_value(
            &json!({"version": 1, "passports": [{"id": "p", "agent": "a",
            "permissions": [{"id": "prod", "action": "deploy", "effect": "require_approval"}]}]}),
        )
        .unwrap(),
    );
    let mut engine = Engine::from_shared(policy.clone(), EngineOptions::default());
    let request = json!({"agentId": "a", "action": "deploy"});
    let now = 1_000_000;
    let decide = |store: &mut S, engine: &mut Engine| {
        let p = engine.prepare(&request);
        store
            .write(&policy, |tx| verify_in(tx, engine, &p, now).map(|(d, _)| d))
            .unwrap()
    };
    let held = decide(store, &mut engine);
    let id = held.approval_id.clone().unwrap();
    let (grant, _) = store
        .write(&policy, |tx| approve_in(tx, &mut engine, &id, None, now))
        .unwrap();
    let grant_id = grant.unwrap().id.to_string();
    assert_eq!(decide(store, &mut engine).reason.as_str(), "approved");
    let revoked = store
        .write(&policy, |tx| {
            revoke_grant_in(tx, &policy, &grant_id, None, now)
        })
        .unwrap();
    assert_eq!(revoked.map(|(g, _)| g.id), Some(grant_id.clone()));
    assert_eq!(
        decide(store, &mut engine).reason.as_str(),
        "requires_approval"
    );
    let again = store
        .write(&policy, |tx| {
            revoke_grant_in(tx, &policy, &grant_id, None, now)
        })
        .unwrap();
    assert!(again.is_none(), "a revoked grant is gone");
    assert_eq!(
        audit(store),
        [
            "decision",
            "approval.granted",
            "decision",
            "grant.revoked",
            "decision"
        ]
    );
}

#[test]
fn a_revoked_grant_is_gone_and_its_revocation_is_chained_on_every_backend() {
    revoke_behaves(&mut MemoryStore::default(), |s| {
        s.audit().iter().map(|r| r.event.to_string()).collect()
    });
    let (mut s, _dir) = sqlite();
    revoke_behaves(&mut s, |s| {
        use behalf_store::{Listings, Scope};
        let records = s.audit_after(Scope::All, 0, 100).unwrap();
        assert!(behalf_core::verify_chain(&records).ok);
        records
            .iter()
            .map(|r| r["event"].as_str().unwrap().to_string())
            .collect()
    });
}

/// A fresh database of the throwaway cluster scripts/test-store.sh starts.
fn postgres(name: &str) -> behalf_store::postgres::PostgresStore {
    let base = std::env::var("BEHALF_TEST_PG_URL").expect(
        "BEHALF_TEST_PG_URL is not set: run scripts/test-store.sh, which starts a throwaway PostgreSQL cluster",
    );
    let mut admin = postgres::Client::connect(&base, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    behalf_store::postgres::PostgresStore::open(
        &format!("{base} dbname={name}"),
        Duration::from_secs(5),
    )
    .unwrap()
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-store.sh starts a throwaway cluster and runs it"]
fn agent_keys_and_grant_revocation_behave_the_same_on_postgresql() {
    keys_behave(&mut postgres("behalf_keys"));
    revoke_behaves(&mut postgres("behalf_revoke"), |s| {
        use behalf_store::{Listings, Scope};
        let records = s.audit_after(Scope::All, 0, 100).unwrap();
        assert!(behalf_core::verify_chain(&records).ok);
        records
            .iter()
            .map(|r| r["event"].as_str().unwrap().to_string())
            .collect()
    });
}
