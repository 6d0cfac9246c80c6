#!/usr/bin/env bash
# The state store: formatting, lints, the shared backend suite (every conformance vector
# through the engine over each backend, packets byte-equal to the engine's own), and a
# one-block smoke run of the CLI benchmark (bench/cli/verify_stdin.py).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
step "cargo fmt --check (behalf-store)"
cargo fmt -p behalf-store -- --check
step "clippy (behalf-store; lints deny unwrap/expect/panic/indexing)"
cargo clippy -p behalf-store --all-targets -- -D warnings
step "cargo test -p behalf-store"
cargo test -p behalf-store
step "benchmark smoke: behalf verify --stdin, one block"
cargo build -p behalf-cli
python3 bench/cli/verify_stdin.py target/debug/behalf --smoke
