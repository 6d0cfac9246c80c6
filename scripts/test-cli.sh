#!/usr/bin/env bash
# The CLI: formatting, lints, the commands end to end, bad input, four processes on one budget
# (one killed mid-run) on SQLite and on a throwaway PostgreSQL cluster, then MCP enforcement against real components: the official TypeScript
# SDK client and the reference servers (filesystem, everything, memory, git, fetch) behind
# `behalf mcp proxy`, and the Python `mcp` client.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup-cli.sh

step "cargo fmt --check (behalf-cli)"
cargo fmt -p behalf-cli -- --check
step "clippy (behalf-cli; lints deny unwrap/expect/panic/indexing)"
cargo clippy -p behalf-cli --all-targets -- -D warnings
step "cargo build -p behalf-cli"
cargo build -p behalf-cli
BEHALF_BIN="$ROOT/target/debug/behalf"
export BEHALF_BIN

step "cli: unit tests and commands end to end"
cargo test -p behalf-cli --bins --test cli
step "cli: bad input (malformed policy, corrupt and locked database, tampered audit log)"
cargo test -p behalf-cli --test bad_input
step "cli: four processes, 500 requests each, one budget; one process killed mid-run"
cargo test -p behalf-cli --test concurrency
step "cli: a schema-1 state database opens as rows; verify --stdin streams"
cargo test -p behalf-cli --test migration --test stream
step "cli on PostgreSQL (a throwaway cluster): four processes, one budget; migrate; an outage"
source "$ROOT/scripts/pg.sh"
pg_start
cargo test -p behalf-cli --test postgres -- --include-ignored
step "mcp on PostgreSQL: the proxy and mcp serve suite again, with BEHALF_STATE_URL"
psql "$BEHALF_TEST_PG_URL" -qc "CREATE DATABASE cli_mcp"
(cd "$ROOT/cli/tests/mcp" && BEHALF_STATE_URL="$BEHALF_TEST_PG_URL dbname=cli_mcp" \
  node --test --test-concurrency=1 proxy.test.mjs)
pg_stop

MCP_DIR="$ROOT/cli/tests/mcp"
step "mcp: TypeScript SDK client + the reference servers behind behalf mcp proxy (attacks, transcripts, profiles)"
(cd "$MCP_DIR" && node --test --test-concurrency=1 proxy.test.mjs attacks.test.mjs everything.test.mjs profiles.test.mjs)
step "mcp: Python mcp client, the approval round trip"
"$MCP_DIR/.venv/bin/python" "$MCP_DIR/test_proxy.py"
step "mcp: the built-in tool profiles against schema/mcp-profile.schema.json"
"$MCP_DIR/.venv/bin/python" "$MCP_DIR/test_profile_schema.py"

step "cli: all passed"
