#!/usr/bin/env bash
# The Python binding's tools, idempotently: a venv at bindings-py/.venv with maturin, pytest
# and mypy (pinned by bindings-py/requirements-dev.txt). `--bench` adds the benchmark's peers
# (cedarpy, casbin) from bindings-py/requirements-bench.txt; the tests never need them.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PY_DIR="$ROOT/bindings-py"
VENV="$PY_DIR/.venv"
PYTHON="${BEHALF_PYTHON:-python3}"

if ! have "$PYTHON"; then
  echo "setup-py: $PYTHON is required (CPython 3.10+)" >&2
  exit 1
fi
if ! have cargo; then
  echo "setup-py: cargo is required to build the extension" >&2
  exit 1
fi

# Installs a requirements file unless its stamp is newer than it (pip is slow even when idle).
install_requirements() {
  local file="$1" stamp="$VENV/.stamp-$(basename "$1")"
  if [ -e "$stamp" ] && [ "$stamp" -nt "$file" ]; then
    echo "setup-py: $(basename "$file") present"
    return
  fi
  step "setup-py: pip install -r $(basename "$file")"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$file"
  touch "$stamp"
}

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  echo "setup-py: venv present"
else
  step "setup-py: python venv at bindings-py/.venv"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
fi
install_requirements "$PY_DIR/requirements-dev.txt"
if [ "${1:-}" = "--bench" ]; then
  install_requirements "$PY_DIR/requirements-bench.txt"
fi
