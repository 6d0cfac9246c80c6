//! `behalf check`: validate behalf.json and say what it holds.

use clap::Args;
use serde_json::{json, Value};

use crate::error::{exit, Result};
use crate::project::{self, Loaded};
use crate::Globals;

use super::plural;

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
