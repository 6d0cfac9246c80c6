#!/usr/bin/env bash
# The Python binding: lints, the native core's conformance packets (for the differential
# check), `pip install ./bindings-py` from source into bindings-py/.venv, then pytest: every
# conformance vector, Python-specific inputs, the guard decorator, threads, mypy --strict
# and stubtest.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
VENV="$ROOT/bindings-py/.venv"

bash "$ROOT/scripts/setup-py.sh"
export PATH="$VENV/bin:$PATH"

step "cargo fmt --check (behalf-py)"
cargo fmt -p behalf-py -- --check
step "clippy -p behalf-py (library lints deny unwrap/expect/panic/indexing)"
cargo clippy -p behalf-py -- -D warnings

step "native packets for the differential check (cargo test -p behalf-core --test conformance)"
# The core's own failures are the core suite's to report; this suite needs the packets, fresh.
stamp="$(mktemp)"
trap 'rm -f "$stamp"' EXIT
cargo test -p behalf-core --test conformance \
  || echo "test-py: the native conformance run failed (see the core suite); comparing anyway" >&2
if [ ! -s "$ROOT/target/conformance/native.json" ] || [ "$stamp" -nt "$ROOT/target/conformance/native.json" ]; then
  echo "test-py: target/conformance/native.json was not written by this run" >&2
  exit 1
fi

step "pip install ./bindings-py (maturin, release, from source)"
# Its own target dir: the Python build never waits on (or evicts) the other crates' builds.
CARGO_TARGET_DIR="$ROOT/target/python" \
  python -m pip install --quiet --disable-pip-version-check --no-build-isolation \
  --force-reinstall --no-deps ./bindings-py

step "pytest bindings-py/tests"
cd "$ROOT/bindings-py"
status=0
python -m pytest tests -q -p no:cacheprovider || status=$?
case "$status" in
  0) ;;
  5) echo "test-py: pytest collected no tests" >&2; exit 1 ;;
  *) echo "test-py: pytest failed (exit $status)" >&2; exit "$status" ;;
esac

step "benchmark smoke: bench/state.py (2,000 calls; the full run is 1,000,000)"
CALLS=2000 python "$ROOT/bindings-py/bench/state.py"
