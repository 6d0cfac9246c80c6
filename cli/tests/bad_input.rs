//! Bad input fails clearly and closed: a malformed policy, a corrupt or locked database, a
//! tampered audit log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use rusqlite::Connection;

#[test]
fn malformed_policy_json_names_the_line_and_exits_78() {
    let p = Project::new("bad-json");
    p.write("behalf.json", "{\n  \"version\": 1,\n  \"passports\": [\n    { \"id\": \"p\" \"agent\": \"a\" }\n  ]\n}\n");
    let out = p.run(&["check"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(stderr(&out).contains("behalf.json:4:"), "{}", text(&out));
    let out = p.run(&["verify", "--agent", "a", "--action", "deploy"]);
    assert_eq!(
        out.status.code(),
        Some(78),
        "verify never decides on a broken policy"
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn invalid_policy_lists_every_problem_with_line_and_path() {
    let p = Project::new("bad-policy");
    p.write(
        "behalf.json",
        r#"{
  "version": 1,
  "passports": [
    {
      "id": "passport_a",
      "agent": "agent_a",
      "permissions": [
        { "id": "one", "action": "deploy", "when": { "env": ["staging"] } },
        { "id": "two", "action": "buy", "effect": "block", "limits": { "maxAmount": 5 } }
      ]
    }
  ]
}
"#,
    );
    let out = p.run(&["check"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("2 problems"), "{err}");
    assert!(
        err.contains("behalf.json:8: passports[0].permissions[0].when.env"),
        "{err}"
    );
    assert!(
        err.contains("behalf.json:9: passports[0].permissions[1].limits"),
        "{err}"
    );
    assert!(err.contains("fix:"), "{err}");
    let json = p.run(&["check", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["problems"][0]["line"], 8);
}

#[test]
fn a_missing_policy_points_at_behalf_init() {
    let p = Project::new("no-policy");
    let out = p.run(&["verify", "--agent", "a", "--action", "x"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).contains("behalf init"), "{}", text(&out));
}

#[test]
fn a_corrupt_database_is_a_clear_error_and_nothing_is_decided() {
    let p = Project::init("corrupt-db");
    std::fs::create_dir_all(p.dir.join(".behalf")).unwrap();
    std::fs::write(p.db(), vec![0x42u8; 8192]).unwrap();
    let out = p.run(&[
        "verify",
        "--json",
        "--action",
        "deploy",
        "--vendor",
        "vercel.com",
        "--param",
        "env=staging",
    ]);
    assert_eq!(out.status.code(), Some(74), "{}", text(&out));
    assert!(
        stdout(&out).is_empty(),
        "no decision is printed: {}",
        text(&out)
    );
    assert!(stderr(&out).contains("state.db"), "{}", text(&out));
    assert!(stderr(&out).contains("corrupt"), "{}", text(&out));
}

#[test]
fn a_damaged_approval_row_is_a_clear_error() {
    let p = Project::init("corrupt-state");
    assert_eq!(p.verify(PROD).0, 2);
    let db = Connection::open(p.db()).unwrap();
    db.execute("UPDATE approvals SET record = '{\"approvalId\": 7'", [])
        .unwrap();
    drop(db);
    let mut args = vec!["verify", "--json"];
    args.extend_from_slice(PROD);
    let out = p.run(&args);
    assert_eq!(out.status.code(), Some(74), "{}", text(&out));
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains("state cannot be restored"),
        "{}",
        text(&out)
    );
    assert_eq!(
        p.verify(STAGING).0,
        0,
        "a decision that reads no damaged row is unaffected"
    );
}

#[test]
fn a_locked_database_times_out_with_exit_75_and_records_nothing() {
    let p = Project::init("locked");
    assert_eq!(p.verify(STAGING).0, 0);
    let mut db = Connection::open(p.db()).unwrap();
    let tx = db
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .unwrap();
    let out = p
        .cmd(&[
            "verify",
            "--json",
            "--action",
            "deploy",
            "--vendor",
            "vercel.com",
            "--param",
            "env=staging",
        ])
        .env("BEHALF_BUSY_TIMEOUT_MS", "300")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("locked"), "{}", text(&out));
    tx.rollback().unwrap();
    drop(db);
    let export = p.run(&["audit", "export"]);
    assert_eq!(
        stdout(&export).lines().count(),
        1,
        "the locked-out verify left no record"
    );
    assert_eq!(
        p.verify(STAGING).0,
        0,
        "it works again once the lock is gone"
    );
}

#[test]
fn audit_verify_names_the_first_tampered_record() {
    let p = Project::init("tamper");
    for _ in 0..3 {
        p.verify(STAGING);
    }
    p.verify(PROD);
    p.verify(STAGING);
    let db = Connection::open(p.db()).unwrap();
    let record: String = db
        .query_row("SELECT record FROM audit WHERE seq = 4", [], |r| r.get(0))
        .unwrap();
    let forged = record.replace(
        "\"decision\":\"approval_required\"",
        "\"decision\":\"allowed\"",
    );
    assert_ne!(forged, record);
    db.execute("UPDATE audit SET record = ?1 WHERE seq = 4", [forged])
        .unwrap();
    drop(db);
    let out = p.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout(&out).contains("BROKEN at record seq 4"),
        "{}",
        text(&out)
    );
    let json = p.run(&["audit", "verify", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["firstBrokenSeq"], 4);
}

#[test]
fn audit_verify_notices_deleted_records_in_the_middle_and_at_the_end() {
    let p = Project::init("delete");
    for _ in 0..5 {
        p.verify(STAGING);
    }
    let db = Connection::open(p.db()).unwrap();
    db.execute("DELETE FROM audit WHERE seq = 3", []).unwrap();
    let out = p.run(&["audit", "verify", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (out.status.code(), report["ok"].as_bool()),
        (Some(1), Some(false))
    );
    assert_eq!(
        report["firstBrokenSeq"], 4,
        "the record after the gap: {report}"
    );
    let p = Project::init("delete-tail");
    for _ in 0..3 {
        p.verify(STAGING);
    }
    let db = Connection::open(p.db()).unwrap();
    db.execute("DELETE FROM audit WHERE seq = 3", []).unwrap();
    let out = p.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stdout(&out).contains("removed"), "{}", text(&out));
}

#[test]
fn a_bad_behalf_now_is_a_usage_error() {
    let p = Project::init("bad-now");
    let out = p.run_at("yesterday", &["verify", "--action", "deploy"]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(stderr(&out).contains("BEHALF_NOW"));
}
