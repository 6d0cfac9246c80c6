#!/usr/bin/env bash
# behalf serve (crate behalf-server): formatting, lints, the unit tests, the /v1 API end to end
# over HTTP (server/tests/api.rs: packets byte-equal to the embedded engine's for conformance
# vectors, every agent-key refusal, reads scoped to the key's agent, events, policy reload,
# health, metrics, TLS with a certificate made by rcgen); then with the behalf binary: SIGKILL
# mid-load (crash.rs), `verify --url` (verify_url.rs), `mcp proxy --url` with the MCP SDK client
# and server-filesystem (cli/tests/mcp/remote.test.mjs), BehalfClient and behalf.Client /
# AsyncClient (server/tests/clients/). Every server binds 127.0.0.1 only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
step "cargo fmt --check (behalf-server)"
cargo fmt -p behalf-server -- --check
step "clippy (behalf-server; lints deny unwrap/expect/panic/indexing)"
cargo clippy -p behalf-server --all-targets -- -D warnings
step "cargo test -p behalf-server (unit tests, the /v1 API over HTTP)"
cargo test -p behalf-server --lib --test api --test webhooks

step "cargo build -p behalf-cli (the binary the process tests run)"
cargo build -p behalf-cli
BEHALF_BIN="$ROOT/target/debug/behalf"
export BEHALF_BIN

step "server: SIGKILL mid-load, restart; every answered decision is in the chain"
cargo test -p behalf-server --test crash
step "behalf verify --url: the server's packet, the dashboard link, a dead server denied"
cargo test -p behalf-server --test verify_url

step "mcp proxy --url: the TypeScript SDK client and server-filesystem, decisions on behalf serve"
bash scripts/setup-cli.sh
(cd cli/tests/mcp && node --test --test-concurrency=1 remote.test.mjs)

step "BehalfClient (JavaScript) against behalf serve"
bash scripts/setup-js.sh
bindings-js/build.sh
node --test --test-concurrency=1 server/tests/clients/client.test.mjs
(cd bindings-js && npx tsc --noEmit -p examples)

step "behalf.Client and AsyncClient (Python) against behalf serve"
bash scripts/setup-py.sh
VENV="$ROOT/bindings-py/.venv"
export PATH="$VENV/bin:$PATH"
CARGO_TARGET_DIR="$ROOT/target/python" \
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-build-isolation \
  --force-reinstall --no-deps ./bindings-py
status=0
"$VENV/bin/python" -m pytest server/tests/clients/test_client.py -q -p no:cacheprovider || status=$?
[ "$status" -eq 0 ] || { echo "test-server: the Python client tests failed (exit $status)" >&2; exit 1; }
