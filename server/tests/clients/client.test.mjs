// BehalfClient against a real `behalf serve`: the same packets as the embedded engine, and a
// denied internal_error packet — never a rejection, never an allow — for a dead server, a
// timeout, a 5xx, a refused key and an answer that is not a packet.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { Behalf, BehalfClient } from "../../../bindings-js/pkg/index.mjs";
import { startServer, POLICY } from "./server.mjs";

let server;
let key;
before(async () => {
  server = await startServer();
  key = server.key("agent_claude_code");
});
after(async () => {
  await server.stop();
});

const staging = { agentId: "agent_claude_code", action: "deploy", vendor: "vercel.com", params: { env: "staging" } };
const production = { ...staging, params: { env: "production" } };

function assertDeniedHere(d, pattern) {
  assert.equal(d.decision, "denied");
  assert.equal(d.allowed, false);
  assert.equal(d.reason, "internal_error");
  assert.match(d.message, pattern);
  assert.match(d.requestId, /^req_[A-Za-z0-9]{16}$|^[A-Za-z0-9_.:-]+$/);
}

// Serves `handler` on 127.0.0.1 for the length of `body`.
async function withFake(handler, body) {
  const fake = createServer(handler);
  await new Promise((ok) => fake.listen(0, "127.0.0.1", ok));
  try {
    return await body(`http://127.0.0.1:${fake.address().port}`);
  } finally {
    fake.closeAllConnections();
    await new Promise((ok) => fake.close(ok));
  }
}

test("the server's packets are the embedded engine's, field for field", async () => {
  const client = new BehalfClient({ url: server.url, apiKey: key });
  const local = new Behalf(POLICY);
  for (const request of [staging, production, { ...staging, resource: "db/prod/users" }, { agentId: "agent_claude_code", action: "Bad Action" }]) {
    const withId = { ...request, requestId: `req_js_${Math.random().toString(36).slice(2)}` };
    const remote = await client.verify(withId);
    const embedded = local.verify(withId);
    const strip = (p) => ({ ...p, approvalId: p.approvalId && "apr", evaluatedAt: "t" });
    assert.deepEqual(strip(remote), strip(embedded));
  }
});

test("a held request is approved on the server, and the retry is allowed", async () => {
  const client = new BehalfClient({ url: server.url, apiKey: key });
  const held = await client.verify(production);
  assert.equal(held.decision, "approval_required");
  assert.equal(client.approvalUrl(held.approvalId), `${server.url}/dashboard/approvals/${held.approvalId}`);
  server.approve(held.approvalId);
  const retry = await client.verify(production);
  assert.equal(retry.allowed, true);
  assert.equal(retry.reason, "approved");
});

test("a key naming another agent, and a bad key, are denied packets naming the refusal", async () => {
  const client = new BehalfClient({ url: server.url, apiKey: key });
  assertDeniedHere(await client.verify({ ...staging, agentId: "agent_other" }), /403 agent_mismatch/);
  const stranger = new BehalfClient({ url: server.url, apiKey: `bhk_${"a".repeat(43)}` });
  assertDeniedHere(await stranger.verify(staging), /401 unknown_key/);
});

test("a dead server is a denied packet naming the cause", async () => {
  const port = await withFake((_, res) => res.end(), async (url) => url);
  const client = new BehalfClient({ url: port, apiKey: key });
  const d = await client.verify({ ...staging, requestId: "req_dead_server" });
  assertDeniedHere(d, /cannot reach the behalf server .*ECONNREFUSED/);
  assert.equal(d.requestId, "req_dead_server");
});

test("a server that does not answer in time is denied within the timeout", async () => {
  await withFake(() => {}, async (url) => {
    const client = new BehalfClient({ url, apiKey: key, timeoutMs: 300 });
    const started = Date.now();
    const d = await client.verify(staging);
    assertDeniedHere(d, /did not answer within 300 ms/);
    assert.ok(Date.now() - started < 2000);
  });
});

test("the default timeout is 2 s", () => {
  assert.equal(new BehalfClient({ url: server.url, apiKey: key }).timeoutMs, 2000);
});

test("5xx, other statuses, non-JSON and non-packets are denied, even when they say allowed", async () => {
  const answers = [
    [500, '{"code":"internal_error","message":"boom"}', /answered 500 internal_error: boom/],
    [503, "unavailable", /answered 503/],
    [302, "", /answered 302/],
    [200, "<html>ok</html>", /not JSON/],
    [200, '{"allowed": true}', /not a decision packet/],
    [200, '{"decision":"denied","allowed":true,"reason":"allowed","requestId":"req_x"}', /not a decision packet/],
  ];
  for (const [status, body, pattern] of answers) {
    await withFake((_, res) => {
      res.writeHead(status, { "content-type": "application/json", location: "http://127.0.0.1:1/" });
      res.end(body);
    }, async (url) => {
      const d = await new BehalfClient({ url, apiKey: key }).verify(staging);
      assertDeniedHere(d, pattern);
    });
  }
});

test("a request that cannot be JSON is denied without being sent", async () => {
  const cyclic = { ...staging };
  cyclic.params = { self: cyclic };
  const d = await new BehalfClient({ url: server.url, apiKey: key }).verify(cyclic);
  assertDeniedHere(d, /cannot be sent as JSON/);
  assertDeniedHere(await new BehalfClient({ url: server.url, apiKey: key }).verify({ ...staging, params: { n: 1n } }), /cannot be sent as JSON/);
});

test("bad options are a TypeError at construction, not a silent default", () => {
  assert.throws(() => new BehalfClient({ url: "127.0.0.1:7777", apiKey: key }), TypeError);
  assert.throws(() => new BehalfClient({ url: server.url }), TypeError);
  assert.throws(() => new BehalfClient({ url: server.url, apiKey: key, timeoutMs: 0 }), TypeError);
});
