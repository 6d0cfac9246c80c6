// `behalf mcp proxy --url`: the official MCP TypeScript SDK client and the real
// server-filesystem behind a proxy that keeps no policy or state — the decisions are made by a
// `behalf serve` on another directory, with the agent's key. A held write names the dashboard
// link, is approved on the server's host, and the identical retry is forwarded; a dead server
// or a bad key denies every call, and nothing reaches the filesystem server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync, realpathSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { AGENT, BEHALF, POLICY, SERVER, textOf } from './helpers.mjs';
import { startServer } from '../../../server/tests/clients/server.mjs';

/** An agent's directory with no behalf.json or .behalf/ at all: only data for the server. */
function agentDir() {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'behalf-remote-agent-')));
  const data = join(dir, 'data');
  mkdirSync(join(data, 'secrets'), { recursive: true });
  writeFileSync(join(data, 'hello.txt'), 'hello from behalf\n');
  return { dir, data };
}

async function connect(agent, url, key) {
  const transport = new StdioClientTransport({
    command: BEHALF,
    args: ['mcp', 'proxy', '--url', url, '--agent', AGENT, '--server', 'filesystem', '--', process.execPath, SERVER, agent.data],
    cwd: agent.dir,
    env: { ...process.env, BEHALF_AGENT_KEY: key, BEHALF_TIMEOUT_MS: '1500' },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'behalf-remote-test', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

test('decisions, the held message with its dashboard link, approval on the server host, the retry', async () => {
  const server = await startServer(POLICY);
  const agent = agentDir();
  const key = server.key(AGENT);
  const client = await connect(agent, server.url, key);
  try {
    const read = await client.callTool({ name: 'read_text_file', arguments: { path: join(agent.data, 'hello.txt') } });
    assert.notEqual(read.isError, true, textOf(read));
    assert.match(textOf(read), /hello from behalf/);

    const secret = join(agent.data, 'secrets', 'key.txt');
    const blocked = await client.callTool({ name: 'write_file', arguments: { path: secret, content: 'x' } });
    assert.equal(blocked.isError, true);
    assert.match(textOf(blocked), /DENIED by behalf policy/);
    assert.equal(existsSync(secret), false);

    const notes = join(agent.data, 'notes.txt');
    const held = await client.callTool({ name: 'write_file', arguments: { path: notes, content: 'shipped\n' } });
    const text = textOf(held);
    assert.equal(held.isError, true);
    assert.ok(text.startsWith('APPROVAL REQUIRED — do not execute this action.'), text);
    const id = text.match(/Approval ID: (apr_[A-Za-z0-9]+)/)?.[1];
    assert.ok(id, text);
    assert.ok(text.includes(`Approve at: ${server.url}/dashboard/approvals/${id}`), text);
    assert.equal(existsSync(notes), false, 'a held write is not executed');

    server.approve(id);
    const retry = await client.callTool({ name: 'write_file', arguments: { path: notes, content: 'shipped\n' } });
    assert.notEqual(retry.isError, true, textOf(retry));
    assert.equal(readFileSync(notes, 'utf8'), 'shipped\n');

    // The server recorded every decision; the agent's directory holds no state of behalf's.
    const audit = JSON.parse(await (await fetch(`${server.url}/v1/audit?after=0`, { headers: { authorization: `Bearer ${key}` } })).text());
    const reasons = audit.records.filter((r) => r.event === 'decision').map((r) => r.reason);
    assert.deepEqual(reasons, ['allowed', 'blocked', 'requires_approval', 'approved']);
    assert.deepEqual(readdirSync(agent.dir).sort(), ['data']);
  } finally {
    await client.close();
    await server.stop();
  }
});

test('a dead server and an unknown key deny every call; nothing is forwarded', async () => {
  const server = await startServer(POLICY);
  const agent = agentDir();
  const key = server.key(AGENT);
  const notes = join(agent.data, 'notes.txt');
  const stranger = await connect(agent, server.url, `bhk_${'a'.repeat(43)}`);
  try {
    const r = await stranger.callTool({ name: 'read_text_file', arguments: { path: join(agent.data, 'hello.txt') } });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /internal_error.*401 unknown_key/s);
  } finally {
    await stranger.close();
  }
  const client = await connect(agent, server.url, key);
  try {
    await server.stop();
    const r = await client.callTool({ name: 'write_file', arguments: { path: notes, content: 'x' } });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /DENIED by behalf policy/);
    assert.match(textOf(r), /cannot reach the behalf server/);
    assert.equal(existsSync(notes), false);
  } finally {
    await client.close();
  }
});

test('mcp init --url wraps servers with the server address and the key from the environment', async () => {
  const agent = agentDir();
  const { execFileSync } = await import('node:child_process');
  execFileSync(BEHALF, ['mcp', 'init', '--url', 'http://127.0.0.1:7777', '--agent', AGENT, '--server', 'filesystem', '--', 'npx', '-y', '@modelcontextprotocol/server-filesystem', './data'], { cwd: agent.dir });
  const doc = JSON.parse(readFileSync(join(agent.dir, '.mcp.json'), 'utf8'));
  const fs = doc.mcpServers.filesystem;
  assert.deepEqual(fs.args.slice(0, 8), ['mcp', 'proxy', '--url', 'http://127.0.0.1:7777', '--agent', AGENT, '--server', 'filesystem']);
  assert.deepEqual(fs.env, { BEHALF_AGENT_KEY: '${BEHALF_AGENT_KEY}' });
  assert.equal(doc.mcpServers.behalf, undefined, 'no local mcp serve without a local state');
  assert.ok(!existsSync(join(agent.dir, 'behalf.json')));
});
