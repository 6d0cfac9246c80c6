# wasm-opt as the npm package's build runs it; sourced by bindings-js/build.sh and
# bench/wasm-floor/run.sh (after lib.sh), so both shrink their wasm the same way.
#   shrink_wasm IN OUT
# wasm-opt: a system binaryen if present, else the pinned npm `binaryen` of
# bindings-js/package-lock.json (installed on first use).
if have wasm-opt; then
  WASM_OPT=(wasm-opt)
else
  if [ ! -x "$ROOT/bindings-js/node_modules/.bin/wasm-opt" ]; then
    step "npm ci (for binaryen's wasm-opt)"
    (cd "$ROOT/bindings-js" && npm ci --no-audit --no-fund)
  fi
  WASM_OPT=("$ROOT/bindings-js/node_modules/.bin/wasm-opt")
fi

shrink_wasm() {
  # The features rustc enables by default for wasm32-unknown-unknown; nothing beyond them.
  "${WASM_OPT[@]}" -Oz --strip-debug --strip-producers \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$1" -o "$2"
}
