//! `verify --stdin` answers every line and never stops on one: a line that is not UTF-8 or
//! not JSON gets its own denied packet, and a database locked past the wait denies that one
//! line while the stream goes on.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use common::*;
use rusqlite::Connection;

const STAGING_LINE: &[u8] =
    br#"{"agentId":"agent_claude_code","action":"deploy","vendor":"vercel.com","params":{"env":"staging"}}"#;

fn packets(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_line_that_is_not_utf8_or_not_json_gets_a_denied_packet_and_the_stream_goes_on() {
    let p = Project::init("stream-bad-lines");
    let mut input = Vec::new();
    input.extend_from_slice(STAGING_LINE);
    input.extend_from_slice(b"\n\xff\xfe not utf-8\n{not json\n\r\n");
    input.extend_from_slice(STAGING_LINE);
    input.extend_from_slice(b"\r\n");
    let mut child = p
        .cmd(&["verify", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let reasons: Vec<String> = packets(&out.stdout)
        .iter()
        .map(|p| p["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        reasons,
        ["allowed", "invalid_request", "invalid_request", "allowed"]
    );
    let exported = p.run(&["audit", "export"]);
    assert_eq!(
        stdout(&exported).lines().count(),
        4,
        "every answered line is recorded"
    );
}

#[test]
fn a_locked_database_denies_that_line_and_the_stream_goes_on() {
    let p = Project::init("stream-locked");
    let mut child = p
        .cmd(&["verify", "--stdin"])
        .env("BEHALF_BUSY_TIMEOUT_MS", "200")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ask = |stdin: &mut std::process::ChildStdin| {
        stdin.write_all(STAGING_LINE).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        serde_json::from_str::<serde_json::Value>(&line).unwrap()
    };
    assert_eq!(ask(&mut stdin)["reason"], "allowed");
    let mut db = Connection::open(p.db()).unwrap();
    let tx = db
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .unwrap();
    let held = ask(&mut stdin);
    assert_eq!(held["reason"], "internal_error", "{held}");
    assert!(
        held["message"]
            .as_str()
            .unwrap()
            .contains("not decided or recorded"),
        "{held}"
    );
    tx.rollback().unwrap();
    drop(db);
    assert_eq!(ask(&mut stdin)["reason"], "allowed", "the stream went on");
    drop(stdin);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let exported = p.run(&["audit", "export"]);
    assert_eq!(
        stdout_lines(&exported),
        2,
        "the locked-out line left no record"
    );
}

fn stdout_lines(out: &std::process::Output) -> usize {
    stdout(out).lines().count()
}
