//! Whichever backend a deployment chose, behind one type: what the CLI and `behalf serve` hold.
//! `open` picks SQLite for a file path and PostgreSQL for a connection string; every trait
//! (steps, agent keys, listings) is passed through to the backend.

use std::path::Path;
use std::time::Duration;

use behalf_core::policy::Policy;
use behalf_core::time::Millis;
use serde_json::Value;

use crate::agent_keys::{AgentKey, AgentKeys};
use crate::listings::{Listings, Scope};
use crate::outbox::{Claim, Outbox, OutboxRow, OutboxUpdate};
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::{StateStore, StateTx, StoreError};

pub enum AnyStore {
    Sqlite(SqliteStore),
    /// Boxed: its connection settings are large, and stores are moved around.
    Postgres(Box<PostgresStore>),
}

/// Whether `location` names a PostgreSQL database (`postgres://`, `postgresql://`, or libpq's
/// key-value form) rather than a SQLite file.
pub fn is_postgres(location: &str) -> bool {
    let l = location.trim_start();
    l.starts_with("postgres://")
        || l.starts_with("postgresql://")
        || (l.contains('=')
            && (l.starts_with("host=") || l.contains(" dbname=") || l.starts_with("dbname=")))
}

impl AnyStore {
    /// PostgreSQL at `url` (migrations applied) or the SQLite file at `path`; `wait` bounds
    /// how long a step waits for another writer in all.
    pub fn open(location: &str, wait: Duration) -> Result<AnyStore, StoreError> {
        if is_postgres(location) {
            Ok(AnyStore::Postgres(Box::new(PostgresStore::open(
                location, wait,
            )?)))
        } else {
            Ok(AnyStore::Sqlite(SqliteStore::open(
                Path::new(location),
                wait,
                wait,
            )?))
        }
    }

    pub fn sqlite(&mut self) -> Option<&mut SqliteStore> {
        match self {
            AnyStore::Sqlite(s) => Some(s),
            AnyStore::Postgres(_) => None,
        }
    }

    pub fn postgres(&mut self) -> Option<&mut PostgresStore> {
        match self {
            AnyStore::Postgres(p) => Some(p),
            AnyStore::Sqlite(_) => None,
        }
    }

    /// Runs `step` in a read transaction (listings that load rows into an engine).
    pub fn read<T>(
        &mut self,
        policy: &Policy,
        step: &mut dyn FnMut(&mut dyn StateTx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.read(policy, &mut |tx| step(tx)),
            AnyStore::Postgres(p) => p.read(&mut |tx| step(tx)),
        }
    }
}

impl StateStore for AnyStore {
    type Tx<'a> = dyn StateTx + 'a;

    fn write<T, F>(&mut self, policy: &Policy, mut step: F) -> Result<T, StoreError>
    where
        F: FnMut(&mut Self::Tx<'_>) -> Result<T, StoreError>,
    {
        match self {
            AnyStore::Sqlite(s) => s.write(policy, |tx| step(tx)),
            AnyStore::Postgres(p) => p.write(policy, |tx| step(tx)),
        }
    }
}

impl AnyStore {
    fn keys(&mut self) -> &mut dyn AgentKeys {
        match self {
            AnyStore::Sqlite(s) => s,
            AnyStore::Postgres(p) => &mut **p,
        }
    }

    fn lists(&mut self) -> &mut dyn Listings {
        match self {
            AnyStore::Sqlite(s) => s,
            AnyStore::Postgres(p) => &mut **p,
        }
    }
}

impl AgentKeys for AnyStore {
    fn create_agent_key(&mut self, key: &AgentKey, hash: &str) -> Result<(), StoreError> {
        self.keys().create_agent_key(key, hash)
    }
    fn agent_keys(&mut self) -> Result<Vec<AgentKey>, StoreError> {
        self.keys().agent_keys()
    }
    fn revoke_agent_key(&mut self, key_id: &str, now: Millis) -> Result<bool, StoreError> {
        self.keys().revoke_agent_key(key_id, now)
    }
    fn agent_key_by_hash(&mut self, hash: &str) -> Result<Option<AgentKey>, StoreError> {
        self.keys().agent_key_by_hash(hash)
    }
}

impl Listings for AnyStore {
    fn approval(&mut self, id: &str, now: Millis) -> Result<Option<Value>, StoreError> {
        self.lists().approval(id, now)
    }
    fn open_approvals(
        &mut self,
        scope: Scope<'_>,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<Value>, StoreError> {
        self.lists().open_approvals(scope, now, limit)
    }
    fn live_grants(
        &mut self,
        scope: Scope<'_>,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<Value>, StoreError> {
        self.lists().live_grants(scope, now, limit)
    }
    fn audit_after(
        &mut self,
        scope: Scope<'_>,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Value>, StoreError> {
        self.lists().audit_after(scope, after, limit)
    }
    fn audit_head(&mut self) -> Result<u64, StoreError> {
        self.lists().audit_head()
    }
}

impl Outbox for AnyStore {
    fn claim_outbox(&mut self, claim: &Claim<'_>) -> Result<Vec<OutboxRow>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.claim_outbox(claim),
            AnyStore::Postgres(p) => p.claim_outbox(claim),
        }
    }
    fn record_outbox(&mut self, updates: &[OutboxUpdate]) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.record_outbox(updates),
            AnyStore::Postgres(p) => p.record_outbox(updates),
        }
    }
}
