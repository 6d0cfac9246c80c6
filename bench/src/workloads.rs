//! The workloads of shared/BENCH.md (W1, the seed; W2, 1,000 agents × 10 rules) and the timing
//! both benchmark binaries share: `behalf-bench` (behalf and the floor) and `behalf-bench-cedar`
//! (Cedar, built on its own so that its dependencies' features do not change behalf's build).

#![allow(dead_code)] // each binary uses its half

use std::hint::black_box;
use std::time::Instant;

use serde_json::{json, Value};

/// One request shape of W1: agent, action, vendor, env, amount, to.
#[derive(Clone)]
pub struct Shape {
    pub agent: String,
    pub action: &'static str,
    pub vendor: &'static str,
    pub env: &'static str,
    pub amount: i64,
    pub to: &'static str,
}

pub fn seed_shapes(agent_for: impl Fn(usize) -> String) -> Vec<Shape> {
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

pub fn w1_behalf() -> Value {
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

pub const W1_CEDAR: &str = r#"
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

pub fn w2_agent(i: usize) -> String {
    format!("agent_{i:04}")
}

pub fn w2_behalf() -> Value {
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

pub fn w2_cedar() -> String {
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

pub fn w2_shapes() -> Vec<Shape> {
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

/// W1's requests: the six seed shapes rotated 170 times, so a timing loop is long enough.
pub fn w1_shapes() -> Vec<Shape> {
    let base = seed_shapes(|i| {
        if i == 0 {
            "agent_claude_code".into()
        } else {
            "agent_ollie".into()
        }
    });
    base.iter()
        .cycle()
        .take(base.len() * 170)
        .cloned()
        .collect()
}

pub struct Stats {
    pub median: f64,
    pub p99: f64,
    pub min_run: f64,
    pub max_run: f64,
}

/// Times each decision; `runs` passes over the requests. Median and p99 of single decisions,
/// and the min–max of each run's mean.
pub fn measure(runs: usize, n: usize, mut decide: impl FnMut(usize) -> bool) -> Stats {
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

/// `k` rounds of a multiply-add the optimizer cannot remove: work that touches no memory.
fn busy(k: u64) -> u64 {
    let mut x = 0u64;
    for i in 0..k {
        x = black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    x
}

/// The machine's own tail: a busy loop calibrated to take `median` ns, timed `samples` times
/// as `measure` times a decision. With `writes`, each call also writes that many bytes, moving
/// on through 8 MiB (more than the caches hold), as an engine's audit window does. Its p99 ÷
/// median is what this machine adds to any call of that length that does that much.
pub fn machine_tail(median: f64, samples: usize, writes: usize) -> Stats {
    let timed = |k: u64| {
        let t = Instant::now();
        for _ in 0..1000 {
            black_box(busy(k));
        }
        t.elapsed().as_nanos() as f64 / 1000.0
    };
    let per_round = timed(1000) / 1000.0;
    let k = ((median / per_round.max(0.01)) as u64).max(1);
    let mut memory = vec![0u8; 8 << 20];
    let mut at = 0usize;
    measure(1, samples, |_| {
        if writes > 0 {
            if at + writes > memory.len() {
                at = 0;
            }
            for b in &mut memory[at..at + writes] {
                *b = b.wrapping_add(1);
            }
            at += writes;
        }
        busy(k) != 1
    })
}

pub fn show(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else if ns >= 1_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{ns:.0} ns")
    }
}
