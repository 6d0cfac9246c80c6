"""The package is typed: a typed example passes `mypy --strict`, and the native module's
stubs match the module (`mypy.stubtest`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=HERE, capture_output=True, text=True, check=False
    )


def test_a_typed_example_passes_mypy_strict() -> None:
    r = run("mypy", "--strict", "--no-incremental", "examples/typed_agent.py")
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_typed_example_runs() -> None:
    r = subprocess.run([sys.executable, "examples/typed_agent.py"], cwd=HERE,
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_stubs_match_the_native_module() -> None:
    r = run("mypy.stubtest", "behalf._behalf", "--ignore-missing-stub")
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_package_ships_py_typed() -> None:
    import behalf

    assert (Path(behalf.__file__).parent / "py.typed").exists()
    assert (Path(behalf.__file__).parent / "_behalf.pyi").exists()
