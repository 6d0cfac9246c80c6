// Browsers: `import init, { Behalf } from "behalf/web"`; `await init()` once, then use behalf
// synchronously. The module is compiled once; each instance of the glue is a separate copy of
// the glue module (a distinct URL), and a spare one is kept ready so that after a trap the next
// call can switch to a fresh instance without waiting.
import * as api from "./api.mjs";
export { BehalfClient } from "./client.mjs";

const GLUE = "./web/behalf_wasm.js";
let compiled = null;
let ready = null;
let copies = 0;

async function freshGlue() {
  copies += 1;
  const g = await import(copies === 1 ? GLUE : `${GLUE}?instance=${copies}`);
  g.initSync({ module: compiled });
  return g;
}

async function compile(input) {
  if (input instanceof WebAssembly.Module) return input;
  if (input instanceof ArrayBuffer || ArrayBuffer.isView(input)) return WebAssembly.compile(input);
  const response = typeof Response !== "undefined" && input instanceof Response ? input : await fetch(input);
  if (!response.ok) throw new Error(`behalf/web: fetching the WebAssembly module failed (${response.status})`);
  if (typeof WebAssembly.compileStreaming === "function") {
    try {
      return await WebAssembly.compileStreaming(response.clone());
    } catch {
      // served without `application/wasm`: compile the bytes instead
    }
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

// Loads the module: from `input` (URL, Response, bytes or a compiled module), by default the
// `.wasm` next to this file. Safe to call more than once.
export default function init(input) {
  if (ready === null) {
    ready = (async () => {
      const source = input && typeof input === "object" && "module_or_path" in input ? input.module_or_path : input;
      compiled = await compile(source === undefined ? new URL("./web/behalf_wasm_bg.wasm", import.meta.url) : source);
      let primary = await freshGlue();
      let spare = await freshGlue();
      const refill = () => {
        freshGlue().then(
          (g) => {
            spare = g;
          },
          () => {},
        );
      };
      api.setPlatform({
        load() {
          if (primary !== null) {
            const g = primary;
            primary = null;
            return g;
          }
          if (spare === null) throw new Error("behalf/web: no fresh WebAssembly instance is ready yet");
          const g = spare;
          spare = null;
          refill();
          return g;
        },
      });
    })();
    ready.catch(() => {
      ready = null;
    });
  }
  return ready;
}

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
} = api;
