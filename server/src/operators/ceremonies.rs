//! WebAuthn ceremonies under way: the server half of each (the library's state), kept in
//! memory under a one-time id for five minutes. Taking a ceremony removes it, so an answer is
//! accepted at most once: a replayed assertion finds nothing to finish.

use std::collections::HashMap;
use std::sync::Mutex;

use behalf_core::time::Millis;
use webauthn_rs::prelude::{PasskeyAuthentication, PasskeyRegistration};

use crate::error::ApiError;
use crate::operators::signing::Commitment;

const LIFETIME_MS: Millis = 5 * 60_000;
/// Ceremonies kept at most; past it the expired ones go, then new ones are refused.
const MAX: usize = 10_000;

pub enum Ceremony {
    Enroll {
        token_hash: String,
        operator_id: String,
        state: PasskeyRegistration,
    },
    SignIn {
        operator_id: String,
        state: PasskeyAuthentication,
    },
    Approval {
        operator_id: String,
        commitment: Commitment,
        state: PasskeyAuthentication,
    },
}

/// Open ceremonies by id, each with the time it expires.
type Open = HashMap<String, (Millis, Ceremony)>;

#[derive(Default)]
pub struct Ceremonies {
    open: Mutex<Open>,
}

impl Ceremonies {
    pub fn start(&self, id: String, ceremony: Ceremony, now: Millis) -> Result<(), ApiError> {
        let mut open = self.lock()?;
        if open.len() >= MAX {
            open.retain(|_, (expires, _)| *expires > now);
        }
        if open.len() >= MAX {
            return Err(ApiError::unavailable(
                "too many passkey ceremonies are under way; try again in a few minutes",
            ));
        }
        open.insert(id, (now + LIFETIME_MS, ceremony));
        Ok(())
    }

    /// The ceremony `id`, once: it is removed whether or not it is still live.
    pub fn take(&self, id: &str, now: Millis) -> Result<Option<Ceremony>, ApiError> {
        let mut open = self.lock()?;
        Ok(open
            .remove(id)
            .filter(|(expires, _)| *expires > now)
            .map(|(_, c)| c))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Open>, ApiError> {
        self.open
            .lock()
            .map_err(|_| ApiError::internal("the ceremony table is poisoned"))
    }
}
