//! The commands, end to end through the real binary and a real state database.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use serde_json::{json, Value};

#[test]
fn init_writes_a_policy_that_checks_and_refuses_to_overwrite() {
    let p = Project::init("init");
    let check = p.run(&["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert!(stdout(&check).contains("1 passport, 3 permissions"));
    let again = p.run(&["init"]);
    assert_eq!(again.status.code(), Some(64), "{}", text(&again));
    assert!(stderr(&again).contains("--force"));
    assert_eq!(p.run(&["init", "--force"]).status.code(), Some(0));
}

#[test]
fn verify_exit_codes_are_0_allowed_1_denied_2_approval_required() {
    let p = Project::init("exit-codes");
    assert_eq!(p.verify(STAGING).0, 0);
    assert_eq!(p.verify(PROD).0, 2);
    let (code, packet) = p.verify(&["--action", "drop", "--resource", "db/prod/users"]);
    assert_eq!(code, 1);
    assert_eq!(packet["reason"], "blocked");
    let (code, packet) = p.verify(&["--action", "deploy", "--vendor", "vercel.com"]);
    assert_eq!(
        (code, packet["reason"].as_str()),
        (1, Some("no_permission"))
    );
    let (code, packet) = p.verify(&["--agent", "agent_nobody", "--action", "deploy"]);
    assert_eq!(
        (code, packet["reason"].as_str()),
        (1, Some("unknown_agent"))
    );
}

#[test]
fn human_output_reads_like_the_seed_trace() {
    let p = Project::init("human");
    let out = p.run(&[
        "verify",
        "--agent",
        "agent_claude_code",
        "--action",
        "deploy",
        "--vendor",
        "vercel.com",
        "--param",
        "env=production",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let s = stdout(&out);
    for line in [
        "agent     agent_claude_code",
        "action    deploy",
        "vendor    vercel.com",
        "env       production",
        "checking passport_claude...",
        "3 permissions active",
        "DECISION  approval_required",
        "reason    requires_approval",
        "allowed   false",
        "requestId req_",
        "behalf approvals approve apr_",
    ] {
        assert!(s.contains(line), "missing `{line}` in:\n{s}");
    }
}

#[test]
fn verify_json_prints_the_canonical_packet_and_echoes_a_request_id() {
    let p = Project::init("json");
    let (code, packet) = p.verify(&[
        "--action",
        "deploy",
        "--vendor",
        "vercel.com",
        "--params",
        "{\"env\": \"staging\"}",
        "--request-id",
        "req_given_1",
    ]);
    assert_eq!(code, 0);
    assert_eq!(packet["requestId"], "req_given_1");
    assert_eq!(packet["decision"], "allowed");
    assert_eq!(packet["evaluatedAt"], "2026-11-26T11:00:00.000Z");
    assert!(packet["trace"].as_array().is_some_and(|t| !t.is_empty()));
    let req = json!({"agentId": "agent_claude_code", "action": "deploy", "vendor": "vercel.com", "params": {"env": "staging"}});
    let (code, packet) = p.verify(&["--request", &req.to_string()]);
    assert_eq!((code, packet["reason"].as_str()), (0, Some("allowed")));
    let (code, packet) = p.verify(&[
        "--request",
        "{\"agentId\": \"agent_claude_code\", \"action\": \"deploy\", \"typo\": 1}",
    ]);
    assert_eq!(
        (code, packet["reason"].as_str()),
        (1, Some("invalid_request"))
    );
}

#[test]
fn approval_round_trip_grants_then_expires_with_behalf_now() {
    let p = Project::init("approval");
    let (code, held) = p.verify(PROD);
    assert_eq!(code, 2);
    let id = held["approvalId"].as_str().unwrap().to_string();
    let (_, again) = p.verify(PROD);
    assert_eq!(
        again["approvalId"], held["approvalId"],
        "the same request keeps its approval id"
    );
    let list = p.run(&["approvals", "list", "--json"]);
    let pending: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(pending["pending"][0]["approvalId"], id.as_str());
    let ok = p.run(&["approvals", "approve", &id, "--ttl", "10m"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let (code, packet) = p.verify_at("2026-11-26T11:09:59Z", PROD);
    assert_eq!((code, packet["reason"].as_str()), (0, Some("approved")));
    assert!(packet["grantId"].as_str().unwrap().starts_with("grt_"));
    let (code, packet) = p.verify_at("2026-11-26T11:10:00Z", PROD);
    assert_eq!(code, 2, "the grant window has ended");
    assert_ne!(
        packet["approvalId"].as_str(),
        Some(id.as_str()),
        "a new approval is opened"
    );
    let twice = p.run(&["approvals", "approve", &id]);
    assert_eq!(twice.status.code(), Some(1));
    assert!(
        stderr(&twice).contains("approval_already_decided"),
        "{}",
        text(&twice)
    );
}

#[test]
fn deny_makes_the_same_request_approval_denied() {
    let p = Project::init("deny");
    let (_, held) = p.verify(PROD);
    let id = held["approvalId"].as_str().unwrap();
    assert_eq!(p.run(&["approvals", "deny", id]).status.code(), Some(0));
    let (code, packet) = p.verify(PROD);
    assert_eq!(
        (code, packet["reason"].as_str()),
        (1, Some("approval_denied"))
    );
}

#[test]
fn approving_an_unknown_approval_is_an_error_not_a_grant() {
    let p = Project::init("unknown-approval");
    let out = p.run(&["approvals", "approve", "apr_doesNotExist0000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("approval_not_found"),
        "{}",
        text(&out)
    );
    let (_, held) = p.verify(PROD);
    let out = p.run(&[
        "approvals",
        "approve",
        held["approvalId"].as_str().unwrap(),
        "--ttl",
        "soon",
    ]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
}

#[test]
fn usage_errors_exit_64_and_help_documents_exit_codes() {
    let p = Project::init("usage");
    assert_eq!(
        p.run(&["verify", "--vendor", "vercel.com"]).status.code(),
        Some(64)
    );
    assert_eq!(
        p.run(&["verify", "--action", "deploy", "--param", "novalue"])
            .status
            .code(),
        Some(64)
    );
    assert_eq!(p.run(&["verify", "--frobnicate"]).status.code(), Some(64));
    assert_eq!(p.run(&["nonsense"]).status.code(), Some(64));
    let help = p.run(&["verify", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    let h = stdout(&help);
    for want in [
        "Examples:",
        "0 allowed, 1 denied, 2 approval required",
        "64",
        "78",
        "BEHALF_NOW",
    ] {
        assert!(h.contains(want), "verify --help lacks `{want}`");
    }
    for cmd in [
        &["init", "--help"][..],
        &["check", "--help"],
        &["permissions", "create", "--help"],
        &["permissions", "list", "--help"],
        &["permissions", "revoke", "--help"],
        &["approvals", "list", "--help"],
        &["approvals", "approve", "--help"],
        &["approvals", "deny", "--help"],
        &["audit", "tail", "--help"],
        &["audit", "verify", "--help"],
        &["audit", "export", "--help"],
        &["test", "--help"],
        &["mcp", "serve", "--help"],
        &["mcp", "proxy", "--help"],
        &["mcp", "init", "--help"],
        &["claude", "--help"],
    ] {
        let out = p.run(cmd);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            stdout(&out).contains("Examples:"),
            "{cmd:?} has no examples"
        );
    }
}

#[test]
fn permissions_create_list_revoke_edit_in_place_keeping_order() {
    let p = Project::init("permissions");
    let before = p.read("behalf.json");
    let out = p.run(&[
        "permissions",
        "create",
        "agent_claude_code",
        "--action",
        "purchase",
        "--vendor",
        "*.amazon.com",
        "--max-amount",
        "100",
        "--budget",
        "300/1d",
        "--expires",
        "2027-01-01T00:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = p.run(&[
        "permissions",
        "create",
        "agent_claude_code",
        "--action",
        "send_email",
        "--when",
        "to=team@example.com",
        "--requires-approval",
        "--id",
        "email_team",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let after = p.read("behalf.json");
    let keys = |t: &str| {
        t.lines()
            .filter_map(|l| l.trim().split('"').nth(1).map(str::to_string))
            .collect::<Vec<_>>()
    };
    assert!(
        keys(&after).starts_with(&keys(&before)[..10]),
        "the original order is kept"
    );
    assert!(after.contains("\"maxAmount\": 100,"));
    let list = p.run(&["permissions", "list"]);
    assert!(stdout(&list).contains("email_team"), "{}", text(&list));
    let (code, _) = p.verify(&[
        "--action",
        "purchase",
        "--vendor",
        "www.amazon.com",
        "--param",
        "amount=50",
    ]);
    assert_eq!(code, 0);
    let (code, _) = p.verify(&["--action", "send_email", "--param", "to=team@example.com"]);
    assert_eq!(code, 2);
    assert_eq!(
        p.run(&["permissions", "revoke", "email_team"])
            .status
            .code(),
        Some(0)
    );
    let (code, packet) = p.verify(&["--action", "send_email", "--param", "to=team@example.com"]);
    assert_eq!(
        (code, packet["reason"].as_str()),
        (1, Some("no_permission"))
    );
    assert_eq!(
        p.run(&["permissions", "revoke", "agent_claude_code"])
            .status
            .code(),
        Some(0)
    );
    let (_, packet) = p.verify(STAGING);
    assert_eq!(packet["reason"], "passport_expired");
    assert_eq!(
        p.run(&["permissions", "revoke", "nothing_here"])
            .status
            .code(),
        Some(64)
    );
}

#[test]
fn permissions_create_never_writes_an_invalid_policy() {
    let p = Project::init("permissions-invalid");
    let before = p.read("behalf.json");
    let out = p.run(&[
        "permissions",
        "create",
        "agent_claude_code",
        "--action",
        "Deploy Now!",
    ]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(
        stderr(&out).contains("--action `Deploy Now!` is not accepted"),
        "{}",
        text(&out)
    );
    let dup = p.run(&[
        "permissions",
        "create",
        "agent_claude_code",
        "--action",
        "x",
        "--id",
        "deploy_staging",
    ]);
    assert_eq!(dup.status.code(), Some(64));
    assert_eq!(p.read("behalf.json"), before);
}

#[test]
fn budget_is_shared_by_successive_processes() {
    let policy = json!({"version": 1, "passports": [{"id": "p", "agent": "agent_a", "permissions": [
        {"id": "buy", "action": "purchase", "limits": {"budget": {"amount": 100, "per": "1d"}}}]}]});
    let p = Project::with_policy("budget", &policy);
    let buy = |amount: &str| {
        p.verify(&[
            "--action",
            "purchase",
            "--param",
            &format!("amount={amount}"),
        ])
    };
    assert_eq!(buy("60").0, 0);
    assert_eq!(buy("30").0, 0);
    let (code, packet) = buy("20");
    assert_eq!(
        (code, packet["reason"].as_str()),
        (1, Some("limit_exceeded"))
    );
    let (code, _) = p.verify_at(
        "2026-11-27T11:00:00Z",
        &["--action", "purchase", "--param", "amount=20"],
    );
    assert_eq!(code, 0, "the window rolled over");
}

#[test]
fn audit_tail_export_and_verify_cover_every_decision_and_approval() {
    let p = Project::init("audit");
    p.verify(STAGING);
    let (_, held) = p.verify(PROD);
    p.run(&["approvals", "approve", held["approvalId"].as_str().unwrap()]);
    p.verify(PROD);
    let export = p.run(&["audit", "export", "--format", "jsonl"]);
    let records: Vec<Value> = stdout(&export)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 4);
    assert_eq!(
        records
            .iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(records[2]["event"], "approval.granted");
    assert!(behalf_core::verify_chain(&records).ok);
    let verify = p.run(&["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
    assert!(stdout(&verify).contains("4 records"));
    let tail = p.run(&["audit", "tail", "-n", "2"]);
    assert_eq!(stdout(&tail).lines().count(), 2);
    let json = p.run(&["audit", "export", "--format", "json"]);
    let all: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 4);
}

#[test]
fn test_command_runs_simple_files_and_conformance_vectors() {
    let p = Project::init("test-cmd");
    p.write("policy.test.json", &json!({"policy": "behalf.json", "now": "2026-11-26T11:00:00Z", "tests": [
        {"name": "staging runs", "request": {"agentId": "agent_claude_code", "action": "deploy", "vendor": "vercel.com", "params": {"env": "staging"}}, "expect": "allowed"},
        {"name": "production waits", "request": {"agentId": "agent_claude_code", "action": "deploy", "vendor": "vercel.com", "params": {"env": "production"}},
         "expect": {"decision": "approval_required", "reason": "requires_approval"}}]}).to_string());
    let out = p.run(&["test", "policy.test.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("test result: ok. 2 passed; 0 failed"),
        "{}",
        text(&out)
    );
    p.write("wrong.test.json", &json!({"tests": [
        {"name": "prod is not free", "request": {"agentId": "agent_claude_code", "action": "deploy", "vendor": "vercel.com", "params": {"env": "production"}}, "expect": "allowed"}]}).to_string());
    let out = p.run(&["test", "wrong.test.json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stdout(&out).contains("prod is not free ... FAILED"));
    let vectors = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/conformance/approvals.json");
    if vectors.exists() {
        let out = p.run(&["test", vectors.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    p.write("garbage.json", "{not json");
    assert_eq!(p.run(&["test", "garbage.json"]).status.code(), Some(65));
}

#[test]
fn mcp_init_wraps_servers_once_and_claude_writes_one_section() {
    let p = Project::init("mcp-init");
    p.write(".mcp.json", &json!({"mcpServers": {"github": {"command": "npx", "args": ["-y", "gh-mcp"], "env": {"TOKEN": "x"}}}}).to_string());
    let out = p.run(&[
        "mcp",
        "init",
        "--server",
        "filesystem",
        "--",
        "npx",
        "-y",
        "@modelcontextprotocol/server-filesystem",
        ".",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let first = p.read(".mcp.json");
    let cfg: Value = serde_json::from_str(&first).unwrap();
    let gh = &cfg["mcpServers"]["github"];
    assert_eq!(gh["command"], "behalf");
    assert_eq!(
        gh["args"],
        json!([
            "mcp",
            "proxy",
            "--agent",
            "agent_claude_code",
            "--server",
            "github",
            "--",
            "npx",
            "-y",
            "gh-mcp"
        ])
    );
    assert_eq!(gh["env"]["TOKEN"], "x");
    assert_eq!(cfg["mcpServers"]["filesystem"]["args"][5], "filesystem");
    assert_eq!(
        cfg["mcpServers"]["behalf"]["args"],
        json!(["mcp", "serve", "--agent", "agent_claude_code"])
    );
    assert_eq!(p.run(&["mcp", "init"]).status.code(), Some(0));
    assert_eq!(
        p.read(".mcp.json"),
        first,
        "running it again changes nothing"
    );
    p.write("CLAUDE.md", "# Project\n\nBuild with cargo.\n");
    assert_eq!(p.run(&["claude"]).status.code(), Some(0));
    assert_eq!(p.run(&["claude"]).status.code(), Some(0));
    let md = p.read("CLAUDE.md");
    assert!(md.starts_with("# Project\n\nBuild with cargo.\n"));
    assert_eq!(md.matches("<!-- behalf:start -->").count(), 1);
    assert!(md.contains("APPROVAL REQUIRED — do not execute this action."));
}

#[test]
fn policy_is_found_in_a_parent_directory_and_state_sits_beside_it() {
    let p = Project::init("parent");
    std::fs::create_dir_all(p.dir.join("sub/deeper")).unwrap();
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
        .current_dir(p.dir.join("sub/deeper"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(p.db().exists());
    assert!(!p.dir.join("sub/deeper/.behalf").exists());
}

#[test]
fn a_closed_stdout_ends_quietly_without_a_panic() {
    let p = Project::init("closed-stdout");
    for _ in 0..20 {
        let out = p.run(&[
            "verify",
            "--agent",
            "agent_claude_code",
            "--action",
            "deploy",
            "--vendor",
            "vercel.com",
            "--param",
            "env=staging",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    // The reader goes away before the audit log is printed.
    let mut child = p
        .cmd(&["audit", "tail", "-n", "20"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        matches!(out.status.code(), Some(0) | Some(141)),
        "{:?} {stderr}",
        out.status
    );
}

#[test]
fn a_bad_flag_value_names_the_flag_the_value_and_the_form_and_exits_64() {
    let p = Project::init("bad-flags");
    let before = p.read("behalf.json");
    let lines = before.lines().count();
    for (args, flag, value, form) in [
        (
            &[
                "--action",
                "deploy",
                "--requires-approval",
                "--grant-ttl",
                "30min",
            ][..],
            "--grant-ttl",
            "30min",
            "unit s, m, h or d",
        ),
        (
            &["--action", "purchase", "--budget", "300/1day"],
            "--budget",
            "300/1day",
            "AMOUNT/PERIOD",
        ),
        (
            &["--action", "purchase", "--rate", "20/hour"],
            "--rate",
            "20/hour",
            "COUNT/PERIOD",
        ),
        (
            &["--action", "deploy", "--expires", "tomorrow"],
            "--expires",
            "tomorrow",
            "RFC 3339",
        ),
        (
            &["--action", "deploy", "--not-before", "2027-13-01"],
            "--not-before",
            "2027-13-01",
            "RFC 3339",
        ),
        (
            &["--action", "deploy", "--vendor", "https://vercel.com"],
            "--vendor",
            "https://vercel.com",
            "no scheme",
        ),
        (
            &["--action", "purchase", "--max-amount", "lots"],
            "--max-amount",
            "lots",
            "a number",
        ),
    ] {
        let mut all = vec!["permissions", "create", "agent_claude_code"];
        all.extend_from_slice(args);
        let out = p.run(&all);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", text(&out));
        assert!(
            err.contains(&format!("{flag} `{value}`")),
            "{args:?} does not name the flag and value: {err}"
        );
        assert!(err.contains(form), "{args:?} does not give the form: {err}");
        assert!(
            !err.contains("behalf.json:"),
            "{args:?} points at a line of a file that was not written: {err}"
        );
        assert!(!err.contains(&format!(":{}:", lines + 3)), "{err}");
    }
    assert_eq!(p.read("behalf.json"), before, "nothing was written");
    // The accepted forms do pass.
    let out = p.run(&[
        "permissions",
        "create",
        "agent_claude_code",
        "--action",
        "purchase",
        "--budget",
        "300/1d",
        "--rate",
        "20/3600",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_passport_for_a_new_agent_needs_new_agent_and_a_typo_gets_a_suggestion() {
    let p = Project::init("new-agent");
    let before = p.read("behalf.json");
    let out = p.run(&[
        "permissions",
        "create",
        "agent_claud_code",
        "--action",
        "deploy",
    ]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("no passport has agent `agent_claud_code`"),
        "{err}"
    );
    assert!(err.contains("did you mean `agent_claude_code`?"), "{err}");
    assert!(err.contains("--new-agent"), "{err}");
    assert_eq!(p.read("behalf.json"), before);

    let out = p.run(&[
        "permissions",
        "create",
        "agent_ollie",
        "--action",
        "purchase",
        "--new-agent",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout(&out).contains("created passport passport_ollie for agent_ollie"));
    assert!(stdout(&out).contains("behalf permissions revoke passport_ollie --delete"));
    let (code, _) = p.verify(&["--agent", "agent_ollie", "--action", "purchase"]);
    assert_eq!(code, 0);

    // The passport it created can be removed again, leaving the file as it was.
    let out = p.run(&["permissions", "revoke", "passport_ollie", "--delete"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout(&out).contains("deleted passport passport_ollie"));
    let json = |t: &str| serde_json::from_str::<Value>(t).unwrap();
    assert_eq!(json(&p.read("behalf.json")), json(&before));
    let (_, packet) = p.verify(&["--agent", "agent_ollie", "--action", "purchase"]);
    assert_eq!(packet["reason"], "unknown_agent");
    let out = p.run(&["permissions", "revoke", "deploy_stagin"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("did you mean `deploy_staging`?"));
}

#[test]
fn verify_says_did_you_mean_for_an_unknown_agent_and_names_a_missing_vendor() {
    let p = Project::init("verify-hints");
    let out = p.run(&[
        "verify",
        "--agent",
        "agent_claud_code",
        "--action",
        "deploy",
        "--vendor",
        "vercel.com",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("did you mean `agent_claude_code`?"),
        "{}",
        text(&out)
    );
    let out = p.run(&[
        "verify",
        "--json",
        "--action",
        "deploy",
        "--param",
        "env=staging",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let packet: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        packet["reason"], "no_permission",
        "stdout is still the packet"
    );
    assert!(
        stderr(&out).contains("names no vendor") && stderr(&out).contains("--vendor vercel.com"),
        "{}",
        text(&out)
    );
    // No such hint when the vendor is not why: a vendor given, or no permission would match.
    for args in [
        &[
            "verify",
            "--action",
            "deploy",
            "--vendor",
            "vercel.com",
            "--param",
            "env=qa",
        ][..],
        &["verify", "--action", "purchase"],
    ] {
        let out = p.run(args);
        assert_eq!(out.status.code(), Some(1));
        assert!(!stderr(&out).contains("vendor"), "{args:?}: {}", text(&out));
    }
}

#[test]
fn unknown_subcommands_and_policy_fields_get_a_did_you_mean() {
    let p = Project::init("did-you-mean");
    let out = p.run(&["verfy"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("'verify'"), "{}", text(&out));
    let out = p.run(&["webhooks", "stats"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("'status'"), "{}", text(&out));
    let policy = p
        .read("behalf.json")
        .replace("\"grantTtl\"", "\"grantTTL\"");
    p.write("behalf.json", &policy);
    let out = p.run(&["check"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        stderr(&out).contains("unknown field `grantTTL`; did you mean `grantTtl`?"),
        "{}",
        text(&out)
    );
}

#[test]
fn on_a_terminal_create_asks_before_making_a_passport_for_a_new_agent() {
    // `script` (util-linux) runs the command on a pseudo-terminal and feeds it our stdin.
    let ask = |p: &Project, agent: &str, answer: &str| {
        let command = format!("{BIN} permissions create {agent} --action deploy");
        let mut child = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .current_dir(&p.dir)
            .env("BEHALF_NOW", NOW)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("`script` (util-linux) runs the CLI on a terminal");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{answer}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let p = Project::init("tty-new-agent");
    let before = p.read("behalf.json");
    let no = ask(&p, "agent_claud_code", "n");
    assert_eq!(no.status.code(), Some(64), "{}", text(&no));
    assert!(
        stdout(&no).contains("(did you mean `agent_claude_code`?). Create a new passport"),
        "{}",
        text(&no)
    );
    assert_eq!(p.read("behalf.json"), before);
    let yes = ask(&p, "agent_ollie", "y");
    assert_eq!(yes.status.code(), Some(0), "{}", text(&yes));
    assert!(stdout(&yes).contains("created passport passport_ollie for agent_ollie"));
    assert!(p.read("behalf.json").contains("\"agent\": \"agent_ollie\""));
}

#[test]
fn a_policy_file_that_repeats_a_key_is_refused_naming_the_key() {
    let p = Project::new("duplicate-key-policy");
    p.write(
        "behalf.json",
        r#"{"version": 1, "passports": [{"id": "p", "agent": "a", "permissions": [
            {"id": "x", "action": "read", "effect": "block", "effect": "allow"}]}]}"#,
    );
    let out = p.run(&["verify", "--agent", "a", "--action", "read"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr(&out).contains("repeats the key `effect` at `passports[0].permissions[0].effect`"),
        "{}",
        text(&out)
    );
    let check = p.run(&["check", "--json"]);
    assert!(stdout(&check).contains("duplicate_key"), "{}", text(&check));
}

#[test]
fn verify_request_text_that_repeats_a_key_is_refused() {
    let p = Project::init("duplicate-key-request");
    let out = p.run(&[
        "verify",
        "--params",
        r#"{"env": "staging", "env": "production"}"#,
        "--agent",
        "agent_claude_code",
        "--action",
        "deploy",
        "--vendor",
        "vercel.com",
    ]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(
        stderr(&out).contains("--params repeats the key `env` at `env`"),
        "{}",
        text(&out)
    );
    let out = p.run(&[
        "verify",
        "--json",
        "--request",
        r#"{"agentId":"agent_claude_code","action":"deploy","vendor":"vercel.com","params":{"env":"staging","env":"production"}}"#,
    ]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(
        stderr(&out).contains("repeats the key `env` at `params.env`"),
        "{}",
        text(&out)
    );
}

#[test]
fn verify_stdin_refuses_a_line_that_repeats_a_key_and_goes_on() {
    use std::io::Write;
    let p = Project::init("duplicate-key-stdin");
    let mut child = p
        .cmd(&["verify", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = concat!(
        r#"{"agentId":"agent_claude_code","action":"deploy","vendor":"vercel.com","params":{"env":"staging","env":"production"}}"#,
        "\n",
        r#"{"agentId":"agent_claude_code","action":"deploy","vendor":"vercel.com","params":{"env":"staging"}}"#,
        "\n"
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let packets: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(packets.len(), 2, "{}", text(&out));
    assert_eq!(packets[0]["reason"], "invalid_request");
    assert_eq!(packets[1]["reason"], "allowed");
}

#[test]
fn permissions_create_writes_operator_matchers_from_when() {
    let p = Project::init("when-matchers");
    let out = p.run(&[
        "permissions",
        "create",
        "agent_claude_code",
        "--action",
        "send_email",
        "--when",
        "to:emailDomain=example.com,*.example.org",
        "--when",
        "size:lte=100",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let policy: Value = serde_json::from_str(&p.read("behalf.json")).unwrap();
    let created = policy["passports"][0]["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|perm| perm["action"] == "send_email")
        .cloned()
        .unwrap();
    assert_eq!(
        created["when"],
        json!({"to": {"emailDomain": ["example.com", "*.example.org"]}, "size": {"lte": 100}})
    );
    let send = |to: &str| {
        p.verify(&[
            "--agent",
            "agent_claude_code",
            "--action",
            "send_email",
            "--param",
            &format!("to={to}"),
            "--param",
            "size=5",
        ])
        .1["reason"]
            .clone()
    };
    assert_eq!(send("bob@mail.example.org"), "allowed");
    assert_eq!(send("bob@example.com, eve@evil.com"), "no_permission");
    let bad = p.run(&[
        "permissions",
        "create",
        "agent_claude_code",
        "--action",
        "x",
        "--when",
        "n:lt=abc",
    ]);
    assert_eq!(bad.status.code(), Some(64), "{}", text(&bad));
    assert!(
        stderr(&bad).contains("`lt` takes a number"),
        "{}",
        text(&bad)
    );
}
