//! Moving a project's state from its SQLite file to PostgreSQL (`behalf migrate --from
//! .behalf/state.db --to postgres://…`): every row as it is, the audit chain with its `seq`
//! and hashes unchanged (so it verifies the same after the move), and the webhook outbox with
//! what was still to deliver. The target must be empty: the move never merges two histories.
//! It runs in one PostgreSQL transaction, so a failed move leaves the target as it was.

use std::path::Path;
use std::time::Duration;

use behalf_core::policy::Policy;
use rusqlite::types::Value as SqlValue;

use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::StoreError;

/// What a move copied, table by table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MoveReport {
    pub tables: Vec<(&'static str, u64)>,
}

impl MoveReport {
    pub fn rows(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(0, |(_, n)| *n)
    }
}

/// A table moved as it is: its columns in SQLite and PostgreSQL have the same names.
struct Table {
    name: &'static str,
    columns: &'static [&'static str],
    order: &'static str,
}

/// Tables a SQLite state has only once they were first used (operators and what identifies
/// them): absent, they are copied as empty.
const CREATED_ON_FIRST_USE: &[&str] = &[
    "operators",
    "operator_enrollments",
    "operator_credentials",
    "operator_sessions",
    "operator_tokens",
];

/// Tables in the order they are copied. `webhook_outbox` keeps its ids' order, not its ids.
const TABLES: &[Table] = &[
    Table {
        name: "approvals",
        columns: &[
            "id",
            "permission",
            "passport",
            "fingerprint",
            "status",
            "created_at",
            "expires_at",
            "forget_at",
            "record",
        ],
        order: "created_at, id",
    },
    Table {
        name: "grants",
        columns: &[
            "id",
            "permission",
            "fingerprint",
            "scope",
            "created_at",
            "expires_at",
            "record",
        ],
        order: "created_at, id",
    },
    Table {
        name: "usage",
        columns: &["permission", "record"],
        order: "permission",
    },
    Table {
        name: "audit",
        columns: &[
            "seq",
            "time",
            "event",
            "request_id",
            "decision",
            "reason",
            "approval_id",
            "hash",
            "record",
        ],
        order: "seq",
    },
    Table {
        name: "webhook_outbox",
        columns: &[
            "msg_id",
            "endpoint",
            "seq",
            "event_type",
            "body",
            "status",
            "attempts",
            "next_at",
            "lease_owner",
            "lease_until",
            "last_code",
            "last_error",
            "last_at",
            "created_at",
            "delivered_at",
        ],
        order: "id",
    },
    Table {
        name: "webhook_endpoint",
        columns: &["id", "disabled_at", "disabled_reason", "retry_at"],
        order: "id",
    },
    Table {
        name: "agent_keys",
        columns: &["key_id", "agent_id", "hash", "created_at", "revoked_at"],
        order: "created_at, key_id",
    },
    Table {
        name: "operators",
        columns: &["id", "name", "created_at", "removed_at"],
        order: "created_at, id",
    },
    Table {
        name: "operator_enrollments",
        columns: &["token_hash", "operator_id", "expires_at", "used_at"],
        order: "token_hash",
    },
    Table {
        name: "operator_credentials",
        columns: &["credential_id", "operator_id", "passkey", "created_at"],
        order: "created_at, credential_id",
    },
    Table {
        name: "operator_sessions",
        columns: &["session_hash", "operator_id", "csrf_token", "expires_at"],
        order: "session_hash",
    },
    Table {
        name: "operator_tokens",
        columns: &[
            "token_hash",
            "id",
            "operator_id",
            "label",
            "created_at",
            "revoked_at",
        ],
        order: "created_at, id",
    },
];

/// Columns that hold integers (the rest are text).
const INTEGER_COLUMNS: &[&str] = &[
    "created_at",
    "expires_at",
    "forget_at",
    "seq",
    "attempts",
    "next_at",
    "lease_until",
    "last_code",
    "last_at",
    "delivered_at",
    "disabled_at",
    "retry_at",
];

fn sql(e: rusqlite::Error) -> StoreError {
    StoreError::Fault(format!("reading the SQLite state: {e}"))
}

fn pg(e: postgres::Error) -> StoreError {
    StoreError::Fault(format!("writing to PostgreSQL: {e}"))
}

/// Copies the state at `from` (a `.behalf/state.db`, migrated first if it is of an older
/// schema, which needs `policy`) into the empty PostgreSQL state `to`. `progress` hears
/// (table, rows copied so far, rows in the table) as it goes.
pub fn sqlite_to_postgres(
    from: &Path,
    policy: &Policy,
    to: &mut PostgresStore,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<MoveReport, StoreError> {
    if !from.exists() {
        return Err(StoreError::Fault(format!(
            "there is no state database at {}",
            from.display()
        )));
    }
    let wait = Duration::from_secs(5);
    let mut source = SqliteStore::open(from, wait, wait)?;
    // Schema 1's one-row state becomes rows first, as any first use would do.
    source.read(policy, &mut |_| Ok(()))?;
    let chained = to.chain(u64::MAX)?;
    let client = to.client_for_move()?;
    let mut tx = client.transaction().map_err(pg)?;
    for t in TABLES {
        let n: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {}", t.name), &[])
            .map_err(pg)?
            .get(0);
        if n > 0 || chained > 0 {
            return Err(StoreError::Fault(format!(
                "the PostgreSQL state is not empty ({} has {n} rows): a move never merges two histories; use a new database",
                t.name
            )));
        }
    }
    let conn = source.conn_ref();
    let mut report = MoveReport::default();
    for t in TABLES {
        let present: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [t.name],
                |r| r.get(0),
            )
            .map_err(sql)?;
        if present == 0 && CREATED_ON_FIRST_USE.contains(&t.name) {
            report.tables.push((t.name, 0));
            continue;
        }
        let total: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {}", t.name), [], |r| {
                r.get(0)
            })
            .map_err(sql)?;
        let total = u64::try_from(total).unwrap_or(0);
        let columns = t.columns.join(", ");
        let marks: Vec<String> = (1..=t.columns.len()).map(|i| format!("${i}")).collect();
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {} ({columns}) VALUES ({})",
                t.name,
                marks.join(", ")
            ))
            .map_err(pg)?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {columns} FROM {} ORDER BY {}",
                t.name, t.order
            ))
            .map_err(sql)?;
        let mut rows = stmt.query([]).map_err(sql)?;
        let mut copied = 0u64;
        while let Some(row) = rows.next().map_err(sql)? {
            let mut ints: Vec<Option<i64>> = Vec::new();
            let mut texts: Vec<Option<String>> = Vec::new();
            let mut slots: Vec<(bool, usize)> = Vec::new();
            for (i, c) in t.columns.iter().enumerate() {
                let v: SqlValue = row.get(i).map_err(sql)?;
                if INTEGER_COLUMNS.contains(c) {
                    let n = match v {
                        SqlValue::Null => None,
                        SqlValue::Integer(n) => Some(n),
                        _ => return Err(damaged(t.name, c)),
                    };
                    slots.push((true, ints.len()));
                    ints.push(n);
                } else {
                    let s = match v {
                        SqlValue::Null => None,
                        SqlValue::Text(s) => Some(s),
                        _ => return Err(damaged(t.name, c)),
                    };
                    slots.push((false, texts.len()));
                    texts.push(s);
                }
            }
            // PostgreSQL's INT columns (attempts, last_code) take i32.
            let small: Vec<Option<i32>> = ints
                .iter()
                .map(|n| n.map(|n| i32::try_from(n).unwrap_or(i32::MAX)))
                .collect();
            let args: Vec<&(dyn postgres::types::ToSql + Sync)> = slots
                .iter()
                .zip(t.columns)
                .filter_map(|((int, k), c)| {
                    if *int {
                        if matches!(*c, "attempts" | "last_code") {
                            small
                                .get(*k)
                                .map(|v| v as &(dyn postgres::types::ToSql + Sync))
                        } else {
                            ints.get(*k)
                                .map(|v| v as &(dyn postgres::types::ToSql + Sync))
                        }
                    } else {
                        texts
                            .get(*k)
                            .map(|v| v as &(dyn postgres::types::ToSql + Sync))
                    }
                })
                .collect();
            tx.execute(&insert, &args).map_err(pg)?;
            copied += 1;
            if copied % 10_000 == 0 {
                progress(t.name, copied, total);
            }
        }
        progress(t.name, copied, total);
        report.tables.push((t.name, copied));
    }
    // The chain continues where SQLite's ended.
    let head: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok();
    // PostgreSQL keeps each record's agent in a column of its own (agent-scoped reads).
    tx.execute(
        "UPDATE audit SET agent_id = (record::jsonb) ->> 'agentId'",
        &[],
    )
    .map_err(pg)?;
    if let Some((seq, hash)) = head {
        tx.execute(
            "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
            &[&seq, &hash],
        )
        .map_err(pg)?;
    }
    tx.commit().map_err(pg)?;
    Ok(report)
}

fn damaged(table: &str, column: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "the SQLite state has a value of the wrong type in {table}.{column}"
    ))
}
