"use strict";
// Node, CommonJS: `require("behalf")`. The ESM entry re-exports this one, so both share one
// WebAssembly instance and one set of classes.
const path = require("path");
const api = require("./api.cjs");
const { BehalfClient } = require("./client.cjs");

const gluePath = path.join(__dirname, "node", "behalf_wasm.js");

api.setPlatform({
  // A fresh instance: the glue instantiates the module when it is first required.
  load() {
    delete require.cache[gluePath];
    return require(gluePath);
  },
});

module.exports = {
  Behalf: api.Behalf,
  verify: api.verify,
  validatePolicy: api.validatePolicy,
  verifyAuditLog: api.verifyAuditLog,
  webhooks: api.webhooks,
  BehalfError: api.BehalfError,
  PolicyError: api.PolicyError,
  DecisionError: api.DecisionError,
  DeniedError: api.DeniedError,
  ApprovalRequiredError: api.ApprovalRequiredError,
  BehalfClient,
};
