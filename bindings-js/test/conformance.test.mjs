// Every vector of tests/conformance through the Node build, checked against the expectations
// and against the native core's packets (target/conformance/native.json, written by
// `cargo test -p behalf-core --test conformance`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import * as behalf from "behalf";
import { runFile, compareWithNative } from "./conformance-runner.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const vectors = join(root, "tests/conformance");
const nativePath = join(root, "target/conformance/native.json");
const files = readdirSync(vectors).filter((f) => f.endsWith(".json")).sort();

test("the native core's packets are there to compare with", () => {
  assert.ok(existsSync(nativePath), `${nativePath} is missing: run cargo test -p behalf-core --test conformance`);
});

const native = existsSync(nativePath) ? JSON.parse(readFileSync(nativePath, "utf8")) : {};
let total = 0;

for (const file of files) {
  test(`conformance: ${file}`, () => {
    const reports = runFile(readFileSync(join(vectors, file), "utf8"), behalf);
    total += reports.length;
    const failures = reports.flatMap((r) => r.failures.map((f) => `${r.name}: ${f}`));
    assert.deepEqual(failures, [], `${failures.length} expectation failures`);
    const differences = compareWithNative(file, reports, native);
    assert.deepEqual(differences, [], `${differences.length} packets differ from the native core`);
  });
}

test("every vector file ran", () => {
  assert.ok(files.length >= 10, `only ${files.length} vector files`);
  assert.ok(total >= 600, `only ${total} cases ran`);
});
