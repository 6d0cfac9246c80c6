"""behalf vs cedarpy vs pycasbin on the workloads of shared/BENCH.md (W1: the seed's 10
rules; W2: 1,000 agents x 10 rules), in one process on one machine.

Run `bindings-py/bench/run.sh` (it installs the peers and the package first), or with the
venv's python: `python bindings-py/bench/bench.py [--quick]`.

Each engine parses its rules once, then decides rotating requests; every decision is timed
on its own (perf_counter_ns around the call, the timer's own cost subtracted). Reported per
decision: the median of the runs' medians, the min-max of the runs' medians, and the p99 of
all samples. behalf runs in its steady state: the audit window (10,000 records) is full, so
each decision also pays for hashing the record it evicts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Sequence, Tuple

import behalf

try:
    import casbin
    import cedarpy
except ImportError:  # pragma: no cover - run.sh installs them
    sys.exit("the peers are missing: run bindings-py/bench/run.sh (or scripts/setup-py.sh --bench)")

Shape = Tuple[str, str, str, str, int, str]  # agent, action, vendor, env, amount, to


def seed_shapes(a0: str, a1: str) -> List[Shape]:
    return [
        (a0, "deploy", "vercel.com", "staging", 0, ""),
        (a0, "deploy", "vercel.com", "production", 0, ""),
        (a1, "purchase", "coachella.com", "", 742, ""),
        (a1, "send_email", "gmail.com", "", 0, "bob@example.com"),
        (a1, "send_email", "gmail.com", "", 0, "eve@evil.com"),
        (a1, "browse", "news.ycombinator.com", "", 0, ""),
    ]


W1_SHAPES = seed_shapes("agent_claude_code", "agent_ollie")
W1_EXPECTED = [True, False, False, True, False, True]

# The same rules as bench/src/main.rs (the Rust peer benchmark), so figures compare.
W1_BEHALF: Dict[str, Any] = {"version": 1, "passports": [
    {"id": "passport_claude", "agent": "agent_claude_code", "permissions": [
        {"id": "r1", "action": "deploy", "vendor": "vercel.com", "when": {"env": "staging"}},
        {"id": "r2a", "action": "deploy", "when": {"env": "production"}, "effect": "block"}]},
    {"id": "passport_ollie", "agent": "agent_ollie", "permissions": [
        {"id": "r3", "action": "browse", "vendor": "*"},
        {"id": "r4", "action": "send_email", "vendor": "gmail.com", "when": {"to": {"glob": "*@example.com"}}}]},
    {"id": "passport_codex", "agent": "agent_codex", "permissions": [
        {"id": "r5", "action": "read", "vendor": "github.com"},
        {"id": "r6", "action": "deploy", "vendor": "netlify.com", "when": {"env": "staging"}},
        {"id": "r2b", "action": "deploy", "when": {"env": "production"}, "effect": "block"}]},
    {"id": "passport_finance", "agent": "agent_finance", "permissions": [
        {"id": "r7", "action": "purchase", "vendor": "amazon.com", "when": {"amount": {"lte": 100}}}]},
    {"id": "passport_intern", "agent": "agent_intern", "permissions": [
        {"id": "r8", "action": "send_email", "effect": "block"}]},
    {"id": "passport_support", "agent": "agent_support", "permissions": [
        {"id": "r9", "action": "browse", "vendor": "zendesk.com"},
        {"id": "r10", "action": "send_email", "vendor": "zendesk.com", "when": {"to": {"glob": "*@customer.com"}}}]},
]}

W1_CEDAR = """
permit(principal == Agent::"agent_claude_code", action == Action::"deploy", resource == Vendor::"vercel.com") when { context.env == "staging" };
forbid(principal, action == Action::"deploy", resource) when { context.env == "production" };
permit(principal == Agent::"agent_ollie", action == Action::"browse", resource);
permit(principal == Agent::"agent_ollie", action == Action::"send_email", resource == Vendor::"gmail.com") when { context.to like "*@example.com" };
permit(principal == Agent::"agent_codex", action == Action::"read", resource == Vendor::"github.com");
permit(principal == Agent::"agent_codex", action == Action::"deploy", resource == Vendor::"netlify.com") when { context.env == "staging" };
permit(principal == Agent::"agent_finance", action == Action::"purchase", resource == Vendor::"amazon.com") when { context.amount <= 100 };
forbid(principal == Agent::"agent_intern", action == Action::"send_email", resource);
permit(principal == Agent::"agent_support", action == Action::"browse", resource == Vendor::"zendesk.com");
permit(principal == Agent::"agent_support", action == Action::"send_email", resource == Vendor::"zendesk.com") when { context.to like "*@customer.com" };
"""

CASBIN_MODEL = """
[request_definition]
r = sub, act, obj, env, amount, to

[policy_definition]
p = sub, act, obj, cond, eft

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = (p.sub == "*" || r.sub == p.sub) && r.act == p.act && (p.obj == "*" || r.obj == p.obj) && eval(p.cond)
"""

ALWAYS = "True"
W1_CASBIN = [
    ["agent_claude_code", "deploy", "vercel.com", "r.env == 'staging'", "allow"],
    ["*", "deploy", "*", "r.env == 'production'", "deny"],
    ["agent_ollie", "browse", "*", ALWAYS, "allow"],
    ["agent_ollie", "send_email", "gmail.com", "regexMatch(r.to, '.*@example[.]com$')", "allow"],
    ["agent_codex", "read", "github.com", ALWAYS, "allow"],
    ["agent_codex", "deploy", "netlify.com", "r.env == 'staging'", "allow"],
    ["agent_finance", "purchase", "amazon.com", "r.amount <= 100", "allow"],
    ["agent_intern", "send_email", "*", ALWAYS, "deny"],
    ["agent_support", "browse", "zendesk.com", ALWAYS, "allow"],
    ["agent_support", "send_email", "zendesk.com", "regexMatch(r.to, '.*@customer[.]com$')", "allow"],
]


def w2_agent(i: int) -> str:
    return f"agent_{i:04d}"


def w2_behalf() -> Dict[str, Any]:
    passports = []
    for i in range(1000):
        def pid(r: str) -> str:
            return f"{r}_{i:04d}"
        passports.append({"id": pid("passport"), "agent": w2_agent(i), "permissions": [
            {"id": pid("deploy_staging"), "action": "deploy", "vendor": "vercel.com", "when": {"env": "staging"}},
            {"id": pid("no_prod"), "action": "deploy", "when": {"env": "production"}, "effect": "block"},
            {"id": pid("browse"), "action": "browse", "vendor": "*"},
            {"id": pid("email"), "action": "send_email", "vendor": "gmail.com", "when": {"to": {"glob": "*@example.com"}}},
            {"id": pid("purchase"), "action": "purchase", "vendor": "amazon.com", "when": {"amount": {"lte": 100}}},
            {"id": pid("read"), "action": "read", "vendor": "github.com"},
            {"id": pid("netlify"), "action": "deploy", "vendor": "netlify.com", "when": {"env": "staging"}},
            {"id": pid("no_evil"), "action": "send_email", "when": {"to": {"glob": "*@evil.com"}}, "effect": "block"},
            {"id": pid("search"), "action": "search", "vendor": "*"},
            {"id": pid("write"), "action": "write", "vendor": "github.com", "when": {"env": "staging"}}]})
    return {"version": 1, "passports": passports}


def w2_cedar() -> str:
    out = []
    for i in range(1000):
        a = w2_agent(i)
        out.append(f"""permit(principal == Agent::"{a}", action == Action::"deploy", resource == Vendor::"vercel.com") when {{ context.env == "staging" }};
forbid(principal == Agent::"{a}", action == Action::"deploy", resource) when {{ context.env == "production" }};
permit(principal == Agent::"{a}", action == Action::"browse", resource);
permit(principal == Agent::"{a}", action == Action::"send_email", resource == Vendor::"gmail.com") when {{ context.to like "*@example.com" }};
permit(principal == Agent::"{a}", action == Action::"purchase", resource == Vendor::"amazon.com") when {{ context.amount <= 100 }};
permit(principal == Agent::"{a}", action == Action::"read", resource == Vendor::"github.com");
permit(principal == Agent::"{a}", action == Action::"deploy", resource == Vendor::"netlify.com") when {{ context.env == "staging" }};
forbid(principal == Agent::"{a}", action == Action::"send_email", resource) when {{ context.to like "*@evil.com" }};
permit(principal == Agent::"{a}", action == Action::"search", resource);
permit(principal == Agent::"{a}", action == Action::"write", resource == Vendor::"github.com") when {{ context.env == "staging" }};
""")
    return "".join(out)


def w2_casbin() -> List[List[str]]:
    rules = []
    for i in range(1000):
        a = w2_agent(i)
        rules += [
            [a, "deploy", "vercel.com", "r.env == 'staging'", "allow"],
            [a, "deploy", "*", "r.env == 'production'", "deny"],
            [a, "browse", "*", ALWAYS, "allow"],
            [a, "send_email", "gmail.com", "regexMatch(r.to, '.*@example[.]com$')", "allow"],
            [a, "purchase", "amazon.com", "r.amount <= 100", "allow"],
            [a, "read", "github.com", ALWAYS, "allow"],
            [a, "deploy", "netlify.com", "r.env == 'staging'", "allow"],
            [a, "send_email", "*", "regexMatch(r.to, '.*@evil[.]com$')", "deny"],
            [a, "search", "*", ALWAYS, "allow"],
            [a, "write", "github.com", "r.env == 'staging'", "allow"],
        ]
    return rules


def w2_shapes() -> List[Shape]:
    """4,096 requests: a pseudo-random agent doing one of the six W1 shapes (the same xorshift
    sequence as bench/src/main.rs)."""
    mask = (1 << 64) - 1
    state = 0x2545F4914F6CDD1D
    out = []
    for _ in range(4096):
        state ^= (state << 13) & mask
        state ^= state >> 7
        state ^= (state << 17) & mask
        agent = w2_agent(state % 1000)
        shapes = seed_shapes(agent, agent)
        out.append(shapes[(state >> 20) % 6])
    return out


# -- the engines, each deciding prebuilt requests -----------------------------------------

Decide = Callable[[int], bool]


def behalf_engine(policy: Dict[str, Any], shapes: Sequence[Shape], sink: bool = False) -> Decide:
    """behalf's decisions; with `sink`, an `on_decision` callback receives every audit record
    (it keeps the last one and counts them, as a log shipper's queue would)."""
    received = [0, None]

    def on_decision(record: Dict[str, Any]) -> None:
        received[0] += 1
        received[1] = record

    b = behalf.Behalf(policy, on_decision=on_decision if sink else None)
    requests = [
        {"agentId": a, "action": act, "vendor": v, "params": {"env": env, "amount": amt, "to": to}}
        for a, act, v, env, amt, to in shapes
    ]
    verify = b.verify
    # Fill the audit window so every timed decision is in the steady state (it evicts).
    for i in range(12_000):
        verify(requests[i % len(requests)])
    if sink and received[0] != 12_000:
        sys.exit(f"on_decision received {received[0]} of 12000 records")
    return lambda i: verify(requests[i]).allowed


def cedar_engine(policies: str, shapes: Sequence[Shape]) -> Decide:
    ps = cedarpy.PolicySet.from_str(policies)
    entities = cedarpy.Entities.from_json_str("[]")
    requests = [
        {"principal": f'Agent::"{a}"', "action": f'Action::"{act}"', "resource": f'Vendor::"{v}"',
         "context": {"env": env, "amount": amt, "to": to}}
        for a, act, v, env, amt, to in shapes
    ]
    authorize = cedarpy.is_authorized
    allow = cedarpy.Decision.Allow
    return lambda i: authorize(requests[i], ps, entities).decision == allow


def casbin_engine(rules: List[List[str]], shapes: Sequence[Shape]) -> Decide:
    model = casbin.model.Model()
    model.load_model_from_text(CASBIN_MODEL)
    e = casbin.Enforcer(model)
    e.add_policies(rules)
    requests = list(shapes)
    enforce = e.enforce
    return lambda i: bool(enforce(*requests[i]))


# -- timing ------------------------------------------------------------------------------


def timer_cost() -> int:
    pc = time.perf_counter_ns
    samples = []
    for _ in range(20_000):
        t0 = pc()
        t1 = pc()
        samples.append(t1 - t0)
    return int(statistics.median(samples))


def measure(decide: Decide, n: int, runs: int, budget_s: float, overhead: int) -> Dict[str, float]:
    """`runs` passes over up to `n` requests each, stopping a pass when `budget_s` is spent."""
    pc = time.perf_counter_ns
    all_samples: List[int] = []
    run_medians: List[float] = []
    for _ in range(runs):
        samples = []
        deadline = pc() + int(budget_s * 1e9)
        for i in range(n):
            t0 = pc()
            decide(i)
            t1 = pc()
            samples.append(max(t1 - t0 - overhead, 0))
            if t1 > deadline and len(samples) >= 5:
                break
        run_medians.append(statistics.median(samples))
        all_samples += samples
    all_samples.sort()
    p99 = all_samples[min(len(all_samples) - 1, int(len(all_samples) * 0.99))]
    return {
        "median": statistics.median(run_medians),
        "min": min(run_medians),
        "max": max(run_medians),
        "p99": float(p99),
        "samples": float(len(all_samples)),
    }


def machine_tail(median_ns: float, n: int, runs: int, budget_s: float, overhead: int) -> Dict[str, float]:
    """The machine's own tail: a pure-Python busy loop calibrated to take `median_ns`, timed as
    `measure` times a decision. Its p99 / median is what this machine and interpreter add to
    any call of that length, whatever the call does."""
    def busy(k: int) -> int:
        x = 0
        for i in range(k):
            x = (x * 31 + i) & 0xFFFF
        return x

    t0 = time.perf_counter_ns()
    for _ in range(100):
        busy(1000)
    per_round = (time.perf_counter_ns() - t0) / 100_000
    k = max(1, int(median_ns / max(per_round, 0.01)))
    return measure(lambda i: busy(k) != -1, n, runs, budget_s, overhead)


def fmt(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def print_targets(results: Dict[str, Dict[str, Dict[str, float]]]) -> bool:
    """The hot-path targets (W1 >= 40x cedarpy, W2 <= 1.5x W1, p99 <= 4x median), each met or
    missed in this run, for behalf alone and with an audit sink."""
    print("\n## Targets (this run)")
    print("| target | measured | result |")
    print("|---|---:|---|")
    every = True

    def target(what: str, measured: str, met: bool) -> None:
        nonlocal every
        every &= met
        print(f"| {what} | {measured} | {'met' if met else 'MISSED'} |")

    for engine in ("behalf", "behalf+sink"):
        label = "" if engine == "behalf" else " (sink)"
        w1, w2 = results["W1"][engine], results["W2"][engine]
        ratio = results["W1"]["cedarpy"]["median"] / w1["median"]
        target(f"W1 median >= 40x faster than cedarpy{label}", f"{ratio:.1f}x", ratio >= 40)
        flat = w2["median"] / w1["median"]
        target(f"W2 median <= 1.5x W1 median{label}",
               f"{flat:.2f}x ({fmt(w2['median'])} / {fmt(w1['median'])})", flat <= 1.5)
        for name, s in (("W1", w1), ("W2", w2)):
            tail = s["p99"] / s["median"]
            target(f"{name} p99 <= 4x median{label}", f"{tail:.2f}x ({fmt(s['p99'])})", tail <= 4)
    return every


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs and a smaller time budget")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    runs = 3 if args.quick else 7
    budget = 0.5 if args.quick else 2.0

    print(f"# behalf {behalf.__version__} vs cedarpy vs casbin {getattr(casbin, '__version__', '')}".rstrip())
    print(f"# CPython {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    overhead = timer_cost()
    print(f"# per-decision timing; timer cost {overhead} ns subtracted; {runs} runs per engine\n")

    w2 = w2_shapes()
    workloads = [
        ("W1", W1_SHAPES, [
            ("behalf", lambda: behalf_engine(W1_BEHALF, W1_SHAPES)),
            ("behalf+sink", lambda: behalf_engine(W1_BEHALF, W1_SHAPES, sink=True)),
            ("cedarpy", lambda: cedar_engine(W1_CEDAR, W1_SHAPES)),
            ("casbin", lambda: casbin_engine(W1_CASBIN, W1_SHAPES)),
        ]),
        ("W2", w2, [
            ("behalf", lambda: behalf_engine(w2_behalf(), w2)),
            ("behalf+sink", lambda: behalf_engine(w2_behalf(), w2, sink=True)),
            ("cedarpy", lambda: cedar_engine(w2_cedar(), w2)),
            ("casbin", lambda: casbin_engine(w2_casbin(), w2)),
        ]),
    ]
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    seed_decisions: Dict[str, Dict[str, List[bool]]] = {}
    for name, shapes, engines in workloads:
        results[name] = {}
        seed_decisions[name] = {}
        for engine, build in engines:
            t0 = time.perf_counter()
            decide = build()
            setup = time.perf_counter() - t0
            seed_decisions[name][engine] = [decide(i) for i in range(6)]
            # W1 rotates its six requests; W2 walks its 4,096.
            n = 6 * 5_000 if name == "W1" else len(shapes)
            if name == "W1":
                base = decide

                def decide(i: int, base: Decide = base) -> bool:
                    return base(i % 6)
            stats = measure(decide, n, runs, budget, overhead)
            stats["setup_s"] = setup
            results[name][engine] = stats
            print(f"  {name} {engine:8s} median {fmt(stats['median']):>10s}  p99 {fmt(stats['p99']):>10s}"
                  f"  (setup {setup:.2f} s, {int(stats['samples'])} samples)", flush=True)

    print("\n| workload | engine | median / decision | min–max of run medians | p99 | vs behalf (median) |")
    print("|---|---|---|---|---|---|")
    for name in results:
        base = results[name]["behalf"]["median"]
        for engine, s in results[name].items():
            if engine == "behalf":
                ratio = "1×"
            elif engine.startswith("behalf"):
                ratio = f"{s['median'] / base:.2f}× behalf's"
            else:
                ratio = f"behalf {s['median'] / base:,.1f}× faster"
            print(f"| {name} | {engine} | {fmt(s['median'])} | {fmt(s['min'])}–{fmt(s['max'])} | "
                  f"{fmt(s['p99'])} | {ratio} |")

    if not print_targets(results):
        print("some targets MISSED")
    else:
        print("every target met")
    w1 = results["W1"]["behalf"]
    m = machine_tail(w1["median"], 6 * 5_000, runs, budget, overhead)
    print(f"this machine's tail for a call as long as a W1 decision (a pure-Python busy loop): "
          f"median {fmt(m['median'])}, p99 {fmt(m['p99'])} ({m['p99'] / m['median']:.2f}x)")

    print("\nDecisions for the seed requests (allow = True), expected", W1_EXPECTED)
    for name in seed_decisions:
        shapes = W1_SHAPES if name == "W1" else w2[:6]
        for engine, got in seed_decisions[name].items():
            print(f"  {name} {engine:8s} {got}")
        agree = len({tuple(v) for v in seed_decisions[name].values()}) == 1
        print(f"  {name}: engines {'agree' if agree else 'DISAGREE'}"
              + (f" (requests: {[s[:3] for s in shapes]})" if name == "W2" else ""))
    if seed_decisions["W1"]["behalf"] != W1_EXPECTED:
        print("behalf's W1 decisions are not the expected ones", file=sys.stderr)
        sys.exit(1)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"results": results, "seed_decisions": seed_decisions}, f, indent=2)


if __name__ == "__main__":
    main()
