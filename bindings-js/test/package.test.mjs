// The packed tarball installs into a fresh Node project and works through require and import.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const pkgDir = fileURLToPath(new URL("../", import.meta.url));
let work;
let tarball;

const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

before(() => {
  work = mkdtempSync(join(tmpdir(), "behalf-pack-"));
  run("npm", ["pack", "--silent", "--pack-destination", work], pkgDir);
  tarball = join(work, readdirSync(work).find((f) => f.endsWith(".tgz")));
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const check = `
  const policy = { version: 1, passports: [{ id: "p", agent: "a", permissions: [{ id: "deploy", action: "deploy", when: { env: "staging" } }] }] };
  const b = new Behalf(policy);
  const d = b.verify({ agentId: "a", action: "deploy", params: { env: "staging" } });
  const e = b.verify({ agentId: "a", action: "deploy", params: { env: NaN } });
  if (d.decision !== "allowed" || e.reason !== "invalid_request") throw new Error(JSON.stringify([d, e]));
  console.log("ok", d.decision, e.reason);
`;

function freshProject(name, dependency) {
  const dir = join(work, name);
  run("mkdir", ["-p", dir]);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, version: "1.0.0", private: true }));
  run("npm", ["install", "--no-audit", "--no-fund", "--offline", dependency], dir);
  writeFileSync(join(dir, "main.cjs"), `const { Behalf } = require("behalf");\n${check}`);
  writeFileSync(join(dir, "main.mjs"), `import { Behalf } from "behalf";\nimport init from "behalf/web";\nif (typeof init !== "function") throw new Error("behalf/web");\n${check}`);
  return dir;
}

test("the packed tarball holds the builds, the wrapper and the types, and nothing else", () => {
  const files = run("tar", ["-tzf", tarball], work).trim().split("\n").sort();
  for (const f of ["package/pkg/index.cjs", "package/pkg/index.mjs", "package/pkg/web.mjs", "package/pkg/node/behalf_wasm_bg.wasm", "package/pkg/web/behalf_wasm_bg.wasm", "package/types/index.d.ts", "package/types/web.d.ts"]) {
    assert.ok(files.includes(f), `${f} is not in the tarball: ${files.join(", ")}`);
  }
  assert.ok(!files.some((f) => f.includes("/src/") || f.includes("/test/") || f.includes("node_modules")), files.join(", "));
});

test("a fresh project installs the tarball and uses it through require and import", () => {
  const dir = freshProject("from-tarball", tarball);
  assert.match(run("node", ["main.cjs"], dir), /^ok allowed invalid_request/);
  assert.match(run("node", ["main.mjs"], dir), /^ok allowed invalid_request/);
});

test("a fresh project installs the package folder (npm install ./bindings-js)", () => {
  const dir = freshProject("from-folder", pkgDir);
  assert.match(run("node", ["main.cjs"], dir), /^ok allowed invalid_request/);
  assert.match(run("node", ["main.mjs"], dir), /^ok allowed invalid_request/);
});
