#!/usr/bin/env bash
# Builds everything the sandbox needs (the wasm web build, then www/dist) and serves it on
# localhost with a plain static file server. PORT picks the port (default 8080).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
www/build.sh
PORT="${PORT:-8080}"
step "behalf sandbox"
echo "serving www/dist — open http://127.0.0.1:$PORT/ (Ctrl+C stops it)"
exec python3 "$ROOT/www/serve.py" "$ROOT/www/dist" "$PORT"
