#!/usr/bin/env bash
# POST /v1/verify on `behalf serve` (SQLite state) under 64 concurrent keep-alive connections
# (wrk, 2 threads), next to a plain axum echo endpoint driven the same way in the same run, and
# the same decision through the embedded engine (in memory, and over SQLite one transaction a
# decision). Release builds. Results: bench/SERVER.md. DURATION=10s by default.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
bash scripts/setup-bench-server.sh
cargo build --release -p behalf-cli -p behalf-bench-server
BIN="$ROOT/target/release/behalf"
HELPER="$ROOT/target/release/behalf-bench-server"

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/behalf.json" <<'JSON'
{ "version": 1, "passports": [ { "id": "passport_bench", "agent": "agent_bench", "permissions": [
  { "id": "reads", "action": "read", "vendor": "example.com",
    "limits": { "rate": { "count": 100000000, "per": "1h" } } } ] } ] }
JSON
REQUEST='{"agentId":"agent_bench","action":"read","vendor":"example.com","params":{"n":1}}'
export BEHALF_AGENT_KEY
BEHALF_AGENT_KEY="$(cd "$work" && "$BIN" agents key create agent_bench --quiet)"

(cd "$work" && exec "$BIN" serve --listen 127.0.0.1:17801 > "$work/serve.log" 2>&1) &
pids+=($!)
"$HELPER" echo 127.0.0.1:17802 > "$work/echo.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -fs http://127.0.0.1:17801/healthz >/dev/null 2>&1 && curl -fs -XPOST -d x http://127.0.0.1:17802/echo >/dev/null 2>&1 && break
  sleep 0.1
done

run() { # label url
  local out
  out="$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/server/verify.lua "$2")"
  echo "$out" > "$work/$1.txt"
  local rps p50 p99 errors
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  errors="$(awk '/Non-2xx|Socket errors/' <<<"$out")"
  printf '%-34s %10s req/s   p50 %-9s p99 %-9s %s\n' "$1" "$rps" "$p50" "$p99" "$errors"
}

echo "wrk -t2 -c$CONNECTIONS -d$DURATION, keep-alive, on $(nproc) cores"
run "axum echo (POST /echo)" http://127.0.0.1:17802/echo
run "behalf serve (POST /v1/verify)" http://127.0.0.1:17801/v1/verify
run "axum echo again (same run)" http://127.0.0.1:17802/echo
decided="$(curl -fs http://127.0.0.1:17801/metrics | awk '/^behalf_decisions_total\{decision="allowed"\}/ {print $2}')"
batches="$(curl -fs http://127.0.0.1:17801/metrics | awk '/^behalf_commit_batch_size_(sum|count)/ {print $2}' | paste -sd' ')"
echo "server: $decided decisions committed; group commits (decisions, batches): $batches"
echo
"$HELPER" embedded "$work/behalf.json" "$REQUEST" 20000 "$work/embedded.db"
