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

# www/dist is rebuilt only when the page or the package build changed (BEHALF_REBUILD=1 forces).
if [ "$#" -eq 0 ]; then
  key="$( (cd "$ROOT" && find www/index.html www/style.css www/favicon.svg www/build.mjs www/build.sh www/src \
      bindings-js/package.json bindings-js/pkg/.build-key -type f -print0 | sort -z | xargs -0 sha256sum) \
    | sha256sum | cut -d' ' -f1)"
  if [ "${BEHALF_REBUILD:-}" != 1 ] && [ -f "$ROOT/www/dist/.build-key" ] \
    && [ "$(cat "$ROOT/www/dist/.build-key")" = "$key" ]; then
    echo "www/dist is up to date (nothing it is built from changed)"
    exit 0
  fi
fi
step "www: assembling the static sandbox"
node "$ROOT/www/build.mjs" "$@"
if [ "$#" -eq 0 ]; then
  echo "$key" > "$ROOT/www/dist/.build-key"
fi
