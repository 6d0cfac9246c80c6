//! `webhooks replay`: queue an audit record's message again.

use behalf_core::policy::WebhookEndpoint;
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde_json::{json, Value};

use crate::error::{exit, CliError, Result};
use crate::project::Project;

use behalf_server::webhooks::wall_ms;

pub(super) fn replay(project: &Project, id: &str, endpoint: Option<&str>) -> Result<u8> {
    let loaded = project.load()?;
    let mut store = project.store()?;
    let now = wall_ms();
    let tx = store
        .conn()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    // The audit record: by seq, or by the message id (derived from the record's hash).
    let found: Option<(i64, String, String)> = if let Ok(seq) = id.parse::<i64>() {
        tx.query_row(
            "SELECT seq, hash, record FROM audit WHERE seq = ?1",
            params![seq],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
    } else {
        let prefix = id.strip_prefix("msg_").unwrap_or(id);
        if prefix.len() < 8 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(
                CliError::usage(format!("`{id}` is neither a message id nor an audit seq"))
                    .hint("use the msg_... id from `behalf webhooks status`, or a seq from `behalf audit tail`"),
            );
        }
        tx.query_row(
            "SELECT seq, hash, record FROM audit WHERE substr(hash, 1, ?2) = ?1",
            params![
                prefix.to_ascii_lowercase(),
                i64::try_from(prefix.len()).unwrap_or(0)
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
    };
    let Some((seq, hash, text)) = found else {
        return Err(CliError::usage(format!("no audit record for `{id}`"))
            .hint("see `behalf webhooks status` or `behalf audit tail`"));
    };
    let record: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::state(format!("audit record {seq} is not valid JSON ({e})")))?;
    let event = record.get("event").and_then(Value::as_str).unwrap_or("");
    let event_type = match (event, record.get("decision").and_then(Value::as_str)) {
        ("decision", Some(d)) => format!("decision.{d}"),
        (e, _) => e.to_string(),
    };
    let msg_id = format!("msg_{}", hash.get(..32).unwrap_or(&hash));
    let body = json!({
        "type": event_type,
        "timestamp": record.get("time").cloned().unwrap_or(Value::Null),
        "data": record,
    })
    .to_string();
    let targets: Vec<&WebhookEndpoint> = match endpoint {
        Some(e) => {
            let w = loaded
                .policy
                .webhooks
                .iter()
                .find(|w| w.id == e)
                .ok_or_else(|| {
                    CliError::usage(format!("no webhook endpoint `{e}` in the policy"))
                        .hint("see `behalf webhooks list`")
                })?;
            vec![w]
        }
        None => loaded
            .policy
            .webhooks
            .iter()
            .filter(|w| w.wants(&event_type))
            .collect(),
    };
    if targets.is_empty() {
        return Err(CliError::usage(format!(
            "no endpoint in the policy wants {event_type} events"
        ))
        .hint("name one with --endpoint"));
    }
    for w in &targets {
        // An existing row keeps its body (exactly what was signed before); a missing one is
        // made from the record.
        tx.execute(
            "INSERT INTO webhook_outbox (msg_id, endpoint, seq, event_type, body, next_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
             ON CONFLICT (endpoint, msg_id) DO UPDATE SET status = 'pending', attempts = 0,
                 next_at = excluded.next_at, lease_owner = NULL, lease_until = NULL",
            params![msg_id, w.id, seq, event_type, body, now],
        )?;
    }
    let disabled: Vec<String> = {
        let mut stmt =
            tx.prepare("SELECT id FROM webhook_endpoint WHERE disabled_at IS NOT NULL")?;
        let q = stmt.query_map([], |r| r.get::<_, String>(0))?;
        q.collect::<rusqlite::Result<_>>()?
    };
    tx.commit()?;
    let names: Vec<&str> = targets.iter().map(|w| w.id.as_str()).collect();
    println!(
        "queued {msg_id} ({event_type}, audit seq {seq}) for {}; the next delivery sends it",
        names.join(", ")
    );
    for n in names.iter().filter(|n| disabled.iter().any(|d| d == *n)) {
        println!("note: endpoint {n} is disabled; `behalf webhooks enable {n}` first");
    }
    Ok(exit::OK)
}
