//! [`Outbox`] on PostgreSQL: the same claim and record as SQLite's, in `READ COMMITTED`
//! transactions. Due rows are claimed `FOR UPDATE SKIP LOCKED`, so deliverers of several
//! instances take disjoint messages without waiting on one another.

use postgres::IsolationLevel;

use crate::outbox::{Claim, Outbox, OutboxRow, OutboxUpdate};
use crate::postgres::{sql_error as sql, PostgresStore};
use crate::StoreError;

fn set_retry_at(
    tx: &mut postgres::Transaction<'_>,
    endpoint: &str,
    at: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO webhook_endpoint (id, retry_at) VALUES ($1, $2)
         ON CONFLICT (id) DO UPDATE SET retry_at = excluded.retry_at",
        &[&endpoint, &at],
    )
    .map_err(sql)?;
    Ok(())
}

fn small(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl Outbox for PostgresStore {
    fn claim_outbox(&mut self, claim: &Claim<'_>) -> Result<Vec<OutboxRow>, StoreError> {
        self.with_client(|c| {
            let now = claim.now;
            let mut tx = c
                .build_transaction()
                .isolation_level(IsolationLevel::ReadCommitted)
                .start()
                .map_err(sql)?;
            let holders: Vec<String> = tx
                .query(
                    "SELECT DISTINCT lease_owner FROM webhook_outbox
                     WHERE status = 'pending' AND lease_until > $1 AND lease_owner IS NOT NULL",
                    &[&now],
                )
                .map_err(sql)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            for h in holders {
                if h != claim.owner && (claim.gone)(&h) {
                    tx.execute(
                        "UPDATE webhook_outbox SET lease_owner = NULL, lease_until = NULL
                         WHERE lease_owner = $1 AND status = 'pending'",
                        &[&h],
                    )
                    .map_err(sql)?;
                }
            }
            let limit = i64::try_from(claim.limit).unwrap_or(25);
            let endpoints = claim.endpoints.to_vec();
            let rows: Vec<OutboxRow> = tx
                .query(
                    "SELECT o.id, o.msg_id, o.endpoint, o.body, o.attempts FROM webhook_outbox o
                     LEFT JOIN webhook_endpoint e ON e.id = o.endpoint
                     WHERE o.status = 'pending' AND o.next_at <= $1
                       AND (o.lease_until IS NULL OR o.lease_until <= $1)
                       AND o.endpoint = ANY($2)
                       AND (e.id IS NULL OR (e.disabled_at IS NULL AND e.retry_at <= $1))
                     ORDER BY o.next_at, o.id LIMIT $3
                     FOR UPDATE OF o SKIP LOCKED",
                    &[&now, &endpoints, &limit],
                )
                .map_err(sql)?
                .iter()
                .map(|r| OutboxRow {
                    id: r.get(0),
                    msg_id: r.get(1),
                    endpoint: r.get(2),
                    body: r.get(3),
                    attempts: i64::from(r.get::<_, i32>(4)),
                })
                .collect();
            let until = (claim.lease_until)(rows.len());
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            tx.execute(
                "UPDATE webhook_outbox SET lease_owner = $1, lease_until = $2 WHERE id = ANY($3)",
                &[&claim.owner, &until, &ids],
            )
            .map_err(sql)?;
            tx.commit().map_err(sql)?;
            Ok(rows)
        })
    }

    fn record_outbox(&mut self, updates: &[OutboxUpdate]) -> Result<(), StoreError> {
        self.with_client(|c| {
            let mut tx = c
                .build_transaction()
                .isolation_level(IsolationLevel::ReadCommitted)
                .start()
                .map_err(sql)?;
            for update in updates {
                match update {
                    OutboxUpdate::Release { id } => {
                        tx.execute(
                            "UPDATE webhook_outbox SET lease_owner = NULL, lease_until = NULL
                             WHERE id = $1 AND status = 'pending'",
                            &[id],
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
                            "UPDATE webhook_outbox SET status = 'delivered', attempts = $2,
                             last_code = $3, last_error = NULL, last_at = $4, delivered_at = $4,
                             lease_owner = NULL, lease_until = NULL WHERE id = $1",
                            &[id, &small(*attempts), &small(*code), at],
                        )
                        .map_err(sql)?;
                        set_retry_at(&mut tx, endpoint, 0)?;
                    }
                    OutboxUpdate::Gone {
                        id,
                        endpoint,
                        attempts,
                        at,
                        reason,
                    } => {
                        tx.execute(
                            "UPDATE webhook_outbox SET attempts = $2, last_code = 410,
                             last_error = '410 Gone: endpoint disabled', last_at = $3,
                             lease_owner = NULL, lease_until = NULL WHERE id = $1",
                            &[id, &small(*attempts), at],
                        )
                        .map_err(sql)?;
                        tx.execute(
                            "INSERT INTO webhook_endpoint (id, disabled_at, disabled_reason)
                             VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET
                             disabled_at = excluded.disabled_at,
                             disabled_reason = excluded.disabled_reason",
                            &[endpoint, at, reason],
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
                        let status = if *give_up { "failed" } else { "pending" };
                        tx.execute(
                            "UPDATE webhook_outbox SET status = $2, attempts = $3, next_at = $4,
                             last_code = $5, last_error = $6, last_at = $7,
                             lease_owner = NULL, lease_until = NULL WHERE id = $1",
                            &[
                                id,
                                &status,
                                &small(*attempts),
                                next_at,
                                &code.map(small),
                                error,
                                at,
                            ],
                        )
                        .map_err(sql)?;
                        if *endpoint_down {
                            set_retry_at(&mut tx, endpoint, *next_at)?;
                        }
                    }
                }
            }
            tx.commit().map_err(sql)
        })
    }
}
