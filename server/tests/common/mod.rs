//! A server started in this process on 127.0.0.1 with a port of its own, on a policy and an
//! empty state in a temporary directory; stopped when dropped.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use behalf_core::time::Millis;
use behalf_server::clock::Clock;
use behalf_store::sqlite::SqliteStore;
use behalf_store::{AgentKey, AgentKeys};
use serde_json::Value;

pub struct TestServer {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub policy_path: PathBuf,
    pub state_path: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
    http: ureq::Agent,
}

pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or("").to_string()
    }
}

pub struct Tls {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestServer {
    pub fn start(policy: &Value) -> TestServer {
        TestServer::start_with(policy, None, None)
    }

    pub fn start_at(policy: &Value, now: Millis) -> TestServer {
        TestServer::start_with(policy, Some(now), None)
    }

    pub fn start_with(policy: &Value, now: Option<Millis>, tls: Option<&Tls>) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let policy_path = dir.path().join("behalf.json");
        let state_path = dir.path().join("state.db");
        std::fs::write(&policy_path, serde_json::to_string_pretty(policy).unwrap()).unwrap();
        let (tls_cert, tls_key) = match tls {
            Some(t) => {
                let cert = dir.path().join("cert.pem");
                let key = dir.path().join("key.pem");
                std::fs::write(&cert, &t.cert_pem).unwrap();
                std::fs::write(&key, &t.key_pem).unwrap();
                (Some(cert), Some(key))
            }
            None => (None, None),
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let options = behalf_server::ServeOptions {
            listen: addr,
            policy: policy_path.clone(),
            state: state_path.clone(),
            tls_cert,
            tls_key,
            public_url: None,
            clock: now.map_or(Clock::system(), Clock::fixed),
            sync: behalf_server::Sync::Full,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(behalf_server::serve_on(listener, options, async move {
                let _ = stopped.await;
            }))
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let server = TestServer {
            url: format!("{scheme}://{addr}"),
            dir,
            policy_path,
            state_path,
            stop: Some(stop),
            thread: Some(thread),
            http,
        };
        if tls.is_none() {
            server.wait_ready();
        }
        server
    }

    fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(r) = self.http.get(format!("{}/healthz", self.url)).call() {
                if r.status() == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not start");
    }

    /// A new key for `agent`, stored as the CLI stores it.
    pub fn key(&self, agent: &str) -> (String, String) {
        let new = behalf_server::auth::keys::generate().unwrap();
        let mut store = SqliteStore::open(
            &self.state_path,
            Duration::from_secs(5),
            Duration::from_secs(5),
        )
        .unwrap();
        store
            .create_agent_key(
                &AgentKey {
                    key_id: new.key_id.clone(),
                    agent_id: agent.to_string(),
                    created_at: 0,
                    revoked_at: None,
                },
                &new.hash,
            )
            .unwrap();
        (new.key, new.key_id)
    }

    pub fn revoke(&self, key_id: &str) {
        let mut store = SqliteStore::open(
            &self.state_path,
            Duration::from_secs(5),
            Duration::from_secs(5),
        )
        .unwrap();
        assert!(store.revoke_agent_key(key_id, 1).unwrap());
    }

    /// A store on the server's state file, as an admin on its host has it.
    pub fn store(&self) -> SqliteStore {
        SqliteStore::open(
            &self.state_path,
            Duration::from_secs(5),
            Duration::from_secs(5),
        )
        .unwrap()
    }

    fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut r = r.unwrap();
        Reply {
            status: r.status().as_u16(),
            body: r.body_mut().read_to_string().unwrap(),
        }
    }

    pub fn get(&self, path: &str, auth: Option<&str>) -> Reply {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        TestServer::reply(req.call())
    }

    pub fn post(&self, path: &str, auth: Option<&str>, body: &str) -> Reply {
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .header("Content-Type", "application/json");
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        TestServer::reply(req.send(body))
    }

    pub fn delete(&self, path: &str, auth: Option<&str>) -> Reply {
        let mut req = self.http.delete(format!("{}{path}", self.url));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        TestServer::reply(req.call())
    }

    /// `POST /v1/verify` with `key`.
    pub fn verify(&self, key: &str, request: &Value) -> Reply {
        self.post(
            "/v1/verify",
            Some(&format!("Bearer {key}")),
            &request.to_string(),
        )
    }

    pub fn audit_count(&self) -> usize {
        use behalf_store::{Listings, Scope};
        self.store().audit_after(Scope::All, 0, 1000).unwrap().len()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The starter policy of `behalf init`, plus a second agent.
pub fn two_agents() -> Value {
    serde_json::json!({
      "version": 1,
      "passports": [
        { "id": "passport_claude", "agent": "agent_claude_code",
          "permissions": [
            { "id": "deploy_staging", "action": "deploy", "vendor": "vercel.com",
              "when": { "env": "staging" } },
            { "id": "deploy_production", "action": "deploy", "vendor": "vercel.com",
              "when": { "env": "production" }, "effect": "require_approval",
              "approval": { "grantTtl": "30m" } },
            { "id": "no_prod_db", "action": "*", "resource": "db/prod/**", "effect": "block" }
          ] },
        { "id": "passport_other", "agent": "agent_other",
          "permissions": [
            { "id": "other_production", "action": "deploy", "vendor": "vercel.com",
              "effect": "require_approval" }
          ] }
      ]
    })
}

pub fn production(agent: &str) -> Value {
    serde_json::json!({"agentId": agent, "action": "deploy", "vendor": "vercel.com",
                       "params": {"env": "production"}})
}

/// The `behalf` binary: $BEHALF_BIN, default the workspace's debug build.
pub fn bin() -> PathBuf {
    std::env::var_os("BEHALF_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/behalf"),
        PathBuf::from,
    )
}

/// `behalf serve --listen 127.0.0.1:0` in `dir`, as a process: (the child, its URL).
pub fn serve(dir: &Path) -> (Child, String) {
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0"])
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
    (child, url)
}
