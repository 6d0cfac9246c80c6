"""The package is typed: a typed example passes `mypy --strict`, and the native module's
stubs match the module (`mypy.stubtest`)."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import behalf
from behalf import _behalf

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


def test_the_literal_types_are_the_cores_closed_sets() -> None:
    assert typing.get_args(behalf.Reason) == _behalf.REASONS
    assert set(typing.get_args(behalf.DecisionKind)) == set(_behalf.DECISIONS)
    assert len(_behalf.REASONS) == 13 and "approval_limit_reached" in _behalf.REASONS


def mypy_on(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    sample = tmp_path / "sample.py"
    sample.write_text(source)
    return run("mypy", "--strict", "--no-incremental", str(sample))


def test_mypy_strict_accepts_approving_an_approval_required_error(tmp_path: Path) -> None:
    r = mypy_on(tmp_path, """
import behalf
b = behalf.Behalf.from_file("behalf.json", agent_id="agent_claude_code")
try:
    b.verify({"agentId": "agent_claude_code", "action": "deploy"})
except behalf.ApprovalRequired as e:
    grant = b.approve(e.approval_id)
d = b.verify({"agentId": "agent_claude_code", "action": "deploy"})
if d.decision == "approval_required" and d.reason == "requires_approval":
    pass
""")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_knows_the_reasons_and_names_behalf_not_the_native_class(tmp_path: Path) -> None:
    r = mypy_on(tmp_path, """
import behalf
b = behalf.Behalf({"version": 1, "passports": []})
d = b.verify({"agentId": "a", "action": "x"})
if d.reason == "not_a_reason":
    pass
b.verify(42)
""")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Non-overlapping equality check" in r.stdout, r.stdout
    assert 'of "Behalf"' in r.stdout, r.stdout
    assert "Engine" not in r.stdout, r.stdout
