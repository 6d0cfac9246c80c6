#!/usr/bin/env bash
# POST /v1/verify on `behalf serve` (SQLite state) under 64 concurrent keep-alive connections
# (wrk, one thread), next to a plain axum echo endpoint driven the same way in the same run, and
# the same decision through the embedded engine (in memory, and over SQLite one transaction a
# decision); then the issue's targets (p99 under 5 ms, median at most 200 µs over echo's), met
# or missed. Release builds. Results: bench/SERVER.md. DURATION=10s by default.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-1}"
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
mkdir -p "$work/normal"
cp "$work/behalf.json" "$work/normal/behalf.json"
KEY_FULL="$(cd "$work" && "$BIN" agents key create agent_bench --quiet)"
KEY_NORMAL="$(cd "$work/normal" && "$BIN" agents key create agent_bench --quiet)"
export BEHALF_AGENT_KEY="$KEY_FULL"

(cd "$work" && exec "$BIN" serve --listen 127.0.0.1:17801 > "$work/serve.log" 2>&1) &
pids+=($!)
(cd "$work/normal" && exec "$BIN" serve --listen 127.0.0.1:17803 --sync normal > "$work/serve-normal.log" 2>&1) &
pids+=($!)
"$HELPER" echo 127.0.0.1:17802 > "$work/echo.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -fs http://127.0.0.1:17801/healthz >/dev/null 2>&1 && curl -fs http://127.0.0.1:17803/healthz >/dev/null 2>&1 \
    && curl -fs -XPOST -d x http://127.0.0.1:17802/echo >/dev/null 2>&1 && break
  sleep 0.1
done

run() { # label url
  local out
  out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/server/verify.lua "$2")"
  echo "$out" > "$work/wrk-$(tr -c 'a-z0-9' '_' <<<"$1").txt"
  local rps p50 p99 errors
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  errors="$(awk '/Non-2xx|Socket errors/' <<<"$out")"
  printf '%-34s %10s req/s   p50 %-9s p99 %-9s %s\n' "$1" "$rps" "$p50" "$p99" "$errors"
  P50_MS="$(ms "$p50")"
  P99_MS="$(ms "$p99")"
}

ms() { # a wrk latency (950.00us, 4.52ms, 1.02s) in milliseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v !~ /ms$/ && v ~ /s$/) n *= 1000; printf "%.3f", n }'
}

verdict() { # label value-ms limit-ms [at-most]: under the limit (or at most it)
  awk -v l="$1" -v v="$2" -v m="$3" -v le="${4:-}" 'BEGIN {
    ok = (le == "at-most") ? (v <= m) : (v < m)
    printf "  %-44s %8.3f ms (target %s %s ms): %s\n", l, v, (le == "at-most" ? "<=" : "<"), m, (ok ? "met" : "missed") }'
}

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, keep-alive, on $(nproc) cores (load generator and servers share them)"
run "axum echo (POST /echo)" http://127.0.0.1:17802/echo
echo_p50="$P50_MS"
run "behalf serve --sync full" http://127.0.0.1:17801/v1/verify
full_p50="$P50_MS" full_p99="$P99_MS"
BEHALF_AGENT_KEY="$KEY_NORMAL" run "behalf serve --sync normal" http://127.0.0.1:17803/v1/verify
run "axum echo again (same run)" http://127.0.0.1:17802/echo
echo_p50="$(awk -v a="$echo_p50" -v b="$P50_MS" 'BEGIN { printf "%.3f", (a + b) / 2 }')"
echo "targets, behalf serve --sync full (the default):"
verdict "p99" "$full_p99" 5
verdict "median over echo's (mean of its two runs)" "$(awk -v a="$full_p50" -v b="$echo_p50" 'BEGIN { printf "%.3f", a - b }')" 0.2 at-most
for port in 17801 17803; do
  m="$(curl -fs "http://127.0.0.1:$port/metrics")"
  decided="$(awk '/^behalf_decisions_total\{decision="allowed"\}/ {print $2}' <<<"$m")"
  sum="$(awk '/^behalf_commit_batch_size_sum/ {print $2}' <<<"$m")"
  count="$(awk '/^behalf_commit_batch_size_count/ {print $2}' <<<"$m")"
  echo "server :$port: $decided decisions committed in $count group commits ($((sum / (count > 0 ? count : 1))) a commit on average)"
done
echo
"$HELPER" embedded "$work/behalf.json" "$REQUEST" 20000 "$work/embedded.db"
