#!/usr/bin/env bash
# The files a user installs without Rust: builds them (scripts/dist.sh), then installs the wheel
# into a fresh venv and the tarball into a fresh npm project, and unpacks the CLI binary alone,
# each with no cargo or rustc on PATH, and runs the README's snippets against them. Also: the
# wheels' tags and architectures, no binary needing glibc newer than 2.17, and every file the
# README's Install block names is one dist.sh made.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup-js.sh

started=$SECONDS
scripts/dist.sh
echo "test-dist: scripts/dist.sh took $((SECONDS - started)) s"
DIST="$ROOT/dist"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A PATH with python3, node, npm and the base tools, but no cargo, rustc or maturin.
mkdir -p "$work/bin"
for tool in python3 node npm npx bash sh env tar gzip; do
  ln -s "$(command -v "$tool")" "$work/bin/$tool"
done
CLEAN_PATH="$work/bin:/usr/bin:/bin"
if PATH="$CLEAN_PATH" command -v cargo >/dev/null || PATH="$CLEAN_PATH" command -v rustc >/dev/null; then
  echo "test-dist: cargo or rustc is on the clean PATH ($CLEAN_PATH); the check would prove nothing" >&2
  exit 1
fi

step "dist: the README's Install block names the files dist.sh made"
python3 - "$ROOT/README.md" "$DIST" <<'PY'
import re, sys, pathlib
readme, dist = pathlib.Path(sys.argv[1]).read_text(), pathlib.Path(sys.argv[2])
install = readme.split("## Install", 1)[1].split("\n## ", 1)[0]
named = sorted(set(re.findall(r"(behalf[\w.-]*\.(?:whl|tgz|tar\.gz))", install)))
made = sorted(p.name for p in dist.iterdir())
missing = [n for n in named if n not in made]
print("named:", ", ".join(named))
if len(named) < 4 or missing:
    sys.exit(f"the README names files dist.sh did not make: {missing or 'fewer than 4 named'}; made: {made}")
PY

step "dist: wheel tags, architectures and glibc symbols"
python3 - "$DIST" <<'PY'
import sys, zipfile, pathlib
dist = pathlib.Path(sys.argv[1])
want = {"x86_64": 0x3E, "aarch64": 0xB7}  # ELF e_machine
for arch, machine in want.items():
    wheels = list(dist.glob(f"behalf-*-cp310-abi3-*manylinux_2_17_{arch}.whl"))
    assert len(wheels) == 1, f"no single abi3 manylinux_2_17 {arch} wheel in {sorted(p.name for p in dist.iterdir())}"
    with zipfile.ZipFile(wheels[0]) as z:
        so = [n for n in z.namelist() if n.startswith("behalf/_behalf") and n.endswith(".so")]
        assert so == ["behalf/_behalf.abi3.so"], so
        elf = z.read(so[0])
        assert elf[:4] == b"\x7fELF" and int.from_bytes(elf[18:20], "little") == machine, f"{arch}: wrong machine"
        wheel_meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/WHEEL"))).decode()
        assert f"Tag: cp310-abi3-manylinux_2_17_{arch}" in wheel_meta, wheel_meta
        (dist.parent / "target" / "dist" / f"check-{arch}.so").write_bytes(elf)
    print(f"ok: {wheels[0].name}")
PY
# readelf reads the version needs of any architecture's ELF (objdump only knows the host's).
newest_glibc() { readelf -V --wide "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1; }
tar -xzf "$DIST/behalf-cli-$version-x86_64-linux.tar.gz" -C "$work/bin"
for f in "$ROOT/target/dist/check-x86_64.so" "$ROOT/target/dist/check-aarch64.so" "$work/bin/behalf"; do
  g="$(newest_glibc "$f")"
  [ -n "$g" ] || { echo "test-dist: no GLIBC symbol versions found in $f" >&2; exit 1; }
  if [ "$(printf '%s\n2.17\n' "$g" | sort -V | tail -n 1)" != "2.17" ]; then
    echo "test-dist: $(basename "$f") needs glibc $g, newer than manylinux2014's 2.17" >&2
    exit 1
  fi
  echo "ok: $(basename "$f") needs at most glibc $g"
done

step "dist: the wheel in a fresh venv, with no cargo on PATH"
PATH="$CLEAN_PATH" python3 -m venv "$work/venv"
PATH="$CLEAN_PATH" "$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index \
  "$DIST/behalf-$version-cp310-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
PATH="$CLEAN_PATH" "$work/venv/bin/python" - <<'PY'
import shutil, behalf
assert shutil.which("cargo") is None and shutil.which("rustc") is None
assert "site-packages" in behalf.__file__, behalf.__file__
d = behalf.verify({"version": 1, "passports": [{"id": "p", "agent": "a",
    "permissions": [{"id": "x", "action": "deploy"}]}]}, {"agentId": "a", "action": "deploy"})
assert d.allowed and d.reason == "allowed", d.to_dict()
print("ok: behalf", behalf.__version__, "from", behalf.__file__)
PY

step "dist: the tarball in a fresh npm project"
mkdir -p "$work/app"
echo '{ "name": "app", "version": "1.0.0", "private": true }' > "$work/app/package.json"
(cd "$work/app" && PATH="$CLEAN_PATH" npm install --silent --no-audit --no-fund --offline "$DIST/behalf-$version.tgz")
(cd "$work/app" && PATH="$CLEAN_PATH" node -e '
  const { Behalf } = require("behalf");
  const b = new Behalf({ version: 1, passports: [{ id: "p", agent: "a", permissions: [{ id: "x", action: "deploy" }] }] });
  const d = b.verify({ agentId: "a", action: "deploy" });
  if (!d.allowed) throw new Error(JSON.stringify(d));
  console.log("ok: behalf", require("behalf/package.json").version, "from", require.resolve("behalf"));
')

step "dist: the README's snippets against the installed files (no cargo on PATH)"
PATH="$CLEAN_PATH" python3 "$ROOT/scripts/readme_snippets.py" --only sh,python,js \
  --behalf "$work/bin/behalf" --python "$work/venv/bin/python" \
  --node-package "$work/app/node_modules/behalf"
echo "test-dist: all passed in $((SECONDS - started)) s"
