// End-to-end: the built sandbox (www/dist) served from localhost, driven in Debian's headless
// chromium through playwright-core. Screenshots go to test-output/www/.
//
// node --test www/tests/   (after `node www/build.mjs`)

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { SCENARIOS } from "../src/scenarios.js";

const here = dirname(fileURLToPath(import.meta.url));
const www = resolve(here, "..");
const root = resolve(www, "..");
const dist = process.env.WWW_DIST ?? join(www, "dist");
const shots = join(root, "test-output", "www");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

const DESKTOP = { width: 1360, height: 900 };
const MOBILE = { width: 375, height: 812 };

let server;
let base;
let context;
let userDataDir;
const problems = []; // console errors, page errors, failed requests: any of them fails the run

function startServer() {
  return new Promise((resolveUrl, reject) => {
    const child = spawn("python3", [join(www, "serve.py"), dist, "0", "-q"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`the server did not start: ${out}`)), 15000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveUrl({ child, url: m[0] });
      }
    });
    child.stderr.on("data", (d) => (out += d));
    child.on("exit", (code) => reject(new Error(`the server exited (${code}): ${out}`)));
  });
}

async function openPage(viewport = DESKTOP, hash = "") {
  const page = await context.newPage();
  await page.setViewportSize(viewport);
  const label = () => page.url();
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()} on ${label()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error on ${label()}: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  page.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith(base) && !url.startsWith("data:") && !url.startsWith("blob:")) problems.push(`request outside the sandbox: ${url}`);
  });
  await page.goto(base + (hash ? `#${hash}` : ""));
  await page.waitForSelector("body[data-ready=true]", { timeout: 20000 });
  return page;
}

async function traceText(page) {
  return page.locator("#trace-body").innerText();
}

/** The trace without what differs from run to run (the request id). */
function stable(text) {
  return text
    .split("\n")
    .filter((l) => !l.startsWith("requestId"))
    .join("\n")
    .replace(/req_[A-Za-z0-9]{16}/g, "req_…")
    .replace(/apr_[A-Za-z0-9]{16}/g, "apr_…");
}

async function expectDecision(page, decision, reason) {
  const body = page.locator("#trace-body");
  await body.locator(".decision").waitFor();
  assert.equal(await body.getAttribute("data-decision"), decision);
  assert.equal(await body.getAttribute("data-reason"), reason);
  const text = await traceText(page);
  assert.match(text, new RegExp(`^DECISION\\s+${decision}$`, "m"));
  assert.match(text, new RegExp(`^reason\\s+${reason}$`, "m"));
  assert.match(text, new RegExp(`^executed\\s+${decision === "allowed"}$`, "m"));
  assert.match(text, /^requestId\s+req_[A-Za-z0-9]{16}$/m);
  assert.equal(await page.locator("#reason").innerText(), reason);
  return text;
}

/** How many traces the page has run (the trace panel counts them). */
async function runs(page) {
  return Number((await page.locator("#trace-body").getAttribute("data-run")) ?? 0);
}

async function afterRun(page, action) {
  const before = await runs(page);
  await action();
  await page.waitForFunction((n) => Number(document.querySelector("#trace-body").dataset.run ?? 0) > n, before);
}

async function run(page) {
  await afterRun(page, () => page.click("#run"));
}

async function pick(page, id) {
  await afterRun(page, () => page.click(`button.scenario[data-id="${id}"]`));
}

async function shot(page, name) {
  await page.evaluate(() => window.scrollTo(0, 0)); // the sticky scenario list sits at the top
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

before(async () => {
  assert.ok(existsSync(join(dist, "index.html")), `build the sandbox first (node www/build.mjs): ${dist} is missing`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing (scripts/setup-www.sh installs Debian's chromium)`);
  mkdirSync(shots, { recursive: true });
  server = await startServer();
  base = server.url;
  userDataDir = mkdtempSync(join(tmpdir(), "behalf-www-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    reducedMotion: "reduce",
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
  await context?.close();
  server?.child.kill();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

describe("every scenario decides as its story says", () => {
  for (const s of SCENARIOS) {
    test(`${s.id}: ${s.expect.decision} / ${s.expect.reason}`, async () => {
      const page = await openPage(DESKTOP);
      if (s.id !== SCENARIOS[0].id) await pick(page, s.id);
      const text = await expectDecision(page, s.expect.decision, s.expect.reason);
      if (s.expect.message) assert.equal(await page.locator("#message").innerText(), s.expect.message);
      assert.equal(await page.locator(`button.scenario[data-id="${s.id}"]`).getAttribute("aria-pressed"), "true");
      assert.match(text, new RegExp(`^agent\\s+${s.request.agentId}$`, "m"));
      assert.match(text, new RegExp(`^action\\s+${s.request.action}$`, "m"));
      assert.ok(page.url().includes(`s=${s.id}`), "the scenario is in the URL");
      await page.waitForTimeout(150);
      await shot(page, `${s.id}-desktop`);
      await page.setViewportSize(MOBILE);
      await page.waitForTimeout(150);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `no sideways scrolling at 375px (overflow ${overflow}px)`);
      await shot(page, `${s.id}-mobile`);
      await page.close();
    });
  }

  test("at 375 px the scenario picker shows every scenario, with no sideways scrolling", async () => {
    const page = await openPage(MOBILE);
    const list = page.locator("#scenario-list");
    const buttons = page.locator("button.scenario");
    assert.equal(await buttons.count(), SCENARIOS.length);
    assert.ok(await list.evaluate((l) => l.scrollWidth <= l.clientWidth), "the list does not scroll sideways");
    for (const s of SCENARIOS) {
      const box = await page.locator(`button.scenario[data-id="${s.id}"]`).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= MOBILE.width, `${s.id} is inside the 375 px width (${JSON.stringify(box)})`);
      const title = page.locator(`button.scenario[data-id="${s.id}"] .scenario-title`);
      assert.ok(await title.evaluate((t) => t.scrollWidth <= t.clientWidth + 1), `${s.id}'s title is not cut off`);
    }
    await page.locator(".scenarios").screenshot({ path: join(shots, "scenario-picker-375.png") });
    await page.close();
  });

  test("the trace tells the story like the terminal", async () => {
    const page = await openPage(DESKTOP, "s=production");
    const text = await expectDecision(page, "approval_required", "requires_approval");
    assert.match(text, /^\$ behalf verify$/m);
    assert.match(text, /^env\s+production$/m);
    assert.match(text, /^checking passport_claude\.\.\.$/m);
    assert.match(text, /^4 of 4 permissions active$/m);
    assert.match(text, /deploy_staging\s+skipped\s+condition on `env` does not hold/);
    assert.match(text, /deploy_production\s+matched\s+require_approval/);
    assert.match(text, /deploy_production\s+required\s+no grant covers this request/);
    assert.match(text, /^approval\s+apr_[A-Za-z0-9]{16}$/m);
    assert.match(await page.locator("#executor").innerText(), /executed: false/);
    await page.close();
  });

  test("the look-alike vendor is shown for what it is", async () => {
    const page = await openPage(DESKTOP, "s=lookalike");
    const text = await expectDecision(page, "denied", "invalid_request");
    assert.match(text, /U\+FF56/);
    assert.match(await page.locator("#message").innerText(), /^Invalid request: `vendor`/);
    assert.match(await page.locator("#request-problems").innerText(), /vendor/);
    await page.close();
  });
});

describe("approval flow", () => {
  test("approve, retry inside the 30-minute window, held again after it", async () => {
    const page = await openPage(DESKTOP, "s=production");
    await expectDecision(page, "approval_required", "requires_approval");
    const first = /^approval\s+(apr_\w+)$/m.exec(await traceText(page))[1];
    assert.equal(await page.locator("#approvals li").count(), 1);
    assert.equal(await page.locator("#approvals li").getAttribute("data-id"), first);

    // The same request again: the same pending approval, not a second one.
    await run(page);
    assert.equal(/^approval\s+(apr_\w+)$/m.exec(await traceText(page))[1], first);
    assert.equal(await page.locator("#approvals li").count(), 1);

    await page.getByRole("button", { name: `Approve ${first}` }).click();
    await page.locator("#grants li").waitFor();
    assert.equal(await page.locator("#approvals li").count(), 0);
    const left = await page.locator("#grants .left").innerText();
    assert.match(left, /^(30:00|29:[0-5]\d)$/, `countdown starts at 30 minutes, got ${left}`);
    await shot(page, "production-approved-desktop");

    await run(page);
    let text = await expectDecision(page, "allowed", "approved");
    assert.match(text, /deploy_production\s+granted\s+an active grant covers this request/);
    assert.match(text, /^grant\s+grt_[A-Za-z0-9]{16} \(until 2026-11-26T11:3\d:\d\d\.\d{3}Z\)$/m);
    assert.match(await page.locator("#executor").innerText(), /executed: true/);
    await shot(page, "production-retry-allowed-desktop");

    // The countdown is live: it moves with the (simulated) clock.
    await page.click("text=+1 min");
    const later = await page.locator("#grants .left").innerText();
    assert.match(later, /^(29:00|28:[0-5]\d)$/, `one minute later, got ${later}`);

    await page.click("#advance-31");
    await page.waitForFunction(() => document.querySelectorAll("#grants li").length === 0);
    await run(page);
    text = await expectDecision(page, "approval_required", "requires_approval");
    const second = /^approval\s+(apr_\w+)$/m.exec(text)[1];
    assert.notEqual(second, first, "a new approval after the window closed");
    assert.match(await page.locator("#clock").innerText(), /26 Nov 2026 11:3\d:\d\d UTC/);
    await shot(page, "production-window-closed-desktop");
    await page.setViewportSize(MOBILE);
    await shot(page, "production-window-closed-mobile");
    await page.close();
  });

  test("deny: the same request is refused as approval_denied", async () => {
    const page = await openPage(DESKTOP, "s=production");
    const id = /^approval\s+(apr_\w+)$/m.exec(await traceText(page))[1];
    await page.getByRole("button", { name: `Deny ${id}` }).click();
    await run(page);
    await expectDecision(page, "denied", "approval_denied");
    await page.close();
  });

  test("a daily budget: allowed until it is spent, fresh the next day", async () => {
    const page = await openPage(DESKTOP, "s=budget");
    await expectDecision(page, "allowed", "allowed");
    assert.match(await page.locator("#budget-groceries").innerText(), /60 of 150/);
    await run(page);
    await expectDecision(page, "allowed", "allowed");
    await run(page);
    const text = await expectDecision(page, "denied", "limit_exceeded");
    assert.match(text, /groceries\s+failed/);
    assert.match(await page.locator("#budget-groceries").innerText(), /120 of 150/);
    await shot(page, "budget-spent-desktop");
    await page.click("text=+1 day");
    await run(page);
    await expectDecision(page, "allowed", "allowed");
    await page.close();
  });
});

describe("editors", () => {
  test("a bad policy: the error names the offending path, and nothing runs", async () => {
    const page = await openPage(DESKTOP);
    const policy = JSON.parse(await page.locator("#policy-editor").inputValue());
    policy.passports[0].permissions[1].when.env = { regex: "prod.*" };
    policy.passports[1].permissions[3].limits.budget.per = "1 week";
    await page.locator("#policy-editor").fill(JSON.stringify(policy, null, 2));
    const box = page.locator("#policy-problems");
    await box.locator(".problem").first().waitFor();
    const text = await box.innerText();
    assert.match(text, /passports\[0\]\.permissions\[1\]\.when\.env\.regex/);
    assert.match(text, /passports\[1\]\.permissions\[3\]\.limits\.budget\.per/);
    assert.match(text, /2 problems/);
    assert.ok(await page.locator("#run").isDisabled(), "Run is disabled while the policy is bad");
    // The problem's "line" button selects the offending text in the editor.
    await box.locator(".problem button").first().click();
    const selected = await page.locator("#policy-editor").evaluate((a) => a.value.slice(a.selectionStart, a.selectionEnd));
    assert.match(selected, /"regex"/);
    await shot(page, "policy-invalid-desktop");
    await page.setViewportSize(MOBILE);
    await shot(page, "policy-invalid-mobile");

    // Broken JSON: located by line and column.
    await page.setViewportSize(DESKTOP);
    await page.locator("#policy-editor").fill('{ "version": 1, "passports": [ }');
    await page.waitForFunction(() => /invalid_json/.test(document.querySelector("#policy-problems").innerText));
    assert.match(await box.innerText(), /line 1, column 32/);
    await page.close();
  });

  test("an edited policy runs: the engine reloads it", async () => {
    const page = await openPage(DESKTOP, "s=coachella");
    await expectDecision(page, "denied", "no_permission");
    const policy = JSON.parse(await page.locator("#policy-editor").inputValue());
    policy.passports[1].permissions.push({ id: "festival", action: "purchase", vendor: "coachella.com", limits: { maxAmount: 1000 } });
    await page.locator("#policy-editor").fill(JSON.stringify(policy, null, 2));
    await page.waitForFunction(() => /policy loads/.test(document.querySelector("#policy-problems").innerText));
    await run(page);
    const text = await expectDecision(page, "allowed", "allowed");
    assert.match(text, /festival\s+matched\s+allow/);
    await page.close();
  });

  test("Ctrl+Enter in the request editor runs the edited request", async () => {
    const page = await openPage(DESKTOP, "s=email-ok");
    const editor = page.locator("#request-editor");
    const request = JSON.parse(await editor.inputValue());
    request.params.to = "someone@elsewhere.org";
    await editor.fill(JSON.stringify(request, null, 2));
    await afterRun(page, () => editor.press("Control+Enter"));
    const text = await expectDecision(page, "denied", "no_permission");
    assert.match(text, /email_example\s+skipped\s+condition on `to` does not hold/);
    await page.close();
  });
});

describe("the rest of the page", () => {
  test("a request that is not JSON is located, and Reset starts over", async () => {
    const page = await openPage(DESKTOP, "s=production");
    await expectDecision(page, "approval_required", "requires_approval");
    await page.locator("#request-editor").fill('{ "agentId": "agent_ollie", "action": }');
    await page.waitForFunction(() => /invalid_json/.test(document.querySelector("#request-problems").innerText));
    assert.match(await page.locator("#request-problems").innerText(), /line 1, column 39/);
    assert.ok(await page.locator("#run").isDisabled());
    await page.click("#request-revert");
    assert.ok(await page.locator("#run").isEnabled());
    await page.click("#advance-31");
    await page.click("#reset");
    assert.equal(await page.locator("#approvals li").count(), 0);
    assert.equal(await page.locator("#audit tr").count(), 0);
    assert.match(await page.locator("#clock").innerText(), /26 Nov 2026 11:00:0\d UTC/);
    await page.close();
  });
});

describe("sharing and the audit chain", () => {
  test("a shared link reproduces the same trace, edits included", async () => {
    const page = await openPage(DESKTOP, "s=budget");
    const editor = page.locator("#request-editor");
    const request = JSON.parse(await editor.inputValue());
    request.params.amount = 101;
    await editor.fill(JSON.stringify(request, null, 2));
    const policy = JSON.parse(await page.locator("#policy-editor").inputValue());
    policy.passports[1].permissions[3].id = "weekly_shop";
    await page.locator("#policy-editor").fill(JSON.stringify(policy, null, 2));
    await page.waitForFunction(() => /[#&]r=/.test(location.hash) && /[#&]p=/.test(location.hash));
    await run(page);
    const text = await expectDecision(page, "denied", "limit_exceeded");
    assert.match(text, /^amount\s+101$/m);
    assert.match(text, /weekly_shop\s+failed/);
    const link = page.url();
    await page.close();

    const again = await openPage(DESKTOP, link.split("#")[1]);
    const text2 = await expectDecision(again, "denied", "limit_exceeded");
    assert.equal(stable(text2), stable(text));
    assert.equal(JSON.parse(await again.locator("#request-editor").inputValue()).params.amount, 101);
    assert.ok(await again.locator("#policy-revert").isVisible(), "the edited policy is marked as edited");
    await shot(again, "shared-link-desktop");
    await again.close();
  });

  test("tampering with a record breaks the verified chain", async () => {
    const page = await openPage(DESKTOP, "s=coachella");
    await pick(page, "staging");
    await pick(page, "prod-db");
    const chain = page.locator("#chain");
    assert.match(await chain.innerText(), /Chain verified: 3 records/);
    await page.getByRole("button", { name: "Tamper with record 2" }).click();
    assert.match(await chain.innerText(), /Chain broken at record #2/);
    assert.equal(await page.locator("#audit tr.broken").getAttribute("data-seq"), "2");
    await shot(page, "audit-tampered-desktop");
    await page.setViewportSize(MOBILE);
    await shot(page, "audit-tampered-mobile");
    await page.getByRole("button", { name: "Restore record 2" }).click();
    assert.match(await chain.innerText(), /Chain verified: 3 records/);
    await page.close();
  });

  test("keyboard: every control is reachable and the page says what it is", async () => {
    const page = await openPage(DESKTOP);
    assert.match(await page.locator("#honest").innerText(), /No real action ever runs/);
    await page.keyboard.press("Tab"); // skip link
    assert.equal(await page.evaluate(() => document.activeElement.className), "skip");
    let reached = false;
    for (let i = 0; i < 12 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = await page.evaluate(() => document.activeElement.dataset?.id === "coachella");
    }
    assert.ok(reached, "the scenarios are reachable with Tab");
    await afterRun(page, () => page.keyboard.press("Enter"));
    await expectDecision(page, "denied", "no_permission");
    await page.close();
  });
});

describe("a clean run", () => {
  test("no console errors, no failed or outside requests", () => {
    assert.deepEqual(problems, []);
  });
});
