#!/usr/bin/env bash
# behalf vs cedarpy vs pycasbin on BENCH.md's W1 and W2 (not part of the tests).
# Installs the peers into bindings-py/.venv, builds and installs behalf from source (release),
# then runs bench.py. Pass --quick for a short run, --json FILE to keep the numbers.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
bash "$ROOT/scripts/setup-py.sh" --bench
VENV="$ROOT/bindings-py/.venv"
export PATH="$VENV/bin:$PATH"
step "pip install ./bindings-py (release)"
CARGO_TARGET_DIR="$ROOT/target/python" \
  python -m pip install --quiet --disable-pip-version-check --no-build-isolation \
  --force-reinstall --no-deps "$ROOT/bindings-py"
step "bench: behalf vs cedarpy vs casbin"
python "$ROOT/bindings-py/bench/bench.py" "$@"
