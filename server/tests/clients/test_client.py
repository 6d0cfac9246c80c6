"""behalf.Client and behalf.AsyncClient against a real `behalf serve`: the server's packets,
and a denied internal_error decision — never an exception, never an allow — for a dead server,
a timeout, a 5xx, a refused key and an answer that is not a packet. Typed: mypy --strict."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import pytest

import behalf

ROOT = Path(__file__).resolve().parents[3]
BIN = os.environ.get("BEHALF_BIN", str(ROOT / "target" / "debug" / "behalf"))

POLICY: Dict[str, Any] = {
    "version": 1,
    "passports": [
        {
            "id": "passport_claude",
            "agent": "agent_claude_code",
            "permissions": [
                {"id": "deploy_staging", "action": "deploy", "vendor": "vercel.com", "when": {"env": "staging"}},
                {"id": "deploy_production", "action": "deploy", "vendor": "vercel.com",
                 "when": {"env": "production"}, "effect": "require_approval"},
            ],
        }
    ],
}
STAGING = {"agentId": "agent_claude_code", "action": "deploy", "vendor": "vercel.com", "params": {"env": "staging"}}
PRODUCTION = {**STAGING, "params": {"env": "production"}}


class Served:
    def __init__(self, url: str, directory: Path, process: "subprocess.Popen[str]") -> None:
        self.url = url
        self.dir = directory
        self.process = process

    def cli(self, *args: str) -> str:
        return subprocess.run([BIN, *args], cwd=self.dir, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    directory = Path(tempfile.mkdtemp(prefix="behalf-py-client-"))
    (directory / "behalf.json").write_text(json.dumps(POLICY))
    process = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0"], cwd=directory,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"listening on (\S+)", line)
    assert match, line
    yield Served(match.group(1), directory, process)
    process.terminate()
    process.wait(10)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def key(served: Served) -> str:
    return served.cli("agents", "key", "create", "agent_claude_code", "--quiet").strip()


def fake_server(handler: Callable[[http.server.BaseHTTPRequestHandler], None]) -> Tuple[str, Callable[[], None]]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            handler(self)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}", lambda: (httpd.shutdown(), httpd.server_close())


def assert_denied_here(d: behalf.RemoteDecision, pattern: str) -> None:
    assert (d.decision, d.allowed, d.reason, bool(d)) == ("denied", False, "internal_error", False)
    assert re.search(pattern, d.message), d.message
    assert d.to_dict()["trace"][0]["step"] == "client"


def test_the_servers_packet_is_the_embedded_engines(served: Served, key: str) -> None:
    client = behalf.Client(served.url, key)
    local = behalf.Behalf(POLICY)
    for request in (STAGING, PRODUCTION, {"agentId": "agent_claude_code", "action": "Bad Action"}):
        with_id = {**request, "requestId": f"req_py_{time.monotonic_ns()}"}
        remote = client.verify(with_id).to_dict()
        embedded = local.verify(with_id).to_dict()
        for p in (remote, embedded):
            p["evaluatedAt"] = "t"
            p["approvalId"] = p["approvalId"] and "apr"
        assert remote == embedded


def test_a_held_request_approved_on_the_server_is_allowed_on_retry(served: Served, key: str) -> None:
    client = behalf.Client(served.url, key)
    held = client.verify(PRODUCTION)
    assert held.decision == "approval_required" and held.approval_id
    assert client.approval_url(held.approval_id) == f"{served.url}/dashboard/approvals/{held.approval_id}"
    served.cli("approvals", "approve", held.approval_id)
    retry = client.verify(PRODUCTION)
    assert (retry.allowed, retry.reason, retry.grant_id is not None) == (True, "approved", True)
    assert json.loads(retry.to_json()) == retry.to_dict()


def test_the_async_client_returns_the_same_packets(served: Served, key: str) -> None:
    async def run() -> Tuple[behalf.RemoteDecision, behalf.RemoteDecision]:
        client = behalf.AsyncClient(served.url, key)
        return await asyncio.gather(client.verify(STAGING), client.verify({**STAGING, "agentId": "agent_other"}))

    ok, other = asyncio.run(run())
    assert ok.allowed and ok.reason == "allowed"
    assert_denied_here(other, r"403 agent_mismatch")


def test_a_refused_key_is_a_denied_decision(served: Served) -> None:
    assert_denied_here(behalf.Client(served.url, "bhk_" + "a" * 43).verify(STAGING), r"401 unknown_key")
    assert_denied_here(behalf.Client(served.url, "not-a-key").verify(STAGING), r"401 malformed_credentials")


def test_a_dead_server_is_a_denied_decision_naming_the_cause() -> None:
    url, stop = fake_server(lambda h: None)
    stop()
    d = behalf.Client(url, "bhk_x").verify({**STAGING, "requestId": "req_dead"})
    assert_denied_here(d, r"cannot reach the behalf server .*refused")
    assert d.request_id == "req_dead"


def test_timeouts_deny_within_the_limit_sync_and_async() -> None:
    url, stop = fake_server(lambda h: time.sleep(3))
    try:
        started = time.monotonic()
        assert_denied_here(behalf.Client(url, "bhk_x", timeout=0.3).verify(STAGING), r"did not answer within 0.3 s")
        assert time.monotonic() - started < 2
        started = time.monotonic()
        d = asyncio.run(behalf.AsyncClient(url, "bhk_x", timeout=0.3).verify(STAGING))
        assert_denied_here(d, r"did not answer within 0.3 s")
        assert time.monotonic() - started < 2
    finally:
        stop()
    assert behalf.Client("http://127.0.0.1:1", "bhk_x").timeout == 2.0


@pytest.mark.parametrize("status,body,pattern", [
    (500, b'{"code":"internal_error","message":"boom"}', r"answered 500 internal_error: boom"),
    (503, b"unavailable", r"answered 503"),
    (302, b"", r"answered 302"),
    (200, b"<html>", r"not JSON"),
    (200, b'{"allowed": true}', r"not a decision packet"),
    (200, b'{"decision":"denied","allowed":true,"reason":"allowed","requestId":"req_x"}', r"not a decision packet"),
])
def test_odd_answers_are_denied_even_when_they_say_allowed(status: int, body: bytes, pattern: str) -> None:
    def answer(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", "http://127.0.0.1:1/")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    url, stop = fake_server(answer)
    try:
        assert_denied_here(behalf.Client(url, "bhk_x").verify(STAGING), pattern)
    finally:
        stop()


def test_a_request_that_cannot_be_json_is_denied_unsent(served: Served, key: str) -> None:
    d = behalf.Client(served.url, key).verify({**STAGING, "params": {"n": float("nan")}})
    assert_denied_here(d, r"cannot be sent as JSON")


def test_bad_options_raise_at_construction() -> None:
    for args in (("127.0.0.1:7777", "bhk_x"), ("http://h", ""), ("http://h", "bhk_x", 0)):
        with pytest.raises(ValueError):
            behalf.Client(*args)  # type: ignore[arg-type]


def test_the_clients_pass_mypy_strict(tmp_path: Path) -> None:
    sample = tmp_path / "remote_agent.py"
    sample.write_text('''
import asyncio
from typing import Optional
import behalf

def check(url: str, key: str) -> Optional[str]:
    d: behalf.RemoteDecision = behalf.Client(url, key, timeout=1.5).verify(
        {"agentId": "a", "action": "deploy"}, timeout=0.5)
    reason: behalf.Reason = d.reason
    if d.approval_id is not None:
        return behalf.Client(url, key).approval_url(d.approval_id)
    return reason if not d.allowed else None

async def check_async(url: str, key: str) -> bool:
    d = await behalf.AsyncClient(url, key).verify({"agentId": "a", "action": "deploy"})
    return d.allowed
''')
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(sample)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
