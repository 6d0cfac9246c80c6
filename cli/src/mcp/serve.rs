//! `behalf mcp serve`: a stdio MCP server with `verify_action` and `approval_status`. The agent
//! is fixed when it starts, so a model cannot decide for another agent by naming it.

use std::io::BufReader;

use behalf_core::state::ApprovalStatus;
use behalf_core::time::format_rfc3339;
use serde_json::{json, Map, Value};

use super::framing::{negotiate, parse_lossy, parse_strict, read_frame, FrameError, Out};
use super::{error_response, refusal_text, response, summary, tool_error};
use crate::commands::default_agent;
use crate::error::{exit, Result};
use crate::project::{self, Project};
use crate::store::Store;
use crate::Globals;

/// Verifies one request durably: the decision is committed before it is returned.
fn decide(project: &Project, store: &mut Store, request: &Value) -> Result<Value> {
    let loaded = project.load()?;
    let now = project::now()?;
    let decision = store.verify(&loaded.policy, now, crate::store::Input::Value(request))?;
    Ok(decision.to_value())
}

fn serve_tools() -> Value {
    json!([
        {
            "name": "verify_action",
            "title": "Verify an action with behalf",
            "description": "Ask behalf whether an action may run BEFORE running it. Run the action only when the answer has \"allowed\": true. On \"approval_required\" do not run it: tell the user the approval id and the command that approves it, then retry after they approve. On \"denied\" do not run it and do not retry.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "action": {"type": "string", "description": "what the agent wants to do, e.g. deploy, purchase, send_email"},
                    "vendor": {"type": "string", "description": "the vendor host, e.g. vercel.com"},
                    "resource": {"type": "string", "description": "a resource path, e.g. db/prod/users"},
                    "params": {"type": "object", "description": "parameters the policy may test, e.g. {\"env\": \"production\", \"amount\": 42}"},
                    "agentId": {"type": "string", "description": "must be the agent this server was started for (--agent), or absent"},
                    "requestId": {"type": "string", "description": "an id to echo"}
                },
                "required": ["action"]
            }
        },
        {
            "name": "approval_status",
            "title": "Status of a behalf approval",
            "description": "Whether a person has approved or denied a held action (by its approval id, apr_...).",
            "inputSchema": {
                "type": "object",
                "properties": {"approvalId": {"type": "string"}},
                "required": ["approvalId"]
            }
        }
    ])
}

pub fn serve(g: &Globals, agent: Option<String>) -> Result<u8> {
    let project = g.project()?;
    let loaded = project.load()?;
    // Fixed at start: without one agent there is nobody to decide for.
    let agent = default_agent(agent, &loaded)?;
    let mut store = project.store()?;
    crate::webhooks::spawn_background(&project);
    let out = Out::new(std::io::stdout());
    let mut input = BufReader::new(std::io::stdin());
    let mut frame = Vec::new();
    while read_frame(&mut input, &mut frame).is_some() {
        if frame.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let reply = match parse_strict(&frame).map_err(|e| (e, parse_lossy(&frame))) {
            Err((FrameError::NotJson, _)) => {
                Some(error_response(&Value::Null, -32700, "parse error"))
            }
            Err((FrameError::DuplicateKey(path), lossy)) => Some(error_response(
                &lossy
                    .and_then(|v| v.get("id").cloned())
                    .unwrap_or(Value::Null),
                -32600,
                &format!("invalid request: the frame repeats the key at `{path}`"),
            )),
            Ok(Value::Array(items)) => {
                let replies: Vec<Value> = items
                    .iter()
                    .filter_map(|m| serve_one(&project, &mut store, &agent, m))
                    .collect();
                if items.is_empty() {
                    Some(error_response(&Value::Null, -32600, "empty batch"))
                } else if replies.is_empty() {
                    None
                } else {
                    Some(Value::Array(replies))
                }
            }
            Ok(m) => serve_one(&project, &mut store, &agent, &m),
        };
        if let Some(r) = reply {
            out.send(&r);
        }
    }
    Ok(exit::OK)
}

fn serve_one(project: &Project, store: &mut Store, agent: &str, m: &Value) -> Option<Value> {
    let id = m.get("id")?.clone();
    let Some(method) = m.get("method").and_then(Value::as_str) else {
        // A response to a request we never sent, or garbage: nothing to answer.
        return None;
    };
    let params = m.get("params").cloned().unwrap_or(Value::Null);
    Some(match method {
        "initialize" => response(
            &id,
            json!({
                "protocolVersion": negotiate(&params),
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": {"name": "behalf", "version": env!("CARGO_PKG_VERSION")},
                "instructions": "Call verify_action before any action with side effects; run it only when allowed is true. On approval_required, stop and tell the user the approval id and `behalf approvals approve <id>`."
            }),
        ),
        "ping" => response(&id, json!({})),
        "tools/list" => response(&id, json!({"tools": serve_tools()})),
        "tools/call" => {
            let name = params.get("name").and_then(Value::as_str).unwrap_or("");
            let args = params.get("arguments").cloned().unwrap_or(json!({}));
            match name {
                "verify_action" => verify_action(project, store, agent, &id, &args),
                "approval_status" => approval_status(project, store, &id, &args),
                _ => error_response(&id, -32602, &format!("unknown tool `{name}`")),
            }
        }
        _ => error_response(&id, -32601, &format!("method `{method}` not found")),
    })
}

fn verify_action(
    project: &Project,
    store: &mut Store,
    agent: &str,
    id: &Value,
    args: &Value,
) -> Value {
    let Value::Object(args) = args else {
        return tool_error(id, "arguments must be an object".into(), None);
    };
    match args.get("agentId") {
        None | Some(Value::Null) => {}
        Some(Value::String(named)) if named == agent => {}
        Some(other) => {
            eprintln!(
                "behalf: denied verify_action for agentId {other}: this server decides for {agent}"
            );
            return tool_error(
                id,
                format!(
                    "DENIED — this behalf server decides for agent `{agent}` only; a verify_action \
                     naming agentId {other} was not verified. Do not execute the action."
                ),
                None,
            );
        }
    }
    let mut request = Map::new();
    request.insert("agentId".into(), json!(agent));
    for k in ["action", "vendor", "resource", "params", "requestId"] {
        if let Some(v) = args.get(k) {
            if !v.is_null() {
                request.insert(k.into(), v.clone());
            }
        }
    }
    // Unknown keys are passed on, so the engine rejects a typo instead of ignoring it.
    for (k, v) in args {
        if !request.contains_key(k) && k != "agentId" {
            request.insert(k.clone(), v.clone());
        }
    }
    match decide(project, store, &Value::Object(request)) {
        Ok(packet) => {
            let head = match packet.get("decision").and_then(Value::as_str) {
                Some("allowed") => format!("ALLOWED — {} may run.", summary(&packet)),
                _ => refusal_text(&packet, None),
            };
            response(
                id,
                json!({
                    "content": [{"type": "text", "text": format!("{head}\n\n{packet}")}],
                    "structuredContent": packet,
                    "isError": false
                }),
            )
        }
        Err(e) => tool_error(
            id,
            format!(
                "DENIED — behalf could not verify or record this action ({e}); do not execute it."
            ),
            None,
        ),
    }
}

fn approval_status(project: &Project, store: &mut Store, id: &Value, args: &Value) -> Value {
    let Some(approval_id) = args.get("approvalId").and_then(Value::as_str) else {
        return tool_error(id, "approvalId is required".into(), None);
    };
    let found = project.load().and_then(|loaded| {
        let now = project::now()?;
        store.read(&loaded.policy, now, |e| {
            let approval = e
                .export_state()
                .state
                .approvals
                .into_iter()
                .find(|a| a.id == approval_id);
            (approval, e.grants(now))
        })
    });
    match found {
        Ok((Some(a), grants)) => {
            let grant = a
                .grant_id
                .as_deref()
                .and_then(|gid| grants.into_iter().find(|g| g.id == gid));
            let text = match (a.status, &grant) {
                (ApprovalStatus::Approved, Some(g)) => format!(
                    "{approval_id} is approved; grant {} is active until {}. Retry the identical call now.",
                    g.id,
                    format_rfc3339(g.expires_at)
                ),
                (ApprovalStatus::Approved, None) => format!("{approval_id} was approved, but its grant has ended or was used; a retry will ask again."),
                (ApprovalStatus::Denied, _) => format!("{approval_id} was denied by a person. Do not execute the action."),
                (ApprovalStatus::Pending, _) => format!("{approval_id} is still pending. Do not execute the action; wait for a person to approve it with `behalf approvals approve {approval_id}`."),
            };
            let info = json!({"approval": a, "grant": grant, "status": a.status});
            response(id, json!({"content": [{"type": "text", "text": text}], "structuredContent": info, "isError": false}))
        }
        Ok((None, _)) => tool_error(
            id,
            format!("no pending or decided approval `{approval_id}` (unknown, or its window ended); retrying the action will open a new one"),
            None,
        ),
        Err(e) => tool_error(id, format!("behalf could not read its state: {e}"), None),
    }
}
