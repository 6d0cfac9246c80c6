//! Operators (the people who approve) and what identifies them, as rows behind one interface:
//! the operator, its one-time enrollment links, its passkeys, its dashboard sessions and its
//! API tokens. Secrets are stored only as hashes the caller computes (hex SHA-256); the store
//! never sees a token in the clear. Times are epoch milliseconds.
//!
//! A removed operator keeps its row and its passkeys' public keys (marked removed), so that
//! `behalf audit verify` can still check the approvals it signed; it can no longer enroll,
//! sign in, or use a token.

use behalf_core::time::Millis;
use serde_json::Value;

use crate::StoreError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorRow {
    pub id: String,
    pub name: String,
    pub created_at: Millis,
    pub removed_at: Option<Millis>,
}

/// A registered passkey: `passkey` is the WebAuthn library's own serialized credential (public
/// key, counter), kept as it wrote it.
#[derive(Clone, Debug, PartialEq)]
pub struct CredentialRow {
    pub credential_id: String,
    pub operator_id: String,
    pub passkey: Value,
    pub created_at: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub operator_id: String,
    pub csrf_token: String,
    pub expires_at: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    pub operator_id: String,
    pub label: String,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
}

/// Why an enrollment link was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnrollmentRefusal {
    Unknown,
    Expired,
    Used,
    OperatorRemoved,
}

pub trait OperatorStore {
    /// A new operator; `name` must not belong to another operator that is not removed.
    fn create_operator(
        &mut self,
        id: &str,
        name: &str,
        now: Millis,
    ) -> Result<OperatorRow, StoreError>;
    fn operators(&mut self) -> Result<Vec<OperatorRow>, StoreError>;
    fn operator(&mut self, id: &str) -> Result<Option<OperatorRow>, StoreError>;
    fn operator_named(&mut self, name: &str) -> Result<Option<OperatorRow>, StoreError>;
    /// Marks the operator removed and ends its sessions, tokens and open enrollment links.
    /// False when there was no such operator still present.
    fn remove_operator(&mut self, id: &str, now: Millis) -> Result<bool, StoreError>;

    fn add_enrollment(
        &mut self,
        token_hash: &str,
        operator_id: &str,
        expires_at: Millis,
    ) -> Result<(), StoreError>;
    /// The operator an enrollment link is for, if it may still be used (not used, not expired).
    fn enrollment(
        &mut self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Result<String, EnrollmentRefusal>, StoreError>;
    /// Uses the link once and stores the passkey it registered, in one transaction: of two
    /// ceremonies finishing on one link, one wins.
    fn complete_enrollment(
        &mut self,
        token_hash: &str,
        credential: &CredentialRow,
        now: Millis,
    ) -> Result<Result<(), EnrollmentRefusal>, StoreError>;

    /// Passkeys of an operator that is not removed.
    fn credentials_of(&mut self, operator_id: &str) -> Result<Vec<CredentialRow>, StoreError>;
    /// Any passkey ever registered, the removed operators' included (audit verification).
    fn credential(&mut self, credential_id: &str) -> Result<Option<CredentialRow>, StoreError>;
    /// Stores the library's updated credential (its signature counter).
    fn update_credential(&mut self, credential_id: &str, passkey: &Value)
        -> Result<(), StoreError>;

    fn add_session(&mut self, session_hash: &str, session: &SessionRow) -> Result<(), StoreError>;
    /// The session, if it is live and its operator is not removed.
    fn session(
        &mut self,
        session_hash: &str,
        now: Millis,
    ) -> Result<Option<SessionRow>, StoreError>;
    fn end_session(&mut self, session_hash: &str) -> Result<(), StoreError>;

    fn add_token(&mut self, token_hash: &str, token: &TokenRow) -> Result<(), StoreError>;
    /// The token, if it is not revoked and its operator is not removed.
    fn token(&mut self, token_hash: &str) -> Result<Option<TokenRow>, StoreError>;
    fn tokens(&mut self) -> Result<Vec<TokenRow>, StoreError>;
    /// False when no live token has this id.
    fn revoke_token(&mut self, id: &str, now: Millis) -> Result<bool, StoreError>;
}
