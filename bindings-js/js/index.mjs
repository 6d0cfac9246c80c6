// Node, ESM: `import { Behalf } from "behalf"`. Re-exports the CommonJS entry (one instance).
import cjs from "./index.cjs";

export const {
  Behalf,
  verify,
  validatePolicy,
  verifyAuditLog,
  webhooks,
  BehalfError,
  PolicyError,
  DecisionError,
  DeniedError,
  ApprovalRequiredError,
  BehalfClient,
} = cjs;
