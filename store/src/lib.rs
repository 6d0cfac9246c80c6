//! behalf-store: the engine's state as keyed rows behind one interface.
//!
//! A step (one verify, one approve, one deny) runs in one transaction: the store loads only
//! the rows the step touches ([`StateTx::rows_for`]: the usage of the candidate permissions,
//! the open approvals and live grants of the request's fingerprint, the pending counts), the
//! engine decides against them, and the store writes back what changed ([`StateTx::apply`])
//! and appends the audit records to its chain ([`StateTx::append_audit`]) before it commits.
//! A conflict (another writer holds the database, or a serialization failure) retries the
//! whole step; nothing of a failed attempt is kept. No step reads or writes the whole state,
//! so a decision costs the same with ten rows or ten million.
//!
//! Backends: [`sqlite::SqliteStore`] (the CLI's `.behalf/state.db`) and
//! [`memory::MemoryStore`] (the reference the shared backend suite checks the others
//! against). The bindings keep their state in the core's own in-memory `State`, which is
//! what [`Rows`] load into.

use behalf_core::audit::AuditRecord;
use behalf_core::policy::WebhookEndpoint;
use behalf_core::time::Millis;
use behalf_core::{ApiError, Approval, Decision, Engine, Grant, Policy, Prepared};
use serde_json::Value;

pub use agent_keys::{AgentKey, AgentKeys};
pub use behalf_core::state::{Changes, PendingCounts, RowKeys, Rows};
pub use listings::{Listings, Scope};

pub mod agent_keys;
#[cfg(all(feature = "sqlite", feature = "postgres"))]
pub mod any;
pub mod listings;
pub mod memory;
#[cfg(all(feature = "sqlite", feature = "postgres"))]
pub mod migrate;
pub mod operators;
pub mod outbox;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "postgres")]
mod postgres_operators;
#[cfg(feature = "postgres")]
mod postgres_outbox;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "sqlite")]
mod sqlite_operators;
#[cfg(feature = "sqlite")]
mod sqlite_outbox;

/// Why a step did not commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Another writer holds the state, or the transaction lost a serialization race: the
    /// whole step may be retried.
    Conflict(String),
    /// The database or a row in it is damaged: the step fails closed.
    Corrupt(String),
    /// Anything else (a read-only file, a full disk): the step fails closed.
    Fault(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Conflict(m) | StoreError::Corrupt(m) | StoreError::Fault(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for StoreError {}

/// One transaction on the state.
pub trait StateTx {
    /// The rows a decision of a request with these keys reads, as of `now`.
    fn rows_for(
        &mut self,
        policy: &Policy,
        keys: &RowKeys,
        now: Millis,
    ) -> Result<Rows, StoreError>;
    /// The rows approving or denying approval `id` reads.
    fn rows_for_approval(
        &mut self,
        policy: &Policy,
        id: &str,
        now: Millis,
    ) -> Result<Rows, StoreError>;
    /// The live grant `id` (revoking it).
    fn grant(
        &mut self,
        policy: &Policy,
        id: &str,
        now: Millis,
    ) -> Result<Option<Grant>, StoreError>;
    /// Every live row (listings: pending approvals, active grants). Not on the decision path.
    fn all_rows(&mut self, policy: &Policy, now: Millis) -> Result<Rows, StoreError>;
    /// Writes the rows a step changed.
    fn apply(&mut self, changes: &Changes) -> Result<(), StoreError>;
    /// Appends records to the store's one chain: each gets the next `seq`, `prevHash` from
    /// the store's head, and its `hash` (computed once, here). Returns them chained.
    fn append_audit(&mut self, records: Vec<AuditRecord>) -> Result<Vec<AuditRecord>, StoreError>;
    /// Queues each record's webhook event for every endpoint that wants it (the outbox a
    /// deliverer drains), in this transaction: no record without its events, and no event
    /// without its record.
    fn enqueue_webhooks(
        &mut self,
        records: &[AuditRecord],
        endpoints: &[WebhookEndpoint],
    ) -> Result<(), StoreError>;
    /// Forgets a bounded number of rows that expired by `now` (oldest first), so that the
    /// work per step stays bounded however much expired at once.
    fn prune(&mut self, now: Millis) -> Result<(), StoreError>;
}

/// A state store: runs steps in transactions.
pub trait StateStore {
    type Tx<'a>: StateTx + ?Sized;

    /// Runs `step` in one write transaction and commits it; on [`StoreError::Conflict`]
    /// (from the step or the commit) the transaction is rolled back and the whole step run
    /// again, until the store's wait runs out. `step` must therefore have no effect outside
    /// the transaction before it returns.
    fn write<T, F>(&mut self, policy: &Policy, step: F) -> Result<T, StoreError>
    where
        F: FnMut(&mut Self::Tx<'_>) -> Result<T, StoreError>;
}

/// One verify inside a transaction: the rows of the request's keys, the decision, its
/// changes and its audit record. Returns the decision and the chained records.
pub fn verify_in<T: StateTx + ?Sized>(
    tx: &mut T,
    engine: &mut Engine,
    prepared: &Prepared,
    now: Millis,
) -> Result<(Decision, Vec<AuditRecord>), StoreError> {
    begin(tx, engine, now)?;
    let rows = match prepared.keys() {
        Some(keys) => tx.rows_for(engine.policy(), keys, now)?,
        None => Rows::default(),
    };
    engine.load_rows(rows);
    let decision = engine.decide_prepared(prepared.clone(), now);
    finish(tx, engine).map(|records| (decision, records))
}

/// Several verifies in one transaction (a server's group commit), decided in order, each on
/// the rows as the ones before it left them. The same decisions and records as `verify_in`
/// called for each, with the per-step work done once: expired rows are pruned once, and the
/// audit records are chained to the head once, at the end, in order.
pub fn verify_batch_in<T: StateTx + ?Sized>(
    tx: &mut T,
    engine: &mut Engine,
    prepared: &[&Prepared],
    now: Millis,
) -> Result<Vec<Decision>, StoreError> {
    begin(tx, engine, now)?;
    let mut decisions = Vec::with_capacity(prepared.len());
    for p in prepared {
        let rows = match p.keys() {
            Some(keys) => tx.rows_for(engine.policy(), keys, now)?,
            None => Rows::default(),
        };
        engine.load_rows(rows);
        decisions.push(engine.decide_prepared((*p).clone(), now));
        let changes = engine.take_changes();
        if !changes.is_empty() {
            tx.apply(&changes)?;
        }
    }
    let records = tx.append_audit(engine.take_unchained_audit())?;
    tx.enqueue_webhooks(&records, &engine.policy().webhooks)?;
    Ok(decisions)
}

/// Approves approval `id` inside a transaction (a grant for `ttl`, or the permission's).
pub fn approve_in<T: StateTx + ?Sized>(
    tx: &mut T,
    engine: &mut Engine,
    id: &str,
    ttl: Option<&Value>,
    now: Millis,
) -> Result<(Result<Grant, ApiError>, Vec<AuditRecord>), StoreError> {
    approve_by_in(tx, engine, id, ttl, None, now)
}

/// Approves approval `id` as [`approve_in`] does, and names `operator` (who approved, with
/// their signature) in the `approval.granted` record (`behalf serve`).
pub fn approve_by_in<T: StateTx + ?Sized>(
    tx: &mut T,
    engine: &mut Engine,
    id: &str,
    ttl: Option<&Value>,
    operator: Option<&Value>,
    now: Millis,
) -> Result<(Result<Grant, ApiError>, Vec<AuditRecord>), StoreError> {
    begin(tx, engine, now)?;
    let rows = tx.rows_for_approval(engine.policy(), id, now)?;
    engine.load_rows(rows);
    let result = engine.approve(id, ttl, now);
    finish_by(tx, engine, operator).map(|records| (result, records))
}

/// Denies approval `id` inside a transaction.
pub fn deny_in<T: StateTx + ?Sized>(
    tx: &mut T,
    engine: &mut Engine,
    id: &str,
    now: Millis,
) -> Result<(Result<Approval, ApiError>, Vec<AuditRecord>), StoreError> {
    deny_by_in(tx, engine, id, None, now)
}

/// Denies approval `id` as [`deny_in`] does, naming `operator` in the `approval.denied` record.
pub fn deny_by_in<T: StateTx + ?Sized>(
    tx: &mut T,
    engine: &mut Engine,
    id: &str,
    operator: Option<&Value>,
    now: Millis,
) -> Result<(Result<Approval, ApiError>, Vec<AuditRecord>), StoreError> {
    begin(tx, engine, now)?;
    let rows = tx.rows_for_approval(engine.policy(), id, now)?;
    engine.load_rows(rows);
    let result = engine.deny(id, now);
    finish_by(tx, engine, operator).map(|records| (result, records))
}

/// Revokes live grant `id` inside a transaction: its row goes and a `grant.revoked` record
/// naming `by` (who revoked it) is appended. `None` when there is no such live grant.
pub fn revoke_grant_in<T: StateTx + ?Sized>(
    tx: &mut T,
    policy: &Policy,
    id: &str,
    by: Option<&Value>,
    now: Millis,
) -> Result<Option<(Grant, Vec<AuditRecord>)>, StoreError> {
    tx.prune(now)?;
    let Some(grant) = tx.grant(policy, id, now)? else {
        return Ok(None);
    };
    tx.apply(&Changes {
        grants_removed: vec![grant.id.clone()],
        ..Changes::default()
    })?;
    let request = &grant.request;
    let record = AuditRecord {
        seq: 0,
        time: now,
        event: "grant.revoked",
        request_id: None,
        agent_id: Some(request.agent_id.as_str().into()),
        action: Some(request.action.as_str().into()),
        vendor: request.vendor.as_deref().map(Into::into),
        resource: request.resource.as_deref().map(Into::into),
        params: Some(request.params.clone().into()),
        decision: None,
        reason: None,
        matched_permission: Some(grant.permission.clone()),
        approval_id: Some(grant.approval_id.clone()),
        grant_id: Some(grant.id.clone()),
        operator: by.cloned(),
        prev_hash: String::new(),
        hash: String::new(),
    };
    let records = tx.append_audit(vec![record])?;
    Ok(Some((grant, records)))
}

/// Loads every live row into `engine`, for listings.
pub fn load_all_in<T: StateTx + ?Sized>(
    tx: &mut T,
    engine: &mut Engine,
    now: Millis,
) -> Result<(), StoreError> {
    let rows = tx.all_rows(engine.policy(), now)?;
    engine.load_rows(rows);
    Ok(())
}

/// The start of every step: a retried step must not carry records of the attempt before.
fn begin<T: StateTx + ?Sized>(
    tx: &mut T,
    engine: &mut Engine,
    now: Millis,
) -> Result<(), StoreError> {
    drop(engine.take_unchained_audit());
    tx.prune(now)
}

fn finish<T: StateTx + ?Sized>(
    tx: &mut T,
    engine: &mut Engine,
) -> Result<Vec<AuditRecord>, StoreError> {
    finish_by(tx, engine, None)
}

/// `finish`, with `operator` named in the step's approval records.
fn finish_by<T: StateTx + ?Sized>(
    tx: &mut T,
    engine: &mut Engine,
    operator: Option<&Value>,
) -> Result<Vec<AuditRecord>, StoreError> {
    let changes = engine.take_changes();
    if !changes.is_empty() {
        tx.apply(&changes)?;
    }
    let mut unchained = engine.take_unchained_audit();
    if let Some(operator) = operator {
        for record in &mut unchained {
            if record.event.starts_with("approval.") {
                record.operator = Some(operator.clone());
            }
        }
    }
    let records = tx.append_audit(unchained)?;
    tx.enqueue_webhooks(&records, &engine.policy().webhooks)?;
    Ok(records)
}

/// Milliseconds since the epoch from the system clock: outbox scheduling, never a decision.
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
