#!/usr/bin/env python3
"""Per-decision cost of `behalf verify --stdin` as its state grows (benchmark, not a test).

One process reads a stream of requests: every 10th is a new held request (distinct params,
spread over 100 agents so each passport stays within its 1,000 pending approvals), the rest
are purchases charged to a budget. By the end of the default run the database holds 100,000
pending approvals and 1,000,000 audit records. Prints the time of every block of 1,000
decisions as it goes, and the ratio of the last block to the first (DESIGN: within 1.5x).

    python3 bench/cli/verify_stdin.py target/release/behalf              # the full run
    python3 bench/cli/verify_stdin.py target/release/behalf --decisions 20000
    python3 bench/cli/verify_stdin.py BIN --smoke                        # one block, for tests
    python3 bench/cli/verify_stdin.py BIN --dir /tmp/big                 # keep the state, then:
    python3 bench/cli/verify_stdin.py BIN --dir /tmp/big --start 1000000 --decisions 5000
    python3 bench/cli/verify_stdin.py BIN --decisions 5000               # the same on empty state

The last two, run one right after the other, compare a full database with an empty one on the
same machine at the same moment, which a shared machine's noise does not skew as much.
"""
import argparse, json, os, subprocess, sys, tempfile, threading, time

AGENTS = 100


def policy():
    passports = []
    for i in range(AGENTS):
        passports.append({
            "id": f"passport_{i:03}", "agent": f"agent_{i:03}", "expiresAt": "2030-01-01T00:00:00Z",
            "permissions": [
                {"id": f"deploy_{i:03}", "action": "deploy", "effect": "require_approval"},
                {"id": f"buy_{i:03}", "action": "purchase",
                 "limits": {"budget": {"amount": 1_000_000_000, "per": "1d"}}},
            ],
        })
    return {"version": 1, "passports": passports}


def request(n):
    if n % 10 == 0:
        # Held requests go round all the agents, so each passport fills up to its cap.
        agent = f"agent_{n // 10 % AGENTS:03}"
        return {"agentId": agent, "action": "deploy", "params": {"n": n}}
    return {"agentId": f"agent_{n % AGENTS:03}", "action": "purchase", "params": {"amount": 1}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--decisions", type=int, default=1_000_000)
    ap.add_argument("--block", type=int, default=1000)
    ap.add_argument("--smoke", action="store_true", help="one block: checks the benchmark runs")
    ap.add_argument("--dir", help="keep the project (and its state) here; run again with --start "
                    "to go on where a run stopped")
    ap.add_argument("--start", type=int, default=0, help="number of the first request")
    a = ap.parse_args()
    if a.smoke:
        a.decisions = a.block = 200
    binary = os.path.abspath(a.binary)
    with tempfile.TemporaryDirectory(prefix="behalf-bench-") as tmp:
        d = a.dir or tmp
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "behalf.json"), "w") as f:
            json.dump(policy(), f)
        env = dict(os.environ, BEHALF_NOW="2026-11-26T11:00:00Z")
        p = subprocess.Popen([binary, "verify", "--stdin"], cwd=d, env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=1 << 16)

        def feed():
            for n in range(a.start, a.start + a.decisions):
                p.stdin.write((json.dumps(request(n)) + "\n").encode())
            p.stdin.close()

        threading.Thread(target=feed, daemon=True).start()

        def cpu():
            # CPU seconds of the behalf process: what a busy shared machine does not inflate.
            try:
                with open(f"/proc/{p.pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except OSError:
                return 0.0

        blocks, cpus, reasons, start, count = [], [], {}, time.perf_counter(), 0
        cpu_start = cpu()
        for line in p.stdout:
            packet = json.loads(line)
            reasons[packet["reason"]] = reasons.get(packet["reason"], 0) + 1
            count += 1
            if count % a.block == 0:
                now, used = time.perf_counter(), cpu()
                blocks.append(now - start)
                cpus.append(used - cpu_start)
                start, cpu_start = now, used
                print(f"{a.start + count:>9} decisions  {(a.start + count) // 10:>7} held  "
                      f"{blocks[-1] * 1000 / a.block:8.3f} ms/decision  "
                      f"{cpus[-1] * 1000 / a.block:8.3f} ms CPU", flush=True)
        if p.wait() != 0 or count != a.decisions:
            sys.exit(f"behalf exited {p.returncode} after {count} of {a.decisions} decisions")
        print("reasons:", json.dumps(reasons, sort_keys=True))
        if blocks:
            ratio = blocks[-1] / blocks[0]
            print(f"first block {blocks[0] * 1000 / a.block:.3f} ms/decision, last "
                  f"{blocks[-1] * 1000 / a.block:.3f} ms/decision: last/first = {ratio:.2f}")
            # One block is at the mercy of a noisy machine: the medians of ten say more.
            k = min(10, len(blocks))
            med = lambda xs: sorted(xs)[len(xs) // 2] * 1000 / a.block
            head, tail = med(blocks[:k]), med(blocks[-k:])
            print(f"median of the first {k} blocks {head:.3f} ms/decision, of the last {k} "
                  f"{tail:.3f}: last/first = {tail / head:.2f}")
            head, tail = med(cpus[:k]), med(cpus[-k:])
            if head > 0:
                print(f"CPU: median of the first {k} blocks {head:.3f} ms/decision, of the last "
                      f"{k} {tail:.3f}: last/first = {tail / head:.2f}")


if __name__ == "__main__":
    main()
