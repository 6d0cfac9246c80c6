"""A typed agent tool, checked by `mypy --strict` in the tests: the public API is fully typed."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any, Dict, List, Optional

import behalf

POLICY: Dict[str, Any] = {
    "version": 1,
    "passports": [
        {
            "id": "passport_ollie",
            "agent": "agent_ollie",
            "permissions": [
                {"id": "browse", "action": "browse", "vendor": "*"},
                {
                    "id": "email",
                    "action": "send_email",
                    "vendor": "gmail.com",
                    "when": {"to": {"glob": "*@example.com"}},
                },
            ],
        }
    ],
}

b = behalf.Behalf(POLICY, agent_id="agent_ollie")


@b.guard(action="send_email", vendor="gmail.com")
def send_email(to: str, subject: str = "") -> bool:
    return True


@b.guard(action="browse", vendor="news.ycombinator.com")
async def browse(url: str) -> str:
    return url


def main() -> Optional[str]:
    d: behalf.Decision = b.verify(
        {"agentId": "agent_ollie", "action": "browse", "vendor": "news.ycombinator.com"},
        now=datetime.datetime.now(datetime.timezone.utc),
    )
    allowed: bool = d.allowed
    reason: str = d.reason
    approval: Optional[str] = d.approval_id
    packet: Dict[str, Any] = d.to_dict()
    kw = b.verify(agent_id="agent_ollie", action="browse", now="2026-11-26T11:00:00Z")
    once = behalf.verify(POLICY, {"agentId": "agent_ollie", "action": "browse"}, now=0)
    problems: List[behalf.Problem] = behalf.validate_policy(POLICY)
    ok: bool = send_email("bob@example.com", subject="hi")
    page: str = asyncio.run(browse("https://news.ycombinator.com"))
    try:
        send_email("eve@evil.com")
    except behalf.ApprovalRequired as e:
        approval = e.approval_id
        grant: Dict[str, Any] = b.approve(e.approval_id)  # approval_id is a str, not Optional
        assert grant["grantId"].startswith("grt_")
    except behalf.Denied as e:
        reason = e.decision.reason
    kind: behalf.DecisionKind = d.decision
    why: behalf.Reason = d.reason
    report = behalf.verify_audit_log(b.audit_log())
    signature: str = behalf.sign_webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", 1, b"{}")
    record: Dict[str, Any] = b.audit_log()[-1]
    delivery: behalf.WebhookDelivery = behalf.webhook_delivery(
        record, ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], datetime.datetime.now(datetime.timezone.utc)
    )
    headers: Dict[str, str] = delivery.headers
    event: Dict[str, Any] = behalf.webhook_event(record)
    assert event["type"] == delivery.event_type and headers["webhook-id"].startswith("msg_")
    print(allowed, reason, kind, why, packet["decision"], kw.decision, once.decision, problems, ok, page,
          report.ok, signature, b.export_state()["version"])
    return approval


if __name__ == "__main__":
    main()
