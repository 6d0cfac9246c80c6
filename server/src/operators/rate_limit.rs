//! Sign-in and enrollment attempts, counted per client address and per name in fixed
//! one-minute windows: past the limit the attempt is refused with 429 before any lookup.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::StatusCode;
use behalf_core::time::Millis;

use crate::error::ApiError;

const WINDOW_MS: Millis = 60_000;
/// Attempts per minute for one name (an operator, an enrollment link) from one address.
pub const PER_NAME: u32 = 5;
/// Attempts per minute from one address, whatever the name.
pub const PER_ADDRESS: u32 = 30;
/// Counters kept at most; past it the oldest windows are dropped first.
const MAX_KEYS: usize = 10_000;

#[derive(Default)]
pub struct SignInLimiter {
    counts: Mutex<HashMap<String, (Millis, u32)>>,
}

impl SignInLimiter {
    /// Counts one attempt by `address` on `name`; refuses it past either limit.
    pub fn attempt(&self, address: &str, name: &str, now: Millis) -> Result<(), ApiError> {
        let mut counts = self
            .counts
            .lock()
            .map_err(|_| ApiError::internal("the sign-in counter is poisoned"))?;
        if counts.len() >= MAX_KEYS {
            counts.retain(|_, (start, _)| now - *start < WINDOW_MS);
        }
        let by_address = bump(&mut counts, format!("a {address}"), now);
        let by_name = bump(&mut counts, format!("n {address} {name}"), now);
        if by_address > PER_ADDRESS || by_name > PER_NAME {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many sign-in attempts",
                "wait a minute and try again",
            ));
        }
        Ok(())
    }
}

fn bump(counts: &mut HashMap<String, (Millis, u32)>, key: String, now: Millis) -> u32 {
    let entry = counts.entry(key).or_insert((now, 0));
    if now - entry.0 >= WINDOW_MS {
        *entry = (now, 0);
    }
    entry.1 = entry.1.saturating_add(1);
    entry.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sixth_attempt_on_one_name_in_a_minute_is_refused_and_others_are_not() {
        let l = SignInLimiter::default();
        for _ in 0..PER_NAME {
            assert!(l.attempt("127.0.0.1", "mallory", 0).is_ok());
        }
        let refused = l.attempt("127.0.0.1", "mallory", 1);
        assert_eq!(refused.map_err(|e| e.code), Err("too_many_attempts"));
        assert!(l.attempt("127.0.0.1", "alice", 2).is_ok());
        assert!(l.attempt("127.0.0.1", "mallory", WINDOW_MS).is_ok());
    }
}
