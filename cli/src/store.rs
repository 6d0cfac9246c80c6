//! The state database: `.behalf/state.db` (SQLite, WAL), or PostgreSQL when
//! `BEHALF_STATE_URL` names one, through behalf-store's rows. One step (a verify, an approve, a
//! deny) is one transaction (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: `SERIALIZABLE`) that reads
//! only the rows it touches, runs the engine, writes the rows it changed and appends the audit
//! records to a chain that is global across processes, with their webhook events; it commits,
//! and only then does the caller see the result, so an allowed decision is durable before it is
//! returned. A busy database or a lost serialization race is waited on
//! (`BEHALF_BUSY_TIMEOUT_MS`) and the step retried.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use behalf_core::audit::verify_chain;
use behalf_core::time::Millis;
use behalf_core::{ApiError, Approval, Decision, Engine, EngineOptions, Grant, Policy, Prepared};
use behalf_server::operators::signing::OperatorCheck;
use behalf_store::any::AnyStore;
use behalf_store::postgres::{redact, PostgresStore};
use behalf_store::sqlite::SqliteStore;
use behalf_store::{AgentKeys, StateStore, StateTx, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::error::{exit, CliError, Result};

pub const DB_FILE: &str = "state.db";
const DEFAULT_BUSY_MS: u64 = 10_000;

/// The environment variable that puts the state on PostgreSQL.
pub const STATE_URL_ENV: &str = "BEHALF_STATE_URL";

pub struct Store {
    backend: AnyStore,
    /// The SQLite file, or the PostgreSQL URL with its password masked (for messages).
    pub path: PathBuf,
    /// The engine of the last policy seen: compiled once, reused by every step on it.
    engine: Option<Engine>,
}

/// A request to verify, as the caller has it.
pub enum Input<'a> {
    Value(&'a Value),
    Json(&'a str),
    /// Input that could not be read at all (not UTF-8): recorded as `invalid_request`.
    Unreadable(&'a str),
}

/// What `audit verify` found.
#[derive(Debug)]
pub struct ChainCheck {
    pub records: u64,
    pub head: Option<(u64, String)>,
    /// (seq, 0-based index, problem) of the first bad record.
    pub broken: Option<(u64, u64, String)>,
    /// Records committed but not chained yet (PostgreSQL, between a step and its chaining).
    pub unchained: u64,
    /// Approvals and denials whose operator's passkey signature verified.
    pub signed: u64,
    /// Approvals and denials made with an operator API token (named, not signed).
    pub by_token: u64,
}

/// A store error as the CLI reports it; nothing was decided or recorded.
pub fn store_error(e: StoreError) -> CliError {
    match e {
        StoreError::Conflict(m) => CliError::new(exit::LOCKED, m).hint(
            "another behalf process holds a long transaction; retry, or raise BEHALF_BUSY_TIMEOUT_MS; nothing was decided or recorded",
        ),
        StoreError::Corrupt(m) => CliError::state(m).hint(
            "the database was edited or damaged: restore .behalf/state.db from a backup, or move it away to start with empty state (its audit log is then lost); nothing was decided or recorded",
        ),
        StoreError::Fault(m) if m.contains("unreachable") => CliError::state(m).hint(
            "the PostgreSQL server in BEHALF_STATE_URL is down or unreachable; nothing was decided or recorded, and the next call tries again",
        ),
        StoreError::Fault(m) => CliError::state(m)
            .hint("check that .behalf/ and .behalf/state.db are writable by this user"),
    }
}

/// Where the state is, as the server's code takes it: the PostgreSQL connection string of
/// `BEHALF_STATE_URL`, or the SQLite file in `dir`.
pub fn location(dir: &Path) -> PathBuf {
    state_url().map_or_else(|| dir.join(DB_FILE), PathBuf::from)
}

/// `BEHALF_STATE_URL`, when it names a database (unset or empty: the project's SQLite file).
pub fn state_url() -> Option<String> {
    std::env::var(STATE_URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
}

fn busy_wait() -> Duration {
    Duration::from_millis(
        std::env::var("BEHALF_BUSY_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(DEFAULT_BUSY_MS),
    )
}

impl Store {
    /// The project's state: PostgreSQL when `BEHALF_STATE_URL` is set, else the SQLite file
    /// in `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        match state_url() {
            Some(url) => Store::open_postgres(&url),
            None => Store::open_sqlite(dir),
        }
    }

    /// PostgreSQL at `url`, its pending migrations applied.
    pub fn open_postgres(url: &str) -> Result<Store> {
        let shown = PathBuf::from(redact(url));
        let backend =
            PostgresStore::open(url, busy_wait()).map_err(|e| with_path(store_error(e), &shown))?;
        Ok(Store {
            backend: AnyStore::Postgres(Box::new(backend)),
            path: shown,
            engine: None,
        })
    }

    /// The SQLite file `dir/state.db`.
    pub fn open_sqlite(dir: &Path) -> Result<Store> {
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
        let busy = busy_wait();
        let backend =
            SqliteStore::open(&path, busy, busy).map_err(|e| with_path(store_error(e), &path))?;
        Ok(Store {
            backend: AnyStore::Sqlite(backend),
            path,
            engine: None,
        })
    }

    /// The SQLite file the state is in; `None` on PostgreSQL (no file to watch).
    pub fn file(&self) -> Option<&Path> {
        match self.backend {
            AnyStore::Sqlite(_) => Some(&self.path),
            AnyStore::Postgres(_) => None,
        }
    }

    /// The PostgreSQL store, for what only it has (migrations).
    pub fn postgres(&mut self) -> Option<&mut PostgresStore> {
        self.backend.postgres()
    }

    /// The engine for `policy`, made once per policy (no copy of the policy per step).
    fn engine_for<'e>(engine: &'e mut Option<Engine>, policy: &Arc<Policy>) -> &'e mut Engine {
        let reuse = engine
            .as_ref()
            .is_some_and(|e| Arc::ptr_eq(e.shared_policy(), policy));
        if !reuse {
            *engine = None;
        }
        engine.get_or_insert_with(|| Engine::from_shared(policy.clone(), EngineOptions::default()))
    }

    /// Runs one step in a write transaction (its audit records and their webhook events are
    /// appended in it).
    fn step<T>(
        &mut self,
        policy: &Arc<Policy>,
        mut f: impl FnMut(
            &mut dyn StateTx,
            &mut Engine,
        )
            -> std::result::Result<(T, Vec<behalf_core::AuditRecord>), StoreError>,
    ) -> Result<T> {
        let Store {
            backend,
            path,
            engine,
        } = self;
        let engine = Store::engine_for(engine, policy);
        match backend {
            AnyStore::Sqlite(b) => b.write(policy, |tx| f(tx, engine).map(|(out, _records)| out)),
            AnyStore::Postgres(b) => b.write(policy, |tx| f(tx, engine).map(|(out, _records)| out)),
        }
        .map_err(|e| with_path(store_error(e), path))
    }

    /// Verifies one request, durably.
    pub fn verify(
        &mut self,
        policy: &Arc<Policy>,
        now: Millis,
        input: Input<'_>,
    ) -> Result<Decision> {
        let prepared: Prepared = {
            let engine = Store::engine_for(&mut self.engine, policy);
            match input {
                Input::Value(v) => engine.prepare(v),
                Input::Json(text) => engine.prepare_json(text),
                Input::Unreadable(why) => engine.prepare_rejection(why),
            }
        };
        self.step(policy, |tx, engine| {
            behalf_store::verify_in(tx, engine, &prepared, now)
        })
    }

    /// Verifies several requests in one transaction (an MCP call that names several
    /// resources): every decision is recorded, or none is.
    pub fn verify_all(
        &mut self,
        policy: &Arc<Policy>,
        now: Millis,
        requests: &[Value],
    ) -> Result<Vec<Decision>> {
        let prepared: Vec<Prepared> = {
            let engine = Store::engine_for(&mut self.engine, policy);
            requests.iter().map(|r| engine.prepare(r)).collect()
        };
        self.step(policy, |tx, engine| {
            let mut decisions = Vec::with_capacity(prepared.len());
            let mut records = Vec::new();
            for p in &prepared {
                let (decision, chained) = behalf_store::verify_in(tx, engine, p, now)?;
                decisions.push(decision);
                records.extend(chained);
            }
            Ok((decisions, records))
        })
    }

    /// Approves a pending approval (a grant for `ttl`, or the permission's grantTtl).
    pub fn approve(
        &mut self,
        policy: &Arc<Policy>,
        now: Millis,
        id: &str,
        ttl: Option<&Value>,
    ) -> Result<std::result::Result<Grant, ApiError>> {
        self.step(policy, |tx, engine| {
            behalf_store::approve_in(tx, engine, id, ttl, now)
        })
    }

    /// Denies a pending approval.
    pub fn deny(
        &mut self,
        policy: &Arc<Policy>,
        now: Millis,
        id: &str,
    ) -> Result<std::result::Result<Approval, ApiError>> {
        self.step(policy, |tx, engine| {
            behalf_store::deny_in(tx, engine, id, now)
        })
    }

    /// Reads the whole live state into an engine, without changing it (listings; a read
    /// transaction that never blocks writers long). Not on the decision path.
    pub fn read<T>(
        &mut self,
        policy: &Arc<Policy>,
        now: Millis,
        f: impl FnOnce(&mut Engine) -> T,
    ) -> Result<T> {
        let Store {
            backend,
            path,
            engine,
        } = self;
        let engine = Store::engine_for(engine, policy);
        let mut f = Some(f);
        let mut load = |tx: &mut dyn StateTx| {
            behalf_store::load_all_in(tx, engine, now)?;
            Ok(f.take().map(|f| f(engine)))
        };
        backend
            .read(policy, &mut load)
            .map_err(|e| with_path(store_error(e), path))?
            .ok_or_else(|| CliError::state("the read ran twice"))
    }

    /// The backend, for rows beside the engine's state (operators, their passkeys and tokens).
    pub fn backend(&mut self) -> &mut AnyStore {
        &mut self.backend
    }

    /// The agent keys, in whichever database holds the state.
    pub fn agent_keys(&mut self) -> &mut dyn AgentKeys {
        &mut self.backend
    }

    /// The connection, for the webhook outbox (`webhooks/`). On PostgreSQL the outbox is
    /// filled in the same transactions, and drained by `behalf serve`.
    pub fn conn(&mut self) -> Result<&mut Connection> {
        match &mut self.backend {
            AnyStore::Sqlite(b) => Ok(b.conn()),
            AnyStore::Postgres(_) => Err(postgres_only_in_serve(
                "reading or editing the webhook outbox (status, replay, enable, remove)",
            )),
        }
    }

    fn conn_ref(&self) -> Result<&Connection> {
        match &self.backend {
            AnyStore::Sqlite(b) => Ok(b.conn_ref()),
            AnyStore::Postgres(_) => Err(postgres_only_in_serve("this listing")),
        }
    }

    /// The last `n` audit records, oldest first.
    pub fn audit_tail(&mut self, n: u64, after: Option<u64>) -> Result<Vec<(u64, Value)>> {
        if let AnyStore::Postgres(p) = &mut self.backend {
            settle(p, &self.path)?;
            let rows = p
                .audit_tail(n, after.unwrap_or(0))
                .map_err(|e| with_path(store_error(e), &self.path))?;
            return Ok(rows);
        }
        let mut rows = Vec::new();
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let after = i64::try_from(after.unwrap_or(0)).unwrap_or(0);
        let mut stmt = self.conn_ref()?.prepare(
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
    pub fn audit_each(&mut self, mut f: impl FnMut(u64, &str) -> Result<()>) -> Result<()> {
        if let AnyStore::Postgres(p) = &mut self.backend {
            settle(p, &self.path)?;
            let mut after = 0;
            loop {
                let page = p
                    .records_after(after, 10_000)
                    .map_err(|e| with_path(store_error(e), &self.path))?;
                if page.is_empty() {
                    return Ok(());
                }
                for record in &page {
                    after = record.get("seq").and_then(Value::as_u64).unwrap_or(after);
                    f(after, &record.to_string())?;
                }
            }
        }
        let mut stmt = self
            .conn_ref()?
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
    pub fn verify_audit(&mut self) -> Result<ChainCheck> {
        if let AnyStore::Postgres(p) = &mut self.backend {
            settle(p, &self.path)?;
            let found = p
                .verify_audit()
                .map_err(|e| with_path(store_error(e), &self.path))?;
            return Ok(ChainCheck {
                records: found.records,
                head: found.head,
                broken: (!found.chain.ok).then(|| {
                    (
                        found.chain.first_broken_seq.unwrap_or(0),
                        found
                            .chain
                            .first_broken_seq
                            .map_or(found.records, |s| s.saturating_sub(1)),
                        found.chain.problem.unwrap_or_else(|| "broken link".into()),
                    )
                }),
                unchained: found.unchained,
                signed: 0,
                by_token: 0,
            })
            .and_then(|check| self.check_operators_on_postgres(check));
        }
        let mut check = ChainCheck {
            records: 0,
            head: None,
            broken: None,
            unchained: 0,
            signed: 0,
            by_token: 0,
        };
        // Records an operator decided, checked against their keys once the chain is read.
        let mut decided: Vec<(u64, u64, Value)> = Vec::new();
        let mut prev: Option<Value> = None;
        let mut stmt = self
            .conn_ref()?
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
            if record.get("operator").is_some() {
                decided.push((seq, index, record.clone()));
            }
            check.head = Some((seq, hash));
            prev = Some(record);
            index += 1;
        }
        drop(q);
        drop(stmt);
        check.records = index;
        for (seq, index, record) in &decided {
            match self.check_operator(record) {
                Ok(OperatorCheck::Signed) => check.signed += 1,
                Ok(OperatorCheck::Token) => check.by_token += 1,
                Ok(OperatorCheck::Unsigned) => {}
                Err(why) => {
                    check.broken = Some((*seq, *index, why));
                    check.records = *index;
                    check.head = None;
                    return Ok(check);
                }
            }
        }
        if check.broken.is_none() {
            let total: i64 = self
                .conn_ref()?
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

    /// The operators' signatures of a PostgreSQL chain that verified, checked like SQLite's:
    /// every record an operator decided, against that operator's public key.
    fn check_operators_on_postgres(&mut self, mut check: ChainCheck) -> Result<ChainCheck> {
        if check.broken.is_some() {
            return Ok(check);
        }
        let mut after = 0;
        loop {
            let page = match &mut self.backend {
                AnyStore::Postgres(p) => p
                    .records_after(after, 10_000)
                    .map_err(|e| with_path(store_error(e), &self.path))?,
                AnyStore::Sqlite(_) => return Ok(check),
            };
            if page.is_empty() {
                return Ok(check);
            }
            for record in &page {
                after = record.get("seq").and_then(Value::as_u64).unwrap_or(after);
                if record.get("operator").is_none() {
                    continue;
                }
                match self.check_operator(record) {
                    Ok(OperatorCheck::Signed) => check.signed += 1,
                    Ok(OperatorCheck::Token) => check.by_token += 1,
                    Ok(OperatorCheck::Unsigned) => {}
                    Err(why) => {
                        check.broken = Some((after, after.saturating_sub(1), why));
                        check.head = None;
                        return Ok(check);
                    }
                }
            }
        }
    }

    fn check_operator(&mut self, record: &Value) -> std::result::Result<OperatorCheck, String> {
        behalf_server::operators::signing::check_operator(&mut self.backend, record)
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn_ref()?
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn audit_count(&mut self) -> Result<u64> {
        if let AnyStore::Postgres(p) = &mut self.backend {
            settle(p, &self.path)?;
            return p
                .audit_count()
                .map_err(|e| with_path(store_error(e), &self.path));
        }
        let total: i64 = self
            .conn_ref()?
            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))?;
        Ok(u64::try_from(total).unwrap_or(0))
    }
}

/// Chains what other processes committed and left to the next chainer, so a listing or a
/// check reads the whole log.
fn settle(p: &mut PostgresStore, shown: &Path) -> Result<()> {
    p.chain(u64::MAX)
        .map(drop)
        .map_err(|e| with_path(store_error(e), shown))
}

/// What the CLI does only on its SQLite file; `behalf serve` does it on PostgreSQL.
fn postgres_only_in_serve(what: &str) -> CliError {
    CliError::usage(format!(
        "{what} runs on the SQLite state only; this project's state is on PostgreSQL ({STATE_URL_ENV})"
    ))
    .hint("delivery works on PostgreSQL (`behalf serve` and `behalf webhooks deliver` drain the shared outbox); for the rest, query the webhook_outbox table, or unset BEHALF_STATE_URL for the local state")
}

fn with_path(mut e: CliError, path: &Path) -> CliError {
    if !e.message.contains(&path.display().to_string()) {
        e.message = format!("{}: {}", path.display(), e.message);
    }
    e
}
