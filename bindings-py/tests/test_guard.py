"""The guard decorator: the tool runs only when allowed, for sync and async functions."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest

import behalf

NOW = "2026-11-26T11:00:00Z"

POLICY: Dict[str, Any] = {
    "version": 1,
    "passports": [
        {
            "id": "passport_ollie",
            "agent": "agent_ollie",
            "permissions": [
                {
                    "id": "email_example",
                    "action": "send_email",
                    "vendor": "gmail.com",
                    "when": {"to": {"glob": "*@example.com"}},
                },
                {
                    "id": "email_boss",
                    "action": "send_email",
                    "vendor": "gmail.com",
                    "when": {"to": "boss@corp.com"},
                    "effect": "require_approval",
                },
                {"id": "no_evil", "action": "send_email", "when": {"to": {"glob": "*@evil.com"}}, "effect": "block"},
            ],
        }
    ],
}


@pytest.fixture
def b() -> behalf.Behalf:
    return behalf.Behalf(POLICY, agent_id="agent_ollie", clock=lambda: NOW)


def test_a_sync_tool_runs_only_when_allowed(b: behalf.Behalf) -> None:
    sent: List[str] = []

    @b.guard(action="send_email", vendor="gmail.com")
    def send_email(to: str, subject: str = "hi") -> str:
        sent.append(to)
        return f"sent to {to}"

    assert send_email("bob@example.com") == "sent to bob@example.com"
    with pytest.raises(behalf.Denied) as raised:
        send_email("eve@evil.com", subject="x")
    assert raised.value.reason == "blocked"
    assert raised.value.decision.matched_permission == "no_evil"
    with pytest.raises(behalf.ApprovalRequired) as pending:
        send_email(to="boss@corp.com")
    assert pending.value.approval_id and pending.value.approval_id.startswith("apr_")
    assert sent == ["bob@example.com"], "a denied or pending call never runs the tool"
    assert send_email.__name__ == "send_email"

    b.approve(pending.value.approval_id, now=NOW)
    assert send_email(to="boss@corp.com") == "sent to boss@corp.com"


def test_an_async_tool_runs_only_when_allowed(b: behalf.Behalf) -> None:
    sent: List[str] = []

    @b.guard(action="send_email", vendor="gmail.com")
    async def send_email(to: str) -> str:
        sent.append(to)
        await asyncio.sleep(0)
        return "ok"

    assert asyncio.iscoroutinefunction(send_email)
    assert asyncio.run(send_email("bob@example.com")) == "ok"
    with pytest.raises(behalf.Denied):
        asyncio.run(send_email("eve@evil.com"))
    with pytest.raises(behalf.ApprovalRequired):
        asyncio.run(send_email("boss@corp.com"))
    assert sent == ["bob@example.com"]


def test_methods_kwargs_and_explicit_params(b: behalf.Behalf) -> None:
    class Mailer:
        @b.guard(action="send_email", vendor="gmail.com")
        def send(self, **headers: Any) -> str:
            return "ok"

        @b.guard(action="send_email", vendor="gmail.com", params=lambda self, msg: {"to": msg["rcpt"]})
        def send_message(self, msg: Dict[str, Any]) -> str:
            return "ok"

    m = Mailer()
    assert m.send(to="bob@example.com") == "ok"
    with pytest.raises(behalf.Denied):
        m.send(to="eve@evil.com")
    assert m.send_message({"rcpt": "bob@example.com", "body": object()}) == "ok"

    @b.guard(action="send_email", vendor="gmail.com", params={"to": "bob@example.com"})
    def fixed() -> str:
        return "ok"

    assert fixed() == "ok"


def test_arguments_that_are_not_json_deny_the_call(b: behalf.Behalf) -> None:
    @b.guard(action="send_email", vendor="gmail.com")
    def send(to: str, attachment: Any = None) -> str:
        return "ok"

    with pytest.raises(behalf.Denied) as raised:
        send("bob@example.com", attachment=b"bytes")
    assert raised.value.reason == "invalid_request"


def test_a_guard_needs_an_agent(b: behalf.Behalf) -> None:
    with pytest.raises(TypeError):
        behalf.Behalf(POLICY).guard(action="send_email")
    other = behalf.Behalf(POLICY)

    @other.guard(action="send_email", vendor="gmail.com", agent_id="agent_ollie")
    def send(to: str) -> str:
        return "ok"

    assert send("bob@example.com", ) == "ok"


def test_every_guarded_call_is_audited(b: behalf.Behalf) -> None:
    @b.guard(action="send_email", vendor="gmail.com")
    def send(to: str) -> None:
        return None

    send("bob@example.com")
    with pytest.raises(behalf.Denied):
        send("eve@evil.com")
    reasons = [r["reason"] for r in b.audit_log()]
    assert reasons == ["allowed", "blocked"]
