//! A fixed loop of decisions for counting instructions, not timing them: on a shared machine
//! `valgrind --tool=callgrind` gives the same count whatever else runs, so two trees can be
//! compared exactly (copy this file into the other tree's `core/examples/`).
//!
//!     cargo build --release -p behalf-core --example verify_loop
//!     valgrind --tool=callgrind target/release/examples/verify_loop 20000
//!
//! Four request shapes on a small policy (allowed with a condition, allowed and charged to a
//! budget, blocked by a resource pattern, an unknown agent), with the engine's audit log on.

use behalf_core::{Engine, EngineOptions};
use serde_json::json;

fn main() -> Result<(), String> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let policy = json!({"version": 1, "passports": [{"id": "p", "agent": "agent_claude_code",
        "permissions": [
            {"id": "deploy_staging", "action": "deploy", "vendor": "vercel.com",
             "when": {"env": "staging"}},
            {"id": "deploy_production", "action": "deploy", "vendor": "vercel.com",
             "when": {"env": "production"}, "effect": "require_approval"},
            {"id": "buy", "action": "purchase", "vendor": "*.amazon.com",
             "limits": {"maxAmount": 1000, "budget": {"amount": 1_000_000_000, "per": "1d"}}},
            {"id": "no_prod_db", "action": "*", "resource": "db/prod/**", "effect": "block"}]}]});
    let mut engine =
        Engine::from_value(&policy, EngineOptions::default()).map_err(|e| e.to_string())?;
    let requests = [
        json!({"agentId": "agent_claude_code", "action": "deploy", "vendor": "vercel.com",
               "params": {"env": "staging"}}),
        json!({"agentId": "agent_claude_code", "action": "purchase", "vendor": "www.amazon.com",
               "params": {"amount": 42}}),
        json!({"agentId": "agent_claude_code", "action": "read", "vendor": "x",
               "resource": "db/prod/users"}),
        json!({"agentId": "nobody", "action": "deploy", "vendor": "vercel.com"}),
    ];
    let mut allowed = 0;
    for (i, request) in requests.iter().cycle().take(n).enumerate() {
        let now = 1_795_000_000_000 + i64::try_from(i).unwrap_or(0);
        if engine.verify(request, now).allowed() {
            allowed += 1;
        }
    }
    println!("{allowed} allowed of {n}");
    Ok(())
}
