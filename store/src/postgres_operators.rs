//! [`OperatorStore`] on PostgreSQL: the same five tables as SQLite's (migration 3), each write
//! one transaction. Enrollment is completed `SERIALIZABLE`, so of two ceremonies finishing on
//! one link across instances, one wins.

use behalf_core::time::Millis;
use postgres::{IsolationLevel, Row};
use serde_json::Value;

use crate::operators::{
    CredentialRow, EnrollmentRefusal, OperatorRow, OperatorStore, SessionRow, TokenRow,
};
use crate::postgres::{sql_error as sql, PostgresStore};
use crate::StoreError;

/// Migration 3's tables (see `postgres::MIGRATIONS`).
pub const SCHEMA: &str = "
CREATE TABLE operators (id TEXT PRIMARY KEY, name TEXT NOT NULL,
    created_at BIGINT NOT NULL, removed_at BIGINT);
CREATE UNIQUE INDEX operators_present_name ON operators (name) WHERE removed_at IS NULL;
CREATE TABLE operator_enrollments (token_hash TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT);
CREATE TABLE operator_credentials (credential_id TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL, passkey TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE INDEX operator_credentials_by_operator ON operator_credentials (operator_id);
CREATE TABLE operator_sessions (session_hash TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL, csrf_token TEXT NOT NULL, expires_at BIGINT NOT NULL);
CREATE TABLE operator_tokens (token_hash TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE,
    operator_id TEXT NOT NULL, label TEXT NOT NULL, created_at BIGINT NOT NULL,
    revoked_at BIGINT);
";

fn operator_row(r: &Row) -> OperatorRow {
    OperatorRow {
        id: r.get(0),
        name: r.get(1),
        created_at: r.get(2),
        removed_at: r.get(3),
    }
}

fn token_row(r: &Row) -> TokenRow {
    TokenRow {
        id: r.get(0),
        operator_id: r.get(1),
        label: r.get(2),
        created_at: r.get(3),
        revoked_at: r.get(4),
    }
}

fn credential_row(r: &Row) -> Result<CredentialRow, StoreError> {
    let credential_id: String = r.get(0);
    let passkey = serde_json::from_str(r.get::<_, &str>(2)).map_err(|_| {
        StoreError::Corrupt(format!("the stored passkey `{credential_id}` is damaged"))
    })?;
    Ok(CredentialRow {
        credential_id,
        operator_id: r.get(1),
        passkey,
        created_at: r.get(3),
    })
}

fn enrollment_in(
    tx: &mut postgres::Transaction<'_>,
    token_hash: &str,
    now: Millis,
) -> Result<Result<String, EnrollmentRefusal>, StoreError> {
    let row = tx
        .query_opt(
            "SELECT e.operator_id, e.expires_at, e.used_at, o.removed_at
             FROM operator_enrollments e JOIN operators o ON o.id = e.operator_id
             WHERE e.token_hash = $1",
            &[&token_hash],
        )
        .map_err(sql)?;
    let Some(row) = row else {
        return Ok(Err(EnrollmentRefusal::Unknown));
    };
    let (operator, expires, used, removed): (String, i64, Option<i64>, Option<i64>) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    Ok(match (used, removed) {
        (Some(_), _) => Err(EnrollmentRefusal::Used),
        (_, Some(_)) => Err(EnrollmentRefusal::OperatorRemoved),
        _ if now >= expires => Err(EnrollmentRefusal::Expired),
        _ => Ok(operator),
    })
}

impl OperatorStore for PostgresStore {
    fn create_operator(
        &mut self,
        id: &str,
        name: &str,
        now: Millis,
    ) -> Result<OperatorRow, StoreError> {
        self.with_client(|c| {
            // The partial unique index refuses a second present operator of one name, even
            // when two instances create it at once.
            c.execute(
                "INSERT INTO operators (id, name, created_at) VALUES ($1, $2, $3)",
                &[&id, &name, &now],
            )
            .map_err(|e| match e.code() {
                Some(code) if *code == postgres::error::SqlState::UNIQUE_VIOLATION => {
                    StoreError::Fault(format!("an operator named `{name}` exists already"))
                }
                _ => sql(e),
            })?;
            Ok(OperatorRow {
                id: id.into(),
                name: name.into(),
                created_at: now,
                removed_at: None,
            })
        })
    }

    fn operators(&mut self) -> Result<Vec<OperatorRow>, StoreError> {
        self.with_client(|c| {
            Ok(c.query(
                "SELECT id, name, created_at, removed_at FROM operators ORDER BY created_at, id",
                &[],
            )
            .map_err(sql)?
            .iter()
            .map(operator_row)
            .collect())
        })
    }

    fn operator(&mut self, id: &str) -> Result<Option<OperatorRow>, StoreError> {
        self.with_client(|c| {
            Ok(c.query_opt(
                "SELECT id, name, created_at, removed_at FROM operators WHERE id = $1",
                &[&id],
            )
            .map_err(sql)?
            .as_ref()
            .map(operator_row))
        })
    }

    fn operator_named(&mut self, name: &str) -> Result<Option<OperatorRow>, StoreError> {
        self.with_client(|c| {
            Ok(c.query_opt(
                "SELECT id, name, created_at, removed_at FROM operators
                 WHERE name = $1 AND removed_at IS NULL",
                &[&name],
            )
            .map_err(sql)?
            .as_ref()
            .map(operator_row))
        })
    }

    fn remove_operator(&mut self, id: &str, now: Millis) -> Result<bool, StoreError> {
        self.with_client(|c| {
            let mut tx = c.transaction().map_err(sql)?;
            let changed = tx
                .execute(
                    "UPDATE operators SET removed_at = $2 WHERE id = $1 AND removed_at IS NULL",
                    &[&id, &now],
                )
                .map_err(sql)?;
            tx.execute(
                "DELETE FROM operator_sessions WHERE operator_id = $1",
                &[&id],
            )
            .map_err(sql)?;
            tx.execute(
                "UPDATE operator_tokens SET revoked_at = $2
                 WHERE operator_id = $1 AND revoked_at IS NULL",
                &[&id, &now],
            )
            .map_err(sql)?;
            tx.execute(
                "DELETE FROM operator_enrollments WHERE operator_id = $1 AND used_at IS NULL",
                &[&id],
            )
            .map_err(sql)?;
            tx.commit().map_err(sql)?;
            Ok(changed > 0)
        })
    }

    fn add_enrollment(
        &mut self,
        token_hash: &str,
        operator_id: &str,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        self.with_client(|c| {
            c.execute(
                "INSERT INTO operator_enrollments (token_hash, operator_id, expires_at)
                 VALUES ($1, $2, $3)",
                &[&token_hash, &operator_id, &expires_at],
            )
            .map_err(sql)?;
            Ok(())
        })
    }

    fn enrollment(
        &mut self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Result<String, EnrollmentRefusal>, StoreError> {
        self.with_client(|c| {
            let mut tx = c.transaction().map_err(sql)?;
            let out = enrollment_in(&mut tx, token_hash, now)?;
            tx.commit().map_err(sql)?;
            Ok(out)
        })
    }

    fn complete_enrollment(
        &mut self,
        token_hash: &str,
        credential: &CredentialRow,
        now: Millis,
    ) -> Result<Result<(), EnrollmentRefusal>, StoreError> {
        self.with_client(|c| {
            let mut tx = c
                .build_transaction()
                .isolation_level(IsolationLevel::Serializable)
                .start()
                .map_err(sql)?;
            match enrollment_in(&mut tx, token_hash, now)? {
                Err(refusal) => return Ok(Err(refusal)),
                Ok(operator) if operator != credential.operator_id => {
                    return Ok(Err(EnrollmentRefusal::Unknown))
                }
                Ok(_) => {}
            }
            // Marked used only if still unused: the loser of a race changes nothing.
            let marked = tx
                .execute(
                    "UPDATE operator_enrollments SET used_at = $2
                     WHERE token_hash = $1 AND used_at IS NULL",
                    &[&token_hash, &now],
                )
                .map_err(sql)?;
            if marked == 0 {
                return Ok(Err(EnrollmentRefusal::Used));
            }
            tx.execute(
                "INSERT INTO operator_credentials (credential_id, operator_id, passkey, created_at)
                 VALUES ($1, $2, $3, $4)",
                &[
                    &credential.credential_id,
                    &credential.operator_id,
                    &credential.passkey.to_string(),
                    &credential.created_at,
                ],
            )
            .map_err(sql)?;
            tx.commit().map_err(sql)?;
            Ok(Ok(()))
        })
    }

    fn credentials_of(&mut self, operator_id: &str) -> Result<Vec<CredentialRow>, StoreError> {
        self.with_client(|c| {
            c.query(
                "SELECT c.credential_id, c.operator_id, c.passkey, c.created_at
                 FROM operator_credentials c JOIN operators o ON o.id = c.operator_id
                 WHERE c.operator_id = $1 AND o.removed_at IS NULL ORDER BY c.created_at",
                &[&operator_id],
            )
            .map_err(sql)?
            .iter()
            .map(credential_row)
            .collect()
        })
    }

    fn credential(&mut self, credential_id: &str) -> Result<Option<CredentialRow>, StoreError> {
        self.with_client(|c| {
            c.query_opt(
                "SELECT credential_id, operator_id, passkey, created_at
                 FROM operator_credentials WHERE credential_id = $1",
                &[&credential_id],
            )
            .map_err(sql)?
            .as_ref()
            .map(credential_row)
            .transpose()
        })
    }

    fn update_credential(
        &mut self,
        credential_id: &str,
        passkey: &Value,
    ) -> Result<(), StoreError> {
        self.with_client(|c| {
            c.execute(
                "UPDATE operator_credentials SET passkey = $2 WHERE credential_id = $1",
                &[&credential_id, &passkey.to_string()],
            )
            .map_err(sql)?;
            Ok(())
        })
    }

    fn add_session(&mut self, session_hash: &str, session: &SessionRow) -> Result<(), StoreError> {
        self.with_client(|c| {
            c.execute(
                "INSERT INTO operator_sessions (session_hash, operator_id, csrf_token, expires_at)
                 VALUES ($1, $2, $3, $4)",
                &[
                    &session_hash,
                    &session.operator_id,
                    &session.csrf_token,
                    &session.expires_at,
                ],
            )
            .map_err(sql)?;
            Ok(())
        })
    }

    fn session(
        &mut self,
        session_hash: &str,
        now: Millis,
    ) -> Result<Option<SessionRow>, StoreError> {
        self.with_client(|c| {
            Ok(c.query_opt(
                "SELECT s.operator_id, s.csrf_token, s.expires_at
                 FROM operator_sessions s JOIN operators o ON o.id = s.operator_id
                 WHERE s.session_hash = $1 AND s.expires_at > $2 AND o.removed_at IS NULL",
                &[&session_hash, &now],
            )
            .map_err(sql)?
            .map(|r| SessionRow {
                operator_id: r.get(0),
                csrf_token: r.get(1),
                expires_at: r.get(2),
            }))
        })
    }

    fn end_session(&mut self, session_hash: &str) -> Result<(), StoreError> {
        self.with_client(|c| {
            c.execute(
                "DELETE FROM operator_sessions WHERE session_hash = $1",
                &[&session_hash],
            )
            .map_err(sql)?;
            Ok(())
        })
    }

    fn add_token(&mut self, token_hash: &str, token: &TokenRow) -> Result<(), StoreError> {
        self.with_client(|c| {
            c.execute(
                "INSERT INTO operator_tokens (token_hash, id, operator_id, label, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &token_hash,
                    &token.id,
                    &token.operator_id,
                    &token.label,
                    &token.created_at,
                ],
            )
            .map_err(sql)?;
            Ok(())
        })
    }

    fn token(&mut self, token_hash: &str) -> Result<Option<TokenRow>, StoreError> {
        self.with_client(|c| {
            Ok(c.query_opt(
                "SELECT t.id, t.operator_id, t.label, t.created_at, t.revoked_at
                 FROM operator_tokens t JOIN operators o ON o.id = t.operator_id
                 WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND o.removed_at IS NULL",
                &[&token_hash],
            )
            .map_err(sql)?
            .as_ref()
            .map(token_row))
        })
    }

    fn tokens(&mut self) -> Result<Vec<TokenRow>, StoreError> {
        self.with_client(|c| {
            Ok(c.query(
                "SELECT id, operator_id, label, created_at, revoked_at FROM operator_tokens
                 ORDER BY created_at, id",
                &[],
            )
            .map_err(sql)?
            .iter()
            .map(token_row)
            .collect())
        })
    }

    fn revoke_token(&mut self, id: &str, now: Millis) -> Result<bool, StoreError> {
        self.with_client(|c| {
            let n = c
                .execute(
                    "UPDATE operator_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                    &[&id, &now],
                )
                .map_err(sql)?;
            Ok(n > 0)
        })
    }
}
