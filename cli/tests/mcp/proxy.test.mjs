// The official MCP TypeScript SDK client and the real server-filesystem behind `behalf mcp
// proxy`: allowed reads pass, blocked writes never reach the server, approval-required writes
// are held until `behalf approvals approve`, and are held again after the grant window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { AGENT, BEHALF, T0, behalf, makeProject, proxyArgs, textOf } from './helpers.mjs';

async function connect(project, now, extra = []) {
  const args = proxyArgs(project);
  args.splice(2, 0, ...extra);
  const transport = new StdioClientTransport({
    command: BEHALF, args, cwd: project.dir,
    env: { ...process.env, BEHALF_NOW: now }, stderr: 'pipe',
  });
  const client = new Client({ name: 'behalf-test', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

test('allowed read, blocked write, approval round trip, and a held retry after the grant window', async () => {
  const project = makeProject();
  const notes = join(project.data, 'notes.txt');
  const secret = join(project.data, 'secrets', 'key.txt');
  let client = await connect(project, T0);
  try {
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'write_file'), 'tools/list passes through');

    const read = await client.callTool({ name: 'read_text_file', arguments: { path: join(project.data, 'hello.txt') } });
    assert.notEqual(read.isError, true, textOf(read));
    assert.match(textOf(read), /hello from behalf/);

    const blocked = await client.callTool({ name: 'write_file', arguments: { path: secret, content: 'stolen' } });
    assert.equal(blocked.isError, true);
    assert.match(textOf(blocked), /DENIED by behalf policy/);
    assert.match(textOf(blocked), /must not be retried/);
    assert.match(textOf(blocked), /Request ID: req_[A-Za-z0-9]+/);
    assert.equal(existsSync(secret), false, 'a blocked write never reaches the server');

    const held = await client.callTool({ name: 'write_file', arguments: { path: notes, content: 'shipped\n' } });
    assert.equal(held.isError, true);
    const heldText = textOf(held);
    assert.ok(heldText.startsWith('APPROVAL REQUIRED — do not execute this action.'), heldText);
    const approvalId = heldText.match(/Approval ID: (apr_[A-Za-z0-9]+)/)?.[1];
    assert.ok(approvalId, heldText);
    assert.match(heldText, new RegExp(`behalf approvals approve ${approvalId}`));
    assert.equal(existsSync(notes), false, 'a held write is not executed');

    const stillThere = await client.callTool({ name: 'read_text_file', arguments: { path: join(project.data, 'hello.txt') } });
    assert.notEqual(stillThere.isError, true, 'the session survives a denial');

    const approved = behalf(project, ['approvals', 'approve', approvalId]);
    assert.equal(approved.code, 0, approved.stderr);

    const retried = await client.callTool({ name: 'write_file', arguments: { path: notes, content: 'shipped\n' } });
    assert.notEqual(retried.isError, true, textOf(retried));
    assert.equal(readFileSync(notes, 'utf8'), 'shipped\n');
  } finally {
    await client.close();
  }

  // 11 minutes later the 10-minute grant has ended: the same write is held again.
  rmSync(notes);
  client = await connect(project, '2026-11-26T11:11:00Z');
  try {
    const again = await client.callTool({ name: 'write_file', arguments: { path: notes, content: 'shipped\n' } });
    assert.equal(again.isError, true);
    assert.ok(textOf(again).startsWith('APPROVAL REQUIRED'), textOf(again));
    assert.equal(existsSync(notes), false);
  } finally {
    await client.close();
  }

  const audit = behalf(project, ['audit', 'verify']);
  assert.equal(audit.code, 0, audit.stdout + audit.stderr);
  const records = behalf(project, ['audit', 'export', '--format', 'jsonl']).stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(records.map((r) => r.event).filter((e) => e !== 'decision'), ['approval.granted']);
  assert.ok(records.some((r) => r.reason === 'blocked' && r.action === 'write_file'));
});

test('--hide-blocked leaves tools that are blocked outright out of tools/list', async () => {
  const project = makeProject();
  const policy = JSON.parse(readFileSync(join(project.dir, 'behalf.json'), 'utf8'));
  policy.passports[0].permissions.push({ id: 'no_moves', action: 'move_file', vendor: 'filesystem', effect: 'block' });
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(project.dir, 'behalf.json'), JSON.stringify(policy));
  const client = await connect(project, T0, ['--hide-blocked']);
  try {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    assert.ok(!names.includes('move_file'), names.join(','));
    assert.ok(names.includes('read_text_file'));
  } finally {
    await client.close();
  }
});

/** A raw stdio session with the proxy, for frames the SDK would never send. */
function raw(project) {
  const child = spawn(BEHALF, proxyArgs(project), { cwd: project.dir, env: { ...process.env, BEHALF_NOW: T0 }, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const queue = [];
  const waiters = [];
  lines.on('line', (l) => { const m = JSON.parse(l); const w = waiters.shift(); if (w) w(m); else queue.push(m); });
  return {
    send: (text) => child.stdin.write(text + '\n'),
    next: () => new Promise((res) => { const m = queue.shift(); if (m) res(m); else waiters.push(res); }),
    close: () => new Promise((res) => { child.on('exit', res); child.stdin.end(); }),
  };
}

test('malformed frames, unknown methods and batches never forward anything unsafe', async () => {
  const project = makeProject();
  const s = raw(project);
  try {
    s.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }));
    const init = await s.next();
    assert.equal(init.id, 1);
    assert.ok(init.result.serverInfo, JSON.stringify(init));
    s.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));

    s.send('{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "write_file", "arguments": {"path": ');
    const parse = await s.next();
    assert.equal(parse.error.code, -32700);

    s.send(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'debug/exec', params: { cmd: 'rm -rf /' } }));
    const unknown = await s.next();
    assert.equal(unknown.id, 3);
    assert.equal(unknown.error.code, -32601);

    const secret = join(project.data, 'secrets', 'batch.txt');
    const held = join(project.data, 'held.txt');
    s.send(JSON.stringify([
      { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'write_file', arguments: { path: secret, content: 'x' } } },
      { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'write_file', arguments: { path: held, content: 'x' } } },
    ]));
    const answers = await s.next();
    assert.ok(Array.isArray(answers), JSON.stringify(answers));
    const byId = Object.fromEntries(answers.map((a) => [a.id, a]));
    assert.equal(byId[4].result.isError, true);
    assert.match(byId[4].result.content[0].text, /DENIED/);
    assert.equal(byId[5].result.isError, true);
    assert.match(byId[5].result.content[0].text, /^APPROVAL REQUIRED/);

    s.send(JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'write_file', arguments: { content: 'no path' } } }));
    const unmapped = await s.next();
    assert.equal(unmapped.result.isError, true, 'a call the map cannot resolve is denied');

    s.send(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'read_text_file', arguments: { path: join(project.data, 'hello.txt') } } }));
    const read = await s.next();
    assert.equal(read.id, 7);
    assert.notEqual(read.result.isError, true, JSON.stringify(read));
    assert.equal(existsSync(secret), false);
    assert.equal(existsSync(held), false);
  } finally {
    await s.close();
  }
});

test('behalf mcp serve: verify_action holds, approval_status follows the approval', async () => {
  const project = makeProject();
  const transport = new StdioClientTransport({
    command: BEHALF, args: ['mcp', 'serve', '--agent', AGENT], cwd: project.dir,
    env: { ...process.env, BEHALF_NOW: T0 }, stderr: 'pipe',
  });
  const client = new Client({ name: 'behalf-test', version: '1.0.0' });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['approval_status', 'verify_action']);
    const args = { action: 'write_file', vendor: 'filesystem', params: { path: '/tmp/x' } };
    const first = await client.callTool({ name: 'verify_action', arguments: args });
    assert.equal(first.structuredContent.decision, 'approval_required');
    assert.ok(textOf(first).startsWith('APPROVAL REQUIRED — do not execute this action.'));
    const id = first.structuredContent.approvalId;
    const pending = await client.callTool({ name: 'approval_status', arguments: { approvalId: id } });
    assert.equal(pending.structuredContent.status, 'pending');
    assert.equal(behalf(project, ['approvals', 'approve', id]).code, 0);
    const status = await client.callTool({ name: 'approval_status', arguments: { approvalId: id } });
    assert.equal(status.structuredContent.status, 'approved');
    const second = await client.callTool({ name: 'verify_action', arguments: args });
    assert.equal(second.structuredContent.allowed, true);
    assert.equal(second.structuredContent.reason, 'approved');
    const blocked = await client.callTool({ name: 'verify_action', arguments: { action: 'read_text_file', vendor: 'filesystem', resource: 'data/secrets/key' } });
    assert.equal(blocked.structuredContent.reason, 'blocked');
  } finally {
    await client.close();
  }
});
