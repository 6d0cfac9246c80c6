//! The two workloads of shared/BENCH.md, expressed in behalf, in Cedar and as a hand-written
//! hash-map lookup (the floor), timed in one run on one machine. Cedar runs in its own binary,
//! `behalf-bench-cedar`, which this one builds and runs (bench/cedar/src/main.rs says why).
//!
//! `cargo run --release -p behalf-bench` (add `-- --quick` for a short run, `-- --profile W1`
//! to run only behalf's W1 decisions for about five seconds under a profiler; see `profile`)

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)] // a benchmark binary, not library code

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use behalf_core::{Engine, EngineOptions};
use serde_json::{json, Value};

mod workloads;
use workloads::{
    machine_tail, measure, show, w1_behalf, w1_shapes, w2_behalf, w2_shapes, Shape, Stats,
};

const NOW: i64 = 1_795_000_000_000;
/// Decisions before timing: the default audit window (10,000) filled, and 2,000 more.
const WARM_UP: usize = 12_000;

fn behalf_request(s: &Shape) -> Value {
    json!({"agentId": s.agent, "action": s.action, "vendor": s.vendor,
           "params": {"env": s.env, "amount": s.amount, "to": s.to}})
}

/// What the Cedar binary reported for one workload.
struct CedarRun {
    rules: usize,
    parse_ms: f64,
    seed_allowed: Vec<bool>,
    stats: Stats,
}

/// Builds `behalf-bench-cedar` (release, its own build: see bench/cedar/src/main.rs) and runs
/// it on one workload.
fn cedar(workload: &str, runs: usize) -> CedarRun {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let built = Command::new(cargo)
        .args(["build", "--quiet", "--release", "-p", "behalf-bench-cedar"])
        .current_dir(&root)
        .status()
        .expect("run cargo to build behalf-bench-cedar");
    assert!(built.success(), "cargo build -p behalf-bench-cedar failed");
    let exe = std::env::current_exe()
        .expect("this binary's path")
        .with_file_name("behalf-bench-cedar");
    let out = Command::new(&exe)
        .args([workload, &runs.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", exe.display()));
    assert!(out.status.success(), "behalf-bench-cedar {workload} failed");
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    let field = |name: &str| -> Vec<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name).map(str::trim))
            .unwrap_or_else(|| panic!("behalf-bench-cedar printed no `{name}`"))
            .split(' ')
            .map(|v| v.parse().expect("a number"))
            .collect()
    };
    let stats = field("stats ");
    CedarRun {
        rules: field("rules ")[0] as usize,
        parse_ms: field("parse_ms ")[0],
        seed_allowed: field("decisions ").iter().map(|&d| d == 1.0).collect(),
        stats: Stats {
            median: stats[0],
            p99: stats[1],
            min_run: stats[2],
            max_run: stats[3],
        },
    }
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

fn row(engine: &str, s: &Stats, behalf_median: f64) {
    println!(
        "| {engine:<31} | {:>10} | {:>10} | {:>21} | {:>8.2}× |",
        show(s.median),
        show(s.p99),
        format!("{} – {}", show(s.min_run), show(s.max_run)),
        s.median / behalf_median
    );
}

/// One workload's figures: behalf alone, behalf with an audit sink, Cedar, the floor.
struct Figures {
    behalf: Stats,
    with_sink: Stats,
    cedar: Stats,
    /// How many decisions each behalf row timed.
    samples: usize,
}

fn workload(
    name: &str,
    cedar_name: &str,
    policy: &Value,
    shapes: &[Shape],
    runs: usize,
    cedar_runs: usize,
) -> Figures {
    let mut engine = Engine::from_value(policy, EngineOptions::default()).expect("behalf policy");
    // The same engine with a sink that receives every audit record, chained (as a log would).
    let mut sunk = Engine::from_value(policy, EngineOptions::default()).expect("behalf policy");
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    sunk.set_audit_sink(Some(Box::new(move |record| {
        black_box(&record.hash);
        counter.fetch_add(1, Ordering::Relaxed);
    })));
    let started = Instant::now();
    let _ = behalf_core::Policy::from_value(policy).expect("behalf policy");
    let behalf_compile = started.elapsed();
    let behalf_requests: Vec<Value> = shapes.iter().map(behalf_request).collect();
    let agents: Vec<String> = {
        let mut a: Vec<String> = shapes.iter().map(|s| s.agent.clone()).collect();
        a.sort();
        a.dedup();
        a
    };
    let floor = floor_rules(&agents);
    let c = cedar(cedar_name, cedar_runs);

    println!("\n## {name}: {} requests, {} rules", shapes.len(), c.rules);
    println!(
        "compile: behalf {:.1} ms, cedar parse {:.1} ms",
        behalf_compile.as_secs_f64() * 1e3,
        c.parse_ms
    );
    println!("decisions on the six seed shapes (behalf / cedar / floor):");
    for (s, &cedar_allowed) in shapes.iter().zip(&c.seed_allowed) {
        let b = engine.verify(&behalf_request(s), NOW);
        let word = |allowed: bool| if allowed { "allow" } else { "deny" };
        println!(
            "  {:<18} {:<10} {:<22} → {:<8} ({:<13}) / {:<5} / {:<5}",
            s.agent,
            s.action,
            s.vendor,
            b.decision().as_str(),
            b.reason.as_str(),
            word(cedar_allowed),
            word(floor_decide(&floor, s))
        );
        assert_eq!(
            b.allowed(),
            cedar_allowed,
            "behalf and cedar disagree on {} {} {}",
            s.agent,
            s.action,
            s.vendor
        );
    }
    let n = shapes.len();
    // Steady state, as the Node and Python benches measure it: the audit window (10,000
    // records) full and evicting, not the one-time growth of a fresh engine's memory.
    for i in 0..WARM_UP {
        black_box(engine.verify(&behalf_requests[i % n], NOW).allowed());
        black_box(sunk.verify(&behalf_requests[i % n], NOW).allowed());
    }
    let b = measure(runs, n, |i| {
        engine.verify(&behalf_requests[i % n], NOW).allowed()
    });
    let with_sink = measure(runs, n, |i| {
        sunk.verify(&behalf_requests[i % n], NOW).allowed()
    });
    sunk.flush();
    assert_eq!(
        received.load(Ordering::Relaxed),
        (WARM_UP + runs * n) as u64,
        "the sink must receive every record"
    );
    let f = measure(runs, n, |i| floor_decide(&floor, &shapes[i % n]));
    println!("\n| engine (Rust, this machine)     | median     | p99        | runs' means (min–max) | vs behalf |");
    println!("|---------------------------------|-----------:|-----------:|----------------------:|----------:|");
    row("behalf Engine::verify", &b, b.median);
    row("behalf, with an audit sink", &with_sink, b.median);
    row("cedar-policy 4.14 is_authorized", &c.stats, b.median);
    row("hand-written hash map (floor)", &f, b.median);
    Figures {
        behalf: b,
        with_sink,
        cedar: c.stats,
        samples: runs * n,
    }
}

/// Prints one target of the issue: what it asks, what this run measured, met or missed.
fn target(what: &str, measured: String, met: bool) -> bool {
    let verdict = if met { "met" } else { "MISSED" };
    println!("| {what:<44} | {measured:>26} | {verdict:<6} |");
    met
}

/// The targets (W1 ratio to Cedar, flat to W2, the tail), with and without the sink.
fn targets(w1: &Figures, w2: &Figures) {
    println!("\n## Targets (this run)");
    println!(
        "| target                                       |                   measured | result |"
    );
    println!(
        "|----------------------------------------------|---------------------------:|--------|"
    );
    let mut all = true;
    for (label, a, b) in [
        ("", &w1.behalf, &w2.behalf),
        (" (sink)", &w1.with_sink, &w2.with_sink),
    ] {
        let ratio = w1.cedar.median / a.median;
        all &= target(
            &format!("W1 median >= 35x faster than Cedar{label}"),
            format!("{ratio:.1}x"),
            ratio >= 35.0,
        );
        let flat = b.median / a.median;
        all &= target(
            &format!("W2 median <= 1.5x W1 median{label}"),
            format!("{flat:.2}x ({} / {})", show(b.median), show(a.median)),
            flat <= 1.5,
        );
        for (w, s) in [("W1", a), ("W2", b)] {
            let tail = s.p99 / s.median;
            all &= target(
                &format!("{w} p99 <= 4x median{label}"),
                format!("{tail:.2}x ({})", show(s.p99)),
                tail <= 4.0,
            );
        }
    }
    println!(
        "{}",
        if all {
            "every target met"
        } else {
            "some targets MISSED"
        }
    );
    // Busy loops as long as a W1 decision, as many samples as its row: the machine's own tail.
    println!("\nthis machine's tail for a call as long as a W1 decision (a busy loop):");
    for (what, writes) in [
        ("computing only", 0),
        ("and writing 256 bytes on through 8 MiB", 256),
    ] {
        let m = machine_tail(w1.behalf.median, w1.samples, writes);
        println!(
            "  {what}: median {}, p99 {} ({:.2}x)",
            show(m.median),
            show(m.p99),
            m.p99 / m.median
        );
    }
}

/// How `--profile` picks its requests.
#[derive(Clone, Copy)]
enum Rotation {
    /// All of the workload's requests (W2: 4,096, over 1,000 agents).
    All,
    /// Only the first K (few agents, everything in cache).
    First(usize),
    /// 4,096 copies of the first six: the requests' memory is as cold as in W2, but only
    /// six agents' passports are read.
    Copies,
}

/// `--profile W1|W2 [N] [--first K | --copies]`: only behalf's decisions, for about five
/// seconds or exactly N of them, then their mean and median: for a profiler (`perf record -g
/// ./target/release/behalf-bench --profile W1`, or `valgrind --tool=callgrind … --profile W1
/// 60000` to count instructions per decision) or for runs of two builds in turn. `--first K`
/// and `--copies` tell the cost of a large policy from that of cold requests
/// (bench/HOT_PATH.md).
fn profile(policy: &Value, shapes: &[Shape], count: Option<u64>, rotation: Rotation) {
    let mut engine = Engine::from_value(policy, EngineOptions::default()).expect("behalf policy");
    let mut requests: Vec<Value> = shapes.iter().map(behalf_request).collect();
    match rotation {
        Rotation::All => {}
        Rotation::First(k) => requests.truncate(k.max(1)),
        Rotation::Copies => {
            let six: Vec<Value> = requests.iter().take(6).cloned().collect();
            requests = six.iter().cycle().take(4096).cloned().collect();
        }
    }
    let started = Instant::now();
    let mut decided = 0u64;
    let more = |decided: u64| match count {
        Some(n) => decided < n,
        None => started.elapsed().as_secs() < 5,
    };
    // Each decision is timed too, for the median (the mean includes the audit chain's batches).
    let mut samples = Vec::new();
    while more(decided) {
        for r in &requests {
            let t = Instant::now();
            black_box(engine.verify(r, NOW).allowed());
            samples.push(t.elapsed().as_nanos() as u32);
        }
        decided += requests.len() as u64;
    }
    samples.sort_unstable();
    println!(
        "{decided} decisions, {} each, median {}",
        show(started.elapsed().as_nanos() as f64 / decided as f64),
        show(f64::from(samples[samples.len() / 2]))
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let (runs, w2_cedar_runs) = if quick { (20, 1) } else { (200, 3) };
    println!("# behalf vs Cedar (Rust), shared/BENCH.md workloads; per-decision times");
    let w1_shapes = w1_shapes();
    if let Some(at) = args.iter().position(|a| a == "--profile") {
        let count = args.get(at + 2).filter(|n| !n.starts_with("--")).map(|n| {
            n.parse::<u64>()
                .expect("--profile W1|W2 N: N is a number of decisions")
        });
        let rotation = match args.iter().position(|a| a == "--first") {
            Some(k) => Rotation::First(
                args.get(k + 1)
                    .and_then(|k| k.parse().ok())
                    .expect("--first K: K is a number of requests"),
            ),
            None if args.iter().any(|a| a == "--copies") => Rotation::Copies,
            None => Rotation::All,
        };
        match args.get(at + 1).map(String::as_str) {
            Some("W1") => profile(&w1_behalf(), &w1_shapes, count, rotation),
            Some("W2") => profile(&w2_behalf(), &w2_shapes(), count, rotation),
            _ => panic!("--profile takes W1 or W2 (then optionally N, --first K or --copies)"),
        }
        return;
    }
    let w1 = workload(
        "W1 — the seed, 10 rules",
        "W1",
        &w1_behalf(),
        &w1_shapes,
        runs,
        runs,
    );
    let w2 = workload(
        "W2 — 1,000 agents × 10 rules",
        "W2",
        &w2_behalf(),
        &w2_shapes(),
        runs / 4,
        w2_cedar_runs,
    );
    targets(&w1, &w2);
}
