// Starts `behalf serve` ($BEHALF_BIN, default target/debug/behalf) on 127.0.0.1 with a port of
// its own, on a policy in a fresh temporary project; `stop()` ends it.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

const here = dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.BEHALF_BIN || resolve(here, "../../../target/debug/behalf");

export const POLICY = {
  version: 1,
  passports: [
    {
      id: "passport_claude",
      agent: "agent_claude_code",
      permissions: [
        { id: "deploy_staging", action: "deploy", vendor: "vercel.com", when: { env: "staging" } },
        { id: "deploy_production", action: "deploy", vendor: "vercel.com", when: { env: "production" },
          effect: "require_approval", approval: { grantTtl: "30m" } },
        { id: "no_prod_db", action: "*", resource: "db/prod/**", effect: "block" },
      ],
    },
    { id: "passport_other", agent: "agent_other", permissions: [{ id: "other_any", action: "*" }] },
  ],
};

export function behalf(dir, ...args) {
  return execFileSync(BIN, args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export async function startServer(policy = POLICY, env = {}) {
  const dir = mkdtempSync(join(tmpdir(), "behalf-serve-"));
  writeFileSync(join(dir, "behalf.json"), JSON.stringify(policy, null, 2));
  const child = spawn(BIN, ["serve", "--listen", "127.0.0.1:0"], {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`behalf serve did not start: ${stderr}`)), 15000);
    child.on("exit", (code) => fail(new Error(`behalf serve exited ${code}: ${stderr}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = /listening on (\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
  });
  return {
    url,
    dir,
    child,
    key(agent) {
      return behalf(dir, "agents", "key", "create", agent, "--quiet").trim();
    },
    approve(id) {
      return behalf(dir, "approvals", "approve", id);
    },
    async stop() {
      if (child.exitCode === null) {
        const gone = new Promise((ok) => child.on("exit", ok));
        child.kill("SIGTERM");
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
