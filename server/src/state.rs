//! What every handler shares: the policy in force, the decision writer, the readers of the
//! state database, the event stream, the clock and the metrics.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use behalf_store::any::AnyStore;
use behalf_store::{AgentKeys, StoreError};
use tokio::sync::{broadcast, Notify};

use crate::auth::keys;
use crate::clock::Clock;
use crate::error::ApiError;
use crate::events::Record;
use crate::metrics::Metrics;
use crate::operators::Operators;
use crate::policy::PolicyWatch;
use crate::writer::Writer;

/// How long one step waits for another writer of the database (the CLI on the same host).
pub const BUSY: Duration = Duration::from_secs(2);
/// How long a step on PostgreSQL keeps retrying lost serialization races in all: instances
/// deciding against one budget row race each other, and a retry is cheap.
pub const SHARED_WAIT: Duration = Duration::from_secs(10);
/// The write-ahead log's size, in pages, at which the writer checkpoints it (SQLite).
pub const CHECKPOINT_PAGES: u32 = 100;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    /// The SQLite file, or the PostgreSQL connection string (`--state postgres://…`).
    state_path: PathBuf,
    policy: Arc<PolicyWatch>,
    writer: Writer,
    clock: Clock,
    metrics: Arc<Metrics>,
    /// Woken after every commit of the writer (the event tailer reads the chain then).
    committed: Arc<Notify>,
    events: broadcast::Sender<Arc<Record>>,
    /// Idle read connections (key lookups, listings); one is opened when none is idle.
    readers: Mutex<Vec<AnyStore>>,
    /// Passkeys, ceremonies, sign-in counters (`operators`).
    operators: Operators,
    /// Keys found valid on their last lookup, for outages (shared with the writer).
    known_keys: Arc<keys::KnownKeys>,
}

/// The state named by `--state`: a PostgreSQL connection string, or a SQLite file.
pub fn open_store(location: &std::path::Path) -> Result<AnyStore, String> {
    let text = location.to_string_lossy();
    let wait = if behalf_store::any::is_postgres(&text) {
        SHARED_WAIT
    } else {
        BUSY
    };
    AnyStore::open(&text, wait).map_err(|e| {
        if behalf_store::any::is_postgres(&text) {
            format!("{}: {e}", behalf_store::postgres::redact(&text))
        } else {
            format!("{}: {e}", location.display())
        }
    })
}

/// Whether the state is a shared PostgreSQL database (rather than this host's SQLite file).
pub fn is_shared(location: &std::path::Path) -> bool {
    behalf_store::any::is_postgres(&location.to_string_lossy())
}

/// On PostgreSQL: chains, every 250 ms, records that a step committed while another process
/// was chaining (a step never waits for another instance's chainer). Wakes the event stream
/// when it chained any.
fn start_chainer(mut store: AnyStore, committed: Arc<Notify>) -> Result<(), String> {
    std::thread::Builder::new()
        .name("behalf-chainer".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(250));
            if let Some(pg) = store.postgres() {
                if let Ok(n) = pg.chain(u64::MAX) {
                    if n > 0 {
                        committed.notify_one();
                    }
                }
            }
        })
        .map(drop)
        .map_err(|e| format!("cannot start the audit chainer: {e}"))
}

impl AppState {
    /// Opens the state database, loads the policy and starts the decision writer.
    pub fn open(
        state_path: PathBuf,
        policy_path: PathBuf,
        clock: Clock,
        sync: crate::Sync,
        operators: Operators,
    ) -> Result<AppState, String> {
        let policy = Arc::new(PolicyWatch::load(&policy_path, clock.now())?);
        let mut store = open_store(&state_path)?;
        if let Some(sqlite) = store.sqlite() {
            // SQLite only: PostgreSQL's durability is the server's own setting.
            if sync == crate::Sync::Normal {
                sqlite
                    .conn()
                    .execute_batch("PRAGMA synchronous=NORMAL;")
                    .map_err(|e| format!("{}: {e}", state_path.display()))?;
            }
            // The writer copies the log back into the database (checkpoints) after a commit
            // once the log holds CHECKPOINT_PAGES: small, frequent copies instead of SQLite's
            // default 1,000 pages, whose stall behind one commit in many was the p99
            // (bench/SERVER.md, run 6).
            sqlite
                .conn()
                .execute_batch(&format!("PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES};"))
                .map_err(|e| format!("{}: {e}", state_path.display()))?;
        }
        let metrics = Arc::new(Metrics::default());
        let committed = Arc::new(Notify::new());
        let known_keys = Arc::new(keys::KnownKeys::default());
        let writer = Writer::start(
            store,
            policy.clone(),
            clock,
            metrics.clone(),
            committed.clone(),
            known_keys.clone(),
        )?;
        if is_shared(&state_path) {
            start_chainer(open_store(&state_path)?, committed.clone())?;
        }
        let (events, _) = broadcast::channel(4096);
        Ok(AppState {
            inner: Arc::new(Shared {
                state_path,
                policy,
                writer,
                clock,
                metrics,
                committed,
                events,
                readers: Mutex::new(Vec::new()),
                known_keys,
                operators,
            }),
        })
    }

    pub fn policy(&self) -> &PolicyWatch {
        &self.inner.policy
    }

    /// The policy watch, shared (for the webhook deliverer's thread).
    pub fn shared_policy(&self) -> Arc<PolicyWatch> {
        self.inner.policy.clone()
    }

    pub fn writer(&self) -> &Writer {
        &self.inner.writer
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn committed(&self) -> &Notify {
        &self.inner.committed
    }

    pub fn events(&self) -> &broadcast::Sender<Arc<Record>> {
        &self.inner.events
    }

    pub fn operators(&self) -> &Operators {
        &self.inner.operators
    }

    /// Runs `f` on a read connection, off the async runtime.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut AnyStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let shared = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let idle = shared.readers.lock().ok().and_then(|mut r| r.pop());
            let mut store = match idle {
                Some(s) => s,
                None => open_store(&shared.state_path).map_err(StoreError::Fault)?,
            };
            let out = f(&mut store);
            if let Ok(mut r) = shared.readers.lock() {
                r.push(store);
            }
            out
        })
        .await
        .map_err(|e| ApiError::internal(format!("a read task failed: {e}")))?
        .map_err(|e| ApiError::state_unreadable(&e))
    }

    /// The agent a well-formed, known, unrevoked key speaks for: `(agent_id, key_id)`.
    /// (`POST /v1/verify` leaves the lookup to the writer, one per batch: `writer::Writer`.)
    pub async fn agent_for_key(&self, token: &str) -> Result<(String, String), ApiError> {
        if !keys::well_formed(token) {
            return Err(keys::malformed());
        }
        let hash = keys::hash(token);
        let lookup = hash.clone();
        let found = self.read(move |s| s.agent_key_by_hash(&lookup)).await;
        self.inner.known_keys.resolve(&hash, found)
    }
}
