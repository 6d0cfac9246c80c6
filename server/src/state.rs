//! What every handler shares: the policy in force, the decision writer, the readers of the
//! state database, the event stream and the metrics.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use behalf_store::sqlite::SqliteStore;
use behalf_store::{AgentKeys, StoreError};

use crate::auth::keys;
use crate::clock::Clock;
use crate::error::ApiError;
use crate::operators::Operators;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    state_path: PathBuf,
    /// Idle read connections (key lookups, listings); a reader is opened when none is idle.
    readers: Mutex<Vec<SqliteStore>>,
    /// Passkeys, ceremonies, sign-in counters (`operators`).
    operators: Operators,
    clock: Clock,
}

impl AppState {
    pub fn new(state_path: PathBuf, operators: Operators) -> AppState {
        AppState {
            inner: Arc::new(Shared {
                state_path,
                readers: Mutex::new(Vec::new()),
                operators,
                clock: Clock::from_env(),
            }),
        }
    }

    pub fn operators(&self) -> &Operators {
        &self.inner.operators
    }

    /// Now, for every decision and expiry (a test may shift it: `clock`).
    pub fn now(&self) -> behalf_core::time::Millis {
        self.inner.clock.now()
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
                None => SqliteStore::open(
                    &shared.state_path,
                    Duration::from_secs(2),
                    Duration::from_secs(2),
                )?,
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
