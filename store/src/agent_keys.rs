//! Agent keys at rest: one row per key, holding the hex SHA-256 of the key (never the key),
//! the agent it speaks for, and when it was made or revoked. Kept by every backend, so a
//! server on PostgreSQL authenticates the same keys as one on SQLite.

use behalf_core::time::Millis;

use crate::StoreError;

/// One agent key as listed (the key itself is never stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentKey {
    /// `key_…`: what the key is listed and revoked by.
    pub key_id: String,
    pub agent_id: String,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
}

/// The agent keys of a store.
pub trait AgentKeys {
    /// Stores a new key by its hash. A hash already stored is an error (never a second owner).
    fn create_agent_key(&mut self, key: &AgentKey, hash: &str) -> Result<(), StoreError>;
    /// Every key, revoked ones too, oldest first.
    fn agent_keys(&mut self) -> Result<Vec<AgentKey>, StoreError>;
    /// Revokes a key by its id; `false` when there is no such key. Revoking twice keeps the
    /// first time.
    fn revoke_agent_key(&mut self, key_id: &str, now: Millis) -> Result<bool, StoreError>;
    /// The key with this hash, revoked or not.
    fn agent_key_by_hash(&mut self, hash: &str) -> Result<Option<AgentKey>, StoreError>;
}
