// server-everything behind `behalf mcp proxy --server everything`: resources, prompts and
// completions are gated (and resources embedded in any answer are checked), and with an
// allow-all policy a session through the proxy is the same session as without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema, CreateTaskResultSchema, GetTaskResultSchema, CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { AGENT, BEHALF, T0 } from './helpers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const EVERYTHING = resolve(here, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const BLOCKED_TEXT = 'Resource 2: This is a plaintext resource';

function project(permissions) {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'behalf-everything-')));
  writeFileSync(join(dir, 'behalf.json'), JSON.stringify({ version: 1, passports: [{ id: 'p', agent: AGENT, permissions }] }));
  return dir;
}

function transport(dir, viaProxy) {
  const server = [process.execPath, EVERYTHING, 'stdio'];
  const [command, ...args] = viaProxy ? [BEHALF, 'mcp', 'proxy', '--agent', AGENT, '--server', 'everything', '--', ...server] : server;
  // stderr is not read here; a pipe nobody drains would keep this test process alive.
  return new StdioClientTransport({ command, args, cwd: dir, env: { ...process.env, BEHALF_NOW: T0 }, stderr: 'ignore' });
}

test('everything: blocked resources stay out of reads, subscriptions, prompts, tool results and completions', async () => {
  const dir = project([
    { id: 'all', action: '*', vendor: 'everything' },
    { id: 'no_text_2', action: '*', vendor: 'everything', resource: ['demo/resource/dynamic/text/2', 'prompts/completable-prompt'], effect: 'block' },
  ]);
  const client = new Client({ name: 'behalf-everything', version: '1.0.0' });
  await client.connect(transport(dir, true));
  const leaks = (v) => JSON.stringify(v).includes(BLOCKED_TEXT);
  try {
    const one = await client.readResource({ uri: 'demo://resource/dynamic/text/1' });
    assert.match(JSON.stringify(one), /Resource 1/, 'an allowed resource is read');
    await assert.rejects(client.readResource({ uri: 'demo://resource/dynamic/text/2' }), /DENIED by behalf policy/);
    await assert.rejects(client.readResource({ uri: 'DEMO://resource//dynamic/text/2' }), /DENIED by behalf policy/);
    await assert.rejects(client.subscribeResource({ uri: 'demo://resource/dynamic/text/2' }), /DENIED/);
    await client.subscribeResource({ uri: 'demo://resource/dynamic/text/1' });
    await client.unsubscribeResource({ uri: 'demo://resource/dynamic/text/1' });

    // The reported attack: prompts/get returning a blocked resource embedded in its messages.
    const prompt = await client.getPrompt({ name: 'resource-prompt', arguments: { resourceType: 'Text', resourceId: '2' } });
    assert.ok(!leaks(prompt), JSON.stringify(prompt));
    assert.match(JSON.stringify(prompt), /behalf withheld a resource/);
    const allowedPrompt = await client.getPrompt({ name: 'resource-prompt', arguments: { resourceType: 'Text', resourceId: '1' } });
    assert.match(JSON.stringify(allowedPrompt), /Resource 1: This is a plaintext resource/);
    await assert.rejects(client.getPrompt({ name: 'completable-prompt', arguments: { department: 'Engineering', name: 'x' } }), /DENIED/);
    const simple = await client.getPrompt({ name: 'simple-prompt' });
    assert.ok(simple.messages.length > 0);

    const ref = await client.callTool({ name: 'get-resource-reference', arguments: { resourceType: 'Text', resourceId: 2 } });
    assert.ok(!leaks(ref), JSON.stringify(ref));
    const refOk = await client.callTool({ name: 'get-resource-reference', arguments: { resourceType: 'Text', resourceId: 1 } });
    assert.match(JSON.stringify(refOk), /Resource 1: This is a plaintext resource/);
    const links = await client.callTool({ name: 'get-resource-links', arguments: { count: 3 } });
    assert.ok(!JSON.stringify(links).includes('demo://resource/dynamic/text/2'), JSON.stringify(links));
    assert.ok(JSON.stringify(links).includes('demo://resource/dynamic/blob/1'));

    await assert.rejects(client.complete({ ref: { type: 'ref/prompt', name: 'completable-prompt' }, argument: { name: 'department', value: 'E' } }), /DENIED/);
    const done = await client.complete({ ref: { type: 'ref/resource', uri: 'demo://resource/dynamic/text/{resourceId}' }, argument: { name: 'resourceId', value: '1' } });
    assert.ok(Array.isArray(done.completion.values));

    const unlisted = await client.callTool({ name: 'Echo', arguments: { message: 'hi' } });
    assert.equal(unlisted.isError, true);
    const extra = await client.callTool({ name: 'echo', arguments: { message: 'hi', path: '/etc/passwd' } });
    assert.equal(extra.isError, true);
    const echo = await client.callTool({ name: 'echo', arguments: { message: 'hi' } });
    assert.match(JSON.stringify(echo), /Echo: hi/);
  } finally {
    await client.close();
  }
});

/** One scripted session; returns what the client sent and received, in order. */
async function session(dir, viaProxy) {
  const t = transport(dir, viaProxy);
  const log = [];
  const client = new Client({ name: 'behalf-transcript', version: '1.0.0' },
    { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } });
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', content: { type: 'text', text: 'sampled' }, model: 'test' }));
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'decline' }));
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: `file://${dir}`, name: 'project' }] }));
  const send = t.send.bind(t);
  t.send = (m, o) => { log.push(['out', m.method ?? 'response', m.id ?? null]); return send(m, o); };
  await client.connect(t);
  const onmessage = t.onmessage;
  t.onmessage = (m) => { log.push(['in', m.method ?? 'response', m.id ?? null]); onmessage(m); };
  const settle = () => new Promise((r) => setTimeout(r, 300));
  await settle();
  // The server asks for roots on a timer of its own after initialization: wait for it.
  for (let i = 0; i < 100 && !log.some((e) => e[1] === 'roots/list'); i++) await new Promise((r) => setTimeout(r, 50));
  await settle();
  await client.listTools();
  await client.listPrompts();
  await client.listResources();
  await client.listResourceTemplates();
  await client.callTool({ name: 'echo', arguments: { message: 'hi' } });
  await client.setLoggingLevel('debug');
  await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 2 } }, undefined, { onprogress: () => {} });
  await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hi', maxTokens: 5 } });
  await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
  await client.callTool({ name: 'get-roots-list', arguments: {} });
  await client.subscribeResource({ uri: 'demo://resource/dynamic/text/1' });
  await client.unsubscribeResource({ uri: 'demo://resource/dynamic/text/1' });
  await client.getPrompt({ name: 'args-prompt', arguments: { city: 'Paris' } });
  await client.complete({ ref: { type: 'ref/prompt', name: 'completable-prompt' }, argument: { name: 'department', value: 'E' } });
  // Cancellation: the client gives up on a long call.
  const abort = new AbortController();
  const long = client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 1 } }, undefined, { signal: abort.signal });
  await new Promise((r) => setTimeout(r, 100));
  abort.abort('test');
  await long.catch(() => {});
  await new Promise((r) => setTimeout(r, 1500));
  // Tasks (current protocol): a tool call as a task, then its status and its result.
  let task = null;
  try {
    const created = await client.request({ method: 'tools/call', params: { name: 'simulate-research-query', arguments: { topic: 'x' }, task: { ttl: 60000 } } }, CreateTaskResultSchema);
    task = created.task.taskId;
    await new Promise((r) => setTimeout(r, 4000));
    await client.request({ method: 'tasks/get', params: { taskId: task } }, GetTaskResultSchema);
    await client.request({ method: 'tasks/result', params: { taskId: task } }, CallToolResultSchema);
  } catch (e) {
    log.push(['error', String(e.message ?? e), null]);
  }
  await client.close();
  // Log messages and task status updates come on the server's own timers: counted, not
  // ordered. Progress notifications may repeat a different number of times.
  const timed = ['notifications/message', 'notifications/tasks/status'];
  const logs = log.filter((e) => e[1] === timed[0]).length;
  const statuses = log.filter((e) => e[1] === timed[1]).length;
  const ordered = log.filter((e) => !timed.includes(e[1]));
  return { logs, statuses, log: ordered.filter((e, i) => i === 0 || JSON.stringify(e) !== JSON.stringify(ordered[i - 1]) || e[1] === 'response') };
}

test('everything with an allow-all policy: the session through the proxy equals the direct one', async () => {
  const dir = project([{ id: 'all', action: '*', vendor: 'everything' }]);
  const { log: direct, logs: directLogs, statuses: directStatuses } = await session(dir, false);
  const { log: proxied, logs: proxiedLogs, statuses: proxiedStatuses } = await session(dir, true);
  assert.ok(directLogs > 0 && proxiedLogs > 0, `log messages reach the client (${directLogs} direct, ${proxiedLogs} proxied)`);
  assert.ok(directStatuses > 0 && proxiedStatuses > 0, `task status notifications reach the client (${directStatuses}, ${proxiedStatuses})`);
  const methods = new Set(direct.map((e) => e[1]));
  for (const m of ['tasks/get', 'sampling/createMessage', 'elicitation/create', 'roots/list', 'notifications/progress', 'notifications/cancelled', 'resources/subscribe', 'logging/setLevel', 'completion/complete']) {
    assert.ok(methods.has(m), `the direct session has ${m}: ${[...methods].join(', ')}`);
  }
  assert.ok(!direct.some((e) => e[0] === 'error'), `tasks worked directly: ${JSON.stringify(direct.filter((e) => e[0] === 'error'))}`);
  assert.ok(methods.has('tasks/result'), 'the direct session has a task');
  assert.deepEqual(proxied, direct);
  console.log(`transcript: ${direct.length} messages, equal through the proxy`);
});
