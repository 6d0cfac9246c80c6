// BehalfClient: the same `verify` against a `behalf serve` server, with the agent's key. It
// keeps no policy or state of its own. Whatever goes wrong — no network, a timeout (2 s by
// default), a 5xx, a refused key, an answer that is not a packet — it resolves to a denied
// `internal_error` packet whose message names the cause. It never rejects, and never allows
// what the server did not allow.

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

function randomRequestId() {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  let s = "req_";
  for (const b of bytes) s += ALPHABET[b % 62];
  return s;
}

// A denied packet made here: nothing was decided or recorded by the server.
function deniedHere(problem, request) {
  const given = request && typeof request === "object" ? request.requestId : undefined;
  return {
    decision: "denied",
    allowed: false,
    reason: "internal_error",
    message: `Internal error; failing closed: ${problem}`,
    requestId: typeof given === "string" && REQUEST_ID.test(given) ? given : randomRequestId(),
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
    evaluatedAt: new Date().toISOString(),
    trace: [{ step: "client", permission: null, result: "error", detail: problem }],
  };
}

// A packet is trusted only when it is whole and consistent: `allowed` exactly when allowed.
function isPacket(p) {
  return (
    p !== null &&
    typeof p === "object" &&
    typeof p.decision === "string" &&
    typeof p.reason === "string" &&
    typeof p.requestId === "string" &&
    typeof p.allowed === "boolean" &&
    p.allowed === (p.decision === "allowed") &&
    ["allowed", "denied", "approval_required"].includes(p.decision)
  );
}

function describe(e) {
  const cause = e && e.cause && (e.cause.code || e.cause.message);
  return cause ? `${e.message} (${cause})` : e && e.message ? e.message : String(e);
}

class BehalfClient {
  constructor(options) {
    const { url, apiKey, timeoutMs = 2000, fetch: fetchImpl } = options || {};
    if (typeof url !== "string" || !/^https?:\/\//.test(url)) {
      throw new TypeError("BehalfClient: `url` must be the server's http:// or https:// address");
    }
    if (typeof apiKey !== "string" || apiKey.length === 0) {
      throw new TypeError("BehalfClient: `apiKey` must be the agent's key (bhk_…)");
    }
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new TypeError("BehalfClient: `timeoutMs` must be a positive number of milliseconds");
    }
    this.url = url.replace(/\/+$/, "");
    this.timeoutMs = timeoutMs;
    this._key = apiKey;
    this._fetch = fetchImpl || globalThis.fetch;
  }

  // The dashboard page where a person approves `approvalId`.
  approvalUrl(approvalId) {
    return `${this.url}/dashboard/approvals/${encodeURIComponent(approvalId)}`;
  }

  async verify(request, options) {
    const timeoutMs = options && options.timeoutMs !== undefined ? options.timeoutMs : this.timeoutMs;
    let body;
    try {
      body = JSON.stringify(request);
    } catch (e) {
      return deniedHere(`the request cannot be sent as JSON (${describe(e)}); not sent, not recorded`, request);
    }
    if (typeof body !== "string") {
      return deniedHere("the request cannot be sent as JSON; not sent, not recorded", request);
    }
    const where = `${this.url}/v1/verify`;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      const response = await this._fetch(where, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${this._key}` },
        body,
        // A redirect is an answer that is not a decision: denied, never followed.
        redirect: "manual",
        signal: abort.signal,
      });
      const text = await response.text();
      if (response.status !== 200) {
        let why = "";
        try {
          const e = JSON.parse(text);
          if (e && typeof e.code === "string") why = ` ${e.code}: ${e.message}`;
        } catch {
          // not an error object: the status says enough
        }
        return deniedHere(`the behalf server ${this.url} answered ${response.status}${why}; nothing was allowed`, request);
      }
      let packet;
      try {
        packet = JSON.parse(text);
      } catch {
        return deniedHere(`the behalf server ${this.url} answered with something that is not JSON`, request);
      }
      if (!isPacket(packet)) {
        return deniedHere(`the behalf server ${this.url} answered with something that is not a decision packet`, request);
      }
      return packet;
    } catch (e) {
      if (abort.signal.aborted) {
        return deniedHere(`the behalf server ${this.url} did not answer within ${timeoutMs} ms; not known to be recorded`, request);
      }
      return deniedHere(`cannot reach the behalf server ${this.url}: ${describe(e)}`, request);
    } finally {
      clearTimeout(timer);
    }
  }
}

export { BehalfClient };
