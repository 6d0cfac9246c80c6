//! Operators, their enrollment links, passkeys, sessions and tokens: the same on every backend
//! (SQLite here; PostgreSQL against the throwaway cluster scripts/test-store.sh starts).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use behalf_store::operators::{
    CredentialRow, EnrollmentRefusal, OperatorStore, SessionRow, TokenRow,
};
use behalf_store::postgres::PostgresStore;
use behalf_store::sqlite::SqliteStore;
use serde_json::json;

fn credential(id: &str, operator: &str) -> CredentialRow {
    CredentialRow {
        credential_id: id.into(),
        operator_id: operator.into(),
        passkey: json!({"cred": {"counter": 0}}),
        created_at: 10,
    }
}

fn token(id: &str) -> TokenRow {
    TokenRow {
        id: id.into(),
        operator_id: "op_1".into(),
        label: "bot".into(),
        created_at: 5,
        revoked_at: None,
    }
}

fn an_enrollment_link_works_once_and_not_after_it_expires(s: &mut impl OperatorStore) {
    s.create_operator("op_1", "alice", 0).unwrap();
    s.add_enrollment("h1", "op_1", 1_000).unwrap();
    s.add_enrollment("h2", "op_1", 1_000).unwrap();
    assert_eq!(s.enrollment("h1", 999).unwrap(), Ok("op_1".into()));
    assert_eq!(
        s.enrollment("h1", 1_000).unwrap(),
        Err(EnrollmentRefusal::Expired)
    );
    assert_eq!(
        s.enrollment("nope", 0).unwrap(),
        Err(EnrollmentRefusal::Unknown)
    );
    assert_eq!(
        s.complete_enrollment("h1", &credential("c1", "op_1"), 5)
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        s.complete_enrollment("h1", &credential("c2", "op_1"), 6)
            .unwrap(),
        Err(EnrollmentRefusal::Used)
    );
    assert_eq!(
        s.complete_enrollment("h2", &credential("c3", "op_1"), 2_000)
            .unwrap(),
        Err(EnrollmentRefusal::Expired)
    );
    let creds = s.credentials_of("op_1").unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0].credential_id, "c1");
    assert_eq!(creds[0].passkey, json!({"cred": {"counter": 0}}));
    s.update_credential("c1", &json!({"cred": {"counter": 7}}))
        .unwrap();
    assert_eq!(
        s.credential("c1").unwrap().unwrap().passkey,
        json!({"cred": {"counter": 7}})
    );
}

fn a_removed_operator_keeps_its_public_keys_but_loses_sessions_and_tokens(
    s: &mut impl OperatorStore,
) {
    s.create_operator("op_1", "alice", 0).unwrap();
    s.add_enrollment("h1", "op_1", 1_000).unwrap();
    s.complete_enrollment("h1", &credential("c1", "op_1"), 5)
        .unwrap()
        .unwrap();
    let session = SessionRow {
        operator_id: "op_1".into(),
        csrf_token: "x".into(),
        expires_at: 10_000,
    };
    s.add_session("sh", &session).unwrap();
    s.add_token("th", &token("tok_1")).unwrap();
    assert_eq!(s.session("sh", 9_999).unwrap(), Some(session));
    assert_eq!(s.session("sh", 10_000).unwrap(), None);
    assert!(s.token("th").unwrap().is_some());
    assert!(
        s.create_operator("op_2", "alice", 0).is_err(),
        "one present operator per name"
    );
    assert!(s.remove_operator("op_1", 20).unwrap());
    assert!(!s.remove_operator("op_1", 21).unwrap());
    assert_eq!(s.session("sh", 30).unwrap(), None);
    assert_eq!(s.token("th").unwrap(), None);
    assert!(s.credentials_of("op_1").unwrap().is_empty());
    assert!(
        s.credential("c1").unwrap().is_some(),
        "kept for audit verification"
    );
    assert!(s.create_operator("op_2", "alice", 30).is_ok());
    assert_eq!(s.operator_named("alice").unwrap().unwrap().id, "op_2");
    assert_eq!(s.operators().unwrap().len(), 2);
}

fn a_revoked_token_is_not_found(s: &mut impl OperatorStore) {
    s.create_operator("op_1", "alice", 0).unwrap();
    s.add_token("th", &token("tok_1")).unwrap();
    assert!(s.revoke_token("tok_1", 6).unwrap());
    assert!(!s.revoke_token("tok_1", 7).unwrap());
    assert_eq!(s.token("th").unwrap(), None);
    assert_eq!(s.tokens().unwrap()[0].revoked_at, Some(6));
}

fn sqlite(name: &str) -> SqliteStore {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../target/store-tests/operators-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    SqliteStore::open(
        &dir.join("state.db"),
        Duration::from_secs(5),
        Duration::from_secs(5),
    )
    .unwrap()
}

fn postgres(name: &str) -> PostgresStore {
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
    PostgresStore::open(&format!("{base} dbname={name}"), Duration::from_secs(5)).unwrap()
}

#[test]
fn operators_behave_on_sqlite() {
    an_enrollment_link_works_once_and_not_after_it_expires(&mut sqlite("links"));
    a_removed_operator_keeps_its_public_keys_but_loses_sessions_and_tokens(&mut sqlite("removed"));
    a_revoked_token_is_not_found(&mut sqlite("tokens"));
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-store.sh starts a throwaway cluster and runs it"]
fn operators_behave_the_same_on_postgresql() {
    an_enrollment_link_works_once_and_not_after_it_expires(&mut postgres("behalf_op_links"));
    a_removed_operator_keeps_its_public_keys_but_loses_sessions_and_tokens(&mut postgres(
        "behalf_op_removed",
    ));
    a_revoked_token_is_not_found(&mut postgres("behalf_op_tokens"));
}
