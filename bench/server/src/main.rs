//! Helpers of `bench/server/run.sh` (results in bench/SERVER.md):
//!
//! - `echo ADDR`: a plain axum endpoint that answers a POST with its body — the floor that
//!   `behalf serve`'s latency is compared with, under the same load generator in the same run.
//! - `embedded POLICY REQUEST N DB`: the same decision N times through the embedded engine,
//!   once in memory and once over SQLite (one transaction a decision, as `behalf verify
//!   --stdin` does); prints decisions per second and the p50/p99 of one decision.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use axum::Router;
use behalf_core::{Engine, EngineOptions, Policy};
use behalf_store::sqlite::SqliteStore;
use behalf_store::StateStore;
use serde_json::Value;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["echo", addr] => echo(addr),
        ["embedded", policy, request, n, db] => embedded(policy, request, n, db),
        _ => Err("usage: behalf-bench-server echo ADDR | embedded POLICY REQUEST N DB".into()),
    }
}

fn echo(addr: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let app = Router::new().route("/echo", post(|body: Bytes| async move { body }));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| e.to_string())?;
        println!("echo listening on http://{addr}");
        axum::serve(listener, app).await.map_err(|e| e.to_string())
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(at).copied().unwrap_or_default()
}

fn report(label: &str, mut took: Vec<Duration>, total: Duration) {
    took.sort();
    let n = took.len() as f64;
    println!(
        "{label}: {:.0} decisions/s, p50 {:.1} µs, p99 {:.1} µs",
        n / total.as_secs_f64(),
        percentile(&took, 0.5).as_secs_f64() * 1e6,
        percentile(&took, 0.99).as_secs_f64() * 1e6,
    );
}

fn embedded(policy: &str, request: &str, n: &str, db: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(policy).map_err(|e| format!("{policy}: {e}"))?;
    let policy = std::sync::Arc::new(Policy::from_json_text(&text).map_err(|e| e.to_string())?);
    let request: Value = serde_json::from_str(request).map_err(|e| e.to_string())?;
    let n: usize = n.parse().map_err(|_| "N must be a number".to_string())?;

    let mut engine = Engine::from_shared(policy.clone(), EngineOptions::default());
    let mut took = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let d = engine.verify(&request, behalf_store::wall_ms());
        took.push(t.elapsed());
        std::hint::black_box(d.to_json());
    }
    report("embedded, in memory", took, started.elapsed());

    let mut store = SqliteStore::open(
        std::path::Path::new(db),
        Duration::from_secs(5),
        Duration::from_secs(5),
    )
    .map_err(|e| e.to_string())?;
    let mut engine = Engine::from_shared(policy.clone(), EngineOptions::default());
    let mut took = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let prepared = engine.prepare(&request);
        let now = behalf_store::wall_ms();
        let d = store
            .write(&policy, |tx| {
                behalf_store::verify_in(tx, &mut engine, &prepared, now).map(|(d, _)| d)
            })
            .map_err(|e| e.to_string())?;
        took.push(t.elapsed());
        std::hint::black_box(d.to_json());
    }
    report(
        "embedded, SQLite (one transaction a decision)",
        took,
        started.elapsed(),
    );
    Ok(())
}
