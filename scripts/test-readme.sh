#!/usr/bin/env bash
# The README's runnable blocks (```sh runnable, ```python runnable, ```js runnable,
# ```rust runnable), each pasted into a fresh `behalf init` project and run against the CLI, the
# Python package, the npm package and the core as built here. A broken snippet fails this suite.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup-py.sh
bash scripts/setup-js.sh

step "build what the snippets use: the CLI, the npm package, the Python package"
cargo build -p behalf-cli
bindings-js/build.sh
PY="$ROOT/bindings-py/.venv/bin/python"
if ! "$PY" -c 'import behalf' >/dev/null 2>&1; then
  CARGO_TARGET_DIR="$ROOT/target/python" "$PY" -m pip install --quiet --disable-pip-version-check \
    --no-build-isolation --no-deps ./bindings-py
fi

step "readme: the runner catches a broken snippet (the old JavaScript example, fs undefined)"
broken="$(mktemp -d)"
trap 'rm -rf "$broken"' EXIT
cat > "$broken/README.md" <<'MD'
```js runnable
import { Behalf } from "behalf";
const b = new Behalf(fs.readFileSync("behalf.json", "utf8"));
```
MD
if python3 scripts/readme_snippets.py --readme "$broken/README.md" --only js > "$broken/out" 2>&1; then
  cat "$broken/out"
  echo "test-readme: a snippet that throws was reported as passing" >&2
  exit 1
fi
grep -q "fs is not defined" "$broken/out" || { cat "$broken/out"; exit 1; }
echo "ok: reported as FAILED (ReferenceError: fs is not defined)"

step "readme: every runnable block of README.md"
python3 scripts/readme_snippets.py
