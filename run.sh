#!/usr/bin/env bash
# The main job: installs what is missing, builds behalf, and runs the seed demo through the
# core. (When the sandbox exists, this serves it instead; see README.)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh
scripts/setup.sh
if [ -x scripts/serve.sh ] && [ "${1:-}" != "--demo" ]; then
  exec scripts/serve.sh "$@"
fi
step "behalf demo: the seed scenarios through the core"
cargo run -q -p behalf-core --example demo -- "$@"
