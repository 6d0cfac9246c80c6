//! Helpers for the CLI's integration tests: a fresh project directory and a runner.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_behalf");
pub const NOW: &str = "2026-11-26T11:00:00Z";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub struct Project {
    pub dir: PathBuf,
}

impl Project {
    /// An empty directory under the target dir, unique per test.
    pub fn new(name: &str) -> Project {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("behalf-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Project { dir }
    }

    /// A project with the starter policy from `behalf init`.
    pub fn init(name: &str) -> Project {
        let p = Project::new(name);
        let out = p.run(&["init"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        p
    }

    pub fn with_policy(name: &str, policy: &serde_json::Value) -> Project {
        let p = Project::new(name);
        p.write(
            "behalf.json",
            &serde_json::to_string_pretty(policy).unwrap(),
        );
        p
    }

    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.join(file), text).unwrap();
    }

    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(&self.dir)
            .env("BEHALF_NOW", NOW)
            .env_remove("BEHALF_POLICY")
            .env_remove("BEHALF_STATE_DIR")
            .env_remove("BEHALF_STATE_URL")
            .env_remove("BEHALF_AGENT")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn run_at(&self, now: &str, args: &[&str]) -> Output {
        self.cmd(args).env("BEHALF_NOW", now).output().unwrap()
    }

    /// Runs `verify --json` and returns (exit code, packet).
    pub fn verify(&self, args: &[&str]) -> (i32, serde_json::Value) {
        self.verify_at(NOW, args)
    }

    pub fn verify_at(&self, now: &str, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = vec!["verify", "--json"];
        all.extend_from_slice(args);
        let out = self.run_at(now, &all);
        let packet = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("not a packet: {}", text(&out)));
        (out.status.code().unwrap_or(-1), packet)
    }

    pub fn db(&self) -> PathBuf {
        self.dir.join(".behalf").join("state.db")
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub const PROD: &[&str] = &[
    "--action",
    "deploy",
    "--vendor",
    "vercel.com",
    "--param",
    "env=production",
];
pub const STAGING: &[&str] = &[
    "--action",
    "deploy",
    "--vendor",
    "vercel.com",
    "--param",
    "env=staging",
];
