#!/usr/bin/env bash
# Builds what a user installs without a Rust toolchain, into dist/:
#   behalf-VERSION-cp310-abi3-manylinux_2_17_x86_64.whl   pip install FILE   (CPython >= 3.10)
#   behalf-VERSION-cp310-abi3-manylinux_2_17_aarch64.whl
#   behalf-VERSION.tgz                                   npm install FILE   (Node >= 18)
#   behalf-cli-VERSION-x86_64-linux.tar.gz               the `behalf` binary (glibc >= 2.17)
#   SHA256SUMS
# The wheels and the CLI are linked by zig (the PyPI package `ziglang`, through maturin's --zig)
# against glibc 2.17, so they run on manylinux2014 hosts (CentOS 7, Debian 8, Ubuntu 14.04
# and later) with no container. WHEEL_TARGETS and CLI_TARGETS pick the Rust targets.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
WHEEL_TARGETS="${WHEEL_TARGETS:-x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu}"
CLI_TARGETS="${CLI_TARGETS:-x86_64-unknown-linux-gnu}"
OUT="$ROOT/dist"
VENV="$ROOT/bindings-py/.venv"
# Its own target dir: zig-linked release builds never evict the debug builds of the tests.
export CARGO_TARGET_DIR="$ROOT/target/dist"

bash scripts/setup-py.sh   # the venv with maturin
stamp="$VENV/.stamp-requirements-dist.txt"
if [ -e "$stamp" ] && [ "$stamp" -nt bindings-py/requirements-dist.txt ]; then
  echo "dist: ziglang present"
else
  step "dist: pip install ziglang (zig, from PyPI)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r bindings-py/requirements-dist.txt
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"

for target in $WHEEL_TARGETS $CLI_TARGETS; do
  if ! rustup target list --installed | grep -qx "$target"; then
    step "dist: rustup target add $target"
    rustup target add "$target"
  fi
done

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
rm -rf "$OUT"
mkdir -p "$OUT"

for target in $WHEEL_TARGETS; do
  step "dist: the wheel for $target (abi3, manylinux2014)"
  maturin build --release --zig --target "$target" --compatibility manylinux2014 \
    -m bindings-py/Cargo.toml --out "$OUT"
done

step "dist: the npm tarball"
# The package's own build (and target dir): the wasm is not linked by zig, and the tests share it.
env -u CARGO_TARGET_DIR bindings-js/build.sh
(cd bindings-js && npm pack --silent --pack-destination "$OUT" >/dev/null)

for target in $CLI_TARGETS; do
  step "dist: the behalf CLI for $target (glibc >= 2.17)"
  # maturin links the binary with zig as it does the wheels; the binary is taken out of the
  # wheel it makes, so there is one way to reach glibc 2.17 for both.
  work="$CARGO_TARGET_DIR/cli-wheel/$target"
  rm -rf "$work"
  maturin build --release --zig --target "$target" --compatibility manylinux2014 -b bin \
    -m cli/Cargo.toml --out "$work"
  (cd "$work" && python3 -m zipfile -e ./*.whl unpacked)
  bin="$(find "$work/unpacked" -path '*.data/scripts/behalf' -type f)"
  [ -n "$bin" ] || { echo "dist: no behalf binary in the CLI wheel" >&2; exit 1; }
  mkdir -p "$work/pkg"
  install -m 0755 "$bin" "$work/pkg/behalf"
  arch="${target%%-*}"
  tar -czf "$OUT/behalf-cli-$version-$arch-linux.tar.gz" -C "$work/pkg" behalf
done

(cd "$OUT" && sha256sum -- * > SHA256SUMS)
step "dist: ready"
ls -l "$OUT"
