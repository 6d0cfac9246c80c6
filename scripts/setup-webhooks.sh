#!/usr/bin/env bash
# The webhook tests' receivers, idempotently: `standardwebhooks` from npm (pinned by
# cli/tests/webhooks/package-lock.json) and from PyPI, into the CLI's test venv.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bash "$ROOT/scripts/setup-cli.sh"   # node, npm and the venv (cli/tests/mcp/.venv)
WH_DIR="$ROOT/cli/tests/webhooks"
VENV="$ROOT/cli/tests/mcp/.venv"

if [ -f "$WH_DIR/node_modules/standardwebhooks/package.json" ] \
  && [ "$WH_DIR/node_modules/.package-lock.json" -nt "$WH_DIR/package-lock.json" ]; then
  echo "setup-webhooks: npm standardwebhooks present"
else
  step "setup-webhooks: npm ci (standardwebhooks)"
  (cd "$WH_DIR" && npm ci --no-audit --no-fund)
fi

if "$VENV/bin/python" -c 'import standardwebhooks' >/dev/null 2>&1; then
  echo "setup-webhooks: python standardwebhooks present"
else
  step "setup-webhooks: pip install standardwebhooks"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$WH_DIR/requirements.txt"
fi
