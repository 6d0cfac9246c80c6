//! `behalf test`: policy test cases.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{json, Value};

use crate::error::{exit, CliError, Result};
use crate::project::{self, Loaded};
use crate::Globals;

use super::plural;

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
