// A typed agent using behalf; `tsc --noEmit -p examples` checks it against the shipped .d.ts.
import {
  Behalf,
  verify,
  validatePolicy,
  verifyAuditLog,
  webhooks,
  PolicyError,
  DeniedError,
  ApprovalRequiredError,
  BehalfClient,
  type Decision,
  type Policy,
  type Reason,
  type Request,
  type WebhookDelivery,
  type WebhookEvent,
} from "behalf";
import init, { Behalf as WebBehalf } from "behalf/web";

const policy: Policy = {
  version: 1,
  passports: [
    {
      id: "passport_claude",
      agent: "agent_claude_code",
      permissions: [
        { id: "deploy_staging", action: "deploy", vendor: "vercel.com", when: { env: "staging" } },
        { id: "deploy_production", action: "deploy", vendor: "vercel.com", when: { env: { in: ["production"] } }, effect: "require_approval", approval: { grantTtl: "30m" } },
        { id: "mail_colleagues", action: "send_email", when: { to: { emailDomain: ["example.com", "*.example.org"] } } },
        { id: "small_purchases", action: "purchase", vendor: "*.amazon.com", limits: { maxAmount: 100, budget: { amount: 300, per: "1d" } } },
      ],
    },
  ],
};

const behalf = new Behalf(policy, { clock: () => Date.now(), onDecision: (r) => console.log(r.seq, r.hash) });
const request: Request = { agentId: "agent_claude_code", action: "deploy", vendor: "vercel.com", params: { env: "staging" } };
const d: Decision = behalf.verify(request, { now: "2026-11-26T11:00:00Z" });

// `allowed` narrows the union: reasons and ids follow.
if (d.allowed) {
  const why: "allowed" | "approved" = d.reason;
  const grant: string | null = d.grantId;
  void why, grant;
} else if (d.decision === "approval_required") {
  const why: "requires_approval" = d.reason;
  if (d.approvalId !== null) {
    const g = behalf.approve(d.approvalId, { ttl: "10m", now: Date.now() });
    const expires: string = g.expiresAt;
    void expires, why;
  }
} else {
  const why: Exclude<Reason, "allowed" | "approved" | "requires_approval"> = d.reason;
  void why;
}

// @ts-expect-error: "maybe" is not a decision
const wrong: Decision["decision"] = "maybe";
void wrong;

const once = verify(JSON.stringify(policy), request);
const problems = validatePolicy(policy);
const report = verifyAuditLog(behalf.auditLog(), { lastHash: null });
const ok: boolean = report.ok && problems.length === 0 && once.allowed;
void ok;

const deploy = behalf.guard((env: string) => `deployed ${env}`, (env) => ({ agentId: "agent_claude_code", action: "deploy", vendor: "vercel.com", params: { env } }));
try {
  const out: string = deploy("production");
  void out;
} catch (e) {
  if (e instanceof ApprovalRequiredError) console.log(e.approvalId, e.decision.reason);
  else if (e instanceof DeniedError) console.log(e.decision.reason);
  else if (e instanceof PolicyError) console.log(e.problems[0]?.path);
}

const sig: string = webhooks.sign({ secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id: "msg_1", timestamp: 1614265330, body: "{}" });
const valid: boolean = webhooks.verify({ secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id: "msg_1", timestamp: "1614265330", body: "{}", signature: sig });
void valid;

const record = behalf.auditLog()[0];
if (record !== undefined) {
  const event: WebhookEvent = webhooks.event(record).type;
  const delivery: WebhookDelivery = webhooks.delivery(record, { secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], timestamp: 1614265330 });
  const id: string = delivery.headers["webhook-id"];
  const init: RequestInit = { method: "POST", headers: delivery.headers, body: delivery.body };
  void event, id, init, webhooks.delivery(record, { secrets: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }).eventType;
  // @ts-expect-error: the secret is required
  webhooks.delivery(record, {});
}

export async function inBrowser(): Promise<boolean> {
  await init();
  return new WebBehalf(policy).verify(request).allowed;
}

// A remote agent: the same packets from `behalf serve`; never rejects, denied on any fault.
export async function remote(): Promise<string | null> {
  const client = new BehalfClient({ url: "http://127.0.0.1:7777", apiKey: "bhk_x", timeoutMs: 500 });
  const d: Decision = await client.verify(request, { timeoutMs: 1000 });
  if (d.decision === "approval_required" && d.approvalId !== null) return client.approvalUrl(d.approvalId);
  // @ts-expect-error: the key is required
  new BehalfClient({ url: "http://127.0.0.1:7777" });
  return d.allowed ? null : d.reason;
}
