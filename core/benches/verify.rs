//! `cargo bench -p behalf-core --bench verify`: verify at 10, 1,000 and 100,000 permissions
//! (many agents, and one agent with many permissions), and policy compile time.
//! Targets on the 2-core machine: median verify <= 300 ns at 10 permissions and no more
//! than 2x that at 100,000; compiling 100,000 permissions <= 200 ms.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)] // test code may index and panic

use behalf_core::{Engine, EngineOptions, Policy};
use divan::{black_box, Bencher};
use serde_json::{json, Value};

fn main() {
    divan::main();
}

const NOW: i64 = 1_795_000_000_000;

/// `agents` passports of 10 permissions each, shaped like BENCH.md's W2.
fn many_agents(agents: usize) -> Value {
    let passports: Vec<Value> = (0..agents)
        .map(|a| {
            let id = |s: &str| format!("{s}_{a:06}");
            json!({
                "id": id("passport"), "agent": format!("agent_{a:06}"),
                "permissions": [
                    {"id": id("deploy_staging"), "action": "deploy", "vendor": "vercel.com", "when": {"env": "staging"}},
                    {"id": id("no_prod_deploy"), "action": "deploy", "when": {"env": "production"}, "effect": "block"},
                    {"id": id("browse"), "action": "browse", "vendor": "*"},
                    {"id": id("email"), "action": "send_email", "vendor": "gmail.com", "when": {"to": {"glob": "*@example.com"}}},
                    {"id": id("purchase"), "action": "purchase", "vendor": "amazon.com", "when": {"amount": {"lte": 100}}},
                    {"id": id("read"), "action": "read", "vendor": "github.com"},
                    {"id": id("netlify"), "action": "deploy", "vendor": "netlify.com", "when": {"env": "staging"}},
                    {"id": id("no_evil"), "action": "send_email", "when": {"to": {"glob": "*@evil.com"}}, "effect": "block"},
                    {"id": id("search"), "action": "search", "vendor": "*"},
                    {"id": id("write"), "action": "write", "vendor": "github.com", "when": {"env": "staging"}}
                ]
            })
        })
        .collect();
    json!({"version": 1, "passports": passports})
}

/// One agent with `n` permissions, each for its own vendor.
fn one_agent(n: usize) -> Value {
    let permissions: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("perm_{i:06}"), "action": "deploy", "vendor": format!("v{i}.example.com"), "when": {"env": "staging"}}))
        .collect();
    json!({"version": 1, "passports": [{"id": "passport", "agent": "agent_000000", "permissions": permissions}]})
}

fn staging(agent: usize) -> Value {
    json!({"agentId": format!("agent_{agent:06}"), "action": "deploy", "vendor": "vercel.com",
           "params": {"env": "staging", "amount": 0, "to": "bob@example.com"}})
}

fn engine(policy: &Value) -> Engine {
    match Engine::from_value(
        policy,
        EngineOptions {
            audit_capacity: 1000,
        },
    ) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1)
        }
    }
}

#[divan::bench(args = [1, 100, 10_000], sample_count = 300, sample_size = 64)]
fn verify_many_agents(bencher: Bencher, agents: usize) {
    let mut e = engine(&many_agents(agents));
    let requests: Vec<Value> = (0..64).map(|i| staging((i * 7919) % agents)).collect();
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 1) & 63;
        black_box(e.verify(black_box(&requests[i]), NOW))
    });
}

#[divan::bench(args = [10, 1_000, 100_000], sample_count = 300, sample_size = 64)]
fn verify_one_agent(bencher: Bencher, permissions: usize) {
    let mut e = engine(&one_agent(permissions));
    let request = json!({"agentId": "agent_000000", "action": "deploy", "vendor": format!("v{}.example.com", permissions / 2), "params": {"env": "staging"}});
    bencher.bench_local(|| black_box(e.verify(black_box(&request), NOW)));
}

#[divan::bench(args = [10, 1_000, 100_000], sample_count = 10)]
fn compile(bencher: Bencher, permissions: usize) {
    let policy = many_agents(permissions / 10);
    // The policy is returned, so divan drops it outside the timed region.
    bencher.bench_local(|| Policy::from_value(black_box(&policy)));
}

/// The seed's staging deploy at 10 permissions with audit eviction (capacity 1,000), the
/// steady state of a long-running agent.
#[divan::bench(sample_count = 300, sample_size = 64)]
fn verify_steady_state_with_eviction(bencher: Bencher) {
    let mut e = engine(&many_agents(1));
    let request = staging(0);
    for _ in 0..2000 {
        e.verify(&request, NOW);
    }
    bencher.bench_local(|| black_box(e.verify(black_box(&request), NOW)));
}

/// The first verify of a freshly built engine (first id draws the random pool, maps warm up).
#[divan::bench]
fn first_verify_of_a_fresh_engine(bencher: Bencher) {
    let policy = many_agents(1);
    let request = staging(0);
    bencher
        .with_inputs(|| {
            Engine::from_value(
                &policy,
                EngineOptions {
                    audit_capacity: 1_000_000,
                },
            )
            .ok()
        })
        .bench_local_refs(|e| {
            e.as_mut()
                .map(|e| black_box(e.verify(black_box(&request), NOW)).allowed())
        });
}
