// Every conformance vector in a real browser: headless Debian chromium (never a downloaded
// one), driven by playwright-core, against the `web` build served from a localhost server that
// this test starts and stops.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile, readdir, mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, normalize, extname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = fileURLToPath(new URL("../../", import.meta.url));
const CHROMIUM = process.env.BEHALF_CHROMIUM || "/usr/bin/chromium";
const TYPES = { ".html": "text/html", ".mjs": "text/javascript", ".js": "text/javascript", ".json": "application/json", ".wasm": "application/wasm" };
// Only what the page needs is served.
const SERVED = ["bindings-js/pkg/", "bindings-js/test/conformance-runner.mjs", "tests/conformance/", "target/conformance/native.json"];

let server;
let context;
let userDataDir;
let origin;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/setup-js.sh`);
  server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^\/+/, "");
    if (path === "" || path === ".") {
      res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>behalf</title>");
      return;
    }
    if (path.includes("..") || !SERVED.some((p) => path === p || path.startsWith(p))) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = await readFile(join(root, path));
      res.writeHead(200, { "content-type": TYPES[extname(path)] || "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  userDataDir = await mkdtemp(join(tmpdir(), "behalf-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
    ],
  });
});

after(async () => {
  if (context) await context.close();
  if (server) await new Promise((resolve) => server.close(resolve));
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
});

async function page() {
  const p = context.pages()[0] || (await context.newPage());
  await p.goto(`${origin}/`);
  return p;
}

test("chromium: every conformance vector through the web build, equal to the native packets", async () => {
  const files = (await readdir(join(root, "tests/conformance"))).filter((f) => f.endsWith(".json")).sort();
  const p = await page();
  const result = await p.evaluate(async (files) => {
    const behalf = await import("/bindings-js/pkg/web.mjs");
    const runner = await import("/bindings-js/test/conformance-runner.mjs");
    await behalf.default();
    const native = await (await fetch("/target/conformance/native.json")).json();
    let cases = 0;
    const failures = [];
    const differences = [];
    for (const file of files) {
      const text = await (await fetch(`/tests/conformance/${file}`)).text();
      const reports = runner.runFile(text, behalf);
      cases += reports.length;
      for (const r of reports) for (const f of r.failures) failures.push(`${file} / ${r.name}: ${f}`);
      differences.push(...runner.compareWithNative(file, reports, native));
    }
    return { cases, failures, differences, userAgent: navigator.userAgent };
  }, files);
  assert.match(result.userAgent, /Chrome/);
  assert.deepEqual(result.failures, []);
  assert.deepEqual(result.differences, []);
  assert.ok(result.cases >= 600, `only ${result.cases} cases ran`);
});

test("chromium: the JS surface, and a trap fails closed onto the spare instance", async () => {
  const p = await page();
  const r = await p.evaluate(async () => {
    const { default: init, Behalf, verify, PolicyError } = await import("/bindings-js/pkg/web.mjs");
    await init();
    await init();
    const policy = { version: 1, passports: [{ id: "p", agent: "a", permissions: [{ id: "deploy", action: "deploy", when: { env: "staging" } }] }] };
    const req = { agentId: "a", action: "deploy", params: { env: "staging" } };
    const b = new Behalf(policy);
    const out = { first: b.verify(req).decision };
    out.nan = b.verify({ ...req, params: { n: NaN } }).reason;
    out.bigint = b.verify({ ...req, params: { n: 1n } }).reason;
    b[Symbol.for("behalf.test.trapNextCall")]();
    out.trapped = b.verify(req).reason;
    out.after = b.verify(req).decision;
    // The spare is refilled in the background; a second trap lands on it too.
    await new Promise((resolve) => setTimeout(resolve, 200));
    b[Symbol.for("behalf.test.trapNextCall")]();
    out.trappedAgain = b.verify(req).reason;
    out.afterAgain = b.verify(req).decision;
    out.oneShot = verify(policy, req).decision;
    try {
      new Behalf({ version: 3 });
    } catch (e) {
      out.policyError = e instanceof PolicyError && e.problems.length > 0;
    }
    return out;
  });
  assert.deepEqual(r, {
    first: "allowed",
    nan: "invalid_request",
    bigint: "invalid_request",
    trapped: "internal_error",
    after: "allowed",
    trappedAgain: "internal_error",
    afterAgain: "allowed",
    oneShot: "allowed",
    policyError: true,
  });
});
