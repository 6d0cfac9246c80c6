// The editor's locator: every JSON path the engine reports maps to the right place in the text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { lineCol, locate, spanFor } from "../src/jsonloc.js";

const text = JSON.stringify({ version: 1, passports: [{ id: "p", permissions: [{ id: "a", when: { env: { in: ["x"] } } }] }] }, null, 2);

test("every value is found under the path the engine writes", () => {
  const spans = locate(text);
  const at = (p) => text.slice(spans.get(p).start, spans.get(p).end);
  assert.equal(at("version"), "1");
  assert.equal(at("passports[0].id"), '"p"');
  assert.equal(at("passports[0].permissions[0].when.env.in[0]"), '"x"');
  assert.ok(text.slice(spans.get("passports[0].id").keyStart).startsWith('"id": "p"'));
});

test("a missing path points at its nearest ancestor", () => {
  const span = spanFor(locate(text), "passports[0].permissions[0].action");
  assert.equal(span.path, "passports[0].permissions[0]");
  assert.equal(span.exact, false);
  assert.equal(spanFor(locate(text), "").path, "");
});

test("syntax errors carry the offset of the fault", () => {
  assert.throws(() => locate('{"a": 1,}'), (e) => e.offset === 8);
  assert.throws(() => locate('{"a": [1 2]}'), (e) => e.offset === 9);
  assert.throws(() => locate("[1] x"), /after the JSON value/);
  assert.deepEqual(lineCol("ab\ncd", 4), { line: 2, col: 2 });
});

test("strings with escapes and unicode keep their offsets", () => {
  const t = '{"k\\u0041": "ｖercel.com", "b": "q\\"x"}';
  const spans = locate(t);
  assert.ok(spans.has("kA"));
  assert.equal(t.slice(spans.get("b").start, spans.get("b").end), '"q\\"x"');
});
