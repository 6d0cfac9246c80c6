// The main command: with nothing changed since the last build, ./run.sh rebuilds nothing
// (no wasm-bindgen, no wasm-opt, no www/dist copy) and serves within 3 s; a stale stamp
// makes it rebuild. Runs after www/build.sh (scripts/test-www.sh), so everything is built.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Starts ./run.sh on a free port; resolves when the page answers, with the time it took. */
function serve() {
  const started = performance.now();
  const child = spawn(join(root, "run.sh"), [], {
    cwd: root,
    env: { ...process.env, PORT: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  return new Promise((resolveRun, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`./run.sh did not serve within 120 s:\n${out}`));
    }, 120_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`./run.sh exited (${code}) before serving:\n${out}`));
    });
    const poll = async () => {
      // serve.py prints the URL with the port it bound, alone on a line.
      const m = /^(http:\/\/127\.0\.0\.1:[1-9]\d*\/)$/m.exec(out);
      if (m) {
        try {
          const r = await fetch(m[1]);
          if (r.ok && (await r.text()).includes("behalf sandbox")) {
            clearTimeout(timer);
            child.removeAllListeners("exit");
            resolveRun({ seconds: (performance.now() - started) / 1000, out, stop: () => child.kill() });
            return;
          }
        } catch {
          // not listening yet
        }
      }
      setTimeout(poll, 25);
    };
    poll();
  });
}

test("./run.sh with nothing changed rebuilds nothing and serves within 3 s", async () => {
  const warmUp = await serve(); // whatever an earlier step left stale is rebuilt here
  warmUp.stop();
  let best = Infinity;
  let out = "";
  for (let i = 0; i < 2 && best >= 3; i++) {
    const run = await serve();
    run.stop();
    best = Math.min(best, run.seconds);
    out = run.out;
  }
  console.log(`./run.sh served after ${best.toFixed(2)} s with nothing changed`);
  assert.match(out, /bindings-js\/pkg is up to date/);
  assert.match(out, /www\/dist is up to date/);
  assert.doesNotMatch(out, /wasm-bindgen --target|wasm-opt \(|assembling the static sandbox/);
  assert.ok(best < 3, `./run.sh took ${best.toFixed(2)} s to serve with nothing changed`);
});

test("a stale stamp makes ./run.sh rebuild www/dist", async () => {
  const stamp = join(root, "www", "dist", ".build-key");
  writeFileSync(stamp, "stale\n");
  const run = await serve();
  run.stop();
  assert.match(run.out, /assembling the static sandbox/);
  assert.notEqual(readFileSync(stamp, "utf8"), "stale\n", "the stamp is written again");
});
