#!/usr/bin/env bash
# The state store: formatting, lints, the shared backend suite (every conformance vector
# through the engine over each backend — memory, SQLite, PostgreSQL — packets byte-equal to
# the engine's own), PostgreSQL's shared-state tests against a throwaway cluster this script
# starts and stops (scripts/pg.sh), and a one-block smoke run of the CLI benchmark
# (bench/cli/verify_stdin.py).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
step "cargo fmt --check (behalf-store)"
cargo fmt -p behalf-store -- --check
step "clippy (behalf-store; lints deny unwrap/expect/panic/indexing)"
cargo clippy -p behalf-store --all-targets -- -D warnings
step "throwaway PostgreSQL cluster (initdb in a temp dir, a random port)"
source "$ROOT/scripts/pg.sh"
pg_start
step "cargo test -p behalf-store (memory, SQLite and PostgreSQL backends)"
cargo test -p behalf-store -- --include-ignored --skip outage
step "PostgreSQL outage: stopped mid-run, then started (alone: it stops the server)"
BEHALF_TEST_PG_OUTAGE=1 cargo test -p behalf-store --test postgres -- --include-ignored outage
step "benchmark smoke: behalf verify --stdin, one block"
cargo build -p behalf-cli
python3 bench/cli/verify_stdin.py target/debug/behalf --smoke
