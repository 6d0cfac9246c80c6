# A throwaway PostgreSQL cluster for one test run; sourced, not run.
#
#   source scripts/pg.sh; pg_start    # exports BEHALF_TEST_PG_URL, stops the cluster on exit
#
# initdb into a temp dir, a Unix socket in that dir, a random free port on 127.0.0.1, started
# and stopped here; nothing depends on a system service. As root, the cluster runs as the
# `postgres` user (initdb refuses root).

pg_bin() {
  local initdb
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)
  [ -n "$initdb" ] || { echo "PostgreSQL is not installed: run scripts/setup-postgres.sh" >&2; return 1; }
  dirname "$initdb"
}

pg_as() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pg_start() {
  local bin
  bin=$(pg_bin)
  PG_DIR=$(mktemp -d /tmp/behalf-pg.XXXXXX)
  PG_PORT=$(pg_free_port)
  export PG_DIR PG_PORT PG_BIN="$bin"
  [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
  pg_as "$bin/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync -E UTF8 >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  pg_as "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
    -o "-k $PG_DIR -p $PG_PORT -c listen_addresses=127.0.0.1 -c fsync=${PG_FSYNC:-off} -c max_connections=200" \
    start >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
  export BEHALF_TEST_PG_URL="host=$PG_DIR port=$PG_PORT user=postgres dbname=postgres"
  trap pg_stop EXIT
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (socket in $PG_DIR)"
}

# Stops the server (it keeps its data), for outage tests; pg_resume starts it again.
pg_pause() { pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null; }
pg_resume() {
  pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
    -o "-k $PG_DIR -p $PG_PORT -c listen_addresses=127.0.0.1 -c fsync=${PG_FSYNC:-off} -c max_connections=200" \
    start >/dev/null
}

pg_stop() {
  [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR" ] || return 0
  pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
  PG_DIR=
}
