//! Reads for people and dashboards, not for decisions: one approval, the open approvals, the
//! live grants, the audit log after a sequence number. Each is an index range with a limit,
//! and each can be narrowed to one agent (what an agent key may see).

use behalf_core::time::Millis;
use serde_json::Value;

use crate::StoreError;

/// Who a listing is for: everyone's rows, or one agent's.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    All,
    Agent(&'a str),
}

pub trait Listings {
    /// Approval `id` as stored (any status, until it is forgotten).
    fn approval(&mut self, id: &str, now: Millis) -> Result<Option<Value>, StoreError>;
    /// Pending, unexpired approvals, oldest first, at most `limit`.
    fn open_approvals(
        &mut self,
        scope: Scope<'_>,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<Value>, StoreError>;
    /// Live grants, oldest first, at most `limit`.
    fn live_grants(
        &mut self,
        scope: Scope<'_>,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<Value>, StoreError>;
    /// Audit records with `seq > after`, in order, at most `limit`.
    fn audit_after(
        &mut self,
        scope: Scope<'_>,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Value>, StoreError>;
    /// The `seq` of the last audit record (0 when there is none).
    fn audit_head(&mut self) -> Result<u64, StoreError>;
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use rusqlite::{params, OptionalExtension};

    use super::*;
    use crate::sqlite::{sql_error, SqliteStore};

    fn damaged(what: &str) -> StoreError {
        StoreError::Corrupt(format!("a stored {what} is damaged"))
    }

    fn values(
        store: &SqliteStore,
        query: &str,
        args: &[&dyn rusqlite::ToSql],
        what: &str,
    ) -> Result<Vec<Value>, StoreError> {
        let mut stmt = store.conn_ref().prepare_cached(query).map_err(sql_error)?;
        let mut rows = stmt.query(args).map_err(sql_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(sql_error)? {
            let text: String = row.get(0).map_err(sql_error)?;
            out.push(serde_json::from_str(&text).map_err(|_| damaged(what))?);
        }
        Ok(out)
    }

    impl Listings for SqliteStore {
        fn audit_head(&mut self) -> Result<u64, StoreError> {
            let seq: Option<i64> = self
                .conn_ref()
                .prepare_cached("SELECT max(seq) FROM audit")
                .map_err(sql_error)?
                .query_row([], |r| r.get(0))
                .map_err(sql_error)?;
            Ok(seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
        }

        fn approval(&mut self, id: &str, now: Millis) -> Result<Option<Value>, StoreError> {
            let text: Option<String> = self
                .conn_ref()
                .prepare_cached("SELECT record FROM approvals WHERE id = ?1 AND forget_at > ?2")
                .map_err(sql_error)?
                .query_row(params![id, now], |r| r.get(0))
                .optional()
                .map_err(sql_error)?;
            text.map(|t| serde_json::from_str(&t).map_err(|_| damaged("approval")))
                .transpose()
        }

        fn open_approvals(
            &mut self,
            scope: Scope<'_>,
            now: Millis,
            limit: u32,
        ) -> Result<Vec<Value>, StoreError> {
            match scope {
                Scope::All => values(
                    self,
                    "SELECT record FROM approvals WHERE status = 'pending' AND expires_at > ?1
                     ORDER BY created_at, id LIMIT ?2",
                    &[&now, &limit],
                    "approval",
                ),
                Scope::Agent(agent) => values(
                    self,
                    "SELECT record FROM approvals WHERE status = 'pending' AND expires_at > ?1
                     AND json_extract(record, '$.request.agentId') = ?3
                     ORDER BY created_at, id LIMIT ?2",
                    &[&now, &limit, &agent],
                    "approval",
                ),
            }
        }

        fn live_grants(
            &mut self,
            scope: Scope<'_>,
            now: Millis,
            limit: u32,
        ) -> Result<Vec<Value>, StoreError> {
            match scope {
                Scope::All => values(
                    self,
                    "SELECT record FROM grants WHERE expires_at > ?1
                     ORDER BY created_at, id LIMIT ?2",
                    &[&now, &limit],
                    "grant",
                ),
                Scope::Agent(agent) => values(
                    self,
                    "SELECT record FROM grants WHERE expires_at > ?1
                     AND json_extract(record, '$.request.agentId') = ?3
                     ORDER BY created_at, id LIMIT ?2",
                    &[&now, &limit, &agent],
                    "grant",
                ),
            }
        }

        fn audit_after(
            &mut self,
            scope: Scope<'_>,
            after: u64,
            limit: u32,
        ) -> Result<Vec<Value>, StoreError> {
            let after = i64::try_from(after).unwrap_or(i64::MAX);
            match scope {
                Scope::All => values(
                    self,
                    "SELECT record FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                    &[&after, &limit],
                    "audit record",
                ),
                Scope::Agent(agent) => values(
                    self,
                    "SELECT record FROM audit WHERE seq > ?1
                     AND json_extract(record, '$.agentId') = ?3 ORDER BY seq LIMIT ?2",
                    &[&after, &limit, &agent],
                    "audit record",
                ),
            }
        }
    }
}
