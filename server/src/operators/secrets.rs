//! The secrets operators hold — enrollment links, session ids, CSRF tokens, API tokens — and
//! the hash the store keeps of each (never the secret itself).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::keys;
use crate::error::ApiError;

/// Operator API tokens (`bho_…`): never agent keys (`bhk_…`), nor agent keys them.
pub const TOKEN_PREFIX: &str = "bho_";
/// 43 base62 characters hold 256 bits.
const SECRET_LEN: usize = 43;

/// A fresh secret of 256 bits, base62, behind `prefix`.
pub fn fresh(prefix: &str) -> Result<String, ApiError> {
    keys::random_base62(SECRET_LEN)
        .map(|s| format!("{prefix}{s}"))
        .map_err(|e| ApiError::internal(format!("the operating system gave no random bytes: {e}")))
}

/// A short public id (`op_…`, `tok_…`).
pub fn fresh_id(prefix: &str) -> Result<String, ApiError> {
    keys::random_base62(12)
        .map(|s| format!("{prefix}{s}"))
        .map_err(|e| ApiError::internal(format!("the operating system gave no random bytes: {e}")))
}

/// The hex SHA-256 the store looks a secret up by.
pub fn hash(secret: &str) -> String {
    behalf_core::audit::hex(&Sha256::digest(secret.as_bytes()))
}

/// Whether `text` has the shape of a secret made by [`fresh`] with `prefix`.
pub fn well_formed(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix)
        .is_some_and(|s| s.len() == SECRET_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Equal in constant time (CSRF tokens).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
