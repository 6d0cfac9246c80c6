// The one door to the engine: the `behalf/web` build of the npm package (behalf-core as
// WebAssembly). The page decides nothing itself; every decision, validation and chain check
// below is a call into the package.

import init, * as pkg from "behalf/web";

let ready = null;

/** Loads the WebAssembly module once. */
export function load() {
  ready ??= Promise.resolve(init()).then(() => pkg);
  return ready;
}

/** The package's audit-chain verifier, under whichever name the package exports it. */
function chainVerifier() {
  for (const name of ["verifyAuditChain", "verifyAuditLog", "verifyChain", "verifyAudit"]) {
    if (typeof pkg[name] === "function") return pkg[name];
  }
  return null;
}

export function hasChainVerifier() {
  return chainVerifier() !== null;
}

/**
 * Checks records with the package's verifier. Returns {ok, records, firstBroken,
 * firstBrokenSeq, problem}.
 */
export function verifyChain(records) {
  const verify = chainVerifier();
  if (!verify) return null;
  const report = verify(records);
  return typeof report === "string" ? JSON.parse(report) : report;
}

/** Every problem of a policy (an empty list when it loads). */
export function policyProblems(policy) {
  try {
    const out = pkg.validatePolicy(policy);
    if (Array.isArray(out)) return out;
    if (out && Array.isArray(out.problems)) return out.problems;
    return [];
  } catch (e) {
    if (e && Array.isArray(e.problems)) return e.problems;
    throw e;
  }
}

/** The stateless one-shot verify (no usage, no grants, nothing recorded). */
export function verifyOnce(policy, request, now) {
  return pkg.verify(policy, request, { now });
}

export function createEngine(policy, clock) {
  return new pkg.Behalf(policy, { clock });
}

/** The package version the build stamped into the page. */
export function packageVersion() {
  return document.querySelector('meta[name="behalf-version"]')?.content ?? "";
}
