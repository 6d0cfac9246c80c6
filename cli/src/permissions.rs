//! `behalf permissions create|list|revoke`: edits behalf.json in place, keeping its key
//! order, and writes nothing unless the whole edited policy validates.

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::commands::parse_kv;
use crate::error::{exit, CliError, Result};
use crate::ojson::OValue;
use crate::project::write_atomically;
use crate::project::Loaded;
use crate::Globals;

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum PermissionsCommand {
    /// Add a permission to an agent's passport (--new-agent creates the passport of an agent
    /// that has none)
    #[command(after_help = "Examples:
  behalf permissions create agent_claude_code --action deploy --vendor vercel.com --when env=staging
  behalf permissions create agent_claude_code --action deploy --vendor vercel.com \\
      --when env=production --requires-approval --grant-ttl 30m
  behalf permissions create agent_claude_code --action '*' --resource 'db/prod/**' --block
  behalf permissions create agent_ollie --new-agent --action send_email --vendor gmail.com \\
      --when to:emailDomain=example.com,*.example.org
  behalf permissions create agent_ollie --action purchase --vendor '*.amazon.com' \\
      --max-amount 100 --budget 300/1d --expires 2027-01-01T00:00:00Z

Accepted forms: durations (--grant-ttl, the PERIOD of --budget and --rate) are <integer><unit>
with unit s, m, h or d (30m, 2h, 1d) or whole seconds (1800); times (--expires, --not-before)
are RFC 3339 (2027-01-01T00:00:00Z). A bad value is a usage error (exit 64) and nothing is
written.")]
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
  behalf permissions revoke agent_claude_code            # marks the passport revoked
  behalf permissions revoke passport_claud_code --delete # removes the passport from the file")]
    Revoke {
        /// A permission id, a passport id, or an agent id
        id: String,
        /// Remove the passport from behalf.json instead of marking it revoked (for a passport
        /// created by mistake; a revoked one keeps denying its agent, a removed one is gone)
        #[arg(long)]
        delete: bool,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The agent id; it must have a passport already, unless --new-agent
    agent: String,
    /// Create a passport for AGENT when no passport has it (a typo would otherwise make one)
    #[arg(long)]
    new_agent: bool,
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
            // A file that is already invalid is reported as it stands (its own lines), so
            // every problem left after the edit is one the flags made.
            Loaded::from_text(&file, text)?;
            let made = create(&mut doc, a)?;
            save(&project.policy_path, &file, &doc, &made.flags)?;
            if made.new_passport {
                println!(
                    "created passport {} for {} (a new agent)\n  undo: behalf permissions revoke {} --delete",
                    made.passport, made.agent, made.passport
                );
            }
            println!(
                "created permission {} in {} ({file})",
                made.permission, made.passport
            );
            Ok(exit::OK)
        }
        PermissionsCommand::Revoke { id, delete } => {
            Loaded::from_text(&file, text)?;
            let what = revoke(&mut doc, &id, delete)?;
            save(&project.policy_path, &file, &doc, &[])?;
            println!("{what} ({file})");
            Ok(exit::OK)
        }
    }
}

/// Where in the edited file a flag's value went, to name the flag when the value is refused.
struct FlagAt {
    /// The JSON path the value was written to (`passports[0].permissions[3].approval.grantTtl`).
    path: String,
    flag: &'static str,
    value: String,
    form: &'static str,
}

/// What `create` made: the names to print, and where each flag went.
struct Made {
    agent: String,
    passport: String,
    permission: String,
    new_passport: bool,
    flags: Vec<FlagAt>,
}

fn save(path: &std::path::Path, file: &str, doc: &OValue, flags: &[FlagAt]) -> Result<()> {
    let text = doc.to_pretty();
    // Nothing is written unless the edited policy is valid as a whole.
    if let Err(e) = behalf_core::Policy::from_json_text(&text) {
        return Err(refused_edit(file, flags, &e));
    }
    write_atomically(path, &text)
}

/// The file was valid before the edit, so each problem is a flag's value: name the flag, the
/// value and the form it takes (a usage error, exit 64), never a line of a file not written.
fn refused_edit(file: &str, flags: &[FlagAt], e: &behalf_core::PolicyError) -> CliError {
    let owner = |problem: &str| {
        flags
            .iter()
            .filter(|f| {
                problem == f.path
                    || problem.starts_with(&format!("{}.", f.path))
                    || problem.starts_with(&format!("{}[", f.path))
            })
            .max_by_key(|f| f.path.len())
    };
    let mut first: Option<&FlagAt> = None;
    let mut lines = Vec::new();
    for p in &e.problems {
        match owner(&p.path) {
            Some(f) => {
                first = first.or(Some(f));
                lines.push(format!(
                    "{} `{}`: {} ({})",
                    f.flag, f.value, p.message, p.code
                ));
                lines.push(format!("    accepted: {}", f.form));
            }
            None => {
                let at = if p.path.is_empty() { "$" } else { &p.path };
                lines.push(format!("{at}: {} ({})", p.message, p.code));
                if !p.hint.is_empty() {
                    lines.push(format!("    fix: {}", p.hint));
                }
            }
        }
    }
    let message = match first {
        Some(f) => format!(
            "{} `{}` is not accepted; {file} was not changed",
            f.flag, f.value
        ),
        None => format!("the change would make {file} invalid; it was not changed"),
    };
    let mut err = CliError::usage(message);
    for l in lines {
        err = err.detail(l);
    }
    err.hint("fix the flag's value and run the command again")
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

const DURATION_FORM: &str =
    "<integer><unit> with unit s, m, h or d (30m, 2h, 1d), or whole seconds (1800)";
const TIME_FORM: &str = "an RFC 3339 time, like 2027-01-01T00:00:00Z";

/// A usage error that names the flag, the value, and the form the flag takes.
fn bad_flag(flag: &str, value: &str, why: &str, form: &str, example: &str) -> CliError {
    CliError::usage(format!("{flag} `{value}` {why}"))
        .detail(format!("accepted: {form}"))
        .hint(format!("write it like {flag} {example}"))
}

fn check_duration(flag: &str, text: &str, example: &str) -> Result<()> {
    let value = match text.parse::<i64>() {
        Ok(n) => Value::from(n),
        Err(_) => Value::String(text.to_string()),
    };
    match behalf_core::time::parse_duration(&value) {
        Some(_) => Ok(()),
        None => Err(bad_flag(
            flag,
            text,
            "is not a duration",
            DURATION_FORM,
            example,
        )),
    }
}

fn check_time(flag: &str, text: &str) -> Result<()> {
    match behalf_core::time::parse_rfc3339(text) {
        Some(_) => Ok(()),
        None => Err(bad_flag(
            flag,
            text,
            "is not an RFC 3339 time",
            TIME_FORM,
            "2027-01-01T00:00:00Z",
        )),
    }
}

/// `N/PERIOD` → (N, PERIOD), each checked: the amount a number (the count a whole number)
/// and the period a duration.
fn split_limit(text: &str, flag: &str) -> Result<(serde_json::Number, Value)> {
    let (what, example) = if flag == "--rate" {
        (
            "COUNT/PERIOD: a whole number of requests per duration",
            "20/1h",
        )
    } else {
        ("AMOUNT/PERIOD: an amount per duration", "300/1d")
    };
    let form = format!("{what}, the duration {DURATION_FORM}");
    let bad = |why: &str| bad_flag(flag, text, why, &form, example);
    let (n, per) = text.split_once('/').ok_or_else(|| bad("is not N/PERIOD"))?;
    let n: serde_json::Number = serde_json::from_str(n.trim())
        .map_err(|_| bad(&format!("does not start with a number (`{n}`)")))?;
    if flag == "--rate" && n.as_u64().is_none_or(|c| c == 0) {
        return Err(bad(&format!(
            "has `{n}` requests, not a whole number above 0"
        )));
    }
    let period = match per.trim().parse::<i64>() {
        Ok(seconds) => Value::from(seconds),
        Err(_) => Value::String(per.trim().to_string()),
    };
    if behalf_core::time::parse_duration(&period).is_none() {
        return Err(bad(&format!(
            "has the period `{per}`, which is not a duration"
        )));
    }
    Ok((n, period))
}

/// Asks on a terminal whether to create a passport for an agent that has none.
fn confirm_new_agent(agent: &str, near: Option<&str>) -> bool {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return false;
    }
    let mut err = std::io::stderr();
    let _ = match near {
        Some(n) => write!(
            err,
            "no passport has agent `{agent}` (did you mean `{n}`?). Create a new passport for `{agent}`? [y/N] "
        ),
        None => write!(
            err,
            "no passport has agent `{agent}`. Create a new passport for it? [y/N] "
        ),
    };
    let _ = err.flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "Yes")
}

fn agents(doc: &OValue) -> Vec<String> {
    doc.get("passports")
        .and_then(OValue::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("agent").and_then(OValue::as_str).map(str::to_string))
        .collect()
}

fn create(doc: &mut OValue, a: CreateArgs) -> Result<Made> {
    // Values the file would only refuse later are checked first, so the error names the flag.
    if let Some(t) = &a.grant_ttl {
        check_duration("--grant-ttl", t, "30m")?;
    }
    if let Some(t) = &a.expires {
        check_time("--expires", t)?;
    }
    if let Some(t) = &a.not_before {
        check_time("--not-before", t)?;
    }
    let known = agents(doc);
    let new_passport = !known.contains(&a.agent);
    if new_passport && !a.new_agent {
        let near = behalf_core::suggest::closest(&a.agent, known.iter().map(String::as_str));
        if !confirm_new_agent(&a.agent, near) {
            let mut err = CliError::usage(format!("no passport has agent `{}`", a.agent));
            if let Some(n) = near {
                err = err.detail(format!("did you mean `{n}`?"));
            }
            return Err(err.hint(format!(
                "pass --new-agent to create a passport for `{}`; `behalf permissions list` shows the agents",
                a.agent
            )));
        }
    }
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
    // (field, flag, value as typed, accepted form): where each flag lands in the permission.
    let mut flags: Vec<(&str, &'static str, String, &'static str)> =
        vec![("id", "--id", id.clone(), "1 to 128 of A-Z a-z 0-9 _ . : -")];
    let mut perm: Vec<(&str, OValue)> = vec![("id", OValue::str(id.clone()))];
    if let Some(d) = a.description {
        perm.push(("description", OValue::str(d)));
    }
    let joined = |list: &[String]| list.join(" ");
    flags.push((
        "action",
        "--action",
        joined(&a.action),
        "lowercase a-z 0-9 _ . : / -, with * as a wildcard (deploy, read_*)",
    ));
    perm.push(("action", pattern_list(&a.action)));
    if !a.vendor.is_empty() {
        flags.push((
            "vendor",
            "--vendor",
            joined(&a.vendor),
            "a host name or pattern, no scheme, port or path (vercel.com, *.amazon.com, *)",
        ));
        perm.push(("vendor", pattern_list(&a.vendor)));
    }
    if !a.resource.is_empty() {
        flags.push((
            "resource",
            "--resource",
            joined(&a.resource),
            "a /-separated path pattern, * within a segment, ** across (db/prod/**)",
        ));
        perm.push(("resource", pattern_list(&a.resource)));
    }
    if !a.when.is_empty() {
        let mut when = Vec::new();
        for w in &a.when {
            let (k, v) = when_condition(w)?;
            when.push((k, OValue::from_value(&v)));
        }
        flags.push((
            "when",
            "--when",
            joined(&a.when),
            "KEY=VALUE (equality; VALUE read as JSON when it parses) or KEY:MATCHER=VALUE (amount:lte=100)",
        ));
        perm.push(("when", OValue::Object(when)));
    }
    if effect != "allow" {
        perm.push(("effect", OValue::str(effect)));
    }
    let mut limits: Vec<(&str, OValue)> = Vec::new();
    if let Some(m) = a.max_amount {
        let n: serde_json::Number = serde_json::from_str(&m).map_err(|_| {
            bad_flag(
                "--max-amount",
                &m,
                "is not a number",
                "a number of at most 6 decimals, 0 or more",
                "100",
            )
        })?;
        flags.push((
            "limits.maxAmount",
            "--max-amount",
            m,
            "a number of at most 6 decimals, 0 or more (100, 42.5)",
        ));
        limits.push(("maxAmount", OValue::Number(n)));
    }
    if let Some(b) = &a.budget {
        let (n, per) = split_limit(b, "--budget")?;
        flags.push((
            "limits.budget",
            "--budget",
            b.clone(),
            "AMOUNT/PERIOD (300/1d)",
        ));
        limits.push((
            "budget",
            OValue::obj(vec![
                ("amount", OValue::Number(n)),
                ("per", OValue::from_value(&per)),
            ]),
        ));
    }
    if let Some(r) = &a.rate {
        let (n, per) = split_limit(r, "--rate")?;
        flags.push(("limits.rate", "--rate", r.clone(), "COUNT/PERIOD (20/1h)"));
        limits.push((
            "rate",
            OValue::obj(vec![
                ("count", OValue::Number(n)),
                ("per", OValue::from_value(&per)),
            ]),
        ));
    }
    if !limits.is_empty() {
        perm.push(("limits", OValue::obj(limits)));
    }
    if let Some(t) = a.grant_ttl {
        flags.push(("approval.grantTtl", "--grant-ttl", t.clone(), DURATION_FORM));
        perm.push(("approval", OValue::obj(vec![("grantTtl", OValue::str(t))])));
    }
    if let Some(t) = a.not_before {
        flags.push(("notBefore", "--not-before", t.clone(), TIME_FORM));
        perm.push(("notBefore", OValue::str(t)));
    }
    if let Some(t) = a.expires {
        flags.push(("expiresAt", "--expires", t.clone(), TIME_FORM));
        perm.push(("expiresAt", OValue::str(t)));
    }
    let perm = OValue::obj(perm);
    let list = passports(doc)?;
    let at = list
        .iter()
        .position(|p| p.get("agent").and_then(OValue::as_str) == Some(a.agent.as_str()));
    let index = match at {
        Some(i) => i,
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
            list.len() - 1
        }
    };
    let passport = list
        .get_mut(index)
        .ok_or_else(|| CliError::new(exit::SOFTWARE, "passport list is empty"))?;
    let pid = passport
        .get("id")
        .and_then(OValue::as_str)
        .unwrap_or("?")
        .to_string();
    if passport.get("permissions").is_none() {
        passport.set("permissions", OValue::Array(Vec::new()));
    }
    let perms = passport
        .get_mut("permissions")
        .and_then(OValue::as_array_mut)
        .ok_or_else(|| CliError::config(format!("`permissions` of {pid} is not an array")))?;
    perms.push(perm);
    let base = format!("passports[{index}].permissions[{}]", perms.len() - 1);
    let mut flags: Vec<FlagAt> = flags
        .into_iter()
        .map(|(field, flag, value, form)| FlagAt {
            path: format!("{base}.{field}"),
            flag,
            value,
            form,
        })
        .collect();
    if new_passport {
        flags.push(FlagAt {
            path: format!("passports[{index}].agent"),
            flag: "AGENT",
            value: a.agent.clone(),
            form: "an agent id: 1 to 128 of A-Z a-z 0-9 _ . : - (agent_claude_code)",
        });
    }
    Ok(Made {
        agent: a.agent,
        passport: pid,
        permission: id,
        new_passport,
        flags,
    })
}

fn revoke(doc: &mut OValue, id: &str, delete: bool) -> Result<String> {
    let list = passports(doc)?;
    if delete {
        let at = list.iter().position(|p| {
            p.get("id").and_then(OValue::as_str) == Some(id)
                || p.get("agent").and_then(OValue::as_str) == Some(id)
        });
        if let Some(i) = at {
            let p = list.remove(i);
            let text = |k: &str| p.get(k).and_then(OValue::as_str).unwrap_or("").to_string();
            let n = p
                .get("permissions")
                .and_then(OValue::as_array)
                .map_or(0, Vec::len);
            return Ok(format!(
                "deleted passport {} (agent {}, {n} permission{}) from the policy",
                text("id"),
                text("agent"),
                if n == 1 { "" } else { "s" }
            ));
        }
        return Err(CliError::usage(format!(
            "no passport or agent `{id}` in the policy; --delete removes whole passports"
        ))
        .hint("see `behalf permissions list`; without --delete a permission id removes that permission"));
    }
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
    let mut err = CliError::usage(format!(
        "no permission, passport or agent `{id}` in the policy"
    ));
    let ids = all_ids(doc);
    let names = agents(doc);
    let candidates = ids.iter().chain(names.iter()).map(String::as_str);
    if let Some(near) = behalf_core::suggest::closest(id, candidates) {
        err = err.detail(format!("did you mean `{near}`?"));
    }
    Err(err.hint("see `behalf permissions list`"))
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
