//! `behalf permissions create|list|revoke`: edits behalf.json in place, keeping its key
//! order, and writes nothing unless the whole edited policy validates.

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::commands::{parse_kv, write_atomically};
use crate::error::{exit, CliError, Result};
use crate::ojson::OValue;
use crate::project::Loaded;
use crate::Globals;

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum PermissionsCommand {
    /// Add a permission to an agent's passport (the passport is created if there is none)
    #[command(after_help = "Examples:
  behalf permissions create agent_claude_code --action deploy --vendor vercel.com --when env=staging
  behalf permissions create agent_claude_code --action deploy --vendor vercel.com \\
      --when env=production --requires-approval --grant-ttl 30m
  behalf permissions create agent_claude_code --action '*' --resource 'db/prod/**' --block
  behalf permissions create agent_ollie --action send_email --vendor gmail.com \\
      --when to:emailDomain=example.com,*.example.org
  behalf permissions create agent_ollie --action purchase --vendor '*.amazon.com' \\
      --max-amount 100 --budget 300/1d --expires 2027-01-01T00:00:00Z")]
    Create(CreateArgs),
    /// List passports and their permissions
    #[command(after_help = "Examples:
  behalf permissions list
  behalf permissions list --agent agent_claude_code --json")]
    List {
        /// Only this agent's passport
        #[arg(long, value_name = "ID")]
        agent: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove a permission by id, or revoke a whole passport (by passport id or agent id)
    #[command(after_help = "Examples:
  behalf permissions revoke deploy_production
  behalf permissions revoke agent_claude_code     # marks the passport revoked")]
    Revoke {
        /// A permission id, a passport id, or an agent id
        id: String,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The agent id (its passport is created when missing)
    agent: String,
    /// The action pattern (repeat for several)
    #[arg(long, required = true, value_name = "PATTERN")]
    action: Vec<String>,
    /// The vendor host pattern: vercel.com, *.amazon.com, * (repeat for several)
    #[arg(long, value_name = "PATTERN")]
    vendor: Vec<String>,
    /// The resource path pattern: db/prod/** (repeat for several)
    #[arg(long, value_name = "PATTERN")]
    resource: Vec<String>,
    /// Hold matching actions until a person approves them
    #[arg(long, conflicts_with = "block")]
    requires_approval: bool,
    /// Block matching actions, whatever else allows them
    #[arg(long, alias = "blocked")]
    block: bool,
    /// A condition on a parameter: KEY=VALUE (equality; VALUE is JSON when it parses), or
    /// KEY:MATCHER=VALUE with MATCHER one of emailDomain, glob, ne, in, notIn, lt, lte, gt,
    /// gte, exists (lists comma-separated: --when to:emailDomain=example.com,*.example.org)
    #[arg(long, value_name = "KEY[:MATCHER]=VALUE")]
    when: Vec<String>,
    /// Cap params.amount of one request
    #[arg(long, value_name = "N", conflicts_with_all = ["block", "requires_approval"])]
    max_amount: Option<String>,
    /// A rolling budget on the sum of amounts, AMOUNT/PERIOD (300/1d)
    #[arg(long, value_name = "AMOUNT/PER", conflicts_with_all = ["block", "requires_approval"])]
    budget: Option<String>,
    /// A rolling rate limit, COUNT/PERIOD (20/1h)
    #[arg(long, value_name = "COUNT/PER", conflicts_with_all = ["block", "requires_approval"])]
    rate: Option<String>,
    /// How long an approval's grant lasts (30m)
    #[arg(long, value_name = "DURATION", requires = "requires_approval")]
    grant_ttl: Option<String>,
    /// The permission ends at this RFC 3339 time
    #[arg(long, value_name = "TIME")]
    expires: Option<String>,
    /// The permission starts at this RFC 3339 time
    #[arg(long, value_name = "TIME")]
    not_before: Option<String>,
    /// The permission id [default: made from the action and vendor]
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// A note for people reading the policy
    #[arg(long)]
    description: Option<String>,
}

pub fn run(g: &Globals, c: PermissionsCommand) -> Result<u8> {
    let project = g.project()?;
    let file = project.display();
    let text = project.read_text()?;
    let mut doc = OValue::parse(&text).map_err(|e| {
        CliError::config(format!("{file} is not valid JSON")).detail(format!(
            "{file}:{}:{}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    match c {
        PermissionsCommand::List { agent, json } => list(&doc, agent.as_deref(), json),
        PermissionsCommand::Create(a) => {
            let (passport, id) = create(&mut doc, a)?;
            save(&project.policy_path, &file, &doc)?;
            println!("created permission {id} in {passport} ({file})");
            Ok(exit::OK)
        }
        PermissionsCommand::Revoke { id } => {
            let what = revoke(&mut doc, &id)?;
            save(&project.policy_path, &file, &doc)?;
            println!("{what} ({file})");
            Ok(exit::OK)
        }
    }
}

fn save(path: &std::path::Path, file: &str, doc: &OValue) -> Result<()> {
    let text = doc.to_pretty();
    // Nothing is written unless the edited policy is valid as a whole.
    Loaded::from_text(file, text.clone()).map_err(|mut e| {
        e.message = format!(
            "the edit would make {file} invalid; it was not changed: {}",
            e.message
        );
        e
    })?;
    write_atomically(path, &text)
}

fn passports(doc: &mut OValue) -> Result<&mut Vec<OValue>> {
    if doc.get("passports").is_none() {
        doc.set("passports", OValue::Array(Vec::new()));
    }
    doc.get_mut("passports")
        .and_then(OValue::as_array_mut)
        .ok_or_else(|| CliError::config("`passports` is not an array").hint("run `behalf check`"))
}

fn all_ids(doc: &OValue) -> Vec<String> {
    let mut ids = Vec::new();
    for p in doc
        .get("passports")
        .and_then(OValue::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(id) = p.get("id").and_then(OValue::as_str) {
            ids.push(id.to_string());
        }
        for q in p
            .get("permissions")
            .and_then(OValue::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(id) = q.get("id").and_then(OValue::as_str) {
                ids.push(id.to_string());
            }
        }
    }
    ids
}

fn slug(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_matches('_').to_string();
    let mut out = String::new();
    for part in s.split('_').filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(part);
    }
    if out.is_empty() {
        "any".into()
    } else {
        out
    }
}

fn pattern_list(list: &[String]) -> OValue {
    match list {
        [one] => OValue::str(one.clone()),
        many => OValue::Array(many.iter().map(|s| OValue::str(s.clone())).collect()),
    }
}

fn split_limit(text: &str, flag: &str) -> Result<(serde_json::Number, String)> {
    let bad = || {
        CliError::usage(format!("{flag} `{text}` is not N/PERIOD")).hint(format!(
            "write it like {flag} {}",
            if flag == "--rate" { "20/1h" } else { "300/1d" }
        ))
    };
    let (n, per) = text.split_once('/').ok_or_else(bad)?;
    let n: serde_json::Number = serde_json::from_str(n).map_err(|_| bad())?;
    Ok((n, per.to_string()))
}

fn create(doc: &mut OValue, a: CreateArgs) -> Result<(String, String)> {
    let ids = all_ids(doc);
    let effect = if a.block {
        "block"
    } else if a.requires_approval {
        "require_approval"
    } else {
        "allow"
    };
    let id = match a.id {
        Some(id) => {
            if ids.contains(&id) {
                return Err(CliError::usage(format!(
                    "the id `{id}` is already used in the policy"
                ))
                .hint("pick another --id"));
            }
            id
        }
        None => {
            let mut base = slug(a.action.first().map(String::as_str).unwrap_or("action"));
            if let Some(v) = a.vendor.first() {
                base = format!(
                    "{base}_{}",
                    slug(v.split('.').find(|l| *l != "*").unwrap_or(v))
                );
            }
            if effect == "block" {
                base = format!("block_{base}");
            }
            let mut id = base.clone();
            let mut n = 2;
            while ids.contains(&id) {
                id = format!("{base}_{n}");
                n += 1;
            }
            id
        }
    };
    let mut perm: Vec<(&str, OValue)> = vec![("id", OValue::str(id.clone()))];
    if let Some(d) = a.description {
        perm.push(("description", OValue::str(d)));
    }
    perm.push(("action", pattern_list(&a.action)));
    if !a.vendor.is_empty() {
        perm.push(("vendor", pattern_list(&a.vendor)));
    }
    if !a.resource.is_empty() {
        perm.push(("resource", pattern_list(&a.resource)));
    }
    if !a.when.is_empty() {
        let mut when = Vec::new();
        for w in &a.when {
            let (k, v) = when_condition(w)?;
            when.push((k, OValue::from_value(&v)));
        }
        perm.push(("when", OValue::Object(when)));
    }
    if effect != "allow" {
        perm.push(("effect", OValue::str(effect)));
    }
    let mut limits: Vec<(&str, OValue)> = Vec::new();
    if let Some(m) = a.max_amount {
        let n: serde_json::Number = serde_json::from_str(&m).map_err(|_| {
            CliError::usage(format!("--max-amount `{m}` is not a number"))
                .hint("write it like --max-amount 100")
        })?;
        limits.push(("maxAmount", OValue::Number(n)));
    }
    if let Some(b) = &a.budget {
        let (n, per) = split_limit(b, "--budget")?;
        limits.push((
            "budget",
            OValue::obj(vec![
                ("amount", OValue::Number(n)),
                ("per", OValue::str(per)),
            ]),
        ));
    }
    if let Some(r) = &a.rate {
        let (n, per) = split_limit(r, "--rate")?;
        limits.push((
            "rate",
            OValue::obj(vec![
                ("count", OValue::Number(n)),
                ("per", OValue::str(per)),
            ]),
        ));
    }
    if !limits.is_empty() {
        perm.push(("limits", OValue::obj(limits)));
    }
    if let Some(t) = a.grant_ttl {
        perm.push(("approval", OValue::obj(vec![("grantTtl", OValue::str(t))])));
    }
    if let Some(t) = a.not_before {
        perm.push(("notBefore", OValue::str(t)));
    }
    if let Some(t) = a.expires {
        perm.push(("expiresAt", OValue::str(t)));
    }
    let perm = OValue::obj(perm);
    let list = passports(doc)?;
    let at = list
        .iter()
        .position(|p| p.get("agent").and_then(OValue::as_str) == Some(a.agent.as_str()));
    let passport = match at.and_then(|i| list.get_mut(i)) {
        Some(p) => p,
        None => {
            let base = format!("passport_{}", slug(a.agent.trim_start_matches("agent_")));
            let mut pid = base.clone();
            let mut n = 2;
            while ids.contains(&pid) {
                pid = format!("{base}_{n}");
                n += 1;
            }
            list.push(OValue::obj(vec![
                ("id", OValue::str(pid)),
                ("agent", OValue::str(a.agent.clone())),
                ("permissions", OValue::Array(Vec::new())),
            ]));
            list.last_mut()
                .ok_or_else(|| CliError::new(exit::SOFTWARE, "passport list is empty"))?
        }
    };
    let pid = passport
        .get("id")
        .and_then(OValue::as_str)
        .unwrap_or("?")
        .to_string();
    if passport.get("permissions").is_none() {
        passport.set("permissions", OValue::Array(Vec::new()));
    }
    passport
        .get_mut("permissions")
        .and_then(OValue::as_array_mut)
        .ok_or_else(|| CliError::config(format!("`permissions` of {pid} is not an array")))?
        .push(perm);
    Ok((pid, id))
}

fn revoke(doc: &mut OValue, id: &str) -> Result<String> {
    let list = passports(doc)?;
    for p in list.iter_mut() {
        let pid = p
            .get("id")
            .and_then(OValue::as_str)
            .unwrap_or("")
            .to_string();
        if let Some(perms) = p.get_mut("permissions").and_then(OValue::as_array_mut) {
            if let Some(i) = perms
                .iter()
                .position(|q| q.get("id").and_then(OValue::as_str) == Some(id))
            {
                perms.remove(i);
                return Ok(format!("removed permission {id} from {pid}"));
            }
        }
    }
    for p in list.iter_mut() {
        let matches = p.get("id").and_then(OValue::as_str) == Some(id)
            || p.get("agent").and_then(OValue::as_str) == Some(id);
        if matches {
            let pid = p
                .get("id")
                .and_then(OValue::as_str)
                .unwrap_or("")
                .to_string();
            p.set("revoked", OValue::Bool(true));
            return Ok(format!(
                "revoked passport {pid}: every request of its agent is now denied (passport_expired)"
            ));
        }
    }
    Err(CliError::usage(format!(
        "no permission, passport or agent `{id}` in the policy"
    ))
    .hint("see `behalf permissions list`"))
}

fn list(doc: &OValue, agent: Option<&str>, json: bool) -> Result<u8> {
    let empty = Vec::new();
    let all = doc
        .get("passports")
        .and_then(OValue::as_array)
        .unwrap_or(&empty);
    let chosen: Vec<&OValue> = all
        .iter()
        .filter(|p| agent.is_none() || p.get("agent").and_then(OValue::as_str) == agent)
        .collect();
    if json {
        let v: Vec<Value> = chosen.iter().map(|p| p.to_value()).collect();
        println!("{}", Value::Array(v));
        return Ok(exit::OK);
    }
    if chosen.is_empty() {
        println!(
            "no passports{}",
            agent.map(|a| format!(" for {a}")).unwrap_or_default()
        );
    }
    let text = |v: Option<&OValue>| -> String {
        match v {
            None => "-".into(),
            Some(OValue::String(s)) => s.clone(),
            Some(other) => other.to_value().to_string(),
        }
    };
    for p in chosen {
        let mut head = format!("{} (agent {})", text(p.get("id")), text(p.get("agent")));
        if p.get("revoked") == Some(&OValue::Bool(true)) {
            head.push_str(" REVOKED");
        }
        if let Some(e) = p.get("expiresAt") {
            head.push_str(&format!(" expires {}", text(Some(e))));
        }
        println!("{head}");
        for q in p
            .get("permissions")
            .and_then(OValue::as_array)
            .unwrap_or(&empty)
        {
            let effect = q.get("effect").and_then(OValue::as_str).unwrap_or("allow");
            let mut line = format!(
                "  {:<22} {:<16} {}",
                text(q.get("id")),
                effect,
                text(q.get("action"))
            );
            if let Some(v) = q.get("vendor") {
                line.push_str(&format!(" on {}", text(Some(v))));
            }
            if let Some(r) = q.get("resource") {
                line.push_str(&format!(" [{}]", text(Some(r))));
            }
            if let Some(w) = q.get("when") {
                line.push_str(&format!(" when {}", text(Some(w))));
            }
            if let Some(l) = q.get("limits") {
                line.push_str(&format!(" limits {}", text(Some(l))));
            }
            if let Some(e) = q.get("expiresAt") {
                line.push_str(&format!(" until {}", text(Some(e))));
            }
            println!("{line}");
        }
    }
    Ok(exit::OK)
}

/// `--when KEY=VALUE` (equality) or `--when KEY:MATCHER=VALUE`, as the `when` entry it writes.
fn when_condition(text: &str) -> Result<(String, Value)> {
    let (key, value) = parse_kv(text, "--when")?;
    let Some((path, matcher)) = key.split_once(':') else {
        return Ok((key, value));
    };
    let raw = text.split_once('=').map_or("", |(_, v)| v);
    let list = || -> Value {
        Value::Array(
            raw.split(',')
                .map(|item| {
                    behalf_core::json::from_str(item)
                        .ok()
                        .filter(|v| !v.is_object() && !v.is_array())
                        .unwrap_or_else(|| Value::String(item.to_string()))
                })
                .collect(),
        )
    };
    let arg = match matcher {
        "emailDomain" if raw.contains(',') => list(),
        "emailDomain" | "glob" => Value::String(raw.to_string()),
        "ne" => value,
        "in" | "notIn" => list(),
        "lt" | "lte" | "gt" | "gte" if value.is_number() => value,
        "exists" if value.is_boolean() => value,
        "lt" | "lte" | "gt" | "gte" | "exists" => {
            let want = if matcher == "exists" {
                "true or false"
            } else {
                "a number"
            };
            return Err(CliError::usage(format!(
                "--when `{text}`: `{matcher}` takes {want}, got `{raw}`"
            ))
            .hint(format!(
                "write it like --when {path}:{matcher}={}",
                if matcher == "exists" { "true" } else { "100" }
            )));
        }
        other => {
            return Err(CliError::usage(format!(
                "--when `{text}`: unknown matcher `{other}`"
            ))
            .hint("use KEY=VALUE, or KEY:MATCHER=VALUE with emailDomain, glob, ne, in, notIn, lt, lte, gt, gte or exists"));
        }
    };
    let mut matcher_object = serde_json::Map::new();
    matcher_object.insert(matcher.to_string(), arg);
    Ok((path.to_string(), Value::Object(matcher_object)))
}
