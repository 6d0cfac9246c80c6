"""The Python surface: construction, times, approvals, state, errors, webhooks, faults."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any, Dict

import pytest

import behalf

NOW = "2026-11-26T11:00:00.000Z"
STAGING = {
    "agentId": "agent_claude_code",
    "action": "deploy",
    "vendor": "vercel.com",
    "params": {"env": "staging"},
}
PRODUCTION = {**STAGING, "params": {"env": "production"}}


def test_a_policy_is_a_dict_json_text_or_a_file(seed: Dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "behalf.json"
    path.write_text(json.dumps(seed), encoding="utf-8")
    for b in (behalf.Behalf(seed), behalf.Behalf(json.dumps(seed)), behalf.Behalf.from_file(path)):
        assert b.verify(STAGING, now=NOW).allowed
    assert isinstance(behalf.Behalf.from_file(str(path)), behalf.Behalf)


def test_the_decision_has_snake_case_attributes_and_a_canonical_dict(
    seed: Dict[str, Any],
) -> None:
    d = behalf.Behalf(seed).verify(STAGING, now=NOW)
    assert (d.allowed, d.decision, d.reason) == (True, "allowed", "allowed")
    assert d.request_id.startswith("req_") and len(d.request_id) == 20
    assert d.matched_permission == "deploy_staging"
    assert d.passport_id == "passport_claude"
    assert d.active_permissions == 4
    assert d.approval_id is None and d.grant_id is None and d.grant_expires_at is None
    assert d.evaluated_at == NOW
    assert (d.agent_id, d.action, d.vendor, d.resource) == ("agent_claude_code", "deploy", "vercel.com", None)
    assert d.trace and set(d.trace[0]) == {"step", "permission", "result", "detail"}
    packet = d.to_dict()
    assert list(packet) == [
        "decision", "allowed", "reason", "message", "requestId", "agentId", "action",
        "vendor", "resource", "passportId", "activePermissions", "matchedPermission",
        "approvalId", "grantId", "grantExpiresAt", "evaluatedAt", "trace",
    ]
    assert json.loads(d.to_json()) == packet
    assert packet["message"] == d.message
    assert "deploy_staging" in repr(d)


def test_a_decision_is_truthy_only_when_allowed(seed: Dict[str, Any]) -> None:
    b = behalf.Behalf(seed)
    assert b.verify(STAGING, now=NOW)
    assert not b.verify(PRODUCTION, now=NOW)
    assert not b.verify({"agentId": "nobody", "action": "deploy"}, now=NOW)


def test_a_bad_policy_raises_policy_error_listing_every_problem() -> None:
    bad = {
        "version": 1,
        "passports": [
            {
                "id": "p",
                "agent": "a",
                "permissions": [
                    {"id": "x", "action": "deploy", "when": {"env": ["a"]}},
                    {"id": "x", "action": "BAD ACTION"},
                ],
            }
        ],
        "extra": 1,
    }
    with pytest.raises(behalf.PolicyError) as raised:
        behalf.Behalf(bad)
    e = raised.value
    assert isinstance(e, behalf.BehalfError) and isinstance(e, ValueError)
    assert e.code == "invalid_policy"
    paths = {(p.path, p.code) for p in e.problems}
    assert ("extra", "unknown_field") in paths
    assert len(e.problems) >= 3
    assert all(p.message and p.hint for p in e.problems)
    assert behalf.validate_policy(bad) == e.problems
    assert behalf.validate_policy({"version": 1, "passports": []}) == []


def test_a_policy_that_is_not_json_is_a_policy_error() -> None:
    with pytest.raises(behalf.PolicyError) as raised:
        behalf.Behalf({"version": 1, "passports": [("not", "json")]})
    assert raised.value.problems[0].code == "not_json"
    assert raised.value.problems[0].path == "passports[0]"
    with pytest.raises(behalf.PolicyError) as raised:
        behalf.Behalf("{")
    assert raised.value.problems[0].code == "invalid_json"
    with pytest.raises(behalf.PolicyError):
        behalf.verify("{", STAGING)


@pytest.mark.parametrize(
    "now",
    [
        "2026-11-26T11:00:00Z",
        "2026-11-26T12:00:00+01:00",
        1795690800000,
        1795690800000.4,
        datetime.datetime(2026, 11, 26, 11, 0, tzinfo=datetime.timezone.utc),
        datetime.datetime(2026, 11, 26, 6, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
    ],
    ids=["utc_text", "offset_text", "epoch_ms", "epoch_ms_float", "aware_utc", "aware_offset"],
)
def test_times_are_rfc3339_aware_datetimes_or_epoch_millis(seed: Dict[str, Any], now: Any) -> None:
    assert behalf.Behalf(seed).verify(STAGING, now=now).evaluated_at == NOW


@pytest.mark.parametrize(
    "now,error",
    [
        ("yesterday", ValueError),
        (datetime.datetime(2026, 11, 26, 11, 0), ValueError),
        (True, TypeError),
        (float("nan"), ValueError),
        ([], TypeError),
    ],
    ids=["text", "naive_datetime", "bool", "nan", "list"],
)
def test_a_bad_time_is_the_callers_error(seed: Dict[str, Any], now: Any, error: type) -> None:
    with pytest.raises(error):
        behalf.Behalf(seed).verify(STAGING, now=now)


def test_the_clock_option_and_the_default_clock(seed: Dict[str, Any]) -> None:
    b = behalf.Behalf(seed, clock=lambda: NOW)
    assert b.verify(STAGING).evaluated_at == NOW
    d = behalf.Behalf(seed).verify(STAGING)
    year = datetime.datetime.now(datetime.timezone.utc).year
    assert d.evaluated_at.startswith(str(year)) or d.evaluated_at.startswith(str(year + 1))


def test_approve_turns_a_pending_approval_into_a_grant(seed: Dict[str, Any]) -> None:
    b = behalf.Behalf(seed)
    d = b.verify(PRODUCTION, now=NOW)
    assert d.decision == "approval_required" and d.approval_id
    assert [a["approvalId"] for a in b.pending_approvals(now=NOW)] == [d.approval_id]
    grant = b.approve(d.approval_id, ttl="10m", now=NOW)
    assert grant["grantId"].startswith("grt_")
    again = b.verify(PRODUCTION, now=NOW)
    assert (again.allowed, again.reason, again.grant_id) == (True, "approved", grant["grantId"])
    assert again.grant_expires_at == "2026-11-26T11:10:00.000Z"
    assert len(b.grants(now=NOW)) == 1
    with pytest.raises(behalf.ApprovalError) as raised:
        b.approve(d.approval_id, now=NOW)
    assert raised.value.code == "approval_already_decided"


@pytest.mark.parametrize(
    "ttl", ["10m", 600, datetime.timedelta(minutes=10)], ids=["text", "seconds", "timedelta"]
)
def test_a_ttl_is_a_duration_text_seconds_or_a_timedelta(seed: Dict[str, Any], ttl: Any) -> None:
    b = behalf.Behalf(seed)
    d = b.verify(PRODUCTION, now=NOW)
    grant = b.approve(d.approval_id or "", ttl=ttl, now=NOW)
    assert grant["expiresAt"] == "2026-11-26T11:10:00.000Z"


def test_approval_errors_carry_stable_codes(seed: Dict[str, Any]) -> None:
    b = behalf.Behalf(seed)
    with pytest.raises(behalf.ApprovalError) as raised:
        b.approve("apr_doesnotexist00", now=NOW)
    assert raised.value.code == "approval_not_found"
    assert raised.value.hint
    d = b.verify(PRODUCTION, now=NOW)
    with pytest.raises(behalf.ApprovalError) as raised:
        b.approve(d.approval_id or "", ttl="ten minutes", now=NOW)
    assert raised.value.code == "bad_duration"


def test_deny_makes_the_same_request_approval_denied(seed: Dict[str, Any]) -> None:
    b = behalf.Behalf(seed)
    d = b.verify(PRODUCTION, now=NOW)
    b.deny(d.approval_id or "", now=NOW)
    assert b.verify(PRODUCTION, now=NOW).reason == "approval_denied"
    events = [r["event"] for r in b.audit_log()]
    assert events == ["decision", "approval.denied", "decision"]


def test_export_and_restore_carry_budgets_and_grants(seed: Dict[str, Any]) -> None:
    b = behalf.Behalf(seed)
    buy = {"agentId": "agent_claude_code", "action": "purchase", "vendor": "www.amazon.com"}
    for _ in range(3):
        assert b.verify({**buy, "params": {"amount": 100}}, now=NOW).allowed
    state = b.export_state()
    fresh = behalf.Behalf(seed)
    fresh.restore(json.dumps(state))
    assert fresh.verify({**buy, "params": {"amount": 1}}, now=NOW).reason == "limit_exceeded"
    assert behalf.verify_audit_log(fresh.audit_log()).ok
    with pytest.raises(behalf.StateError) as raised:
        fresh.restore({"version": 9})
    assert raised.value.code == "bad_state"


def test_usage_reports_budget_and_rate_use_as_the_next_decision_counts_it() -> None:
    b = behalf.Behalf({"version": 1, "passports": [{"id": "p", "agent": "a", "permissions": [
        {"id": "buy", "action": "purchase",
         "limits": {"budget": {"amount": 100, "per": "1h"}, "rate": {"count": 5, "per": 60}}}]}]})
    for amount in (30, 12.5):
        assert b.verify({"agentId": "a", "action": "purchase", "params": {"amount": amount}}, now=NOW).allowed
    assert b.usage(now=NOW) == [{"permission": "buy", "passportId": "p",
                                 "budget": {"amount": 100, "per": 3_600_000, "spent": 42.5},
                                 "rate": {"count": 5, "per": 60_000, "used": 2}}]
    assert b.usage(now="2026-11-26T11:01:00.000Z")[0]["rate"]["used"] == 0


def test_the_one_shot_verify_is_stateless(seed: Dict[str, Any]) -> None:
    d = behalf.verify(seed, PRODUCTION, now=NOW)
    assert d.decision == "approval_required" and d.approval_id is None
    assert behalf.verify(seed, now=NOW, **{"agent_id": "agent_claude_code", "action": "deploy",
                                             "vendor": "vercel.com", "params": {"env": "staging"}}).allowed


def test_the_audit_chain_is_verified_and_tampering_is_found(seed: Dict[str, Any]) -> None:
    b = behalf.Behalf(seed)
    for _ in range(5):
        b.verify(STAGING, now=NOW)
    log = b.audit_log()
    assert behalf.verify_audit_log(log) == behalf.AuditReport(True, 5, None, None, None)
    log[2]["decision"] = "denied"
    report = behalf.verify_audit_log(log)
    assert not report.ok and report.first_broken == 2 and report.first_broken_seq == 3
    cut = b.audit_log()[:-1]
    anchored = behalf.verify_audit_log(cut, first_seq=1, last_hash=b.audit_log()[-1]["hash"])
    assert not anchored.ok


def test_the_audit_window_is_bounded(seed: Dict[str, Any]) -> None:
    b = behalf.Behalf(seed, audit_capacity=10)
    for _ in range(25):
        b.verify(STAGING, now=NOW)
    log = b.audit_log()
    assert len(log) == 10 and log[-1]["seq"] == 25
    assert behalf.verify_audit_log(log).ok


def test_webhooks_sign_and_verify() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = '{"test": 2432232314}'
    sig = behalf.sign_webhook(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    headers = {
        "Webhook-Id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "Webhook-Timestamp": "1614265330",
        "Webhook-Signature": f"v1,bm9wZQ== {sig}",
    }
    behalf.verify_webhook(secret, headers, body.encode(), now=1614265330 + 300)
    with pytest.raises(behalf.WebhookError) as raised:
        behalf.verify_webhook(secret, headers, body, now=1614265330 + 301)
    assert raised.value.code == "timestamp_too_old"
    with pytest.raises(behalf.WebhookError) as raised:
        behalf.verify_webhook(secret, headers, body + " ", now=1614265330)
    assert raised.value.code == "no_matching_signature"
    with pytest.raises(behalf.WebhookError) as raised:
        behalf.verify_webhook(secret, {}, body)
    assert raised.value.code == "missing_header"
    with pytest.raises(behalf.WebhookError) as raised:
        behalf.sign_webhook("whsec_!!!", "id", 1, body)
    assert raised.value.code == "bad_secret"


def test_a_panic_in_the_extension_fails_closed_as_internal_error(seed: Dict[str, Any]) -> None:
    b = behalf.Behalf(seed)
    b._panic_on_next_verify()
    d = b.verify(STAGING, now=NOW)
    assert (d.allowed, d.decision, d.reason) == (False, "denied", "internal_error")
    assert "injected fault" in d.message
    assert d.request_id.startswith("req_")
    # The fault is audited, the chain is intact, and the engine goes on deciding.
    log = b.audit_log()
    assert log[-1]["reason"] == "internal_error"
    assert behalf.verify_audit_log(log).ok
    assert b.verify(STAGING, now=NOW).allowed


def test_errors_form_one_hierarchy() -> None:
    for cls in (
        behalf.PolicyError,
        behalf.ApprovalError,
        behalf.StateError,
        behalf.WebhookError,
        behalf.NotAllowed,
        behalf.Denied,
        behalf.ApprovalRequired,
    ):
        assert issubclass(cls, behalf.BehalfError)
    assert issubclass(behalf.Denied, behalf.NotAllowed)
    assert issubclass(behalf.ApprovalRequired, behalf.NotAllowed)
    assert behalf.__version__


def test_on_decision_gets_every_record_once_chained(seed: Dict[str, Any]) -> None:
    records: list[Dict[str, Any]] = []
    b = behalf.Behalf(seed, on_decision=records.append)
    b.verify(STAGING, now=NOW)
    assert [r["seq"] for r in records] == [1], "delivered right after the decision"
    d = b.verify(PRODUCTION, now=NOW)
    b.approve(d.approval_id or "", now=NOW)
    b.verify(PRODUCTION, now=NOW)
    b.verify(42, now=NOW)
    assert [r["event"] for r in records] == [
        "decision", "decision", "approval.granted", "decision", "decision",
    ]
    assert [r["reason"] for r in records if r["event"] == "decision"] == [
        "allowed", "requires_approval", "approved", "invalid_request",
    ]
    assert behalf.verify_audit_log(records).ok
    assert records == b.audit_log()
    assert [list(r) for r in records] == [list(r) for r in b.audit_log()], "the same key order"


def test_a_failing_on_decision_never_changes_the_decision(seed: Dict[str, Any]) -> None:
    seen: list[Any] = []

    def broken(record: Dict[str, Any]) -> None:
        raise RuntimeError("sink down")

    import sys

    hook = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        b = behalf.Behalf(seed, on_decision=broken)
        assert b.verify(STAGING, now=NOW).allowed
    finally:
        sys.unraisablehook = hook
    assert len(seen) == 1 and isinstance(seen[0].exc_value, RuntimeError)
    with pytest.raises(TypeError):
        behalf.Behalf(seed, on_decision=42)  # type: ignore[arg-type]


def test_on_decision_may_call_back_into_the_engine(seed: Dict[str, Any]) -> None:
    b: Any = None
    pending: list[int] = []

    def sink(record: Dict[str, Any]) -> None:
        pending.append(len(b.pending_approvals(now=NOW)))

    b = behalf.Behalf(seed, on_decision=sink)
    b.verify(PRODUCTION, now=NOW)
    assert pending == [1]
