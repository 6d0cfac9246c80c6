//! The two workloads of shared/BENCH.md, expressed in behalf, in Cedar and as a hand-written
//! hash-map lookup (the floor), timed in one run on one machine.
//!
//! `cargo run --release -p behalf-bench` (add `-- --quick` for a short run)

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)] // a benchmark binary, not library code

use std::collections::HashMap;
use std::hint::black_box;
use std::str::FromStr;
use std::time::Instant;

use behalf_core::{Engine, EngineOptions};
use cedar_policy::{Authorizer, Context, Entities, EntityUid, PolicySet, Request};
use serde_json::{json, Value};

const NOW: i64 = 1_795_000_000_000;

/// One request shape of W1: agent, action, vendor, env, amount, to.
#[derive(Clone)]
struct Shape {
    agent: String,
    action: &'static str,
    vendor: &'static str,
    env: &'static str,
    amount: i64,
    to: &'static str,
}

fn seed_shapes(agent_for: impl Fn(usize) -> String) -> Vec<Shape> {
    vec![
        Shape {
            agent: agent_for(0),
            action: "deploy",
            vendor: "vercel.com",
            env: "staging",
            amount: 0,
            to: "",
        },
        Shape {
            agent: agent_for(0),
            action: "deploy",
            vendor: "vercel.com",
            env: "production",
            amount: 0,
            to: "",
        },
        Shape {
            agent: agent_for(1),
            action: "purchase",
            vendor: "coachella.com",
            env: "",
            amount: 742,
            to: "",
        },
        Shape {
            agent: agent_for(1),
            action: "send_email",
            vendor: "gmail.com",
            env: "",
            amount: 0,
            to: "bob@example.com",
        },
        Shape {
            agent: agent_for(1),
            action: "send_email",
            vendor: "gmail.com",
            env: "",
            amount: 0,
            to: "eve@evil.com",
        },
        Shape {
            agent: agent_for(1),
            action: "browse",
            vendor: "news.ycombinator.com",
            env: "",
            amount: 0,
            to: "",
        },
    ]
}

fn w1_behalf() -> Value {
    json!({"version": 1, "passports": [
        {"id": "passport_claude", "agent": "agent_claude_code", "permissions": [
            {"id": "r1", "action": "deploy", "vendor": "vercel.com", "when": {"env": "staging"}},
            {"id": "r2a", "action": "deploy", "when": {"env": "production"}, "effect": "block"}]},
        {"id": "passport_ollie", "agent": "agent_ollie", "permissions": [
            {"id": "r3", "action": "browse", "vendor": "*"},
            {"id": "r4", "action": "send_email", "vendor": "gmail.com", "when": {"to": {"glob": "*@example.com"}}}]},
        {"id": "passport_codex", "agent": "agent_codex", "permissions": [
            {"id": "r5", "action": "read", "vendor": "github.com"},
            {"id": "r6", "action": "deploy", "vendor": "netlify.com", "when": {"env": "staging"}},
            {"id": "r2b", "action": "deploy", "when": {"env": "production"}, "effect": "block"}]},
        {"id": "passport_finance", "agent": "agent_finance", "permissions": [
            {"id": "r7", "action": "purchase", "vendor": "amazon.com", "when": {"amount": {"lte": 100}}}]},
        {"id": "passport_intern", "agent": "agent_intern", "permissions": [
            {"id": "r8", "action": "send_email", "effect": "block"}]},
        {"id": "passport_support", "agent": "agent_support", "permissions": [
            {"id": "r9", "action": "browse", "vendor": "zendesk.com"},
            {"id": "r10", "action": "send_email", "vendor": "zendesk.com", "when": {"to": {"glob": "*@customer.com"}}}]}
    ]})
}

const W1_CEDAR: &str = r#"
permit(principal == Agent::"agent_claude_code", action == Action::"deploy", resource == Vendor::"vercel.com") when { context.env == "staging" };
forbid(principal, action == Action::"deploy", resource) when { context.env == "production" };
permit(principal == Agent::"agent_ollie", action == Action::"browse", resource);
permit(principal == Agent::"agent_ollie", action == Action::"send_email", resource == Vendor::"gmail.com") when { context.to like "*@example.com" };
permit(principal == Agent::"agent_codex", action == Action::"read", resource == Vendor::"github.com");
permit(principal == Agent::"agent_codex", action == Action::"deploy", resource == Vendor::"netlify.com") when { context.env == "staging" };
permit(principal == Agent::"agent_finance", action == Action::"purchase", resource == Vendor::"amazon.com") when { context.amount <= 100 };
forbid(principal == Agent::"agent_intern", action == Action::"send_email", resource);
permit(principal == Agent::"agent_support", action == Action::"browse", resource == Vendor::"zendesk.com");
permit(principal == Agent::"agent_support", action == Action::"send_email", resource == Vendor::"zendesk.com") when { context.to like "*@customer.com" };
"#;

fn w2_agent(i: usize) -> String {
    format!("agent_{i:04}")
}

fn w2_behalf() -> Value {
    let passports: Vec<Value> = (0..1000)
        .map(|i| {
            let id = |r: &str| format!("{r}_{i:04}");
            json!({"id": id("passport"), "agent": w2_agent(i), "permissions": [
                {"id": id("deploy_staging"), "action": "deploy", "vendor": "vercel.com", "when": {"env": "staging"}},
                {"id": id("no_prod"), "action": "deploy", "when": {"env": "production"}, "effect": "block"},
                {"id": id("browse"), "action": "browse", "vendor": "*"},
                {"id": id("email"), "action": "send_email", "vendor": "gmail.com", "when": {"to": {"glob": "*@example.com"}}},
                {"id": id("purchase"), "action": "purchase", "vendor": "amazon.com", "when": {"amount": {"lte": 100}}},
                {"id": id("read"), "action": "read", "vendor": "github.com"},
                {"id": id("netlify"), "action": "deploy", "vendor": "netlify.com", "when": {"env": "staging"}},
                {"id": id("no_evil"), "action": "send_email", "when": {"to": {"glob": "*@evil.com"}}, "effect": "block"},
                {"id": id("search"), "action": "search", "vendor": "*"},
                {"id": id("write"), "action": "write", "vendor": "github.com", "when": {"env": "staging"}}]})
        })
        .collect();
    json!({"version": 1, "passports": passports})
}

fn w2_cedar() -> String {
    let mut text = String::new();
    for i in 0..1000 {
        let a = w2_agent(i);
        text.push_str(&format!(
            r#"permit(principal == Agent::"{a}", action == Action::"deploy", resource == Vendor::"vercel.com") when {{ context.env == "staging" }};
forbid(principal == Agent::"{a}", action == Action::"deploy", resource) when {{ context.env == "production" }};
permit(principal == Agent::"{a}", action == Action::"browse", resource);
permit(principal == Agent::"{a}", action == Action::"send_email", resource == Vendor::"gmail.com") when {{ context.to like "*@example.com" }};
permit(principal == Agent::"{a}", action == Action::"purchase", resource == Vendor::"amazon.com") when {{ context.amount <= 100 }};
permit(principal == Agent::"{a}", action == Action::"read", resource == Vendor::"github.com");
permit(principal == Agent::"{a}", action == Action::"deploy", resource == Vendor::"netlify.com") when {{ context.env == "staging" }};
forbid(principal == Agent::"{a}", action == Action::"send_email", resource) when {{ context.to like "*@evil.com" }};
permit(principal == Agent::"{a}", action == Action::"search", resource);
permit(principal == Agent::"{a}", action == Action::"write", resource == Vendor::"github.com") when {{ context.env == "staging" }};
"#
        ));
    }
    text
}

fn w2_shapes() -> Vec<Shape> {
    // 4,096 requests: a pseudo-random agent doing one of the six W1 shapes.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let agent = w2_agent((state % 1000) as usize);
            let mut shapes = seed_shapes(|_| agent.clone());
            shapes.swap_remove(((state >> 20) % 6) as usize)
        })
        .collect()
}

fn behalf_request(s: &Shape) -> Value {
    json!({"agentId": s.agent, "action": s.action, "vendor": s.vendor,
           "params": {"env": s.env, "amount": s.amount, "to": s.to}})
}

fn cedar_request(s: &Shape) -> Request {
    let principal = EntityUid::from_str(&format!(r#"Agent::"{}""#, s.agent)).unwrap();
    let action = EntityUid::from_str(&format!(r#"Action::"{}""#, s.action)).unwrap();
    let resource = EntityUid::from_str(&format!(r#"Vendor::"{}""#, s.vendor)).unwrap();
    let context =
        Context::from_json_value(json!({"env": s.env, "amount": s.amount, "to": s.to}), None)
            .unwrap();
    Request::new(principal, action, resource, context, None).unwrap()
}

/// The floor: rules in a hash map keyed by (agent, action), conditions as closures.
type Rule = (Option<&'static str>, bool, fn(&Shape) -> bool);

fn floor_rules(agents: &[String]) -> HashMap<(String, &'static str), Vec<Rule>> {
    let mut m: HashMap<(String, &'static str), Vec<Rule>> = HashMap::new();
    for a in agents {
        m.entry((a.clone(), "deploy"))
            .or_default()
            .push((Some("vercel.com"), true, |s| s.env == "staging"));
        m.entry((a.clone(), "deploy"))
            .or_default()
            .push((None, false, |s| s.env == "production"));
        m.entry((a.clone(), "browse"))
            .or_default()
            .push((None, true, |_| true));
        m.entry((a.clone(), "send_email"))
            .or_default()
            .push((Some("gmail.com"), true, |s| s.to.ends_with("@example.com")));
        m.entry((a.clone(), "send_email"))
            .or_default()
            .push((None, false, |s| s.to.ends_with("@evil.com")));
        m.entry((a.clone(), "purchase"))
            .or_default()
            .push((Some("amazon.com"), true, |s| s.amount <= 100));
    }
    m
}

fn floor_decide(m: &HashMap<(String, &'static str), Vec<Rule>>, s: &Shape) -> bool {
    let Some(rules) = m.get(&(s.agent.clone(), s.action)) else {
        return false;
    };
    let mut allow = false;
    for (vendor, permit, cond) in rules {
        if vendor.is_none_or(|v| v == s.vendor) && cond(s) {
            if !permit {
                return false;
            }
            allow = true;
        }
    }
    allow
}

struct Stats {
    median: f64,
    p99: f64,
    min_run: f64,
    max_run: f64,
}

/// Times each decision; `runs` passes over the requests. Median and p99 of single decisions,
/// and the min–max of each run's mean.
fn measure(runs: usize, n: usize, mut decide: impl FnMut(usize) -> bool) -> Stats {
    let mut samples = Vec::with_capacity(runs * n);
    let mut run_means = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start_run = Instant::now();
        for i in 0..n {
            let t = Instant::now();
            black_box(decide(i));
            samples.push(t.elapsed().as_nanos() as f64);
        }
        run_means.push(start_run.elapsed().as_nanos() as f64 / n as f64);
    }
    samples.sort_by(f64::total_cmp);
    run_means.sort_by(f64::total_cmp);
    Stats {
        median: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
        min_run: run_means[0],
        max_run: run_means[run_means.len() - 1],
    }
}

fn show(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else if ns >= 1_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

fn row(engine: &str, s: &Stats, behalf_median: f64) {
    println!(
        "| {engine:<28} | {:>10} | {:>10} | {:>21} | {:>8.2}× |",
        show(s.median),
        show(s.p99),
        format!("{} – {}", show(s.min_run), show(s.max_run)),
        s.median / behalf_median
    );
}

fn workload(
    name: &str,
    policy: &Value,
    cedar_text: &str,
    shapes: &[Shape],
    runs: usize,
    cedar_runs: usize,
) {
    let mut engine = Engine::from_value(policy, EngineOptions::default()).expect("behalf policy");
    let started = Instant::now();
    let cedar_policies = PolicySet::from_str(cedar_text).expect("cedar policies");
    let cedar_parse = started.elapsed();
    let started = Instant::now();
    let _ = behalf_core::Policy::from_value(policy).expect("behalf policy");
    let behalf_compile = started.elapsed();
    let authorizer = Authorizer::new();
    let entities = Entities::empty();
    let behalf_requests: Vec<Value> = shapes.iter().map(behalf_request).collect();
    let cedar_requests: Vec<Request> = shapes.iter().map(cedar_request).collect();
    let agents: Vec<String> = {
        let mut a: Vec<String> = shapes.iter().map(|s| s.agent.clone()).collect();
        a.sort();
        a.dedup();
        a
    };
    let floor = floor_rules(&agents);

    println!(
        "\n## {name}: {} requests, {} rules",
        shapes.len(),
        cedar_policies.policies().count()
    );
    println!(
        "compile: behalf {:.1} ms, cedar parse {:.1} ms",
        behalf_compile.as_secs_f64() * 1e3,
        cedar_parse.as_secs_f64() * 1e3
    );
    println!("decisions on the six seed shapes (behalf / cedar / floor):");
    for s in shapes.iter().take(6) {
        let b = engine.verify(&behalf_request(s), NOW);
        let c = authorizer
            .is_authorized(&cedar_request(s), &cedar_policies, &entities)
            .decision()
            == cedar_policy::Decision::Allow;
        println!(
            "  {:<18} {:<10} {:<22} → {:<8} ({:<13}) / {:<5} / {:<5}",
            s.agent,
            s.action,
            s.vendor,
            b.decision().as_str(),
            b.reason.as_str(),
            if c { "allow" } else { "deny" },
            if floor_decide(&floor, s) {
                "allow"
            } else {
                "deny"
            }
        );
        assert_eq!(
            b.allowed(),
            c,
            "behalf and cedar disagree on {} {} {}",
            s.agent,
            s.action,
            s.vendor
        );
    }
    let n = shapes.len();
    let b = measure(runs, n, |i| {
        engine.verify(&behalf_requests[i % n], NOW).allowed()
    });
    let c = measure(cedar_runs, n, |i| {
        authorizer
            .is_authorized(&cedar_requests[i % n], &cedar_policies, &entities)
            .decision()
            == cedar_policy::Decision::Allow
    });
    let f = measure(runs, n, |i| floor_decide(&floor, &shapes[i % n]));
    println!("\n| engine (Rust, this machine)  | median     | p99        | runs' means (min–max) | vs behalf |");
    println!("|------------------------------|-----------:|-----------:|----------------------:|----------:|");
    row("behalf Engine::verify", &b, b.median);
    row("cedar-policy 4.14 is_authorized", &c, b.median);
    row("hand-written hash map (floor)", &f, b.median);
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (runs, w2_cedar_runs) = if quick { (20, 1) } else { (200, 3) };
    println!("# behalf vs Cedar (Rust), shared/BENCH.md workloads; per-decision times");
    let mut w1 = seed_shapes(|i| {
        if i == 0 {
            "agent_claude_code".into()
        } else {
            "agent_ollie".into()
        }
    });
    // Rotate the six seed requests many times so the timing loop is long enough.
    let base = w1.clone();
    for _ in 0..169 {
        w1.extend(base.iter().cloned());
    }
    workload(
        "W1 — the seed, 10 rules",
        &w1_behalf(),
        W1_CEDAR,
        &w1,
        runs,
        runs,
    );
    workload(
        "W2 — 1,000 agents × 10 rules",
        &w2_behalf(),
        &w2_cedar(),
        &w2_shapes(),
        runs / 4,
        w2_cedar_runs,
    );
}
