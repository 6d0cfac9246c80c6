// Webhook deliveries from the npm package, checked by a receiver nobody here wrote: the
// `standardwebhooks` package from npm. Every event an engine hands to onDecision (the three
// decisions, approval.granted, approval.denied) is delivered as `webhooks.delivery` builds it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";
import { Behalf, webhooks, BehalfError } from "behalf";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEXT_SECRET = "whsec_c2VjcmV0LXR3by1mb3ItdGhlLXJvdGF0aW9u";
const OTHER_SECRET = "whsec_b3RoZXItc2VjcmV0LW5vYm9keS1zaG91bGQtdXNl";

const policy = {
  version: 1,
  passports: [
    {
      id: "passport_claude",
      agent: "agent_claude_code",
      permissions: [
        { id: "deploy_staging", action: "deploy", vendor: "vercel.com", when: { env: "staging" } },
        {
          id: "deploy_production",
          action: "deploy",
          vendor: "vercel.com",
          when: { env: "production" },
          effect: "require_approval",
        },
        { id: "no_prod_db", action: "*", resource: "db/prod/**", effect: "block" },
      ],
    },
  ],
};

const agent = { agentId: "agent_claude_code", action: "deploy", vendor: "vercel.com" };
const EVENTS = ["decision.allowed", "decision.denied", "decision.approval_required", "approval.granted", "approval.denied"];

// Drives an engine through all five event types; `onDecision` sees every record.
function everyEvent(onDecision) {
  const b = new Behalf(policy, { onDecision });
  b.verify({ ...agent, params: { env: "staging", note: "é ✓ \u2028 \"quoted\"", amount: 0.1 } });
  b.verify({ agentId: "agent_claude_code", action: "drop", resource: "db/prod/main" });
  const first = b.verify({ ...agent, params: { env: "production", ref: "v1" } });
  b.approve(first.approvalId);
  b.verify({ ...agent, params: { env: "production", ref: "v1" } });
  const second = b.verify({ ...agent, params: { env: "production", ref: "v2" } });
  b.deny(second.approvalId);
  return b;
}

function records() {
  const seen = [];
  const b = everyEvent((r) => seen.push(r));
  assert.deepEqual(b.auditLog(), seen);
  return seen;
}

const now = () => Math.floor(Date.now() / 1000);

function rejects(secret, body, headers, why) {
  assert.throws(() => new Webhook(secret).verify(body, headers), (e) => e.name === "WebhookVerificationError", why);
}

test("every event from onDecision is delivered as standardwebhooks accepts it", () => {
  const seen = records();
  const types = seen.map((r) => webhooks.delivery(r, { secrets: SECRET }).eventType);
  assert.deepEqual([...new Set(types)].sort(), [...EVENTS].sort(), "all five event types occur");
  const ids = new Set();
  for (const record of seen) {
    const d = webhooks.delivery(record, { secrets: SECRET });
    assert.deepEqual(Object.keys(d.headers).sort(), ["content-type", "webhook-id", "webhook-signature", "webhook-timestamp"]);
    assert.equal(d.headers["content-type"], "application/json");
    assert.match(d.headers["webhook-id"], /^msg_[0-9a-f]{32}$/);
    assert.match(d.headers["webhook-timestamp"], /^\d+$/);
    assert.ok(Math.abs(Number(d.headers["webhook-timestamp"]) - now()) <= 2, "the timestamp defaults to now");
    assert.match(d.headers["webhook-signature"], /^v1,[A-Za-z0-9+/]{43}=$/);
    ids.add(d.headers["webhook-id"]);

    const payload = new Webhook(SECRET).verify(d.body, d.headers);
    assert.deepEqual(payload, webhooks.event(record));
    assert.deepEqual(payload.data, record, "the payload's data is the record itself");
    assert.equal(payload.type, d.eventType);
    assert.equal(payload.timestamp, record.time);
    assert.equal(payload.type, record.event === "decision" ? `decision.${record.decision}` : record.event);
    assert.equal(webhooks.verify({ secret: SECRET, id: d.headers["webhook-id"], timestamp: d.headers["webhook-timestamp"], body: d.body, signature: d.headers["webhook-signature"] }), true);

    // A retry: a new timestamp and signature, the same id and body.
    const retry = webhooks.delivery(record, { secrets: [SECRET], timestamp: now() - 60 });
    assert.equal(retry.headers["webhook-id"], d.headers["webhook-id"]);
    assert.equal(retry.body, d.body);
    assert.deepEqual(new Webhook(SECRET).verify(retry.body, retry.headers), payload);
  }
  assert.equal(ids.size, seen.length, "one id per record");
});

test("a delivery at a given timestamp is deterministic", () => {
  const [record] = records();
  const a = webhooks.delivery(record, { secrets: SECRET, timestamp: 1614265330 });
  const b = webhooks.delivery(structuredClone(record), { secrets: [SECRET], timestamp: 1614265330 });
  assert.deepEqual(a, b);
  assert.equal(a.headers["webhook-timestamp"], "1614265330");
  assert.equal(a.headers["webhook-signature"], webhooks.sign({ secret: SECRET, id: a.headers["webhook-id"], timestamp: 1614265330, body: a.body }));
});

test("during a rotation both signatures are sent and a receiver on either secret accepts", () => {
  for (const record of records()) {
    const d = webhooks.delivery(record, { secrets: [SECRET, NEXT_SECRET] });
    const signatures = d.headers["webhook-signature"].split(" ");
    assert.equal(signatures.length, 2);
    assert.ok(signatures.every((s) => /^v1,[A-Za-z0-9+/]{43}=$/.test(s)));
    const expected = webhooks.event(record);
    assert.deepEqual(new Webhook(SECRET).verify(d.body, d.headers), expected);
    assert.deepEqual(new Webhook(NEXT_SECRET).verify(d.body, d.headers), expected);
    rejects(OTHER_SECRET, d.body, d.headers, "a third secret matches neither signature");
    // Each signature is the one of its own secret.
    const only = (i) => ({ ...d.headers, "webhook-signature": signatures[i] });
    assert.deepEqual(new Webhook(SECRET).verify(d.body, only(0)), expected);
    assert.deepEqual(new Webhook(NEXT_SECRET).verify(d.body, only(1)), expected);
    rejects(SECRET, d.body, only(1), "the new secret's signature is not the old one's");
    rejects(NEXT_SECRET, d.body, only(0), "the old secret's signature is not the new one's");
  }
});

test("a tampered body, id or timestamp, or a message older than 5 minutes, is rejected", () => {
  for (const record of records()) {
    const d = webhooks.delivery(record, { secrets: [SECRET, NEXT_SECRET] });
    for (const secret of [SECRET, NEXT_SECRET]) {
      assert.ok(new Webhook(secret).verify(d.body, d.headers));
      const payload = JSON.parse(d.body);
      const flipped = JSON.stringify({ ...payload, data: { ...payload.data, decision: payload.data.decision === "allowed" ? "denied" : "allowed" } });
      rejects(secret, flipped, d.headers, "a changed decision");
      rejects(secret, d.body + " ", d.headers, "a trailing space");
      rejects(secret, d.body.replace(record.hash, record.prevHash), d.headers, "a changed hash");
      const otherId = `msg_${"0".repeat(32)}`;
      rejects(secret, d.body, { ...d.headers, "webhook-id": otherId }, "a changed id");
      const ts = Number(d.headers["webhook-timestamp"]);
      rejects(secret, d.body, { ...d.headers, "webhook-timestamp": String(ts + 1) }, "a changed timestamp");
      rejects(secret, d.body, { ...d.headers, "webhook-timestamp": String(ts - 1) }, "a changed timestamp");
      rejects(secret, d.body, { ...d.headers, "webhook-signature": "" }, "no signature");
    }
    // Signed correctly, but too old or too far in the future.
    const stale = webhooks.delivery(record, { secrets: SECRET, timestamp: now() - 301 });
    rejects(SECRET, stale.body, stale.headers, "older than 5 minutes");
    const early = webhooks.delivery(record, { secrets: SECRET, timestamp: now() + 360 });
    rejects(SECRET, early.body, early.headers, "more than 5 minutes ahead");
    const recent = webhooks.delivery(record, { secrets: SECRET, timestamp: now() - 240 });
    assert.ok(new Webhook(SECRET).verify(recent.body, recent.headers), "four minutes old is still accepted");
  }
});

test("bad input throws a typed BehalfError, never a delivery", () => {
  const [record, denied] = records();
  const code = (c) => (e) => e instanceof BehalfError && e.code === c && typeof e.message === "string" && typeof e.hint === "string";
  const opts = { secrets: SECRET };

  for (const bad of [null, undefined, "text", 42, [], [record], {}, { seq: 1 }]) {
    assert.throws(() => webhooks.delivery(bad, opts), code("bad_audit_record"), String(bad));
    assert.throws(() => webhooks.event(bad), code("bad_audit_record"), String(bad));
  }
  const packet = new Behalf(policy).verify({ ...agent, params: { env: "staging" } });
  assert.throws(() => webhooks.delivery(packet, opts), code("bad_audit_record"), "a decision packet is not a record");
  // Edited records: the id is derived from the hash, so an edit must never be signed.
  const edits = [
    { ...record, decision: "denied" },
    { ...record, agentId: "someone_else" },
    { ...record, params: { ...record.params, amount: 1000 } },
    { ...record, hash: denied.hash },
    { ...denied, prevHash: "0".repeat(64) },
    { ...record, time: "2026-01-01T00:00:00.000Z" },
    { ...record, reason: "not_a_reason" },
    { ...record, extra: true },
    { ...record, seq: 1.5 },
    { ...record, params: { x: NaN } },
  ];
  for (const edited of edits) {
    assert.throws(() => webhooks.delivery(edited, opts), code("bad_audit_record"), JSON.stringify(edited));
    assert.throws(() => webhooks.event(edited), code("bad_audit_record"), JSON.stringify(edited));
  }

  for (const secrets of ["whsec_!!", "", "whsec_", [], [SECRET, "whsec_!!"], ["whsec_!!", SECRET], [SECRET, 7], 7, undefined, null]) {
    assert.throws(() => webhooks.delivery(record, { secrets }), code("bad_secret"), JSON.stringify(secrets));
  }
  assert.throws(() => webhooks.delivery(record), code("bad_secret"));
  for (const timestamp of [1.5, -1, NaN, Infinity, "1614265330", 1e20, new Date()]) {
    assert.throws(() => webhooks.delivery(record, { secrets: SECRET, timestamp }), code("bad_timestamp"), String(timestamp));
  }
  assert.ok(webhooks.delivery(record, { secrets: SECRET, timestamp: 0 }).body, "the epoch is whole unix seconds");
});

test("end to end: the app delivers from onDecision with fetch to a standardwebhooks receiver", async () => {
  const receiver = new Webhook(SECRET);
  const received = [];
  let rejected = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      try {
        const event = receiver.verify(body, req.headers);
        received.push({ id: req.headers["webhook-id"], event });
        res.writeHead(204).end();
      } catch {
        rejected += 1;
        res.writeHead(400).end();
      }
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}/hooks/behalf`;
  try {
    // The app: deliver every record with its own HTTP client, keeping the promises to await.
    const sent = [];
    const b = everyEvent((record) => {
      const { headers, body } = webhooks.delivery(record, { secrets: [SECRET, NEXT_SECRET] });
      sent.push(fetch(url, { method: "POST", headers, body }).then((r) => ({ id: headers["webhook-id"], status: r.status })));
    });
    const statuses = await Promise.all(sent);
    const log = b.auditLog();
    assert.equal(statuses.length, log.length);
    assert.ok(statuses.every((s) => s.status === 204), JSON.stringify(statuses));
    assert.equal(rejected, 0);
    assert.equal(received.length, log.length);
    const byId = new Map(received.map((r) => [r.id, r.event]));
    assert.equal(byId.size, log.length, "no id twice");
    for (const record of log) {
      const event = byId.get(webhooks.delivery(record, { secrets: SECRET }).headers["webhook-id"]);
      assert.deepEqual(event, webhooks.event(record));
    }
    assert.deepEqual([...new Set(received.map((r) => r.event.type))].sort(), [...EVENTS].sort());

    // The same receiver turns away a tampered delivery and one signed with another secret.
    const d = webhooks.delivery(log[0], { secrets: SECRET });
    const tampered = await fetch(url, { method: "POST", headers: d.headers, body: d.body.replace('"allowed"', '"denied"') });
    assert.equal(tampered.status, 400);
    const foreign = webhooks.delivery(log[0], { secrets: OTHER_SECRET });
    assert.equal((await fetch(url, { method: "POST", headers: foreign.headers, body: foreign.body })).status, 400);
    assert.equal(rejected, 2);
    assert.equal(received.length, log.length);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
