#!/usr/bin/env bash
# Per-decision cost on PostgreSQL with an empty audit log and with 1,000,000 audit rows
# (benchmark, not a test; issue 14's target: within 1.5x). One throwaway cluster with fsync on
# (as a real server runs), two databases; `behalf verify --stdin` (release) decides the same
# stream on each, alternately, so a noisy shared machine skews both alike.
#
#   bench/postgres/per_decision.sh                 # 5,000 decisions per run, 3 runs each
#   DECISIONS=20000 RUNS=1 bench/postgres/per_decision.sh
#
# The 1,000,000 prefilled rows are written by SQL (generate_series), not chained: this
# measures cost, and `audit verify` on that database would rightly report them.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"
DECISIONS="${DECISIONS:-5000}"
RUNS="${RUNS:-3}"
ROWS="${ROWS:-1000000}"

step "cargo build --release -p behalf-cli"
cargo build --release -p behalf-cli
BIN="$ROOT/target/release/behalf"

step "throwaway PostgreSQL cluster (fsync on)"
source "$ROOT/scripts/pg.sh"
PG_FSYNC=on pg_start
psql() { command psql "$BEHALF_TEST_PG_URL" -v ON_ERROR_STOP=1 -qAt "$@"; }
psql -c "CREATE DATABASE bench_empty" -c "CREATE DATABASE bench_full"
EMPTY="$BEHALF_TEST_PG_URL dbname=bench_empty"
FULL="$BEHALF_TEST_PG_URL dbname=bench_full"
BEHALF_STATE_URL="$FULL" "$BIN" migrate up >/dev/null
BEHALF_STATE_URL="$EMPTY" "$BIN" migrate up >/dev/null

step "prefilling bench_full with $ROWS audit rows"
start=$(date +%s)
command psql "$FULL" -v ON_ERROR_STOP=1 -qAt <<SQL
INSERT INTO audit (seq, time, event, request_id, agent_id, decision, reason, approval_id, hash, record)
SELECT g, '2026-11-26T10:00:00.000Z', 'decision', 'req_prefill_' || g, 'agent_' || lpad((g % 100)::text, 3, '0'),
       'allowed', 'allowed', NULL, md5(g::text) || md5((g + 1)::text),
       '{"seq":' || g || ',"event":"decision","requestId":"req_prefill_' || g || '","decision":"allowed"}'
FROM generate_series(1, $ROWS) AS g;
UPDATE audit_head SET seq = $ROWS, hash = md5($ROWS::text) || md5(($ROWS + 1)::text) WHERE id = 1;
ANALYZE;
SQL
echo "prefilled in $(( $(date +%s) - start )) s: $(command psql "$FULL" -qAt -c 'SELECT count(*) FROM audit') rows"

median_of() { python3 -c 'import sys; xs=sorted(float(x) for x in sys.argv[1:]); print(f"{xs[len(xs)//2]:.3f}")' "$@"; }
run() { # URL -> median ms/decision of the run's blocks
  BEHALF_STATE_URL="$1" python3 bench/cli/verify_stdin.py "$BIN" --decisions "$DECISIONS" --block 1000 \
    | awk '/ms\/decision  /{print $5}' | xargs python3 -c 'import sys; xs=sorted(float(x) for x in sys.argv[1:]); print(f"{xs[len(xs)//2]:.3f}")'
}
empty=(); full=()
for i in $(seq 1 "$RUNS"); do
  e=$(run "$EMPTY"); f=$(run "$FULL")
  echo "run $i: empty audit ${e} ms/decision, $ROWS rows ${f} ms/decision"
  empty+=("$e"); full+=("$f")
done
me=$(median_of "${empty[@]}"); mf=$(median_of "${full[@]}")
python3 - "$me" "$mf" "$ROWS" <<'PY'
import sys
e, f, rows = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
ratio = f / e
print(f"median ms/decision: empty {e:.3f}, {int(rows):,} audit rows {f:.3f}: ratio {ratio:.2f} "
      f"({'meets' if ratio <= 1.5 else 'misses'} the 1.5x target)")
PY
