#!/usr/bin/env bash
# Installs what behalf's builds and tests need, idempotently: each part skips what is there.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
for part in "$ROOT"/scripts/setup-*.sh; do
  [ -e "$part" ] || continue
  bash "$part"
done
