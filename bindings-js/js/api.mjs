// The public API of the npm package `behalf`, shared by the Node (CommonJS and ESM) and
// browser entries. It only converts: JS values to JSON text, packets back to objects, errors to
// classes. Every decision is made by behalf-core inside the WebAssembly instance.
//
// build.sh copies this file to pkg/api.mjs and derives pkg/api.cjs from it (the last line's
// `export { ... }` becomes `module.exports = { ... }`), so keep exactly one export statement.

// ---------------------------------------------------------------------------------------------
// The WebAssembly instance. A platform (node.cjs, web.mjs) supplies fresh instances of the
// wasm-bindgen glue; after a trap the instance is dropped and the next call gets a new one.

let platform = null;
let glue = null;
let generation = 0;

function setPlatform(p) {
  platform = p;
  glue = null;
}

function instance() {
  if (glue === null) {
    if (platform === null) {
      throw new BehalfError(
        "not_initialized",
        "the WebAssembly module is not loaded",
        "in browsers, `await init()` from `behalf/web` before using behalf",
      );
    }
    glue = platform.load();
    generation += 1;
  }
  return glue;
}

function isTrap(e) {
  return e instanceof WebAssembly.RuntimeError;
}

function dropInstance() {
  glue = null;
}

// ---------------------------------------------------------------------------------------------
// Errors

class BehalfError extends Error {
  constructor(code, message, hint) {
    super(message);
    this.name = "BehalfError";
    this.code = code;
    this.hint = hint;
  }
}

class PolicyError extends BehalfError {
  constructor(message, problems) {
    super("invalid_policy", message, "fix every problem listed; the policy was not loaded");
    this.name = "PolicyError";
    this.problems = problems;
  }
}

class DecisionError extends Error {
  constructor(decision, message = decision.message) {
    super(message);
    this.name = "DecisionError";
    this.decision = decision;
  }
}

class DeniedError extends DecisionError {
  constructor(decision) {
    super(decision);
    this.name = "DeniedError";
  }
}

// The message says what to do: the approval id, and how a person approves it.
function heldMessage(decision) {
  const id = decision.approvalId;
  if (!id) return `${decision.message}; no approval was opened (the one-shot verify keeps no state)`;
  return `${decision.message}; approve ${id} (behalf.approve("${id}") or \`behalf approvals approve ${id}\`) and retry`;
}

class ApprovalRequiredError extends DecisionError {
  constructor(decision) {
    super(decision, heldMessage(decision));
    this.name = "ApprovalRequiredError";
    this.approvalId = decision.approvalId;
  }
}

// The core throws the JSON text of {code, message, hint, problems?}.
function fromCore(e) {
  if (typeof e !== "string") return e;
  let v;
  try {
    v = JSON.parse(e);
  } catch {
    return new BehalfError("internal_error", e, "");
  }
  if (v.code === "invalid_policy") return new PolicyError(v.message, v.problems || []);
  return new BehalfError(v.code, v.message, v.hint);
}

// ---------------------------------------------------------------------------------------------
// Conversion: a JS value to JSON text, in one pass, refusing what JSON cannot say exactly.
// NaN, ±Infinity, -0, BigInt, symbols, functions, undefined, holes, non-plain objects (Date,
// Map, class instances), cycles, throwing getters: refused, never silently rewritten.

class Refused extends Error {}

// The core allows params 32 levels deep and 1,024 values; beyond these bounds it would refuse
// anyway, so the walk stops early (and never recurses without bound).
const REQUEST_LIMITS = { depth: 64, values: 4096 };
const POLICY_LIMITS = { depth: 64, values: Infinity };

let limits = REQUEST_LIMITS;
let counted = 0;
const path = [];
const ancestors = [];

function where() {
  let s = "";
  for (const k of path) s += typeof k === "number" ? `[${k}]` : s === "" ? k : `.${k}`;
  return s === "" ? "the value" : `\`${s}\``;
}

function refuse(why) {
  throw new Refused(`${where()} ${why}`);
}

function isPlainObject(v) {
  const proto = Object.getPrototypeOf(v);
  return proto === null || proto === Object.prototype || Object.getPrototypeOf(proto) === null;
}

function write(v, depth) {
  if (++counted > limits.values) {
    throw new Refused(`\`params\` holds more than 1024 values`);
  }
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "number":
      if (v !== v) refuse("is NaN; numbers must be finite");
      if (v === Infinity || v === -Infinity) refuse("is infinite; numbers must be finite");
      if (v === 0 && 1 / v < 0) refuse("is negative zero; write 0");
      return "" + v;
    case "boolean":
      return v ? "true" : "false";
    case "undefined":
      refuse("is undefined; leave the key out or use null");
      break;
    case "bigint":
      refuse("is a BigInt; use a number (at most 2^53-1)");
      break;
    case "symbol":
      refuse("is a symbol; JSON has no symbols");
      break;
    case "function":
      refuse("is a function; JSON has no functions");
      break;
    default:
      break;
  }
  if (v === null) return "null";
  if (depth >= limits.depth) {
    if (ancestors.includes(v)) refuse("is cyclic: it contains itself");
    throw new Refused(
      path[0] === "params" ? "`params` is nested deeper than 32 levels" : `${where()} is nested too deeply`,
    );
  }
  ancestors.push(v);
  let out;
  if (Array.isArray(v)) {
    out = "[";
    const n = v.length;
    for (let i = 0; i < n; i++) {
      path.push(i);
      if (i > 0) out += ",";
      out += write(v[i], depth + 1);
      path.pop();
    }
    out += "]";
  } else {
    if (!isPlainObject(v)) {
      const name = (v.constructor && v.constructor.name) || "an object with a prototype";
      refuse(`is a ${name}; pass plain objects, arrays, strings, numbers, booleans and null`);
    }
    out = "{";
    let first = true;
    for (const k in v) {
      if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
      path.push(k);
      const item = write(v[k], depth + 1);
      path.pop();
      if (!first) out += ",";
      out += JSON.stringify(k) + ":" + item;
      first = false;
    }
    out += "}";
  }
  ancestors.pop();
  return out;
}

function toJson(value, which) {
  limits = which;
  counted = 0;
  path.length = 0;
  ancestors.length = 0;
  try {
    return write(value, 0);
  } catch (e) {
    if (e instanceof Refused) throw e;
    // A getter or proxy trap threw while being read.
    throw new Refused(`reading ${where()} threw: ${e && e.message ? e.message : String(e)}`);
  } finally {
    path.length = 0;
    ancestors.length = 0;
  }
}

// The usual request, written by one JSON.stringify: a plain object whose fields are strings or
// null, and params (if an object) of strings, finite numbers, booleans and null. Each property
// is read once into a fresh object, so a getter cannot answer the check and the writer
// differently. Anything else takes the full walk, which refuses or explains it exactly as
// before: an own `__proto__` key (JSON.parse makes one; assigning it to a copy would set the
// copy's prototype instead, and the key would vanish), or an Object.prototype.toJSON. (Copies
// without a prototype would need neither check, but V8 keeps them as dictionaries, and writing
// them cost 0.35 µs a request more.)
const hasOwn = Object.prototype.hasOwnProperty;

function flatParams(params) {
  if (Array.isArray(params) || !isPlainObject(params)) return undefined;
  const copy = {};
  let n = 0;
  for (const k in params) {
    if (!hasOwn.call(params, k)) continue;
    if (k === "__proto__") return undefined;
    if (++n >= 1024) return undefined;
    const v = params[k];
    switch (typeof v) {
      case "string":
      case "boolean":
        break;
      case "number":
        if (v !== v || v === Infinity || v === -Infinity || (v === 0 && 1 / v < 0)) return undefined;
        break;
      default:
        if (v !== null) return undefined;
    }
    copy[k] = v;
  }
  return copy;
}

function requestJson(request) {
  if (request === null || typeof request !== "object" || Array.isArray(request)) return toJson(request, REQUEST_LIMITS);
  try {
    if (!isPlainObject(request) || Object.prototype.toJSON !== undefined) return toJson(request, REQUEST_LIMITS);
    const copy = {};
    for (const k in request) {
      if (!hasOwn.call(request, k)) continue;
      if (k === "__proto__") return toJson(request, REQUEST_LIMITS);
      const v = request[k];
      if (typeof v === "string" || v === null) {
        copy[k] = v;
      } else if (k === "params" && typeof v === "object") {
        const params = flatParams(v);
        if (params === undefined) return toJson(request, REQUEST_LIMITS);
        copy[k] = params;
      } else {
        return toJson(request, REQUEST_LIMITS);
      }
    }
    return JSON.stringify(copy);
  } catch {
    // A getter or proxy trap threw: the full walk reads it again and says where.
    return toJson(request, REQUEST_LIMITS);
  }
}

function policyText(policy) {
  if (typeof policy === "string") return policy;
  try {
    return toJson(policy, POLICY_LIMITS);
  } catch (e) {
    const message = e.message;
    throw new PolicyError(`invalid policy (1 problem)\n  $: ${message} (not_json)`, [
      {
        path: "",
        code: "not_json",
        message,
        hint: "a policy is plain JSON data: objects, arrays, strings, finite numbers, booleans, null",
      },
    ]);
  }
}

// The fields an `invalid_request` packet echoes, read without trusting getters.
function echoed(request) {
  const out = [undefined, undefined, undefined, undefined, undefined];
  if (request === null || typeof request !== "object") return out;
  const keys = ["agentId", "action", "vendor", "resource", "requestId"];
  for (let i = 0; i < keys.length; i++) {
    try {
      const desc = Object.getOwnPropertyDescriptor(request, keys[i]);
      if (desc && "value" in desc && typeof desc.value === "string") out[i] = desc.value;
    } catch {
      // a proxy that throws echoes nothing
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Time: RFC 3339 strings (parsed by the core) or epoch milliseconds.

function timeMillis(t, what) {
  if (typeof t === "number") {
    if (Number.isFinite(t) && Number.isInteger(t) && Math.abs(t) <= 8.64e15) return t;
    throw new Refused(`\`${what}\` \`${t}\` is not a whole number of epoch milliseconds`);
  }
  if (typeof t === "string") {
    const ms = instance().parse_time(t);
    if (ms === ms) return ms;
    throw new Refused(`\`${what}\` \`${t.slice(0, 60)}\` is not an RFC 3339 time`);
  }
  if (t instanceof Date) return timeMillis(t.getTime(), what);
  throw new Refused(`\`${what}\` must be an RFC 3339 string or epoch milliseconds`);
}

function nowOf(options, clock) {
  if (options != null && options.now !== undefined && options.now !== null) {
    return timeMillis(options.now, "now");
  }
  const t = clock();
  if (typeof t !== "number" || !Number.isInteger(t)) {
    throw new Refused(`the clock returned \`${String(t)}\`, not whole epoch milliseconds`);
  }
  return t;
}

function strictNow(options, clock) {
  try {
    return nowOf(options, clock);
  } catch (e) {
    if (e instanceof Refused) throw new BehalfError("bad_time", e.message, "pass `now` as an RFC 3339 string or epoch milliseconds");
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// The last resort, when no WebAssembly instance can answer: a denied packet, made here.

function randomId(prefix) {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  let s = prefix;
  for (const b of bytes) s += alphabet[b % 62];
  return s;
}

// The packet object from the values the core writes in packet order
// (Decision::to_json_values): its keys in that order, so JSON.stringify(packet) is the
// canonical packet text, and the parser reads no key.
function packetOf(text) {
  const v = JSON.parse(text);
  const steps = v[16];
  const trace = new Array(steps.length);
  for (let i = 0; i < steps.length; i++) {
    const t = steps[i];
    trace[i] = { step: t[0], permission: t[1], result: t[2], detail: t[3] };
  }
  return {
    decision: v[0],
    allowed: v[1],
    reason: v[2],
    message: v[3],
    requestId: v[4],
    agentId: v[5],
    action: v[6],
    vendor: v[7],
    resource: v[8],
    passportId: v[9],
    activePermissions: v[10],
    matchedPermission: v[11],
    approvalId: v[12],
    grantId: v[13],
    grantExpiresAt: v[14],
    evaluatedAt: v[15],
    trace,
  };
}

// An audit record from the values the core writes in its canonical key order
// (AuditRecord::write_values): JSON.stringify(record) is the record's canonical text. A record
// with an operator comes as its object instead.
function recordOf(v) {
  return {
    action: v[0],
    agentId: v[1],
    approvalId: v[2],
    decision: v[3],
    event: v[4],
    grantId: v[5],
    hash: v[6],
    matchedPermission: v[7],
    params: v[8],
    prevHash: v[9],
    reason: v[10],
    requestId: v[11],
    resource: v[12],
    seq: v[13],
    time: v[14],
    vendor: v[15],
  };
}

function failClosed(message, now) {
  let at;
  try {
    at = new Date(Number.isFinite(now) ? now : Date.now()).toISOString();
  } catch {
    at = new Date(0).toISOString();
  }
  return {
    decision: "denied",
    allowed: false,
    reason: "internal_error",
    message: `Internal error; failing closed: ${message}`,
    requestId: randomId("req_"),
    agentId: null,
    action: null,
    vendor: null,
    resource: null,
    passportId: null,
    activePermissions: null,
    matchedPermission: null,
    approvalId: null,
    grantId: null,
    grantExpiresAt: null,
    evaluatedAt: at,
    trace: [{ step: "engine", permission: null, result: "error", detail: message }],
  };
}

function trapMessage(e) {
  return `the WebAssembly instance trapped (${e && e.message ? e.message : String(e)}); this call was denied and the next one runs on a fresh instance`;
}

// ---------------------------------------------------------------------------------------------
// The stateful engine

const TRAP_NEXT_CALL = Symbol.for("behalf.test.trapNextCall");
const defaultClock = () => Date.now();

class Behalf {
  #policy;
  #capacity;
  #clock;
  #onDecision;
  #engine = null;
  #generation = -1;
  #trapNext = false;

  constructor(policy, options = {}) {
    const opts = options || {};
    this.#policy = policyText(policy);
    const capacity = opts.auditCapacity === undefined ? 10000 : opts.auditCapacity;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 0xffffffff) {
      throw new BehalfError("bad_option", "`auditCapacity` must be a whole number >= 1", "leave it out for the default of 10,000");
    }
    if (opts.clock !== undefined && typeof opts.clock !== "function") {
      throw new BehalfError("bad_option", "`clock` must be a function returning epoch milliseconds", "leave it out to use Date.now");
    }
    if (opts.onDecision !== undefined && typeof opts.onDecision !== "function") {
      throw new BehalfError("bad_option", "`onDecision` must be a function", "it receives every audit record");
    }
    this.#capacity = capacity;
    this.#clock = opts.clock || defaultClock;
    this.#onDecision = opts.onDecision || null;
    try {
      this.#handle();
    } catch (e) {
      if (!isTrap(e)) throw fromCore(e);
      dropInstance();
      try {
        this.#handle();
      } catch (again) {
        throw isTrap(again) ? new BehalfError("internal_error", trapMessage(again), "") : fromCore(again);
      }
    }
  }

  // The engine on the current instance; rebuilt from the policy after an instance was replaced.
  #handle() {
    const g = instance();
    if (this.#engine === null || this.#generation !== generation) {
      const engine = new g.WasmEngine(this.#policy, this.#capacity);
      if (this.#onDecision !== null) engine.deliver_records();
      this.#engine = engine;
      this.#generation = generation;
    }
    return this.#engine;
  }

  #deliver(engine) {
    if (this.#onDecision === null) return;
    const records = JSON.parse(engine.take_records());
    for (const r of records) {
      try {
        this.#onDecision(Array.isArray(r) ? recordOf(r) : r);
      } catch {
        // the sink's failure must not change or hide the decision
      }
    }
  }

  // Runs one packet-producing call; a trap fails closed and drops the instance.
  #decide(call, now) {
    try {
      const engine = this.#handle();
      if (this.#trapNext) {
        this.#trapNext = false;
        instance().__behalf_test_trap();
      }
      const packet = packetOf(call(engine));
      this.#deliver(engine);
      return packet;
    } catch (e) {
      const message = isTrap(e) ? trapMessage(e) : `unexpected failure: ${e && e.message ? e.message : String(e)}`;
      if (isTrap(e)) dropInstance();
      try {
        const engine = this.#handle();
        const packet = packetOf(engine.internal_error(message, now));
        this.#deliver(engine);
        return packet;
      } catch (again) {
        if (isTrap(again)) dropInstance();
        return failClosed(message, now);
      }
    }
  }

  verify(request, options) {
    let now;
    try {
      now = nowOf(options, this.#clock);
    } catch (e) {
      let at = Date.now();
      try {
        const t = this.#clock();
        if (Number.isInteger(t)) at = t;
      } catch {
        // keep Date.now
      }
      const message = e instanceof Refused ? e.message : `the clock threw: ${e && e.message}`;
      if (e instanceof Refused && options != null && options.now != null) {
        const [a, b, c, d, r] = echoed(request);
        return this.#decide((engine) => engine.reject(message, a, b, c, d, r, at), at);
      }
      return this.#decide((engine) => engine.internal_error(message, at), at);
    }
    if (typeof request === "string") {
      return this.#decide((engine) => engine.verify(request, now), now);
    }
    let text;
    try {
      text = requestJson(request);
    } catch (e) {
      const message = e instanceof Refused ? e.message : String(e);
      const [a, b, c, d, r] = echoed(request);
      return this.#decide((engine) => engine.reject(message, a, b, c, d, r, now), now);
    }
    return this.#decide((engine) => engine.verify(text, now), now);
  }

  #call(fn) {
    try {
      return fn(this.#handle());
    } catch (e) {
      if (isTrap(e)) {
        dropInstance();
        throw new BehalfError("internal_error", trapMessage(e), "nothing was changed; retry on the fresh instance");
      }
      throw fromCore(e);
    }
  }

  approve(approvalId, options) {
    const now = strictNow(options, this.#clock);
    const ttl = options != null && options.ttl != null ? options.ttl : undefined;
    if (ttl !== undefined && typeof ttl !== "string" && typeof ttl !== "number") {
      throw new BehalfError("bad_duration", "`ttl` must be a duration string like `30m` or whole seconds", "write a positive duration like `30m`, `2h` or whole seconds");
    }
    const id = String(approvalId);
    const grant = this.#call((e) => e.approve(id, ttl === undefined ? undefined : JSON.stringify(ttl), now));
    this.#deliverSafely();
    return JSON.parse(grant);
  }

  deny(approvalId, options) {
    const now = strictNow(options, this.#clock);
    const id = String(approvalId);
    const approval = this.#call((e) => e.deny(id, now));
    this.#deliverSafely();
    return JSON.parse(approval);
  }

  #deliverSafely() {
    try {
      this.#deliver(this.#handle());
    } catch {
      // delivery is retried with the next call
    }
  }

  pendingApprovals(options) {
    const now = strictNow(options, this.#clock);
    return JSON.parse(this.#call((e) => e.pending_approvals(now)));
  }

  grants(options) {
    const now = strictNow(options, this.#clock);
    return JSON.parse(this.#call((e) => e.grants(now)));
  }

  usage(options) {
    const now = strictNow(options, this.#clock);
    return JSON.parse(this.#call((e) => e.usage(now)));
  }

  auditLog() {
    return JSON.parse(this.#call((e) => e.audit_log()));
  }

  exportState() {
    return JSON.parse(this.#call((e) => e.export_state()));
  }

  restore(state) {
    let text;
    try {
      text = typeof state === "string" ? state : toJson(state, POLICY_LIMITS);
    } catch (e) {
      throw new BehalfError("bad_state", e.message, "pass the exact value exportState() returned");
    }
    this.#call((e) => e.restore(text));
  }

  // Wraps a tool: each call verifies first and runs `fn` only when the decision is allowed.
  guard(fn, request, options) {
    if (typeof fn !== "function") throw new TypeError("guard(fn, request): `fn` must be a function");
    const self = this;
    return function guarded(...args) {
      const req = typeof request === "function" ? request(...args) : request;
      const decision = self.verify(req, options);
      if (decision.allowed === true) return fn.apply(this, args);
      throw decision.decision === "approval_required" ? new ApprovalRequiredError(decision) : new DeniedError(decision);
    };
  }

  [TRAP_NEXT_CALL]() {
    this.#trapNext = true;
  }
}

// ---------------------------------------------------------------------------------------------
// One-shot helpers

function verify(policy, request, options) {
  const text = policyText(policy);
  let now;
  let refused = null;
  try {
    now = nowOf(options, defaultClock);
  } catch (e) {
    now = Date.now();
    refused = e instanceof Refused ? e.message : String(e);
  }
  let requestText = typeof request === "string" ? request : null;
  if (refused === null && requestText === null) {
    try {
      requestText = requestJson(request);
    } catch (e) {
      refused = e instanceof Refused ? e.message : String(e);
    }
  }
  const run = (g) => {
    if (refused !== null) {
      const [a, b, c, d, r] = echoed(request);
      return g.reject_once(text, refused, a, b, c, d, r, now);
    }
    return g.verify_once(text, requestText, now);
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      return packetOf(run(instance()));
    } catch (e) {
      if (!isTrap(e)) throw fromCore(e);
      dropInstance();
    }
  }
  return failClosed("the WebAssembly instance trapped twice", now);
}

function validatePolicy(policy) {
  let text;
  try {
    text = policyText(policy);
  } catch (e) {
    if (e instanceof PolicyError) return e.problems;
    throw e;
  }
  return JSON.parse(instance().validate(text));
}

function verifyAuditLog(records, anchor) {
  let text;
  try {
    text = typeof records === "string" ? records : toJson(records, POLICY_LIMITS);
  } catch (e) {
    throw new BehalfError("bad_audit_log", e.message, "pass the array auditLog() returned");
  }
  const a = anchor || {};
  if (a.firstSeq != null && !(Number.isInteger(a.firstSeq) && a.firstSeq >= 0)) {
    throw new BehalfError("bad_audit_log", "`firstSeq` must be a whole number", "pass the `seq` of the first record you kept");
  }
  if (a.lastHash != null && typeof a.lastHash !== "string") {
    throw new BehalfError("bad_audit_log", "`lastHash` must be a hex string", "pass the `hash` of the last record you kept");
  }
  try {
    return JSON.parse(instance().verify_audit_chain(text, a.firstSeq ?? undefined, a.lastHash ?? undefined));
  } catch (e) {
    throw fromCore(e);
  }
}

function bodyBytes(body) {
  if (typeof body === "string") return new TextEncoder().encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new BehalfError("bad_body", "`body` must be a string, Uint8Array or ArrayBuffer", "pass the raw request body, before any JSON parsing");
}

const webhooks = {
  // The `webhook-signature` value (`v1,<base64>`) of one message.
  sign({ secret, id, timestamp, body }) {
    if (!Number.isInteger(timestamp)) {
      throw new BehalfError("bad_timestamp", "`timestamp` must be whole unix seconds", "use Math.floor(Date.now() / 1000)");
    }
    try {
      return instance().webhook_sign(String(secret), String(id), timestamp, bodyBytes(body));
    } catch (e) {
      throw fromCore(e);
    }
  },
  // True when one of the signatures matches and the timestamp is within 5 minutes of `now`.
  verify({ secret, id, timestamp, body, signature, now }) {
    let nowSeconds;
    try {
      nowSeconds = Math.floor(timeMillis(now === undefined || now === null ? Date.now() : now, "now") / 1000);
    } catch {
      return false;
    }
    if (typeof timestamp !== "string" && typeof timestamp !== "number") return false;
    let bytes;
    try {
      bytes = bodyBytes(body);
    } catch {
      return false;
    }
    const code = instance().webhook_verify(String(secret), String(id), String(timestamp), bytes, String(signature), nowSeconds);
    return code === "";
  },
  // The event of one audit record (as onDecision or auditLog() handed it out):
  // `{ type, timestamp, data }`, data being the record.
  event(record) {
    const text = recordText(record);
    try {
      return JSON.parse(instance().webhook_event(text));
    } catch (e) {
      throw fromCore(e);
    }
  },
  // Exactly what to POST for one audit record's event: `{ headers, body, eventType }`, signed
  // with each secret (several during a rotation: space-separated signatures) at `timestamp`.
  delivery(record, options) {
    const text = recordText(record);
    const opts = options == null ? {} : options;
    const list = typeof opts.secrets === "string" ? [opts.secrets] : opts.secrets;
    if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === "string")) {
      throw new BehalfError(
        "bad_secret",
        "`secrets` must be a `whsec_...` string or a non-empty array of them",
        "pass the endpoint's secret, or the new and the previous one during a rotation",
      );
    }
    let timestamp = opts.timestamp;
    if (timestamp === undefined || timestamp === null) {
      timestamp = Math.floor(Date.now() / 1000);
    } else if (!Number.isInteger(timestamp) || timestamp < 0 || timestamp > 8.64e12) {
      throw new BehalfError("bad_timestamp", `\`timestamp\` \`${String(timestamp).slice(0, 40)}\` is not whole unix seconds`, "leave it out for now, or use Math.floor(Date.now() / 1000)");
    }
    let out;
    try {
      out = JSON.parse(instance().webhook_delivery(text, JSON.stringify(list), timestamp));
    } catch (e) {
      throw fromCore(e);
    }
    return { headers: Object.fromEntries(out.headers), body: out.body, eventType: out.eventType };
  },
};

function recordText(record) {
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    throw new BehalfError("bad_audit_record", "the record must be an audit record object", "pass one record exactly as onDecision or auditLog() handed it out");
  }
  try {
    return toJson(record, POLICY_LIMITS);
  } catch (e) {
    throw new BehalfError("bad_audit_record", e.message, "pass one record exactly as onDecision or auditLog() handed it out");
  }
}

export { Behalf, verify, validatePolicy, verifyAuditLog, webhooks, BehalfError, PolicyError, DecisionError, DeniedError, ApprovalRequiredError, setPlatform };
