// Benchmark (not a test): memory and speed stay flat over a long run (DESIGN: "Memory stays
// flat"). 1,000,000 verify calls on one engine: a quarter are distinct requests held for
// approval (each passport holds at most 1,000 pending, the rest are `approval_limit_reached`),
// the others are purchases charged to a budget. Prints RSS after warm-up and at the end, and
// the speed of the first and the last 100,000 calls (targets: RSS growth < 20 MB, last/first
// within 1.2x).
//
//   cd bindings-js && node bench/state.mjs                 (after ./build.sh)
//   CALLS=1000 node bench/state.mjs                        (a smoke run)
import { Behalf } from "behalf";

const CALLS = Number(process.env.CALLS || 1_000_000);
const WINDOW = Math.min(100_000, CALLS / 10);
const WARMUP = Math.min(100_000, CALLS / 10);
const AGENTS = 10;

const policy = {
  version: 1,
  passports: Array.from({ length: AGENTS }, (_, i) => ({
    id: `passport_${i}`,
    agent: `agent_${i}`,
    permissions: [
      { id: `deploy_${i}`, action: "deploy", effect: "require_approval" },
      { id: `buy_${i}`, action: "purchase", limits: { budget: { amount: 1e12, per: "1d" } } },
    ],
  })),
};

const b = new Behalf(policy);
const request = (n) =>
  n % 4 === 0
    ? { agentId: `agent_${(n / 4) % AGENTS}`, action: "deploy", params: { n } }
    : { agentId: `agent_${n % AGENTS}`, action: "purchase", params: { amount: 1 } };

const rss = () => process.memoryUsage().rss / 2 ** 20;
const reasons = {};
let rssWarm = 0;
let first = 0;
let last = 0;
let t = process.hrtime.bigint();
for (let n = 1; n <= CALLS; n++) {
  const d = b.verify(request(n));
  reasons[d.reason] = (reasons[d.reason] || 0) + 1;
  if (n === WARMUP) {
    global.gc?.();
    rssWarm = rss();
  }
  if (n % WINDOW === 0) {
    const now = process.hrtime.bigint();
    const us = Number(now - t) / 1e3 / WINDOW;
    if (n === WINDOW) first = us;
    last = us;
    t = now;
  }
}
global.gc?.();
const rssEnd = rss();
console.log(JSON.stringify({ calls: CALLS, reasons, pending: b.pendingApprovals().length }));
console.log(`RSS after warm-up ${rssWarm.toFixed(1)} MB, at the end ${rssEnd.toFixed(1)} MB: growth ${(rssEnd - rssWarm).toFixed(1)} MB`);
console.log(`first ${WINDOW} calls ${first.toFixed(2)} µs/call, last ${last.toFixed(2)} µs/call: last/first ${(last / first).toFixed(2)}`);
