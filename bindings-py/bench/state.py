"""Benchmark (not a test): memory and speed stay flat over a long run (DESIGN: "Memory stays
flat"). 1,000,000 verify calls on one engine: a quarter are distinct requests held for
approval (each passport holds at most 1,000 pending, the rest are `approval_limit_reached`),
the others are purchases charged to a budget. Prints RSS after warm-up and at the end, and the
speed of the first and last 100,000 calls (targets: RSS growth < 20 MB, last/first within 1.2x).

    bindings-py/.venv/bin/python bindings-py/bench/state.py          (after pip install)
    CALLS=1000 bindings-py/.venv/bin/python bindings-py/bench/state.py   (a smoke run)
"""
import gc
import json
import os
import resource
import time

import behalf

CALLS = int(os.environ.get("CALLS", 1_000_000))
WINDOW = min(100_000, CALLS // 10)
WARMUP = min(100_000, CALLS // 10)
AGENTS = 10


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


policy = {"version": 1, "passports": [
    {"id": f"passport_{i}", "agent": f"agent_{i}", "permissions": [
        {"id": f"deploy_{i}", "action": "deploy", "effect": "require_approval"},
        {"id": f"buy_{i}", "action": "purchase", "limits": {"budget": {"amount": 1e12, "per": "1d"}}},
    ]} for i in range(AGENTS)]}

b = behalf.Behalf(policy)
reasons: dict = {}
rss_warm = first = last = 0.0
t = time.perf_counter()
for n in range(1, CALLS + 1):
    if n % 4 == 0:
        r = {"agentId": f"agent_{n // 4 % AGENTS}", "action": "deploy", "params": {"n": n}}
    else:
        r = {"agentId": f"agent_{n % AGENTS}", "action": "purchase", "params": {"amount": 1}}
    d = b.verify(r)
    reasons[d.reason] = reasons.get(d.reason, 0) + 1
    if n == WARMUP:
        gc.collect()
        rss_warm = rss_mb()
    if n % WINDOW == 0:
        now = time.perf_counter()
        us = (now - t) * 1e6 / WINDOW
        if n == WINDOW:
            first = us
        last = us
        t = now
gc.collect()
rss_end = rss_mb()
print(json.dumps({"calls": CALLS, "reasons": reasons, "pending": len(b.pending_approvals())}))
print(f"RSS after warm-up {rss_warm:.1f} MB, at the end {rss_end:.1f} MB: growth {rss_end - rss_warm:.1f} MB")
print(f"first {WINDOW} calls {first:.2f} us/call, last {last:.2f} us/call: last/first {last / first:.2f}")
