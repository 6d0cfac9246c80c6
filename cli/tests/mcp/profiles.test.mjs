// The built-in profiles against the real reference servers: git and fetch (PyPI, from the
// venv setup-cli.sh makes) and memory (npm), each with blocked and allowed calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { AGENT, BEHALF, T0 } from './helpers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const VENV_BIN = resolve(here, '.venv/bin');
const MEMORY = resolve(here, 'node_modules/@modelcontextprotocol/server-memory/dist/index.js');

function project(permissions) {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'behalf-profile-')));
  writeFileSync(join(dir, 'behalf.json'), JSON.stringify({ version: 1, passports: [{ id: 'p', agent: AGENT, permissions }] }));
  return dir;
}

async function connect(dir, server, command, env = {}) {
  const client = new Client({ name: 'behalf-profiles', version: '1.0.0' });
  await client.connect(new StdioClientTransport({
    command: BEHALF, args: ['mcp', 'proxy', '--agent', AGENT, '--server', server, '--', ...command],
    cwd: dir, env: { ...process.env, BEHALF_NOW: T0, ...env }, stderr: 'pipe',
  }));
  return client;
}

const call = async (client, name, args) => {
  const r = await client.callTool({ name, arguments: args });
  return { isError: r.isError === true, text: JSON.stringify(r) };
};

test('git profile (mcp-server-git): the repository path is resolved and verified, files inside it too', async () => {
  const dir = project([
    { id: 'git', action: 'git_*', vendor: 'git' },
    { id: 'no_private', action: '*', vendor: 'git', resource: ['**/private/**'], effect: 'block' },
  ]);
  for (const repo of ['work', 'private']) {
    mkdirSync(join(dir, repo));
    execFileSync('git', ['init', '-q', join(dir, repo)]);
    writeFileSync(join(dir, repo, 'file.txt'), `${repo} content\n`);
  }
  symlinkSync(join(dir, 'private'), join(dir, 'alias'));
  const client = await connect(dir, 'git', [join(VENV_BIN, 'mcp-server-git')]);
  try {
    const ok = await call(client, 'git_status', { repo_path: join(dir, 'work') });
    assert.equal(ok.isError, false, ok.text);
    assert.match(ok.text, /file\.txt/);
    for (const repo_path of [join(dir, 'private'), join(dir, 'alias'), `${dir}/work/../private`, 'private', './alias/']) {
      const r = await call(client, 'git_status', { repo_path });
      assert.equal(r.isError, true, `${repo_path}: ${r.text}`);
      assert.match(r.text, /DENIED/);
    }
    const add = await call(client, 'git_add', { repo_path: join(dir, 'work'), files: ['file.txt', '../private/file.txt'] });
    assert.equal(add.isError, true, add.text);
    const addOk = await call(client, 'git_add', { repo_path: join(dir, 'work'), files: ['file.txt'] });
    assert.equal(addOk.isError, false, addOk.text);
    const log = await call(client, 'git_log', { repo_path: join(dir, 'private'), max_count: 1 });
    assert.equal(log.isError, true);
    const extra = await call(client, 'git_status', { repo_path: join(dir, 'work'), path: join(dir, 'private') });
    assert.equal(extra.isError, true);
    assert.match(extra.text, /not declared/);
  } finally {
    await client.close();
  }
});

test('fetch profile (mcp-server-fetch): the URL host is the vendor, for the tool and the prompt', async () => {
  const http = createServer((req, res) => {
    if (req.url === '/robots.txt') { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<html><body><p>page ${req.url}</p></body></html>`);
  });
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  const port = http.address().port;
  const dir = project([
    { id: 'fetch_local', action: 'fetch', vendor: '127.0.0.1' },
    { id: 'no_admin', action: 'fetch', vendor: '*', resource: 'admin/**', effect: 'block' },
  ]);
  const client = await connect(dir, 'fetch', [join(VENV_BIN, 'mcp-server-fetch')]);
  try {
    const ok = await call(client, 'fetch', { url: `http://127.0.0.1:${port}/docs/page` });
    assert.equal(ok.isError, false, ok.text);
    assert.match(ok.text, /page \/docs\/page/);
    for (const url of [`http://127.0.0.1:${port}/admin/keys`, `http://127.0.0.1:${port}//admin/keys`, 'http://example.com/',
      `http://example.com@127.0.0.1:${port}/docs`, `http://127.0.0.1:${port}\\@example.com/`, 'file:///etc/passwd']) {
      const r = await call(client, 'fetch', { url });
      assert.equal(r.isError, true, `${url}: ${r.text}`);
      assert.ok(!r.text.includes('page /admin'), url);
    }
    await assert.rejects(client.getPrompt({ name: 'fetch', arguments: { url: 'http://example.com/' } }), /DENIED/);
    const prompt = await client.getPrompt({ name: 'fetch', arguments: { url: `http://127.0.0.1:${port}/docs/p2` } });
    assert.match(JSON.stringify(prompt), /page \/docs\/p2/);
  } finally {
    await client.close();
    http.close();
  }
});

test('memory profile (server-memory): each entity a call names is verified', async () => {
  const dir = project([
    { id: 'memory', action: '*', vendor: 'memory' },
    { id: 'no_secret_entity', action: '*', vendor: 'memory', resource: 'entities/Secret*', effect: 'block' },
  ]);
  const client = await connect(dir, 'memory', [process.execPath, MEMORY], { MEMORY_FILE_PATH: join(dir, 'memory.jsonl') });
  try {
    const ok = await call(client, 'create_entities', { entities: [{ name: 'Public', entityType: 'note', observations: ['fine'] }] });
    assert.equal(ok.isError, false, ok.text);
    const mixed = await call(client, 'create_entities', { entities: [{ name: 'Other', entityType: 'note', observations: [] }, { name: 'SecretPlan', entityType: 'note', observations: ['x'] }] });
    assert.equal(mixed.isError, true, mixed.text);
    const rel = await call(client, 'create_relations', { relations: [{ from: 'Public', to: 'SecretPlan', relationType: 'knows' }] });
    assert.equal(rel.isError, true, rel.text);
    const open = await call(client, 'open_nodes', { names: ['Public', 'SecretPlan'] });
    assert.equal(open.isError, true, open.text);
    const del = await call(client, 'delete_entities', { entityNames: ['SecretPlan'] });
    assert.equal(del.isError, true, del.text);
    const graph = await call(client, 'read_graph', {});
    assert.equal(graph.isError, false, graph.text);
    assert.match(graph.text, /Public/);
    assert.ok(!graph.text.includes('Other'), 'a refused call created nothing');
  } finally {
    await client.close();
  }
});
