// The sandbox page: scenarios in, the engine's decision packets out, told like the terminal.

import { CLOCK_START, POLICY, SCENARIOS, scenarioById } from "./scenarios.js";
import { locate, lineCol, spanFor } from "./jsonloc.js";
import { readUrlState, writeUrlState } from "./url.js";
import * as engine from "./engine.js";

const $ = (id) => document.getElementById(id);
const DEFAULT_POLICY_TEXT = JSON.stringify(POLICY, null, 2);
const pretty = (v) => JSON.stringify(v, null, 2);

// ---- the simulated clock -------------------------------------------------------------------
// It starts at CLOCK_START when the page opens and runs at real speed; the visitor (and the
// tests) can jump it forward. The engine takes its time from here, never from Date.now().
const clock = {
  t0: performance.now(),
  offset: 0,
  now() {
    return CLOCK_START + Math.floor(performance.now() - this.t0) + this.offset;
  },
  advance(ms) {
    this.offset += ms;
  },
  reset() {
    this.t0 = performance.now();
    this.offset = 0;
  },
};

const state = {
  scenario: SCENARIOS[0],
  behalf: null, // the stateful engine
  enginePolicyText: null, // the policy text the engine was built from
  policy: null, // parsed policy when valid
  policyOk: false,
  request: null, // parsed request when it is JSON
  requestOk: false,
  last: null, // {packet, request}
  tampered: new Map(), // seq -> tampered copy of an audit record
  runs: 0,
};

// ---- small helpers -------------------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function fmtClock(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  const day = d.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  return `${day} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

function fmtTime(iso) {
  return iso ? iso.slice(11, 19) : "";
}

function fmtLeft(ms) {
  if (ms <= 0) return "0:00";
  const s = Math.ceil(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

function debounce(fn, ms) {
  let t;
  return (...a) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...a), ms);
  };
}

/** Marks characters outside printable ASCII, so a look-alike cannot hide in the trace. */
function visible(text) {
  const s = String(text);
  if (/^[\x20-\x7e]*$/.test(s)) return document.createTextNode(s);
  const span = el("span");
  for (const ch of s) {
    const cp = ch.codePointAt(0);
    if (cp >= 0x20 && cp <= 0x7e) span.append(ch);
    else {
      const hex = cp.toString(16).toUpperCase().padStart(4, "0");
      span.append(el("mark", { class: "nonascii", title: `U+${hex}: not ASCII` }, ch));
      span.append(el("span", { class: "cp" }, `‹U+${hex}›`));
    }
  }
  return span;
}

// ---- the editors ---------------------------------------------------------------------------
function editor(name) {
  const area = $(`${name}-editor`);
  const wrap = el("div", { class: "code-wrap" });
  const backdrop = el("pre", { class: "backdrop", "aria-hidden": "true" });
  area.replaceWith(wrap);
  wrap.append(backdrop, area);
  area.addEventListener("scroll", () => {
    backdrop.scrollTop = area.scrollTop;
    backdrop.scrollLeft = area.scrollLeft;
  });
  return {
    area,
    get text() {
      return area.value;
    },
    set text(v) {
      area.value = v;
      this.mark(null);
    },
    /** Highlights [start, end) behind the text (or nothing). */
    mark(span) {
      const t = area.value;
      backdrop.textContent = "";
      if (!span) {
        backdrop.append(t + "\n");
      } else {
        const from = span.keyStart ?? span.start;
        backdrop.append(t.slice(0, from), el("mark", {}, t.slice(from, span.end) || " "), t.slice(span.end) + "\n");
      }
      backdrop.scrollTop = area.scrollTop;
    },
    select(span) {
      area.focus();
      const from = span.keyStart ?? span.start;
      area.setSelectionRange(from, span.end);
      const { line } = lineCol(area.value, from);
      const lh = parseFloat(getComputedStyle(area).lineHeight) || 20;
      area.scrollTop = Math.max(0, (line - 3) * lh);
    },
  };
}

let requestEditor;
let policyEditor;

function problemItem(ed, text, p, span) {
  const where = span ? lineCol(text, span.keyStart ?? span.start) : null;
  const item = el(
    "li",
    { class: "problem" },
    el("code", { class: "path" }, p.path || "(top level)"),
    " ",
    p.code ? el("span", { class: "code" }, p.code) : null,
    el("div", { class: "msg" }, p.message || ""),
    p.hint ? el("div", { class: "hint" }, p.hint) : null,
  );
  if (span) {
    const jump = el("button", { type: "button", class: "link small", onclick: () => ed.select(span) }, `line ${where.line}, column ${where.col}`);
    item.append(jump);
  }
  return item;
}

function showProblems(box, ed, problems, okText) {
  box.textContent = "";
  if (!problems.length) {
    box.className = "problems ok";
    box.append(el("span", {}, okText));
    ed.mark(null);
    return;
  }
  box.className = "problems bad";
  const text = ed.text;
  let spans = null;
  try {
    spans = locate(text);
  } catch {
    spans = null;
  }
  const list = el("ul");
  let first = null;
  for (const p of problems) {
    const span = spans ? spanFor(spans, p.path) : p.span ?? null;
    first ??= span;
    list.append(problemItem(ed, text, p, span));
  }
  box.append(el("strong", {}, problems.length === 1 ? "1 problem" : `${problems.length} problems`), list);
  ed.mark(first);
}

/** JSON syntax problems, located in the text. */
function syntaxProblem(text) {
  try {
    locate(text);
    return null;
  } catch (e) {
    const offset = Math.min(e.offset ?? 0, text.length);
    const { line, col } = lineCol(text, offset);
    return {
      path: "",
      code: "invalid_json",
      message: `not valid JSON at line ${line}, column ${col}: ${e.message}`,
      hint: "check for a missing comma, quote or bracket just before this point",
      span: { start: offset, end: Math.min(offset + 1, text.length), keyStart: offset },
    };
  }
}

function checkPolicy() {
  const text = policyEditor.text;
  const box = $("policy-problems");
  $("policy-revert").hidden = text === DEFAULT_POLICY_TEXT;
  const syntax = syntaxProblem(text);
  if (syntax) {
    state.policyOk = false;
    state.policy = null;
    showProblems(box, policyEditor, [syntax], "");
    updateRun();
    return;
  }
  const policy = JSON.parse(text);
  let problems;
  try {
    problems = engine.policyProblems(policy);
  } catch (e) {
    problems = [{ path: "", code: e.code || "error", message: String(e.message || e) }];
  }
  state.policyOk = problems.length === 0;
  state.policy = state.policyOk ? policy : null;
  const passports = Array.isArray(policy.passports) ? policy.passports.length : 0;
  const perms = state.policyOk ? policy.passports.reduce((n, p) => n + p.permissions.length, 0) : 0;
  showProblems(box, policyEditor, problems, `✓ policy loads: ${passports} passports, ${perms} permissions`);
  updateRun();
  checkRequest();
}

/** The first backticked name in an engine message (`params.amount`), as a JSON path. */
function pathInMessage(message) {
  const m = /`([A-Za-z_][\w.]*)`/.exec(message || "");
  return m ? m[1] : "";
}

function checkRequest() {
  const text = requestEditor.text;
  const box = $("request-problems");
  $("request-revert").hidden = text === pretty(state.scenario.request);
  const syntax = syntaxProblem(text);
  if (syntax) {
    state.requestOk = false;
    showProblems(box, requestEditor, [syntax], "");
    updateRun();
    return;
  }
  const request = JSON.parse(text);
  state.request = request;
  state.requestOk = true;
  if (request === null || typeof request !== "object" || Array.isArray(request)) {
    state.requestOk = false;
    showProblems(box, requestEditor, [{ path: "", code: "invalid_request", message: "the request must be a JSON object" }], "");
    updateRun();
    return;
  }
  // Ask the engine (stateless, nothing recorded) whether it can read the request at all.
  if (state.policyOk) {
    const packet = engine.verifyOnce(state.policy, request, clock.now());
    if (packet.reason === "invalid_request") {
      const detail = packet.trace?.[0]?.detail ?? packet.message;
      showProblems(box, requestEditor, [{ path: pathInMessage(detail), code: "invalid_request", message: detail, hint: "the engine will deny this request as invalid: you can still run it and watch" }], "");
      updateRun();
      return;
    }
  }
  showProblems(box, requestEditor, [], "✓ the engine can read this request");
  updateRun();
}

function updateRun() {
  const run = $("run");
  const note = $("run-note");
  run.disabled = !(state.policyOk && state.requestOk && engineLoaded);
  if (!engineLoaded) note.textContent = "";
  else if (!state.policyOk) note.textContent = "Fix the policy first: a bad policy never loads half-way.";
  else if (!state.requestOk) note.textContent = "The request is not a JSON object yet.";
  else note.textContent = "";
}

// ---- the engine's state --------------------------------------------------------------------
function buildEngine(note) {
  state.behalf = engine.createEngine(state.policy, () => clock.now());
  state.enginePolicyText = policyEditor.text;
  state.tampered.clear();
  state.last = null;
  if (note) $("run-note").textContent = note;
}

function ensureEngine() {
  if (!state.policyOk) return false;
  if (!state.behalf || state.enginePolicyText !== policyEditor.text) {
    const fresh = !state.behalf;
    buildEngine(fresh ? "" : "The policy changed: the engine reloaded it, with fresh approvals, grants, budgets and audit log.");
  }
  return true;
}

// ---- running a trace -----------------------------------------------------------------------
function run() {
  if (!ensureEngine() || !state.requestOk) return;
  const request = JSON.parse(requestEditor.text);
  const packet = state.behalf.verify(request, { now: clock.now() });
  state.last = { packet, request };
  state.runs += 1;
  $("run").classList.remove("nudge");
  renderTrace(packet, request);
  renderOutcome(packet, request);
  renderSide();
  syncUrl();
}

function passportOf(id) {
  return state.policy?.passports?.find((p) => p.id === id) ?? null;
}

function line(cls, key, value) {
  const row = el("span", { class: `ln ${cls || ""}` });
  if (key !== undefined) row.append(el("span", { class: "k" }, key.padEnd(11)));
  if (value instanceof Node) row.append(value);
  else if (value !== undefined) row.append(String(value));
  return row;
}

const RESULT_CLASS = {
  matched: "ok",
  skipped: "dim",
  inactive: "warn",
  failed: "bad",
  required: "warn",
  granted: "ok",
  denied: "bad",
  invalid: "bad",
  missing: "bad",
  none: "dim",
};

function paramText(v) {
  return typeof v === "string" ? v : JSON.stringify(v);
}

function renderTrace(p, request) {
  const body = $("trace-body");
  body.textContent = "";
  body.dataset.decision = p.decision;
  body.dataset.reason = p.reason;
  body.dataset.run = String(state.runs);
  const rows = [];
  rows.push(line("cmd", undefined, el("span", {}, el("span", { class: "prompt" }, "$ "), "behalf verify")));
  const field = (k, label = k) => {
    if (request[k] !== undefined && request[k] !== null) rows.push(line("field", label, visible(paramText(request[k]))));
  };
  field("agentId", "agent");
  field("action");
  field("vendor");
  field("resource");
  if (request.params && typeof request.params === "object" && !Array.isArray(request.params)) {
    for (const [k, v] of Object.entries(request.params)) rows.push(line("field param", k, paramText(v)));
  }

  const considered = new Set();
  for (const t of p.trace ?? []) {
    if (t.step === "passport") {
      const who = p.passportId ?? request.agentId ?? "?";
      if (t.result === "missing") {
        rows.push(line("step", undefined, el("span", {}, `checking ${who}... `, el("span", { class: "bad" }, "no passport for this agent"))));
      } else if (t.result === "inactive") {
        rows.push(line("step", undefined, el("span", {}, `checking ${who}... `, el("span", { class: "bad" }, t.detail))));
      } else {
        rows.push(line("step", undefined, `checking ${who}...`));
        const total = passportOf(p.passportId)?.permissions?.length ?? p.activePermissions ?? 0;
        rows.push(line("step", undefined, `${p.activePermissions ?? 0} of ${total} permissions active`));
      }
      continue;
    }
    if (t.step === "request") {
      rows.push(line("perm", undefined, el("span", {}, "  ✗ ", el("span", { class: "pid" }, "request".padEnd(18)), " ", el("span", { class: "bad res" }, "invalid".padEnd(9)), " ", visible(t.detail))));
      continue;
    }
    if (t.step === "result") {
      rows.push(line("perm none", undefined, el("span", { class: "dim" }, `  · ${t.detail}`)));
      continue;
    }
    if (t.permission) considered.add(t.permission);
    const cls = RESULT_CLASS[t.result] ?? "";
    const effectCls = t.result === "matched" ? { block: "bad", require_approval: "warn", allow: "ok" }[t.detail] ?? "ok" : cls;
    const label = t.permission ?? (t.step === "result" ? "—" : t.step);
    rows.push(
      line(`perm ${t.result}`, undefined, el(
        "span",
        {},
        "  · ",
        el("span", { class: "pid" }, label.padEnd(18)),
        " ",
        el("span", { class: `${effectCls} res` }, t.result.padEnd(9)),
        " ",
        el("span", { class: t.result === "skipped" ? "dim" : "" }, t.detail),
      )),
    );
  }
  const passport = passportOf(p.passportId);
  if (passport && p.activePermissions !== null) {
    const others = passport.permissions.filter((x) => !considered.has(x.id));
    if (others.length && (p.trace ?? []).some((t) => t.step !== "passport")) {
      rows.push(line("perm dim", undefined, `  · ${others.length === 1 ? "1 other permission" : `${others.length} other permissions`} not considered: ${others.map((x) => x.id).join(", ")} (other actions or vendors)`));
    }
  }
  const dcls = p.decision === "allowed" ? "ok" : p.decision === "approval_required" ? "warn" : "bad";
  rows.push(line(`decision ${dcls}`, "DECISION", el("strong", { class: dcls }, p.decision)));
  rows.push(line("", "reason", el("span", { class: dcls }, p.reason)));
  rows.push(line("", "message", p.message));
  if (p.matchedPermission) rows.push(line("", "permission", p.matchedPermission));
  if (p.approvalId) rows.push(line("warn", "approval", p.approvalId));
  if (p.grantId) rows.push(line("ok", "grant", `${p.grantId} (until ${p.grantExpiresAt})`));
  rows.push(line(`executed ${p.allowed ? "ok" : "bad"}`, "executed", el("strong", {}, String(p.allowed))));
  rows.push(line("dim", "requestId", p.requestId));
  rows.forEach((r, i) => r.style.setProperty("--i", i));
  body.append(...rows);
  $("trace-meta").textContent = `evaluated at ${p.evaluatedAt}`;
  body.classList.remove("reveal");
  void body.offsetWidth; // restart the reveal animation
  body.classList.add("reveal");
}

function renderOutcome(p, request) {
  const box = $("outcome");
  box.hidden = false;
  const kind = p.decision === "allowed" ? "allowed" : p.decision === "approval_required" ? "held" : "denied";
  box.dataset.kind = kind;
  const verdict = $("verdict");
  verdict.textContent = "";
  const title = { allowed: "Allowed", held: "Approval required", denied: "Denied" }[kind];
  verdict.append(
    el("div", { class: "verdict-title" }, el("span", { class: "icon", "aria-hidden": "true" }, { allowed: "✓", held: "‖", denied: "✕" }[kind]), " ", title),
    el("div", { class: "verdict-reason" }, el("code", { id: "reason" }, p.reason)),
    el("p", { class: "verdict-msg", id: "message" }, p.message),
  );
  const ex = $("executor");
  ex.textContent = "";
  const what = actionSummary(request);
  if (kind === "allowed") {
    ex.append(
      el("div", { class: "exec-line ok" }, el("span", { class: "exec-tag" }, "executed: true"), " The tool is called: ", what, "."),
      el("p", { class: "muted small" }, p.reason === "approved" ? `A person approved it; grant ${p.grantId} is open until ${p.grantExpiresAt}. ` : "", "In your integration the tool would run now. Here, nothing runs: the sandbox only shows the decision."),
    );
  } else if (kind === "held") {
    const go = el("button", { type: "button", class: "link", onclick: () => document.querySelector("#approvals button")?.focus() }, "Review it in Approvals");
    ex.append(
      el("div", { class: "exec-line warn" }, el("span", { class: "exec-tag" }, "executed: false"), " Held: ", what, " waits for a person."),
      el("p", { class: "muted small" }, p.approvalId ? `Approval ${p.approvalId} is pending. ` : "", go, ", then run the trace again: the agent retries."),
      el(
        "pre",
        { class: "agent-sees", "aria-label": "What the agent is told" },
        "APPROVAL REQUIRED — do not execute this action.\n",
        "Action: ", actionSummary(request), "\n",
        p.approvalId ? `Approval ID: ${p.approvalId}` : "",
      ),
    );
  } else {
    ex.append(
      el("div", { class: "exec-line bad" }, el("span", { class: "exec-tag" }, "executed: false"), " Stopped before the tool: ", what, " never runs."),
      el("p", { class: "muted small" }, "The agent gets the reason back and the decision is in the audit log. Fail closed: no permission, no action."),
    );
  }
}

// ---- approvals, grants, budgets, audit -----------------------------------------------------
/** `action on vendor (resource)`, with look-alike characters marked. */
function actionSummary(r) {
  return el(
    "span",
    {},
    visible(typeof r.action === "string" ? r.action : "?"),
    typeof r.vendor === "string" ? [" on ", visible(r.vendor)] : null,
    typeof r.resource === "string" ? [" (", visible(r.resource), ")"] : null,
  );
}

/** `agent → action on vendor (resource) {params}`. */
function requestSummary(r, withParams = true) {
  const params = withParams && r.params && Object.keys(r.params).length ? ` ${JSON.stringify(r.params)}` : "";
  return el("span", {}, visible(r.agentId ?? "?"), " → ", actionSummary(r), params || null);
}

function renderApprovals() {
  const list = $("approvals");
  list.textContent = "";
  const pending = state.behalf ? state.behalf.pendingApprovals({ now: clock.now() }) : [];
  $("approvals-count").textContent = pending.length;
  $("approvals-empty").hidden = pending.length > 0;
  for (const a of pending) {
    const approve = el("button", { type: "button", class: "primary small", "aria-label": `Approve ${a.approvalId}`, onclick: () => decide(a.approvalId, true) }, "Approve");
    const deny = el("button", { type: "button", class: "danger small", "aria-label": `Deny ${a.approvalId}`, onclick: () => decide(a.approvalId, false) }, "Deny");
    list.append(
      el(
        "li",
        { class: "item approval", dataset: { id: a.approvalId } },
        el("div", { class: "item-main" }, el("code", {}, a.approvalId), el("span", { class: "muted small" }, ` · ${a.permission}`)),
        el("div", { class: "small" }, requestSummary(a.request)),
        el("div", { class: "muted small" }, `waiting since ${fmtTime(a.createdAt)} · expires ${a.expiresAt.replace("T", " ").slice(0, 16)} UTC`),
        el("div", { class: "actions" }, approve, deny),
      ),
    );
  }
}

function decide(id, approve) {
  const now = clock.now();
  try {
    if (approve) {
      const g = state.behalf.approve(id, { now });
      $("run-note").textContent = `Approved: grant ${g.grantId} open until ${fmtTime(g.expiresAt)} UTC. Run the trace again: the agent retries.`;
    } else {
      state.behalf.deny(id, { now });
      $("run-note").textContent = `Denied ${id}: the same request is refused until the approval expires.`;
    }
  } catch (e) {
    $("run-note").textContent = `${e.code ? e.code + ": " : ""}${e.message || e}`;
  }
  renderSide();
  nudge();
  $("run").focus();
}

/** Points at Run: the next step is the agent's retry. */
function nudge() {
  $("run").classList.add("nudge");
}

let grantsShown = "";
function renderGrants() {
  const now = clock.now();
  const grants = state.behalf ? state.behalf.grants({ now }) : [];
  const list = $("grants");
  const key = grants.map((g) => g.grantId).join();
  if (key !== grantsShown) {
    grantsShown = key;
    list.textContent = "";
    for (const g of grants) {
      list.append(
        el(
          "li",
          { class: "item grant", dataset: { id: g.grantId, end: Date.parse(g.expiresAt), start: Date.parse(g.createdAt) } },
          el("div", { class: "item-main" }, el("code", {}, g.grantId), el("span", { class: "muted small" }, ` · ${g.permission}${g.singleUse ? " · single use" : ""}`)),
          el("div", { class: "small" }, requestSummary(g.request)),
          el("div", { class: "countdown" }, el("span", { class: "left" }), el("span", { class: "muted small" }, ` left · until ${fmtTime(g.expiresAt)} UTC`)),
          el("div", { class: "bar", "aria-hidden": "true" }, el("i")),
        ),
      );
    }
  }
  $("grants-count").textContent = grants.length;
  $("grants-empty").hidden = grants.length > 0;
  tickGrants(now);
}

function tickGrants(now) {
  let expired = false;
  for (const li of document.querySelectorAll("#grants li")) {
    const end = Number(li.dataset.end);
    const start = Number(li.dataset.start);
    const left = end - now;
    if (left <= 0) expired = true;
    li.querySelector(".left").textContent = fmtLeft(left);
    li.querySelector(".bar i").style.width = `${Math.max(0, Math.min(100, (left / (end - start)) * 100))}%`;
  }
  return expired;
}

function renderUsage() {
  const box = $("usage");
  box.textContent = "";
  if (!state.behalf || !state.policy) return;
  // The engine says what its next decision counts; the page does no arithmetic of its own.
  const usage = state.behalf.usage({ now: clock.now() });
  for (const passport of state.policy.passports) {
    for (const perm of passport.permissions) {
      const budget = perm.limits?.budget;
      if (!budget) continue;
      const spent = usage.find((u) => u.permission === perm.id)?.budget?.spent ?? 0;
      const pct = Math.min(100, (spent / budget.amount) * 100);
      box.append(
        el(
          "div",
          { class: "budget", id: `budget-${perm.id}` },
          el("div", { class: "small" }, "Budget ", el("code", {}, perm.id), `: `, el("strong", {}, `${spent} of ${budget.amount}`), ` spent in the last ${budget.per}`),
          el("div", { class: `bar ${pct >= 100 ? "full" : ""}`, "aria-hidden": "true" }, el("i", { style: `width:${pct}%` })),
        ),
      );
    }
  }
}

function tamper(record) {
  const copy = structuredClone(record);
  if (record.event === "decision") {
    const allowed = record.decision === "allowed";
    copy.decision = allowed ? "denied" : "allowed";
    copy.reason = allowed ? "no_permission" : "allowed";
  } else {
    copy.event = record.event === "approval.granted" ? "approval.denied" : "approval.granted";
  }
  return copy;
}

function renderAudit() {
  const body = $("audit");
  body.textContent = "";
  const log = state.behalf ? state.behalf.auditLog() : [];
  const records = log.map((r) => state.tampered.get(r.seq) ?? r);
  $("audit-count").textContent = records.length;
  const report = records.length ? engine.verifyChain(records) : { ok: true, records: 0 };
  const chain = $("chain");
  chain.textContent = "";
  if (!report) {
    chain.className = "chain unknown";
    chain.append("The package exports no chain verifier; the chain is not checked here.");
  } else if (report.ok) {
    chain.className = "chain ok";
    chain.dataset.ok = "true";
    chain.append(el("span", { "aria-hidden": "true" }, "✓ "), records.length ? `Chain verified: ${records.length} ${records.length === 1 ? "record" : "records"}, every hash recomputed` : "Chain verified: empty");
  } else {
    chain.className = "chain bad";
    chain.dataset.ok = "false";
    chain.append(el("span", { "aria-hidden": "true" }, "✕ "), `Chain broken at record #${report.firstBrokenSeq ?? (report.firstBroken ?? 0) + 1}: ${report.problem}`);
  }
  const broken = report && !report.ok ? report.firstBroken : -1;
  records.forEach((r, i) => {
    const original = log[i];
    const isTampered = state.tampered.has(r.seq);
    const diff = (key) => isTampered && original[key] !== r[key];
    const cell = (key, text) => (diff(key) ? el("span", {}, el("del", {}, String(original[key])), " ", el("ins", {}, String(r[key]))) : text);
    const outcome =
      r.event === "decision"
        ? el("span", { class: r.decision === "allowed" ? "ok" : r.decision === "approval_required" ? "warn" : "bad" }, cell("decision", r.decision), " · ", cell("reason", r.reason))
        : el("span", { class: "muted" }, r.grantId ? `${r.approvalId} → ${r.grantId}` : r.approvalId);
    const button = el(
      "button",
      { type: "button", class: `link small ${isTampered ? "undo" : ""}`, "aria-label": `${isTampered ? "Restore" : "Tamper with"} record ${r.seq}`, onclick: () => {
        if (state.tampered.has(r.seq)) state.tampered.delete(r.seq);
        else state.tampered.set(r.seq, tamper(original));
        renderAudit();
      } },
      isTampered ? "Restore" : "Tamper",
    );
    body.append(
      el(
        "tr",
        { class: `${i === broken ? "broken" : ""} ${isTampered ? "tampered" : ""}`, dataset: { seq: r.seq } },
        el("td", { class: "num" }, r.seq),
        el("td", { class: "time" }, fmtTime(r.time)),
        el("td", { class: "event" }, cell("event", r.event)),
        el("td", { class: "req" }, r.agentId ? requestSummary(r, false) : "—"),
        el("td", { class: "outcome" }, outcome),
        el("td", { class: "hash" }, el("code", { title: `hash ${r.hash}\nprevHash ${r.prevHash}` }, `${r.hash.slice(0, 10)}…`)),
        el("td", { class: "act" }, button),
      ),
    );
  });
  const scroll = document.querySelector(".audit-scroll");
  scroll.scrollTop = scroll.scrollHeight;
}

function renderSide() {
  renderApprovals();
  renderGrants();
  renderUsage();
  renderAudit();
}

// ---- scenarios and the URL -----------------------------------------------------------------
function renderScenarios() {
  const list = $("scenario-list");
  list.textContent = "";
  for (const s of SCENARIOS) {
    list.append(
      el(
        "li",
        {},
        el(
          "button",
          { type: "button", class: "scenario", "aria-pressed": String(s.id === state.scenario.id), dataset: { id: s.id }, onclick: () => pick(s.id, true) },
          el("span", { class: "scenario-title" }, s.title),
          el("span", { class: `tag tag-${s.tag}` }, s.tag),
        ),
      ),
    );
  }
}

function showStory() {
  const s = state.scenario;
  $("story-title").textContent = s.title;
  $("story-text").textContent = s.story;
  const steps = $("story-steps");
  steps.textContent = "";
  steps.hidden = !s.steps;
  for (const step of s.steps ?? []) steps.append(el("li", {}, step));
  for (const b of document.querySelectorAll(".scenario")) b.setAttribute("aria-pressed", String(b.dataset.id === s.id));
  document.title = `${s.title} — behalf sandbox`;
}

function pick(id, runNow) {
  state.scenario = scenarioById(id) ?? SCENARIOS[0];
  requestEditor.text = pretty(state.scenario.request);
  showStory();
  checkRequest();
  syncUrl();
  if (runNow) run();
}

function syncUrl() {
  writeUrlState({
    scenario: state.scenario.id,
    request: requestEditor.text === pretty(state.scenario.request) ? null : requestEditor.text,
    policy: policyEditor.text === DEFAULT_POLICY_TEXT ? null : policyEditor.text,
  });
}

function resetSandbox() {
  clock.reset();
  tick();
  if (state.policyOk) buildEngine("Sandbox reset: a fresh engine, the clock back at 11:00.");
  $("trace-body").textContent = "";
  $("trace-body").append(el("span", { class: "dim" }, "Run a trace to see the engine decide."));
  $("outcome").hidden = true;
  renderSide();
}

// ---- start ---------------------------------------------------------------------------------
let engineLoaded = false;

function tick() {
  const now = clock.now();
  $("clock").textContent = fmtClock(now);
  $("clock").dateTime = new Date(now).toISOString();
  if (state.behalf && tickGrants(now)) renderSide();
}

async function main() {
  requestEditor = editor("request");
  policyEditor = editor("policy");
  renderScenarios();

  const fromUrl = readUrlState();
  state.scenario = scenarioById(fromUrl.scenario) ?? SCENARIOS[0];
  requestEditor.text = fromUrl.request ?? pretty(state.scenario.request);
  policyEditor.text = fromUrl.policy ?? DEFAULT_POLICY_TEXT;
  showStory();
  tick();
  setInterval(tick, 250);

  try {
    await engine.load();
  } catch (e) {
    const fatal = $("fatal");
    fatal.hidden = false;
    fatal.textContent = `The engine could not load (${e.message || e}). The sandbox needs WebAssembly.`;
    return;
  }
  engineLoaded = true;
  const v = engine.packageVersion();
  $("engine-version").textContent = v ? `Engine: behalf ${v} (WebAssembly).` : "Engine: behalf (WebAssembly).";

  const onRequest = debounce(() => {
    checkRequest();
    syncUrl();
  }, 120);
  const onPolicy = debounce(() => {
    checkPolicy();
    syncUrl();
  }, 120);
  requestEditor.area.addEventListener("input", () => {
    requestEditor.mark(null);
    onRequest();
  });
  policyEditor.area.addEventListener("input", () => {
    policyEditor.mark(null);
    onPolicy();
  });
  for (const ed of [requestEditor, policyEditor]) {
    ed.area.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        flushChecks();
        run();
      }
    });
  }
  $("request-revert").addEventListener("click", () => {
    requestEditor.text = pretty(state.scenario.request);
    checkRequest();
    syncUrl();
  });
  $("policy-revert").addEventListener("click", () => {
    policyEditor.text = DEFAULT_POLICY_TEXT;
    checkPolicy();
    syncUrl();
  });
  $("run").addEventListener("click", () => {
    flushChecks();
    run();
  });
  $("share").addEventListener("click", async () => {
    syncUrl();
    try {
      await navigator.clipboard.writeText(location.href);
      $("run-note").textContent = "Link copied: it reproduces this scenario and your edits.";
    } catch {
      $("run-note").textContent = "Copy the address bar: it holds this scenario and your edits.";
    }
  });
  for (const b of document.querySelectorAll("[data-advance]")) {
    b.addEventListener("click", () => {
      clock.advance(Number(b.dataset.advance));
      tick();
      renderSide();
      $("run-note").textContent = `The simulated clock jumped ${b.textContent.trim()}. Nothing else changed: run the trace again.`;
      nudge();
    });
  }
  $("reset").addEventListener("click", resetSandbox);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !(e.target instanceof HTMLTextAreaElement)) {
      e.preventDefault();
      run();
    }
  });
  window.addEventListener("hashchange", () => {
    const s = readUrlState();
    if (s.scenario === state.scenario.id && (s.request ?? pretty(state.scenario.request)) === requestEditor.text && (s.policy ?? DEFAULT_POLICY_TEXT) === policyEditor.text) return;
    state.scenario = scenarioById(s.scenario) ?? SCENARIOS[0];
    requestEditor.text = s.request ?? pretty(state.scenario.request);
    policyEditor.text = s.policy ?? DEFAULT_POLICY_TEXT;
    showStory();
    checkPolicy();
    if (state.policyOk) run();
  });

  checkPolicy();
  if (state.policyOk) {
    buildEngine("");
    run();
  } else {
    renderSide();
  }
  document.body.dataset.ready = "true";
}

function flushChecks() {
  checkPolicy();
}

main().catch((e) => {
  const fatal = $("fatal");
  fatal.hidden = false;
  fatal.textContent = `Something broke: ${e.message || e}`;
  console.error(e);
});
