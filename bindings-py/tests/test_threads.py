"""One engine shared by many threads: budgets stay exact and the audit chain stays whole."""

from __future__ import annotations

import concurrent.futures
import threading
from collections import Counter
from typing import Any, Dict

import behalf

NOW = "2026-11-26T11:00:00Z"

POLICY: Dict[str, Any] = {
    "version": 1,
    "passports": [
        {
            "id": "passport_finance",
            "agent": "agent_finance",
            "permissions": [
                {
                    "id": "purchases",
                    "action": "purchase",
                    "vendor": "amazon.com",
                    "limits": {"budget": {"amount": 250, "per": "1d"}},
                }
            ],
        }
    ],
}


def test_threads_hammering_one_budget_spend_it_exactly() -> None:
    b = behalf.Behalf(POLICY)
    request = {
        "agentId": "agent_finance",
        "action": "purchase",
        "vendor": "amazon.com",
        "params": {"amount": 0.5},
    }
    threads, per_thread = 8, 250
    start = threading.Barrier(threads)

    def spend(_: int) -> Counter[str]:
        start.wait()
        return Counter(b.verify(request, now=NOW).reason for _ in range(per_thread))

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        totals = sum(pool.map(spend, range(threads)), Counter())
    assert totals == Counter({"allowed": 500, "limit_exceeded": threads * per_thread - 500})

    log = b.audit_log()
    assert len(log) == threads * per_thread
    assert [r["seq"] for r in log] == list(range(1, threads * per_thread + 1))
    assert behalf.verify_audit_log(log).ok


def test_threads_mixing_verify_with_reads_and_exports() -> None:
    b = behalf.Behalf(POLICY, audit_capacity=100)
    request = {"agentId": "agent_finance", "action": "purchase", "vendor": "amazon.com",
               "params": {"amount": 1}}

    def work(i: int) -> int:
        allowed = 0
        for _ in range(100):
            if b.verify(request, now=NOW).allowed:
                allowed += 1
            if i % 2 == 0:
                b.export_state()
            else:
                assert behalf.verify_audit_log(b.audit_log()).ok
        return allowed

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(work, range(4))) == 250
    assert behalf.verify_audit_log(b.audit_log()).ok
