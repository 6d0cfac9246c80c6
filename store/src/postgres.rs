//! The PostgreSQL backend: the rows and indexes of the SQLite backend, shared by any number of
//! processes and hosts (DESIGN, "Shared state on PostgreSQL").
//!
//! - **A step is one `SERIALIZABLE` transaction.** Two decisions that touch the same rows (one
//!   budget, one approval) cannot both commit on a stale read: the loser gets SQLSTATE `40001`
//!   (or `40P01`, a deadlock) and [`StateStore::write`] runs the whole step again. Decisions of
//!   different agents touch disjoint rows and do not wait on one another. The same SQL runs on
//!   CockroachDB, whose only isolation level is `SERIALIZABLE`.
//! - **The audit chain is durable first, chained right after.** A step does not read the head of
//!   the chain (every decision would conflict there): it inserts its records into
//!   `audit_inbox`. After the step commits, [`PostgresStore::chain`] takes the single row
//!   `audit_head` `FOR UPDATE` — one chainer at a time, never a decision — and moves inbox rows
//!   into `audit` in order: each gets the next `seq`, its `prevHash` and its `hash`, and its
//!   webhook events enter the outbox in the same transaction. A record is therefore committed
//!   before its decision is answered, and chained once some process (this one, right after)
//!   chains; [`PostgresStore::verify_audit`] checks the chain, that no `seq` is missing, and
//!   reports records not yet chained.
//! - **Migrations are versioned** (`behalf_migrations`) and applied at open under a session
//!   advisory lock, so instances starting together apply each once.
//! - **Fail closed.** An unreachable database is a [`StoreError::Fault`] naming the cause; the
//!   connection is dropped and the next step connects again, so service resumes by itself.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use behalf_core::audit::{
    chain_hash, verify_chain_anchored, Anchor, AuditRecord, ChainReport, GENESIS,
};
use behalf_core::policy::{Policy, Scope, WebhookEndpoint};
use behalf_core::state::{
    approval_from, approval_value, grant_from, grant_value, usage_from, usage_value, Approval,
    ApprovalStatus, Changes, Grant, PendingCounts, RowKeys, Rows, Usage, FORGET_AFTER,
};
use behalf_core::time::Millis;
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, Config, IsolationLevel, NoTls, Statement, Transaction};
use serde_json::Value;

use crate::agent_keys::{AgentKey, AgentKeys};
use crate::listings::{Listings, Scope as ListScope};
use crate::{StateStore, StateTx, StoreError};

/// Rows of each kind forgotten per step at most (as in SQLite).
const PRUNE_PER_STEP: i64 = 16;

/// Inbox records one chaining transaction moves at most.
const CHAIN_BATCH: i64 = 512;

/// The key of the session advisory lock migrations run under ("behalf" in ASCII).
const MIGRATION_LOCK: i64 = 0x6265_6861_6c66;

/// One versioned migration: applied once, in order, each in its own transaction.
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration this behalf knows, oldest first. A new schema change is a new entry;
/// an applied entry is never edited.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "state as rows",
        sql: "
CREATE TABLE approvals (id TEXT PRIMARY KEY, permission TEXT NOT NULL,
    passport TEXT NOT NULL, fingerprint TEXT NOT NULL, status TEXT NOT NULL,
    created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, forget_at BIGINT NOT NULL,
    record TEXT NOT NULL);
CREATE INDEX approvals_by_request ON approvals (fingerprint, permission);
CREATE INDEX approvals_pending_by_passport ON approvals (passport, expires_at)
    WHERE status = 'pending';
CREATE INDEX approvals_pending_by_permission ON approvals (permission, expires_at)
    WHERE status = 'pending';
CREATE INDEX approvals_forget ON approvals (forget_at);
CREATE TABLE grants (id TEXT PRIMARY KEY, permission TEXT NOT NULL,
    fingerprint TEXT NOT NULL, scope TEXT NOT NULL, created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL, record TEXT NOT NULL);
CREATE INDEX grants_by_request ON grants (fingerprint, permission);
CREATE INDEX grants_by_permission ON grants (permission) WHERE scope = 'permission';
CREATE INDEX grants_expiry ON grants (expires_at);
CREATE TABLE usage (permission TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE audit_inbox (id BIGSERIAL PRIMARY KEY, record TEXT NOT NULL,
    endpoints TEXT NOT NULL DEFAULT '');
CREATE TABLE audit_head (id INT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL);
INSERT INTO audit_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE audit (seq BIGINT PRIMARY KEY, time TEXT NOT NULL, event TEXT NOT NULL,
    request_id TEXT, agent_id TEXT, decision TEXT, reason TEXT, approval_id TEXT,
    hash TEXT NOT NULL, record TEXT NOT NULL);
CREATE INDEX audit_request ON audit (request_id);
CREATE INDEX audit_by_agent ON audit (agent_id, seq);
CREATE TABLE webhook_outbox (id BIGSERIAL PRIMARY KEY, msg_id TEXT NOT NULL,
    endpoint TEXT NOT NULL, seq BIGINT NOT NULL, event_type TEXT NOT NULL, body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', attempts INT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL, lease_owner TEXT, lease_until BIGINT, last_code INT,
    last_error TEXT, last_at BIGINT, created_at BIGINT NOT NULL, delivered_at BIGINT,
    UNIQUE (endpoint, msg_id));
CREATE INDEX webhook_outbox_due ON webhook_outbox (status, next_at);
CREATE TABLE webhook_endpoint (id TEXT PRIMARY KEY, disabled_at BIGINT,
    disabled_reason TEXT, retry_at BIGINT NOT NULL DEFAULT 0);
",
    },
    Migration {
        version: 2,
        name: "agent keys",
        sql: "
CREATE TABLE agent_keys (key_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL, revoked_at BIGINT);
",
    },
    Migration {
        version: 3,
        name: "operators",
        sql: crate::postgres_operators::SCHEMA,
    },
    Migration {
        version: 4,
        name: "no audit index by request id",
        // Nothing reads the audit by request id; the index cost a write per decision.
        sql: "DROP INDEX IF EXISTS audit_request;",
    },
];

/// A migration's state in one database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationStatus {
    pub version: i32,
    pub name: &'static str,
    pub applied: bool,
}

/// What [`PostgresStore::verify_audit`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditCheck {
    /// The chain's own check (hashes and links), over every chained record.
    pub chain: ChainReport,
    /// Chained records read.
    pub records: u64,
    /// The last chained record's (seq, hash).
    pub head: Option<(u64, String)>,
    /// Records committed but not chained yet (a chainer will take them).
    pub unchained: u64,
}

pub struct PostgresStore {
    config: Config,
    /// `None` after a connection failure: the next step connects again.
    client: Option<Client>,
    statements: HashMap<&'static str, Statement>,
    /// How long a step keeps retrying serialization failures in all.
    wait: Duration,
}

fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// A failed statement as a store error: a lost serialization race may be retried; a lost
/// connection fails this step closed (the next one reconnects).
pub(crate) fn sql_error(e: postgres::Error) -> StoreError {
    sql(e)
}

fn sql(e: postgres::Error) -> StoreError {
    match e.code() {
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            StoreError::Conflict(format!(
                "the state database reported a conflict: {}",
                describe(&e)
            ))
        }
        Some(c) if c.code().starts_with("08") || c.code().starts_with("57P") => StoreError::Fault(
            format!("the state database is unreachable: {}", describe(&e)),
        ),
        Some(_) => StoreError::Fault(format!("state database error: {}", describe(&e))),
        None if e.is_closed() => StoreError::Fault(format!(
            "the state database is unreachable: the connection closed ({e})"
        )),
        None => StoreError::Fault(format!("the state database is unreachable: {e}")),
    }
}

fn damaged(what: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "a stored {what} is damaged: the saved state cannot be restored"
    ))
}

fn status_text(s: ApprovalStatus) -> &'static str {
    match s {
        ApprovalStatus::Pending => "pending",
        ApprovalStatus::Approved => "approved",
        ApprovalStatus::Denied => "denied",
    }
}

fn hex(fp: &[u8; 32]) -> String {
    behalf_core::audit::hex(fp)
}

/// The URL with its password masked, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`, or `host=/tmp port=…` key-value
    /// form), applies pending migrations, and returns the store. `wait` bounds the retries
    /// of one step.
    pub fn open(url: &str, wait: Duration) -> Result<PostgresStore, StoreError> {
        let mut config = Config::from_str(url).map_err(|e| {
            StoreError::Fault(format!(
                "`{}` is not a PostgreSQL connection string: {e}",
                redact(url)
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(2));
        }
        config.application_name("behalf");
        let mut store = PostgresStore {
            config,
            client: None,
            statements: HashMap::new(),
            wait,
        };
        store.migrate()?;
        Ok(store)
    }

    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            self.statements.clear();
            let client = self.config.connect(NoTls).map_err(|e| {
                StoreError::Fault(format!(
                    "the state database is unreachable: {}",
                    describe(&e)
                ))
            })?;
            self.client = Some(client);
        }
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Fault("the state database is unreachable".into()))
    }

    /// The connection, for moving a SQLite state in ([`crate::migrate`]).
    pub(crate) fn client_for_move(&mut self) -> Result<&mut Client, StoreError> {
        self.client()
    }

    /// Forgets the connection after a failure, so the next step starts on a fresh one.
    fn on_error(&mut self, e: &StoreError) {
        if matches!(e, StoreError::Fault(_)) {
            self.client = None;
            self.statements.clear();
        }
    }

    /// Every migration this behalf knows, and whether the database has it.
    pub fn migration_status(&mut self) -> Result<Vec<MigrationStatus>, StoreError> {
        let client = self.client()?;
        let exists: bool = client
            .query_one("SELECT to_regclass('behalf_migrations') IS NOT NULL", &[])
            .map_err(sql)?
            .get(0);
        let applied: Vec<i32> = if exists {
            client
                .query(
                    "SELECT version FROM behalf_migrations ORDER BY version",
                    &[],
                )
                .map_err(sql)?
                .iter()
                .map(|r| r.get(0))
                .collect()
        } else {
            Vec::new()
        };
        Ok(MIGRATIONS
            .iter()
            .map(|m| MigrationStatus {
                version: m.version,
                name: m.name,
                applied: applied.contains(&m.version),
            })
            .collect())
    }

    /// Applies the pending migrations under the advisory lock; returns the versions applied.
    pub fn migrate(&mut self) -> Result<Vec<i32>, StoreError> {
        let result = (|| {
            let client = self.client()?;
            // The lock first: even `CREATE TABLE IF NOT EXISTS` races with itself.
            client
                .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
                .map_err(sql)?;
            let applied = ensure_migration_table(client).and_then(|()| apply_migrations(client));
            let unlocked = client
                .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
                .map_err(sql);
            let applied = applied?;
            unlocked?;
            Ok(applied)
        })();
        if let Err(e) = &result {
            self.on_error(e);
        }
        result
    }

    /// Chains committed inbox records into `audit` until the inbox is empty (or `limit`
    /// records moved); returns how many it chained. Any process may call it at any time: the
    /// head row's lock lets one chainer run at once (this one waits for it), and a record is
    /// chained exactly once.
    pub fn chain(&mut self, limit: u64) -> Result<u64, StoreError> {
        self.chain_while(limit, true)
    }

    /// [`chain`](Self::chain), unless another process is chaining right now: then it returns
    /// at once (0), leaving the records to that chainer or the next. What a step runs after it
    /// commits, so no decision waits for another instance's chaining. A record committed just
    /// after a busy chainer read the inbox waits for the next chain anywhere (`behalf serve`
    /// runs one every 250 ms; the CLI's audit commands chain before they read).
    pub fn chain_if_free(&mut self, limit: u64) -> Result<u64, StoreError> {
        self.chain_while(limit, false)
    }

    fn chain_while(&mut self, limit: u64, wait: bool) -> Result<u64, StoreError> {
        let mut moved = 0;
        while moved < limit {
            let n = self.chain_batch(wait)?;
            if n == 0 {
                break;
            }
            moved += n;
        }
        Ok(moved)
    }

    fn chain_batch(&mut self, wait: bool) -> Result<u64, StoreError> {
        let result = (|| {
            let client = self.client()?;
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::ReadCommitted)
                .start()
                .map_err(sql)?;
            let head = if wait {
                tx.query_opt(
                    "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
                    &[],
                )
            } else {
                tx.query_opt(
                    "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE SKIP LOCKED",
                    &[],
                )
            }
            .map_err(sql)?;
            let Some(head) = head else {
                // Another process is chaining: it (or the next chainer) takes these records.
                tx.commit().map_err(sql)?;
                return Ok(0);
            };
            let (mut seq, mut prev): (i64, String) = (head.get(0), head.get(1));
            let inbox = tx
                .query(
                    "SELECT id, record, endpoints FROM audit_inbox ORDER BY id LIMIT $1",
                    &[&CHAIN_BATCH],
                )
                .map_err(sql)?;
            if inbox.is_empty() {
                tx.commit().map_err(sql)?;
                return Ok(0);
            }
            let insert = tx
                .prepare(
                    "INSERT INTO audit (seq, time, event, request_id, agent_id, decision, reason,
                         approval_id, hash, record)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .map_err(sql)?;
            let outbox = tx
                .prepare(
                    "INSERT INTO webhook_outbox (msg_id, endpoint, seq, event_type, body,
                         next_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $6)
                     ON CONFLICT (endpoint, msg_id) DO NOTHING",
                )
                .map_err(sql)?;
            let now = crate::wall_ms();
            let mut ids = Vec::with_capacity(inbox.len());
            for row in &inbox {
                let id: i64 = row.get(0);
                let text: String = row.get(1);
                let endpoints: String = row.get(2);
                // Chained as stored JSON, not through the typed record: whatever fields a
                // record carries (an operator's signature, a new event) are hashed and kept.
                let Ok(Value::Object(mut body)) = serde_json::from_str::<Value>(&text) else {
                    return Err(damaged("audit record"));
                };
                seq += 1;
                body.remove("hash");
                body.insert("seq".into(), Value::from(seq));
                body.insert("prevHash".into(), Value::String(prev.clone()));
                let body = Value::Object(body);
                let hash = chain_hash(&prev, &body);
                let mut record = body;
                if let Value::Object(map) = &mut record {
                    map.insert("hash".into(), Value::String(hash.clone()));
                }
                let field = |k: &str| record.get(k).and_then(Value::as_str).map(str::to_string);
                tx.execute(
                    &insert,
                    &[
                        &seq,
                        &field("time").unwrap_or_default(),
                        &field("event").unwrap_or_default(),
                        &field("requestId"),
                        &field("agentId"),
                        &field("decision"),
                        &field("reason"),
                        &field("approvalId"),
                        &hash,
                        &record.to_string(),
                    ],
                )
                .map_err(sql)?;
                if !endpoints.is_empty() {
                    let msg_id = format!("msg_{}", hash.get(..32).unwrap_or(&hash));
                    let body = behalf_core::webhook::event_payload_of(&record).to_string();
                    let event_type = behalf_core::webhook::event_type_of(&record);
                    for endpoint in endpoints.split('\n') {
                        tx.execute(
                            &outbox,
                            &[&msg_id, &endpoint, &seq, &event_type, &body, &now],
                        )
                        .map_err(sql)?;
                    }
                }
                prev = hash;
                ids.push(id);
            }
            tx.execute("DELETE FROM audit_inbox WHERE id = ANY($1)", &[&ids])
                .map_err(sql)?;
            tx.execute(
                "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
                &[&seq, &prev],
            )
            .map_err(sql)?;
            tx.commit().map_err(sql)?;
            Ok(u64::try_from(ids.len()).unwrap_or(0))
        })();
        if let Err(e) = &result {
            self.on_error(e);
        }
        result
    }

    /// Forgets a bounded number of rows that expired by `now` (oldest first). `READ
    /// COMMITTED`: two processes pruning the same row both succeed, one of them deleting it.
    pub fn prune_expired(&mut self, now: Millis) -> Result<(), StoreError> {
        let result = (|| {
            let client = self.client()?;
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::ReadCommitted)
                .start()
                .map_err(sql)?;
            tx.execute(
                "DELETE FROM approvals WHERE id IN
                     (SELECT id FROM approvals WHERE forget_at <= $1 ORDER BY forget_at LIMIT $2)",
                &[&now, &PRUNE_PER_STEP],
            )
            .map_err(sql)?;
            tx.execute(
                "DELETE FROM grants WHERE id IN
                     (SELECT id FROM grants WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)",
                &[&now, &PRUNE_PER_STEP],
            )
            .map_err(sql)?;
            tx.commit().map_err(sql)
        })();
        if let Err(e) = &result {
            self.on_error(e);
        }
        result
    }

    /// The approval `id` as the engine saved it: what an operator's signature commits to.
    pub fn approval_for_signing(&mut self, id: &str) -> Result<Option<Value>, StoreError> {
        self.with_client(|c| {
            let row = c
                .query_opt("SELECT record FROM approvals WHERE id = $1", &[&id])
                .map_err(sql)?;
            row.map(|r| {
                serde_json::from_str(r.get::<_, &str>(0)).map_err(|_| {
                    StoreError::Corrupt(format!("the stored approval `{id}` is damaged"))
                })
            })
            .transpose()
        })
    }

    /// The last `n` chained records with `seq` greater than `after`, oldest first, as
    /// (seq, record).
    pub fn audit_tail(&mut self, n: u64, after: u64) -> Result<Vec<(u64, Value)>, StoreError> {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let result = (|| {
            let client = self.client()?;
            let rows = client
                .query(
                    "SELECT seq, record FROM (SELECT seq, record FROM audit WHERE seq > $2
                     ORDER BY seq DESC LIMIT $1) AS tail ORDER BY seq",
                    &[&n, &after],
                )
                .map_err(sql)?;
            rows.iter()
                .map(|r| {
                    let seq: i64 = r.get(0);
                    let text: &str = r.get(1);
                    let value = serde_json::from_str(text).map_err(|_| damaged("audit record"))?;
                    Ok((u64::try_from(seq).unwrap_or(0), value))
                })
                .collect()
        })();
        if let Err(e) = &result {
            self.on_error(e);
        }
        result
    }

    /// How many records are chained.
    pub fn audit_count(&mut self) -> Result<u64, StoreError> {
        let result = (|| {
            let client = self.client()?;
            let n: i64 = client
                .query_one("SELECT count(*) FROM audit", &[])
                .map_err(sql)?
                .get(0);
            Ok(u64::try_from(n).unwrap_or(0))
        })();
        if let Err(e) = &result {
            self.on_error(e);
        }
        result
    }

    /// Chained records with `seq` greater than `after`, oldest first, at most `limit`.
    pub fn records_after(&mut self, after: u64, limit: u64) -> Result<Vec<Value>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let result = (|| {
            let client = self.client()?;
            let rows = client
                .query(
                    "SELECT record FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                    &[&after, &limit],
                )
                .map_err(sql)?;
            rows.iter()
                .map(|r| {
                    serde_json::from_str(r.get::<_, &str>(0)).map_err(|_| damaged("audit record"))
                })
                .collect()
        })();
        if let Err(e) = &result {
            self.on_error(e);
        }
        result
    }

    /// Checks the whole chain: hashes and links, `seq` from 1 with none missing, the last
    /// record at the stored head, and how many committed records wait to be chained. Reads in
    /// pages (each checked with the page before's last record as its anchor), so memory stays
    /// flat with the log's length.
    pub fn verify_audit(&mut self) -> Result<AuditCheck, StoreError> {
        let mut records = 0u64;
        let mut broken: Option<ChainReport> = None;
        let mut carry: Option<Value> = None;
        loop {
            let after = carry
                .as_ref()
                .and_then(|r| r.get("seq"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let page = self.records_after(after, 10_000)?;
            if page.is_empty() {
                break;
            }
            records += u64::try_from(page.len()).unwrap_or(0);
            let mut window: Vec<Value> = carry.take().into_iter().collect();
            let anchor = Anchor {
                first_seq: Some(after.max(1)),
                last_hash: None,
            };
            window.extend(page);
            let report = verify_chain_anchored(&window, &anchor);
            carry = window.pop();
            if !report.ok {
                broken = Some(report);
                break;
            }
        }
        let (head_seq, head_hash, unchained) = {
            let client = self.client()?;
            let head = client
                .query_one("SELECT seq, hash FROM audit_head WHERE id = 1", &[])
                .map_err(sql)?;
            let unchained: i64 = client
                .query_one("SELECT count(*) FROM audit_inbox", &[])
                .map_err(sql)?
                .get(0);
            (head.get::<_, i64>(0), head.get::<_, String>(1), unchained)
        };
        let last_seq = carry
            .as_ref()
            .and_then(|r| r.get("seq"))
            .and_then(Value::as_u64);
        let last_hash = carry
            .as_ref()
            .and_then(|r| r.get("hash"))
            .and_then(Value::as_str);
        let chain = match broken {
            Some(report) => report,
            None if last_seq.unwrap_or(0) != u64::try_from(head_seq).unwrap_or(0)
                || last_hash.unwrap_or(GENESIS) != head_hash =>
            {
                ChainReport {
                    ok: false,
                    records: usize::try_from(records).unwrap_or(usize::MAX),
                    first_broken: None,
                    first_broken_seq: last_seq,
                    problem: Some(format!(
                        "the chain does not end at the stored head (seq {head_seq}): records are missing at the end"
                    )),
                }
            }
            None => ChainReport {
                ok: true,
                records: usize::try_from(records).unwrap_or(usize::MAX),
                first_broken: None,
                first_broken_seq: None,
                problem: None,
            },
        };
        Ok(AuditCheck {
            chain,
            records,
            head: last_seq.zip(last_hash.map(str::to_string)),
            unchained: u64::try_from(unchained).unwrap_or(0),
        })
    }

    /// Runs `step` in a read-only transaction (listings).
    pub fn read<T>(
        &mut self,
        step: &mut dyn FnMut(&mut PostgresTx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let result = (|| {
            self.client()?;
            let PostgresStore {
                client, statements, ..
            } = &mut *self;
            let client = client
                .as_mut()
                .ok_or_else(|| StoreError::Fault("the state database is unreachable".into()))?;
            let tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(sql)?;
            let mut ptx = PostgresTx {
                tx,
                statements,
                inbox_ids: Vec::new(),
                prune_at: None,
            };
            let out = step(&mut ptx)?;
            ptx.tx.commit().map_err(sql)?;
            Ok(out)
        })();
        if let Err(e) = &result {
            self.on_error(e);
        }
        result
    }
}

fn ensure_migration_table(client: &mut Client) -> Result<(), StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS behalf_migrations (version INT PRIMARY KEY,
                 name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .map_err(sql)
}

fn apply_migrations(client: &mut Client) -> Result<Vec<i32>, StoreError> {
    let applied: Vec<i32> = client
        .query("SELECT version FROM behalf_migrations", &[])
        .map_err(sql)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if let Some(newer) = applied
        .iter()
        .find(|v| !MIGRATIONS.iter().any(|m| m.version == **v))
    {
        return Err(StoreError::Fault(format!(
            "the state database has migration {newer}, which this behalf does not know: it was migrated by a newer behalf"
        )));
    }
    let mut done = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let mut tx = client.transaction().map_err(sql)?;
        tx.batch_execute(m.sql).map_err(|e| {
            StoreError::Fault(format!(
                "migration {} ({}) failed: {}",
                m.version,
                m.name,
                describe(&e)
            ))
        })?;
        tx.execute(
            "INSERT INTO behalf_migrations (version, name) VALUES ($1, $2)",
            &[&m.version, &m.name],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        done.push(m.version);
    }
    Ok(done)
}

impl StateStore for PostgresStore {
    type Tx<'a> = PostgresTx<'a>;

    fn write<T, F>(&mut self, _policy: &Policy, mut step: F) -> Result<T, StoreError>
    where
        F: FnMut(&mut PostgresTx<'_>) -> Result<T, StoreError>,
    {
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let attempt = (|| {
                self.client()?;
                let PostgresStore {
                    client, statements, ..
                } = &mut *self;
                let client = client
                    .as_mut()
                    .ok_or_else(|| StoreError::Fault("the state database is unreachable".into()))?;
                let tx = client
                    .build_transaction()
                    .isolation_level(IsolationLevel::Serializable)
                    .start()
                    .map_err(sql)?;
                let mut ptx = PostgresTx {
                    tx,
                    statements,
                    inbox_ids: Vec::new(),
                    prune_at: None,
                };
                let out = step(&mut ptx)?;
                let wrote_audit = !ptx.inbox_ids.is_empty();
                let prune_at = ptx.prune_at;
                ptx.tx.commit().map_err(sql)?;
                Ok((out, wrote_audit, prune_at))
            })();
            match attempt {
                Ok((out, wrote_audit, prune_at)) => {
                    if wrote_audit {
                        // Durable already; chain it now, so the log reads in order. A failure
                        // here leaves the records in the inbox for the next chainer.
                        let _ = self.chain_if_free(u64::MAX);
                    }
                    if let Some(now) = prune_at {
                        // Housekeeping, outside the step: it never decides anything.
                        let _ = self.prune_expired(now);
                    }
                    return Ok(out);
                }
                Err(StoreError::Conflict(why)) => {
                    if started.elapsed() >= self.wait {
                        return Err(StoreError::Conflict(why));
                    }
                    // Back off a little, with jitter, so two losers do not collide again in
                    // step.
                    std::thread::sleep(pause + jitter(pause));
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => {
                    self.on_error(&e);
                    return Err(e);
                }
            }
        }
    }
}

/// Up to `max` more, varying from call to call and process to process (the clock's
/// nanoseconds mixed with the process id); not for anything but spreading retries.
fn jitter(max: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let mixed = (nanos ^ u64::from(std::process::id()).wrapping_mul(0x9e37_79b9))
        .wrapping_mul(0x2545_f491_4f6c_dd1d);
    let span = u64::try_from(max.as_micros()).unwrap_or(u64::MAX).max(1);
    Duration::from_micros(mixed % span)
}

pub struct PostgresTx<'c> {
    tx: Transaction<'c>,
    statements: &'c mut HashMap<&'static str, Statement>,
    /// The inbox rows of this step's audit records, in order (for their webhook endpoints).
    inbox_ids: Vec<i64>,
    /// The step's `now`, for pruning after it commits.
    prune_at: Option<Millis>,
}

impl PostgresTx<'_> {
    /// A prepared statement for `text`, prepared once per connection.
    fn statement(&mut self, text: &'static str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.get(text) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(text).map_err(sql)?;
        self.statements.insert(text, s.clone());
        Ok(s)
    }

    fn query(
        &mut self,
        text: &'static str,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, StoreError> {
        let s = self.statement(text)?;
        self.tx.query(&s, args).map_err(sql)
    }

    fn execute(
        &mut self,
        text: &'static str,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let s = self.statement(text)?;
        self.tx.execute(&s, args).map_err(sql)
    }

    fn approvals(
        &mut self,
        policy: &Policy,
        text: &'static str,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Approval>, StoreError> {
        let mut out = Vec::new();
        for row in self.query(text, args)? {
            let v: Value =
                serde_json::from_str(row.get::<_, &str>(0)).map_err(|_| damaged("approval"))?;
            // An approval of a permission the policy no longer has can match nothing.
            if let Some(a) = approval_from(&v, policy) {
                out.push(a);
            }
        }
        Ok(out)
    }

    fn grants(
        &mut self,
        policy: &Policy,
        text: &'static str,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Grant>, StoreError> {
        let mut out = Vec::new();
        for row in self.query(text, args)? {
            let v: Value =
                serde_json::from_str(row.get::<_, &str>(0)).map_err(|_| damaged("grant"))?;
            if let Some(g) = grant_from(&v, policy) {
                out.push(g);
            }
        }
        Ok(out)
    }

    fn usage_of(&mut self, policy: &Policy, permission: &str) -> Result<Option<Usage>, StoreError> {
        let Some((_, p)) = policy.permission(permission) else {
            return Ok(None);
        };
        let rows = self.query(
            "SELECT record FROM usage WHERE permission = $1",
            &[&permission],
        )?;
        match rows.first() {
            None => Ok(None),
            Some(row) => {
                let v: Value = serde_json::from_str(row.get::<_, &str>(0))
                    .map_err(|_| damaged("usage row"))?;
                usage_from(&v, p)
                    .map(Some)
                    .ok_or_else(|| damaged("usage row"))
            }
        }
    }

    fn count(&mut self, text: &'static str, key: &str, now: Millis) -> Result<usize, StoreError> {
        let rows = self.query(text, &[&key, &now])?;
        let n: i64 = rows.first().map_or(0, |r| r.get(0));
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn pending_counts(
        &mut self,
        passport: &Arc<str>,
        permissions: &[Arc<str>],
        now: Millis,
    ) -> Result<PendingCounts, StoreError> {
        let mut counts = PendingCounts::default();
        counts.by_passport.push((
            passport.clone(),
            self.count(
                "SELECT count(*) FROM approvals WHERE passport = $1 AND status = 'pending' AND expires_at > $2",
                passport,
                now,
            )?,
        ));
        for p in permissions {
            counts.by_permission.push((
                p.clone(),
                self.count(
                    "SELECT count(*) FROM approvals WHERE permission = $1 AND status = 'pending' AND expires_at > $2",
                    p,
                    now,
                )?,
            ));
        }
        Ok(counts)
    }
}

impl StateTx for PostgresTx<'_> {
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
            let approvals = self.approvals(
                policy,
                "SELECT record FROM approvals WHERE fingerprint = $1 AND permission = $2
                     AND status != 'approved' AND expires_at > $3 ORDER BY created_at, id",
                &[&fp, &p_text, &now],
            )?;
            rows.approvals.extend(approvals);
            let grants = self.grants(
                policy,
                "SELECT record FROM grants WHERE fingerprint = $1 AND permission = $2
                     AND scope = 'request' AND expires_at > $3 ORDER BY created_at, id",
                &[&fp, &p_text, &now],
            )?;
            rows.grants.extend(grants);
            let grants = self.grants(
                policy,
                "SELECT record FROM grants WHERE permission = $1 AND scope = 'permission'
                     AND expires_at > $2 ORDER BY created_at, id",
                &[&p_text, &now],
            )?;
            rows.grants.extend(grants);
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
            approvals: self.approvals(
                policy,
                "SELECT record FROM approvals WHERE id = $1 AND forget_at > $2
                     ORDER BY created_at, id",
                &[&id, &now],
            )?,
            ..Rows::default()
        };
        let first = rows
            .approvals
            .first()
            .map(|a| (a.passport.clone(), a.permission.clone()));
        rows.pending = Some(match first {
            Some((passport, permission)) => {
                self.pending_counts(&passport, std::slice::from_ref(&permission), now)?
            }
            None => PendingCounts::default(),
        });
        Ok(rows)
    }

    fn grant(
        &mut self,
        policy: &Policy,
        id: &str,
        now: Millis,
    ) -> Result<Option<Grant>, StoreError> {
        Ok(self
            .grants(
                policy,
                "SELECT record FROM grants WHERE id = $1 AND expires_at > $2
                     ORDER BY created_at, id",
                &[&id, &now],
            )?
            .into_iter()
            .next())
    }

    fn all_rows(&mut self, policy: &Policy, now: Millis) -> Result<Rows, StoreError> {
        let mut rows = Rows {
            approvals: self.approvals(
                policy,
                "SELECT record FROM approvals WHERE forget_at > $1 ORDER BY created_at, id",
                &[&now],
            )?,
            grants: self.grants(
                policy,
                "SELECT record FROM grants WHERE expires_at > $1 ORDER BY created_at, id",
                &[&now],
            )?,
            ..Rows::default()
        };
        let names: Vec<String> = self
            .query("SELECT permission FROM usage ORDER BY permission", &[])?
            .iter()
            .map(|r| r.get(0))
            .collect();
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
        for a in &changes.approvals {
            self.execute(
                "INSERT INTO approvals (id, permission, passport, fingerprint, status, created_at,
                     expires_at, forget_at, record) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status,
                     expires_at = excluded.expires_at, forget_at = excluded.forget_at,
                     record = excluded.record",
                &[
                    &a.id,
                    &&*a.permission,
                    &&*a.passport,
                    &hex(&a.fingerprint),
                    &status_text(a.status),
                    &a.created_at,
                    &a.expires_at,
                    &a.expires_at.saturating_add(FORGET_AFTER),
                    &approval_value(a).to_string(),
                ],
            )?;
        }
        for g in &changes.grants {
            let scope = match g.scope {
                Scope::Permission => "permission",
                Scope::Request => "request",
            };
            self.execute(
                "INSERT INTO grants (id, permission, fingerprint, scope, created_at, expires_at,
                     record) VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET record = excluded.record",
                &[
                    &g.id,
                    &&*g.permission,
                    &hex(&g.fingerprint),
                    &scope,
                    &g.created_at,
                    &g.expires_at,
                    &grant_value(g).to_string(),
                ],
            )?;
        }
        for id in &changes.grants_removed {
            self.execute("DELETE FROM grants WHERE id = $1", &[id])?;
        }
        for (p, u) in &changes.usage {
            self.execute(
                "INSERT INTO usage (permission, record) VALUES ($1, $2)
                 ON CONFLICT (permission) DO UPDATE SET record = excluded.record",
                &[&&**p, &usage_value(p, u).to_string()],
            )?;
        }
        Ok(())
    }

    /// Inserts the records into the inbox, durable with the step; they are chained (given
    /// `seq`, `prevHash`, `hash`) right after the step commits, so the records returned here
    /// are not chained yet.
    fn append_audit(&mut self, records: Vec<AuditRecord>) -> Result<Vec<AuditRecord>, StoreError> {
        for record in &records {
            let rows = self.query(
                "INSERT INTO audit_inbox (record) VALUES ($1) RETURNING id",
                &[&record.to_value().to_string()],
            )?;
            let id: i64 = rows.first().map(|r| r.get(0)).ok_or_else(|| {
                StoreError::Fault("the state database did not return the audit row's id".into())
            })?;
            self.inbox_ids.push(id);
        }
        Ok(records)
    }

    /// Notes on each inbox row the endpoints that want its event; the chainer queues them in
    /// the outbox when it chains the record (the message id is derived from the record's hash).
    fn enqueue_webhooks(
        &mut self,
        records: &[AuditRecord],
        endpoints: &[WebhookEndpoint],
    ) -> Result<(), StoreError> {
        if endpoints.is_empty() {
            return Ok(());
        }
        let ids = self.inbox_ids.clone();
        let first = ids.len().saturating_sub(records.len());
        for (record, id) in records.iter().zip(ids.iter().skip(first)) {
            let event_type = record.event_type();
            let wanted: Vec<&str> = endpoints
                .iter()
                .filter(|w| w.wants(&event_type))
                .map(|w| w.id.as_str())
                .collect();
            if wanted.is_empty() {
                continue;
            }
            self.execute(
                "UPDATE audit_inbox SET endpoints = $1 WHERE id = $2",
                &[&wanted.join("\n"), id],
            )?;
        }
        Ok(())
    }

    /// Notes `now`: expired rows are forgotten right after the step commits, in a
    /// transaction of their own. Pruning in the `SERIALIZABLE` step would make every step read
    /// the same expiry range, so concurrent decisions would conflict over housekeeping.
    fn prune(&mut self, now: Millis) -> Result<(), StoreError> {
        self.prune_at = Some(now);
        Ok(())
    }
}

impl PostgresStore {
    /// Runs `f` on the connection (one statement, autocommit), forgetting the connection when
    /// it failed.
    pub(crate) fn with_client<T>(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let result = self.client().and_then(f);
        if let Err(e) = &result {
            self.on_error(e);
        }
        result
    }
}

fn agent_key_row(row: &postgres::Row) -> AgentKey {
    AgentKey {
        key_id: row.get(0),
        agent_id: row.get(1),
        created_at: row.get(2),
        revoked_at: row.get(3),
    }
}

impl AgentKeys for PostgresStore {
    fn create_agent_key(&mut self, key: &AgentKey, hash: &str) -> Result<(), StoreError> {
        self.with_client(|c| {
            c.execute(
                "INSERT INTO agent_keys (key_id, agent_id, hash, created_at, revoked_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &key.key_id,
                    &key.agent_id,
                    &hash,
                    &key.created_at,
                    &key.revoked_at,
                ],
            )
            .map_err(sql)?;
            Ok(())
        })
    }

    fn agent_keys(&mut self) -> Result<Vec<AgentKey>, StoreError> {
        self.with_client(|c| {
            Ok(c.query(
                "SELECT key_id, agent_id, created_at, revoked_at FROM agent_keys
                 ORDER BY created_at, key_id",
                &[],
            )
            .map_err(sql)?
            .iter()
            .map(agent_key_row)
            .collect())
        })
    }

    fn revoke_agent_key(&mut self, key_id: &str, now: Millis) -> Result<bool, StoreError> {
        self.with_client(|c| {
            let n = c
                .execute(
                    "UPDATE agent_keys SET revoked_at = coalesce(revoked_at, $2) WHERE key_id = $1",
                    &[&key_id, &now],
                )
                .map_err(sql)?;
            Ok(n > 0)
        })
    }

    fn agent_key_by_hash(&mut self, hash: &str) -> Result<Option<AgentKey>, StoreError> {
        self.with_client(|c| {
            Ok(c.query_opt(
                "SELECT key_id, agent_id, created_at, revoked_at FROM agent_keys WHERE hash = $1",
                &[&hash],
            )
            .map_err(sql)?
            .as_ref()
            .map(agent_key_row))
        })
    }
}

fn values(rows: &[postgres::Row], what: &str) -> Result<Vec<Value>, StoreError> {
    rows.iter()
        .map(|r| serde_json::from_str(r.get::<_, &str>(0)).map_err(|_| damaged(what)))
        .collect()
}

impl Listings for PostgresStore {
    fn approval(&mut self, id: &str, now: Millis) -> Result<Option<Value>, StoreError> {
        self.with_client(|c| {
            let rows = c
                .query(
                    "SELECT record FROM approvals WHERE id = $1 AND forget_at > $2",
                    &[&id, &now],
                )
                .map_err(sql)?;
            Ok(values(&rows, "approval")?.into_iter().next())
        })
    }

    fn open_approvals(
        &mut self,
        scope: ListScope<'_>,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<Value>, StoreError> {
        let limit = i64::from(limit);
        self.with_client(|c| {
            let rows = match scope {
                ListScope::All => c.query(
                    "SELECT record FROM approvals WHERE status = 'pending' AND expires_at > $1
                     ORDER BY created_at, id LIMIT $2",
                    &[&now, &limit],
                ),
                ListScope::Agent(agent) => c.query(
                    "SELECT record FROM approvals WHERE status = 'pending' AND expires_at > $1
                     AND (record::jsonb) #>> '{request,agentId}' = $3
                     ORDER BY created_at, id LIMIT $2",
                    &[&now, &limit, &agent],
                ),
            }
            .map_err(sql)?;
            values(&rows, "approval")
        })
    }

    fn live_grants(
        &mut self,
        scope: ListScope<'_>,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<Value>, StoreError> {
        let limit = i64::from(limit);
        self.with_client(|c| {
            let rows = match scope {
                ListScope::All => c.query(
                    "SELECT record FROM grants WHERE expires_at > $1
                     ORDER BY created_at, id LIMIT $2",
                    &[&now, &limit],
                ),
                ListScope::Agent(agent) => c.query(
                    "SELECT record FROM grants WHERE expires_at > $1
                     AND (record::jsonb) #>> '{request,agentId}' = $3
                     ORDER BY created_at, id LIMIT $2",
                    &[&now, &limit, &agent],
                ),
            }
            .map_err(sql)?;
            values(&rows, "grant")
        })
    }

    fn audit_after(
        &mut self,
        scope: ListScope<'_>,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Value>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::from(limit);
        self.with_client(|c| {
            let rows = match scope {
                ListScope::All => c.query(
                    "SELECT record FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                    &[&after, &limit],
                ),
                ListScope::Agent(agent) => c.query(
                    "SELECT record FROM audit WHERE agent_id = $3 AND seq > $1
                     ORDER BY seq LIMIT $2",
                    &[&after, &limit, &agent],
                ),
            }
            .map_err(sql)?;
            values(&rows, "audit record")
        })
    }

    fn audit_head(&mut self) -> Result<u64, StoreError> {
        self.with_client(|c| {
            let seq: i64 = c
                .query_one("SELECT seq FROM audit_head WHERE id = 1", &[])
                .map_err(sql)?
                .get(0);
            Ok(u64::try_from(seq).unwrap_or(0))
        })
    }
}
