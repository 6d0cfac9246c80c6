// Where a W1 decision's time goes in Node (not a test): per-call medians of the whole
// Behalf.verify, of the raw WebAssembly call (JSON text in, the packet's values out as a JSON
// array), and of the two JSON steps around it. The parts do not add up exactly (each is timed on its own), but they
// say which part a change should aim at.
//
//   cd bindings-js && node bench/split.mjs        (after ./build.sh)
import { createRequire } from "node:module";
import { Behalf } from "behalf";

const require = createRequire(import.meta.url);
const glue = require("../pkg/node/behalf_wasm.js");

const W1 = {
  version: 1,
  passports: [
    { id: "passport_claude", agent: "agent_claude_code", permissions: [
      { id: "r1", action: "deploy", vendor: "vercel.com", when: { env: "staging" } },
      { id: "r2a", action: "deploy", when: { env: "production" }, effect: "block" }] },
    { id: "passport_ollie", agent: "agent_ollie", permissions: [
      { id: "r3", action: "browse", vendor: "*" },
      { id: "r4", action: "send_email", vendor: "gmail.com", when: { to: { glob: "*@example.com" } } }] },
  ],
};
const REQUESTS = [
  ["agent_claude_code", "deploy", "vercel.com", "staging", 0, ""],
  ["agent_claude_code", "deploy", "vercel.com", "production", 0, ""],
  ["agent_ollie", "purchase", "coachella.com", "none", 742, ""],
  ["agent_ollie", "send_email", "gmail.com", "none", 0, "bob@example.com"],
  ["agent_ollie", "send_email", "gmail.com", "none", 0, "eve@evil.com"],
  ["agent_ollie", "browse", "news.ycombinator.com", "none", 0, ""],
].map(([agentId, action, vendor, env, amount, to]) => ({ agentId, action, vendor, params: { env, amount, to } }));
const TEXTS = REQUESTS.map((r) => JSON.stringify(r));

// The audit window is filled first (12,000 calls), so every timed call is in the steady state.
function median(name, call) {
  for (let i = 0; i < 12_000; i++) call(i);
  const samples = new Float64Array(60_000);
  for (let i = 0; i < samples.length; i++) {
    const t = process.hrtime.bigint();
    call(i);
    samples[i] = Number(process.hrtime.bigint() - t);
  }
  samples.sort();
  const at = (q) => (samples[Math.floor(samples.length * q)] / 1000).toFixed(2);
  console.log(`| ${name} | ${at(0.5)} µs | ${at(0.99)} µs |`);
}

const now = Date.now();
const behalf = new Behalf(W1);
const raw = new glue.WasmEngine(JSON.stringify(W1), 10_000);
const packets = TEXTS.map((t) => raw.verify(t, now));
console.log("| part of a W1 decision | median | p99 |\n|---|---:|---:|");
median("`Behalf.verify(object)`, the whole call", (i) => behalf.verify(REQUESTS[i % 6]).allowed);
median("`Behalf.verify(text)`: no request walk", (i) => behalf.verify(TEXTS[i % 6]).allowed);
median("`WasmEngine.verify`: text in, packet values out", (i) => raw.verify(TEXTS[i % 6], now).length);
median("`JSON.parse` of the packet values", (i) => JSON.parse(packets[i % 6])[1]);
median("`JSON.stringify` of the request", (i) => JSON.stringify(REQUESTS[i % 6]).length);
median("the timer alone", (i) => i);
