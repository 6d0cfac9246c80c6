//! Agent keys: `bhk_` + 43 base62 characters (256 bits from the operating system). The
//! server keeps only the SHA-256 of a key; the key itself is printed once, when it is made.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::StatusCode;
use behalf_store::AgentKey;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

pub const PREFIX: &str = "bhk_";
/// 43 base62 characters hold 256 bits.
const SECRET_LEN: usize = 43;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new agent key and the id it is listed and revoked by.
pub struct NewKey {
    pub key: String,
    pub key_id: String,
    pub hash: String,
}

/// Draws a new key from the operating system's random source.
pub fn generate() -> Result<NewKey, getrandom::Error> {
    let key = format!("{PREFIX}{}", random_base62(SECRET_LEN)?);
    let key_id = format!("key_{}", random_base62(12)?);
    let hash = hash(&key);
    Ok(NewKey { key, key_id, hash })
}

/// Uniform base62 by rejection sampling (no modulo bias).
pub fn random_base62(len: usize) -> Result<String, getrandom::Error> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::getrandom(&mut buf)?;
        for &b in &buf {
            // 248 = 4 × 62: bytes at or above it would favour the first characters.
            if b < 248 && out.len() < len {
                if let Some(&c) = BASE62.get(usize::from(b % 62)) {
                    out.push(char::from(c));
                }
            }
        }
    }
    Ok(out)
}

/// The hex SHA-256 of a key: what the store keeps and looks a key up by.
pub fn hash(key: &str) -> String {
    behalf_core::audit::hex(&Sha256::digest(key.as_bytes()))
}

/// Whether `token` has the shape of an agent key (checked before any lookup).
pub fn well_formed(token: &str) -> bool {
    token
        .strip_prefix(PREFIX)
        .is_some_and(|s| s.len() == SECRET_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Keys found valid on their last lookup (hash → agent, key id), used only while the state
/// database cannot be read: a key seen valid moments ago still names its agent, so its request
/// reaches the writer and is denied (and recorded once the database is back) instead of being
/// refused unnamed. Revocation is seen at once whenever the database can be read.
#[derive(Default)]
pub struct KnownKeys {
    valid: Mutex<HashMap<String, (String, String)>>,
}

/// Keys remembered at most; past it the memory starts again (only outages read it).
const KNOWN_KEYS: usize = 10_000;

impl KnownKeys {
    /// The `(agent_id, key_id)` key `hash` speaks for, from the lookup's answer `found`.
    pub fn resolve(
        &self,
        hash: &str,
        found: Result<Option<AgentKey>, ApiError>,
    ) -> Result<(String, String), ApiError> {
        let mut valid = self.valid.lock().unwrap_or_else(|e| e.into_inner());
        match found {
            // Unreadable: a key never seen valid is refused, as nothing can be checked.
            Err(e) => valid.get(hash).cloned().ok_or(e),
            Ok(None) => Err(unknown()),
            Ok(Some(k)) if k.revoked_at.is_some() => {
                valid.remove(hash);
                Err(revoked(&k.key_id))
            }
            Ok(Some(k)) => {
                if valid.len() >= KNOWN_KEYS && !valid.contains_key(hash) {
                    valid.clear();
                }
                valid.insert(hash.to_string(), (k.agent_id.clone(), k.key_id.clone()));
                Ok((k.agent_id, k.key_id))
            }
        }
    }
}

pub fn required() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "agent_key_required",
        "this endpoint needs an agent key",
        "send `Authorization: Bearer bhk_…` (create one with `behalf agents key create AGENT`)",
    )
}

pub fn malformed() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "malformed_credentials",
        "the Authorization header is not `Bearer bhk_…` with a well-formed agent key",
        "copy the whole key `behalf agents key create` printed, `bhk_` and 43 letters and digits",
    )
}

pub fn unknown() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unknown_key",
        "this agent key is not known to the server",
        "create one with `behalf agents key create AGENT` on the server's host",
    )
}

pub fn revoked(key_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "key_revoked",
        format!("agent key `{key_id}` was revoked"),
        "create a new key with `behalf agents key create AGENT`",
    )
}

/// 403: a request naming an agent other than the one the key speaks for.
pub fn agent_mismatch(own: &str, named: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "agent_mismatch",
        format!("this key decides for `{own}`, not for `{named}`"),
        "each agent calls with its own key (`behalf agents key create AGENT`)",
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_new_key_is_well_formed_and_stored_only_as_its_hash() {
        let k = generate().unwrap();
        assert!(well_formed(&k.key), "{}", k.key);
        assert_eq!(k.hash, hash(&k.key));
        assert_eq!(k.hash.len(), 64);
        assert!(!k.hash.contains(&k.key[4..]));
        assert_ne!(generate().unwrap().key, k.key);
    }

    fn key(revoked_at: Option<i64>) -> AgentKey {
        AgentKey {
            key_id: "key_1".into(),
            agent_id: "agent_a".into(),
            created_at: 0,
            revoked_at,
        }
    }

    #[test]
    fn a_known_key_names_its_agent_during_an_outage_until_it_is_seen_revoked() {
        let known = KnownKeys::default();
        let down = || Err(ApiError::unavailable("down"));
        assert_eq!(known.resolve("h", down()).unwrap_err().code, "unavailable");
        assert_eq!(
            known.resolve("h", Ok(Some(key(None)))).unwrap(),
            ("agent_a".into(), "key_1".into())
        );
        assert_eq!(known.resolve("h", down()).unwrap().0, "agent_a");
        assert_eq!(
            known.resolve("h", Ok(Some(key(Some(5))))).unwrap_err().code,
            "key_revoked"
        );
        assert_eq!(known.resolve("h", down()).unwrap_err().code, "unavailable");
        assert_eq!(
            known.resolve("other", Ok(None)).unwrap_err().code,
            "unknown_key"
        );
    }

    #[test]
    fn keys_of_the_wrong_shape_are_refused_before_a_lookup() {
        assert!(!well_formed("bhk_short"));
        assert!(!well_formed(&format!("bhk_{}", "a".repeat(42) + "-")));
        assert!(!well_formed(&format!("xyz_{}", "a".repeat(43))));
        assert!(well_formed(&format!("bhk_{}", "a".repeat(43))));
    }
}
