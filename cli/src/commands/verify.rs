//! `behalf verify`: one request from flags, or a stream of them on stdin.

use std::io::{BufRead, Write};

use clap::Args;
use serde_json::{json, Map, Value};

use crate::error::{exit, CliError, Result};
use crate::project::{self, Loaded, Project};
use crate::store;
use crate::{render, Globals};

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The acting agent [default: BEHALF_AGENT, or the only passport's agent]
    #[arg(long, env = "BEHALF_AGENT", value_name = "ID")]
    agent: Option<String>,
    /// The action, e.g. deploy, purchase, send_email
    #[arg(long, value_name = "ACTION")]
    action: Option<String>,
    /// The vendor host, e.g. vercel.com
    #[arg(long, value_name = "HOST")]
    vendor: Option<String>,
    /// The resource path, e.g. db/prod/users
    #[arg(long, value_name = "PATH")]
    resource: Option<String>,
    /// A parameter; VALUE is read as JSON when it is JSON (42, true, "x"), else as a string
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// All parameters as one JSON object (merged under --param)
    #[arg(long = "params", value_name = "JSON")]
    params_json: Option<String>,
    /// A request id to echo (else one is made)
    #[arg(long, value_name = "ID")]
    request_id: Option<String>,
    /// The whole request as JSON, `@FILE`, or `-` for standard input
    #[arg(long, value_name = "JSON|@FILE|-", conflicts_with_all = ["action", "vendor", "resource", "params", "params_json", "request_id", "stdin"])]
    request: Option<String>,
    /// Read one JSON request per line from standard input; print one JSON packet per line,
    /// each only after its decision is committed to the audit log
    #[arg(long, conflicts_with_all = ["action", "vendor", "resource", "params", "params_json", "request_id"])]
    stdin: bool,
    /// Print the canonical decision packet as JSON
    #[arg(long)]
    json: bool,
    /// Decide on this `behalf serve` server (key from BEHALF_AGENT_KEY) instead of the local
    /// policy and state; needs --agent (or BEHALF_AGENT) unless --request names the agent
    #[arg(long, env = "BEHALF_URL", value_name = "URL", conflicts_with = "stdin")]
    url: Option<String>,
}

/// `KEY=VALUE` → (key, JSON value or string).
pub fn parse_kv(text: &str, flag: &str) -> Result<(String, Value)> {
    let Some((k, v)) = text.split_once('=') else {
        return Err(CliError::usage(format!("{flag} `{text}` is not KEY=VALUE"))
            .hint(format!("write it like {flag} env=production")));
    };
    if k.is_empty() {
        return Err(CliError::usage(format!("{flag} `{text}` has an empty key")));
    }
    let value = serde_json::from_str::<Value>(v).unwrap_or_else(|_| Value::String(v.to_string()));
    Ok((k.to_string(), value))
}

pub fn default_agent(flag: Option<String>, loaded: &Loaded) -> Result<String> {
    if let Some(a) = flag {
        return Ok(a);
    }
    match loaded.policy.passports.as_slice() {
        [only] => Ok(only.agent.clone()),
        _ => Err(CliError::usage(
            "which agent? --agent is required when the policy has more than one passport",
        )
        .hint("pass --agent ID or set BEHALF_AGENT")),
    }
}

pub fn verify(g: &Globals, a: VerifyArgs) -> Result<u8> {
    if let Some(url) = a.url.clone() {
        return verify_remote(&url, a);
    }
    let project = g.project()?;
    let loaded = project.load()?;
    if a.stdin {
        return verify_stream(&project, &loaded);
    }
    let request = request_of(&a, Some(&loaded))?;
    let now = project::now()?;
    let mut store = project.store()?;
    let decision = store.verify(&loaded.policy, now, store::Input::Value(&request))?;
    let packet = decision.to_value();
    if a.json {
        println!("{}", decision.to_json());
    } else {
        let params = request.get("params").and_then(Value::as_object);
        print!("{}", render::decision(&packet, params, None));
    }
    for hint in why_not(&loaded, &request, &packet, now) {
        eprintln!("hint: {hint}");
    }
    Ok(exit_for(&packet))
}

/// `verify --url`: the server decides and records; nothing local is read or written.
fn verify_remote(url: &str, a: VerifyArgs) -> Result<u8> {
    let server = crate::remote::RemoteServer::from_env(url)?;
    let request = request_of(&a, None)?;
    let (packet, text) = server.verify_text(&request);
    if a.json {
        println!("{text}");
    } else {
        let params = request.get("params").and_then(Value::as_object);
        print!("{}", render::decision(&packet, params, Some(&server)));
    }
    Ok(exit_for(&packet))
}

/// The request the flags describe. Without a local policy (`loaded` is `None`) the agent
/// must be named.
fn request_of(a: &VerifyArgs, loaded: Option<&Loaded>) -> Result<Value> {
    Ok(match &a.request {
        Some(text) => {
            let raw = read_arg(text)?;
            behalf_core::json::from_str(&raw)
                .map_err(|e| CliError::usage(e.describe("--request")))?
        }
        None => {
            let Some(action) = a.action.clone() else {
                return Err(CliError::usage("--action is required")
                    .hint("behalf verify --agent agent_claude_code --action deploy --vendor vercel.com --param env=staging"));
            };
            let mut params = Map::new();
            if let Some(j) = &a.params_json {
                match behalf_core::json::from_str(j) {
                    Ok(Value::Object(m)) => params = m,
                    Err(e @ behalf_core::json::JsonTextError::DuplicateKey { .. }) => {
                        return Err(CliError::usage(e.describe("--params")))
                    }
                    _ => {
                        return Err(CliError::usage("--params must be a JSON object")
                            .hint("write it like --params '{\"env\": \"production\"}'"))
                    }
                }
            }
            for p in &a.params {
                let (k, v) = parse_kv(p, "--param")?;
                params.insert(k, v);
            }
            let agent = match (a.agent.clone(), loaded) {
                (Some(agent), _) => agent,
                (None, Some(loaded)) => default_agent(None, loaded)?,
                (None, None) => {
                    return Err(CliError::usage("which agent? --url needs --agent")
                        .hint("pass --agent ID or set BEHALF_AGENT"))
                }
            };
            let mut r = Map::new();
            r.insert("agentId".into(), json!(agent));
            r.insert("action".into(), json!(action));
            if let Some(v) = &a.vendor {
                r.insert("vendor".into(), json!(v));
            }
            if let Some(v) = &a.resource {
                r.insert("resource".into(), json!(v));
            }
            r.insert("params".into(), Value::Object(params));
            if let Some(id) = &a.request_id {
                r.insert("requestId".into(), json!(id));
            }
            Value::Object(r)
        }
    })
}

/// Hints for a denial whose cause is a slip of the request rather than the policy: an agent
/// id one typo away from a passport's, or a missing vendor that every candidate permission
/// names. On standard error, so the packet on standard output stays as it is.
fn why_not(loaded: &Loaded, request: &Value, packet: &Value, now: i64) -> Vec<String> {
    let reason = packet.get("reason").and_then(Value::as_str);
    let agent = request.get("agentId").and_then(Value::as_str).unwrap_or("");
    let mut out = Vec::new();
    if reason == Some("unknown_agent") {
        let agents = loaded.policy.passports.iter().map(|p| p.agent.as_str());
        match behalf_core::suggest::closest(agent, agents) {
            Some(near) => out.push(format!(
                "no passport has agent `{agent}`; did you mean `{near}`?"
            )),
            None => out.push(format!(
                "no passport has agent `{agent}`; `behalf permissions list` shows the agents"
            )),
        }
    }
    if reason == Some("no_permission") && request.get("vendor").is_none_or(Value::is_null) {
        // Would the request match with one of the vendors its passport's permissions name?
        let passport = loaded
            .value
            .get("passports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|p| p.get("agent").and_then(Value::as_str) == Some(agent));
        let mut vendors: Vec<&str> = Vec::new();
        for q in passport
            .and_then(|p| p.get("permissions"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let names: Vec<&str> = match q.get("vendor") {
                Some(Value::String(v)) => vec![v.as_str()],
                Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            for v in names {
                if !v.contains('*') && !vendors.contains(&v) {
                    vendors.push(v);
                }
            }
        }
        let would_match: Vec<&str> = vendors
            .into_iter()
            .filter(|v| {
                let mut with = request.clone();
                if let Value::Object(m) = &mut with {
                    m.insert("vendor".into(), json!(v));
                }
                let mut engine =
                    behalf_core::Engine::from_shared(loaded.policy.clone(), Default::default());
                engine.verify(&with, now).reason != behalf_core::Reason::NoPermission
            })
            .collect();
        if !would_match.is_empty() {
            out.push(format!(
                "the request names no vendor, and nothing matched because the permissions for it name one; pass --vendor {}",
                would_match.join(" or --vendor ")
            ));
        }
    }
    out
}

pub fn exit_for(packet: &Value) -> u8 {
    match packet.get("decision").and_then(Value::as_str) {
        Some("allowed") if packet.get("allowed") == Some(&Value::Bool(true)) => exit::OK,
        Some("approval_required") => exit::APPROVAL_REQUIRED,
        _ => exit::DENIED,
    }
}

/// One packet per input line, in order. A line that is not UTF-8 or not JSON gets its own
/// `invalid_request` packet (recorded like any decision); a database that stays locked past
/// the wait denies that one line (`internal_error`, not recorded, as its message says) and the
/// stream goes on.
fn verify_stream(project: &Project, loaded: &Loaded) -> Result<u8> {
    let mut store = project.store()?;
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stdout().lock();
    let mut ids = behalf_core::ids::IdSource::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let now = project::now()?;
        let request = match std::str::from_utf8(text) {
            Ok(t) => store::Input::Json(t),
            Err(_) => store::Input::Unreadable("the line is not valid UTF-8"),
        };
        let decision = match store.verify(&loaded.policy, now, request) {
            Ok(d) => d,
            Err(e) => {
                let id = ids.make("req_").unwrap_or_else(|_| "req_unrecorded".into());
                behalf_core::Decision::fault(
                    format!("{}; this request was not decided or recorded", e.message),
                    id,
                    now,
                )
            }
        };
        writeln!(out, "{}", decision.to_json())?;
        out.flush()?;
    }
    Ok(exit::OK)
}

fn read_arg(text: &str) -> Result<String> {
    if text == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        Ok(s)
    } else if let Some(file) = text.strip_prefix('@') {
        std::fs::read_to_string(file)
            .map_err(|e| CliError::usage(format!("cannot read {file}: {e}")))
    } else {
        Ok(text.to_string())
    }
}
