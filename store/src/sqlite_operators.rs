//! [`OperatorStore`] on the SQLite state database: five tables beside the engine's, created
//! on first use, each write one transaction.

use behalf_core::time::Millis;
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};
use serde_json::Value;

use crate::operators::{
    CredentialRow, EnrollmentRefusal, OperatorRow, OperatorStore, SessionRow, TokenRow,
};
use crate::sqlite::SqliteStore;
use crate::StoreError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS operators (id TEXT PRIMARY KEY, name TEXT NOT NULL,
    created_at INTEGER NOT NULL, removed_at INTEGER);
CREATE UNIQUE INDEX IF NOT EXISTS operators_present_name ON operators (name)
    WHERE removed_at IS NULL;
CREATE TABLE IF NOT EXISTS operator_enrollments (token_hash TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER);
CREATE TABLE IF NOT EXISTS operator_credentials (credential_id TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL, passkey TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS operator_credentials_by_operator
    ON operator_credentials (operator_id);
CREATE TABLE IF NOT EXISTS operator_sessions (session_hash TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL, csrf_token TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS operator_tokens (token_hash TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE,
    operator_id TEXT NOT NULL, label TEXT NOT NULL, created_at INTEGER NOT NULL,
    revoked_at INTEGER);
";

fn sql(e: rusqlite::Error) -> StoreError {
    crate::sqlite::sql_error(e)
}

fn operator_row(r: &Row<'_>) -> rusqlite::Result<OperatorRow> {
    Ok(OperatorRow {
        id: r.get(0)?,
        name: r.get(1)?,
        created_at: r.get::<_, i64>(2)?.max(0) as Millis,
        removed_at: r.get::<_, Option<i64>>(3)?.map(|t| t.max(0) as Millis),
    })
}

fn token_row(r: &Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: r.get(0)?,
        operator_id: r.get(1)?,
        label: r.get(2)?,
        created_at: r.get::<_, i64>(3)?.max(0) as Millis,
        revoked_at: r.get::<_, Option<i64>>(4)?.map(|t| t.max(0) as Millis),
    })
}

fn ms(t: Millis) -> i64 {
    t
}

fn credential_row(r: &Row<'_>) -> rusqlite::Result<(String, String, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn credential_from(
    (credential_id, operator_id, passkey, created_at): (String, String, String, i64),
) -> Result<CredentialRow, StoreError> {
    let passkey = serde_json::from_str(&passkey).map_err(|_| {
        StoreError::Corrupt(format!("the stored passkey `{credential_id}` is damaged"))
    })?;
    Ok(CredentialRow {
        credential_id,
        operator_id,
        passkey,
        created_at: created_at.max(0) as Millis,
    })
}

impl SqliteStore {
    fn operators_schema(&mut self) -> Result<(), StoreError> {
        self.conn().execute_batch(SCHEMA).map_err(sql)
    }

    fn enrollment_in(
        tx: &rusqlite::Transaction<'_>,
        token_hash: &str,
        now: Millis,
    ) -> Result<Result<String, EnrollmentRefusal>, StoreError> {
        let row: Option<(String, i64, Option<i64>, Option<i64>)> = tx
            .query_row(
                "SELECT e.operator_id, e.expires_at, e.used_at, o.removed_at
                 FROM operator_enrollments e JOIN operators o ON o.id = e.operator_id
                 WHERE e.token_hash = ?1",
                params![token_hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(sql)?;
        Ok(match row {
            None => Err(EnrollmentRefusal::Unknown),
            Some((_, _, Some(_), _)) => Err(EnrollmentRefusal::Used),
            Some((_, _, _, Some(_))) => Err(EnrollmentRefusal::OperatorRemoved),
            Some((_, expires, _, _)) if ms(now) >= expires => Err(EnrollmentRefusal::Expired),
            Some((operator, _, _, _)) => Ok(operator),
        })
    }
}

impl SqliteStore {
    /// The approval `id` as the engine saved it (`approvalId`, `fingerprint`, `status`,
    /// `expiresAt`, `request`): what an operator's signature commits to.
    pub fn approval_for_signing(&mut self, id: &str) -> Result<Option<Value>, StoreError> {
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT record FROM approvals WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        text.map(|t| {
            serde_json::from_str(&t)
                .map_err(|_| StoreError::Corrupt(format!("the stored approval `{id}` is damaged")))
        })
        .transpose()
    }
}

impl OperatorStore for SqliteStore {
    fn create_operator(
        &mut self,
        id: &str,
        name: &str,
        now: Millis,
    ) -> Result<OperatorRow, StoreError> {
        self.operators_schema()?;
        let taken = self.operator_named(name)?.is_some();
        if taken {
            return Err(StoreError::Fault(format!(
                "an operator named `{name}` exists already"
            )));
        }
        self.conn()
            .execute(
                "INSERT INTO operators (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![id, name, ms(now)],
            )
            .map_err(sql)?;
        Ok(OperatorRow {
            id: id.into(),
            name: name.into(),
            created_at: now,
            removed_at: None,
        })
    }

    fn operators(&mut self) -> Result<Vec<OperatorRow>, StoreError> {
        self.operators_schema()?;
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, name, created_at, removed_at FROM operators ORDER BY created_at, id",
            )
            .map_err(sql)?;
        let rows = stmt.query_map([], operator_row).map_err(sql)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql)
    }

    fn operator(&mut self, id: &str) -> Result<Option<OperatorRow>, StoreError> {
        self.operators_schema()?;
        self.conn()
            .query_row(
                "SELECT id, name, created_at, removed_at FROM operators WHERE id = ?1",
                params![id],
                operator_row,
            )
            .optional()
            .map_err(sql)
    }

    fn operator_named(&mut self, name: &str) -> Result<Option<OperatorRow>, StoreError> {
        self.operators_schema()?;
        self.conn()
            .query_row(
                "SELECT id, name, created_at, removed_at FROM operators
                 WHERE name = ?1 AND removed_at IS NULL",
                params![name],
                operator_row,
            )
            .optional()
            .map_err(sql)
    }

    fn remove_operator(&mut self, id: &str, now: Millis) -> Result<bool, StoreError> {
        self.operators_schema()?;
        let tx = self
            .conn()
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let changed = tx
            .execute(
                "UPDATE operators SET removed_at = ?2 WHERE id = ?1 AND removed_at IS NULL",
                params![id, ms(now)],
            )
            .map_err(sql)?;
        tx.execute(
            "DELETE FROM operator_sessions WHERE operator_id = ?1",
            params![id],
        )
        .map_err(sql)?;
        tx.execute(
            "UPDATE operator_tokens SET revoked_at = ?2 WHERE operator_id = ?1 AND revoked_at IS NULL",
            params![id, ms(now)],
        )
        .map_err(sql)?;
        tx.execute(
            "DELETE FROM operator_enrollments WHERE operator_id = ?1 AND used_at IS NULL",
            params![id],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(changed > 0)
    }

    fn add_enrollment(
        &mut self,
        token_hash: &str,
        operator_id: &str,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        self.operators_schema()?;
        self.conn()
            .execute(
                "INSERT INTO operator_enrollments (token_hash, operator_id, expires_at)
                 VALUES (?1, ?2, ?3)",
                params![token_hash, operator_id, ms(expires_at)],
            )
            .map_err(sql)?;
        Ok(())
    }

    fn enrollment(
        &mut self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Result<String, EnrollmentRefusal>, StoreError> {
        self.operators_schema()?;
        let tx = self
            .conn()
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(sql)?;
        let out = SqliteStore::enrollment_in(&tx, token_hash, now)?;
        tx.commit().map_err(sql)?;
        Ok(out)
    }

    fn complete_enrollment(
        &mut self,
        token_hash: &str,
        credential: &CredentialRow,
        now: Millis,
    ) -> Result<Result<(), EnrollmentRefusal>, StoreError> {
        self.operators_schema()?;
        let tx = self
            .conn()
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        match SqliteStore::enrollment_in(&tx, token_hash, now)? {
            Err(refusal) => return Ok(Err(refusal)),
            Ok(operator) if operator != credential.operator_id => {
                return Ok(Err(EnrollmentRefusal::Unknown))
            }
            Ok(_) => {}
        }
        tx.execute(
            "UPDATE operator_enrollments SET used_at = ?2 WHERE token_hash = ?1",
            params![token_hash, ms(now)],
        )
        .map_err(sql)?;
        tx.execute(
            "INSERT INTO operator_credentials (credential_id, operator_id, passkey, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                credential.credential_id,
                credential.operator_id,
                credential.passkey.to_string(),
                ms(credential.created_at)
            ],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(Ok(()))
    }

    fn credentials_of(&mut self, operator_id: &str) -> Result<Vec<CredentialRow>, StoreError> {
        self.operators_schema()?;
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT c.credential_id, c.operator_id, c.passkey, c.created_at
                 FROM operator_credentials c JOIN operators o ON o.id = c.operator_id
                 WHERE c.operator_id = ?1 AND o.removed_at IS NULL ORDER BY c.created_at",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map(params![operator_id], credential_row)
            .map_err(sql)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql)?;
        rows.into_iter().map(credential_from).collect()
    }

    fn credential(&mut self, credential_id: &str) -> Result<Option<CredentialRow>, StoreError> {
        self.operators_schema()?;
        let row = self
            .conn()
            .query_row(
                "SELECT credential_id, operator_id, passkey, created_at
                 FROM operator_credentials WHERE credential_id = ?1",
                params![credential_id],
                credential_row,
            )
            .optional()
            .map_err(sql)?;
        row.map(credential_from).transpose()
    }

    fn update_credential(
        &mut self,
        credential_id: &str,
        passkey: &Value,
    ) -> Result<(), StoreError> {
        self.operators_schema()?;
        self.conn()
            .execute(
                "UPDATE operator_credentials SET passkey = ?2 WHERE credential_id = ?1",
                params![credential_id, passkey.to_string()],
            )
            .map_err(sql)?;
        Ok(())
    }

    fn add_session(&mut self, session_hash: &str, session: &SessionRow) -> Result<(), StoreError> {
        self.operators_schema()?;
        self.conn()
            .execute(
                "INSERT INTO operator_sessions (session_hash, operator_id, csrf_token, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    session_hash,
                    session.operator_id,
                    session.csrf_token,
                    ms(session.expires_at)
                ],
            )
            .map_err(sql)?;
        Ok(())
    }

    fn session(
        &mut self,
        session_hash: &str,
        now: Millis,
    ) -> Result<Option<SessionRow>, StoreError> {
        self.operators_schema()?;
        self.conn()
            .query_row(
                "SELECT s.operator_id, s.csrf_token, s.expires_at
                 FROM operator_sessions s JOIN operators o ON o.id = s.operator_id
                 WHERE s.session_hash = ?1 AND s.expires_at > ?2 AND o.removed_at IS NULL",
                params![session_hash, ms(now)],
                |r| {
                    Ok(SessionRow {
                        operator_id: r.get(0)?,
                        csrf_token: r.get(1)?,
                        expires_at: r.get::<_, i64>(2)?.max(0) as Millis,
                    })
                },
            )
            .optional()
            .map_err(sql)
    }

    fn end_session(&mut self, session_hash: &str) -> Result<(), StoreError> {
        self.operators_schema()?;
        self.conn()
            .execute(
                "DELETE FROM operator_sessions WHERE session_hash = ?1",
                params![session_hash],
            )
            .map_err(sql)?;
        Ok(())
    }

    fn add_token(&mut self, token_hash: &str, token: &TokenRow) -> Result<(), StoreError> {
        self.operators_schema()?;
        self.conn()
            .execute(
                "INSERT INTO operator_tokens (token_hash, id, operator_id, label, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    token_hash,
                    token.id,
                    token.operator_id,
                    token.label,
                    ms(token.created_at)
                ],
            )
            .map_err(sql)?;
        Ok(())
    }

    fn token(&mut self, token_hash: &str) -> Result<Option<TokenRow>, StoreError> {
        self.operators_schema()?;
        self.conn()
            .query_row(
                "SELECT t.id, t.operator_id, t.label, t.created_at, t.revoked_at
                 FROM operator_tokens t JOIN operators o ON o.id = t.operator_id
                 WHERE t.token_hash = ?1 AND t.revoked_at IS NULL AND o.removed_at IS NULL",
                params![token_hash],
                token_row,
            )
            .optional()
            .map_err(sql)
    }

    fn tokens(&mut self) -> Result<Vec<TokenRow>, StoreError> {
        self.operators_schema()?;
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, operator_id, label, created_at, revoked_at FROM operator_tokens
                 ORDER BY created_at, id",
            )
            .map_err(sql)?;
        let rows = stmt.query_map([], token_row).map_err(sql)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql)
    }

    fn revoke_token(&mut self, id: &str, now: Millis) -> Result<bool, StoreError> {
        self.operators_schema()?;
        let changed = self
            .conn()
            .execute(
                "UPDATE operator_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, ms(now)],
            )
            .map_err(sql)?;
        Ok(changed > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn store() -> (tempdir::Dir, SqliteStore) {
        let dir = tempdir::Dir::new();
        let store = SqliteStore::open(
            &dir.path().join("state.db"),
            Duration::from_millis(500),
            Duration::from_secs(2),
        );
        match store {
            Ok(s) => (dir, s),
            Err(e) => unreachable!("open: {e}"),
        }
    }

    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                let n: u64 = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                let p = std::env::temp_dir()
                    .join(format!("behalf-operators-{}-{n}", std::process::id()));
                let _ = std::fs::create_dir_all(&p);
                Dir(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn credential(id: &str, operator: &str) -> CredentialRow {
        CredentialRow {
            credential_id: id.into(),
            operator_id: operator.into(),
            passkey: json!({"cred": {"counter": 0}}),
            created_at: 10,
        }
    }

    #[test]
    fn an_enrollment_link_works_once_and_not_after_it_expires() -> Result<(), StoreError> {
        let (_dir, mut s) = store();
        s.create_operator("op_1", "alice", 0)?;
        s.add_enrollment("h1", "op_1", 1_000)?;
        s.add_enrollment("h2", "op_1", 1_000)?;
        assert_eq!(s.enrollment("h1", 999)?, Ok("op_1".into()));
        assert_eq!(s.enrollment("h1", 1_000)?, Err(EnrollmentRefusal::Expired));
        assert_eq!(s.enrollment("nope", 0)?, Err(EnrollmentRefusal::Unknown));
        assert_eq!(
            s.complete_enrollment("h1", &credential("c1", "op_1"), 5)?,
            Ok(())
        );
        assert_eq!(
            s.complete_enrollment("h1", &credential("c2", "op_1"), 6)?,
            Err(EnrollmentRefusal::Used)
        );
        assert_eq!(
            s.complete_enrollment("h2", &credential("c3", "op_1"), 2_000)?,
            Err(EnrollmentRefusal::Expired)
        );
        let creds = s.credentials_of("op_1")?;
        assert_eq!(creds.len(), 1);
        assert_eq!(creds.first().map(|c| c.credential_id.as_str()), Some("c1"));
        Ok(())
    }

    #[test]
    fn a_removed_operator_keeps_its_public_keys_but_loses_sessions_and_tokens(
    ) -> Result<(), StoreError> {
        let (_dir, mut s) = store();
        s.create_operator("op_1", "alice", 0)?;
        s.add_enrollment("h1", "op_1", 1_000)?;
        s.complete_enrollment("h1", &credential("c1", "op_1"), 5)?
            .map_err(|e| StoreError::Fault(format!("{e:?}")))?;
        let session = SessionRow {
            operator_id: "op_1".into(),
            csrf_token: "x".into(),
            expires_at: 10_000,
        };
        s.add_session("sh", &session)?;
        let token = TokenRow {
            id: "tok_1".into(),
            operator_id: "op_1".into(),
            label: "bot".into(),
            created_at: 5,
            revoked_at: None,
        };
        s.add_token("th", &token)?;
        assert_eq!(s.session("sh", 9_999)?, Some(session));
        assert_eq!(s.session("sh", 10_000)?, None);
        assert!(s.token("th")?.is_some());
        assert!(s.create_operator("op_2", "alice", 0).is_err());
        assert!(s.remove_operator("op_1", 20)?);
        assert!(!s.remove_operator("op_1", 21)?);
        assert_eq!(s.session("sh", 30)?, None);
        assert_eq!(s.token("th")?, None);
        assert!(s.credentials_of("op_1")?.is_empty());
        assert!(s.credential("c1")?.is_some());
        assert!(s.create_operator("op_2", "alice", 30).is_ok());
        Ok(())
    }

    #[test]
    fn a_revoked_token_is_not_found() -> Result<(), StoreError> {
        let (_dir, mut s) = store();
        s.create_operator("op_1", "alice", 0)?;
        let token = TokenRow {
            id: "tok_1".into(),
            operator_id: "op_1".into(),
            label: "bot".into(),
            created_at: 5,
            revoked_at: None,
        };
        s.add_token("th", &token)?;
        assert!(s.revoke_token("tok_1", 6)?);
        assert!(!s.revoke_token("tok_1", 7)?);
        assert_eq!(s.token("th")?, None);
        assert_eq!(s.tokens()?.first().and_then(|t| t.revoked_at), Some(6));
        Ok(())
    }
}
