//! Agent keys: `bhk_` + 43 base62 characters (256 bits from the operating system). The
//! server keeps only the SHA-256 of a key; the key itself is printed once, when it is made.

use axum::http::StatusCode;
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

    #[test]
    fn keys_of_the_wrong_shape_are_refused_before_a_lookup() {
        assert!(!well_formed("bhk_short"));
        assert!(!well_formed(&format!("bhk_{}", "a".repeat(42) + "-")));
        assert!(!well_formed(&format!("xyz_{}", "a".repeat(43))));
        assert!(well_formed(&format!("bhk_{}", "a".repeat(43))));
    }
}
