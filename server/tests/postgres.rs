//! Many `behalf serve` instances on one PostgreSQL database are one system: 4 instances ×
//! 16 clients × 500 purchases against one budget spend exactly the budget; an approval made
//! through one instance is honoured by the others on the next request; one instance killed
//! with SIGKILL loses no decision it answered; PostgreSQL stopped mid-run denies every
//! decision and the instances recover with no restart. Runs the `behalf` binary ($BEHALF_BIN)
//! against the throwaway cluster scripts/test-server.sh starts (`BEHALF_TEST_PG_URL`,
//! `PG_DIR`/`PG_BIN` for the outage).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BUDGET: usize = 5000;

fn bin() -> PathBuf {
    std::env::var_os("BEHALF_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/behalf"),
        PathBuf::from,
    )
}

/// A new, empty database of the throwaway cluster; its connection string.
fn database(name: &str) -> String {
    let base = std::env::var("BEHALF_TEST_PG_URL").expect(
        "BEHALF_TEST_PG_URL is not set: run scripts/test-server.sh, which starts a throwaway PostgreSQL cluster",
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

fn project(policy: &Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("behalf.json"), policy.to_string()).unwrap();
    dir
}

fn behalf(dir: &Path, url: &str, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env("BEHALF_STATE_URL", url)
        .env_remove("BEHALF_NOW")
        .output()
        .unwrap()
}

fn key(dir: &Path, url: &str, agent: &str) -> String {
    let out = behalf(dir, url, &["agents", "key", "create", agent, "--quiet"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

struct Instance {
    child: Child,
    url: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, state: &str) -> Instance {
    serve_with(dir, state, &[])
}

fn serve_with(dir: &Path, state: &str, env: &[(&str, &str)]) -> Instance {
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--state", state])
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run behalf serve (build it first: cargo build -p behalf-cli)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split("listening on ")
        .nth(1)
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim()
        .to_string();
    Instance { child, url }
}

fn http(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

fn post(agent: &ureq::Agent, url: &str, key: &str, body: &Value) -> Option<(u16, Value)> {
    let mut r = agent
        .post(format!("{url}/v1/verify"))
        .header("Authorization", format!("Bearer {key}"))
        .send(body.to_string())
        .ok()?;
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().ok()?;
    Some((status, serde_json::from_str(&text).ok()?))
}

/// Every chained record of the database, in order, through `behalf audit export`.
fn audit(dir: &Path, url: &str) -> Vec<Value> {
    let out = behalf(dir, url, &["audit", "export", "--format", "jsonl"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn audit_verifies(dir: &Path, url: &str) -> Value {
    let out = behalf(dir, url, &["audit", "verify", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success(), "audit verify failed: {report}");
    report
}

fn buyer_policy() -> Value {
    json!({"version": 1, "passports": [{"id": "passport_buyer", "agent": "agent_buyer",
        "permissions": [
            {"id": "team_budget", "action": "purchase",
             "limits": {"budget": {"amount": BUDGET, "per": "1d"}}},
            {"id": "deploys", "action": "deploy", "effect": "require_approval"}]}]})
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-server.sh starts a throwaway cluster and runs it"]
fn four_instances_spend_one_budget_exactly_and_share_approvals() {
    let url = database("serve_four");
    let dir = project(&buyer_policy());
    let key = key(dir.path(), &url, "agent_buyer");
    let instances: Vec<Instance> = (0..4).map(|_| serve(dir.path(), &url)).collect();
    let urls: Vec<String> = instances.iter().map(|i| i.url.clone()).collect();

    // 4 instances × 16 clients × 500 purchases of 1 = 32,000 against a budget of 5,000.
    let clients = 16;
    let each = 500;
    let barrier = Arc::new(Barrier::new(urls.len() * clients));
    let answers: Arc<Mutex<Vec<Value>>> = Arc::default();
    let threads: Vec<_> = urls
        .iter()
        .enumerate()
        .flat_map(|(n, u)| (0..clients).map(move |c| (n, u.clone(), c)))
        .map(|(n, u, c)| {
            let (key, barrier, answers) = (key.clone(), barrier.clone(), answers.clone());
            std::thread::spawn(move || {
                let agent = http(Duration::from_secs(30));
                barrier.wait();
                let mut mine = Vec::with_capacity(each);
                for i in 0..each {
                    let id = format!("req_i{n}_c{c}_{i}");
                    let body = json!({"agentId": "agent_buyer", "action": "purchase",
                                      "params": {"amount": 1}, "requestId": id});
                    let (status, packet) = post(&agent, &u, &key, &body)
                        .unwrap_or_else(|| panic!("no answer for {id}"));
                    assert_eq!(status, 200, "{packet}");
                    mine.push(packet);
                }
                answers.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let answers = answers.lock().unwrap().clone();
    assert_eq!(answers.len(), urls.len() * clients * each);
    let allowed = answers.iter().filter(|p| p["allowed"] == true).count();
    let reasons: HashSet<&str> = answers
        .iter()
        .filter(|p| p["allowed"] != true)
        .map(|p| p["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        allowed, BUDGET,
        "the budget is spent exactly across instances (other reasons: {reasons:?})"
    );
    assert_eq!(reasons, HashSet::from(["limit_exceeded"]));

    // An approval made through one instance is honoured by every other on the next request.
    let deploy = json!({"agentId": "agent_buyer", "action": "deploy", "resource": "api"});
    let agent = http(Duration::from_secs(10));
    let (_, held) = post(&agent, &urls[0], &key, &deploy).unwrap();
    assert_eq!(held["decision"], "approval_required", "{held}");
    let id = held["approvalId"].as_str().unwrap();
    let (_, again) = post(&agent, &urls[3], &key, &deploy).unwrap();
    assert_eq!(again["approvalId"].as_str(), Some(id), "one approval queue");
    let out = behalf(dir.path(), &url, &["approvals", "approve", id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for u in &urls {
        let (_, retry) = post(&agent, u, &key, &deploy).unwrap();
        assert_eq!(retry["reason"], "approved", "{u}: {retry}");
    }

    let report = audit_verifies(dir.path(), &url);
    let records = audit(dir.path(), &url);
    let decisions = answers.len() + 2 + urls.len();
    assert_eq!(
        records.len(),
        decisions + 1,
        "one record per decision and one for the approval"
    );
    assert_eq!(report["records"], json!(records.len()));
    let seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.iter()
            .copied()
            .eq(1..=u64::try_from(records.len()).unwrap()),
        "every seq is present, in order"
    );
    let recorded: HashSet<&str> = records
        .iter()
        .filter_map(|r| r["requestId"].as_str())
        .collect();
    for p in &answers {
        assert!(recorded.contains(p["requestId"].as_str().unwrap()));
    }
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-server.sh starts a throwaway cluster and runs it"]
fn an_instance_killed_mid_run_loses_no_decision_it_answered() {
    let url = database("serve_killed");
    let dir = project(&buyer_policy());
    let key = key(dir.path(), &url, "agent_buyer");
    let survivor = serve(dir.path(), &url);
    let mut victim = serve(dir.path(), &url);
    let got: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads: Vec<_> = [victim.url.clone(), survivor.url.clone()]
        .into_iter()
        .flat_map(|u| (0..8).map(move |c| (u.clone(), c)))
        .enumerate()
        .map(|(n, (u, _))| {
            let (key, got, stop) = (key.clone(), got.clone(), stop.clone());
            std::thread::spawn(move || {
                let agent = http(Duration::from_secs(2));
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let id = format!("req_k{n}_{i}");
                    let body = json!({"agentId": "agent_buyer", "action": "purchase",
                                      "params": {"amount": 1}, "requestId": id});
                    if let Some((200, packet)) = post(&agent, &u, &key, &body) {
                        got.lock().unwrap().insert(id, packet);
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    while got.lock().unwrap().len() < 400 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the load did not run"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    victim.child.kill().unwrap(); // SIGKILL
    victim.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    drop(survivor);
    let answered = got.lock().unwrap().clone();
    // The next writer chains whatever the victim committed but did not chain.
    let out = behalf(
        dir.path(),
        &url,
        &[
            "verify",
            "--json",
            "--agent",
            "agent_buyer",
            "--action",
            "deploy",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    audit_verifies(dir.path(), &url);
    let records = audit(dir.path(), &url);
    let recorded: HashMap<&str, &str> = records
        .iter()
        .filter_map(|r| Some((r["requestId"].as_str()?, r["decision"].as_str()?)))
        .collect();
    for (id, packet) in &answered {
        if packet["reason"] == "internal_error" {
            continue; // answered as not recorded, as its message says
        }
        assert_eq!(
            recorded.get(id.as_str()).copied(),
            packet["decision"].as_str(),
            "{id} was answered but not recorded"
        );
    }
    let allowed = records
        .iter()
        .filter(|r| r["decision"] == "allowed")
        .count();
    assert!(allowed <= BUDGET);
}

/// Stops or starts the throwaway cluster's server (scripts/pg.sh).
fn cluster(command: &str) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let status = Command::new("bash")
        .arg("-c")
        .arg(format!("source {root}/scripts/pg.sh && {command}"))
        .status()
        .unwrap();
    assert!(status.success(), "{command} failed");
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-server.sh runs it alone, as it stops the server"]
fn outage_postgres_down_denies_every_decision_and_the_instances_recover_by_themselves() {
    assert!(
        std::env::var("BEHALF_TEST_PG_OUTAGE").is_ok(),
        "run with BEHALF_TEST_PG_OUTAGE=1 (scripts/test-server.sh does), alone: it stops the server"
    );
    let url = database("serve_outage");
    let dir = project(&buyer_policy());
    let key = key(dir.path(), &url, "agent_buyer");
    let instances: Vec<Instance> = (0..2).map(|_| serve(dir.path(), &url)).collect();
    let agent = http(Duration::from_secs(10));
    let buy = |i: usize| {
        json!({"agentId": "agent_buyer", "action": "purchase", "params": {"amount": 1},
               "requestId": format!("req_o{i}")})
    };
    for (n, inst) in instances.iter().enumerate() {
        let (_, p) = post(&agent, &inst.url, &key, &buy(n)).unwrap();
        assert_eq!(p["allowed"], true, "{p}");
    }

    cluster("pg_pause");
    for (n, inst) in instances.iter().enumerate() {
        let (status, p) = post(&agent, &inst.url, &key, &buy(10 + n)).unwrap();
        assert_eq!(status, 200);
        assert_eq!(p["allowed"], false, "allowed during the outage: {p}");
        assert_eq!(p["reason"], "internal_error", "{p}");
        let ready = agent.get(format!("{}/readyz", inst.url)).call().unwrap();
        assert_eq!(
            ready.status().as_u16(),
            503,
            "ready while the database is down"
        );
    }
    cluster("pg_resume");
    let started = Instant::now();
    for (n, inst) in instances.iter().enumerate() {
        loop {
            let (_, p) = post(&agent, &inst.url, &key, &buy(20 + n)).unwrap();
            if p["allowed"] == true {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{} did not recover: {p}",
                inst.url
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    drop(instances);
    let report = audit_verifies(dir.path(), &url);
    let records = audit(dir.path(), &url);
    assert_eq!(report["records"], json!(records.len()));
    // The denials answered during the outage were kept and recorded once it was back.
    for n in 0..instances_len() {
        let id = format!("req_o{}", 10 + n);
        let r = records
            .iter()
            .find(|r| r["requestId"] == id.as_str())
            .unwrap_or_else(|| panic!("{id}, denied during the outage, was never recorded"));
        assert_eq!(
            (r["decision"].as_str(), r["reason"].as_str()),
            (Some("denied"), Some("internal_error"))
        );
    }
    assert!(records
        .iter()
        .all(|r| r["decision"] != "allowed" || r["reason"] == "allowed"));
}

fn instances_len() -> usize {
    2
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-server.sh starts a throwaway cluster and runs it"]
fn two_instances_deliver_each_webhook_once_from_the_shared_outbox() {
    use axum::http::HeaderMap as Headers;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (got, received) = std::sync::mpsc::channel::<(Headers, String)>();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new().route(
                "/hook",
                axum::routing::post(move |headers: Headers, body: String| {
                    let got = got.clone();
                    async move {
                        let _ = got.send((headers, body));
                        "ok"
                    }
                }),
            );
            axum::serve(listener, app).await.unwrap();
        });
    });
    let mut policy = buyer_policy();
    policy["webhooks"] = json!([{"id": "hook", "url": format!("http://{addr}/hook"),
        "events": ["decision.approval_required"], "secretEnv": "BEHALF_TEST_PG_HOOK_SECRET"}]);
    let url = database("serve_webhooks");
    let dir = project(&policy);
    let key = key(dir.path(), &url, "agent_buyer");
    let env = [
        ("BEHALF_TEST_PG_HOOK_SECRET", secret),
        ("BEHALF_WEBHOOK_POLL_MS", "50"),
    ];
    let instances: Vec<Instance> = (0..2).map(|_| serve_with(dir.path(), &url, &env)).collect();
    let agent = http(Duration::from_secs(10));
    let mut held = Vec::new();
    for (n, inst) in instances.iter().enumerate() {
        for k in 0..3 {
            let body = json!({"agentId": "agent_buyer", "action": "deploy",
                              "resource": format!("svc-{n}-{k}")});
            let (_, p) = post(&agent, &inst.url, &key, &body).unwrap();
            assert_eq!(p["decision"], "approval_required", "{p}");
            held.push(p["approvalId"].as_str().unwrap().to_string());
        }
    }
    let mut delivered = Vec::new();
    while delivered.len() < held.len() {
        let (headers, body) = received
            .recv_timeout(Duration::from_secs(15))
            .unwrap_or_else(|_| panic!("{} of {} delivered", delivered.len(), held.len()));
        let h = |k: &str| headers.get(k).unwrap().to_str().unwrap().to_string();
        let ok = behalf_core::webhook::verify(
            secret,
            &h("webhook-id"),
            &h("webhook-timestamp"),
            body.as_bytes(),
            &h("webhook-signature"),
            behalf_store::wall_ms() / 1000,
        );
        assert!(ok.is_ok(), "{ok:?}");
        let event: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(event["type"], "decision.approval_required");
        delivered.push(event["data"]["approvalId"].as_str().unwrap().to_string());
    }
    // Leases keep the two deliverers off each other's messages: nothing arrives twice.
    assert!(
        received.recv_timeout(Duration::from_secs(1)).is_err(),
        "a webhook arrived twice"
    );
    delivered.sort();
    held.sort();
    assert_eq!(delivered, held);
}
