//! init, check, verify, approvals, audit, test, claude.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};

use crate::error::{exit, CliError, Result};
use crate::project::{self, Loaded, Project};
use crate::store;
use crate::{render, Globals};

// --- init ------------------------------------------------------------------------------------

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The agent id of the starter passport
    #[arg(long, default_value = "agent_claude_code")]
    agent: String,
    /// Overwrite an existing behalf.json
    #[arg(long)]
    force: bool,
}

pub fn starter_policy(agent: &str) -> String {
    let short = agent.trim_start_matches("agent_");
    // The seed's names: agent_claude_code carries passport_claude.
    let passport = format!("passport_{}", short.strip_suffix("_code").unwrap_or(short));
    let text = format!(
        r#"{{
  "version": 1,
  "passports": [
    {{
      "id": "{passport}",
      "agent": "{agent}",
      "description": "A coding agent: deploys to staging freely, production only after a person approves.",
      "permissions": [
        {{
          "id": "deploy_staging",
          "action": "deploy",
          "vendor": "vercel.com",
          "when": {{ "env": "staging" }}
        }},
        {{
          "id": "deploy_production",
          "action": "deploy",
          "vendor": "vercel.com",
          "when": {{ "env": "production" }},
          "effect": "require_approval",
          "approval": {{ "grantTtl": "30m" }}
        }},
        {{
          "id": "no_prod_db",
          "action": "*",
          "resource": "db/prod/**",
          "effect": "block"
        }}
      ]
    }}
  ]
}}
"#
    );
    text
}

pub fn init(g: &Globals, a: InitArgs) -> Result<u8> {
    let path = g
        .policy
        .clone()
        .unwrap_or_else(|| PathBuf::from(project::POLICY_FILE));
    if path.exists() && !a.force {
        return Err(
            CliError::usage(format!("{} already exists", path.display()))
                .hint("pass --force to overwrite it, or edit it with `behalf permissions create`"),
        );
    }
    let text = starter_policy(&a.agent);
    Loaded::from_text(&path.display().to_string(), text.clone())?;
    write_atomically(&path, &text)?;
    println!(
        "wrote {}: passport for {} with 3 permissions",
        path.display(),
        a.agent
    );
    println!("  deploy_staging     allow             deploy on vercel.com when env=staging");
    println!("  deploy_production  require_approval  deploy on vercel.com when env=production");
    println!("  no_prod_db         block             anything on db/prod/**");
    println!("\nnext: behalf verify --agent {} --action deploy --vendor vercel.com --param env=production", a.agent);
    println!("      behalf mcp init && behalf claude   (enforce at the MCP boundary)");
    Ok(exit::OK)
}

// Moved to project.rs (webhooks.rs used it: the module cycle through commands is gone).
pub use crate::project::write_atomically;

// --- check -----------------------------------------------------------------------------------

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Print `{ok, problems}` as JSON
    #[arg(long)]
    json: bool,
}

pub fn check(g: &Globals, a: CheckArgs) -> Result<u8> {
    let project = g.project()?;
    let text = project.read_text()?;
    if a.json {
        let problems = match behalf_core::json::from_str(&text) {
            Ok(v) => behalf_core::validate(&v),
            Err(e) => vec![behalf_core::policy::json_text_problem(&e)],
        };
        let lines = project::locate_lines(&text);
        let list: Vec<Value> = problems
            .iter()
            .map(|p| {
                let mut v = json!(p);
                if let Value::Object(m) = &mut v {
                    m.insert("line".into(), json!(lines.get(&p.path)));
                }
                v
            })
            .collect();
        println!(
            "{}",
            json!({"ok": problems.is_empty(), "file": project.display(), "problems": list})
        );
        return Ok(if problems.is_empty() {
            exit::OK
        } else {
            exit::CONFIG
        });
    }
    let loaded = Loaded::from_text(&project.display(), text)?;
    let passports = &loaded.policy.passports;
    let permissions: usize = passports.iter().map(|p| p.permissions.len()).sum();
    println!(
        "ok: {} is valid: {} passport{}, {} permission{}, {} webhook{}",
        project.display(),
        passports.len(),
        plural(passports.len()),
        permissions,
        plural(permissions),
        loaded.policy.webhooks.len(),
        plural(loaded.policy.webhooks.len())
    );
    Ok(exit::OK)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

// --- verify ----------------------------------------------------------------------------------

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
    let project = g.project()?;
    let loaded = project.load()?;
    if a.stdin {
        return verify_stream(&project, &loaded);
    }
    let request = match &a.request {
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
            let mut r = Map::new();
            r.insert(
                "agentId".into(),
                json!(default_agent(a.agent.clone(), &loaded)?),
            );
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
    };
    let now = project::now()?;
    let mut store = project.store()?;
    let decision = store.verify(&loaded.policy, now, store::Input::Value(&request))?;
    let packet = decision.to_value();
    if a.json {
        println!("{}", decision.to_json());
    } else {
        let params = request.get("params").and_then(Value::as_object);
        print!("{}", render::decision(&packet, params));
    }
    for hint in why_not(&loaded, &request, &packet, now) {
        eprintln!("hint: {hint}");
    }
    Ok(exit_for(&packet))
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

// --- approvals -------------------------------------------------------------------------------

#[derive(Subcommand, Debug)]
pub enum ApprovalsCommand {
    /// List pending approvals (and, with --grants, active grants)
    #[command(after_help = "Examples:
  behalf approvals list
  behalf approvals list --grants --json")]
    List {
        /// Also list active grants
        #[arg(long)]
        grants: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Approve a held action: opens a grant for the permission's grantTtl (or --ttl)
    #[command(after_help = "Examples:
  behalf approvals approve apr_Def456uvwXyZ0123
  behalf approvals approve apr_Def456uvwXyZ0123 --ttl 10m")]
    Approve {
        /// The approval id (apr_…)
        id: String,
        /// How long the grant lasts: 30m, 2h, 1d, or seconds [default: the permission's grantTtl]
        #[arg(long, value_name = "DURATION")]
        ttl: Option<String>,
        /// Print the grant as JSON
        #[arg(long)]
        json: bool,
    },
    /// Deny a held action: the same request is denied until the approval's pendingTtl ends
    #[command(after_help = "Examples:
  behalf approvals deny apr_Def456uvwXyZ0123")]
    Deny {
        /// The approval id (apr_…)
        id: String,
        /// Print the approval as JSON
        #[arg(long)]
        json: bool,
    },
}

fn held_summary(v: &Value) -> String {
    let r = v.get("request").cloned().unwrap_or(Value::Null);
    let g = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
    let mut s = format!(
        "{} {}",
        g("agentId").unwrap_or_default(),
        g("action").unwrap_or_default()
    );
    if let Some(v) = g("vendor") {
        s.push_str(&format!(" on {v}"));
    }
    if let Some(res) = g("resource") {
        s.push_str(&format!(" [{res}]"));
    }
    if let Some(Value::Object(p)) = r.get("params") {
        if !p.is_empty() {
            let text = Value::Object(p.clone()).to_string();
            let text = if text.len() > 120 {
                format!("{}…", text.chars().take(120).collect::<String>())
            } else {
                text
            };
            s.push(' ');
            s.push_str(&text);
        }
    }
    s
}

pub fn approvals(g: &Globals, c: ApprovalsCommand) -> Result<u8> {
    let project = g.project()?;
    let loaded = project.load()?;
    let now = project::now()?;
    let mut store = project.store()?;
    match c {
        ApprovalsCommand::List { grants, json } => {
            let (pending, active) = store.read(&loaded.policy, now, |e| {
                (e.pending_approvals(now), e.grants(now))
            })?;
            if json {
                let out = if grants {
                    json!({"pending": pending, "grants": active})
                } else {
                    json!({"pending": pending})
                };
                println!("{out}");
                return Ok(exit::OK);
            }
            let empty = Vec::new();
            let list = pending.as_array().unwrap_or(&empty);
            if list.is_empty() {
                println!("no pending approvals");
            }
            for a in list {
                let s = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
                println!(
                    "{}  {}  {}  (since {}, until {})",
                    s("approvalId"),
                    s("permission"),
                    held_summary(a),
                    s("createdAt"),
                    s("expiresAt")
                );
                println!(
                    "    approve: behalf approvals approve {}    deny: behalf approvals deny {}",
                    s("approvalId"),
                    s("approvalId")
                );
            }
            if grants {
                let list = active.as_array().unwrap_or(&empty);
                println!("\n{} active grant{}", list.len(), plural(list.len()));
                for gr in list {
                    let s = |k: &str| gr.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
                    println!(
                        "{}  {}  {}  scope {}  until {}",
                        s("grantId"),
                        s("permission"),
                        held_summary(gr),
                        s("scope"),
                        s("expiresAt")
                    );
                }
            }
            Ok(exit::OK)
        }
        ApprovalsCommand::Approve { id, ttl, json } => {
            let ttl_value = ttl.map(|t| match t.parse::<u64>() {
                Ok(n) => json!(n),
                Err(_) => json!(t),
            });
            let result = store.approve(&loaded.policy, now, &id, ttl_value.as_ref())?;
            match result {
                Ok(grant) => {
                    if json {
                        println!("{grant}");
                    } else {
                        let s = |k: &str| {
                            grant
                                .get(k)
                                .and_then(Value::as_str)
                                .unwrap_or("-")
                                .to_string()
                        };
                        println!("approved {id}");
                        println!(
                            "grant    {} for {} ({})",
                            s("grantId"),
                            s("permission"),
                            held_summary(&grant)
                        );
                        println!("until    {}", s("expiresAt"));
                        println!("the agent may now retry the same request");
                    }
                    Ok(exit::OK)
                }
                Err(e) => Err(api_error(e)),
            }
        }
        ApprovalsCommand::Deny { id, json } => {
            let result = store.deny(&loaded.policy, now, &id)?;
            match result {
                Ok(approval) => {
                    if json {
                        println!("{approval}");
                    } else {
                        let until = approval
                            .get("expiresAt")
                            .and_then(Value::as_str)
                            .unwrap_or("-");
                        println!("denied {id}: the same request is denied until {until}");
                    }
                    Ok(exit::OK)
                }
                Err(e) => Err(api_error(e)),
            }
        }
    }
}

fn api_error(e: behalf_core::ApiError) -> CliError {
    let code = if e.code == "bad_duration" {
        exit::USAGE
    } else {
        exit::DENIED
    };
    let mut err = CliError::new(code, format!("{} ({})", e.message, e.code));
    if !e.hint.is_empty() {
        err = err.hint(e.hint);
    }
    err
}

// --- audit -----------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    /// One JSON record per line
    Jsonl,
    /// One JSON array
    Json,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Show the latest audit records
    #[command(after_help = "Examples:
  behalf audit tail
  behalf audit tail -n 100 --json
  behalf audit tail --follow")]
    Tail {
        /// How many records
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: u64,
        /// Print records as JSON lines
        #[arg(long)]
        json: bool,
        /// Keep printing new records as they are appended
        #[arg(short, long)]
        follow: bool,
    },
    /// Re-check the whole chain (seq, prevHash links, hashes) and every operator's signature;
    /// names the first bad record
    #[command(
        after_help = "Exit 0 when the chain is intact, 1 when it is broken. An approval or
denial made in `behalf serve`'s dashboard carries the operator's passkey signature over a
challenge that commits to the approval id and the request: it is checked against the
operator's stored public key (docs/operators.md).

Examples:
  behalf audit verify
  behalf audit verify --json"
    )]
    Verify {
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
    /// Export every record
    #[command(after_help = "Examples:
  behalf audit export --format jsonl > audit.jsonl
  behalf audit export --format json --out audit.json")]
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Write to FILE instead of standard output
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

pub fn audit(g: &Globals, c: AuditCommand) -> Result<u8> {
    let project = g.project()?;
    let mut store = project.store()?;
    match c {
        AuditCommand::Tail {
            lines,
            json,
            follow,
        } => {
            let mut last = None;
            loop {
                let rows =
                    store.audit_tail(if last.is_some() { u64::MAX >> 1 } else { lines }, last)?;
                for (seq, r) in &rows {
                    if json {
                        println!("{r}");
                    } else {
                        println!("{}", render::audit_line(r));
                    }
                    last = Some(*seq);
                }
                std::io::stdout().flush()?;
                if !follow {
                    break;
                }
                last = last.or(Some(0));
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            Ok(exit::OK)
        }
        AuditCommand::Verify { json } => {
            let check = store.verify_audit()?;
            if json {
                let broken = check.broken.as_ref();
                println!(
                    "{}",
                    json!({
                        "ok": broken.is_none(),
                        "records": check.records,
                        "firstBrokenSeq": broken.map(|b| b.0),
                        "firstBrokenIndex": broken.map(|b| b.1),
                        "problem": broken.map(|b| b.2.clone()),
                        "head": check.head.as_ref().map(|h| json!({"seq": h.0, "hash": h.1})),
                        "signedByOperators": check.signed,
                        "byOperatorTokens": check.by_token,
                    })
                );
            } else if let Some((seq, index, why)) = &check.broken {
                println!("audit chain BROKEN at record seq {seq} (index {index}): {why}");
                println!("records before it verify; this record and everything after it cannot be trusted");
            } else {
                match &check.head {
                    Some((seq, hash)) => println!(
                        "audit chain ok: {} record{}, head seq {seq} hash {}",
                        check.records,
                        plural(usize::try_from(check.records).unwrap_or(0)),
                        hash.get(..16).unwrap_or(hash)
                    ),
                    None => println!("audit chain ok: no records yet"),
                }
                if check.signed + check.by_token > 0 {
                    println!(
                        "operators: {} signature{} verified with their passkeys, {} by operator API token{}",
                        check.signed,
                        plural(usize::try_from(check.signed).unwrap_or(0)),
                        check.by_token,
                        plural(usize::try_from(check.by_token).unwrap_or(0)),
                    );
                }
            }
            Ok(if check.broken.is_some() {
                exit::DENIED
            } else {
                exit::OK
            })
        }
        AuditCommand::Export { format, out } => {
            let mut sink: Box<dyn Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).map_err(|e| {
                        CliError::usage(format!("cannot write {}: {e}", path.display()))
                    })?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut first = true;
            if matches!(format, ExportFormat::Json) {
                write!(sink, "[")?;
            }
            store.audit_each(|_, text| {
                match format {
                    ExportFormat::Jsonl => writeln!(sink, "{text}")?,
                    ExportFormat::Json => {
                        if !first {
                            write!(sink, ",")?;
                        }
                        write!(sink, "\n{text}")?;
                    }
                }
                first = false;
                Ok(())
            })?;
            if matches!(format, ExportFormat::Json) {
                writeln!(sink, "\n]")?;
            }
            sink.flush()?;
            Ok(exit::OK)
        }
    }
}

// --- test ------------------------------------------------------------------------------------

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Test files (JSON)
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print only failures and the summary
    #[arg(short, long)]
    quiet: bool,
}

pub fn test(g: &Globals, a: TestArgs) -> Result<u8> {
    let mut passed = 0usize;
    let mut failed: Vec<(String, Vec<String>)> = Vec::new();
    for file in &a.files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file)
            .map_err(|e| CliError::data(format!("cannot read {name}: {e}")))?;
        let value: Value =
            behalf_core::json::from_str(&text).map_err(|e| CliError::data(e.describe(&name)))?;
        let results: Vec<(String, Vec<String>)> = if value.get("cases").is_some() {
            behalf_core::conformance::run_file(&value)
                .cases
                .into_iter()
                .map(|c| (c.name, c.failures))
                .collect()
        } else if let Some(tests) = value.get("tests").and_then(Value::as_array) {
            run_simple(g, file, &value, tests)?
        } else {
            return Err(
                CliError::data(format!("{name} has neither `tests` nor `cases`"))
                    .hint("see `behalf test --help` for the format"),
            );
        };
        println!(
            "running {} test{} from {name}",
            results.len(),
            plural(results.len())
        );
        for (case, failures) in results {
            if failures.is_empty() {
                passed += 1;
                if !a.quiet {
                    println!("test {case} ... ok");
                }
            } else {
                println!("test {case} ... FAILED");
                failed.push((format!("{name}: {case}"), failures));
            }
        }
    }
    if !failed.is_empty() {
        println!("\nfailures:");
        for (case, failures) in &failed {
            println!("  {case}");
            for f in failures {
                println!("    {f}");
            }
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len()
    );
    Ok(if failed.is_empty() {
        exit::OK
    } else {
        exit::DENIED
    })
}

fn run_simple(
    g: &Globals,
    file: &Path,
    doc: &Value,
    tests: &[Value],
) -> Result<Vec<(String, Vec<String>)>> {
    let name = file.display().to_string();
    let loaded = match doc.get("policy") {
        Some(Value::String(rel)) => {
            let path = file.parent().unwrap_or(Path::new(".")).join(rel);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                CliError::data(format!(
                    "{name}: cannot read its policy {}: {e}",
                    path.display()
                ))
            })?;
            Loaded::from_text(&path.display().to_string(), text)?
        }
        Some(inline @ Value::Object(_)) => {
            Loaded::from_text(&format!("{name} (policy)"), inline.to_string())?
        }
        Some(_) => {
            return Err(CliError::data(format!(
                "{name}: `policy` must be a path or an object"
            )))
        }
        None => g.project()?.load()?,
    };
    let default_now = match doc.get("now").and_then(Value::as_str) {
        Some(t) => behalf_core::time::parse_rfc3339(t)
            .ok_or_else(|| CliError::data(format!("{name}: `now` is not an RFC 3339 time")))?,
        None => project::now()?,
    };
    let mut out = Vec::new();
    for (i, t) in tests.iter().enumerate() {
        let case = t
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("tests[{i}]"));
        let now = t
            .get("now")
            .and_then(Value::as_str)
            .and_then(behalf_core::time::parse_rfc3339)
            .unwrap_or(default_now);
        let mut failures = Vec::new();
        let mut engine =
            behalf_core::Engine::from_shared(loaded.policy.clone(), Default::default());
        let request = t.get("request").cloned().unwrap_or(Value::Null);
        let packet = engine.verify(&request, now).to_value();
        let expect = match t.get("expect") {
            Some(Value::String(d)) => json!({"decision": d}),
            Some(e @ Value::Object(_)) => e.clone(),
            _ => {
                failures.push("`expect` must be a decision string or an object".into());
                Value::Null
            }
        };
        if let Value::Object(want) = &expect {
            for (k, v) in want {
                let got = packet.get(k).cloned().unwrap_or(Value::Null);
                if &got != v {
                    failures.push(format!("expected {k} {v}, got {got}"));
                }
            }
            if !failures.is_empty() {
                if let Some(m) = packet.get("message").and_then(Value::as_str) {
                    failures.push(format!("message: {m}"));
                }
            }
        }
        out.push((case, failures));
    }
    Ok(out)
}

// --- claude ----------------------------------------------------------------------------------

#[derive(Args, Debug)]
pub struct ClaudeArgs {
    /// The agent context file to write the section into
    #[arg(long, default_value = "CLAUDE.md", value_name = "FILE")]
    file: PathBuf,
}

const SECTION_START: &str = "<!-- behalf:start -->";
const SECTION_END: &str = "<!-- behalf:end -->";

pub fn claude_section() -> String {
    format!(
        "{SECTION_START}
## Permissions (behalf)

Your tools reach their MCP servers through `behalf mcp proxy`, which checks every tool call
against this project's `behalf.json` before it runs. Each call has one of three outcomes:

- **Allowed**: the tool runs and you get its normal result.
- **Denied** (the result says \"DENIED by behalf policy\"): the action was not executed and must
  not be retried or worked around (no other tool, no shell command to the same effect). Tell
  the user what was denied and the request id.
- **Approval required** (the result starts with
  \"APPROVAL REQUIRED — do not execute this action.\"): stop. Do not execute the action by any other means. Tell the user the approval id
  and the command that approves it (`behalf approvals approve apr_…`), then wait. When the user
  says it is approved, retry the identical call once.

For actions that do not go through an MCP tool (a deploy from the shell, a purchase, an email),
call the `verify_action` tool of the `behalf` MCP server first, with `action`, `vendor`,
`resource` and `params`, and run the action only when the answer has `\"allowed\": true`. Use
`approval_status` with an approval id to see whether a person has decided.
{SECTION_END}
"
    )
}

pub fn claude(_g: &Globals, a: ClaudeArgs) -> Result<u8> {
    let section = claude_section();
    let existing = match std::fs::read_to_string(&a.file) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(CliError::usage(format!(
                "cannot read {}: {e}",
                a.file.display()
            )))
        }
    };
    let (text, verb) = match existing {
        None => (format!("# Agent notes\n\n{section}"), "wrote"),
        Some(t) => match (t.find(SECTION_START), t.find(SECTION_END)) {
            (Some(s), Some(e)) if e > s => {
                let end = e + SECTION_END.len();
                let rest = t.get(end..).unwrap_or("").trim_start_matches('\n');
                let head = t.get(..s).unwrap_or("");
                (format!("{head}{section}{rest}"), "updated")
            }
            _ => {
                let sep = if t.ends_with("\n\n") || t.is_empty() {
                    ""
                } else if t.ends_with('\n') {
                    "\n"
                } else {
                    "\n\n"
                };
                (format!("{t}{sep}{section}"), "appended to")
            }
        },
    };
    std::fs::write(&a.file, text)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", a.file.display())))?;
    println!(
        "{verb} {}: the behalf section (how behalf answers, what to do on approval required)",
        a.file.display()
    );
    Ok(exit::OK)
}
