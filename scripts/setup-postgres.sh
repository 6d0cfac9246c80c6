#!/usr/bin/env bash
# PostgreSQL for the store's shared-state tests, idempotently: Debian's `postgresql` package
# (server binaries and the `postgres` system user). The tests never use the system service:
# scripts/pg.sh makes a throwaway cluster in a temp dir for each run.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  step "installing postgresql (Debian package; its service is not used)"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
fi
