//! `behalf verify --url`: the server decides and records, the CLI prints its packet (`--json`:
//! the server's bytes) with the dashboard link for a held request, exits 0/1/2 as for a local
//! decision, and a dead server is a denied `internal_error` packet (exit 1).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::{Command, Output};

use common::{bin, serve, two_agents};
use serde_json::Value;

fn behalf(dir: &std::path::Path, key: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env("BEHALF_AGENT_KEY", key)
        .env_remove("BEHALF_URL")
        .output()
        .unwrap()
}

#[test]
fn verify_url_prints_the_servers_packet_and_the_dashboard_link() {
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("behalf.json"), two_agents().to_string()).unwrap();
    let made = behalf(
        host.path(),
        "",
        &["agents", "key", "create", "agent_claude_code", "--quiet"],
    );
    let key = String::from_utf8(made.stdout).unwrap().trim().to_string();
    let (mut server, url) = serve(host.path());
    let agent = tempfile::tempdir().unwrap();
    let base = [
        "verify",
        "--url",
        &url,
        "--agent",
        "agent_claude_code",
        "--action",
        "deploy",
        "--vendor",
        "vercel.com",
    ];

    let held = behalf(
        agent.path(),
        &key,
        &[&base[..], &["--param", "env=production"]].concat(),
    );
    assert_eq!(held.status.code(), Some(2));
    let text = String::from_utf8(held.stdout).unwrap();
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("approval  "))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        text.contains(&format!("APPROVAL REQUIRED — a person must approve this before it runs.\n  Approve at: {url}/dashboard/approvals/{id}")),
        "{text}"
    );

    let allowed = behalf(
        agent.path(),
        &key,
        &[&base[..], &["--param", "env=staging", "--json"]].concat(),
    );
    assert_eq!(allowed.status.code(), Some(0));
    let packet: Value = serde_json::from_slice(&allowed.stdout).unwrap();
    assert_eq!(packet["reason"], "allowed");

    let other = behalf(
        agent.path(),
        &key,
        &[
            "verify",
            "--url",
            &url,
            "--agent",
            "agent_other",
            "--action",
            "deploy",
            "--json",
        ],
    );
    assert_eq!(other.status.code(), Some(1));
    let packet: Value = serde_json::from_slice(&other.stdout).unwrap();
    assert_eq!(packet["reason"], "internal_error");
    assert!(packet["message"]
        .as_str()
        .unwrap()
        .contains("403 agent_mismatch"));
    assert_eq!(
        std::fs::read_dir(agent.path()).unwrap().count(),
        0,
        "nothing local was written"
    );

    server.kill().unwrap();
    server.wait().unwrap();
    let dead = behalf(agent.path(), &key, &[&base[..], &["--json"]].concat());
    assert_eq!(dead.status.code(), Some(1));
    let packet: Value = serde_json::from_slice(&dead.stdout).unwrap();
    assert_eq!(
        (packet["allowed"].as_bool(), packet["reason"].as_str()),
        (Some(false), Some("internal_error"))
    );
    assert!(packet["message"]
        .as_str()
        .unwrap()
        .contains("cannot reach the behalf server"));

    let no_key = behalf(agent.path(), "", &base);
    assert_eq!(no_key.status.code(), Some(64));
}
