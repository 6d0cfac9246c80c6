//! The `/v1` API end to end over HTTP: packets byte-equal to the embedded engine's, every
//! agent-key refusal, scoping of reads to the key's agent, events, reload, health, TLS.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use behalf_core::time::parse_rfc3339;
use behalf_core::{Engine, EngineOptions, Policy};
use behalf_store::StateStore;
use common::{production, two_agents, TestServer, Tls};
use serde_json::{json, Value};

const NOW: &str = "2026-11-26T11:00:00.000Z";

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// Approves as the server host's admin does (`behalf approvals approve` on its state file).
fn approve_on_host(server: &TestServer, policy: &Value, id: &str) {
    let policy = std::sync::Arc::new(Policy::from_value(policy).unwrap());
    let mut engine = Engine::from_shared(policy.clone(), EngineOptions::default());
    let now = behalf_store::wall_ms();
    let (result, _) = server
        .store()
        .write(&policy, |tx| {
            behalf_store::approve_in(tx, &mut engine, id, None, now)
        })
        .unwrap();
    result.unwrap();
}

#[test]
fn verify_answers_the_same_bytes_as_the_embedded_engine_for_conformance_vectors() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/conformance/");
    let mut checked = 0;
    for file in [
        "choices.json",
        "limits.json",
        "indeterminate.json",
        "canonical_inputs.json",
    ] {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{root}{file}")).unwrap())
                .unwrap();
        let named = doc.get("policies").cloned().unwrap_or(json!({}));
        for case in doc["cases"].as_array().unwrap() {
            let steps = match case.get("steps").and_then(Value::as_array) {
                Some(s) if !s.is_empty() => s,
                _ => continue,
            };
            // Only cases of plain verifies at the case's clock: the server's clock is fixed.
            if !steps
                .iter()
                .all(|s| s.get("verify").is_some() && s.get("now").is_none())
            {
                continue;
            }
            let policy = match &case["policy"] {
                Value::String(name) => named[name].clone(),
                other => other.clone(),
            };
            let now =
                parse_rfc3339(case.get("now").and_then(Value::as_str).unwrap_or(NOW)).unwrap();
            let server = TestServer::start_at(&policy, now);
            let mut engine = Engine::from_value(&policy, EngineOptions::default()).unwrap();
            let mut keys: HashMap<String, String> = HashMap::new();
            let mut ids: HashMap<String, String> = HashMap::new();
            for (i, step) in steps.iter().enumerate() {
                let mut request = step["verify"].clone();
                if let Value::Object(m) = &mut request {
                    m.entry("requestId")
                        .or_insert_with(|| json!(format!("req_vector_{i}")));
                }
                let agent = request
                    .get("agentId")
                    .and_then(Value::as_str)
                    .unwrap_or("agent_without_a_passport")
                    .to_string();
                let key = keys
                    .entry(agent.clone())
                    .or_insert_with(|| server.key(&agent).0)
                    .clone();
                let reply = server.verify(&key, &request);
                assert_eq!(reply.status, 200, "{}: {}", case["name"], reply.body);
                let expected = engine.verify(&request, now).to_json();
                let got = same_ids(&reply.body, &expected, &mut ids);
                assert_eq!(got, expected, "case {} step {i}", case["name"]);
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} requests were compared");
}

/// The random ids (`apr_…`, `grt_…`) of `got` replaced by those of `expected` at the same
/// places, consistently across a case (the same approval keeps the same id).
fn same_ids(got: &str, expected: &str, ids: &mut HashMap<String, String>) -> String {
    fn find(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for prefix in ["\"apr_", "\"grt_"] {
            for (at, _) in text.match_indices(prefix) {
                out.push(text[at + 1..at + 21].to_string());
            }
        }
        out
    }
    let mut out = got.to_string();
    for (mine, theirs) in find(got).into_iter().zip(find(expected)) {
        let want = ids.entry(mine.clone()).or_insert(theirs.clone());
        assert_eq!(
            *want, theirs,
            "the server reused {mine} where the engine did not"
        );
        out = out.replace(&mine, &theirs);
    }
    out
}

#[test]
fn a_request_without_a_key_is_refused_with_401_and_decides_nothing() {
    let server = TestServer::start(&two_agents());
    let r = server.post(
        "/v1/verify",
        None,
        &production("agent_claude_code").to_string(),
    );
    assert_eq!((r.status, r.code().as_str()), (401, "agent_key_required"));
    assert_eq!(server.audit_count(), 0);
    for path in ["/v1/approvals", "/v1/grants", "/v1/audit", "/v1/events"] {
        let r = server.get(path, None);
        assert_eq!(
            (r.status, r.code().as_str()),
            (401, "credentials_required"),
            "{path}"
        );
    }
}

#[test]
fn malformed_unknown_and_revoked_keys_are_refused_with_401() {
    let server = TestServer::start(&two_agents());
    let body = production("agent_claude_code").to_string();
    let cases = [
        ("Bearer bhk_short".to_string(), "malformed_credentials"),
        ("Basic dXNlcjpwYXNz".to_string(), "malformed_credentials"),
        (format!("Bearer bhk_{}", "x".repeat(43)), "unknown_key"),
    ];
    for (auth, code) in &cases {
        let r = server.post("/v1/verify", Some(auth), &body);
        assert_eq!((r.status, r.code().as_str()), (401, *code), "{auth}");
    }
    let (key, key_id) = server.key("agent_claude_code");
    assert_eq!(
        server.post("/v1/verify", Some(&bearer(&key)), &body).status,
        200
    );
    let before = server.audit_count();
    server.revoke(&key_id);
    let r = server.post("/v1/verify", Some(&bearer(&key)), &body);
    assert_eq!((r.status, r.code().as_str()), (401, "key_revoked"));
    assert!(r.json()["message"].as_str().unwrap().contains(&key_id));
    assert_eq!(server.get("/v1/approvals", Some(&bearer(&key))).status, 401);
    assert_eq!(
        server.audit_count(),
        before,
        "a refused request is not decided"
    );
}

#[test]
fn a_key_for_one_agent_naming_another_is_refused_with_403() {
    let server = TestServer::start(&two_agents());
    let (key, _) = server.key("agent_claude_code");
    let r = server.verify(&key, &production("agent_other"));
    assert_eq!((r.status, r.code().as_str()), (403, "agent_mismatch"));
    assert_eq!(server.audit_count(), 0, "a refused request is not decided");
    // A repeated key cannot smuggle another agent past the check: the request is invalid,
    // whichever copy a parser would keep.
    for dup in [
        r#"{"agentId":"agent_other","agentId":"agent_claude_code","action":"deploy"}"#,
        r#"{"agentId":"agent_claude_code","agentId":"agent_other","action":"deploy"}"#,
    ] {
        let r = server.post("/v1/verify", Some(&bearer(&key)), dup);
        assert_eq!(r.status, 200);
        let p = r.json();
        assert_eq!(
            (p["reason"].as_str(), p["allowed"].as_bool()),
            (Some("invalid_request"), Some(false))
        );
    }
}

#[test]
fn a_body_that_is_not_a_request_is_a_recorded_invalid_request_packet() {
    let server = TestServer::start(&two_agents());
    let (key, _) = server.key("agent_claude_code");
    for body in ["not json", "[1,2]", "{\"agentId\": 7}", ""] {
        let r = server.post("/v1/verify", Some(&bearer(&key)), body);
        assert_eq!(r.status, 200, "{body}");
        let p = r.json();
        assert_eq!(
            (p["decision"].as_str(), p["allowed"].as_bool()),
            (Some("denied"), Some(false))
        );
        assert_eq!(p["reason"], "invalid_request", "{body}");
    }
    assert_eq!(server.audit_count(), 4);
}

#[test]
fn an_agent_key_cannot_approve_deny_or_revoke() {
    let policy = two_agents();
    let server = TestServer::start(&policy);
    let (key, _) = server.key("agent_claude_code");
    let held = server.verify(&key, &production("agent_claude_code")).json();
    let id = held["approvalId"].as_str().unwrap().to_string();
    let auth = bearer(&key);
    for path in [
        format!("/v1/approvals/{id}/approve"),
        format!("/v1/approvals/{id}/deny"),
    ] {
        let r = server.post(&path, Some(&auth), "{}");
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "operator_only"),
            "{path}"
        );
        let r = server.post(&path, None, "{}");
        assert_eq!(
            (r.status, r.code().as_str()),
            (401, "operator_required"),
            "{path}"
        );
    }
    approve_on_host(&server, &policy, &id);
    let grants = server.get("/v1/grants", Some(&auth)).json();
    let grant = grants["grants"][0]["grantId"].as_str().unwrap().to_string();
    let r = server.delete(&format!("/v1/grants/{grant}"), Some(&auth));
    assert_eq!((r.status, r.code().as_str()), (403, "operator_only"));
    // Still pending nothing, still granted: the refusals changed no state.
    let again = server.verify(&key, &production("agent_claude_code")).json();
    assert_eq!(again["reason"], "approved");
    assert_eq!(again["grantId"], grant.as_str());
}

#[test]
fn an_agent_key_reads_only_its_own_approvals_grants_audit_and_events() {
    let policy = two_agents();
    let server = TestServer::start(&policy);
    let (mine, _) = server.key("agent_claude_code");
    let (theirs, _) = server.key("agent_other");
    let my_held = server
        .verify(&mine, &production("agent_claude_code"))
        .json();
    let their_held = server.verify(&theirs, &production("agent_other")).json();
    let their_id = their_held["approvalId"].as_str().unwrap();
    let my_id = my_held["approvalId"].as_str().unwrap();

    let r = server.get(&format!("/v1/approvals/{their_id}"), Some(&bearer(&mine)));
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    let r = server.get(&format!("/v1/approvals/{my_id}"), Some(&bearer(&mine)));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["approval"]["status"], "pending");
    let r = server.get("/v1/approvals/apr_doesnotexist00000", Some(&bearer(&mine)));
    assert_eq!(r.status, 404);

    let list = server.get("/v1/approvals", Some(&bearer(&mine))).json();
    let ids: Vec<&str> = list["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["approvalId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![my_id]);

    approve_on_host(&server, &policy, their_id);
    let grants = server.get("/v1/grants", Some(&bearer(&mine))).json();
    assert_eq!(grants["grants"], json!([]));
    let grants = server.get("/v1/grants", Some(&bearer(&theirs))).json();
    assert_eq!(grants["grants"].as_array().unwrap().len(), 1);

    let audit = server.get("/v1/audit?after=0", Some(&bearer(&mine))).json();
    let records = audit["records"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    assert!(records.iter().all(|r| r["agentId"] == "agent_claude_code"));
    let audit = server
        .get("/v1/audit?after=0", Some(&bearer(&theirs)))
        .json();
    let events: Vec<&str> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, vec!["decision", "approval.granted"]);
    assert_eq!(audit["next"], 3);

    // A resumed event stream replays only the caller's records.
    let stream = sse_events(&server, &mine, Some(0), 1);
    assert_eq!(stream.len(), 1);
    assert_eq!(stream[0].1["agentId"], "agent_claude_code");
}

#[test]
fn audit_pages_follow_seq_and_bad_limits_are_400() {
    let server = TestServer::start(&two_agents());
    let (key, _) = server.key("agent_claude_code");
    for _ in 0..5 {
        server.verify(&key, &production("agent_claude_code"));
    }
    let page = server
        .get("/v1/audit?after=1&limit=2", Some(&bearer(&key)))
        .json();
    let seqs: Vec<u64> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 3]);
    assert_eq!(page["next"], 3);
    for q in ["limit=0", "limit=100000", "after=-1", "bogus=1"] {
        let r = server.get(&format!("/v1/audit?{q}"), Some(&bearer(&key)));
        assert_eq!(r.status, 400, "{q}: {}", r.body);
    }
    // The chain the API hands out verifies.
    let all = server.get("/v1/audit?after=0", Some(&bearer(&key))).json();
    let report = behalf_core::verify_chain(all["records"].as_array().unwrap());
    assert!(report.ok, "{:?}", report.problem);
}

/// Reads `n` events from `GET /v1/events` (resumed after `after` when given).
fn sse_events(
    server: &TestServer,
    key: &str,
    after: Option<u64>,
    n: usize,
) -> Vec<(String, Value)> {
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let url = match after {
        Some(a) => format!("{}/v1/events?after={a}", server.url),
        None => format!("{}/v1/events", server.url),
    };
    let mut r = http
        .get(url)
        .header("Authorization", bearer(key))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut lines = BufReader::new(r.body_mut().as_reader()).lines();
    let mut out = Vec::new();
    let mut event = String::new();
    while out.len() < n {
        let line = lines.next().unwrap().unwrap();
        if let Some(e) = line.strip_prefix("event: ") {
            event = e.to_string();
        } else if let Some(d) = line.strip_prefix("data: ") {
            out.push((event.clone(), serde_json::from_str(d).unwrap()));
        }
    }
    out
}

#[test]
fn events_stream_decisions_and_approvals_as_they_happen() {
    let policy = two_agents();
    let server = TestServer::start(&policy);
    let (key, _) = server.key("agent_claude_code");
    // Decided while no stream is open (the tailer is idle then): a stream opened later starts
    // after it, and sends only what happens once it is open.
    let staging = json!({"agentId": "agent_claude_code", "action": "deploy",
                         "vendor": "vercel.com", "params": {"env": "staging"}});
    assert_eq!(server.verify(&key, &staging).json()["decision"], "allowed");
    std::thread::sleep(Duration::from_millis(700));
    let url = server.url.clone();
    let listener_key = key.clone();
    let reader = std::thread::spawn(move || {
        let http: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut r = http
            .get(format!("{url}/v1/events"))
            .header("Authorization", bearer(&listener_key))
            .call()
            .unwrap();
        let mut lines = BufReader::new(r.body_mut().as_reader()).lines();
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let line = lines.next().unwrap().unwrap();
            if let Some(data) = line.strip_prefix("data: ") {
                let record: Value = serde_json::from_str(data).unwrap();
                let what = record["decision"].as_str().unwrap_or("").to_string();
                seen.push((record["event"].as_str().unwrap().to_string(), what));
            }
        }
        seen
    });
    std::thread::sleep(Duration::from_millis(300));
    let held = server.verify(&key, &production("agent_claude_code")).json();
    approve_on_host(&server, &policy, held["approvalId"].as_str().unwrap());
    let seen = reader.join().unwrap();
    let pair = |e: &str, d: &str| (e.to_string(), d.to_string());
    assert_eq!(
        seen,
        vec![
            pair("decision", "approval_required"),
            pair("approval.granted", "")
        ]
    );
}

#[test]
fn an_edit_of_the_policy_takes_effect_and_an_invalid_edit_keeps_the_last_good_one() {
    let server = TestServer::start(&two_agents());
    let (key, _) = server.key("agent_claude_code");
    let staging = json!({"agentId": "agent_claude_code", "action": "deploy",
                         "vendor": "vercel.com", "params": {"env": "staging"}});
    assert_eq!(server.verify(&key, &staging).json()["decision"], "allowed");

    let mut blocked = two_agents();
    blocked["passports"][0]["permissions"][0]["effect"] = json!("block");
    std::fs::write(&server.policy_path, blocked.to_string()).unwrap();
    wait_for(|| server.verify(&key, &staging).json()["decision"] == "denied");

    std::fs::write(&server.policy_path, "{\"version\": 1, \"passports\": [").unwrap();
    wait_for(|| server.get("/readyz", None).json()["policy"]["current"] == false);
    let ready = server.get("/readyz", None);
    assert_eq!(ready.status, 200, "the last good policy still decides");
    assert!(ready.json()["policy"]["problem"]
        .as_str()
        .unwrap()
        .contains("does not load"));
    let d = server.verify(&key, &staging).json();
    assert_eq!(
        (d["decision"].as_str(), d["reason"].as_str()),
        (Some("denied"), Some("blocked"))
    );

    let mut half = two_agents();
    half["passports"][0]["permissions"][1]["unknownField"] = json!(true);
    std::fs::write(&server.policy_path, half.to_string()).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(server.verify(&key, &staging).json()["reason"], "blocked");

    std::fs::write(&server.policy_path, two_agents().to_string()).unwrap();
    wait_for(|| server.get("/readyz", None).json()["policy"]["current"] == true);
    assert_eq!(server.verify(&key, &staging).json()["decision"], "allowed");
    let metrics = server.get("/metrics", None).body;
    assert!(
        metrics.contains("behalf_policy_reloads_total{result=\"loaded\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("behalf_policy_reloads_total{result=\"rejected\"} 2"),
        "{metrics}"
    );
}

fn wait_for(mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_secs(5), "timed out");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn health_readiness_and_metrics() {
    let server = TestServer::start(&two_agents());
    let (key, _) = server.key("agent_claude_code");
    server.verify(&key, &production("agent_claude_code"));
    let h = server.get("/healthz", None);
    assert_eq!((h.status, h.body.as_str()), (200, "ok\n"));
    let r = server.get("/readyz", None).json();
    assert_eq!(r["ready"], true);
    assert_eq!(r["state"]["auditHead"], 1);
    let m = server.get("/metrics", None).body;
    assert!(
        m.contains("behalf_decisions_total{decision=\"approval_required\"} 1"),
        "{m}"
    );
    assert!(m.contains("behalf_verify_duration_seconds_count 1"), "{m}");
    assert!(m.contains("behalf_commit_batch_size_count"), "{m}");
    let unknown = server.get("/v1/nothing", None);
    assert_eq!(unknown.status, 404);
}

#[test]
fn tls_serves_with_a_certificate_and_key() {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let tls = Tls {
        cert_pem: cert.cert.pem(),
        key_pem: cert.key_pair.serialize_pem(),
    };
    let server = TestServer::start_with(&two_agents(), None, Some(&tls));
    let (key, _) = server.key("agent_claude_code");
    let root = ureq::tls::Certificate::from_pem(tls.cert_pem.as_bytes()).unwrap();
    let http: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[root.to_owned()]))
                .build(),
        )
        .http_status_as_error(false)
        .build()
        .into();
    let url = server.url.replace("127.0.0.1", "localhost");
    let mut ok = None;
    for _ in 0..100 {
        if let Ok(mut r) = http
            .post(format!("{url}/v1/verify"))
            .header("Authorization", bearer(&key))
            .send(production("agent_claude_code").to_string())
        {
            ok = Some((r.status().as_u16(), r.body_mut().read_to_string().unwrap()));
            break;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    let (status, body) = ok.expect("the TLS server answered");
    assert_eq!(status, 200);
    assert!(body.contains("\"requires_approval\""), "{body}");
    // Plain HTTP to the TLS port gets no decision.
    let plain: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(3)))
        .build()
        .into();
    let attempt = plain
        .get(format!("{}/healthz", server.url.replace("https", "http")))
        .call();
    assert!(attempt.map(|r| r.status() != 200).unwrap_or(true));
}
