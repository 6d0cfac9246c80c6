//! [`Outbox`] on the SQLite state: each claim and each record one `BEGIN IMMEDIATE`
//! transaction (moved from the server's deliverer, which now works on any backend).

use rusqlite::{params, TransactionBehavior};
use serde_json::Value;

use crate::outbox::{Claim, Outbox, OutboxRow, OutboxUpdate};
use crate::sqlite::{sql_error as sql, SqliteStore};
use crate::StoreError;

fn set_retry_at(tx: &rusqlite::Transaction<'_>, endpoint: &str, at: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO webhook_endpoint (id, retry_at) VALUES (?1, ?2)
         ON CONFLICT (id) DO UPDATE SET retry_at = excluded.retry_at",
        params![endpoint, at],
    )
    .map_err(sql)?;
    Ok(())
}

impl Outbox for SqliteStore {
    fn claim_outbox(&mut self, claim: &Claim<'_>) -> Result<Vec<OutboxRow>, StoreError> {
        let now = claim.now;
        let tx = self
            .conn()
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let holders: Vec<String> = {
            let mut stmt = tx
                .prepare(
                    "SELECT DISTINCT lease_owner FROM webhook_outbox
                     WHERE status = 'pending' AND lease_until > ?1 AND lease_owner IS NOT NULL",
                )
                .map_err(sql)?;
            let rows = stmt
                .query_map(params![now], |r| r.get::<_, String>(0))
                .map_err(sql)?;
            rows.collect::<rusqlite::Result<_>>().map_err(sql)?
        };
        for h in holders {
            if h != claim.owner && (claim.gone)(&h) {
                tx.execute(
                    "UPDATE webhook_outbox SET lease_owner = NULL, lease_until = NULL
                     WHERE lease_owner = ?1 AND status = 'pending'",
                    params![h],
                )
                .map_err(sql)?;
            }
        }
        let rows: Vec<OutboxRow> = {
            let mut stmt = tx
                .prepare(
                    "SELECT o.id, o.msg_id, o.endpoint, o.body, o.attempts FROM webhook_outbox o
                     LEFT JOIN webhook_endpoint e ON e.id = o.endpoint
                     WHERE o.status = 'pending' AND o.next_at <= ?1
                       AND (o.lease_until IS NULL OR o.lease_until <= ?1)
                       AND o.endpoint IN (SELECT value FROM json_each(?2))
                       AND (e.id IS NULL OR (e.disabled_at IS NULL AND e.retry_at <= ?1))
                     ORDER BY o.next_at, o.id LIMIT ?3",
                )
                .map_err(sql)?;
            let q = stmt
                .query_map(
                    params![
                        now,
                        Value::from(claim.endpoints.to_vec()).to_string(),
                        i64::try_from(claim.limit).unwrap_or(25)
                    ],
                    |r| {
                        Ok(OutboxRow {
                            id: r.get(0)?,
                            msg_id: r.get(1)?,
                            endpoint: r.get(2)?,
                            body: r.get(3)?,
                            attempts: r.get(4)?,
                        })
                    },
                )
                .map_err(sql)?;
            q.collect::<rusqlite::Result<_>>().map_err(sql)?
        };
        let until = (claim.lease_until)(rows.len());
        for r in &rows {
            tx.execute(
                "UPDATE webhook_outbox SET lease_owner = ?1, lease_until = ?2 WHERE id = ?3",
                params![claim.owner, until, r.id],
            )
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        Ok(rows)
    }

    fn record_outbox(&mut self, updates: &[OutboxUpdate]) -> Result<(), StoreError> {
        let tx = self
            .conn()
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        for update in updates {
            match update {
                OutboxUpdate::Release { id } => {
                    tx.execute(
                        "UPDATE webhook_outbox SET lease_owner = NULL, lease_until = NULL
                         WHERE id = ?1 AND status = 'pending'",
                        params![id],
                    )
                    .map_err(sql)?;
                }
                OutboxUpdate::Delivered {
                    id,
                    endpoint,
                    attempts,
                    code,
                    at,
                } => {
                    tx.execute(
                        "UPDATE webhook_outbox SET status = 'delivered', attempts = ?2,
                         last_code = ?3, last_error = NULL, last_at = ?4, delivered_at = ?4,
                         lease_owner = NULL, lease_until = NULL WHERE id = ?1",
                        params![id, attempts, code, at],
                    )
                    .map_err(sql)?;
                    set_retry_at(&tx, endpoint, 0)?;
                }
                OutboxUpdate::Gone {
                    id,
                    endpoint,
                    attempts,
                    at,
                    reason,
                } => {
                    tx.execute(
                        "UPDATE webhook_outbox SET attempts = ?2, last_code = 410,
                         last_error = '410 Gone: endpoint disabled', last_at = ?3,
                         lease_owner = NULL, lease_until = NULL WHERE id = ?1",
                        params![id, attempts, at],
                    )
                    .map_err(sql)?;
                    tx.execute(
                        "INSERT INTO webhook_endpoint (id, disabled_at, disabled_reason)
                         VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET
                         disabled_at = excluded.disabled_at, disabled_reason = excluded.disabled_reason",
                        params![endpoint, at, reason],
                    )
                    .map_err(sql)?;
                }
                OutboxUpdate::Retry {
                    id,
                    endpoint,
                    give_up,
                    attempts,
                    next_at,
                    code,
                    error,
                    at,
                    endpoint_down,
                } => {
                    tx.execute(
                        "UPDATE webhook_outbox SET status = ?2, attempts = ?3, next_at = ?4,
                         last_code = ?5, last_error = ?6, last_at = ?7,
                         lease_owner = NULL, lease_until = NULL WHERE id = ?1",
                        params![
                            id,
                            if *give_up { "failed" } else { "pending" },
                            attempts,
                            next_at,
                            code,
                            error,
                            at
                        ],
                    )
                    .map_err(sql)?;
                    if *endpoint_down {
                        set_retry_at(&tx, endpoint, *next_at)?;
                    }
                }
            }
        }
        tx.commit().map_err(sql)
    }
}
