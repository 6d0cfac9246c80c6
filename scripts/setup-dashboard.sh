#!/usr/bin/env bash
# The dashboard's build and test tools, idempotently: openssl headers and pkg-config for
# webauthn-rs (openssl-sys), Debian's chromium (never a downloaded browser), and from
# server/tests/dashboard's lock file playwright-core, the MCP SDK and server-filesystem.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if ! dpkg -s libssl-dev pkg-config >/dev/null 2>&1; then
  step "installing libssl-dev and pkg-config (Debian packages, for webauthn-rs)"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y libssl-dev pkg-config
fi
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

cd "$ROOT/server/tests/dashboard"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
  || [ ! -d node_modules/@modelcontextprotocol/server-filesystem ]; then
  step "npm ci (dashboard tests: playwright-core, MCP SDK, server-filesystem; no browser download)"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
