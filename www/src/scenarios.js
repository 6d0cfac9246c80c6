// The sandbox's policy and scenarios. Every decision shown in the page comes from the engine
// (behalf-core compiled to WebAssembly); these are only its inputs and a short story each.

/** The simulated clock starts here, so every visitor (and every test) sees the same windows. */
export const CLOCK_START = Date.parse("2026-11-26T11:00:00.000Z");

export const POLICY = {
  version: 1,
  passports: [
    {
      id: "passport_claude",
      agent: "agent_claude_code",
      description: "A coding agent that ships to Vercel and looks after the databases.",
      expiresAt: "2027-06-01T00:00:00Z",
      permissions: [
        { id: "deploy_staging", action: "deploy", vendor: "vercel.com",
          when: { env: "staging" } },
        { id: "deploy_production", action: "deploy", vendor: "vercel.com",
          when: { env: "production" }, effect: "require_approval",
          approval: { grantTtl: "30m" } },
        { id: "db_admin", action: "*", resource: "db/**",
          description: "Anything on any database…" },
        { id: "no_prod_db", action: "*", resource: "db/prod/**", effect: "block",
          description: "…except production: block wins, whatever the order." },
      ],
    },
    {
      id: "passport_ollie",
      agent: "agent_ollie",
      description: "A personal assistant: browses, emails colleagues, buys groceries.",
      permissions: [
        { id: "browse_anywhere", action: "browse", vendor: "*" },
        { id: "email_example", action: "send_email", vendor: "gmail.com",
          when: { to: { emailDomain: "example.com" } } },
        { id: "no_email_rival", action: "send_email", vendor: "*",
          when: { to: { emailDomain: ["rival.io", "*.rival.io"] } }, effect: "block" },
        { id: "groceries", action: "purchase", vendor: "instacart.com",
          limits: { maxAmount: 100, budget: { amount: 150, per: "1d" } } },
        { id: "presale_tickets", action: "purchase", vendor: "ticketmaster.com",
          expiresAt: "2026-11-01T00:00:00Z",
          limits: { maxAmount: 500 } },
      ],
    },
  ],
};

/**
 * Each scenario: a request and its story. `expect` is what the engine decides on a fresh
 * sandbox (the end-to-end tests assert it; the page never uses it to decide anything).
 */
export const SCENARIOS = [
  {
    id: "staging",
    title: "Deploy to staging",
    tag: "allowed",
    story: "The coding agent pushes to the staging environment. Staging is always allowed, so the deploy goes ahead.",
    request: { agentId: "agent_claude_code", action: "deploy", vendor: "vercel.com",
      params: { env: "staging" } },
    expect: { decision: "allowed", reason: "allowed" },
  },
  {
    id: "production",
    title: "Deploy to production",
    tag: "approval",
    story: "Same agent, same vendor, but production. The deploy is held until a person approves it. Approve it, let the agent retry, and it runs inside a 30‑minute grant window. Jump the clock past the window and it is held again.",
    request: { agentId: "agent_claude_code", action: "deploy", vendor: "vercel.com",
      params: { env: "production" } },
    expect: { decision: "approval_required", reason: "requires_approval" },
    steps: [
      "Run the trace: the deploy is held.",
      "Approve it in the approvals queue.",
      "Run again: the agent retries inside the grant window.",
      "Press +31 min, then run again: the window has closed.",
    ],
  },
  {
    id: "coachella",
    title: "Buy Coachella tickets",
    tag: "denied",
    story: "agent_ollie tries to buy two Coachella passes for $742. Its passport allows groceries, not festival tickets, so the purchase never happens.",
    request: { agentId: "agent_ollie", action: "purchase", vendor: "coachella.com",
      params: { amount: 742, item: "2× GA weekend 1" } },
    expect: { decision: "denied", reason: "no_permission", message: "No active purchase permission." },
  },
  {
    id: "budget",
    title: "Groceries on a daily budget",
    tag: "limit",
    story: "Ollie may spend up to $100 per order and $150 a day at instacart.com. Run this $60 order three times: the first two go through, the third would break the daily budget.",
    request: { agentId: "agent_ollie", action: "purchase", vendor: "instacart.com",
      params: { amount: 60, basket: "weekly groceries" } },
    expect: { decision: "allowed", reason: "allowed" },
    steps: [
      "Run: $60 of $150 spent.",
      "Run again: $120 of $150.",
      "Run a third time: over budget, denied.",
      "Press +1 day and run: a fresh daily window.",
    ],
  },
  {
    id: "email-ok",
    title: "Email a colleague",
    tag: "allowed",
    story: "Ollie sends the meeting notes to sam@example.com. Mail to example.com addresses is allowed.",
    request: { agentId: "agent_ollie", action: "send_email", vendor: "gmail.com",
      params: { to: "sam@example.com", subject: "Notes from Thursday" } },
    expect: { decision: "allowed", reason: "allowed" },
  },
  {
    id: "email-blocked",
    title: "Email a rival",
    tag: "blocked",
    story: "The same agent tries to forward the notes to someone at rival.io. That domain is blocked outright.",
    request: { agentId: "agent_ollie", action: "send_email", vendor: "gmail.com",
      params: { to: "ceo@rival.io", subject: "Notes from Thursday" } },
    expect: { decision: "denied", reason: "blocked" },
  },
  {
    id: "email-smuggled",
    title: "Slip a rival into the To line",
    tag: "blocked",
    story: "Ollie writes to a colleague and a rival in one field: \"sam@example.com, ceo@rival.io\". That is not one address, so behalf cannot tell whose domain it is. On doubt a block holds; the mail is not sent.",
    request: { agentId: "agent_ollie", action: "send_email", vendor: "gmail.com",
      params: { to: "sam@example.com, ceo@rival.io", subject: "Notes from Thursday" } },
    expect: { decision: "denied", reason: "blocked" },
  },
  {
    id: "prod-db",
    title: "Drop the production database",
    tag: "blocked",
    story: "The coding agent may do anything on any database (db_admin), but production databases are blocked. Block wins over allow, whatever the order in the file.",
    request: { agentId: "agent_claude_code", action: "delete", vendor: "planetscale.com",
      resource: "db/prod/main", params: { cascade: true } },
    expect: { decision: "denied", reason: "blocked" },
  },
  {
    id: "expired",
    title: "An expired permission",
    tag: "expired",
    story: "Ollie had a ticket presale permission at ticketmaster.com. It ended on 1 November, so it no longer counts.",
    request: { agentId: "agent_ollie", action: "purchase", vendor: "ticketmaster.com",
      params: { amount: 180, item: "Arena tour, 2 seats" } },
    expect: { decision: "denied", reason: "permission_expired" },
  },
  {
    id: "unknown-agent",
    title: "An unknown agent",
    tag: "denied",
    story: "An agent nobody registered asks to buy something. No passport, no permission: denied.",
    request: { agentId: "agent_mallory", action: "purchase", vendor: "instacart.com",
      params: { amount: 20 } },
    expect: { decision: "denied", reason: "unknown_agent" },
  },
  {
    id: "lookalike",
    title: "A look‑alike vendor",
    tag: "invalid",
    story: "The vendor is “ｖercel.com”, with a full‑width ｖ that looks like a v. Vendors must be ASCII host names, so the request is rejected as invalid before any permission is read.",
    request: { agentId: "agent_claude_code", action: "deploy", vendor: "ｖercel.com",
      params: { env: "production" } },
    expect: { decision: "denied", reason: "invalid_request" },
  },
];

export function scenarioById(id) {
  return SCENARIOS.find((s) => s.id === id);
}
