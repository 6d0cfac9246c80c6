#!/usr/bin/env bash
# The core: formatting, lints, unit tests, conformance vectors, property tests, doc tests.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
step "cargo fmt --check"
cargo fmt --all -- --check
step "clippy (library lints deny unwrap/expect/panic/indexing)"
cargo clippy -p behalf-core --all-targets -- -D warnings
step "cargo test -p behalf-core"
cargo test -p behalf-core
step "benchmarks build and run once (divan test mode; timings come from cargo bench, not here)"
cargo test -p behalf-core --benches
