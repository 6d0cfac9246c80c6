#!/usr/bin/env bash
# The sandbox's test tools, idempotently: playwright-core from www's lock file, and Debian's
# chromium (the tests never download a browser).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [ ! -x /usr/bin/chromium ]; then
  step "installing chromium (Debian package)"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
if ! have node || ! have npm; then
  step "installing node and npm (Debian packages)"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm
fi

cd "$ROOT/www"
# npm ci only when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci (www: playwright-core, no browser download)"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
