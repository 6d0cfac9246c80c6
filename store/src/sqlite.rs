//! The SQLite backend: `.behalf/state.db` in WAL mode, one row per approval, grant and
//! permission's usage, one per audit record. A step is one `BEGIN IMMEDIATE` transaction;
//! SQLite has one writer at a time, so a conflict is a busy database, waited on
//! (`busy_timeout`) and then retried as a whole.
//!
//! Schema 2 replaces schema 1's single `state` row (the whole engine state as JSON, loaded and
//! rewritten on every decision); a database of schema 1 is migrated when first opened with
//! its policy (approvals and grants of permissions the policy no longer has are dropped, as
//! a restore always did).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use behalf_core::audit::{AuditRecord, GENESIS};
use behalf_core::policy::{Policy, WebhookEndpoint};
use behalf_core::state::{
    approval_from, approval_value, grant_from, grant_value, usage_from, usage_value, Approval,
    ApprovalStatus, Changes, Grant, PendingCounts, RowKeys, Rows, Usage, FORGET_AFTER,
};
use behalf_core::time::{format_rfc3339, Millis};
use rusqlite::{
    params, Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior,
};
use serde_json::Value;

use crate::{AgentKey, AgentKeys, StateStore, StateTx, StoreError};

pub const SCHEMA_VERSION: i64 = 2;

/// Rows of each kind forgotten per step at most.
const PRUNE_PER_STEP: i64 = 16;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, time TEXT NOT NULL,
    event TEXT NOT NULL, request_id TEXT, decision TEXT, reason TEXT,
    approval_id TEXT, hash TEXT NOT NULL, record TEXT NOT NULL);
-- Nothing reads the audit by request id; the index cost a random page write per decision.
DROP INDEX IF EXISTS audit_request;
CREATE TABLE IF NOT EXISTS approvals (id TEXT PRIMARY KEY, permission TEXT NOT NULL,
    passport TEXT NOT NULL, fingerprint TEXT NOT NULL, status TEXT NOT NULL,
    created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, forget_at INTEGER NOT NULL,
    record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS approvals_by_request ON approvals (fingerprint, permission);
CREATE INDEX IF NOT EXISTS approvals_pending_by_passport ON approvals (passport, expires_at)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS approvals_pending_by_permission ON approvals (permission, expires_at)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS approvals_forget ON approvals (forget_at);
CREATE TABLE IF NOT EXISTS grants (id TEXT PRIMARY KEY, permission TEXT NOT NULL,
    fingerprint TEXT NOT NULL, scope TEXT NOT NULL, created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS grants_by_request ON grants (fingerprint, permission);
CREATE INDEX IF NOT EXISTS grants_by_permission ON grants (permission) WHERE scope = 'permission';
CREATE INDEX IF NOT EXISTS grants_expiry ON grants (expires_at);
CREATE TABLE IF NOT EXISTS usage (permission TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS webhook_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL, endpoint TEXT NOT NULL, seq INTEGER NOT NULL,
    event_type TEXT NOT NULL, body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL, lease_owner TEXT, lease_until INTEGER,
    last_code INTEGER, last_error TEXT, last_at INTEGER,
    created_at INTEGER NOT NULL, delivered_at INTEGER,
    UNIQUE (endpoint, msg_id));
CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox (status, next_at);
CREATE TABLE IF NOT EXISTS agent_keys (key_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL, revoked_at INTEGER);
CREATE TABLE IF NOT EXISTS webhook_endpoint (id TEXT PRIMARY KEY,
    disabled_at INTEGER, disabled_reason TEXT, retry_at INTEGER NOT NULL DEFAULT 0);
";

pub struct SqliteStore {
    conn: Connection,
    /// How long a step waits for a busy database in all, across retries.
    wait: Duration,
    /// Schema 1's state row is still to be turned into rows (needs the policy).
    legacy: bool,
}

/// A driver error as a store error (busy → conflict, corrupt, unwritable, anything else).
pub(crate) fn sql_error(e: rusqlite::Error) -> StoreError {
    sql(e)
}

fn sql(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Conflict(format!(
            "the state database is locked by another process ({e})"
        )),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            StoreError::Corrupt(format!("the state database is corrupt ({e})"))
        }
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            StoreError::Fault(format!("the state database cannot be written ({e})"))
        }
        _ => StoreError::Fault(format!("state database error: {e}")),
    }
}

/// Runs `attempt` again while it reports a conflict (a busy database), for `wait` in all.
fn retrying<T>(
    wait: Duration,
    mut attempt: impl FnMut() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let started = Instant::now();
    loop {
        match attempt() {
            Err(StoreError::Conflict(_)) if started.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

fn damaged(what: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "a stored {what} is damaged: the saved state cannot be restored"
    ))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`; `busy` is how long one attempt
    /// waits for another writer, `wait` how long a step keeps retrying in all.
    pub fn open(path: &Path, busy: Duration, wait: Duration) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(busy).map_err(sql)?;
        let mut store = SqliteStore {
            conn,
            wait,
            legacy: false,
        };
        // Opening a fresh database (the switch to WAL, the schema) can find another process
        // doing the same and get a busy answer that SQLite does not wait on: retried like a step.
        retrying(wait, || store.init())?;
        Ok(store)
    }

    fn init(&mut self) -> Result<(), StoreError> {
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(sql)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Fault(format!(
                "the state database could not switch to WAL mode (it is in `{mode}` mode)"
            )));
        }
        // FULL: a committed decision survives a power loss, not just a crash.
        self.conn
            .execute_batch("PRAGMA synchronous=FULL;")
            .map_err(sql)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        tx.execute_batch(SCHEMA).map_err(sql)?;
        let version: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql)?;
        match version.as_deref() {
            None | Some("2") => {}
            Some("1") => {}
            Some(v) => {
                return Err(StoreError::Fault(format!(
                    "the state database has schema version {v}; this behalf reads versions 1 and {SCHEMA_VERSION}"
                )));
            }
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![SCHEMA_VERSION.to_string()],
        )
        .map_err(sql)?;
        let legacy: bool = tx
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'state'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(sql)?
            > 0;
        tx.commit().map_err(sql)?;
        self.legacy = legacy;
        Ok(())
    }

    /// The connection, for what the CLI keeps in the same database (the webhook outbox's
    /// delivery, audit listings).
    pub fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }

    pub fn conn_ref(&self) -> &Connection {
        &self.conn
    }

    /// Runs `step` in a read transaction (listings; never blocks writers long).
    pub fn read<T>(
        &mut self,
        policy: &Policy,
        step: &mut dyn FnMut(&mut SqliteTx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.run_step(TransactionBehavior::Deferred, policy, step)
    }

    /// Runs `step` in one transaction of `behavior` and commits it, the whole step again on a
    /// conflict (for `wait` in all).
    fn run_step<T>(
        &mut self,
        behavior: TransactionBehavior,
        policy: &Policy,
        step: &mut dyn FnMut(&mut SqliteTx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        retrying(self.wait, || {
            self.migrate(policy)?;
            let tx = self.conn.transaction_with_behavior(behavior).map_err(sql)?;
            let mut stx = SqliteTx { tx };
            let out = step(&mut stx)?;
            stx.tx.commit().map_err(sql)?;
            Ok(out)
        })
    }

    /// Turns schema 1's one state row into rows, once.
    fn migrate(&mut self, policy: &Policy) -> Result<(), StoreError> {
        if !self.legacy {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let exists: i64 = tx
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'state'",
                [],
                |r| r.get(0),
            )
            .map_err(sql)?;
        if exists > 0 {
            let saved: Option<String> = tx
                .query_row("SELECT json FROM state WHERE id = 1", [], |r| r.get(0))
                .optional()
                .map_err(sql)?;
            if let Some(text) = saved {
                let state: Value =
                    serde_json::from_str(&text).map_err(|_| damaged("engine state (schema 1)"))?;
                let changes = legacy_rows(&state, policy)?;
                let mut stx = SqliteTx { tx };
                stx.apply(&changes)?;
                stx.tx.execute_batch("DROP TABLE state;").map_err(sql)?;
                stx.tx.commit().map_err(sql)?;
                self.legacy = false;
                return Ok(());
            }
            tx.execute_batch("DROP TABLE state;").map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        self.legacy = false;
        Ok(())
    }
}

impl AgentKeys for SqliteStore {
    fn create_agent_key(&mut self, key: &AgentKey, hash: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO agent_keys (key_id, agent_id, hash, created_at, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    key.key_id,
                    key.agent_id,
                    hash,
                    key.created_at,
                    key.revoked_at
                ],
            )
            .map_err(sql)?;
        Ok(())
    }

    fn agent_keys(&mut self) -> Result<Vec<AgentKey>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT key_id, agent_id, created_at, revoked_at FROM agent_keys
                 ORDER BY created_at, key_id",
            )
            .map_err(sql)?;
        let rows = stmt.query_map([], agent_key_row).map_err(sql)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql)
    }

    fn revoke_agent_key(&mut self, key_id: &str, now: Millis) -> Result<bool, StoreError> {
        let changed = self
            .conn
            .execute(
                "UPDATE agent_keys SET revoked_at = coalesce(revoked_at, ?2) WHERE key_id = ?1",
                params![key_id, now],
            )
            .map_err(sql)?;
        Ok(changed > 0)
    }

    fn agent_key_by_hash(&mut self, hash: &str) -> Result<Option<AgentKey>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT key_id, agent_id, created_at, revoked_at FROM agent_keys WHERE hash = ?1",
            )
            .map_err(sql)?
            .query_row(params![hash], agent_key_row)
            .optional()
            .map_err(sql)
    }
}

fn agent_key_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AgentKey> {
    Ok(AgentKey {
        key_id: row.get(0)?,
        agent_id: row.get(1)?,
        created_at: row.get(2)?,
        revoked_at: row.get(3)?,
    })
}

/// Schema 1's state JSON (`{approvals, grants, usage}`, as `Engine::export_state` wrote it)
/// as rows.
pub fn legacy_rows(state: &Value, policy: &Policy) -> Result<Changes, StoreError> {
    let list = |key: &str| {
        state
            .get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| damaged("engine state (schema 1)"))
    };
    let known = |v: &Value| {
        v.get("permission")
            .and_then(Value::as_str)
            .and_then(|p| policy.permission(p))
    };
    let mut out = Changes::default();
    for v in list("approvals")? {
        if known(v).is_some() {
            out.approvals
                .push(approval_from(v, policy).ok_or_else(|| damaged("approval (schema 1)"))?);
        }
    }
    for v in list("grants")? {
        if known(v).is_some() {
            out.grants
                .push(grant_from(v, policy).ok_or_else(|| damaged("grant (schema 1)"))?);
        }
    }
    for v in list("usage")? {
        if let Some((_, p)) = known(v) {
            let usage = usage_from(v, p).ok_or_else(|| damaged("usage entry (schema 1)"))?;
            out.usage.push((p.id.clone(), usage));
        }
    }
    Ok(out)
}

impl StateStore for SqliteStore {
    type Tx<'a> = SqliteTx<'a>;

    fn write<T, F>(&mut self, policy: &Policy, mut step: F) -> Result<T, StoreError>
    where
        F: FnMut(&mut SqliteTx<'_>) -> Result<T, StoreError>,
    {
        self.run_step(TransactionBehavior::Immediate, policy, &mut step)
    }
}

pub struct SqliteTx<'c> {
    tx: Transaction<'c>,
}

fn hex(fp: &[u8; 32]) -> String {
    behalf_core::audit::hex(fp)
}

fn status_text(s: ApprovalStatus) -> &'static str {
    match s {
        ApprovalStatus::Pending => "pending",
        ApprovalStatus::Approved => "approved",
        ApprovalStatus::Denied => "denied",
    }
}

impl SqliteTx<'_> {
    /// The transaction, for rows the CLI keeps next to the state (the webhook outbox), so
    /// they commit or roll back with the step.
    pub fn sql(&self) -> &Transaction<'_> {
        &self.tx
    }

    fn approvals_where(
        &self,
        policy: &Policy,
        clause: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Approval>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached(&format!(
                "SELECT record FROM approvals WHERE {clause} ORDER BY created_at, id"
            ))
            .map_err(sql)?;
        let mut rows = stmt.query(args).map_err(sql)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(sql)? {
            let text: String = row.get(0).map_err(sql)?;
            let v: Value = serde_json::from_str(&text).map_err(|_| damaged("approval"))?;
            // An approval of a permission the policy no longer has can match nothing.
            if let Some(a) = approval_from(&v, policy) {
                out.push(a);
            }
        }
        Ok(out)
    }

    fn grants_where(
        &self,
        policy: &Policy,
        clause: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Grant>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached(&format!(
                "SELECT record FROM grants WHERE {clause} ORDER BY created_at, id"
            ))
            .map_err(sql)?;
        let mut rows = stmt.query(args).map_err(sql)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(sql)? {
            let text: String = row.get(0).map_err(sql)?;
            let v: Value = serde_json::from_str(&text).map_err(|_| damaged("grant"))?;
            if let Some(g) = grant_from(&v, policy) {
                out.push(g);
            }
        }
        Ok(out)
    }

    fn usage_of(&self, policy: &Policy, permission: &str) -> Result<Option<Usage>, StoreError> {
        let Some((_, p)) = policy.permission(permission) else {
            return Ok(None);
        };
        let text: Option<String> = self
            .tx
            .prepare_cached("SELECT record FROM usage WHERE permission = ?1")
            .map_err(sql)?
            .query_row(params![permission], |r| r.get(0))
            .optional()
            .map_err(sql)?;
        match text {
            None => Ok(None),
            Some(t) => {
                let v: Value = serde_json::from_str(&t).map_err(|_| damaged("usage row"))?;
                usage_from(&v, p)
                    .map(Some)
                    .ok_or_else(|| damaged("usage row"))
            }
        }
    }

    fn count(&self, query: &str, key: &str, now: Millis) -> Result<usize, StoreError> {
        let n: i64 = self
            .tx
            .prepare_cached(query)
            .map_err(sql)?
            .query_row(params![key, now], |r| r.get(0))
            .map_err(sql)?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn pending_counts(
        &self,
        passport: &Arc<str>,
        permissions: &[Arc<str>],
        now: Millis,
    ) -> Result<PendingCounts, StoreError> {
        let mut counts = PendingCounts::default();
        // The pending caps bound these counts (1,000 a passport), and each is an index range.
        counts.by_passport.push((
            passport.clone(),
            self.count(
                "SELECT count(*) FROM approvals WHERE passport = ?1 AND status = 'pending' AND expires_at > ?2",
                passport,
                now,
            )?,
        ));
        for p in permissions {
            counts.by_permission.push((
                p.clone(),
                self.count(
                    "SELECT count(*) FROM approvals WHERE permission = ?1 AND status = 'pending' AND expires_at > ?2",
                    p,
                    now,
                )?,
            ));
        }
        Ok(counts)
    }
}

impl StateTx for SqliteTx<'_> {
    fn rows_for(
        &mut self,
        policy: &Policy,
        keys: &RowKeys,
        now: Millis,
    ) -> Result<Rows, StoreError> {
        let mut rows = Rows::default();
        for p in &keys.usage {
            if let Some(u) = self.usage_of(policy, p)? {
                rows.usage.push((p.clone(), u));
            }
        }
        let fp = hex(&keys.fingerprint);
        for p in &keys.approval {
            let p_text: &str = p;
            rows.approvals.extend(self.approvals_where(
                policy,
                "fingerprint = ?1 AND permission = ?2 AND status != 'approved' AND expires_at > ?3",
                &[&fp, &p_text, &now],
            )?);
            rows.grants.extend(self.grants_where(
                policy,
                "fingerprint = ?1 AND permission = ?2 AND scope = 'request' AND expires_at > ?3",
                &[&fp, &p_text, &now],
            )?);
            rows.grants.extend(self.grants_where(
                policy,
                "permission = ?1 AND scope = 'permission' AND expires_at > ?2",
                &[&p_text, &now],
            )?);
        }
        if !keys.approval.is_empty() {
            rows.pending = Some(self.pending_counts(&keys.passport, &keys.approval, now)?);
        }
        Ok(rows)
    }

    fn rows_for_approval(
        &mut self,
        policy: &Policy,
        id: &str,
        now: Millis,
    ) -> Result<Rows, StoreError> {
        let mut rows = Rows {
            approvals: self.approvals_where(policy, "id = ?1 AND forget_at > ?2", &[&id, &now])?,
            ..Rows::default()
        };
        if let Some(a) = rows.approvals.first() {
            let counts =
                self.pending_counts(&a.passport, std::slice::from_ref(&a.permission), now)?;
            rows.pending = Some(counts);
        } else {
            rows.pending = Some(PendingCounts::default());
        }
        Ok(rows)
    }

    fn grant(
        &mut self,
        policy: &Policy,
        id: &str,
        now: Millis,
    ) -> Result<Option<Grant>, StoreError> {
        Ok(self
            .grants_where(policy, "id = ?1 AND expires_at > ?2", &[&id, &now])?
            .into_iter()
            .next())
    }

    fn all_rows(&mut self, policy: &Policy, now: Millis) -> Result<Rows, StoreError> {
        let mut rows = Rows {
            approvals: self.approvals_where(policy, "forget_at > ?1", &[&now])?,
            grants: self.grants_where(policy, "expires_at > ?1", &[&now])?,
            ..Rows::default()
        };
        let mut stmt = self
            .tx
            .prepare_cached("SELECT permission FROM usage ORDER BY permission")
            .map_err(sql)?;
        let names: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        drop(stmt);
        for name in names {
            if let (Some(u), Some((_, p))) =
                (self.usage_of(policy, &name)?, policy.permission(&name))
            {
                rows.usage.push((p.id.clone(), u));
            }
        }
        Ok(rows)
    }

    fn apply(&mut self, changes: &Changes) -> Result<(), StoreError> {
        {
            let mut stmt = self
                .tx
                .prepare_cached(
                    "INSERT INTO approvals (id, permission, passport, fingerprint, status, created_at,
                         expires_at, forget_at, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (id) DO UPDATE SET status = excluded.status,
                         expires_at = excluded.expires_at, forget_at = excluded.forget_at,
                         record = excluded.record",
                )
                .map_err(sql)?;
            for a in &changes.approvals {
                stmt.execute(params![
                    a.id,
                    &*a.permission,
                    &*a.passport,
                    hex(&a.fingerprint),
                    status_text(a.status),
                    a.created_at,
                    a.expires_at,
                    a.expires_at.saturating_add(FORGET_AFTER),
                    approval_value(a).to_string(),
                ])
                .map_err(sql)?;
            }
        }
        {
            let mut stmt = self
                .tx
                .prepare_cached(
                    "INSERT INTO grants (id, permission, fingerprint, scope, created_at, expires_at,
                         record) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (id) DO UPDATE SET record = excluded.record",
                )
                .map_err(sql)?;
            for g in &changes.grants {
                let scope = match g.scope {
                    behalf_core::policy::Scope::Permission => "permission",
                    behalf_core::policy::Scope::Request => "request",
                };
                stmt.execute(params![
                    g.id,
                    &*g.permission,
                    hex(&g.fingerprint),
                    scope,
                    g.created_at,
                    g.expires_at,
                    grant_value(g).to_string(),
                ])
                .map_err(sql)?;
            }
            let mut del = self
                .tx
                .prepare_cached("DELETE FROM grants WHERE id = ?1")
                .map_err(sql)?;
            for id in &changes.grants_removed {
                del.execute(params![id]).map_err(sql)?;
            }
        }
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO usage (permission, record) VALUES (?1, ?2)
                 ON CONFLICT (permission) DO UPDATE SET record = excluded.record",
            )
            .map_err(sql)?;
        for (p, u) in &changes.usage {
            stmt.execute(params![&**p, usage_value(p, u).to_string()])
                .map_err(sql)?;
        }
        Ok(())
    }

    fn append_audit(&mut self, records: Vec<AuditRecord>) -> Result<Vec<AuditRecord>, StoreError> {
        if records.is_empty() {
            return Ok(records);
        }
        let head: Option<(i64, String)> = self
            .tx
            .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            .map_err(sql)?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(sql)?;
        let (mut seq, mut prev) = head.unwrap_or((0, GENESIS.to_string()));
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO audit (seq, time, event, request_id, decision, reason, approval_id, hash, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(sql)?;
        let mut scratch = String::with_capacity(512);
        let mut out = Vec::with_capacity(records.len());
        for mut record in records {
            seq += 1;
            record.seq = u64::try_from(seq).unwrap_or(0);
            record.chain_to(&prev, &mut scratch);
            stmt.execute(params![
                seq,
                format_rfc3339(record.time),
                record.event,
                record.request_id,
                record.decision,
                record.reason,
                record.approval_id,
                record.hash,
                record.to_value().to_string(),
            ])
            .map_err(sql)?;
            prev.clone_from(&record.hash);
            out.push(record);
        }
        self.tx
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES ('audit_head', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .map_err(sql)?
            .execute(params![format!("{seq}:{prev}")])
            .map_err(sql)?;
        Ok(out)
    }

    fn enqueue_webhooks(
        &mut self,
        records: &[AuditRecord],
        endpoints: &[WebhookEndpoint],
    ) -> Result<(), StoreError> {
        if endpoints.is_empty() {
            return Ok(());
        }
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO webhook_outbox (msg_id, endpoint, seq, event_type, body, next_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (endpoint, msg_id) DO NOTHING",
            )
            .map_err(sql)?;
        let now = crate::wall_ms();
        for record in records {
            let event_type = record.event_type();
            let mut wanted = endpoints.iter().filter(|w| w.wants(&event_type)).peekable();
            if wanted.peek().is_none() {
                continue;
            }
            let msg_id = behalf_core::webhook::message_id(record);
            let body = behalf_core::webhook::event_payload(record).to_string();
            let seq = i64::try_from(record.seq).unwrap_or(i64::MAX);
            for w in wanted {
                stmt.execute(params![msg_id, w.id, seq, event_type, body, now])
                    .map_err(sql)?;
            }
        }
        Ok(())
    }

    fn prune(&mut self, now: Millis) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "DELETE FROM approvals WHERE id IN
                 (SELECT id FROM approvals WHERE forget_at <= ?1 ORDER BY forget_at LIMIT ?2)",
            )
            .map_err(sql)?
            .execute(params![now, PRUNE_PER_STEP])
            .map_err(sql)?;
        self.tx
            .prepare_cached(
                "DELETE FROM grants WHERE id IN
                 (SELECT id FROM grants WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)",
            )
            .map_err(sql)?
            .execute(params![now, PRUNE_PER_STEP])
            .map_err(sql)?;
        Ok(())
    }
}
