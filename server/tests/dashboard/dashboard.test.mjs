// The approvals dashboard end to end: `behalf serve` on 127.0.0.1, driven in Debian's headless
// chromium (playwright-core, never a downloaded browser) with the DevTools virtual
// authenticator standing in for a person's passkey. An operator enrolls, sees a held request
// arrive live, approves it with a passkey signature, the agent's retry succeeds (over the HTTP
// API, through BehalfClient, `behalf verify --url`, and the official MCP SDK client through
// `behalf mcp proxy --url` in front of the real server-filesystem), the grant window passes (the server restarted with BEHALF_NOW, its testing-only fixed clock), deny,
// revoke, and every refusal of the operator API. Then an agent with its own key and a shell
// tries every way to approve itself, and fails. Editing behalf.json or the state database on
// the server's host is out of scope: whoever can do that is the server's administrator.
// Screenshots: test-output/dashboard/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, realpathSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { BehalfClient } from '../../../bindings-js/js/client.mjs';
import { textOf } from '../../../cli/tests/mcp/helpers.mjs';

const ROOT = resolve(import.meta.dirname, '../../..');
const BEHALF = process.env.BEHALF_BIN || join(ROOT, 'target/debug/behalf');
const SHOTS = join(ROOT, 'test-output/dashboard');
const FILESYSTEM = join(import.meta.dirname, 'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');
const AGENT = 'agent_claude_code';

let project; let agentHome; let port; let origin; let server; let browser; let context; let page;
let agentKey;
const ids = {};

function behalf(args, opts = {}) {
  const r = spawnSync(BEHALF, args, { cwd: opts.cwd || project, encoding: 'utf8', env: { ...process.env, ...opts.env } });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
}

async function freePort() {
  return new Promise((ok) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); });
  });
}

async function startServer(env = {}) {
  server = spawn(BEHALF, ['serve', '--listen', `127.0.0.1:${port}`], { cwd: project, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  server.stderr.on('data', (d) => { log += d; });
  await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`behalf serve did not start: ${log}`)), 20000);
    server.stdout.on('data', (d) => { if (String(d).includes('listening on')) { clearTimeout(timer); ok(); } });
    server.on('exit', (code) => fail(new Error(`behalf serve exited ${code}: ${log}`)));
  });
}

async function stopServer() {
  if (!server || server.exitCode !== null) return;
  const gone = new Promise((ok) => server.once('exit', ok));
  server.kill('SIGTERM');
  // A graceful stop waits for open event streams; past 3 s the test ends it.
  const timer = setTimeout(() => server.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(timer);
}

async function http(method, path, { body, headers = {} } = {}) {
  const response = await fetch(`${origin}${path}`, {
    method, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = null; }
  return { status: response.status, json, text };
}

const asAgent = { authorization: () => ({ authorization: `Bearer ${agentKey}` }) };

async function verifyAsAgent(params) {
  const r = await http('POST', '/v1/verify', {
    headers: asAgent.authorization(),
    body: { agentId: AGENT, action: 'deploy', vendor: 'vercel.com', params },
  });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function session() {
  const cookie = (await context.cookies()).find((c) => c.name === 'behalf_session');
  assert.ok(cookie, 'the dashboard holds a session cookie');
  const me = await page.evaluate(async () => (await fetch('/v1/operators/me')).json());
  return { cookie: `behalf_session=${cookie.value}`, csrf: me.csrfToken, cookieRecord: cookie };
}

before(async () => {
  project = mkdtempSync(join(tmpdir(), 'behalf-dashboard-'));
  agentHome = mkdtempSync(join(tmpdir(), 'behalf-agent-'));
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  assert.equal(behalf(['init']).code, 0);
  // The starter policy, plus what an agent behind `behalf mcp proxy --server filesystem` needs:
  // reads allowed, writes held for a person.
  const policy = JSON.parse(readFileSync(join(project, 'behalf.json'), 'utf8'));
  policy.passports[0].permissions.push(
    { id: 'fs_read', action: ['read_*', 'list_*'], vendor: 'filesystem' },
    { id: 'fs_write', action: 'write_file', vendor: 'filesystem', effect: 'require_approval', approval: { grantTtl: '10m' } },
  );
  writeFileSync(join(project, 'behalf.json'), JSON.stringify(policy, null, 2));
  const key = behalf(['agents', 'key', 'create', AGENT, '--quiet']);
  assert.equal(key.code, 0, key.err);
  agentKey = key.out;
  port = await freePort();
  origin = `http://localhost:${port}`;
  await startServer();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('pageerror', (e) => { throw e; });
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
});

after(async () => {
  await browser?.close();
  await stopServer();
  rmSync(project, { recursive: true, force: true });
  rmSync(agentHome, { recursive: true, force: true });
});

test('an expired enrollment link is refused', async () => {
  const past = new Date(Date.now() - 20 * 60_000).toISOString();
  const link = behalf(['operators', 'invite', 'late', '--url', origin], { env: { BEHALF_NOW: past } }).out;
  const token = link.split('#')[1];
  const r = await http('POST', '/v1/operators/enroll/start', { headers: { origin }, body: { token } });
  assert.equal(r.status, 403);
  assert.equal(r.json.code, 'enrollment_expired');
});

test('an operator enrolls a passkey from the one-time link and lands on the dashboard', async () => {
  const invite = behalf(['operators', 'invite', 'alice', '--url', origin]);
  assert.equal(invite.code, 0, invite.err);
  assert.match(invite.out, new RegExp(`^${origin}/dashboard/enroll#bhe_[A-Za-z0-9]{43}$`));
  ids.enrollToken = invite.out.split('#')[1];
  await page.goto(invite.out);
  await page.getByRole('button', { name: 'Create passkey' }).click();
  await Promise.race([page.locator('#who:not([hidden])').waitFor(), page.locator('.toast.bad').waitFor()]);
  assert.equal(await page.locator('#toast').textContent(), '', 'enrollment shows no error');
  assert.equal(await page.locator('#who-name').textContent(), 'alice');
  const cookie = (await context.cookies()).find((c) => c.name === 'behalf_session');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  const list = behalf(['operators', 'list']);
  assert.match(list.out, /alice .* 1 passkey/);
});

test('the enrollment link works once', async () => {
  const r = await http('POST', '/v1/operators/enroll/start', { headers: { origin }, body: { token: ids.enrollToken } });
  assert.equal(r.status, 403);
  assert.equal(r.json.code, 'enrollment_used');
});

test('a held request arrives live, is approved with a passkey, and the agent retry is allowed', async () => {
  await page.goto(`${origin}/dashboard`);
  await page.locator('#live.on').waitFor();
  const held = await verifyAsAgent({ env: 'production' });
  assert.equal(held.decision, 'approval_required');
  ids.a = held.approvalId;
  const card = page.locator(`#pending-list [data-approval="${ids.a}"]`);
  await card.waitFor({ timeout: 10000 });
  const text = await card.textContent();
  for (const part of [AGENT, 'deploy', 'vercel.com', 'deploy_production', '"env": "production"']) assert.ok(text.includes(part), `the card shows ${part}`);
  await page.screenshot({ path: join(SHOTS, 'pending-desktop.png'), fullPage: true });
  let signedBody = null;
  page.on('request', (req) => { if (req.url().endsWith(`/v1/approvals/${ids.a}/approve`)) signedBody = req.postData(); });
  await card.getByRole('button', { name: 'Approve with passkey' }).click();
  await page.getByText(`approved ${ids.a}`).waitFor();
  ids.replay = signedBody;
  const retry = await verifyAsAgent({ env: 'production' });
  assert.equal(retry.decision, 'allowed');
  assert.equal(retry.reason, 'approved');
  assert.ok(retry.grantId);
  ids.grantA = retry.grantId;
  // The same retry as an agent makes it: through the JS client, and through `behalf verify
  // --url` (the path `behalf mcp proxy --url` decides on).
  const client = new BehalfClient({ url: origin, apiKey: agentKey });
  const viaClient = await client.verify({ agentId: AGENT, action: 'deploy', vendor: 'vercel.com', params: { env: 'production' } });
  assert.equal(viaClient.reason, 'approved', JSON.stringify(viaClient));
  assert.equal(viaClient.grantId, ids.grantA);
  const cli = spawnSync(BEHALF, ['verify', '--json', '--url', origin, '--agent', AGENT, '--action', 'deploy',
    '--vendor', 'vercel.com', '--param', 'env=production'], { env: { ...process.env, BEHALF_AGENT_KEY: agentKey }, encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stdout + cli.stderr);
  assert.equal(JSON.parse(cli.stdout).grantId, ids.grantA);
});

test('an MCP agent behind `behalf mcp proxy --url` is held, approved by passkey, and its retry writes the file', async () => {
  // The agent's side: its own directory with no behalf.json and no state, the official MCP SDK
  // client, the proxy deciding on this server with the agent's key, the real server-filesystem.
  const data = join(realpathSync(agentHome), 'data');
  mkdirSync(data, { recursive: true });
  const transport = new StdioClientTransport({
    command: BEHALF,
    args: ['mcp', 'proxy', '--url', origin, '--agent', AGENT, '--server', 'filesystem', '--', process.execPath, FILESYSTEM, data],
    cwd: agentHome,
    env: { ...process.env, BEHALF_AGENT_KEY: agentKey },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'behalf-dashboard-test', version: '1.0.0' });
  await client.connect(transport);
  try {
    const notes = join(data, 'notes.txt');
    const call = { name: 'write_file', arguments: { path: notes, content: 'shipped\n' } };
    const held = await client.callTool(call);
    const text = textOf(held);
    assert.equal(held.isError, true, text);
    assert.ok(text.startsWith('APPROVAL REQUIRED'), text);
    const id = text.match(/Approval ID: (apr_[A-Za-z0-9]+)/)?.[1];
    assert.ok(id, text);
    const link = `${origin}/dashboard/approvals/${id}`;
    assert.ok(text.includes(`Approve at: ${link}`), text);
    assert.equal(existsSync(notes), false, 'a held write is not executed');

    // The person follows the link in the held message and approves with a passkey.
    await page.goto(link);
    const card = page.locator(`#approval-one [data-approval="${id}"]`);
    await card.waitFor();
    const shown = await card.textContent();
    for (const part of [AGENT, 'write_file', 'filesystem', 'fs_write']) assert.ok(shown.includes(part), `the card shows ${part}`);
    await card.getByRole('button', { name: 'Approve with passkey' }).click();
    await page.getByText(`approved ${id}`).waitFor();

    const retry = await client.callTool(call);
    assert.notEqual(retry.isError, true, textOf(retry));
    assert.equal(readFileSync(notes, 'utf8'), 'shipped\n');
    const { records } = (await http('GET', '/v1/audit?after=0&limit=500', { headers: asAgent.authorization() })).json;
    const granted = records.find((r) => r.event === 'approval.granted' && r.approvalId === id);
    assert.equal(granted.operator.name, 'alice');
    assert.equal(granted.operator.via, 'passkey');
    assert.ok(records.some((r) => r.event === 'decision' && r.action === 'write_file' && r.reason === 'approved'), 'the retry is recorded as approved');
  } finally {
    await client.close();
  }
});

test('the approval record names the operator and carries the passkey assertion', async () => {
  const { records } = (await http('GET', '/v1/audit?after=0&limit=500', { headers: asAgent.authorization() })).json;
  const granted = records.find((r) => r.event === 'approval.granted' && r.approvalId === ids.a);
  assert.equal(granted.operator.name, 'alice');
  assert.equal(granted.operator.via, 'passkey');
  const sig = granted.operator.signature;
  for (const k of ['credentialId', 'authenticatorData', 'clientDataJSON', 'signature']) assert.ok(sig[k], `signature.${k}`);
  assert.equal(sig.challenge.approvalId, ids.a);
  assert.equal(sig.challenge.decision, 'approve');
  const clientData = JSON.parse(Buffer.from(sig.clientDataJSON, 'base64url').toString());
  assert.equal(clientData.origin, origin);
  assert.equal(clientData.type, 'webauthn.get');
});

test('a replayed assertion is refused', async () => {
  assert.ok(ids.replay, 'the signed body was captured');
  const s = await session();
  const again = await verifyAsAgent({ env: 'production', service: 'replay' });
  for (const target of [ids.a, again.approvalId]) {
    const r = await http('POST', `/v1/approvals/${target}/approve`, { headers: { cookie: s.cookie, origin, 'x-csrf-token': s.csrf }, body: ids.replay });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.code, 'signature_invalid');
  }
  ids.spare = again.approvalId;
});

test('an assertion signed for approval A is refused on approval B', async () => {
  const b = await verifyAsAgent({ env: 'production', service: 'b' });
  const r = await page.evaluate(async ({ a, b }) => {
    const { csrfToken } = await (await fetch('/v1/operators/me')).json();
    const headers = { 'content-type': 'application/json', 'x-csrf-token': csrfToken };
    const ch = await (await fetch(`/v1/approvals/${a}/challenge`, { method: 'POST', headers, body: JSON.stringify({ decision: 'approve' }) })).json();
    const cred = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(ch.publicKey) });
    const res = await fetch(`/v1/approvals/${b}/approve`, { method: 'POST', headers, body: JSON.stringify({ signature: { ceremony: ch.ceremony, credential: cred.toJSON() } }) });
    return { status: res.status, body: await res.json() };
  }, { a: ids.spare, b: b.approvalId });
  assert.equal(r.status, 403);
  assert.equal(r.body.code, 'signature_invalid');
  assert.match(r.body.message, /not for approve/);
  ids.b = b.approvalId;
});

test('no session, a bad CSRF token and a cross-origin request are refused', async () => {
  const s = await session();
  const none = await http('POST', `/v1/approvals/${ids.b}/approve`, { body: {} });
  assert.equal(none.status, 401);
  assert.equal(none.json.code, 'operator_required');
  const badCsrf = await http('POST', `/v1/approvals/${ids.b}/approve`, { headers: { cookie: s.cookie, origin, 'x-csrf-token': 'x'.repeat(43) }, body: {} });
  assert.equal(badCsrf.status, 403);
  assert.equal(badCsrf.json.code, 'csrf_token_invalid');
  const crossOrigin = await http('POST', `/v1/approvals/${ids.b}/approve`, { headers: { cookie: s.cookie, origin: 'http://evil.example', 'x-csrf-token': s.csrf }, body: {} });
  assert.equal(crossOrigin.status, 403);
  assert.equal(crossOrigin.json.code, 'origin_mismatch');
  const unsigned = await http('POST', `/v1/approvals/${ids.b}/approve`, { headers: { cookie: s.cookie, origin, 'x-csrf-token': s.csrf }, body: {} });
  assert.equal(unsigned.status, 403);
  assert.equal(unsigned.json.code, 'signature_required');
});

test('too many sign-in attempts are refused', async () => {
  const codes = [];
  for (let i = 0; i < 7; i += 1) {
    codes.push((await http('POST', '/v1/operators/sign-in/start', { headers: { origin }, body: { name: 'mallory' } })).status);
  }
  assert.deepEqual(codes.slice(0, 5), [403, 403, 403, 403, 403]);
  assert.equal(codes[5], 429);
});

test('approval B is denied in the dashboard and the agent is denied', async () => {
  await page.goto(`${origin}/dashboard/approvals/${ids.b}`);
  const card = page.locator(`#approval-one [data-approval="${ids.b}"]`);
  await card.waitFor();
  await card.getByRole('button', { name: 'Deny' }).click();
  await page.getByText(`denied ${ids.b}`).waitFor();
  const retry = await verifyAsAgent({ env: 'production', service: 'b' });
  assert.equal(retry.decision, 'denied');
  assert.equal(retry.reason, 'approval_denied');
});

test('a grant revoked in the dashboard holds the agent again', async () => {
  const c = await verifyAsAgent({ env: 'production', service: 'c' });
  await page.goto(`${origin}/dashboard`);
  const card = page.locator(`#pending-list [data-approval="${c.approvalId}"]`);
  await card.waitFor();
  await card.locator('select').selectOption('1h');
  await card.getByRole('button', { name: 'Approve with passkey' }).click();
  await page.getByText(`approved ${c.approvalId}`).waitFor();
  const allowed = await verifyAsAgent({ env: 'production', service: 'c' });
  assert.equal(allowed.reason, 'approved');
  await page.getByRole('link', { name: /Grants/ }).click();
  const grant = page.locator(`#grants-list [data-grant="${allowed.grantId}"]`);
  await grant.waitFor();
  assert.match(await grant.locator('.left').textContent(), /^(59|60):\d\d$/);
  await page.screenshot({ path: join(SHOTS, 'grants-desktop.png'), fullPage: true });
  await grant.getByRole('button', { name: 'Revoke' }).click();
  await page.getByText(`revoked ${allowed.grantId}`).waitFor();
  const held = await verifyAsAgent({ env: 'production', service: 'c' });
  assert.equal(held.decision, 'approval_required');
});

test('an operator API token approves as its operator and is never an agent key', async () => {
  await page.goto(`${origin}/dashboard/operators`);
  await page.getByLabel('Label').fill('chat-bot');
  await page.getByRole('button', { name: 'Create token' }).click();
  await page.locator('#token-new:not([hidden])').waitFor();
  const token = (await page.locator('#token-new').textContent()).split(' ')[0];
  assert.match(token, /^bho_[A-Za-z0-9]{43}$/);
  const asAgentKey = await http('POST', '/v1/verify', { headers: { authorization: `Bearer ${token}` }, body: { agentId: AGENT, action: 'deploy', vendor: 'vercel.com' } });
  assert.equal(asAgentKey.status, 401);
  const d = await verifyAsAgent({ env: 'production', service: 'bot' });
  const ok = await http('POST', `/v1/approvals/${d.approvalId}/approve`, { headers: { authorization: `Bearer ${token}` }, body: { ttl: '10m' } });
  assert.equal(ok.status, 200, ok.text);
  const { records } = (await http('GET', '/v1/audit?after=0&limit=500', { headers: { authorization: `Bearer ${token}` } })).json;
  const granted = records.find((r) => r.event === 'approval.granted' && r.approvalId === d.approvalId);
  assert.equal(granted.operator.via, 'token');
  assert.equal(granted.operator.name, 'alice');
  assert.match(granted.operator.tokenId, /^tok_/);
  const mint = await http('POST', '/v1/operators/tokens', { headers: { authorization: `Bearer ${token}` }, body: { label: 'more' } });
  assert.equal(mint.status, 403);
});

test('an agent with its own key and a shell cannot approve itself', async () => {
  const held = await verifyAsAgent({ env: 'production', service: 'self' });
  const id = held.approvalId;
  const key = { authorization: `Bearer ${agentKey}` };
  const attempts = {
    'approve with the agent key': await http('POST', `/v1/approvals/${id}/approve`, { headers: key, body: {} }),
    'deny with the agent key': await http('POST', `/v1/approvals/${id}/deny`, { headers: key, body: {} }),
    'ask a signing challenge with the agent key': await http('POST', `/v1/approvals/${id}/challenge`, { headers: key, body: { decision: 'approve' } }),
    'make an operator token with the agent key': await http('POST', '/v1/operators/tokens', { headers: key, body: { label: 'me' } }),
    'list operators with the agent key': await http('GET', '/v1/operators', { headers: key }),
    'revoke a grant with the agent key': await http('DELETE', `/v1/grants/${ids.grantA}`, { headers: key }),
    'approve with no credentials (the dashboard endpoint)': await http('POST', `/v1/approvals/${id}/approve`, { headers: { origin }, body: {} }),
    'ask a challenge with no session': await http('POST', `/v1/approvals/${id}/challenge`, { headers: { origin }, body: { decision: 'approve' } }),
    'approve with a forged session cookie': await http('POST', `/v1/approvals/${id}/approve`, { headers: { origin, cookie: `behalf_session=bhs_${'A'.repeat(43)}`, 'x-csrf-token': 'A'.repeat(43) }, body: {} }),
    'approve with the agent key as a session cookie': await http('POST', `/v1/approvals/${id}/approve`, { headers: { origin, cookie: `behalf_session=${agentKey}` }, body: {} }),
    'approve with a made-up operator token': await http('POST', `/v1/approvals/${id}/approve`, { headers: { authorization: `Bearer bho_${'B'.repeat(43)}` }, body: {} }),
    'enroll with a made-up link': await http('POST', '/v1/operators/enroll/start', { headers: { origin }, body: { token: `bhe_${'C'.repeat(43)}` } }),
  };
  for (const [what, r] of Object.entries(attempts)) {
    assert.ok([401, 403].includes(r.status), `${what}: ${r.status} ${r.text}`);
  }
  // The CLI from the agent's own shell and directory: its approvals are not the server's.
  const cli = behalf(['approvals', 'approve', id], { cwd: agentHome, env: { BEHALF_AGENT_KEY: agentKey } });
  assert.notEqual(cli.code, 0, `the CLI approved: ${cli.out}`);
  const still = await verifyAsAgent({ env: 'production', service: 'self' });
  assert.equal(still.decision, 'approval_required');
  assert.equal(still.approvalId, id);
});

test('the audit log shows its chain checked, and audit verify checks every signature', async () => {
  await page.goto(`${origin}/dashboard/audit`);
  await page.locator('#chain:not(.unknown), #chain:not(:has-text("checking"))').first().waitFor();
  await page.waitForFunction(() => !document.getElementById('chain').textContent.includes('checking'));
  assert.match(await page.locator('#chain').getAttribute('class'), /\bok\b/, await page.locator('#chain').textContent());
  assert.match(await page.locator('#chain').textContent(), /4 signed by operators/);
  await page.screenshot({ path: join(SHOTS, 'audit-desktop.png'), fullPage: true });
  const verify = behalf(['audit', 'verify', '--json']);
  assert.equal(verify.code, 0, verify.out);
  const report = JSON.parse(verify.out);
  assert.equal(report.ok, true);
  assert.equal(report.signedByOperators, 4);
  assert.equal(report.byOperatorTokens, 1);
});

test('the dashboard works at 375 px and by keyboard', async () => {
  await page.setViewportSize({ width: 375, height: 800 });
  await page.goto(`${origin}/dashboard`);
  await page.locator('#pending-list .item').first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  assert.equal(overflow, false, 'no horizontal scrolling at 375 px');
  await page.screenshot({ path: join(SHOTS, 'pending-375.png'), fullPage: true });
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.activeElement?.textContent?.trim());
  assert.ok(focused && focused.length > 0, 'Tab reaches the controls');
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('once the grant window has passed, the agent is held again', async () => {
  await page.goto('about:blank');
  await stopServer();
  await startServer({ BEHALF_NOW: new Date(Date.now() + 31 * 60_000).toISOString() });
  const retry = await verifyAsAgent({ env: 'production' });
  assert.equal(retry.decision, 'approval_required');
  assert.notEqual(retry.approvalId, ids.a);
  await page.goto(`${origin}/dashboard`);
  await page.locator(`#pending-list [data-approval="${retry.approvalId}"]`).waitFor();
});

test('every dashboard response carries a same-origin-only CSP', async () => {
  for (const path of ['/dashboard', '/dashboard/approvals/apr_x', '/dashboard/assets/dashboard.js']) {
    const r = await fetch(`${origin}${path}`);
    const csp = r.headers.get('content-security-policy');
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /connect-src 'self'/);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  }
  const html = readFileSync(join(ROOT, 'server/dashboard/index.html'), 'utf8');
  assert.doesNotMatch(html, /https?:\/\//, 'the page names no other origin');
});
