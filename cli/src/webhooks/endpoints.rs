//! `webhooks add|remove|rotate|enable`: the endpoints listed in behalf.json.

use rusqlite::params;

use crate::error::{exit, CliError, Result};
use crate::ojson::OValue;
use crate::project::write_atomically;
use crate::project::{Loaded, Project};

use super::AddArgs;

fn read_doc(project: &Project) -> Result<OValue> {
    let file = project.display();
    let text = project.read_text()?;
    OValue::parse(&text).map_err(|e| {
        CliError::config(format!("{file} is not valid JSON")).detail(format!(
            "{file}:{}:{}: {e}",
            e.line(),
            e.column()
        ))
    })
}

fn save(project: &Project, doc: &OValue) -> Result<()> {
    let file = project.display();
    let text = doc.to_pretty();
    Loaded::from_text(&file, text.clone()).map_err(|mut e| {
        e.message = format!(
            "the edit would make {file} invalid; it was not changed: {}",
            e.message
        );
        e
    })?;
    write_atomically(&project.policy_path, &text)
}

fn hooks_mut(doc: &mut OValue) -> Result<&mut Vec<OValue>> {
    if doc.get("webhooks").is_none() {
        doc.set("webhooks", OValue::Array(Vec::new()));
    }
    doc.get_mut("webhooks")
        .and_then(OValue::as_array_mut)
        .ok_or_else(|| CliError::config("`webhooks` is not an array").hint("run `behalf check`"))
}

fn find_hook<'a>(doc: &'a mut OValue, id: &str) -> Result<&'a mut OValue> {
    hooks_mut(doc)?
        .iter_mut()
        .find(|w| w.get("id").and_then(OValue::as_str) == Some(id))
        .ok_or_else(|| {
            CliError::usage(format!("no webhook endpoint `{id}` in the policy"))
                .hint("see `behalf webhooks list`")
        })
}

fn env_name_for(id: &str) -> String {
    let tail: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("BEHALF_WEBHOOK_SECRET_{tail}")
}

fn print_secret_hint(name: &str) {
    if std::env::var(name).map(|v| v.is_empty()).unwrap_or(true) {
        match behalf_core::webhook::new_secret() {
            Some(secret) => {
                println!("a new secret for it (give the receiver the same one; behalf.json never holds it):");
                println!("  export {name}={secret}");
            }
            None => {
                println!("set ${name} to a `whsec_` secret (no random source to make one here)")
            }
        }
    } else {
        println!("${name} is set: messages are signed with it");
    }
}

pub(super) fn add(project: &Project, a: AddArgs) -> Result<u8> {
    let mut doc = read_doc(project)?;
    let exists = doc
        .get("webhooks")
        .and_then(OValue::as_array)
        .into_iter()
        .flatten()
        .any(|w| w.get("id").and_then(OValue::as_str) == Some(a.id.as_str()));
    if exists {
        return Err(
            CliError::usage(format!("a webhook endpoint `{}` already exists", a.id))
                .hint("pick another id, or `behalf webhooks remove` it first"),
        );
    }
    let secret_env = a.secret_env.unwrap_or_else(|| env_name_for(&a.id));
    let events: Vec<String> = if a.events.is_empty() {
        vec!["*".into()]
    } else {
        a.events
            .iter()
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect()
    };
    let mut item = vec![
        ("id", OValue::str(a.id.clone())),
        ("url", OValue::str(a.url.clone())),
        (
            "events",
            OValue::Array(events.into_iter().map(OValue::str).collect()),
        ),
        ("secretEnv", OValue::str(secret_env.clone())),
    ];
    if let Some(d) = a.description {
        item.push(("description", OValue::str(d)));
    }
    hooks_mut(&mut doc)?.push(OValue::obj(item));
    save(project, &doc)?;
    println!(
        "added webhook endpoint {} → {} ({})",
        a.id,
        a.url,
        project.display()
    );
    print_secret_hint(&secret_env);
    Ok(exit::OK)
}

pub(super) fn remove(project: &Project, id: &str, purge: bool) -> Result<u8> {
    let mut doc = read_doc(project)?;
    let list = hooks_mut(&mut doc)?;
    let at = list
        .iter()
        .position(|w| w.get("id").and_then(OValue::as_str) == Some(id))
        .ok_or_else(|| {
            CliError::usage(format!("no webhook endpoint `{id}` in the policy"))
                .hint("see `behalf webhooks list`")
        })?;
    list.remove(at);
    if list.is_empty() {
        if let OValue::Object(items) = &mut doc {
            items.retain(|(k, _)| k != "webhooks");
        }
    }
    save(project, &doc)?;
    let mut store = project.store()?;
    let conn = store.conn();
    let waiting: i64 = conn.query_row(
        "SELECT count(*) FROM webhook_outbox WHERE endpoint = ?1 AND status != 'delivered'",
        params![id],
        |r| r.get(0),
    )?;
    if purge {
        conn.execute(
            "DELETE FROM webhook_outbox WHERE endpoint = ?1 AND status != 'delivered'",
            params![id],
        )?;
        conn.execute("DELETE FROM webhook_endpoint WHERE id = ?1", params![id])?;
    }
    println!("removed webhook endpoint {id} ({})", project.display());
    if waiting > 0 {
        if purge {
            println!("dropped its {waiting} undelivered message(s)");
        } else {
            println!("its {waiting} undelivered message(s) stay queued; `--purge` drops them");
        }
    }
    Ok(exit::OK)
}

pub(super) fn rotate(
    project: &Project,
    id: &str,
    secret_env: Option<String>,
    finish: bool,
) -> Result<u8> {
    let mut doc = read_doc(project)?;
    let hook = find_hook(&mut doc, id)?;
    let current = hook
        .get("secretEnv")
        .and_then(OValue::as_str)
        .unwrap_or("")
        .to_string();
    let previous = hook
        .get("previousSecretEnv")
        .and_then(OValue::as_str)
        .map(str::to_string);
    if finish {
        let Some(prev) = previous else {
            return Err(
                CliError::usage(format!("endpoint `{id}` has no rotation in progress"))
                    .hint(format!("start one with `behalf webhooks rotate {id}`")),
            );
        };
        if let OValue::Object(items) = hook {
            items.retain(|(k, _)| k != "previousSecretEnv");
        }
        save(project, &doc)?;
        println!("rotation of {id} finished: only ${current} signs now; ${prev} can be unset");
        return Ok(exit::OK);
    }
    if let Some(prev) = previous {
        return Err(CliError::usage(format!(
            "endpoint `{id}` is already rotating (${prev} → ${current})"
        ))
        .hint(format!(
            "finish it first: `behalf webhooks rotate {id} --finish`"
        )));
    }
    let next = secret_env.unwrap_or_else(|| match current.strip_suffix("_2") {
        Some(base) if !base.is_empty() => base.to_string(),
        _ => format!("{current}_2"),
    });
    if next == current {
        return Err(CliError::usage(format!(
            "the new secret needs its own variable, not ${current}"
        ))
        .hint("pass --secret-env NEW_NAME"));
    }
    hook.set("secretEnv", OValue::str(next.clone()));
    let mut items = match std::mem::replace(hook, OValue::Null) {
        OValue::Object(items) => items,
        other => {
            *hook = other;
            return Err(CliError::config(format!("webhook `{id}` is not an object")));
        }
    };
    let at = items
        .iter()
        .position(|(k, _)| k == "secretEnv")
        .map_or(items.len(), |i| i + 1);
    items.insert(
        at,
        ("previousSecretEnv".into(), OValue::str(current.clone())),
    );
    *hook = OValue::Object(items);
    save(project, &doc)?;
    println!(
        "rotating {id}: messages are signed with ${next} and ${current} until `behalf webhooks rotate {id} --finish`"
    );
    print_secret_hint(&next);
    Ok(exit::OK)
}

pub(super) fn enable(project: &Project, id: &str) -> Result<u8> {
    let loaded = project.load()?;
    if !loaded.policy.webhooks.iter().any(|w| w.id == id) {
        return Err(
            CliError::usage(format!("no webhook endpoint `{id}` in the policy"))
                .hint("see `behalf webhooks list`"),
        );
    }
    let mut store = project.store()?;
    let n = store.conn().execute(
        "UPDATE webhook_endpoint SET disabled_at = NULL, disabled_reason = NULL, retry_at = 0
         WHERE id = ?1 AND disabled_at IS NOT NULL",
        params![id],
    )?;
    if n == 0 {
        println!("endpoint {id} is not disabled");
    } else {
        println!("endpoint {id} enabled; its queued messages are delivered next");
    }
    Ok(exit::OK)
}
