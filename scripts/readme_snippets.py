#!/usr/bin/env python3
"""Runs every README code block marked `runnable` (```sh runnable, ```python runnable,
```js runnable, ```rust runnable), each in a fresh directory where `behalf init` has written
the starter behalf.json, exactly as a newcomer would paste it. A block that fails fails the run.

    readme_snippets.py [--readme FILE] [--behalf BIN] [--python PY] [--node-package DIR]
                       [--only sh,python,js,rust]

--behalf is the CLI binary the shell blocks find on PATH, --python the interpreter with the
`behalf` package installed, --node-package the directory of the npm package `behalf` (linked as
node_modules/behalf). A `rust` block must be, line for line, the part of
core/examples/readme.rs between its README markers; that example is then run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\w+)\s+runnable\s*$")
LANGS = ("sh", "python", "js", "rust")


def blocks(readme: Path) -> list[tuple[str, int, str]]:
    """(language, line number, code) of every runnable block."""
    out = []
    lines = readme.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            start = i + 1
            j = start
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            if j == len(lines):
                raise SystemExit(f"{readme}:{i + 1}: a runnable block is never closed")
            out.append((m.group(1), start, "\n".join(lines[start:j]) + "\n"))
            i = j
        i += 1
    return out


def rust_example_lines() -> str:
    text = (ROOT / "core/examples/readme.rs").read_text(encoding="utf-8")
    m = re.search(r"// README:start\n(.*?)\n\s*// README:end", text, re.S)
    if not m:
        raise SystemExit("core/examples/readme.rs has no README:start / README:end markers")
    return textwrap.dedent(m.group(1)) + "\n"


def run_block(lang: str, code: str, args: argparse.Namespace) -> subprocess.CompletedProcess[str]:
    work = Path(tempfile.mkdtemp(prefix=f"behalf-readme-{lang}-"))
    try:
        env = dict(os.environ)
        env["PATH"] = f"{Path(args.behalf).resolve().parent}{os.pathsep}{env.get('PATH', '')}"
        for var in ("BEHALF_POLICY", "BEHALF_STATE_DIR", "BEHALF_AGENT", "BEHALF_NOW"):
            env.pop(var, None)
        init = subprocess.run([args.behalf, "init"], cwd=work, capture_output=True, text=True, env=env)
        if init.returncode != 0:
            return init
        if lang == "sh":
            (work / "snippet.sh").write_text(code)
            cmd = ["bash", "-euo", "pipefail", "snippet.sh"]
        elif lang == "python":
            (work / "snippet.py").write_text(code)
            cmd = [args.python, "snippet.py"]
        elif lang == "js":
            (work / "node_modules").mkdir()
            (work / "node_modules" / "behalf").symlink_to(Path(args.node_package).resolve())
            (work / "snippet.mjs").write_text(code)
            cmd = ["node", "snippet.mjs"]
        elif lang == "rust":
            want = rust_example_lines()
            if code != want:
                return subprocess.CompletedProcess(
                    [], 1, "",
                    "the README's rust block differs from core/examples/readme.rs:\n"
                    f"--- README\n{code}--- core/examples/readme.rs\n{want}",
                )
            cmd = ["cargo", "run", "-q", "--manifest-path", str(ROOT / "Cargo.toml"),
                   "-p", "behalf-core", "--example", "readme"]
        else:
            return subprocess.CompletedProcess([], 1, "", f"no runner for `{lang} runnable` blocks")
        return subprocess.run(cmd, cwd=work, capture_output=True, text=True, env=env, timeout=600)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--readme", default=str(ROOT / "README.md"))
    p.add_argument("--behalf", default=str(ROOT / "target/debug/behalf"))
    p.add_argument("--python", default=str(ROOT / "bindings-py/.venv/bin/python"))
    p.add_argument("--node-package", default=str(ROOT / "bindings-js"))
    p.add_argument("--only", default=",".join(LANGS))
    args = p.parse_args()
    only = [l for l in args.only.split(",") if l]
    found = [b for b in blocks(Path(args.readme)) if b[0] in only]
    passed = failed = 0
    for lang in only:
        if not any(b[0] == lang for b in found):
            print(f"FAILED: no `{lang} runnable` block in {args.readme}")
            failed += 1
    for lang, line, code in found:
        r = run_block(lang, code, args)
        where = f"{Path(args.readme).name}:{line} ({lang})"
        if r.returncode == 0:
            passed += 1
            print(f"ok      {where}")
        else:
            failed += 1
            print(f"FAILED  {where}: exit {r.returncode}")
            for stream in (r.stdout, r.stderr):
                if stream.strip():
                    print(textwrap.indent(stream.rstrip(), "    "))
    print(f"snippets: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
