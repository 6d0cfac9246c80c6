//! MCP: `behalf mcp serve` (a stdio server with `verify_action` and `approval_status`),
//! `behalf mcp proxy` (gates every `tools/call` of a real server), and `behalf mcp init`.
//!
//! Transport: newline-delimited JSON-RPC 2.0 on stdio, as MCP's stdio transport specifies.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::commands::{default_agent, write_atomically};
use crate::error::{exit, CliError, Result};
use crate::ojson::OValue;
use crate::project::{self, Project};
use crate::store::Store;
use crate::Globals;

const PROTOCOL_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
const LATEST_PROTOCOL: &str = "2025-06-18";
/// Argument strings longer than this are replaced by their SHA-256 in the request's params
/// (the engine caps strings at 8 KiB; an approval then covers exactly that content).
const MAX_PARAM_STRING: usize = 4096;
/// Methods forwarded as they are. Anything else with an id is answered "method not found".
const PASSTHROUGH: [&str; 11] = [
    "initialize",
    "ping",
    "tools/list",
    "resources/list",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
];

#[derive(Subcommand, Debug)]
pub enum McpCommand {
    /// A stdio MCP server with `verify_action` and `approval_status`, for agents that ask
    /// behalf explicitly before acting
    #[command(after_help = "Examples:
  behalf mcp serve --agent agent_claude_code
  claude mcp add behalf -- behalf mcp serve --agent agent_claude_code")]
    Serve {
        /// The agent id used when a call gives no agentId [default: BEHALF_AGENT, or the only
        /// passport's agent]
        #[arg(long, env = "BEHALF_AGENT", value_name = "ID")]
        agent: Option<String>,
    },
    /// Run a real MCP server behind behalf: every tools/call is verified before it is
    /// forwarded; denied and approval-required calls never reach the server
    #[command(
        after_help = "Each tools/call becomes a request: action = the tool name, vendor = --server,
params = the arguments. A map file can set action, vendor and resource per tool:

  {
    \"vendor\": \"filesystem\",
    \"tools\": {
      \"write_file\": { \"action\": \"fs.write\", \"resource\": \"{path}\" },
      \"read_*\":     { \"action\": \"fs.read\",  \"resource\": \"{path}\" },
      \"move_file\":  { \"action\": \"fs.move\",  \"resource\": \"{destination}\" }
    },
    \"default\": { \"params\": \"arguments\" }
  }

Templates take `{argument.path}` from the call's arguments (and `{tool}` for the tool name);
a template whose argument is missing denies the call. `params` is \"arguments\" (default),
\"none\", or a list of argument names. Exact tool names win over patterns; among patterns
the longest wins.

Examples:
  behalf mcp proxy --server filesystem -- npx -y @modelcontextprotocol/server-filesystem .
  behalf mcp proxy --agent agent_claude_code --map behalf.map.json --hide-blocked -- ./server"
    )]
    Proxy(ProxyArgs),
    /// Write .mcp.json so that an agent's MCP servers run behind `behalf mcp proxy`
    #[command(
        after_help = "Wraps every server already in .mcp.json (idempotent), adds a `behalf` server
(`behalf mcp serve`), and with --server NAME -- CMD… adds that server, wrapped.

Examples:
  behalf mcp init
  behalf mcp init --server filesystem -- npx -y @modelcontextprotocol/server-filesystem ."
    )]
    Init(InitArgs),
}

#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// The acting agent [default: BEHALF_AGENT, or the only passport's agent]
    #[arg(long, env = "BEHALF_AGENT", value_name = "ID")]
    agent: Option<String>,
    /// The server's name: the vendor of its requests
    #[arg(long, default_value = "mcp", value_name = "NAME")]
    server: String,
    /// A map file: action, vendor and resource per tool (see above)
    #[arg(long, value_name = "FILE")]
    map: Option<PathBuf>,
    /// Leave tools that are blocked outright out of tools/list
    #[arg(long)]
    hide_blocked: bool,
    /// The real server's command and arguments
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The agent the servers act for [default: BEHALF_AGENT, or the only passport's agent]
    #[arg(long, env = "BEHALF_AGENT", value_name = "ID")]
    agent: Option<String>,
    /// The file to write
    #[arg(long, default_value = ".mcp.json", value_name = "FILE")]
    file: PathBuf,
    /// How .mcp.json should start behalf
    #[arg(long, default_value = "behalf", value_name = "PATH")]
    command: String,
    /// Add this server (its command follows `--`)
    #[arg(long, value_name = "NAME", requires = "server_command")]
    server: Option<String>,
    /// A map file for the added server
    #[arg(long, value_name = "FILE", requires = "server")]
    map: Option<String>,
    #[arg(last = true, value_name = "CMD")]
    server_command: Vec<String>,
}

pub fn run(g: &Globals, c: McpCommand) -> Result<u8> {
    match c {
        McpCommand::Serve { agent } => serve(g, agent),
        McpCommand::Proxy(a) => proxy(g, a),
        McpCommand::Init(a) => init(g, a),
    }
}

// --- shared ----------------------------------------------------------------------------------

fn response(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn error_response(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn negotiate(params: &Value) -> &'static str {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    PROTOCOL_VERSIONS
        .iter()
        .find(|v| Some(**v) == asked)
        .copied()
        .unwrap_or(LATEST_PROTOCOL)
}

fn sanitize_vendor(name: &str) -> String {
    let s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() {
        "mcp".into()
    } else {
        s
    }
}

fn summary(packet: &Value) -> String {
    let g = |k: &str| packet.get(k).and_then(Value::as_str);
    let mut s = g("action").unwrap_or("action").to_string();
    if let Some(v) = g("vendor") {
        s.push_str(&format!(" on {v}"));
    }
    if let Some(r) = g("resource") {
        s.push_str(&format!(" [{r}]"));
    }
    s
}

/// The text the model reads when a call is not allowed.
fn refusal_text(packet: &Value) -> String {
    let g = |k: &str| packet.get(k).and_then(Value::as_str).unwrap_or("-");
    if g("decision") == "approval_required" {
        let id = g("approvalId");
        format!(
            "APPROVAL REQUIRED — do not execute this action.\n\
             Action: {}\n\
             Approval ID: {id}\n\
             Approve with: behalf approvals approve {id}\n\
             Request ID: {}\n\
             Why: {}\n\
             The action was not executed. Tell the user the approval ID and the command above, \
             and wait; do not perform it any other way. Once a person has approved it, retry \
             the identical call.",
            summary(packet),
            g("requestId"),
            g("message"),
        )
    } else {
        format!(
            "DENIED by behalf policy — this action was not executed and must not be retried.\n\
             Action: {}\n\
             Reason: {} — {}\n\
             Request ID: {}\n\
             Do not try to achieve the same effect another way; tell the user it was denied.",
            summary(packet),
            g("reason"),
            g("message"),
            g("requestId"),
        )
    }
}

fn tool_error(id: &Value, text: String, packet: Option<&Value>) -> Value {
    let result = match packet {
        Some(p) => json!({"content": [{"type": "text", "text": text}], "isError": true,
            "_meta": {"behalf/decision": p}}),
        None => json!({"content": [{"type": "text", "text": text}], "isError": true}),
    };
    response(id, result)
}

/// Verifies one request durably: the decision is committed before it is returned.
fn decide(project: &Project, store: &mut Store, request: &Value) -> Result<Value> {
    let loaded = project.load()?;
    let now = project::now()?;
    let decision = store.verify(&loaded.policy, now, crate::store::Input::Value(request))?;
    Ok(decision.to_value())
}

struct Out(Mutex<std::io::Stdout>);

impl Out {
    fn send(&self, v: &Value) {
        self.send_text(&v.to_string());
    }
    fn send_text(&self, text: &str) {
        let stdout = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut w = stdout.lock();
        let _ = writeln!(w, "{text}");
        let _ = w.flush();
    }
}

// --- serve -----------------------------------------------------------------------------------

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
                    "agentId": {"type": "string", "description": "the acting agent (default: the server's --agent)"},
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

fn serve(g: &Globals, agent: Option<String>) -> Result<u8> {
    let project = g.project()?;
    let loaded = project.load()?;
    let agent = default_agent(agent, &loaded).ok();
    let mut store = project.store()?;
    crate::webhooks::spawn_background(&project);
    let out = Out(Mutex::new(std::io::stdout()));
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Value>(&line) {
            Err(_) => Some(error_response(&Value::Null, -32700, "parse error")),
            Ok(Value::Array(items)) => {
                let replies: Vec<Value> = items
                    .iter()
                    .filter_map(|m| serve_one(&project, &mut store, agent.as_deref(), m))
                    .collect();
                if items.is_empty() {
                    Some(error_response(&Value::Null, -32600, "empty batch"))
                } else if replies.is_empty() {
                    None
                } else {
                    Some(Value::Array(replies))
                }
            }
            Ok(m) => serve_one(&project, &mut store, agent.as_deref(), &m),
        };
        if let Some(r) = reply {
            out.send(&r);
        }
    }
    Ok(exit::OK)
}

fn serve_one(
    project: &Project,
    store: &mut Store,
    agent: Option<&str>,
    m: &Value,
) -> Option<Value> {
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
    agent: Option<&str>,
    id: &Value,
    args: &Value,
) -> Value {
    let Value::Object(args) = args else {
        return tool_error(id, "arguments must be an object".into(), None);
    };
    let mut request = Map::new();
    let agent_id = args
        .get("agentId")
        .cloned()
        .or_else(|| agent.map(|a| json!(a)));
    match agent_id {
        Some(a) => request.insert("agentId".into(), a),
        None => {
            return tool_error(
                id,
                "DENIED — no agentId given and the server has no --agent; nothing was verified."
                    .into(),
                None,
            )
        }
    };
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
                _ => refusal_text(&packet),
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
            let state = e.export_state();
            let approvals = state
                .pointer("/state/approvals")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let grants = e.grants(now);
            let approval = approvals
                .into_iter()
                .find(|a| a.get("approvalId").and_then(Value::as_str) == Some(approval_id));
            (approval, grants)
        })
    });
    match found {
        Ok((Some(a), grants)) => {
            let status = a.get("status").and_then(Value::as_str).unwrap_or("unknown").to_string();
            let grant = a.get("grantId").and_then(Value::as_str).and_then(|gid| {
                grants
                    .as_array()
                    .and_then(|l| l.iter().find(|g| g.get("grantId").and_then(Value::as_str) == Some(gid)))
                    .cloned()
            });
            let text = match (status.as_str(), &grant) {
                ("approved", Some(g)) => format!(
                    "{approval_id} is approved; grant {} is active until {}. Retry the identical call now.",
                    g.get("grantId").and_then(Value::as_str).unwrap_or("-"),
                    g.get("expiresAt").and_then(Value::as_str).unwrap_or("-")
                ),
                ("approved", None) => format!("{approval_id} was approved, but its grant has ended or was used; a retry will ask again."),
                ("denied", _) => format!("{approval_id} was denied by a person. Do not execute the action."),
                _ => format!("{approval_id} is still pending. Do not execute the action; wait for a person to approve it with `behalf approvals approve {approval_id}`."),
            };
            let info = json!({"approval": a, "grant": grant, "status": status});
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

// --- proxy: mapping --------------------------------------------------------------------------

#[derive(Clone, Debug, Default)]
struct Rule {
    action: Option<String>,
    vendor: Option<String>,
    resource: Option<String>,
    /// None = all arguments; Some(list) = only those names.
    params: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default)]
struct ToolMap {
    vendor: Option<String>,
    exact: Vec<(String, Rule)>,
    patterns: Vec<(String, Rule)>,
    default: Rule,
}

fn parse_rule(v: &Value, at: &str) -> Result<Rule> {
    let Value::Object(m) = v else {
        return Err(CliError::data(format!("{at} must be an object")));
    };
    let mut rule = Rule::default();
    for (k, v) in m {
        let text = || -> Result<Option<String>> {
            match v {
                Value::String(s) => Ok(Some(s.clone())),
                Value::Null => Ok(None),
                _ => Err(CliError::data(format!("{at}.{k} must be a string"))),
            }
        };
        match k.as_str() {
            "action" => rule.action = text()?,
            "vendor" => rule.vendor = text()?,
            "resource" => rule.resource = text()?,
            "params" => {
                rule.params = match v {
                    Value::String(s) if s == "arguments" => None,
                    Value::String(s) if s == "none" => Some(Vec::new()),
                    Value::Array(items) => Some(
                        items
                            .iter()
                            .map(|i| i.as_str().map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(|| {
                                CliError::data(format!("{at}.params must list argument names"))
                            })?,
                    ),
                    _ => {
                        return Err(CliError::data(format!(
                        "{at}.params must be \"arguments\", \"none\" or a list of argument names"
                    )))
                    }
                }
            }
            other => {
                return Err(CliError::data(format!("{at}: unknown key `{other}`"))
                    .hint("a rule has action, vendor, resource and params"))
            }
        }
    }
    Ok(rule)
}

fn load_map(path: &std::path::Path) -> Result<ToolMap> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::data(format!("cannot read the map file {name}: {e}")))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        CliError::data(format!("the map file {name} is not valid JSON")).detail(format!(
            "{name}:{}:{}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(top) = v else {
        return Err(CliError::data(format!(
            "the map file {name} must be a JSON object"
        )));
    };
    let mut map = ToolMap::default();
    for (k, v) in &top {
        match k.as_str() {
            "vendor" => map.vendor = v.as_str().map(str::to_string),
            "default" => map.default = parse_rule(v, &format!("{name}: default"))?,
            "tools" => {
                let Value::Object(tools) = v else {
                    return Err(CliError::data(format!("{name}: tools must be an object")));
                };
                for (tool, rule) in tools {
                    let rule = parse_rule(rule, &format!("{name}: tools.{tool}"))?;
                    if tool.contains('*') {
                        map.patterns.push((tool.clone(), rule));
                    } else {
                        map.exact.push((tool.clone(), rule));
                    }
                }
                map.patterns
                    .sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
            }
            "$schema" | "description" => {}
            other => {
                return Err(CliError::data(format!("{name}: unknown key `{other}`"))
                    .hint("the map file has vendor, tools and default"))
            }
        }
    }
    Ok(map)
}

fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = rest.get(at + part.len()..).unwrap_or(""),
                None => return false,
            }
        }
    }
    rest.is_empty()
}

fn lookup<'a>(args: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = args.get(path) {
        return Some(v);
    }
    path.split('.').try_fold(args, |v, k| v.get(k))
}

/// Fills `{argument.path}` and `{tool}` in a template; a missing argument is an error.
fn fill(template: &str, tool: &str, args: &Value) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(rest.get(..start).unwrap_or(""));
        let after = rest.get(start + 1..).unwrap_or("");
        let Some(end) = after.find('}') else {
            return Err(format!("unclosed `{{` in `{template}`"));
        };
        let key = after.get(..end).unwrap_or("");
        if key == "tool" {
            out.push_str(tool);
        } else {
            match lookup(args, key) {
                Some(Value::String(s)) => out.push_str(s),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => out.push_str(&v.to_string()),
                _ => return Err(format!("the argument `{key}` is missing or not a string")),
            }
        }
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    Ok(out)
}

fn shrink(v: &Value) -> Value {
    match v {
        Value::String(s) if s.len() > MAX_PARAM_STRING => {
            let digest = Sha256::digest(s.as_bytes());
            json!(format!(
                "sha256:{} ({} bytes)",
                behalf_core::audit::hex(&digest),
                s.len()
            ))
        }
        Value::Array(a) => Value::Array(a.iter().map(shrink).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shrink(v))).collect()),
        other => other.clone(),
    }
}

impl ToolMap {
    fn rule(&self, tool: &str) -> &Rule {
        if let Some((_, r)) = self.exact.iter().find(|(n, _)| n == tool) {
            return r;
        }
        if let Some((_, r)) = self.patterns.iter().find(|(p, _)| glob(p, tool)) {
            return r;
        }
        &self.default
    }

    /// The behalf request for one tool call.
    fn request(
        &self,
        agent: &str,
        server: &str,
        tool: &str,
        args: &Value,
    ) -> std::result::Result<Value, String> {
        let rule = self.rule(tool);
        let action = match &rule.action {
            Some(t) => fill(t, tool, args)?,
            None => tool.to_string(),
        };
        let vendor = match &rule.vendor {
            Some(t) => fill(t, tool, args)?,
            None => self.vendor.clone().unwrap_or_else(|| server.to_string()),
        };
        let mut r = Map::new();
        r.insert("agentId".into(), json!(agent));
        r.insert("action".into(), json!(action));
        r.insert("vendor".into(), json!(vendor));
        if let Some(t) = &rule.resource {
            r.insert("resource".into(), json!(fill(t, tool, args)?));
        }
        let params = match (&rule.params, args) {
            (_, Value::Null) => Map::new(),
            (None, Value::Object(m)) => m.clone(),
            (Some(names), Value::Object(m)) => names
                .iter()
                .filter_map(|n| m.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
            _ => return Err("the call's arguments are not an object".into()),
        };
        r.insert("params".into(), shrink(&Value::Object(params)));
        Ok(Value::Object(r))
    }
}

// --- proxy: relay ----------------------------------------------------------------------------

struct Proxy {
    project: Project,
    store: Store,
    map: ToolMap,
    agent: String,
    server: String,
    out: Arc<Out>,
    child_in: ChildStdin,
    list_ids: Arc<Mutex<HashSet<String>>>,
    hide_blocked: bool,
}

enum Route {
    Forward(Value),
    Answer(Value),
    Drop,
}

impl Proxy {
    fn route(&mut self, m: Value) -> Route {
        let id = m.get("id").cloned();
        let method = m.get("method").and_then(Value::as_str).map(str::to_string);
        let Some(method) = method else {
            // A response to a server-initiated request (roots/list, sampling, …).
            if id.is_some() && (m.get("result").is_some() || m.get("error").is_some()) {
                return Route::Forward(m);
            }
            return match id {
                Some(id) => Route::Answer(error_response(&id, -32600, "invalid request")),
                None => Route::Drop,
            };
        };
        if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return match id {
                Some(id) => Route::Answer(error_response(
                    &id,
                    -32600,
                    "invalid request: jsonrpc must be \"2.0\"",
                )),
                None => Route::Drop,
            };
        }
        if method.starts_with("notifications/") {
            return Route::Forward(m);
        }
        let Some(id) = id else {
            // A request without an id is a notification; unknown ones are not forwarded.
            return Route::Drop;
        };
        match method.as_str() {
            "tools/call" | "resources/read" => self.gate(&id, &method, m),
            "tools/list" if self.hide_blocked => {
                if let Ok(mut ids) = self.list_ids.lock() {
                    ids.insert(id.to_string());
                }
                Route::Forward(m)
            }
            known if PASSTHROUGH.contains(&known) => Route::Forward(m),
            other => Route::Answer(error_response(
                &id,
                -32601,
                &format!("method `{other}` is not forwarded by the behalf proxy"),
            )),
        }
    }

    fn gate(&mut self, id: &Value, method: &str, m: Value) -> Route {
        let params = m.get("params").cloned().unwrap_or(Value::Null);
        let (tool, args) = if method == "tools/call" {
            match params.get("name").and_then(Value::as_str) {
                Some(n) => (
                    n.to_string(),
                    params.get("arguments").cloned().unwrap_or(Value::Null),
                ),
                None => {
                    return Route::Answer(error_response(
                        id,
                        -32602,
                        "tools/call needs params.name",
                    ))
                }
            }
        } else {
            (
                method.to_string(),
                json!({"uri": params.get("uri").cloned().unwrap_or(Value::Null)}),
            )
        };
        let request = match self.map.request(&self.agent, &self.server, &tool, &args) {
            Ok(r) => r,
            Err(why) => {
                eprintln!("behalf: denied {tool}: cannot map the call ({why})");
                return Route::Answer(tool_error(
                    id,
                    format!("DENIED by behalf policy — this action was not executed and must not be retried.\nReason: behalf could not map the call to a request: {why}"),
                    None,
                ));
            }
        };
        match decide(&self.project, &mut self.store, &request) {
            Ok(packet) => {
                let decision = packet
                    .get("decision")
                    .and_then(Value::as_str)
                    .unwrap_or("denied");
                let allowed =
                    decision == "allowed" && packet.get("allowed") == Some(&Value::Bool(true));
                eprintln!(
                    "behalf: {decision} {tool} ({}) {}",
                    packet.get("reason").and_then(Value::as_str).unwrap_or("-"),
                    packet
                        .get("requestId")
                        .and_then(Value::as_str)
                        .unwrap_or("-")
                );
                if allowed {
                    Route::Forward(m)
                } else {
                    Route::Answer(tool_error(id, refusal_text(&packet), Some(&packet)))
                }
            }
            Err(e) => {
                eprintln!("behalf: denied {tool}: {e}");
                Route::Answer(tool_error(
                    id,
                    format!("DENIED — behalf could not verify or record this call, so it was not executed: {e}"),
                    None,
                ))
            }
        }
    }

    fn forward(&mut self, v: &Value) -> bool {
        writeln!(self.child_in, "{v}")
            .and_then(|_| self.child_in.flush())
            .is_ok()
    }

    fn handle_line(&mut self, line: &str) -> bool {
        let parsed = match serde_json::from_str::<Value>(line) {
            Ok(v) => v,
            Err(_) => {
                self.out.send(&error_response(
                    &Value::Null,
                    -32700,
                    "parse error: the frame is not JSON; nothing was forwarded",
                ));
                return true;
            }
        };
        match parsed {
            Value::Array(items) => {
                if items.is_empty() {
                    self.out
                        .send(&error_response(&Value::Null, -32600, "empty batch"));
                    return true;
                }
                let mut forward = Vec::new();
                let mut answers = Vec::new();
                for item in items {
                    match self.route(item) {
                        Route::Forward(v) => forward.push(v),
                        Route::Answer(v) => answers.push(v),
                        Route::Drop => {}
                    }
                }
                if !answers.is_empty() {
                    self.out.send(&Value::Array(answers));
                }
                if !forward.is_empty() {
                    return self.forward(&Value::Array(forward));
                }
                true
            }
            Value::Object(_) => match self.route(parsed) {
                Route::Forward(v) => self.forward(&v),
                Route::Answer(v) => {
                    self.out.send(&v);
                    true
                }
                Route::Drop => true,
            },
            _ => {
                self.out
                    .send(&error_response(&Value::Null, -32600, "invalid request"));
                true
            }
        }
    }
}

/// Removes tools that any call would have blocked (no arguments needed to know).
fn filter_tools(line: &str, ctx: &HideCtx) -> String {
    let Ok(mut v) = serde_json::from_str::<Value>(line) else {
        return line.to_string();
    };
    let Some(id) = v.get("id").map(Value::to_string) else {
        return line.to_string();
    };
    let wanted = ctx
        .ids
        .lock()
        .map(|mut ids| ids.remove(&id))
        .unwrap_or(false);
    if !wanted {
        return line.to_string();
    }
    let (Ok(loaded), Ok(now)) = (ctx.project.load(), project::now()) else {
        return line.to_string();
    };
    if let Some(tools) = v.pointer_mut("/result/tools").and_then(Value::as_array_mut) {
        tools.retain(|t| {
            let name = t.get("name").and_then(Value::as_str).unwrap_or("");
            match ctx.map.request(&ctx.agent, &ctx.server, name, &json!({})) {
                Ok(req) => !matches!(
                    behalf_core::verify_once(&loaded.value, &req, now),
                    Ok(d) if d.reason == behalf_core::Reason::Blocked
                ),
                Err(_) => true,
            }
        });
    }
    v.to_string()
}

struct HideCtx {
    project: Project,
    map: ToolMap,
    agent: String,
    server: String,
    ids: Arc<Mutex<HashSet<String>>>,
}

fn proxy(g: &Globals, a: ProxyArgs) -> Result<u8> {
    let project = g.project()?;
    let loaded = project.load()?;
    let agent = default_agent(a.agent, &loaded)?;
    if loaded.policy.passport_for(&agent).is_none() {
        eprintln!(
            "behalf: warning: no passport for agent `{agent}` in {}; every call will be denied",
            project.display()
        );
    }
    let map = match &a.map {
        Some(p) => load_map(p)?,
        None => ToolMap::default(),
    };
    let server = sanitize_vendor(&a.server);
    let store = project.store()?;
    crate::webhooks::spawn_background(&project);
    let (program, args) = a
        .command
        .split_first()
        .ok_or_else(|| CliError::usage("the server command is missing after `--`"))?;
    let mut child: Child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            CliError::usage(format!("cannot start the MCP server `{program}`: {e}"))
                .hint("check the command after `--` (is it installed and on PATH?)")
        })?;
    let child_in = child
        .stdin
        .take()
        .ok_or_else(|| CliError::new(exit::SOFTWARE, "the server's stdin is not piped"))?;
    let child_out = child
        .stdout
        .take()
        .ok_or_else(|| CliError::new(exit::SOFTWARE, "the server's stdout is not piped"))?;
    let out = Arc::new(Out(Mutex::new(std::io::stdout())));
    let list_ids = Arc::new(Mutex::new(HashSet::new()));
    let hide = a.hide_blocked.then(|| HideCtx {
        project: project.clone(),
        map: map.clone(),
        agent: agent.clone(),
        server: server.clone(),
        ids: list_ids.clone(),
    });
    let child = Arc::new(Mutex::new(child));
    {
        let out = out.clone();
        let child = child.clone();
        std::thread::spawn(move || {
            let reader = BufReader::new(child_out);
            for line in reader.lines() {
                let Ok(line) = line else { break };
                match &hide {
                    Some(ctx) => out.send_text(&filter_tools(&line, ctx)),
                    None => out.send_text(&line),
                }
            }
            // The server is gone: end the session so the client notices.
            let code = child
                .lock()
                .ok()
                .and_then(|mut c| c.wait().ok())
                .and_then(|s| s.code())
                .unwrap_or(0);
            std::process::exit(code);
        });
    }
    let mut proxy = Proxy {
        project,
        store,
        map,
        agent,
        server,
        out,
        child_in,
        list_ids,
        hide_blocked: a.hide_blocked,
    };
    let stdin = std::io::stdin();
    let mut line = String::new();
    let mut input = stdin.lock();
    loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                // Not UTF-8: answer as a parse error, never forward.
                eprintln!("behalf: unreadable frame: {e}");
                proxy
                    .out
                    .send(&error_response(&Value::Null, -32700, "parse error"));
                continue;
            }
        }
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if !proxy.handle_line(text) {
            break;
        }
    }
    // The client closed its side: close the server's input and let it finish.
    drop(proxy);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let done = child
            .lock()
            .ok()
            .map(|mut c| matches!(c.try_wait(), Ok(Some(_))))
            .unwrap_or(true);
        if done {
            break;
        }
        if std::time::Instant::now() > deadline {
            if let Ok(mut c) = child.lock() {
                let _ = c.kill();
                let _ = c.wait();
            }
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(exit::OK)
}

// --- init ------------------------------------------------------------------------------------

fn is_wrapped(server: &OValue) -> bool {
    server
        .get("args")
        .and_then(OValue::as_array)
        .and_then(|a| a.first())
        .and_then(OValue::as_str)
        == Some("mcp")
}

fn init(g: &Globals, a: InitArgs) -> Result<u8> {
    let project = g.project()?;
    let loaded = project.load()?;
    let agent = default_agent(a.agent, &loaded)?;
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
        let mut v = vec![
            OValue::str("mcp"),
            OValue::str("proxy"),
            OValue::str("--agent"),
            OValue::str(agent.clone()),
            OValue::str("--server"),
            OValue::str(sanitize_vendor(name)),
        ];
        if let Some(m) = map {
            v.push(OValue::str("--map"));
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
        changes.push(format!("wrapped {name} in `behalf mcp proxy`"));
    }
    if let Some(name) = &a.server {
        let cmd: Vec<OValue> = a
            .server_command
            .iter()
            .map(|s| OValue::str(s.clone()))
            .collect();
        let entry = OValue::obj(vec![
            ("command", OValue::str(a.command.clone())),
            (
                "args",
                OValue::Array(proxy_args(name, a.map.as_deref(), cmd)),
            ),
        ]);
        match servers.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = entry,
            None => servers.push((name.clone(), entry)),
        }
        changes.push(format!("added {name} behind `behalf mcp proxy`"));
    }
    if !servers.iter().any(|(n, _)| n == "behalf") {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn tool_patterns_match_like_globs() {
        assert!(glob("read_*", "read_text_file"));
        assert!(glob("*_file", "write_file"));
        assert!(!glob("read_*", "write_file"));
        assert!(glob("*", "anything"));
    }

    #[test]
    fn a_missing_template_argument_is_an_error_not_an_empty_resource() {
        let map = ToolMap {
            exact: vec![(
                "write_file".into(),
                Rule {
                    resource: Some("{path}".into()),
                    ..Rule::default()
                },
            )],
            ..ToolMap::default()
        };
        assert!(map.request("a", "fs", "write_file", &json!({})).is_err());
        let r = map
            .request("a", "fs", "write_file", &json!({"path": "/tmp/x"}))
            .unwrap();
        assert_eq!(r["resource"], "/tmp/x");
        assert_eq!(r["vendor"], "fs");
    }

    #[test]
    fn long_argument_strings_are_replaced_by_their_hash() {
        let big = "x".repeat(MAX_PARAM_STRING + 1);
        let v = shrink(&json!({"content": big}));
        assert!(v["content"].as_str().unwrap().starts_with("sha256:"));
    }
}
