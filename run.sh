#!/usr/bin/env bash
# The main job: installs what the sandbox needs if it is missing, rebuilds only what changed
# (the wasm package, www/dist), and serves the sandbox; `--demo` prints the seed scenarios
# through the core instead. With nothing changed it serves within a few seconds.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh
if [ -x scripts/serve.sh ] && [ "${1:-}" != "--demo" ]; then
  # Only the tools the sandbox is built with; ./test.sh sets up everything the tests need.
  bash scripts/setup-js.sh
  bash scripts/setup-www.sh
  exec scripts/serve.sh "$@"
fi
step "behalf demo: the seed scenarios through the core"
cargo run -q -p behalf-core --example demo -- "$@"
