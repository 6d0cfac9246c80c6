// Where each value sits in a JSON text, keyed by the JSON path the engine reports
// (`passports[0].permissions[2].when.env`), so a problem can point into the editor.

/** Path segment formatting, as the engine writes paths. */
export function joinPath(base, key) {
  if (typeof key === "number") return `${base}[${key}]`;
  return base ? `${base}.${key}` : key;
}

/**
 * Parses `text` and returns Map(path -> {start, end, keyStart}) for every value.
 * Throws {message, offset} on a syntax error (message in the browser's words is not portable).
 */
export function locate(text) {
  const spans = new Map();
  let i = 0;
  const fail = (message) => {
    const e = new Error(message);
    e.offset = i;
    throw e;
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const string = () => {
    if (text[i] !== '"') fail("expected a string");
    i++;
    let out = "";
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\") {
        const c = text[i + 1];
        if (c === "u") {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("bad \\u escape");
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
          continue;
        }
        const map = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
        if (!(c in map)) fail("bad escape");
        out += map[c];
        i += 2;
        continue;
      }
      if (text.charCodeAt(i) < 0x20) fail("control character in a string");
      out += text[i++];
    }
    if (i >= text.length) fail("unterminated string");
    i++;
    return out;
  };
  const value = (path, keyStart) => {
    ws();
    const start = i;
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") i++;
      else {
        for (;;) {
          ws();
          const ks = i;
          const key = string();
          ws();
          if (text[i] !== ":") fail("expected `:`");
          i++;
          value(joinPath(path, key), ks);
          ws();
          if (text[i] === ",") { i++; continue; }
          if (text[i] === "}") { i++; break; }
          fail("expected `,` or `}`");
        }
      }
    } else if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") i++;
      else {
        for (let n = 0; ; n++) {
          value(joinPath(path, n), undefined);
          ws();
          if (text[i] === ",") { i++; continue; }
          if (text[i] === "]") { i++; break; }
          fail("expected `,` or `]`");
        }
      }
    } else if (c === '"') {
      string();
    } else {
      const m = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
      if (!m) fail(i >= text.length ? "unexpected end of input" : "unexpected character");
      i += m[0].length;
    }
    spans.set(path, { start, end: i, keyStart: keyStart ?? start });
  };
  value("", undefined);
  ws();
  if (i < text.length) fail("unexpected text after the JSON value");
  return spans;
}

/** 1-based line and column of an offset. */
export function lineCol(text, offset) {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const col = offset - before.lastIndexOf("\n");
  return { line, col };
}

/**
 * The span to highlight for a problem path: the path itself, else its nearest ancestor
 * that exists in the text (a missing field points at the object that lacks it).
 */
export function spanFor(spans, path) {
  let p = path ?? "";
  for (;;) {
    if (spans.has(p)) return { path: p, ...spans.get(p), exact: p === path };
    if (!p) return null;
    const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
    p = cut > 0 ? p.slice(0, cut) : "";
  }
}
