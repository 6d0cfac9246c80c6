// Attacks on `behalf mcp proxy --server filesystem` in front of the real server-filesystem,
// through the official TypeScript SDK client: every tool against blocked directories by every
// spelling, symlinks, Unicode look-alikes, decoys, unmapped and undeclared arguments. Each
// attack asserts that no byte of a blocked file's content or name reaches the client and that
// nothing on disk changed; allowed controls prove the proxy is not simply denying everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { AGENT, BEHALF, SERVER, T0, behalf, textOf } from './helpers.mjs';
import { mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';

const SECRET = `s3cr3t-${Math.random().toString(36).slice(2)}`;
const HIDDEN_NAME = `hidden-name-${Math.random().toString(36).slice(2)}.txt`;
const CAFE = 'caf\u00e9';
const KVAULT = 'Kvault';

const POLICY = {
  version: 1,
  passports: [{
    id: 'passport_claude',
    agent: AGENT,
    permissions: [
      { id: 'fs_work', action: ['read_*', 'list_*', 'get_file_info', 'directory_tree', 'search_files', 'write_file',
        'edit_file', 'create_directory', 'move_file'], vendor: 'filesystem' },
      { id: 'fs_no_secrets', action: '*', vendor: 'filesystem', resource: ['**/secrets/**', `**/${CAFE}/**`, `**/${KVAULT}/**`], effect: 'block' },
    ],
  }],
};

/** data/ with allowed files, three blocked directories, and symlinks into one of them. */
function makeTree() {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'behalf-attack-')));
  writeFileSync(join(dir, 'behalf.json'), JSON.stringify(POLICY, null, 2));
  const data = join(dir, 'data');
  for (const d of ['secrets', CAFE, KVAULT, 'sub', 'public']) mkdirSync(join(data, d), { recursive: true });
  writeFileSync(join(data, 'hello.txt'), 'hello from behalf\n');
  writeFileSync(join(data, 'public', 'notes.txt'), 'public notes\n');
  writeFileSync(join(data, 'secrets', 'key.txt'), `${SECRET}\n`);
  writeFileSync(join(data, 'secrets', HIDDEN_NAME), `${SECRET} too\n`);
  writeFileSync(join(data, CAFE, 'menu.txt'), `${SECRET} cafe\n`);
  writeFileSync(join(data, KVAULT, 'k.txt'), `${SECRET} kvault\n`);
  symlinkSync(join(data, 'secrets'), join(data, 'link-dir'));
  symlinkSync(join(data, 'secrets', 'key.txt'), join(data, 'link-file'));
  symlinkSync(join(data, 'secrets'), join(data, 'public', 'deep-link'));
  return { dir, data };
}

/** Everything under data/secrets (and the other blocked dirs), to prove nothing changed. */
function snapshot(data) {
  const out = {};
  for (const d of ['secrets', CAFE, KVAULT]) {
    for (const f of readdirSync(join(data, d)).sort()) out[`${d}/${f}`] = readFileSync(join(data, d, f), 'utf8');
  }
  return out;
}

async function connect(project, server = 'filesystem', extra = []) {
  const transport = new StdioClientTransport({
    command: BEHALF,
    args: ['mcp', 'proxy', '--agent', AGENT, '--server', server, ...extra, '--', process.execPath, SERVER, project.data],
    cwd: project.dir, env: { ...process.env, BEHALF_NOW: T0 }, stderr: 'pipe',
  });
  const client = new Client({ name: 'behalf-attack', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

/** A tools/call whose whole answer is returned as text, errors included. */
async function call(client, name, args) {
  try {
    const result = await client.callTool({ name, arguments: args });
    return { isError: result.isError === true, text: JSON.stringify(result), result };
  } catch (e) {
    return { isError: true, text: String(e?.message ?? e), result: null };
  }
}

function assertNoLeak(r, label, args = {}) {
  assert.ok(!r.text.includes(SECRET), `${label}: secret content reached the client: ${r.text.slice(0, 400)}`);
  if (!JSON.stringify(args).includes(HIDDEN_NAME)) {
    assert.ok(!r.text.includes(HIDDEN_NAME), `${label}: a blocked file's name reached the client: ${r.text.slice(0, 400)}`);
  }
}

test('filesystem: every tool, every spelling of a blocked path, symlinks and look-alikes are refused', async () => {
  const project = makeTree();
  const { data } = project;
  const before = snapshot(data);
  const base = basename(data);
  const client = await connect(project);
  const tried = [];
  try {
    // Allowed controls first: a proxy that denies everything fails here.
    for (const p of [join(data, 'hello.txt'), 'hello.txt', './hello.txt', `${data}//hello.txt`, `${data}/sub/../hello.txt`]) {
      const ok = await call(client, 'read_text_file', { path: p });
      assert.equal(ok.isError, false, `allowed read of ${p}: ${ok.text}`);
      assert.match(ok.text, /hello from behalf/);
    }
    const many = await call(client, 'read_multiple_files', { paths: [join(data, 'hello.txt'), join(data, 'public', 'notes.txt')] });
    assert.equal(many.isError, false, many.text);
    assert.match(many.text, /public notes/);

    const file = (p) => p; // readability below
    const blockedFiles = [
      join(data, 'secrets', 'key.txt'),
      `${data}//secrets//key.txt`,
      `${data}/./secrets/./key.txt`,
      `${data}/sub/../secrets/key.txt`,
      `${data}/nothing-here/../secrets/key.txt`,
      `${data}/../${base}/secrets/key.txt`,
      `${data}/secrets/key.txt/`,
      'secrets/key.txt',
      './secrets/key.txt',
      'sub/../secrets/key.txt',
      `${data}/%2e%2e/${base}/secrets/key.txt`,
      `${data}/secrets/%6bey.txt`,
      `${data}/SECRETS/key.txt`,
      `${data}/Secrets/key.txt`,
      join(data, 'link-file'),
      join(data, 'link-dir', 'key.txt'),
      join(data, 'public', 'deep-link', 'key.txt'),
      'link-dir/key.txt',
      `${data}/cafe\u0301/menu.txt`,
      `${data}/${CAFE}/menu.txt`,
      `${data}/\u212Avault/k.txt`,
      `${data}/${KVAULT}/k.txt`,
    ].map(file);
    for (const tool of ['read_text_file', 'read_file']) {
      for (const p of blockedFiles) {
        const r = await call(client, tool, { path: p });
        assert.equal(r.isError, true, `${tool} ${p} was not refused: ${r.text.slice(0, 300)}`);
        assertNoLeak(r, `${tool} ${p}`, { path: p });
        tried.push(`${tool} ${p}`);
      }
    }
    for (const p of [join(data, 'secrets', 'key.txt'), join(data, 'link-file'), `${data}/\u212Avault/k.txt`]) {
      for (const tool of ['read_media_file', 'get_file_info']) {
        const r = await call(client, tool, { path: p });
        assert.equal(r.isError, true, `${tool} ${p}: ${r.text.slice(0, 300)}`);
        assertNoLeak(r, `${tool} ${p}`, { path: p });
        tried.push(`${tool} ${p}`);
      }
    }

    // The reported attack: a decoy `path` next to the `paths` the server reads.
    const decoy = await call(client, 'read_multiple_files', { path: join(data, 'hello.txt'), paths: [join(data, 'secrets', 'key.txt')] });
    assert.equal(decoy.isError, true, decoy.text);
    assert.match(decoy.text, /not declared/);
    assertNoLeak(decoy, 'decoy');
    for (const paths of [
      [join(data, 'hello.txt'), join(data, 'secrets', 'key.txt')],
      [join(data, 'link-file')],
      ['hello.txt', 'link-dir/key.txt'],
      [join(data, 'hello.txt'), `${data}/cafe\u0301/menu.txt`],
    ]) {
      const r = await call(client, 'read_multiple_files', { paths });
      assert.equal(r.isError, true, `read_multiple_files ${paths}: ${r.text.slice(0, 300)}`);
      assertNoLeak(r, `read_multiple_files ${paths}`, { paths });
      tried.push(`read_multiple_files ${paths.join(',')}`);
    }

    // Listings of a blocked directory, by every spelling, and through links.
    const blockedDirs = [
      join(data, 'secrets'), `${data}/secrets/`, `${data}//secrets`, `${data}/./secrets`, 'secrets', './secrets/',
      `${data}/sub/../secrets`, join(data, 'link-dir'), 'link-dir', join(data, 'public', 'deep-link'),
      `${data}/cafe\u0301`, `${data}/\u212Avault`,
    ];
    for (const tool of ['list_directory', 'list_directory_with_sizes', 'directory_tree']) {
      for (const p of blockedDirs) {
        const r = await call(client, tool, { path: p });
        assert.equal(r.isError, true, `${tool} ${p}: ${r.text.slice(0, 300)}`);
        assertNoLeak(r, `${tool} ${p}`);
        tried.push(`${tool} ${p}`);
      }
    }
    for (const p of [join(data, 'secrets'), 'link-dir', `${data}/\u212Avault`]) {
      const r = await call(client, 'search_files', { path: p, pattern: '**/*' });
      assert.equal(r.isError, true, `search_files ${p}: ${r.text.slice(0, 300)}`);
      assertNoLeak(r, `search_files ${p}`);
      tried.push(`search_files ${p}`);
    }

    // Listings of an allowed directory: blocked entries (and links into them) are filtered out.
    const list = await call(client, 'list_directory', { path: data });
    assert.equal(list.isError, false, list.text);
    assert.match(list.text, /hello\.txt/);
    for (const hidden of ['secrets', 'link-dir', 'link-file', CAFE, KVAULT]) {
      assert.ok(!textOf(list.result).includes(hidden), `list_directory shows ${hidden}: ${textOf(list.result)}`);
      assert.ok(!list.result.structuredContent.content.includes(hidden), `structuredContent shows ${hidden}`);
    }
    const sized = await call(client, 'list_directory_with_sizes', { path: data });
    assert.equal(sized.isError, false, sized.text);
    assert.match(sized.text, /hello\.txt/);
    assert.ok(!textOf(sized.result).includes('secrets') && !textOf(sized.result).includes('link-file'), textOf(sized.result));
    const tree = await call(client, 'directory_tree', { path: data });
    assert.equal(tree.isError, false, tree.text);
    assert.match(tree.text, /notes\.txt/);
    assertNoLeak(tree, 'directory_tree data');
    assert.ok(!tree.text.includes('key.txt') && !tree.text.includes('deep-link') && !tree.text.includes(CAFE), tree.text);
    for (const pattern of ['**/*', '**/*.txt', '**/key*', '*']) {
      const found = await call(client, 'search_files', { path: data, pattern });
      assert.equal(found.isError, false, found.text);
      assertNoLeak(found, `search ${pattern}`);
      assert.ok(!found.text.includes('key.txt') && !found.text.includes('menu.txt') && !found.text.includes('k.txt'), `search ${pattern}: ${found.text}`);
      tried.push(`search_files ${data} ${pattern} (filtered)`);
    }
    const searchHello = await call(client, 'search_files', { path: data, pattern: '**/hello*' });
    assert.match(searchHello.text, /hello\.txt/, 'search still finds allowed files');
    const treeExclude = await call(client, 'directory_tree', { path: data, excludePatterns: ['public'] });
    assertNoLeak(treeExclude, 'tree with excludes');

    // Writes, edits, directories and moves into, out of and through blocked paths.
    const writes = [
      ['write_file', { path: join(data, 'secrets', 'new.txt'), content: 'x' }],
      ['write_file', { path: join(data, 'secrets', 'key.txt'), content: 'overwritten' }],
      ['write_file', { path: 'link-dir/new.txt', content: 'x' }],
      ['write_file', { path: join(data, 'link-file'), content: 'overwritten' }],
      ['write_file', { path: `${data}/sub/../secrets/new2.txt`, content: 'x' }],
      ['write_file', { path: `${data}/\u212Avault/new.txt`, content: 'x' }],
      ['write_file', { path: `${data}/cafe\u0301/new.txt`, content: 'x' }],
      ['edit_file', { path: join(data, 'secrets', 'key.txt'), edits: [{ oldText: SECRET, newText: 'gone' }] }],
      ['edit_file', { path: 'link-file', edits: [{ oldText: 's', newText: 'z' }], dryRun: true }],
      ['create_directory', { path: join(data, 'secrets', 'made') }],
      ['create_directory', { path: 'link-dir/made/deeper' }],
      ['move_file', { source: join(data, 'secrets', 'key.txt'), destination: join(data, 'public', 'stolen.txt') }],
      ['move_file', { source: join(data, 'link-file'), destination: join(data, 'public', 'stolen-link.txt') }],
      ['move_file', { source: join(data, 'secrets', HIDDEN_NAME), destination: join(data, 'stolen2.txt') }],
      ['move_file', { source: join(data, 'hello.txt'), destination: join(data, 'secrets', 'planted.txt') }],
      ['move_file', { source: 'link-dir', destination: 'public/moved-dir' }],
      ['move_file', { source: join(data, 'secrets'), destination: join(data, 'public', 'all-secrets') }],
    ];
    for (const [tool, args] of writes) {
      const r = await call(client, tool, args);
      assert.equal(r.isError, true, `${tool} ${JSON.stringify(args)}: ${r.text.slice(0, 300)}`);
      assertNoLeak(r, `${tool} ${JSON.stringify(args)}`, args);
      tried.push(`${tool} ${JSON.stringify(args)}`);
    }
    assert.deepEqual(snapshot(data), before, 'nothing in the blocked directories was written, edited or moved');
    assert.ok(existsSync(join(data, 'hello.txt')), 'the allowed source of a refused move is still there');
    assert.ok(!existsSync(join(data, 'public', 'stolen.txt')) && !existsSync(join(data, 'stolen2.txt')));

    // Allowed writes and moves still work.
    const w = await call(client, 'write_file', { path: join(data, 'public', 'new.txt'), content: 'fresh\n' });
    assert.equal(w.isError, false, w.text);
    assert.equal(readFileSync(join(data, 'public', 'new.txt'), 'utf8'), 'fresh\n');
    const mv = await call(client, 'move_file', { source: join(data, 'public', 'new.txt'), destination: join(data, 'public', 'renamed.txt') });
    assert.equal(mv.isError, false, mv.text);
    assert.ok(existsSync(join(data, 'public', 'renamed.txt')));
    const made = await call(client, 'create_directory', { path: join(data, 'public', 'made') });
    assert.equal(made.isError, false, made.text);

    // Names: unlisted and case-variant tools, undeclared arguments, an unmapped path argument.
    for (const name of ['Read_Text_File', 'READ_FILE', 'read_text_file ', 'copy_file', 'exec']) {
      const r = await call(client, name, { path: join(data, 'secrets', 'key.txt') });
      assert.equal(r.isError, true, `${name}: ${r.text}`);
      assert.match(r.text, /did not list a tool/);
      assertNoLeak(r, name);
      tried.push(`unlisted tool ${name}`);
    }
    const extra = await call(client, 'read_text_file', { path: join(data, 'hello.txt'), file: join(data, 'secrets', 'key.txt') });
    assert.equal(extra.isError, true);
    assert.match(extra.text, /`file` is not declared/);
    tried.push('undeclared argument next to an allowed path');
    assert.equal(tried.length >= 46, true, `only ${tried.length} attacks`);
  } finally {
    await client.close();
  }
  assert.deepEqual(snapshot(data), before);
  const audit = behalf(project, ['audit', 'verify']);
  assert.equal(audit.code, 0, audit.stdout + audit.stderr);
  const records = behalf(project, ['audit', 'export', '--format', 'jsonl']).stdout.trim().split('\n').map((l) => JSON.parse(l));
  const moves = records.filter((r) => r.action === 'move_file' && r.reason === 'blocked');
  assert.ok(moves.length >= 4, 'each blocked move is audited');
  console.log(`filesystem attacks tried: ${tried.length}`);
});

test('a server without a profile: path arguments are unmapped, so its calls are denied and say how to fix it', async () => {
  const project = makeTree();
  const policy = JSON.parse(readFileSync(join(project.dir, 'behalf.json'), 'utf8'));
  policy.passports[0].permissions.push({ id: 'anything', action: '*', vendor: 'custom' });
  writeFileSync(join(project.dir, 'behalf.json'), JSON.stringify(policy));
  const client = await connect(project, 'custom');
  try {
    const r = await call(client, 'read_text_file', { path: join(project.data, 'secrets', 'key.txt') });
    assert.equal(r.isError, true, r.text);
    assert.match(r.text, /argument `path` of `read_text_file` names a file or URL/);
    assert.match(r.text, /--profile/);
    assertNoLeak(r, 'unmapped');
    const none = await call(client, 'list_allowed_directories', {});
    assert.equal(none.isError, false, 'a tool that names no resource still runs: ' + none.text);
  } finally {
    await client.close();
  }
  // The same server with a profile file of one's own, extending the built-in one.
  writeFileSync(join(project.dir, 'mine.profile.json'), JSON.stringify({ extends: 'filesystem', vendor: 'filesystem' }));
  const mine = await connect(project, 'custom', ['--profile', 'mine.profile.json']);
  try {
    const ok = await call(mine, 'read_text_file', { path: join(project.data, 'hello.txt') });
    assert.equal(ok.isError, false, ok.text);
    const r = await call(mine, 'read_text_file', { path: join(project.data, 'link-file') });
    assert.equal(r.isError, true);
    assertNoLeak(r, 'user profile');
  } finally {
    await mine.close();
  }
});

test("behalf's own policy, state and .mcp.json are blocked unless a permission names them", async () => {
  const project = makeTree();
  writeFileSync(join(project.dir, '.mcp.json'), '{"mcpServers": {}}\n');
  mkdirSync(join(project.dir, '.behalf'), { recursive: true });
  const transport = new StdioClientTransport({
    command: BEHALF,
    args: ['mcp', 'proxy', '--agent', AGENT, '--server', 'filesystem', '--', process.execPath, SERVER, project.dir],
    cwd: project.dir, env: { ...process.env, BEHALF_NOW: T0 }, stderr: 'pipe',
  });
  const client = new Client({ name: 'behalf-self', version: '1.0.0' });
  await client.connect(transport);
  try {
    for (const p of ['behalf.json', join(project.dir, 'behalf.json'), '.mcp.json', '.behalf/state.db', './data/../behalf.json']) {
      const r = await call(client, 'read_text_file', { path: p });
      assert.equal(r.isError, true, `${p}: ${r.text.slice(0, 200)}`);
      assert.ok(!r.text.includes('passport_claude'), `${p}: the policy reached the client`);
    }
    const w = await call(client, 'write_file', { path: 'behalf.json', content: '{"version":1,"passports":[]}' });
    assert.equal(w.isError, true);
    const edit = await call(client, 'edit_file', { path: '.mcp.json', edits: [{ oldText: '{}', newText: '{"x":1}' }] });
    assert.equal(edit.isError, true);
    assert.equal(readFileSync(join(project.dir, '.mcp.json'), 'utf8'), '{"mcpServers": {}}\n');
    assert.match(readFileSync(join(project.dir, 'behalf.json'), 'utf8'), /passport_claude/);
    const list = await call(client, 'list_directory', { path: project.dir });
    assert.equal(list.isError, false, list.text);
    assert.match(textOf(list.result), /data/);
    for (const name of ['behalf.json', '.behalf', '.mcp.json']) assert.ok(!textOf(list.result).includes(name), textOf(list.result));
    const ok = await call(client, 'read_text_file', { path: 'data/hello.txt' });
    assert.equal(ok.isError, false, ok.text);
  } finally {
    await client.close();
  }
  // A permission that names .mcp.json explicitly lets the agent read it.
  const policy = JSON.parse(readFileSync(join(project.dir, 'behalf.json'), 'utf8'));
  policy.passports[0].permissions.push({ id: 'mcp_config', action: 'read_text_file', vendor: 'filesystem', resource: '**/.mcp.json' });
  writeFileSync(join(project.dir, 'behalf.json'), JSON.stringify(policy));
  const again = new Client({ name: 'behalf-self', version: '1.0.0' });
  await again.connect(new StdioClientTransport({
    command: BEHALF,
    args: ['mcp', 'proxy', '--agent', AGENT, '--server', 'filesystem', '--', process.execPath, SERVER, project.dir],
    cwd: project.dir, env: { ...process.env, BEHALF_NOW: T0 }, stderr: 'pipe',
  }));
  try {
    const r = await call(again, 'read_text_file', { path: '.mcp.json' });
    assert.equal(r.isError, false, r.text);
    assert.match(r.text, /mcpServers/);
    const still = await call(again, 'read_text_file', { path: 'behalf.json' });
    assert.equal(still.isError, true, 'behalf.json is still protected');
  } finally {
    await again.close();
  }
});

/** A raw stdio session with the proxy, for frames the SDK would never send. */
function raw(project, env = {}) {
  const child = spawn(BEHALF, ['mcp', 'proxy', '--agent', AGENT, '--server', 'filesystem', '--', process.execPath, SERVER, project.data],
    { cwd: project.dir, env: { ...process.env, BEHALF_NOW: T0, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = createInterface({ input: child.stdout });
  const queue = [];
  const waiters = [];
  lines.on('line', (l) => { const m = JSON.parse(l); const w = waiters.shift(); if (w) w(m); else queue.push(m); });
  child.stderr.on('data', () => {});
  return {
    child,
    send: (m) => child.stdin.write((typeof m === 'string' ? m : JSON.stringify(m)) + '\n'),
    next: () => new Promise((res) => { const m = queue.shift(); if (m) res(m); else waiters.push(res); }),
    close: () => new Promise((res) => { child.on('exit', res); child.stdin.end(); }),
  };
}

async function initialize(s, version) {
  s.send({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
  const init = await s.next();
  assert.equal(init.result.protocolVersion, version);
  s.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
}

test('batches follow the negotiated version; calls before tools/list are checked against the listed schemas', async () => {
  const project = makeTree();
  const s = raw(project);
  try {
    await initialize(s, '2025-06-18');
    // No tools/list yet: the proxy lists the tools itself, so the schema still applies.
    s.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'read_multiple_files', arguments: { path: 'hello.txt', paths: ['secrets/key.txt'] } } });
    const decoy = await s.next();
    assert.equal(decoy.id, 1);
    assert.equal(decoy.result.isError, true);
    assert.ok(!JSON.stringify(decoy).includes(SECRET));
    s.send([{ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'read_text_file', arguments: { path: 'hello.txt' } } }]);
    const batch = await s.next();
    assert.equal(batch.error.code, -32600, JSON.stringify(batch));
    assert.match(batch.error.message, /batches are not part of MCP protocol version 2025-06-18/);
    s.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'read_text_file', arguments: { path: 'hello.txt' } } });
    const ok = await s.next();
    assert.equal(ok.id, 3);
    assert.match(ok.result.content[0].text, /hello from behalf/);
    s.send({ jsonrpc: '2.0', id: 4, method: 'tasks/get', params: { taskId: 'not-ours' } });
    const task = await s.next();
    assert.equal(task.error.code, -32602);
    assert.match(task.error.message, /unknown task/);
  } finally {
    await s.close();
  }
});

test('a frame that repeats a key is refused, never forwarded: a last-wins and a first-wins reader must not disagree', async () => {
  const project = makeTree();
  const s = raw(project);
  try {
    await initialize(s, '2025-06-18');
    // `path` twice: the proxy would check one copy and a first-wins server could read the other.
    s.send('{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"read_text_file","arguments":{"path":"secrets/key.txt","path":"hello.txt"}}}');
    const refused = await s.next();
    assert.equal(refused.id, 7);
    assert.equal(refused.error.code, -32600, JSON.stringify(refused));
    assert.match(refused.error.message, /repeats the key at `params.arguments.path`/);
    assert.ok(!JSON.stringify(refused).includes(SECRET));
    // The same call without the repeat is decided as usual, so the refusal above was the key.
    s.send({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'read_text_file', arguments: { path: 'hello.txt' } } });
    const ok = await s.next();
    assert.equal(ok.id, 8);
    assert.match(ok.result.content[0].text, /hello from behalf/);
  } finally {
    await s.close();
  }
});

test('a ping is answered while a decision waits 3 s on a locked state database', async () => {
  const project = makeTree();
  const s = raw(project);
  try {
    await initialize(s, '2025-06-18');
    s.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'read_text_file', arguments: { path: 'hello.txt' } } });
    assert.match((await s.next()).result.content[0].text, /hello from behalf/);
    // Another process holds the write lock for 3 s.
    const locker = spawn('python3', ['-c', `import sqlite3,time,sys
c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(3); c.execute('COMMIT')`, join(project.dir, '.behalf', 'state.db')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lockerDone = new Promise((res) => locker.on('exit', res));
    await new Promise((res) => locker.stdout.once('data', res));
    const started = Date.now();
    s.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'read_text_file', arguments: { path: 'hello.txt' } } });
    await new Promise((r) => setTimeout(r, 100));
    const pingSent = process.hrtime.bigint();
    s.send({ jsonrpc: '2.0', id: 3, method: 'ping' });
    const first = await s.next();
    const pingMs = Number(process.hrtime.bigint() - pingSent) / 1e6;
    assert.equal(first.id, 3, `the ping must be answered before the held call: ${JSON.stringify(first)}`);
    assert.ok(pingMs < 100, `ping took ${pingMs} ms`);
    const held = await s.next();
    assert.equal(held.id, 2);
    assert.ok(Date.now() - started >= 2500, 'the call did wait for the lock');
    assert.match(held.result.content[0].text, /hello from behalf/, JSON.stringify(held));
    console.log(`ping latency while a decision waited on the locked database: ${pingMs.toFixed(1)} ms`);
    await lockerDone;
  } finally {
    await s.close();
  }
});

test('the state database removed or replaced mid-session: calls are denied until it is back, every allowed call recorded', async () => {
  const project = makeTree();
  const db = join(project.dir, '.behalf', 'state.db');
  const s = raw(project);
  const { renameSync, copyFileSync } = await import('node:fs');
  try {
    await initialize(s, '2025-06-18');
    const read = async (id) => {
      s.send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'read_text_file', arguments: { path: 'hello.txt' } } });
      return s.next();
    };
    assert.match((await read(1)).result.content[0].text, /hello from behalf/);
    copyFileSync(db, `${db}.saved`);
    renameSync(db, `${db}.away`);
    const gone = await read(2);
    assert.equal(gone.result.isError, true);
    assert.match(gone.result.content[0].text, /missing; calls are denied until it is back/);
    assert.ok(!gone.result.content[0].text.includes('hello from behalf'));
    // Back as another file (a restored copy): decisions resume on it and are recorded there.
    copyFileSync(`${db}.saved`, db);
    assert.match((await read(3)).result.content[0].text, /hello from behalf/);
  } finally {
    await s.close();
  }
  const records = behalf(project, ['audit', 'export', '--format', 'jsonl']).stdout.trim().split('\n').map((l) => JSON.parse(l));
  const allowed = records.filter((r) => r.decision === 'allowed' && r.action === 'read_text_file');
  // Call 1 is in the saved copy, call 3 was recorded in the restored file.
  assert.equal(allowed.length, 2, JSON.stringify(records));
  assert.equal(behalf(project, ['audit', 'verify']).code, 0);
});

test('bytes from the server that are not UTF-8 are relayed and the session goes on', async () => {
  const project = makeTree();
  // A file whose name is not UTF-8: the server's listing line carries the raw bytes.
  const { writeFileSync: w } = await import('node:fs');
  w(Buffer.concat([Buffer.from(join(project.data, 'public') + '/'), Buffer.from([0x66, 0xff, 0x2e, 0x74])]), 'x');
  const s = raw(project);
  try {
    await initialize(s, '2025-06-18');
    s.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'list_directory', arguments: { path: 'public' } } });
    const list = await s.next();
    assert.equal(list.id, 1);
    s.send({ jsonrpc: '2.0', id: 2, method: 'ping' });
    assert.deepEqual((await s.next()).result, {});
    s.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'read_text_file', arguments: { path: 'hello.txt' } } });
    assert.match((await s.next()).result.content[0].text, /hello from behalf/);
  } finally {
    await s.close();
  }
});

test('behalf mcp serve decides for its --agent only', async () => {
  const project = makeTree();
  const transport = new StdioClientTransport({
    command: BEHALF, args: ['mcp', 'serve', '--agent', AGENT], cwd: project.dir,
    env: { ...process.env, BEHALF_NOW: T0 }, stderr: 'pipe',
  });
  const client = new Client({ name: 'behalf-serve', version: '1.0.0' });
  await client.connect(transport);
  try {
    const other = await client.callTool({ name: 'verify_action', arguments: { agentId: 'agent_other', action: 'read_text_file', vendor: 'filesystem' } });
    assert.equal(other.isError, true);
    assert.match(textOf(other), /decides for agent `agent_claude_code` only/);
    const same = await client.callTool({ name: 'verify_action', arguments: { agentId: AGENT, action: 'read_text_file', vendor: 'filesystem' } });
    assert.equal(same.structuredContent.allowed, true, textOf(same));
    const implicit = await client.callTool({ name: 'verify_action', arguments: { action: 'read_text_file', vendor: 'filesystem' } });
    assert.equal(implicit.structuredContent.agentId, AGENT);
  } finally {
    await client.close();
  }
});
