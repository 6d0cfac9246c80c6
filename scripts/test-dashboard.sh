#!/usr/bin/env bash
# The approvals dashboard end to end: `behalf serve` on 127.0.0.1 driven in Debian's headless
# chromium with playwright-core and the DevTools WebAuthn virtual authenticator — enrollment,
# live held requests, signed approve and deny, revoke, the grant window passing, every refusal
# of the operator API, an agent trying to approve itself. Screenshots: test-output/dashboard/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup-dashboard.sh
step "cargo build -p behalf-cli (the server under test)"
cargo build -p behalf-cli
step "dashboard: end-to-end tests in headless chromium"
cd server/tests/dashboard
node --test --test-concurrency=1 .
echo "screenshots: $ROOT/test-output/dashboard/"
