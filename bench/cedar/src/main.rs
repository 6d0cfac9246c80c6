//! Cedar on shared/BENCH.md's W1 or W2, for `behalf-bench`, which runs this binary in the same
//! run and prints its figures beside behalf's.
//!
//! It is a binary of its own because Cargo unifies features within one build: linked into
//! behalf-bench, cedar-policy turned on serde_json's `preserve_order`, and behalf was measured
//! with hash-ordered maps that no behalf user gets.
//!
//! `behalf-bench-cedar W1|W2 RUNS` prints `rules N`, `parse_ms X`, `decisions` (1 allow / 0
//! deny for the first six requests) and `stats MEDIAN P99 MIN MAX` in nanoseconds.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)] // a benchmark binary

#[path = "../../src/workloads.rs"]
mod workloads;

use std::str::FromStr;
use std::time::Instant;

use cedar_policy::{Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request};
use serde_json::json;
use workloads::{measure, w1_shapes, w2_cedar, w2_shapes, Shape, W1_CEDAR};

fn cedar_request(s: &Shape) -> Request {
    let principal = EntityUid::from_str(&format!(r#"Agent::"{}""#, s.agent)).unwrap();
    let action = EntityUid::from_str(&format!(r#"Action::"{}""#, s.action)).unwrap();
    let resource = EntityUid::from_str(&format!(r#"Vendor::"{}""#, s.vendor)).unwrap();
    let context =
        Context::from_json_value(json!({"env": s.env, "amount": s.amount, "to": s.to}), None)
            .unwrap();
    Request::new(principal, action, resource, context, None).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (text, shapes) = match args.get(1).map(String::as_str) {
        Some("W1") => (W1_CEDAR.to_string(), w1_shapes()),
        Some("W2") => (w2_cedar(), w2_shapes()),
        _ => panic!("usage: behalf-bench-cedar W1|W2 RUNS"),
    };
    let runs: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(1);
    let started = Instant::now();
    let policies = PolicySet::from_str(&text).expect("cedar policies");
    println!("rules {}", policies.policies().count());
    println!("parse_ms {:.1}", started.elapsed().as_secs_f64() * 1e3);
    let authorizer = Authorizer::new();
    let entities = Entities::empty();
    let requests: Vec<Request> = shapes.iter().map(cedar_request).collect();
    let allowed = |r: &Request| {
        authorizer.is_authorized(r, &policies, &entities).decision() == Decision::Allow
    };
    let seed: Vec<&str> = requests
        .iter()
        .take(6)
        .map(|r| if allowed(r) { "1" } else { "0" })
        .collect();
    println!("decisions {}", seed.join(" "));
    let n = requests.len();
    let s = measure(runs, n, |i| allowed(&requests[i % n]));
    println!("stats {} {} {} {}", s.median, s.p99, s.min_run, s.max_run);
}
