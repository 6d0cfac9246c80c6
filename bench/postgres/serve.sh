#!/usr/bin/env bash
# POST /v1/verify at 64 concurrent keep-alive connections: 1 and 4 `behalf serve` instances,
# on SQLite and on PostgreSQL (benchmark, not a test; issue 14). Release builds, wrk (Debian),
# a throwaway PostgreSQL cluster with fsync on. With 4 instances the 64 connections are split
# 16 a piece, each instance serving its own agent (disjoint rows: what a team's agents do);
# req/s are summed, p50 is the median and p99 the worst of the four wrk runs.
#
#   bench/postgres/serve.sh                 # 10 s a configuration
#   DURATION=30s bench/postgres/serve.sh
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"
DURATION="${DURATION:-10s}"
bash scripts/setup-bench-server.sh >/dev/null
step "cargo build --release -p behalf-cli"
cargo build --release -p behalf-cli
BIN="$ROOT/target/release/behalf"

step "throwaway PostgreSQL cluster (fsync on)"
source "$ROOT/scripts/pg.sh"
PG_FSYNC=on pg_start
work="$(mktemp -d)"
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}
trap 'stop_all; rm -rf "$work"; pg_stop' EXIT

# Four agents, each with a rate-limited read (every decision charges its passport's usage row).
python3 - "$work/behalf.json" <<'PY'
import json, sys
passports = [{"id": f"passport_{i}", "agent": f"agent_{i}", "permissions": [
    {"id": f"reads_{i}", "action": "read", "vendor": "example.com",
     "limits": {"rate": {"count": 100000000, "per": "1h"}}}]} for i in range(4)]
json.dump({"version": 1, "passports": passports}, open(sys.argv[1], "w"))
PY
for i in 0 1 2 3; do
  cat > "$work/agent_$i.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"agentId":"agent_$i","action":"read","vendor":"example.com","params":{"n":1}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY_$i")
LUA
done

keys_for() { # STATE: exports KEY_0..KEY_3 made in that state
  for i in 0 1 2 3; do
    export "KEY_$i=$(cd "$work" && state_env "$1" "$BIN" agents key create "agent_$i" --quiet)"
  done
}
state_env() { # STATE CMD...: runs CMD with the state in STATE (a file or a URL)
  local state="$1"; shift
  case "$state" in
    host=*|postgres*) BEHALF_STATE_URL="$state" "$@" ;;
    *) BEHALF_STATE_URL="" BEHALF_STATE_DIR="$(dirname "$state")" "$@" ;;
  esac
}

start() { # STATE N: starts N instances on ports 17811.., waits for them
  local state="$1" n="$2"
  for i in $(seq 0 $((n - 1))); do
    (cd "$work" && exec "$BIN" serve --listen "127.0.0.1:$((17811 + i))" --state "$state" \
      > "$work/serve-$i.log" 2>&1) &
    pids+=($!)
  done
  for i in $(seq 0 $((n - 1))); do
    for _ in $(seq 200); do
      curl -fs "http://127.0.0.1:$((17811 + i))/readyz" >/dev/null 2>&1 && break
      sleep 0.1
    done
  done
}

measure() { # LABEL N: 64 connections over N instances
  local label="$1" n="$2" per=$((64 / $2)) outs=()
  for i in $(seq 0 $((n - 1))); do
    wrk -t1 -c"$per" -d"$DURATION" --latency -s "$work/agent_$i.lua" \
      "http://127.0.0.1:$((17811 + i))/v1/verify" > "$work/wrk-$i.txt" &
    outs+=($!)
  done
  wait "${outs[@]}"
  python3 - "$label" "$n" "$work" <<'PY'
import re, sys
label, n, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps, p50, p99, bad = 0.0, [], [], 0
for i in range(n):
    out = open(f"{work}/wrk-{i}.txt").read()
    rps += float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50.append(ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)))
    p99.append(ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad += int(m.group(1)) if m else 0
p50.sort()
print(f"{label:<34} {rps:>9.0f} decisions/s   p50 {p50[len(p50)//2]:7.2f} ms   p99 {max(p99):7.2f} ms"
      + (f"   {bad} non-2xx" if bad else ""))
PY
}

run() { # LABEL STATE N
  start "$2" "$3"
  measure "$1" "$3"
  stop_all
}

echo "wrk, 64 keep-alive connections in all, $DURATION a configuration, on $(nproc) cores"
mkdir -p "$work/sqlite"
SQLITE="$work/sqlite/state.db"
keys_for "$SQLITE"
run "SQLite, 1 instance" "$SQLITE" 1
run "SQLite, 4 instances (one file)" "$SQLITE" 4
command psql "$BEHALF_TEST_PG_URL" -qAt -c "CREATE DATABASE bench_serve"
PG="$BEHALF_TEST_PG_URL dbname=bench_serve"
keys_for "$PG"
run "PostgreSQL, 1 instance" "$PG" 1
run "PostgreSQL, 4 instances" "$PG" 4
echo "audit records on PostgreSQL: $(command psql "$PG" -qAt -c 'SELECT count(*) FROM audit')"
