// Types of the npm package `behalf` (Node: CommonJS and ESM). Hand-written, checked by tsc.
// The shapes are the canonical JSON of DESIGN.md; the same in every runtime.

/** A time: an RFC 3339 string (`2026-11-26T11:00:00Z`) or epoch milliseconds. */
export type Time = string | number | Date;

/** A duration: `<integer><unit>` with unit s, m, h or d (`"30m"`), or whole seconds. */
export type Duration = `${number}${"s" | "m" | "h" | "d"}` | number;

/** JSON data: what a request's params and a policy are made of (no undefined, NaN or BigInt). */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

// ------------------------------------------------------------------------------------------
// The policy (behalf.json)

export type Pattern = string | string[];
export type Effect = "allow" | "block" | "require_approval";
export type Scalar = string | number | boolean | null;

export interface MatcherOps {
  in?: Scalar[];
  notIn?: Scalar[];
  ne?: Scalar;
  glob?: string;
  lt?: number;
  lte?: number;
  gt?: number;
  gte?: number;
  exists?: boolean;
  /** The value must be exactly one plain `local@domain` address whose domain matches. */
  emailDomain?: string | string[];
}
export type Matcher = Scalar | MatcherOps;

export interface Limits {
  maxAmount?: number;
  budget?: { amount: number; per: Duration };
  rate?: { count: number; per: Duration };
  overLimit?: "deny" | "require_approval";
}

export interface ApprovalSettings {
  grantTtl?: Duration;
  pendingTtl?: Duration;
  scope?: "request" | "permission";
  singleUse?: boolean;
  /** Most pending approvals of this permission at once: 1 to 1000 (default 1000). */
  maxPending?: number;
}

export interface Permission {
  id: string;
  action: Pattern;
  vendor?: Pattern;
  resource?: Pattern;
  when?: { [paramPath: string]: Matcher };
  effect?: Effect;
  limits?: Limits;
  approval?: ApprovalSettings;
  expiresAt?: string;
  notBefore?: string;
  description?: string;
}

export interface Passport {
  id: string;
  agent: string;
  expiresAt?: string;
  notBefore?: string;
  revoked?: boolean;
  description?: string;
  permissions: Permission[];
}

export type WebhookEvent =
  | "decision.allowed"
  | "decision.denied"
  | "decision.approval_required"
  | "approval.granted"
  | "approval.denied";

export interface WebhookEndpoint {
  id: string;
  url: string;
  events: (WebhookEvent | "*")[];
  secretEnv: string;
}

export interface Policy {
  $schema?: string;
  version: 1;
  passports: Passport[];
  webhooks?: WebhookEndpoint[];
}

/** One problem of a rejected policy, at a JSON path such as `passports[0].permissions[2].when.env`. */
export interface Problem {
  path: string;
  code: string;
  message: string;
  hint: string;
}

// ------------------------------------------------------------------------------------------
// The request and the decision packet

export interface Request {
  agentId: string;
  action: string;
  vendor?: string | null;
  resource?: string | null;
  params?: { [key: string]: Json } | null;
  /** `[A-Za-z0-9_.:-]{1,128}`; echoed. Otherwise the engine makes `req_` + 16 base62 characters. */
  requestId?: string | null;
}

export type DecisionKind = "allowed" | "denied" | "approval_required";

export type AllowedReason = "allowed" | "approved";
export type DeniedReason =
  | "invalid_request"
  | "unknown_agent"
  | "passport_expired"
  | "blocked"
  | "approval_denied"
  | "approval_limit_reached"
  | "limit_exceeded"
  | "permission_expired"
  | "no_permission"
  | "internal_error";
export type ApprovalRequiredReason = "requires_approval";
/** The closed set of reasons, highest precedence first (internal_error aside). */
export type Reason = AllowedReason | DeniedReason | ApprovalRequiredReason;

export interface TraceStep {
  step: string;
  permission: string | null;
  result: string;
  detail: string;
}

interface PacketFields {
  message: string;
  requestId: string;
  agentId: string | null;
  action: string | null;
  vendor: string | null;
  resource: string | null;
  passportId: string | null;
  activePermissions: number | null;
  matchedPermission: string | null;
  /** RFC 3339, UTC, milliseconds: `2026-11-26T11:00:00.000Z`. */
  evaluatedAt: string;
  trace: TraceStep[];
}

export interface AllowedDecision extends PacketFields {
  decision: "allowed";
  allowed: true;
  reason: AllowedReason;
  approvalId: string | null;
  grantId: string | null;
  grantExpiresAt: string | null;
}

export interface DeniedDecision extends PacketFields {
  decision: "denied";
  allowed: false;
  reason: DeniedReason;
  approvalId: string | null;
  grantId: null;
  grantExpiresAt: null;
}

export interface ApprovalRequiredDecision extends PacketFields {
  decision: "approval_required";
  allowed: false;
  reason: ApprovalRequiredReason;
  /** Null only from the one-shot `verify`, which opens no approval. */
  approvalId: string | null;
  grantId: null;
  grantExpiresAt: null;
}

/** The canonical decision packet. `allowed` is true exactly when `decision` is `"allowed"`. */
export type Decision = AllowedDecision | DeniedDecision | ApprovalRequiredDecision;

// ------------------------------------------------------------------------------------------
// Engine state

export interface HeldRequest {
  agentId: string;
  action: string;
  vendor: string | null;
  resource: string | null;
  params: { [key: string]: Json };
}

export interface Approval {
  approvalId: string;
  permission: string;
  fingerprint: string;
  status: "pending" | "approved" | "denied";
  createdAt: string;
  expiresAt: string;
  decidedAt: string | null;
  grantId: string | null;
  request: HeldRequest;
}

export interface Grant {
  grantId: string;
  approvalId: string;
  permission: string;
  fingerprint: string;
  scope: "request" | "permission";
  singleUse: boolean;
  used: boolean;
  createdAt: string;
  expiresAt: string;
  request: HeldRequest;
}

export type AuditEvent = "decision" | "approval.granted" | "approval.denied";

export interface AuditRecord {
  seq: number;
  time: string;
  event: AuditEvent;
  requestId: string | null;
  agentId: string | null;
  action: string | null;
  vendor: string | null;
  resource: string | null;
  params: { [key: string]: Json } | null;
  decision: DecisionKind | null;
  reason: Reason | null;
  matchedPermission: string | null;
  approvalId: string | null;
  grantId: string | null;
  /** Hex SHA-256 of the previous record (64 zeros for the first). */
  prevHash: string;
  /** Hex SHA-256 of `prevHash` followed by this record's canonical JSON without `hash`. */
  hash: string;
}

export interface ChainReport {
  ok: boolean;
  records: number;
  /** 0-based index of the first broken record. */
  firstBroken: number | null;
  firstBrokenSeq: number | null;
  problem: string | null;
}

/** What `exportState()` returns and `restore()` takes; treat it as opaque JSON. */
export interface EngineState {
  version: 1;
  state: { [key: string]: Json };
  audit: Json;
}

// ------------------------------------------------------------------------------------------
// The API

export interface BehalfOptions {
  /** Epoch milliseconds; default `Date.now`. */
  clock?: () => number;
  /** How many recent audit records stay in memory (default 10,000). */
  auditCapacity?: number;
  /** Receives every audit record (chained, once) right after the call that made it. */
  onDecision?: (record: AuditRecord) => void;
}

export interface AtOptions {
  /** Evaluate at this time instead of the clock. */
  now?: Time;
}

export interface ApproveOptions extends AtOptions {
  /** How long the grant lasts; default the permission's `approval.grantTtl` (30m). */
  ttl?: Duration;
}

/** One limited permission's use now (`per` in milliseconds). */
export interface PermissionUsage {
  permission: string;
  passportId: string;
  budget: { amount: number; per: number; spent: number } | null;
  rate: { count: number; per: number; used: number } | null;
}

export class Behalf {
  /** Compiles the policy once. Throws `PolicyError` listing every problem of a bad policy. */
  constructor(policy: Policy | string, options?: BehalfOptions);
  /** Decides; never throws. A bad request (or `now`) is a denied `invalid_request` packet. */
  verify(request: Request | string, options?: AtOptions): Decision;
  /** Opens a grant for a pending approval. Throws `BehalfError` (`approval_not_found`, ...). */
  approve(approvalId: string, options?: ApproveOptions): Grant;
  /** Denies a pending approval: the same request is `approval_denied` until its pendingTtl. */
  deny(approvalId: string, options?: AtOptions): Approval;
  pendingApprovals(options?: AtOptions): Approval[];
  grants(options?: AtOptions): Grant[];
  /** Budget and rate use of every limited permission, as the next decision counts it. */
  usage(options?: AtOptions): PermissionUsage[];
  /** The in-memory window of the audit chain, oldest first. */
  auditLog(): AuditRecord[];
  exportState(): EngineState;
  /** Restores what `exportState()` returned (of an engine of the same policy). */
  restore(state: EngineState | string): void;
  /**
   * Wraps a tool function: every call verifies `request` (or `request(...args)`) first and runs
   * `fn` only when allowed; otherwise throws `DeniedError` or `ApprovalRequiredError`.
   */
  guard<A extends unknown[], R>(
    fn: (...args: A) => R,
    request: Request | ((...args: A) => Request),
    options?: AtOptions,
  ): (...args: A) => R;
}

/** The stateless one-shot verify: empty usage, no grants, no approval is opened. */
export function verify(policy: Policy | string, request: Request | string, options?: AtOptions): Decision;

/** Every problem of a policy; an empty array when it loads. */
export function validatePolicy(policy: Policy | string): Problem[];

/** What the verifier knows of a chain: its first `seq` and its last `hash` (catches cut ends). */
export interface AuditAnchor {
  firstSeq?: number | null;
  lastHash?: string | null;
}

/** Checks an audit chain (as `auditLog()` returned it); reports the first broken record. */
export function verifyAuditLog(records: AuditRecord[] | string, anchor?: AuditAnchor): ChainReport;

export interface WebhookMessage {
  /** `whsec_<base64>`. */
  secret: string;
  /** The `webhook-id` header. */
  id: string;
  /** The raw body, exactly as sent. */
  body: string | Uint8Array | ArrayBuffer;
}

/** The webhook event of one audit record: what a delivery's body holds. */
export interface WebhookPayload {
  type: WebhookEvent;
  /** The record's time, RFC 3339. */
  timestamp: string;
  data: AuditRecord;
}

export interface WebhookDeliveryOptions {
  /** The endpoint's `whsec_<base64>` secret; during a rotation both (one signature each). */
  secrets: string | readonly string[];
  /** `webhook-timestamp` in unix seconds; default now. */
  timestamp?: number;
}

/** Exactly what to POST: send `body` byte for byte with these headers. */
export interface WebhookDelivery {
  headers: {
    "content-type": "application/json";
    /** `msg_` + 32 hex characters of the record's hash: the same for every retry. */
    "webhook-id": string;
    /** Unix seconds, as text. */
    "webhook-timestamp": string;
    /** `v1,<base64>`, space separated when signed with several secrets. */
    "webhook-signature": string;
  };
  body: string;
  eventType: WebhookEvent;
}

/** Standard Webhooks v1 signatures. */
export const webhooks: {
  /** The event of an audit record (as `onDecision` or `auditLog()` handed it out). */
  event(record: AuditRecord): WebhookPayload;
  /**
   * The signed `{headers, body}` to POST for an audit record's event. Throws `BehalfError`
   * (`bad_audit_record`, `bad_secret`, `bad_timestamp`) rather than sign anything else.
   */
  delivery(record: AuditRecord, options: WebhookDeliveryOptions): WebhookDelivery;
  /** The `webhook-signature` value `v1,<base64>`; `timestamp` in unix seconds. */
  sign(message: WebhookMessage & { timestamp: number }): string;
  /** True when a `v1,` signature matches and the timestamp is within 5 minutes of `now`. */
  verify(
    message: WebhookMessage & { timestamp: string | number; signature: string; now?: Time },
  ): boolean;
};

export type ErrorCode =
  | "invalid_policy"
  | "approval_not_found"
  | "approval_expired"
  | "approval_already_decided"
  | "bad_duration"
  | "bad_state"
  | "bad_time"
  | "bad_option"
  | "bad_audit_log"
  | "bad_audit_record"
  | "bad_body"
  | "bad_timestamp"
  | "bad_secret"
  | "timestamp_too_old"
  | "timestamp_too_new"
  | "no_matching_signature"
  | "not_initialized"
  | "internal_error"
  | (string & {});

/** Errors as data: a stable `code`, a message naming the input, and a `hint`. */
export class BehalfError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;
}

/** A policy that did not load, with every problem found. */
export class PolicyError extends BehalfError {
  readonly code: "invalid_policy";
  readonly problems: Problem[];
}

/** Thrown by a guarded function that was not allowed to run. */
export class DecisionError extends Error {
  readonly decision: DeniedDecision | ApprovalRequiredDecision;
}

export class DeniedError extends DecisionError {
  readonly decision: DeniedDecision;
}

/** `message` is the decision's message, the approval id and the command that approves it. */
export class ApprovalRequiredError extends DecisionError {
  readonly decision: ApprovalRequiredDecision;
  readonly approvalId: string | null;
}

/** How a `BehalfClient` reaches `behalf serve`. */
export interface BehalfClientOptions {
  /** The server, e.g. `http://127.0.0.1:7777` (no trailing path). */
  url: string;
  /** The agent's key, `bhk_…` (from `behalf agents key create AGENT`). */
  apiKey: string;
  /** How long one `verify` waits for the server before it is denied; default 2000. */
  timeoutMs?: number;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof globalThis.fetch;
}

/**
 * `verify` against a `behalf serve` server: the same packets as the embedded engine. It keeps
 * no policy or state. A network error, a timeout, a 5xx, a refused key or an answer that is not
 * a packet resolves to a denied `internal_error` packet naming the cause; it never rejects.
 */
export class BehalfClient {
  constructor(options: BehalfClientOptions);
  readonly url: string;
  readonly timeoutMs: number;
  verify(request: Request, options?: { timeoutMs?: number }): Promise<Decision>;
  /** The dashboard page where a person approves `approvalId`. */
  approvalUrl(approvalId: string): string;
}
