//! A database written by the release before schema 2 (one JSON row of state) opens as rows,
//! and everything in it still holds: approvals pending, approved and denied, the grant,
//! budget and rate usage, and the audit chain, which goes on from its last record.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use common::*;
use rusqlite::Connection;

const PENDING: &str = "apr_Feszhrd091YeyHjl";
const GRANT: &str = "grt_qGvhWzIGv5R5WYGN";
const DENIED: &str = "apr_YP4AAAGksfsRocGv";
const LATER: &str = "2026-11-26T11:30:00Z";

fn fixture() -> Project {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema1");
    let p = Project::new("migration");
    std::fs::copy(here.join("behalf.json"), p.dir.join("behalf.json")).unwrap();
    std::fs::create_dir_all(p.dir.join(".behalf")).unwrap();
    std::fs::copy(here.join("state.db"), p.db()).unwrap();
    p
}

fn deploy(resource: &str) -> Vec<&str> {
    vec![
        "--agent",
        "agent_fixture",
        "--action",
        "deploy",
        "--vendor",
        "vercel.com",
        "--resource",
        resource,
        "--param",
        "env=production",
    ]
}

#[test]
fn a_schema_1_database_opens_as_rows_with_everything_in_it() {
    let p = fixture();
    let listed = p.run_at(LATER, &["approvals", "list", "--grants", "--json"]);
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed));
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let pending: Vec<&str> = listed["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["approvalId"].as_str().unwrap())
        .collect();
    assert_eq!(pending, vec![PENDING]);
    assert_eq!(listed["grants"][0]["grantId"], GRANT);

    let db = Connection::open(p.db()).unwrap();
    let tables: i64 = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'state'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "the one-row state table is gone");
    let schema: String = db
        .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(schema, "2");
    drop(db);

    let (_, d) = p.verify_at(LATER, &deploy("apps/pending"));
    assert_eq!(
        (d["reason"].as_str(), d["approvalId"].as_str()),
        (Some("requires_approval"), Some(PENDING))
    );
    let (_, d) = p.verify_at(LATER, &deploy("apps/granted"));
    assert_eq!(
        (d["reason"].as_str(), d["grantId"].as_str()),
        (Some("approved"), Some(GRANT))
    );
    let (_, d) = p.verify_at(LATER, &deploy("apps/denied"));
    assert_eq!(
        (d["reason"].as_str(), d["approvalId"].as_str()),
        (Some("approval_denied"), Some(DENIED))
    );

    let buy = |amount: &str| {
        let param = format!("amount={amount}");
        p.verify_at(
            LATER,
            &[
                "--agent",
                "agent_fixture",
                "--action",
                "purchase",
                "--param",
                &param,
            ],
        )
        .1["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(buy("30"), "limit_exceeded", "80 of 100 was spent before");
    assert_eq!(buy("20"), "allowed");
    let call = || {
        p.verify_at(LATER, &["--agent", "agent_fixture", "--action", "call"])
            .1["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(call(), "allowed", "1 of 2 was used before");
    assert_eq!(call(), "limit_exceeded");

    let verified = p.run(&["audit", "verify", "--json"]);
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));
    let report: serde_json::Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(
        report["records"],
        8 + 7,
        "the chain goes on from the old records"
    );
}
