// Vendor canonicalization against the WHATWG URL parser a tool would use (Node's `URL`):
// whenever behalf accepts a host, the host it checked is the host `new URL()` dials.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Behalf } from "behalf";

const NOW = "2026-11-26T11:00:00.000Z";
const engine = new Behalf({
  version: 1,
  passports: [{ id: "p", agent: "agent", permissions: [{ id: "fetch_any", action: "fetch", vendor: "*" }] }],
});

// A small deterministic generator: the same hosts on every run.
function generator(seed) {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
  const pick = (list) => list[next() % list.length];
  return { next, pick };
}

function ipv4Part(g) {
  const n = g.pick([0, 1, 7, 8, 10, 127, 169, 192, 254, 255, 256, 4095, 65535, 16777215, 4294967295, 4294967296]);
  switch (g.next() % 5) {
    case 0:
      return "0x" + n.toString(16);
    case 1:
      return "0X" + n.toString(16).toUpperCase();
    case 2:
      return "0" + n.toString(8);
    case 3:
      return g.pick(["08", "09", "0x", "0xg", "00", "000001"]);
    default:
      return String(n);
  }
}

function host(g) {
  const kind = g.next() % 6;
  if (kind <= 2) {
    const parts = 1 + (g.next() % 5);
    const out = [];
    for (let i = 0; i < parts; i++) out.push(ipv4Part(g));
    return out.join(".") + (g.next() % 7 === 0 ? "." : "");
  }
  if (kind === 3) {
    const groups = [];
    const n = 2 + (g.next() % 7);
    for (let i = 0; i < n; i++) groups.push(g.pick(["0", "0000", "1", "db8", "DB8", "2001", "ffff", "7f00", "a", ""]));
    return "[" + groups.join(":") + "]";
  }
  const labels = [];
  const n = 1 + (g.next() % 4);
  for (let i = 0; i < n; i++) {
    labels.push(g.pick(["example", "Example", "COM", "a-b", "x_y", "1password", "3com", "xn--bcher-kva", "xn--a", "127", "0x7f", "io", "nip"]));
  }
  return labels.join(".") + (g.next() % 5 === 0 ? "." : "");
}

function parserHostname(h) {
  try {
    return new URL(`http://${h}/`).hostname;
  } catch {
    return null;
  }
}

function behalfVendor(h) {
  const d = engine.verify({ agentId: "agent", action: "fetch", vendor: h }, { now: NOW });
  return d.reason === "invalid_request" ? null : d.vendor;
}

test("every host behalf accepts is the hostname Node's WHATWG URL parser reads", (t) => {
  const g = generator(20261201);
  const seen = new Set();
  let accepted = 0;
  let ipv4 = 0;
  const mismatches = [];
  while (seen.size < 900) {
    const h = host(g);
    if (seen.has(h)) continue;
    seen.add(h);
    const mine = behalfVendor(h);
    if (mine === null) continue;
    accepted++;
    if (/^\d+\.\d+\.\d+\.\d+$/.test(mine)) ipv4++;
    // behalf strips one trailing dot of a name; the parser keeps it.
    const theirs = parserHostname(h);
    const comparable = theirs !== null && theirs.endsWith(".") ? theirs.slice(0, -1) : theirs;
    if (mine !== comparable) mismatches.push(`${JSON.stringify(h)}: behalf ${mine}, URL ${theirs}`);
  }
  t.diagnostic(`${seen.size} hosts, ${accepted} accepted (${ipv4} IPv4), ${mismatches.length} mismatches`);
  assert.deepEqual(mismatches, []);
  // The comparison must have had something to compare.
  assert.ok(accepted >= 200, `only ${accepted} of ${seen.size} hosts were accepted`);
  assert.ok(ipv4 >= 100, `only ${ipv4} accepted hosts were IPv4 addresses`);
});

test("known spellings of one address agree with the parser", () => {
  for (const h of ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0X7F.0.0.1", "[0:0:0:0:0:0:0:1]", "[2001:DB8::1]"]) {
    assert.equal(behalfVendor(h), parserHostname(h), h);
  }
});

test("hosts the parser refuses are refused too", () => {
  for (const h of ["256.0.0.1", "1.2.3.4.5", "08.1.1.1", "example.123", "[::1", "xn--a.com"]) {
    assert.equal(parserHostname(h), null, `the parser accepted ${h}`);
    assert.equal(behalfVendor(h), null, `behalf accepted ${h}`);
  }
});
