#!/usr/bin/env bash
# The npm package `behalf`: builds the WebAssembly package, writes the native core's packets
# for the differential check, then runs the node --test suites (API and JS-only inputs, every
# conformance vector in Node, the packed tarball in a fresh project, every vector in headless
# Debian chromium) and tsc on the typed example.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup-js.sh
step "cargo fmt --check (behalf-wasm)"
cargo fmt -p behalf-wasm -- --check
step "clippy (behalf-wasm, wasm32)"
cargo clippy -p behalf-wasm --target wasm32-unknown-unknown -- -D warnings
step "build the npm package"
bindings-js/build.sh
step "native packets for the differential check"
cargo test -p behalf-core --test conformance
cd "$ROOT/bindings-js"
step "tsc --noEmit on the typed example"
npx tsc --noEmit -p examples
step "node --test"
node --test --test-concurrency=1 test/
step "benchmark smoke: bench/state.mjs (2,000 calls; the full run is 1,000,000)"
CALLS=2000 node bench/state.mjs
step "benchmark smoke: bench/bench.mjs (one short pass; it fails if the engines disagree)"
SMOKE=1 RUNS=1 TIME_MS=1 node bench/bench.mjs
