//! The seed scenarios through the core, printed like the `behalf verify` trace.
//! `cargo run -p behalf-core --example demo [-- --json]`

use behalf_core::time::{format_rfc3339, parse_rfc3339};
use behalf_core::{Decision, Engine, EngineOptions};
use serde_json::{json, Value};

const POLICY: &str = include_str!("../../examples/behalf.json");

fn print(title: &str, request: &Value, d: &Decision, engine: &Engine, json_too: bool) {
    println!("\n── {title}");
    println!("$ behalf verify");
    let field = |k: &str| {
        request
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_string()
    };
    println!("agent     {}", field("agentId"));
    println!("action    {}", field("action"));
    println!("vendor    {}", field("vendor"));
    if let Some(params) = request.get("params").and_then(Value::as_object) {
        for (k, v) in params {
            println!(
                "{k:<9} {}",
                v.as_str().map_or_else(|| v.to_string(), str::to_string)
            );
        }
    }
    if let Some(passport) = &d.passport_id {
        let active = d.active_permissions.unwrap_or(0);
        let total = engine
            .policy()
            .passports
            .iter()
            .find(|p| p.id == *passport)
            .map_or(0, |p| p.permissions.len());
        println!("checking {passport}...");
        println!("{active} of {total} permissions active");
    }
    for t in &d.trace {
        if let Some(p) = &t.permission {
            println!("  · {p:<18} {:<9} {}", t.result, t.detail);
        }
    }
    println!("DECISION  {}", d.decision().as_str());
    println!("reason    {}", d.reason.as_str());
    println!("message   {}", d.message());
    if let Some(a) = &d.approval_id {
        println!("approval  {a}");
    }
    if let (Some(g), Some(end)) = (&d.grant_id, d.grant_expires_at) {
        println!("grant     {g} (until {})", format_rfc3339(end));
    }
    println!("executed  {}", d.allowed());
    println!("requestId {}", d.request_id);
    if json_too {
        println!(
            "{}",
            serde_json::to_string_pretty(&d.to_value()).unwrap_or_default()
        );
    }
}

fn main() {
    let json_too = std::env::args().any(|a| a == "--json");
    let mut engine = match Engine::from_json(POLICY, EngineOptions::default()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(78);
        }
    };
    let start = parse_rfc3339("2026-11-26T11:00:00Z").unwrap_or(0);
    let minute = 60_000;
    let staging = json!({"agentId": "agent_claude_code", "action": "deploy", "vendor": "vercel.com", "params": {"env": "staging"}});
    let production = json!({"agentId": "agent_claude_code", "action": "deploy", "vendor": "vercel.com", "params": {"env": "production"}});
    let coachella = json!({"agentId": "agent_ollie", "action": "purchase", "vendor": "coachella.com", "params": {"amount": 742}});

    let d = engine.verify(&staging, start);
    print(
        "coding agent deploys to staging",
        &staging,
        &d,
        &engine,
        json_too,
    );

    let held = engine.verify(&production, start + minute);
    print(
        "coding agent deploys to production",
        &production,
        &held,
        &engine,
        json_too,
    );

    if let Some(id) = &held.approval_id {
        match engine.approve(id, None, start + 2 * minute) {
            Ok(grant) => println!(
                "\n── a person approves {id}\ngrant {} open until {}",
                grant.id,
                behalf_core::time::format_rfc3339(grant.expires_at)
            ),
            Err(e) => println!("\napprove failed: {e}"),
        }
    }
    let d = engine.verify(&production, start + 3 * minute);
    print(
        "the agent retries inside the 30-minute window",
        &production,
        &d,
        &engine,
        json_too,
    );

    let d = engine.verify(&production, start + 33 * minute);
    print(
        "after the window closes",
        &production,
        &d,
        &engine,
        json_too,
    );

    let d = engine.verify(&coachella, start + 34 * minute);
    print(
        "agent_ollie buys Coachella tickets for $742",
        &coachella,
        &d,
        &engine,
        json_too,
    );

    let records = engine.audit_log_value();
    let report = behalf_core::verify_chain(records.as_array().map_or(&[][..], Vec::as_slice));
    println!(
        "\naudit: {} records, chain {}",
        report.records,
        if report.ok { "verified" } else { "BROKEN" }
    );
}
