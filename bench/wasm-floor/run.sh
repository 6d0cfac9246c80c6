#!/usr/bin/env bash
# The wasm size floor: the Unicode and URL checks DESIGN.md requires of every runtime (NFC and
# NFKC checks, general categories, WHATWG host parsing), each alone and all together, built
# and shrunk exactly as bindings-js/build.sh builds behalf's wasm (opt-level "s", LTO,
# wasm-opt -Oz). Prints raw and gzipped sizes. Not part of the tests.
#
#   bench/wasm-floor/run.sh
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
source "$ROOT/scripts/wasm-opt.sh"
HERE="$ROOT/bench/wasm-floor"
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
export CARGO_TARGET_DIR="$ROOT/target/wasm-floor"
OUT="$CARGO_TARGET_DIR/sizes"
mkdir -p "$OUT"
echo "| checks in the wasm | raw | gzipped |"
echo "|---|---:|---:|"
for features in nfc nfkc category host nfc,nfkc,category,host; do
  cargo build --quiet --manifest-path "$HERE/Cargo.toml" --release \
    --target wasm32-unknown-unknown --features "$features"
  shrink_wasm "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/behalf_wasm_floor.wasm" "$OUT/$features.wasm"
  printf '| %s | %s B | %s B |\n' "$features" "$(stat -c %s "$OUT/$features.wasm")" \
    "$(gzip -9nc "$OUT/$features.wasm" | wc -c)"
done
