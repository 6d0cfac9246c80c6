//! One suite, every backend: each conformance vector runs through the engine over each
//! store (in memory, SQLite rows), and its packets must be byte-equal to the engine's own.
//! Cases about the in-memory audit window (`options.auditCapacity`) are the engine's alone:
//! a store keeps every record.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)] // test code may index and panic

use std::path::PathBuf;
use std::sync::Arc;

use behalf_core::conformance::{run_file, run_file_with, Subject};
use behalf_core::time::Millis;
use behalf_core::{ApiError, Approval, Decision, Engine, EngineOptions, Grant, Policy};
use behalf_store::memory::MemoryStore;
use behalf_store::sqlite::SqliteStore;
use behalf_store::{approve_in, deny_in, load_all_in, verify_in, StateStore, StoreError};
use serde_json::Value;

trait Backend: StateStore + Sized {
    fn reopen(self) -> Self;
    fn audit_values(&mut self) -> Vec<Value>;
}

impl Backend for MemoryStore {
    fn reopen(self) -> Self {
        self
    }
    fn audit_values(&mut self) -> Vec<Value> {
        self.audit().iter().map(|r| r.to_value()).collect()
    }
}

struct Sqlite {
    store: SqliteStore,
    path: PathBuf,
}

fn temp_db() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/store-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "db-{}-{}.sqlite",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

fn open(path: &std::path::Path) -> SqliteStore {
    let wait = std::time::Duration::from_secs(5);
    SqliteStore::open(path, wait, wait).unwrap()
}

impl StateStore for Sqlite {
    type Tx<'a> = <SqliteStore as StateStore>::Tx<'a>;
    fn write<T, F>(&mut self, policy: &Policy, step: F) -> Result<T, StoreError>
    where
        F: FnMut(&mut Self::Tx<'_>) -> Result<T, StoreError>,
    {
        self.store.write(policy, step)
    }
}

impl Backend for Sqlite {
    fn reopen(self) -> Self {
        let path = self.path.clone();
        drop(self.store);
        Sqlite {
            store: open(&path),
            path,
        }
    }
    fn audit_values(&mut self) -> Vec<Value> {
        let conn = self.store.conn();
        let mut stmt = conn
            .prepare("SELECT record FROM audit ORDER BY seq")
            .unwrap();
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|t| serde_json::from_str(&t.unwrap()).unwrap())
            .collect();
        rows
    }
}

struct StoreSubject<B: Backend> {
    store: Option<B>,
    engine: Engine,
    policy: Arc<Policy>,
}

impl<B: Backend> StoreSubject<B> {
    fn store(&mut self) -> &mut B {
        self.store.as_mut().unwrap()
    }
    fn step<T>(
        &mut self,
        mut f: impl FnMut(&mut B::Tx<'_>, &mut Engine) -> Result<T, StoreError>,
    ) -> T {
        let policy = self.policy.clone();
        let engine = &mut self.engine;
        self.store
            .as_mut()
            .unwrap()
            .write(&policy, |tx| f(tx, engine))
            .unwrap()
    }
}

impl<B: Backend> Subject for StoreSubject<B> {
    fn verify(&mut self, request: &Value, now: Millis) -> Decision {
        let prepared = self.engine.prepare(request);
        self.step(|tx, e| verify_in(tx, e, &prepared, now)).0
    }
    fn verify_json(&mut self, text: &str, now: Millis) -> Decision {
        let prepared = self.engine.prepare_json(text);
        self.step(|tx, e| verify_in(tx, e, &prepared, now)).0
    }
    fn approve(&mut self, id: &str, ttl: Option<&Value>, now: Millis) -> Result<Grant, ApiError> {
        self.step(|tx, e| approve_in(tx, e, id, ttl, now)).0
    }
    fn deny(&mut self, id: &str, now: Millis) -> Result<Approval, ApiError> {
        self.step(|tx, e| deny_in(tx, e, id, now)).0
    }
    fn export_restore(&mut self) -> Result<(), String> {
        // The state is durable: a fresh engine on the reopened store continues where it was.
        let store = self.store.take().unwrap();
        self.store = Some(store.reopen());
        self.engine = Engine::from_shared(self.policy.clone(), EngineOptions::default());
        Ok(())
    }
    fn pending_approvals(&mut self, now: Millis) -> usize {
        self.step(|tx, e| load_all_in(tx, e, now).map(|()| e.pending_approvals(now)))
            .len()
    }
    fn grants(&mut self, now: Millis) -> usize {
        self.step(|tx, e| load_all_in(tx, e, now).map(|()| e.grants(now)))
            .len()
    }
    fn audit_log(&mut self) -> Vec<Value> {
        self.store().audit_values()
    }
}

fn subject<B: Backend + 'static>(
    make: impl Fn() -> B,
) -> impl FnMut(&Value, &EngineOptions) -> Result<Box<dyn Subject>, String> {
    move |policy, options| {
        let policy = Arc::new(Policy::from_value(policy).map_err(|e| e.to_string())?);
        Ok(Box::new(StoreSubject {
            store: Some(make()),
            engine: Engine::from_shared(policy.clone(), options.clone()),
            policy,
        }) as Box<dyn Subject>)
    }
}

fn vector_files() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
        .into_iter()
        .map(|p| {
            let mut file: Value =
                serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            // The in-memory audit window is the engine's alone.
            if let Some(cases) = file.get_mut("cases").and_then(Value::as_array_mut) {
                cases.retain(|c| c.pointer("/options/auditCapacity").is_none());
            }
            (p.file_name().unwrap().to_string_lossy().to_string(), file)
        })
        .collect()
}

/// The packets as text, with engine-made request ids the runner could not relabel (an
/// invalid `requestId` was given, so the engine made one) masked: they are random.
fn masked(packets: &[Value]) -> String {
    let mut packets = packets.to_vec();
    for p in &mut packets {
        if let Some(Value::String(id)) = p.get_mut("requestId") {
            let made = id.len() == 20
                && id.starts_with("req_")
                && id[4..].bytes().all(|b| b.is_ascii_alphanumeric());
            if made {
                *id = "req_(made)".into();
            }
        }
    }
    serde_json::to_string(&packets).unwrap()
}

fn run_all<B: Backend + 'static>(make: impl Fn() -> B) {
    let mut make = subject(make);
    let mut failures = Vec::new();
    let mut cases = 0;
    for (name, file) in vector_files() {
        let want = run_file(&file);
        let got = run_file_with(&file, &mut make);
        for (w, g) in want.cases.iter().zip(&got.cases) {
            cases += 1;
            for f in &g.failures {
                failures.push(format!("{name} / {}: {f}", g.name));
            }
            let (w_text, g_text) = (masked(&w.packets), masked(&g.packets));
            if w_text != g_text {
                failures.push(format!(
                    "{name} / {}: packets differ from the engine's\n  engine: {w_text}\n  store:  {g_text}",
                    g.name
                ));
            }
        }
    }
    assert!(cases > 600, "only {cases} cases ran");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_vector_gives_the_engines_packets_over_the_memory_store() {
    run_all(MemoryStore::default);
}

#[test]
fn every_vector_gives_the_engines_packets_over_sqlite_rows() {
    run_all(|| {
        let path = temp_db();
        Sqlite {
            store: open(&path),
            path,
        }
    });
}
