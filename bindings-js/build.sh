#!/usr/bin/env bash
# Builds the npm package `behalf` into bindings-js/pkg/: the size-tuned wasm32 build of
# behalf-wasm, wasm-bindgen for the `nodejs` and `web` targets, wasm-opt, and the JS wrapper.
# Installs the wasm-bindgen CLI at the crate's pinned version if it is missing or different.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
JS="$ROOT/bindings-js"
PKG="$JS/pkg"
cd "$ROOT"

# The CLI must match the crate exactly: the glue and the wasm's schema are one version.
want="$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' "$JS/Cargo.toml")"
have_version="$( (wasm-bindgen --version 2>/dev/null || true) | awk '{print $2}')"
if [ "$have_version" != "$want" ]; then
  step "cargo install wasm-bindgen-cli $want (found: ${have_version:-none})"
  cargo install --locked wasm-bindgen-cli --version "$want"
fi

source "$ROOT/scripts/wasm-opt.sh"

step "cargo build behalf-wasm (wasm32, profile wasm-release)"
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
cargo build -p behalf-wasm --target wasm32-unknown-unknown --profile wasm-release
WASM="${CARGO_TARGET_DIR:-$ROOT/target}/wasm32-unknown-unknown/wasm-release/behalf_wasm.wasm"

# wasm-bindgen and wasm-opt take most of the time: skip them when nothing they read changed
# (the wasm cargo left, the JS wrapper, these scripts, the tool versions). BEHALF_REBUILD=1 forces.
key="$( {
  sha256sum "$WASM" "$JS"/js/*.mjs "$JS"/js/*.cjs "$JS/build.sh" "$ROOT/scripts/wasm-opt.sh"
  echo "wasm-bindgen $want"
  "${WASM_OPT[@]}" --version
} | sha256sum | cut -d' ' -f1)"
if [ "${BEHALF_REBUILD:-}" != 1 ] && [ -f "$PKG/.build-key" ] && [ "$(cat "$PKG/.build-key")" = "$key" ]; then
  echo "bindings-js/pkg is up to date (nothing it is built from changed)"
  exit 0
fi

# Built beside, then swapped in, so a concurrent reader (www's build, a test) never sees half.
OUT="$ROOT/target/behalf-js-pkg.$$"
rm -rf "$OUT"
mkdir -p "$OUT"
for target in nodejs web; do
  out="$OUT/$([ "$target" = nodejs ] && echo node || echo web)"
  step "wasm-bindgen --target $target"
  wasm-bindgen "$WASM" --target "$target" --out-dir "$out" --out-name behalf_wasm --no-typescript
  step "wasm-opt ($target)"
  shrink_wasm "$out/behalf_wasm_bg.wasm" "$out/behalf_wasm_bg.wasm"
done
# The web glue is an ES module; tell Node so too (the node glue stays CommonJS).
echo '{ "type": "module" }' > "$OUT/web/package.json"

step "JS wrapper"
cp "$JS/js/api.mjs" "$JS/js/client.mjs" "$JS/js/index.cjs" "$JS/js/index.mjs" "$JS/js/web.mjs" "$OUT/"
# api.cjs: the same source, with its one `export { ... };` line as `module.exports = { ... };`.
{
  echo '"use strict";'
  sed -E 's/^export \{(.*)\};$/module.exports = {\1};/' "$JS/js/api.mjs"
} > "$OUT/api.cjs"
grep -q '^module.exports = {' "$OUT/api.cjs" || { echo "api.cjs: no export line converted" >&2; exit 1; }
{
  echo '"use strict";'
  sed -E 's/^export \{(.*)\};$/module.exports = {\1};/' "$JS/js/client.mjs"
} > "$OUT/client.cjs"
grep -q '^module.exports = {' "$OUT/client.cjs" || { echo "client.cjs: no export line converted" >&2; exit 1; }
echo "$key" > "$OUT/.build-key"
rm -rf "$PKG.old.$$"
[ -e "$PKG" ] && mv "$PKG" "$PKG.old.$$"
mv "$OUT" "$PKG"
rm -rf "$PKG.old.$$"

raw=$(wc -c < "$PKG/web/behalf_wasm_bg.wasm")
gz=$(gzip -9 -c "$PKG/web/behalf_wasm_bg.wasm" | wc -c)
echo "behalf_wasm_bg.wasm: $raw bytes raw, $gz bytes gzipped"
