// The conformance runner for JavaScript: runs one vector file (tests/conformance/README.md)
// through the public API of `behalf`, in Node or in a browser (no Node imports here). A port of
// core/src/conformance.rs, so the relabelled packets can be compared with the native core's.

const DEFAULT_NOW = "2026-11-26T11:00:00.000Z";

// ---------------------------------------------------------------------------------------------
// A JSON parser that remembers each object's source text, and whether a number in it would not
// survive a trip through a JS number (`-0.0`, `1.0`, `1e21`, 2^53+1). Such values are passed to
// behalf as their original JSON text, so the core reads exactly what the native runner read;
// all others go in as JS objects, through the binding's conversion.

export function parseLossless(text) {
  const spans = new Map();
  const lossy = new Set();
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const value = () => {
    ws();
    const c = text[i];
    const start = i;
    if (c === "{" || c === "[") {
      const isObject = c === "{";
      const out = isObject ? {} : [];
      let bad = false;
      i++;
      ws();
      if (text[i] === (isObject ? "}" : "]")) {
        i++;
      } else {
        for (;;) {
          let key;
          if (isObject) {
            ws();
            key = string();
            ws();
            if (text[i++] !== ":") throw new SyntaxError(`expected : at ${i}`);
          }
          const [v, vBad] = value();
          bad = bad || vBad;
          if (isObject) {
            Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
          } else {
            out.push(v);
          }
          ws();
          const sep = text[i++];
          if (sep === ",") continue;
          if (sep === (isObject ? "}" : "]")) break;
          throw new SyntaxError(`unexpected ${sep} at ${i}`);
        }
      }
      spans.set(out, text.slice(start, i));
      if (bad) lossy.add(out);
      return [out, bad];
    }
    if (c === '"') return [string(), false];
    const m = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (m === null) throw new SyntaxError(`unexpected ${c} at ${i}`);
    i += m[0].length;
    if (m[0] === "true") return [true, false];
    if (m[0] === "false") return [false, false];
    if (m[0] === "null") return [null, false];
    const n = Number(m[0]);
    return [n, String(n) !== m[0]];
  };
  const string = () => {
    const start = i;
    if (text[i] !== '"') throw new SyntaxError(`expected a string at ${i}`);
    i++;
    while (text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const [root] = value();
  return { root, spans, lossy };
}

// ---------------------------------------------------------------------------------------------

export class Relabel {
  seen = new Map();
  packet(packet, givenRequestId) {
    const p = { ...packet };
    for (const key of ["requestId", "approvalId", "grantId"]) {
      if (key === "requestId" && givenRequestId) continue;
      const id = p[key];
      if (typeof id === "string") {
        const prefix = id.split("_")[0];
        const n = this.seen.size + 1;
        if (!this.seen.has(id)) this.seen.set(id, `${prefix}#${n}`);
        p[key] = this.seen.get(id);
      }
    }
    return p;
  }
}

/** JSON with sorted keys: equal texts mean equal values whatever the key order. */
export function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

function parseDuration(d) {
  if (typeof d === "number") return Number.isInteger(d) ? d : null;
  const m = /^(\d{1,12})([smhd])$/.exec(String(d));
  if (m === null) return null;
  return Number(m[1]) * { s: 1000, m: 60000, h: 3600000, d: 86400000 }[m[2]];
}

function errorCode(e) {
  return e && typeof e.code === "string" ? e.code : `thrown: ${e && e.message}`;
}

/** Runs every case of one vector file (given as text) through `behalf` (the module's exports). */
export function runFile(fileText, behalf) {
  const { root, spans, lossy } = parseLossless(fileText);
  const exact = (v) => (v !== null && typeof v === "object" && lossy.has(v) ? spans.get(v) : v);
  const policies = root.policies || {};
  return (root.cases || []).map((c) => runCase(c, policies, behalf, exact));
}

function runCase(c, policies, behalf, exact) {
  const report = { name: c.name || "(unnamed)", passed: false, failures: [], packets: [] };
  if (typeof c.policyText === "string") {
    checkPolicyErrors(behalf, c.policyText, c.expectPolicyErrors || [], report.failures);
    report.passed = report.failures.length === 0;
    return report;
  }
  let policy = c.policy;
  if (typeof policy === "string") {
    if (!(policy in policies)) {
      report.failures.push(`policy \`${policy}\` is not in this file's policies`);
      return report;
    }
    policy = policies[policy];
  }
  if (policy === undefined) {
    report.failures.push("the case has no policy");
    return report;
  }
  policy = exact(policy);
  if (Array.isArray(c.expectPolicyErrors)) {
    checkPolicyErrors(behalf, policy, c.expectPolicyErrors, report.failures);
    report.passed = report.failures.length === 0;
    return report;
  }
  let now = Date.parse(typeof c.now === "string" ? c.now : DEFAULT_NOW);
  const options = { auditCapacity: c.options && c.options.auditCapacity ? c.options.auditCapacity : 10000 };
  let engine;
  try {
    engine = new behalf.Behalf(policy, options);
  } catch (e) {
    report.failures.push(`the policy was rejected: ${e.message}`);
    return report;
  }
  const state = { lastApproval: null };
  const relabel = new Relabel();
  (c.steps || []).forEach((step, i) => {
    const fail = (what) => report.failures.push(`step ${i}: ${what}`);
    const expect = step.expect === undefined ? null : step.expect;
    const stepNow = typeof step.now === "string" ? Date.parse(step.now) : now;
    if ("verify" in step || "verifyOnce" in step) {
      const request = "verify" in step ? step.verify : step.verifyOnce;
      let packet;
      if ("verify" in step) {
        packet = engine.verify(exact(request), { now: stepNow });
      } else {
        try {
          packet = behalf.verify(policy, exact(request), { now: stepNow });
        } catch (e) {
          fail(`one-shot verify failed: ${e.message}`);
          return;
        }
      }
      const given = request !== null && typeof request === "object" && typeof request.requestId === "string";
      checkPacket(packet, expect, request, state, fail);
      report.packets.push(relabel.packet(packet, given));
    } else if (typeof step.verifyJson === "string") {
      const packet = engine.verify(step.verifyJson, { now: stepNow });
      checkPacket(packet, expect, null, state, fail);
      report.packets.push(relabel.packet(packet, false));
    } else if ("advance" in step) {
      const ms = parseDuration(step.advance);
      if (ms === null) fail(`bad advance \`${step.advance}\``);
      else now += ms;
    } else if ("at" in step) {
      const t = Date.parse(step.at);
      if (Number.isNaN(t)) fail(`bad time \`${step.at}\``);
      else now = t;
    } else if ("approve" in step || "deny" in step) {
      const raw = "approve" in step ? step.approve : step.deny;
      const id = raw === "$last" ? state.lastApproval || "" : typeof raw === "string" ? raw : "";
      let got;
      try {
        if ("approve" in step) engine.approve(id, { ttl: step.ttl, now: stepNow });
        else engine.deny(id, { now: stepNow });
        got = { ok: true };
      } catch (e) {
        got = { error: errorCode(e) };
      }
      if (expect !== null && canonical(got) !== canonical(expect)) {
        fail(`expected ${JSON.stringify(expect)}, got ${JSON.stringify(got)}`);
      }
    } else if ("exportRestore" in step) {
      const text = JSON.stringify(engine.exportState());
      try {
        const fresh = new behalf.Behalf(policy, options);
        fresh.restore(JSON.parse(text));
        engine = fresh;
      } catch (e) {
        fail(`restore failed: ${e.message}`);
      }
    } else if ("pendingApprovals" in step) {
      const got = engine.pendingApprovals({ now: stepNow }).length;
      if (got !== step.pendingApprovals) fail(`expected ${step.pendingApprovals} pending approvals, got ${got}`);
    } else if ("grants" in step) {
      const got = engine.grants({ now: stepNow }).length;
      if (got !== step.grants) fail(`expected ${step.grants} active grants, got ${got}`);
    } else if ("auditVerify" in step) {
      const want = step.auditVerify;
      const log = engine.auditLog();
      const r = behalf.verifyAuditLog(log);
      if (r.ok !== want.ok) fail(`audit verify: expected ${JSON.stringify(want)}, got ${JSON.stringify(r)}`);
      if (typeof want.records === "number" && log.length !== want.records) {
        fail(`audit has ${log.length} records, expected ${want.records}`);
      }
    } else if ("auditTamper" in step) {
      const records = engine.auditLog();
      // The verifier knows where the chain starts and the head it must reach.
      const anchor = {
        firstSeq: records.length > 0 ? records[0].seq : null,
        lastHash: records.length > 0 ? records[records.length - 1].hash : null,
      };
      const why = tamper(records, step.auditTamper);
      if (why !== null) {
        fail(why);
        return;
      }
      const r = behalf.verifyAuditLog(records, anchor);
      if (r.ok !== expect.ok || ("firstBroken" in expect && expect.firstBroken !== r.firstBroken)) {
        fail(`tampered audit: expected ${JSON.stringify(expect)}, got ${JSON.stringify(r)}`);
      }
    } else if ("webhookSign" in step) {
      const w = step.webhookSign;
      let got;
      try {
        got = behalf.webhooks.sign({
          secret: w.secret || "",
          id: w.id || "",
          timestamp: Number.isInteger(w.timestamp) ? w.timestamp : 0,
          body: w.body || "",
        });
      } catch (e) {
        got = `error ${errorCode(e)}`;
      }
      if (got !== expect.signature) fail(`signature: expected ${expect.signature}, got ${got}`);
    } else if ("webhookVerify" in step) {
      const w = step.webhookVerify;
      const ok = behalf.webhooks.verify({
        secret: w.secret || "",
        id: w.id || "",
        timestamp: typeof w.timestamp === "number" || typeof w.timestamp === "string" ? String(w.timestamp) : "",
        body: w.body || "",
        signature: w.signature || "",
        now: (Number.isInteger(w.now) ? w.now : 0) * 1000,
      });
      if (ok !== expect.ok) fail(`webhook verify: expected ${JSON.stringify(expect)}, got ok=${ok}`);
    } else {
      fail(`unknown step ${JSON.stringify(step)}`);
    }
  });
  report.passed = report.failures.length === 0;
  return report;
}

function checkPacket(packet, expect, request, state, fail) {
  const get = (k) => (packet[k] === undefined ? null : packet[k]);
  const want = expect || {};
  for (const key of ["decision", "reason", "matchedPermission", "activePermissions", "action", "vendor", "resource"]) {
    if (key in want && canonical(get(key)) !== canonical(want[key])) {
      fail(`\`${key}\`: expected ${JSON.stringify(want[key])}, got ${JSON.stringify(get(key))} (${get("message")})`);
    }
  }
  if (get("allowed") !== (get("decision") === "allowed")) fail("`allowed` disagrees with `decision`");
  if (!Array.isArray(packet.trace) || packet.trace.length === 0) fail("`trace` is empty");
  if (request !== null && typeof request === "object" && typeof request.requestId === "string") {
    if (get("requestId") !== request.requestId && get("reason") !== "invalid_request") {
      fail(`\`requestId\` \`${request.requestId}\` was not echoed`);
    }
  }
  for (const key of ["approvalId", "grantId"]) {
    const got = get(key);
    const w = want[key];
    if (w === true && got === null) fail(`\`${key}\`: expected an id, got null`);
    if (w === false && got !== null) fail(`\`${key}\`: expected null, got ${got}`);
    if (w === "same" && (got === null || got !== state.lastApproval)) {
      fail(`\`${key}\`: expected the same id as before (${state.lastApproval}), got ${got}`);
    }
    if (w === "new" && (got === null || got === state.lastApproval)) fail(`\`${key}\`: expected a new id, got ${got}`);
  }
  if (typeof get("approvalId") === "string") state.lastApproval = get("approvalId");
}

function checkPolicyErrors(behalf, policy, expected, failures) {
  const problems = behalf.validatePolicy(policy);
  const list = () => problems.map((p) => `${p.code} at \`${p.path}\``).join(", ");
  if (problems.length === 0) {
    failures.push("the policy was accepted; expected it to be rejected");
    return;
  }
  for (const e of expected) {
    if (!problems.some((p) => p.path === (e.path || "") && p.code === (e.code || ""))) {
      failures.push(`missing problem ${e.code} at \`${e.path}\`; got: ${list()}`);
    }
  }
  if (problems.length !== expected.length) {
    failures.push(`expected ${expected.length} problems, got ${problems.length}: ${list()}`);
  }
  // The constructor must refuse it too, with the same problems.
  try {
    new behalf.Behalf(policy);
    failures.push("new Behalf() accepted a policy that validatePolicy() rejects");
  } catch (e) {
    if (!(e instanceof behalf.PolicyError)) failures.push(`new Behalf() threw ${e && e.name}, not PolicyError`);
    else if (canonical(e.problems) !== canonical(problems)) failures.push("PolicyError.problems differ from validatePolicy()");
  }
}

function tamper(records, t) {
  const index = t.index;
  if (!Number.isInteger(index)) return "tamper needs an index";
  if (index >= records.length) return `tamper index ${index} is past the ${records.length} records`;
  switch (t.op) {
    case "edit":
      records[index][t.field] = t.value === undefined ? null : t.value;
      return null;
    case "delete":
      records.splice(index, 1);
      return null;
    case "reorder":
      if (index + 1 >= records.length) return "reorder needs a record after the index";
      [records[index], records[index + 1]] = [records[index + 1], records[index]];
      return null;
    case "splice":
      records.splice(index + 1, 0, JSON.parse(JSON.stringify(records[index])));
      return null;
    default:
      return `unknown tamper op ${t.op}`;
  }
}

// A request that gave an invalid requestId gets a fresh random one, which the relabelling
// leaves alone (the request "gave" one): both runtimes must have made one, of the same form.
function unpinned(packet) {
  if (typeof packet.requestId === "string" && /^req_[0-9A-Za-z]{16}$/.test(packet.requestId)) {
    return { ...packet, requestId: "req_<random>" };
  }
  return packet;
}

/** Compares one file's reports with the native core's packets; returns mismatch descriptions. */
export function compareWithNative(fileName, reports, native) {
  const out = [];
  for (const r of reports) {
    const key = `${fileName}/${r.name}`;
    if (!(key in native)) {
      out.push(`${key}: not in native.json`);
      continue;
    }
    const want = native[key];
    if (want.length !== r.packets.length) {
      out.push(`${key}: ${r.packets.length} packets, native has ${want.length}`);
      continue;
    }
    want.forEach((w, i) => {
      const a = canonical(unpinned(r.packets[i]));
      const b = canonical(unpinned(w));
      if (a !== b) out.push(`${key} packet ${i}:\n  js:     ${a}\n  native: ${b}`);
    });
  }
  return out;
}
