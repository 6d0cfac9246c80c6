//! The CLI on PostgreSQL (`BEHALF_STATE_URL`): several processes on one shared state spend one
//! budget exactly, a killed process loses no decision it returned, a SQLite state written by
//! the previous release moves in with `behalf migrate`, and an unreachable server denies
//! every request until it is back. scripts/test-cli.sh starts a throwaway cluster
//! (`BEHALF_TEST_PG_URL`) and runs these.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::{json, Value};

const PER_PROCESS: usize = 500;
const BUDGET: usize = 1000;

/// A new, empty database of the throwaway cluster; its connection string.
fn database(name: &str) -> String {
    let base = std::env::var("BEHALF_TEST_PG_URL").expect(
        "BEHALF_TEST_PG_URL is not set: run scripts/test-cli.sh, which starts a throwaway PostgreSQL cluster",
    );
    let mut admin = postgres::Client::connect(&base, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    format!("{base} dbname={name}")
}

fn budget_project(name: &str) -> Project {
    Project::with_policy(
        name,
        &json!({"version": 1, "passports": [{"id": "passport_buyer", "agent": "agent_buyer",
        "permissions": [{"id": "small_purchases", "action": "purchase", "vendor": "*.amazon.com",
            "limits": {"budget": {"amount": BUDGET, "per": "1d"}}}]}]}),
    )
}

fn on(p: &Project, url: &str, args: &[&str]) -> Command {
    let mut c = p.cmd(args);
    c.env("BEHALF_STATE_URL", url);
    c
}

fn spawn_stream(p: &Project, url: &str, tag: usize) -> Child {
    let mut child = on(p, url, &["verify", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        for i in 0..PER_PROCESS {
            let r = json!({"agentId": "agent_buyer", "action": "purchase", "vendor": "www.amazon.com",
                "requestId": format!("req_p{tag}_{i}"), "params": {"amount": 1}});
            if writeln!(stdin, "{r}").is_err() {
                return;
            }
        }
    });
    child
}

fn audit_records(p: &Project, url: &str) -> Vec<Value> {
    let out = on(p, url, &["audit", "export", "--format", "jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-cli.sh starts a throwaway cluster and runs it"]
fn four_processes_on_postgres_spend_one_budget_exactly_and_record_every_decision() {
    let url = database("cli_four");
    let p = budget_project("pg-four");
    let children: Vec<Child> = (0..4).map(|t| spawn_stream(&p, &url, t)).collect();
    let mut packets = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        for line in stdout(&out).lines() {
            packets.push(serde_json::from_str::<Value>(line).unwrap());
        }
    }
    assert_eq!(packets.len(), 4 * PER_PROCESS);
    let allowed = packets.iter().filter(|p| p["allowed"] == true).count();
    assert_eq!(allowed, BUDGET, "exactly the budget is spent, never more");
    assert!(packets
        .iter()
        .filter(|p| p["allowed"] != true)
        .all(|p| p["reason"] == "limit_exceeded"));
    let records = audit_records(&p, &url);
    assert_eq!(records.len(), 4 * PER_PROCESS, "one record per decision");
    assert!(behalf_core::verify_chain(&records).ok);
    let ids: HashSet<&str> = records
        .iter()
        .filter_map(|r| r["requestId"].as_str())
        .collect();
    assert_eq!(ids.len(), 4 * PER_PROCESS);
    let verify = on(&p, &url, &["audit", "verify", "--json"])
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
    let report: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(report["records"], json!(4 * PER_PROCESS));
    assert_eq!(report["unchained"], json!(0));
    // Nothing was written beside the project: the state is in PostgreSQL.
    assert!(!p.db().exists(), "a SQLite file was made");
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-cli.sh starts a throwaway cluster and runs it"]
fn a_process_killed_on_postgres_loses_no_decision_it_returned() {
    let url = database("cli_killed");
    let p = budget_project("pg-killed");
    let others: Vec<Child> = (0..3).map(|t| spawn_stream(&p, &url, t)).collect();
    let mut victim = spawn_stream(&p, &url, 9);
    let mut seen = Vec::new();
    let mut reader = BufReader::new(victim.stdout.take().unwrap());
    let mut line = String::new();
    while seen.len() < 100 {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push(serde_json::from_str::<Value>(line.trim()).unwrap());
    }
    victim.kill().unwrap();
    let _ = victim.wait();
    for rest in reader.lines() {
        if let Ok(v) = serde_json::from_str::<Value>(rest.unwrap().trim()) {
            seen.push(v);
        }
    }
    assert!(
        seen.len() >= 100 && seen.len() < PER_PROCESS,
        "the victim was killed mid-run ({} answers)",
        seen.len()
    );
    for child in others {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    // A record the victim committed but did not chain before it died is chained by the next
    // process that writes, or by `audit verify` reporting it; every returned one is there.
    let records = audit_records(&p, &url);
    assert!(behalf_core::verify_chain(&records).ok);
    let ids: HashSet<&str> = records
        .iter()
        .filter_map(|r| r["requestId"].as_str())
        .collect();
    for packet in &seen {
        let id = packet["requestId"].as_str().unwrap();
        assert!(
            ids.contains(id),
            "{id} was returned but is not in the audit log"
        );
    }
    let allowed = records
        .iter()
        .filter(|r| r["decision"] == "allowed")
        .count();
    assert!(allowed <= BUDGET);
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-cli.sh starts a throwaway cluster and runs it"]
fn migrate_moves_a_state_written_by_the_previous_release_and_commands_use_it() {
    let url = database("cli_moved");
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema1");
    let p = Project::new("pg-moved");
    std::fs::copy(here.join("behalf.json"), p.dir.join("behalf.json")).unwrap();
    std::fs::create_dir_all(p.dir.join(".behalf")).unwrap();
    std::fs::copy(here.join("state.db"), p.db()).unwrap();

    let out = p.run(&["migrate", "--from", ".behalf/state.db", "--to", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = stdout(&out);
    assert!(
        said.contains("audit chain ok on PostgreSQL: 8 records"),
        "{said}"
    );
    assert!(
        stderr(&out).contains("audit: 8 of 8"),
        "progress: {}",
        text(&out)
    );

    let later = "2026-11-26T11:30:00Z";
    let listed = on(&p, &url, &["approvals", "list", "--grants", "--json"])
        .env("BEHALF_NOW", later)
        .output()
        .unwrap();
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed));
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["pending"][0]["approvalId"], "apr_Feszhrd091YeyHjl");
    assert_eq!(listed["grants"][0]["grantId"], "grt_qGvhWzIGv5R5WYGN");

    let out = on(&p, &url, &["migrate", "status", "--json"])
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(status["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["applied"] == true));

    // A second move would merge two histories: refused, nothing changed.
    let again = p.run(&["migrate", "--from", ".behalf/state.db", "--to", &url]);
    assert_eq!(again.status.code(), Some(74), "{}", text(&again));
    assert!(stderr(&again).contains("not empty"), "{}", text(&again));
    let verify = on(&p, &url, &["audit", "verify", "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(report["records"], json!(8));
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-cli.sh starts a throwaway cluster and runs it"]
fn an_unreachable_postgres_denies_every_request_and_records_nothing() {
    let p = budget_project("pg-down");
    let down = "host=127.0.0.1 port=1 user=postgres connect_timeout=1";
    let buy = r#"{"agentId":"agent_buyer","action":"purchase","vendor":"www.amazon.com","params":{"amount":1}}"#;
    let mut child = on(&p, down, &["verify", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for _ in 0..3 {
            writeln!(stdin, "{buy}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "the stream goes on: {}",
        text(&out)
    );
    let packets: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(packets.len(), 3);
    for packet in &packets {
        assert_eq!(packet["allowed"], false);
        assert_eq!(packet["reason"], "internal_error");
        assert!(
            packet["message"].as_str().unwrap().contains("unreachable"),
            "{packet}"
        );
    }
    let one = on(
        &p,
        down,
        &[
            "verify",
            "--json",
            "--agent",
            "agent_buyer",
            "--action",
            "purchase",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(one.status.code(), Some(74), "{}", text(&one));
    assert!(stderr(&one).contains("unreachable"), "{}", text(&one));
    assert!(!p.db().exists(), "no SQLite file was made instead");
}
