//! `/metrics` in the Prometheus text format: decisions by outcome, decisions that could not
//! be recorded, the latency of `POST /v1/verify`, group-commit batches, policy reloads.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use behalf_core::{Decision, DecisionKind};

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
const BATCH_BUCKETS: [u64; 8] = [1, 2, 4, 8, 16, 32, 64, 256];

#[derive(Default)]
pub struct Metrics {
    allowed: AtomicU64,
    denied: AtomicU64,
    approval_required: AtomicU64,
    faults: AtomicU64,
    latency: Histogram<12>,
    batch_sizes: [AtomicU64; 8],
    batches: AtomicU64,
    batched: AtomicU64,
    batch_micros: AtomicU64,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
}

struct Histogram<const N: usize> {
    counts: [AtomicU64; N],
    count: AtomicU64,
    micros: AtomicU64,
}

impl<const N: usize> Default for Histogram<N> {
    fn default() -> Self {
        Histogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            micros: AtomicU64::new(0),
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Metrics {
    /// A decision that was committed (and so recorded).
    pub fn decision(&self, d: &Decision) {
        let counter = match d.decision() {
            DecisionKind::Allowed => &self.allowed,
            DecisionKind::Denied => &self.denied,
            DecisionKind::ApprovalRequired => &self.approval_required,
        };
        counter.fetch_add(1, Relaxed);
    }

    /// A request answered `internal_error` without a record (the state could not be written).
    pub fn fault(&self) {
        self.faults.fetch_add(1, Relaxed);
    }

    /// One `POST /v1/verify`, from its arrival to its answer.
    pub fn verify_latency(&self, took: Duration) {
        let secs = took.as_secs_f64();
        for (bound, count) in LATENCY_BUCKETS.iter().zip(&self.latency.counts) {
            if secs <= *bound {
                count.fetch_add(1, Relaxed);
            }
        }
        self.latency.count.fetch_add(1, Relaxed);
        self.latency.micros.fetch_add(micros(took), Relaxed);
    }

    /// One group commit of `size` decisions.
    pub fn batch(&self, size: usize, took: Duration) {
        let size = u64::try_from(size).unwrap_or(u64::MAX);
        for (bound, count) in BATCH_BUCKETS.iter().zip(&self.batch_sizes) {
            if size <= *bound {
                count.fetch_add(1, Relaxed);
            }
        }
        self.batches.fetch_add(1, Relaxed);
        self.batched.fetch_add(size, Relaxed);
        self.batch_micros.fetch_add(micros(took), Relaxed);
    }

    pub fn reloaded(&self, ok: bool) {
        if ok {
            self.reloads.fetch_add(1, Relaxed);
        } else {
            self.reload_failures.fetch_add(1, Relaxed);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let get = |c: &AtomicU64| c.load(Relaxed);
        out.push_str(
            "# HELP behalf_decisions_total Decisions committed to the audit chain, by outcome.\n\
             # TYPE behalf_decisions_total counter\n",
        );
        for (label, c) in [
            ("allowed", &self.allowed),
            ("denied", &self.denied),
            ("approval_required", &self.approval_required),
        ] {
            let _ = writeln!(
                out,
                "behalf_decisions_total{{decision=\"{label}\"}} {}",
                get(c)
            );
        }
        let _ = write!(
            out,
            "# HELP behalf_unrecorded_denials_total Requests denied with internal_error because the state could not be written.\n\
             # TYPE behalf_unrecorded_denials_total counter\n\
             behalf_unrecorded_denials_total {}\n",
            get(&self.faults)
        );
        out.push_str(
            "# HELP behalf_verify_duration_seconds POST /v1/verify from arrival to answer.\n\
             # TYPE behalf_verify_duration_seconds histogram\n",
        );
        for (bound, c) in LATENCY_BUCKETS.iter().zip(&self.latency.counts) {
            let _ = writeln!(
                out,
                "behalf_verify_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                get(c)
            );
        }
        let count = get(&self.latency.count);
        let _ = write!(
            out,
            "behalf_verify_duration_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             behalf_verify_duration_seconds_sum {}\n\
             behalf_verify_duration_seconds_count {count}\n",
            get(&self.latency.micros) as f64 / 1e6
        );
        out.push_str(
            "# HELP behalf_commit_batch_size Decisions per group commit.\n\
             # TYPE behalf_commit_batch_size histogram\n",
        );
        for (bound, c) in BATCH_BUCKETS.iter().zip(&self.batch_sizes) {
            let _ = writeln!(
                out,
                "behalf_commit_batch_size_bucket{{le=\"{bound}\"}} {}",
                get(c)
            );
        }
        let batches = get(&self.batches);
        let _ = write!(
            out,
            "behalf_commit_batch_size_bucket{{le=\"+Inf\"}} {batches}\n\
             behalf_commit_batch_size_sum {}\n\
             behalf_commit_batch_size_count {batches}\n\
             # HELP behalf_commit_seconds_total Time spent in group commits.\n\
             # TYPE behalf_commit_seconds_total counter\n\
             behalf_commit_seconds_total {}\n\
             # HELP behalf_policy_reloads_total Edits of behalf.json that came into force, and that did not load.\n\
             # TYPE behalf_policy_reloads_total counter\n\
             behalf_policy_reloads_total{{result=\"loaded\"}} {}\n\
             behalf_policy_reloads_total{{result=\"rejected\"}} {}\n",
            get(&self.batched),
            get(&self.batch_micros) as f64 / 1e6,
            get(&self.reloads),
            get(&self.reload_failures),
        );
        out
    }
}
