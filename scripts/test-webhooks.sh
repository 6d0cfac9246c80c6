#!/usr/bin/env bash
# Signed webhooks: the outbox written with each audit record, delivery with retries, backoff,
# Retry-After, 410 and leases, against two receivers that verify with the `standardwebhooks`
# packages from PyPI and npm (tampered, stale and future messages must be refused), a kill
# before and during the POST, and a thousand decisions while the receiver is down.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup-webhooks.sh

step "cargo build -p behalf-cli"
cargo build -p behalf-cli
export BEHALF_BIN="$ROOT/target/debug/behalf"

step "webhooks: unit tests of the delivery code (backoff, Retry-After, leases; server/src/webhooks.rs)"
cargo test -p behalf-server --lib webhooks

step "webhooks: end to end with the PyPI and npm standardwebhooks receivers"
timeout 900 "$ROOT/cli/tests/mcp/.venv/bin/python" "$ROOT/cli/tests/webhooks/test_webhooks.py"

step "webhooks: all passed"
