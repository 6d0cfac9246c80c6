#!/usr/bin/env bash
# Builds what the sandbox serves: the web build of the npm package (bindings-js's own build
# script), then www/dist (the page plus a copy of that build). Used by scripts/serve.sh and
# scripts/test-www.sh.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"

step "bindings-js: the WebAssembly web build"
if [ -x "$ROOT/bindings-js/build.sh" ]; then
  "$ROOT/bindings-js/build.sh"
elif [ -f "$ROOT/bindings-js/build.sh" ]; then
  bash "$ROOT/bindings-js/build.sh"
elif [ -f "$ROOT/bindings-js/package.json" ] && grep -q '"build"' "$ROOT/bindings-js/package.json"; then
  (cd "$ROOT/bindings-js" && npm run --silent build)
else
  echo "bindings-js has no build script yet" >&2
  exit 1
fi

step "www: assembling the static sandbox"
node "$ROOT/www/build.mjs" "$@"
