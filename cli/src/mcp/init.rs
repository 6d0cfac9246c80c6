//! `behalf mcp init`: writes .mcp.json so that every server runs behind `behalf mcp proxy`.

use super::{profiles, sanitize_vendor, InitArgs};
use crate::commands::default_agent;
use crate::error::{exit, CliError, Result};
use crate::ojson::OValue;
use crate::project::write_atomically;
use crate::Globals;

/// The agent's key, from the client's environment: `.mcp.json` never holds the key itself.
fn key_env() -> OValue {
    OValue::obj(vec![(
        crate::remote::KEY_ENV,
        OValue::str(format!("${{{}}}", crate::remote::KEY_ENV)),
    )])
}

fn is_wrapped(server: &OValue) -> bool {
    server
        .get("args")
        .and_then(OValue::as_array)
        .and_then(|a| a.first())
        .and_then(OValue::as_str)
        == Some("mcp")
}

pub fn init(g: &Globals, a: InitArgs) -> Result<u8> {
    let agent = match (&a.url, a.agent.clone()) {
        // With a server, no local policy is needed: the agent is named.
        (Some(_), Some(agent)) => agent,
        _ => {
            let project = g.project().map_err(|e| match &a.url {
                Some(_) => CliError::usage("--url needs the agent: --agent ID or BEHALF_AGENT"),
                None => e,
            })?;
            default_agent(a.agent.clone(), &project.load()?)?
        }
    };
    if let Some(url) = &a.url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(
                CliError::usage(format!("`{url}` is not an http:// or https:// address"))
                    .hint("pass the server's address, e.g. --url http://127.0.0.1:7777"),
            );
        }
    }
    let file = a.file.display().to_string();
    let mut doc = match std::fs::read_to_string(&a.file) {
        Ok(text) => OValue::parse(&text).map_err(|e| {
            CliError::config(format!("{file} is not valid JSON")).detail(format!(
                "{file}:{}:{}: {e}",
                e.line(),
                e.column()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => OValue::Object(Vec::new()),
        Err(e) => return Err(CliError::usage(format!("cannot read {file}: {e}"))),
    };
    if doc.get("mcpServers").is_none() {
        doc.set("mcpServers", OValue::Object(Vec::new()));
    }
    let Some(OValue::Object(servers)) = doc.get_mut("mcpServers") else {
        return Err(CliError::config(format!(
            "{file}: mcpServers is not an object"
        )));
    };
    let proxy_args = |name: &str, map: Option<&str>, cmd: Vec<OValue>| -> Vec<OValue> {
        let mut v = vec![OValue::str("mcp"), OValue::str("proxy")];
        if let Some(url) = &a.url {
            v.push(OValue::str("--url"));
            v.push(OValue::str(url.clone()));
        }
        v.extend([
            OValue::str("--agent"),
            OValue::str(agent.clone()),
            OValue::str("--server"),
            OValue::str(sanitize_vendor(name)),
        ]);
        if let Some(m) = map {
            v.push(OValue::str("--profile"));
            v.push(OValue::str(m));
        }
        v.push(OValue::str("--"));
        v.extend(cmd);
        v
    };
    let mut changes = Vec::new();
    for (name, server) in servers.iter_mut() {
        if name == "behalf" || is_wrapped(server) {
            continue;
        }
        let Some(cmd) = server
            .get("command")
            .and_then(OValue::as_str)
            .map(str::to_string)
        else {
            changes.push(format!(
                "skipped {name}: not a stdio server (no command); it is NOT enforced"
            ));
            continue;
        };
        let mut inner = vec![OValue::str(cmd)];
        inner.extend(
            server
                .get("args")
                .and_then(OValue::as_array)
                .cloned()
                .unwrap_or_default(),
        );
        server.set("command", OValue::str(a.command.clone()));
        server.set("args", OValue::Array(proxy_args(name, None, inner)));
        if a.url.is_some() {
            server.set("env", key_env());
        }
        changes.push(format!("wrapped {name} in `behalf mcp proxy`"));
    }
    if let Some(name) = &a.server {
        if a.profile.is_none() && !profiles::is_builtin(&sanitize_vendor(name)) {
            changes.push(format!(
                "note: {name} has no built-in profile; its path- and URL-like arguments are denied \
                 until a --profile maps them (see `behalf mcp profile filesystem`)"
            ));
        }
        let cmd: Vec<OValue> = a
            .server_command
            .iter()
            .map(|s| OValue::str(s.clone()))
            .collect();
        let mut fields = vec![
            ("command", OValue::str(a.command.clone())),
            (
                "args",
                OValue::Array(proxy_args(name, a.profile.as_deref(), cmd)),
            ),
        ];
        if a.url.is_some() {
            fields.push(("env", key_env()));
        }
        let entry = OValue::obj(fields);
        match servers.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = entry,
            None => servers.push((name.clone(), entry)),
        }
        changes.push(format!("added {name} behind `behalf mcp proxy`"));
    }
    if a.url.is_some() {
        changes.push(
            "decisions on the server: the client must have BEHALF_AGENT_KEY in its environment"
                .into(),
        );
    } else if !servers.iter().any(|(n, _)| n == "behalf") {
        servers.push((
            "behalf".into(),
            OValue::obj(vec![
                ("command", OValue::str(a.command.clone())),
                (
                    "args",
                    OValue::Array(vec![
                        OValue::str("mcp"),
                        OValue::str("serve"),
                        OValue::str("--agent"),
                        OValue::str(agent.clone()),
                    ]),
                ),
            ]),
        ));
        changes.push("added behalf (`behalf mcp serve`: verify_action, approval_status)".into());
    }
    write_atomically(&a.file, &doc.to_pretty())?;
    if changes.is_empty() {
        println!("{file} already routes every server through behalf; nothing changed");
    } else {
        println!("wrote {file} (agent {agent}):");
        for c in changes {
            println!("  {c}");
        }
    }
    println!("next: `behalf claude` writes the CLAUDE.md section that tells the agent how behalf answers");
    Ok(exit::OK)
}
