// Types of `behalf/web`: the same API, after `await init()`.
export * from "./index.js";

/** Where to load the `.wasm` from; by default the file next to the module. */
export type InitInput =
  | string
  | URL
  | Response
  | BufferSource
  | WebAssembly.Module
  | { module_or_path: string | URL | Response | BufferSource | WebAssembly.Module };

/** Loads and compiles the WebAssembly module; call once before anything else. */
export default function init(input?: InitInput): Promise<void>;
