//! MCP: `behalf mcp serve` (a stdio server with `verify_action` and `approval_status`),
//! `behalf mcp proxy` (gates every call of a real server by the server's own tool schemas and
//! a tool profile), and `behalf mcp init`.
//!
//! Transport: newline-delimited JSON-RPC 2.0 on stdio, as MCP's stdio transport specifies.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::error::Result;
use crate::Globals;

mod decider;
mod filesystem;
mod framing;
mod gate;
mod init;
mod outputs;
mod profiles;
mod proxy;
mod schema;
mod serve;

#[derive(Subcommand, Debug)]
pub enum McpCommand {
    /// A stdio MCP server with `verify_action` and `approval_status`, for agents that ask
    /// behalf explicitly before acting
    #[command(
        after_help = "The agent is fixed when the server starts: a verify_action that names another
agentId is denied.

Examples:
  behalf mcp serve --agent agent_claude_code
  claude mcp add behalf -- behalf mcp serve --agent agent_claude_code"
    )]
    Serve {
        /// The agent every verify_action decides for [default: BEHALF_AGENT, or the only
        /// passport's agent]
        #[arg(long, env = "BEHALF_AGENT", value_name = "ID")]
        agent: Option<String>,
    },
    /// Run a real MCP server behind behalf: every tools/call, resources/read,
    /// resources/subscribe, prompts/get and completion/complete is verified before it is
    /// forwarded; denied and approval-required calls never reach the server
    #[command(
        after_help = "The proxy reads each tool's inputSchema from the server's tools/list: a call to a tool the
server did not list, or with an argument its schema does not declare, is denied. A tool
profile says which arguments name resources and how each becomes vendor and resource; every
named resource is verified and the call is forwarded only when all are allowed.

Built-in profiles (picked by --server NAME): filesystem, git, fetch, memory, everything.
The filesystem profile resolves paths against the server's directories and follows symlinks
before it verifies, filters listings, trees and searches, and blocks behalf.json, .behalf/
and .mcp.json unless the policy allows them explicitly. `behalf mcp profile NAME` prints a
built-in profile; docs/mcp.md describes the format for your own (--profile FILE).

Actions: a tool call's action is the tool name (or the profile's); resources/read,
resources/subscribe, prompts/get and completion/complete are checked as actions of those
names.

Examples:
  behalf mcp proxy --server filesystem -- npx -y @modelcontextprotocol/server-filesystem ./data
  behalf mcp proxy --server git -- uvx mcp-server-git --repository .
  behalf mcp proxy --server fetch -- uvx mcp-server-fetch
  behalf mcp proxy --server tickets --profile tickets.profile.json -- ./tickets-server"
    )]
    Proxy(ProxyArgs),
    /// Write .mcp.json so that an agent's MCP servers run behind `behalf mcp proxy`
    #[command(
        after_help = "Wraps every server already in .mcp.json (idempotent), adds a `behalf` server
(`behalf mcp serve`), and with --server NAME -- CMD… adds that server, wrapped. A NAME with a
built-in profile (filesystem, git, fetch, memory, everything) needs no profile file.

Examples:
  behalf mcp init
  behalf mcp init --server filesystem -- npx -y @modelcontextprotocol/server-filesystem ./data
  behalf mcp init --server tickets --profile tickets.profile.json -- ./tickets-server"
    )]
    Init(InitArgs),
    /// Print a built-in tool profile (a starting point for your own --profile file)
    #[command(after_help = "Examples:
  behalf mcp profile filesystem
  behalf mcp profile git > git.profile.json")]
    Profile {
        /// filesystem, git, fetch, memory or everything
        #[arg(value_name = "NAME")]
        name: String,
    },
}

#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// The acting agent [default: BEHALF_AGENT, or the only passport's agent]
    #[arg(long, env = "BEHALF_AGENT", value_name = "ID")]
    agent: Option<String>,
    /// The server's name: picks a built-in profile, and is the vendor of its requests
    #[arg(long, default_value = "mcp", value_name = "NAME")]
    server: String,
    /// A tool profile file (see docs/mcp.md); overrides the built-in one for --server
    #[arg(long, visible_alias = "map", value_name = "FILE")]
    profile: Option<PathBuf>,
    /// Leave tools that are blocked outright out of tools/list
    #[arg(long)]
    hide_blocked: bool,
    /// Decide on this `behalf serve` server (key from BEHALF_AGENT_KEY) instead of a local
    /// policy and state; needs --agent or BEHALF_AGENT
    #[arg(long, env = "BEHALF_URL", value_name = "URL")]
    url: Option<String>,
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
    /// Wrap servers with `behalf mcp proxy --url URL`: decisions on a `behalf serve` server
    /// (the agent's key from BEHALF_AGENT_KEY in the client's environment)
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Add this server (its command follows `--`)
    #[arg(long, value_name = "NAME", requires = "server_command")]
    server: Option<String>,
    /// A tool profile file for the added server (not needed for a built-in one)
    #[arg(long, visible_alias = "map", value_name = "FILE", requires = "server")]
    profile: Option<String>,
    #[arg(last = true, value_name = "CMD")]
    server_command: Vec<String>,
}

pub fn run(g: &Globals, c: McpCommand) -> Result<u8> {
    match c {
        McpCommand::Serve { agent } => serve::serve(g, agent),
        McpCommand::Proxy(a) => proxy::proxy(g, a),
        McpCommand::Init(a) => init::init(g, a),
        McpCommand::Profile { name } => profiles::print_builtin(&name),
    }
}

// --- shared by serve and proxy -----------------------------------------------------------------

fn response(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn error_response(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// The vendor a server's name stands for (a host-like label the policy can name).
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

/// The text the model reads when a call is not allowed. `server`: the `behalf serve` that
/// decided, whose dashboard is where a person approves.
fn refusal_text(packet: &Value, server: Option<&crate::remote::RemoteServer>) -> String {
    let g = |k: &str| packet.get(k).and_then(Value::as_str).unwrap_or("-");
    if g("decision") == "approval_required" {
        let id = g("approvalId");
        let (how, what) = match server {
            Some(s) => (
                format!("Approve at: {}", s.approval_url(id)),
                "the link above",
            ),
            None => (
                format!("Approve with: behalf approvals approve {id}"),
                "the command above",
            ),
        };
        format!(
            "APPROVAL REQUIRED — do not execute this action.\n\
             Action: {}\n\
             Approval ID: {id}\n\
             {how}\n\
             Request ID: {}\n\
             Why: {}\n\
             The action was not executed. Tell the user the approval ID and {what}, \
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

/// A denial that no policy decision produced (the call could not be mapped or recorded).
fn refusal_without_packet(why: &str) -> String {
    format!(
        "DENIED by behalf policy — this action was not executed and must not be retried.\n\
         Reason: {why}"
    )
}

fn tool_error(id: &Value, text: String, packet: Option<&Value>) -> Value {
    let result = match packet {
        Some(p) => json!({"content": [{"type": "text", "text": text}], "isError": true,
            "_meta": {"behalf/decision": p}}),
        None => json!({"content": [{"type": "text", "text": text}], "isError": true}),
    };
    response(id, result)
}
