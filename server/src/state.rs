//! What every handler shares: the policy in force, the decision writer, the readers of the
//! state database, the event stream, the clock and the metrics.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use behalf_store::sqlite::SqliteStore;
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

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    state_path: PathBuf,
    policy: Arc<PolicyWatch>,
    writer: Writer,
    clock: Clock,
    metrics: Arc<Metrics>,
    /// Woken after every commit of the writer (the event tailer reads the chain then).
    committed: Arc<Notify>,
    events: broadcast::Sender<Arc<Record>>,
    /// Idle read connections (key lookups, listings); one is opened when none is idle.
    readers: Mutex<Vec<SqliteStore>>,
    /// Passkeys, ceremonies, sign-in counters (`operators`).
    operators: Operators,
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
        let mut store = SqliteStore::open(&state_path, BUSY, BUSY)
            .map_err(|e| format!("{}: {e}", state_path.display()))?;
        if sync == crate::Sync::Normal {
            store
                .conn()
                .execute_batch("PRAGMA synchronous=NORMAL;")
                .map_err(|e| format!("{}: {e}", state_path.display()))?;
        }
        let metrics = Arc::new(Metrics::default());
        let committed = Arc::new(Notify::new());
        let writer = Writer::start(
            store,
            policy.clone(),
            clock,
            metrics.clone(),
            committed.clone(),
        )?;
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
        f: impl FnOnce(&mut SqliteStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let shared = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let idle = shared.readers.lock().ok().and_then(|mut r| r.pop());
            let mut store = match idle {
                Some(s) => s,
                None => SqliteStore::open(&shared.state_path, BUSY, BUSY)?,
            };
            let out = f(&mut store);
            if let Ok(mut r) = shared.readers.lock() {
                r.push(store);
            }
            out
        })
        .await
        .map_err(|e| ApiError::internal(format!("a read task failed: {e}")))?
        .map_err(|e| ApiError::unavailable(format!("the state database cannot be read: {e}")))
    }

    /// The agent a well-formed, known, unrevoked key speaks for: `(agent_id, key_id)`.
    pub async fn agent_for_key(&self, token: &str) -> Result<(String, String), ApiError> {
        if !keys::well_formed(token) {
            return Err(keys::malformed());
        }
        let hash = keys::hash(token);
        match self.read(move |s| s.agent_key_by_hash(&hash)).await? {
            None => Err(keys::unknown()),
            Some(k) if k.revoked_at.is_some() => Err(keys::revoked(&k.key_id)),
            Some(k) => Ok((k.agent_id, k.key_id)),
        }
    }
}
