#!/usr/bin/env bash
# The JS binding's tools, idempotently: the wasm32 target, wasm-bindgen-cli at the crate's
# pinned version, Debian's chromium for the browser tests (never a downloaded browser), and the
# npm packages of bindings-js/package-lock.json (binaryen's wasm-opt, playwright-core,
# typescript, and the benchmark's peers cedar-wasm and casbin).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
JS="$ROOT/bindings-js"

if ! have cargo || ! have rustup; then
  echo "setup-js: rustup and cargo are required" >&2
  exit 1
fi
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "setup-js: wasm32-unknown-unknown present"
else
  step "setup-js: rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

want="$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' "$JS/Cargo.toml")"
have_version="$( (wasm-bindgen --version 2>/dev/null || true) | awk '{print $2}')"
if [ "$have_version" = "$want" ]; then
  echo "setup-js: wasm-bindgen-cli $want present"
else
  step "setup-js: cargo install wasm-bindgen-cli $want (found: ${have_version:-none})"
  cargo install --locked wasm-bindgen-cli --version "$want"
fi

if [ -x /usr/bin/chromium ]; then
  echo "setup-js: chromium present"
else
  step "setup-js: chromium (Debian package)"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
if ! have node || ! have npm; then
  step "setup-js: node and npm (Debian packages)"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm
fi

cd "$JS"
# npm ci only when node_modules is missing or older than the lock file.
if [ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  echo "setup-js: node_modules present"
else
  step "setup-js: npm ci (bindings-js)"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
