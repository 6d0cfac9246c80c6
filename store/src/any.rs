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
use crate::operators::{
    CredentialRow, EnrollmentRefusal, OperatorRow, OperatorStore, SessionRow, TokenRow,
};
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

impl AnyStore {
    fn ops(&mut self) -> &mut dyn OperatorStore {
        match self {
            AnyStore::Sqlite(s) => s,
            AnyStore::Postgres(p) => &mut **p,
        }
    }

    /// The approval `id` as the engine saved it: what an operator's signature commits to.
    pub fn approval_for_signing(&mut self, id: &str) -> Result<Option<Value>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.approval_for_signing(id),
            AnyStore::Postgres(p) => p.approval_for_signing(id),
        }
    }
}

impl OperatorStore for AnyStore {
    fn create_operator(
        &mut self,
        id: &str,
        name: &str,
        now: Millis,
    ) -> Result<OperatorRow, StoreError> {
        self.ops().create_operator(id, name, now)
    }
    fn operators(&mut self) -> Result<Vec<OperatorRow>, StoreError> {
        self.ops().operators()
    }
    fn operator(&mut self, id: &str) -> Result<Option<OperatorRow>, StoreError> {
        self.ops().operator(id)
    }
    fn operator_named(&mut self, name: &str) -> Result<Option<OperatorRow>, StoreError> {
        self.ops().operator_named(name)
    }
    fn remove_operator(&mut self, id: &str, now: Millis) -> Result<bool, StoreError> {
        self.ops().remove_operator(id, now)
    }
    fn add_enrollment(
        &mut self,
        token_hash: &str,
        operator_id: &str,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        self.ops()
            .add_enrollment(token_hash, operator_id, expires_at)
    }
    fn enrollment(
        &mut self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Result<String, EnrollmentRefusal>, StoreError> {
        self.ops().enrollment(token_hash, now)
    }
    fn complete_enrollment(
        &mut self,
        token_hash: &str,
        credential: &CredentialRow,
        now: Millis,
    ) -> Result<Result<(), EnrollmentRefusal>, StoreError> {
        self.ops().complete_enrollment(token_hash, credential, now)
    }
    fn credentials_of(&mut self, operator_id: &str) -> Result<Vec<CredentialRow>, StoreError> {
        self.ops().credentials_of(operator_id)
    }
    fn credential(&mut self, credential_id: &str) -> Result<Option<CredentialRow>, StoreError> {
        self.ops().credential(credential_id)
    }
    fn update_credential(
        &mut self,
        credential_id: &str,
        passkey: &Value,
    ) -> Result<(), StoreError> {
        self.ops().update_credential(credential_id, passkey)
    }
    fn add_session(&mut self, session_hash: &str, session: &SessionRow) -> Result<(), StoreError> {
        self.ops().add_session(session_hash, session)
    }
    fn session(
        &mut self,
        session_hash: &str,
        now: Millis,
    ) -> Result<Option<SessionRow>, StoreError> {
        self.ops().session(session_hash, now)
    }
    fn end_session(&mut self, session_hash: &str) -> Result<(), StoreError> {
        self.ops().end_session(session_hash)
    }
    fn add_token(&mut self, token_hash: &str, token: &TokenRow) -> Result<(), StoreError> {
        self.ops().add_token(token_hash, token)
    }
    fn token(&mut self, token_hash: &str) -> Result<Option<TokenRow>, StoreError> {
        self.ops().token(token_hash)
    }
    fn tokens(&mut self) -> Result<Vec<TokenRow>, StoreError> {
        self.ops().tokens()
    }
    fn revoke_token(&mut self, id: &str, now: Millis) -> Result<bool, StoreError> {
        self.ops().revoke_token(id, now)
    }
}
