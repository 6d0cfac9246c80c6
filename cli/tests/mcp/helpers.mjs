// Shared setup for the MCP tests: a project directory with a policy, and the
// behalf binary (BEHALF_BIN, else the workspace's debug build).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const BEHALF = process.env.BEHALF_BIN ?? resolve(here, '../../../target/debug/behalf');
export const SERVER = resolve(here, 'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');
export const T0 = '2026-11-26T11:00:00Z';
export const AGENT = 'agent_claude_code';

export const POLICY = {
  version: 1,
  passports: [{
    id: 'passport_claude',
    agent: AGENT,
    permissions: [
      { id: 'fs_read', action: ['read_*', 'list_*', 'get_file_info', 'directory_tree', 'search_files'], vendor: 'filesystem' },
      { id: 'fs_no_secrets', action: '*', vendor: 'filesystem', resource: '**/secrets/**', effect: 'block' },
      { id: 'fs_write', action: ['write_file', 'edit_file', 'create_directory'], vendor: 'filesystem',
        effect: 'require_approval', approval: { grantTtl: '10m' } },
    ],
  }],
};

/** A fresh project: behalf.json and a data/ directory for the server. */
export function makeProject() {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'behalf-mcp-')));
  writeFileSync(join(dir, 'behalf.json'), JSON.stringify(POLICY, null, 2));
  const data = join(dir, 'data');
  mkdirSync(join(data, 'secrets'), { recursive: true });
  writeFileSync(join(data, 'hello.txt'), 'hello from behalf\n');
  return { dir, data };
}

export function proxyArgs(project) {
  return ['mcp', 'proxy', '--agent', AGENT, '--server', 'filesystem',
    '--', process.execPath, SERVER, project.data];
}

/** Runs the behalf CLI in the project; returns {code, stdout, stderr}. */
export function behalf(project, args, now = T0) {
  try {
    const stdout = execFileSync(BEHALF, args, { cwd: project.dir, env: { ...process.env, BEHALF_NOW: now }, encoding: 'utf8' });
    return { code: 0, stdout, stderr: '' };
  } catch (e) {
    return { code: e.status, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export function textOf(result) {
  return (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}
