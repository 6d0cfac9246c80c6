//! `webhooks list|status`: endpoints and the outbox as they stand.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection};
use serde_json::{json, Value};

use crate::error::{exit, Result};
use crate::project::Project;

use behalf_server::webhooks::wall_ms;

struct EndpointState {
    disabled: Option<(i64, String)>,
    retry_at: i64,
}

fn endpoint_states(conn: &Connection) -> Result<HashMap<String, EndpointState>> {
    let mut out = HashMap::new();
    let mut stmt =
        conn.prepare("SELECT id, disabled_at, disabled_reason, retry_at FROM webhook_endpoint")?;
    let mut q = stmt.query([])?;
    while let Some(r) = q.next()? {
        let id: String = r.get(0)?;
        let at: Option<i64> = r.get(1)?;
        let reason: Option<String> = r.get(2)?;
        out.insert(
            id,
            EndpointState {
                disabled: at.map(|a| (a, reason.unwrap_or_default())),
                retry_at: r.get(3)?,
            },
        );
    }
    Ok(out)
}

fn fmt_ms(ms: i64) -> String {
    behalf_core::time::format_rfc3339(ms)
}

pub(super) fn list(project: &Project, json: bool) -> Result<u8> {
    let loaded = project.load()?;
    let mut store = project.store()?;
    let states = endpoint_states(store.conn())?;
    let mut out = Vec::new();
    for w in &loaded.policy.webhooks {
        let set = |n: &str| std::env::var(n).map(|v| !v.is_empty()).unwrap_or(false);
        let disabled = states.get(&w.id).and_then(|s| s.disabled.clone());
        out.push(json!({
            "id": w.id, "url": w.url, "events": w.events,
            "secretEnv": w.secret_env, "secretSet": set(&w.secret_env),
            "previousSecretEnv": w.previous_secret_env,
            "previousSecretSet": w.previous_secret_env.as_deref().map(set),
            "disabled": disabled.as_ref().map(|(at, why)| json!({"at": fmt_ms(*at), "reason": why})),
        }));
    }
    if json {
        println!("{}", Value::Array(out));
        return Ok(exit::OK);
    }
    if out.is_empty() {
        println!("no webhook endpoints (add one with `behalf webhooks add ID --url URL`)");
    }
    for w in &out {
        let s = |k: &str| w.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let events: Vec<String> = w
            .get("events")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str().map(str::to_string))
            .collect();
        let mut secret = format!(
            "${} {}",
            s("secretEnv"),
            if w.get("secretSet") == Some(&Value::Bool(true)) {
                "set"
            } else {
                "NOT SET"
            }
        );
        if let Some(p) = w.get("previousSecretEnv").and_then(Value::as_str) {
            secret.push_str(&format!(
                ", rotating from ${p} {}",
                if w.get("previousSecretSet") == Some(&Value::Bool(true)) {
                    "set"
                } else {
                    "NOT SET"
                }
            ));
        }
        println!("{}  {}", s("id"), s("url"));
        println!("    events: {}; secret: {secret}", events.join(", "));
        if let Some(d) = w.get("disabled").filter(|d| !d.is_null()) {
            println!(
                "    DISABLED since {}: {}",
                d.get("at").and_then(Value::as_str).unwrap_or(""),
                d.get("reason").and_then(Value::as_str).unwrap_or("")
            );
        }
    }
    Ok(exit::OK)
}

pub(super) fn status(project: &Project, json_out: bool, limit: u32) -> Result<u8> {
    let loaded = project.load()?;
    let mut store = project.store()?;
    let conn = store.conn();
    let states = endpoint_states(conn)?;
    let now = wall_ms();
    let in_policy: HashSet<String> = loaded
        .policy
        .webhooks
        .iter()
        .map(|w| w.id.clone())
        .collect();
    // Counts per endpoint and status.
    let mut counts: HashMap<String, HashMap<String, i64>> = HashMap::new();
    {
        let mut stmt = conn.prepare(
            "SELECT endpoint, status, count(*) FROM webhook_outbox GROUP BY endpoint, status",
        )?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            counts
                .entry(r.get(0)?)
                .or_default()
                .insert(r.get(1)?, r.get(2)?);
        }
    }
    let mut names: Vec<String> = loaded
        .policy
        .webhooks
        .iter()
        .map(|w| w.id.clone())
        .collect();
    let mut others: Vec<String> = counts
        .keys()
        .filter(|k| !in_policy.contains(*k))
        .cloned()
        .collect();
    others.sort();
    names.extend(others);
    let mut endpoints = Vec::new();
    for name in &names {
        let c = counts.get(name);
        let n = |s: &str| c.and_then(|m| m.get(s)).copied().unwrap_or(0);
        let st = states.get(name);
        let disabled = st.and_then(|s| s.disabled.clone());
        let url = loaded
            .policy
            .webhooks
            .iter()
            .find(|w| &w.id == name)
            .map(|w| w.url.clone());
        endpoints.push(json!({
            "id": name, "url": url, "inPolicy": in_policy.contains(name),
            "delivered": n("delivered"), "pending": n("pending"), "failed": n("failed"),
            "disabled": disabled.as_ref().map(|(at, why)| json!({"at": fmt_ms(*at), "reason": why})),
            "backingOffUntil": st.filter(|s| s.retry_at > now).map(|s| fmt_ms(s.retry_at)),
        }));
    }
    let mut deliveries = Vec::new();
    {
        let mut stmt = conn.prepare(
            "SELECT msg_id, endpoint, seq, event_type, status, attempts, next_at, last_code,
                    last_error, last_at, lease_until FROM webhook_outbox
             WHERE status != 'delivered' ORDER BY status = 'pending', id LIMIT ?1",
        )?;
        let mut q = stmt.query(params![limit])?;
        while let Some(r) = q.next()? {
            let endpoint: String = r.get(1)?;
            let status: String = r.get(4)?;
            let disabled = states.get(&endpoint).is_some_and(|s| s.disabled.is_some());
            let shown = if status == "pending" && disabled {
                "disabled".to_string()
            } else if status == "pending" && !in_policy.contains(&endpoint) {
                "orphaned".to_string()
            } else {
                status
            };
            let next_at: i64 = r.get(6)?;
            let last_at: Option<i64> = r.get(9)?;
            let lease: Option<i64> = r.get(10)?;
            deliveries.push(json!({
                "msgId": r.get::<_, String>(0)?, "endpoint": endpoint,
                "seq": r.get::<_, i64>(2)?, "type": r.get::<_, String>(3)?,
                "status": shown, "attempts": r.get::<_, i64>(5)?,
                "nextAttempt": (shown == "pending").then(|| fmt_ms(next_at)),
                "inFlight": lease.is_some_and(|l| l > now),
                "lastCode": r.get::<_, Option<i64>>(7)?,
                "lastError": r.get::<_, Option<String>>(8)?,
                "lastAttempt": last_at.map(fmt_ms),
            }));
        }
    }
    if json_out {
        println!(
            "{}",
            json!({"endpoints": endpoints, "deliveries": deliveries})
        );
        return Ok(exit::OK);
    }
    if endpoints.is_empty() {
        println!("no webhook endpoints and nothing queued");
        return Ok(exit::OK);
    }
    for e in &endpoints {
        let g = |k: &str| e.get(k).and_then(Value::as_i64).unwrap_or(0);
        let id = e.get("id").and_then(Value::as_str).unwrap_or("");
        let mut line = format!(
            "{id}: delivered {}, pending {}, failed {}",
            g("delivered"),
            g("pending"),
            g("failed")
        );
        if let Some(d) = e.get("disabled").filter(|d| !d.is_null()) {
            line.push_str(&format!(
                "; DISABLED: {} (`behalf webhooks enable {id}`)",
                d.get("reason").and_then(Value::as_str).unwrap_or("")
            ));
        } else if let Some(t) = e.get("backingOffUntil").and_then(Value::as_str) {
            line.push_str(&format!("; unreachable, next try {t}"));
        }
        if e.get("inPolicy") == Some(&Value::Bool(false)) {
            line.push_str("; not in behalf.json (removed)");
        }
        println!("{line}");
    }
    if !deliveries.is_empty() {
        println!();
        println!("undelivered:");
        for d in &deliveries {
            let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let mut line = format!(
                "  {}  {}  {}  seq {}  {}  attempts {}",
                s("msgId"),
                s("endpoint"),
                s("type"),
                d.get("seq").and_then(Value::as_i64).unwrap_or(0),
                s("status"),
                d.get("attempts").and_then(Value::as_i64).unwrap_or(0)
            );
            if let Some(n) = d.get("nextAttempt").and_then(Value::as_str) {
                line.push_str(&format!("  next {n}"));
            }
            if let Some(err) = d.get("lastError").and_then(Value::as_str) {
                line.push_str(&format!("  last: {err}"));
            }
            println!("{line}");
        }
    }
    Ok(exit::OK)
}
