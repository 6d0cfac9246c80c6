//! The state database: `.behalf/state.db` (SQLite, WAL). One `session` is one `BEGIN
//! IMMEDIATE` transaction: load the engine state, run the engine, save the state, append the
//! audit records to a chain that is global across processes, commit. Only then does the
//! caller see the result, so an allowed decision is durable before it is returned.

use std::path::{Path, PathBuf};
use std::time::Duration;

use behalf_core::audit::{chain_hash, verify_chain, GENESIS};
use behalf_core::{Engine, EngineOptions, Policy};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde_json::{json, Value};

use crate::error::{CliError, Result};

pub const DB_FILE: &str = "state.db";
const SCHEMA_VERSION: i64 = 1;
const DEFAULT_BUSY_MS: u64 = 10_000;

pub struct Store {
    conn: Connection,
    pub path: PathBuf,
}

/// What `audit verify` found.
#[derive(Debug)]
pub struct ChainCheck {
    pub records: u64,
    pub head: Option<(u64, String)>,
    /// (seq, 0-based index, problem) of the first bad record.
    pub broken: Option<(u64, u64, String)>,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError::state(format!(
                "cannot create the state directory {}: {e}",
                dir.display()
            ))
        })?;
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            // State is local: approvals and the audit log do not belong in git.
            let _ = std::fs::write(&ignore, "*\n");
        }
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|e| with_path(e.into(), &path))?;
        let busy = std::env::var("BEHALF_BUSY_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(DEFAULT_BUSY_MS);
        conn.busy_timeout(Duration::from_millis(busy))
            .map_err(|e| with_path(e.into(), &path))?;
        let mut store = Store { conn, path };
        store.init().map_err(|e| with_path(e, &store.path))?;
        Ok(store)
    }

    fn init(&mut self) -> Result<()> {
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(CliError::state(format!(
                "the state database could not switch to WAL mode (it is in `{mode}` mode)"
            )));
        }
        // FULL: a committed decision survives a power loss, not just a crash.
        self.conn.execute_batch("PRAGMA synchronous=FULL;")?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS state (id INTEGER PRIMARY KEY CHECK (id = 1),
                 json TEXT NOT NULL, updated_at TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, time TEXT NOT NULL,
                 event TEXT NOT NULL, request_id TEXT, decision TEXT, reason TEXT,
                 approval_id TEXT, hash TEXT NOT NULL, record TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS audit_request ON audit (request_id);
             CREATE TABLE IF NOT EXISTS webhook_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,
                 msg_id TEXT NOT NULL, endpoint TEXT NOT NULL, seq INTEGER NOT NULL,
                 event_type TEXT NOT NULL, body TEXT NOT NULL,
                 status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
                 next_at INTEGER NOT NULL, lease_owner TEXT, lease_until INTEGER,
                 last_code INTEGER, last_error TEXT, last_at INTEGER,
                 created_at INTEGER NOT NULL, delivered_at INTEGER,
                 UNIQUE (endpoint, msg_id));
             CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox (status, next_at);
             CREATE TABLE IF NOT EXISTS webhook_endpoint (id TEXT PRIMARY KEY,
                 disabled_at INTEGER, disabled_reason TEXT, retry_at INTEGER NOT NULL DEFAULT 0);",
        )?;
        let version: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match version {
            None => {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
                    params![SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(v) if v == SCHEMA_VERSION.to_string() => {}
            Some(v) => {
                return Err(CliError::state(format!(
                    "the state database has schema version {v}; this behalf reads version {SCHEMA_VERSION}"
                ))
                .hint("use the behalf release that wrote it"));
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Runs `f` on an engine holding the saved state, inside one write transaction; saves the
    /// state and the audit records, commits, and only then returns `f`'s result.
    pub fn session<T>(&mut self, policy: &Policy, f: impl FnOnce(&mut Engine) -> T) -> Result<T> {
        let path = self.path.clone();
        self.session_inner(policy, f)
            .map_err(|e| with_path(e, &path))
    }

    fn session_inner<T>(&mut self, policy: &Policy, f: impl FnOnce(&mut Engine) -> T) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut engine = engine_with_state(&tx, policy)?;
        let out = f(&mut engine);
        let records = engine.take_audit_records();
        let exported = engine.export_state();
        let state = exported
            .get("state")
            .ok_or_else(|| CliError::state("the engine exported no state"))?;
        let now = behalf_core::time::format_rfc3339(crate::project::now()?);
        tx.execute(
            "INSERT INTO state (id, json, updated_at) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at",
            params![state.to_string(), now],
        )?;
        append_audit(&tx, &records, &policy.webhooks)?;
        tx.commit()?;
        Ok(out)
    }

    /// Reads the state without changing it (a read transaction; never blocks writers long).
    pub fn read<T>(&mut self, policy: &Policy, f: impl FnOnce(&mut Engine) -> T) -> Result<T> {
        let path = self.path.clone();
        let run = || -> Result<T> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Deferred)?;
            let mut engine = engine_with_state(&tx, policy)?;
            let out = f(&mut engine);
            tx.commit()?;
            Ok(out)
        };
        run().map_err(|e| with_path(e, &path))
    }

    /// The last `n` audit records, oldest first.
    pub fn audit_tail(&self, n: u64, after: Option<u64>) -> Result<Vec<(u64, Value)>> {
        let mut rows = Vec::new();
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let after = i64::try_from(after.unwrap_or(0)).unwrap_or(0);
        let mut stmt = self.conn.prepare(
            "SELECT seq, record FROM (SELECT seq, record FROM audit WHERE seq > ?2
             ORDER BY seq DESC LIMIT ?1) ORDER BY seq",
        )?;
        let mut q = stmt.query(params![n, after])?;
        while let Some(row) = q.next()? {
            let seq: i64 = row.get(0)?;
            let text: String = row.get(1)?;
            let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            rows.push((u64::try_from(seq).unwrap_or(0), value));
        }
        Ok(rows)
    }

    /// Streams every audit record's stored JSON text in order.
    pub fn audit_each(&self, mut f: impl FnMut(u64, &str) -> Result<()>) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, record FROM audit ORDER BY seq")?;
        let mut q = stmt.query([])?;
        while let Some(row) = q.next()? {
            let seq: i64 = row.get(0)?;
            let text: String = row.get(1)?;
            f(u64::try_from(seq).unwrap_or(0), &text)?;
        }
        Ok(())
    }

    /// Re-checks the whole chain: seq continuity from 1, every `prevHash` link, every `hash`,
    /// the row's columns against its record, and the head kept in `meta`.
    pub fn verify_audit(&self) -> Result<ChainCheck> {
        let mut check = ChainCheck {
            records: 0,
            head: None,
            broken: None,
        };
        let mut prev: Option<Value> = None;
        let mut stmt = self
            .conn
            .prepare("SELECT seq, hash, record FROM audit ORDER BY seq")?;
        let mut q = stmt.query([])?;
        let mut index: u64 = 0;
        while let Some(row) = q.next()? {
            let seq = u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0);
            let hash: String = row.get(1)?;
            let text: String = row.get(2)?;
            let mut fail = |why: String| {
                if check.broken.is_none() {
                    check.broken = Some((seq, index, why));
                }
            };
            let record: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    fail(format!("the record is not valid JSON: {e}"));
                    break;
                }
            };
            if index == 0 && record.get("seq").and_then(Value::as_u64) != Some(1) {
                fail("the chain does not start at seq 1 (records were removed)".into());
            }
            if record.get("seq").and_then(Value::as_u64) != Some(seq)
                || record.get("hash").and_then(Value::as_str) != Some(hash.as_str())
            {
                fail("the row's seq or hash column disagrees with its record".into());
            }
            // The previous record is checked again with this one, so the link is checked too.
            let window: Vec<Value> = prev.iter().cloned().chain([record.clone()]).collect();
            let report = verify_chain(&window);
            if !report.ok {
                fail(report.problem.unwrap_or_else(|| "broken link".into()));
            }
            if check.broken.is_some() {
                break;
            }
            check.head = Some((seq, hash));
            prev = Some(record);
            index += 1;
        }
        check.records = index;
        if check.broken.is_none() {
            let total: i64 = self
                .conn
                .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))?;
            check.records = u64::try_from(total).unwrap_or(0);
            let head = self.meta("audit_head")?;
            let have = check
                .head
                .as_ref()
                .map(|(s, h)| format!("{s}:{h}"))
                .unwrap_or_default();
            if head.unwrap_or_default() != have {
                let seq = check.head.as_ref().map(|(s, _)| *s).unwrap_or(0);
                check.broken = Some((
                    seq + 1,
                    check.records,
                    "records after the last one were removed (the recorded head is not the last record)".into(),
                ));
            }
        }
        Ok(check)
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// The connection, for the webhook outbox (`webhooks.rs`).
    pub fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }

    pub fn audit_count(&self) -> Result<u64> {
        let total: i64 = self
            .conn
            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))?;
        Ok(u64::try_from(total).unwrap_or(0))
    }
}

fn with_path(mut e: CliError, path: &Path) -> CliError {
    if !e.message.contains(&path.display().to_string()) {
        e.message = format!("{}: {}", path.display(), e.message);
    }
    e
}

fn engine_with_state(tx: &Transaction<'_>, policy: &Policy) -> Result<Engine> {
    let mut engine = Engine::new(policy.clone(), EngineOptions::default());
    let saved: Option<String> = tx
        .query_row("SELECT json FROM state WHERE id = 1", [], |r| r.get(0))
        .optional()?;
    if let Some(text) = saved {
        let state: Value = serde_json::from_str(&text).map_err(|e| {
            CliError::state(format!("the saved engine state is not valid JSON ({e})"))
                .hint("the database was edited or damaged; restore .behalf/state.db from a backup")
        })?;
        // The audit chain lives in its own table; the engine starts an empty window.
        let whole = json!({"version": 1, "state": state,
            "audit": {"nextSeq": 1, "lastHash": GENESIS, "records": []}});
        engine.restore(&whole).map_err(|e| {
            CliError::state(format!(
                "the saved engine state cannot be restored: {}",
                e.message
            ))
            .hint("the database was edited or damaged; restore .behalf/state.db from a backup")
        })?;
    }
    Ok(engine)
}

/// Appends records to the global chain: seq and `prevHash` come from the database, not from
/// the engine (other processes append too), and each `hash` is computed here.
/// Every record's event is queued in the webhook outbox for each endpoint that wants it, in the
/// same transaction: no decision is recorded without its events, and no event without its record.
fn append_audit(
    tx: &Transaction<'_>,
    records: &[behalf_core::AuditRecord],
    webhooks: &[behalf_core::policy::WebhookEndpoint],
) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let head: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (mut seq, mut prev) = head.unwrap_or((0, GENESIS.to_string()));
    let mut stmt = tx.prepare(
        "INSERT INTO audit (seq, time, event, request_id, decision, reason, approval_id, hash, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for r in records {
        seq += 1;
        let mut record = r.clone();
        record.seq = u64::try_from(seq).unwrap_or(0);
        record.prev_hash = prev.clone();
        let body = record.body_value();
        record.hash = chain_hash(&prev, &body);
        let value = record.to_value();
        stmt.execute(params![
            seq,
            behalf_core::time::format_rfc3339(record.time),
            record.event,
            record.request_id,
            record.decision,
            record.reason,
            record.approval_id,
            record.hash,
            value.to_string(),
        ])?;
        crate::webhooks::enqueue(tx, &record, webhooks)?;
        prev = record.hash;
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('audit_head', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![format!("{seq}:{prev}")],
    )?;
    Ok(())
}
