"""Every vector of tests/conformance through the extension: each case's expectations, and its
verify packets compared field by field with the native core's (target/conformance/native.json),
random ids relabelled in order of first appearance exactly as behalf_core::conformance does."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

import behalf
from behalf import _behalf

from conftest import NATIVE_PACKETS, NOW, VECTORS

FILES = sorted(p for p in VECTORS.glob("*.json"))


def _cases() -> List[Tuple[str, Dict[str, Any], Dict[str, Any]]]:
    out = []
    for path in FILES:
        data = json.loads(path.read_text(encoding="utf-8"))
        for case in data["cases"]:
            out.append((path.name, data.get("policies", {}), case))
    return out


CASES = _cases()
_native: Optional[Dict[str, Any]] = None


def native_packets() -> Dict[str, Any]:
    global _native
    if _native is None:
        if not NATIVE_PACKETS.exists():
            pytest.fail(
                f"{NATIVE_PACKETS} is missing: run `cargo test -p behalf-core --test conformance`"
            )
        _native = json.loads(NATIVE_PACKETS.read_text(encoding="utf-8"))
    return _native


class Relabel:
    """behalf_core::conformance::Relabel: requestId (unless given), approvalId, grantId."""

    def __init__(self) -> None:
        self.seen: Dict[str, str] = {}

    def packet(self, packet: Dict[str, Any], given_request_id: bool) -> Dict[str, Any]:
        p = dict(packet)
        for key in ("requestId", "approvalId", "grantId"):
            if key == "requestId" and given_request_id:
                continue
            value = p.get(key)
            if isinstance(value, str):
                prefix = value.split("_")[0]
                n = len(self.seen) + 1
                p[key] = self.seen.setdefault(value, f"{prefix}#{n}")
        return p


RANDOM_REQUEST_ID = re.compile(r"req_[0-9A-Za-z]{16}")


def unpinned(packet: Dict[str, Any]) -> Dict[str, Any]:
    """A request that gave an invalid requestId gets a fresh random one, which relabelling
    leaves alone (the request "gave" one): both runtimes must have made one of that form."""
    if isinstance(packet.get("requestId"), str) and RANDOM_REQUEST_ID.fullmatch(packet["requestId"]):
        return {**packet, "requestId": "req_<random>"}
    return packet


def duration_ms(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # a bare number in `advance` is milliseconds
    m = re.fullmatch(r"(\d+)([smhd])", str(value))
    assert m, f"bad duration {value!r}"
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)] * 1000


def check_packet(
    packet: Dict[str, Any],
    expect: Dict[str, Any],
    request: Any,
    last_approval: List[Optional[str]],
    fail: Any,
) -> None:
    for key in ("decision", "reason", "matchedPermission", "activePermissions", "action", "vendor", "resource"):
        if key in expect and packet.get(key) != expect[key]:
            fail(f"`{key}`: expected {expect[key]!r}, got {packet.get(key)!r} ({packet['message']})")
    if packet["allowed"] != (packet["decision"] == "allowed"):
        fail("`allowed` disagrees with `decision`")
    if not packet.get("trace"):
        fail("`trace` is empty")
    if isinstance(request, dict) and isinstance(request.get("requestId"), str):
        if packet["requestId"] != request["requestId"] and packet["reason"] != "invalid_request":
            fail(f"`requestId` {request['requestId']!r} was not echoed")
    for key in ("approvalId", "grantId"):
        got = packet.get(key)
        want = expect.get(key, "absent")
        if want is True and got is None:
            fail(f"`{key}`: expected an id, got null")
        elif want is False and got is not None:
            fail(f"`{key}`: expected null, got {got}")
        elif want == "same" and (got is None or got != last_approval[0]):
            fail(f"`{key}`: expected the same id as before ({last_approval[0]}), got {got}")
        elif want == "new" and (got is None or got == last_approval[0]):
            fail(f"`{key}`: expected a new id, got {got}")
    if isinstance(packet.get("approvalId"), str):
        last_approval[0] = packet["approvalId"]


def tamper(records: List[Dict[str, Any]], t: Dict[str, Any]) -> None:
    i = t["index"]
    op = t["op"]
    if op == "edit":
        records[i][t["field"]] = t.get("value")
    elif op == "delete":
        del records[i]
    elif op == "reorder":
        records[i], records[i + 1] = records[i + 1], records[i]
    elif op == "splice":
        records.insert(i + 1, copy.deepcopy(records[i]))
    else:
        raise AssertionError(f"unknown tamper op {op}")


def run_case(policies: Dict[str, Any], case: Dict[str, Any]) -> Tuple[List[str], List[Dict[str, Any]]]:
    failures: List[str] = []
    packets: List[Dict[str, Any]] = []
    if "policyText" in case:
        policy: Any = case["policyText"]  # raw text, for invalid_json
    else:
        policy = case["policy"]
        if isinstance(policy, str):
            policy = policies[policy]
    if "expectPolicyErrors" in case:
        expected = case["expectPolicyErrors"]
        problems = behalf.validate_policy(policy)
        if not problems:
            return ["the policy was accepted; expected it to be rejected"], packets
        got = [(p.path, p.code) for p in problems]
        for e in expected:
            if (e["path"], e["code"]) not in got:
                failures.append(f"missing problem {e['code']} at `{e['path']}`; got {got}")
        if len(problems) != len(expected):
            failures.append(f"expected {len(expected)} problems, got {len(problems)}: {got}")
        # The constructor must reject the same policy with the same problems.
        with pytest.raises(behalf.PolicyError) as raised:
            behalf.Behalf(policy)
        if [(p.path, p.code) for p in raised.value.problems] != got:
            failures.append("Behalf(policy) reported other problems than validate_policy")
        return failures, packets

    now = _behalf.to_epoch_millis(case.get("now", NOW))
    capacity = case.get("options", {}).get("auditCapacity", 10_000)
    engine = behalf.Behalf(policy, audit_capacity=capacity)
    last_approval: List[Optional[str]] = [None]
    relabel = Relabel()
    for i, step in enumerate(case.get("steps", [])):

        def fail(what: str, i: int = i) -> None:
            failures.append(f"step {i}: {what}")

        expect = step.get("expect")
        step_now = _behalf.to_epoch_millis(step["now"]) if isinstance(step.get("now"), str) else now
        if "verify" in step or "verifyOnce" in step:
            request = step["verify"] if "verify" in step else step["verifyOnce"]
            if "verify" in step:
                decision = engine.verify(request, now=step_now)
            else:
                decision = behalf.verify(policy, request, now=step_now)
            packet = decision.to_dict()
            check_packet(packet, expect or {}, request, last_approval, fail)
            given = isinstance(request, dict) and isinstance(request.get("requestId"), str)
            packets.append(relabel.packet(packet, given))
        elif "verifyJson" in step:
            packet = engine.verify_json(step["verifyJson"], now=step_now).to_dict()
            check_packet(packet, expect or {}, None, last_approval, fail)
            packets.append(relabel.packet(packet, False))
        elif "advance" in step:
            now += duration_ms(step["advance"])
        elif "at" in step:
            now = _behalf.to_epoch_millis(step["at"])
        elif "approve" in step or "deny" in step:
            target = step.get("approve", step.get("deny"))
            approval_id = (last_approval[0] or "") if target == "$last" else str(target)
            try:
                if "approve" in step:
                    engine.approve(approval_id, ttl=step.get("ttl"), now=step_now)
                else:
                    engine.deny(approval_id, now=step_now)
                got: Dict[str, Any] = {"ok": True}
            except behalf.ApprovalError as e:
                got = {"error": e.code}
            if expect is not None and got != expect:
                fail(f"expected {expect}, got {got}")
        elif "exportRestore" in step:
            exported = json.loads(json.dumps(engine.export_state()))
            fresh = behalf.Behalf(policy, audit_capacity=capacity)
            fresh.restore(exported)
            engine = fresh
        elif "pendingApprovals" in step:
            got_n = len(engine.pending_approvals(now=step_now))
            if got_n != step["pendingApprovals"]:
                fail(f"expected {step['pendingApprovals']} pending approvals, got {got_n}")
        elif "grants" in step:
            got_n = len(engine.grants(now=step_now))
            if got_n != step["grants"]:
                fail(f"expected {step['grants']} active grants, got {got_n}")
        elif "auditVerify" in step:
            want = step["auditVerify"]
            log = engine.audit_log()
            report = behalf.verify_audit_log(log)
            if report.ok != want.get("ok"):
                fail(f"audit verify: expected {want}, got {report}")
            if "records" in want and len(log) != want["records"]:
                fail(f"audit has {len(log)} records, expected {want['records']}")
        elif "auditTamper" in step:
            records = engine.audit_log()
            # The verifier knows where the chain starts and the head it must reach.
            first_seq = records[0]["seq"] if records else None
            last_hash = records[-1]["hash"] if records else None
            tamper(records, step["auditTamper"])
            report = behalf.verify_audit_log(records, first_seq=first_seq, last_hash=last_hash)
            if report.ok != expect.get("ok") or (
                "firstBroken" in expect and report.first_broken != expect["firstBroken"]
            ):
                fail(f"tampered audit: expected {expect}, got {report}")
        elif "webhookSign" in step:
            w = step["webhookSign"]
            try:
                signature: Optional[str] = behalf.sign_webhook(
                    w.get("secret", ""), w.get("id", ""), int(w.get("timestamp", 0)), w.get("body", "")
                )
            except behalf.WebhookError:
                signature = None
            if signature != expect.get("signature"):
                fail(f"signature: expected {expect.get('signature')}, got {signature}")
        elif "webhookVerify" in step:
            w = step["webhookVerify"]
            headers = {
                "webhook-id": w.get("id", ""),
                "webhook-timestamp": str(w.get("timestamp", "")),
                "webhook-signature": w.get("signature", ""),
            }
            try:
                behalf.verify_webhook(w.get("secret", ""), headers, w.get("body", ""), now=w.get("now", 0))
                ok = True
            except behalf.WebhookError:
                ok = False
            if ok != expect.get("ok"):
                fail(f"webhook verify: expected {expect}, got ok={ok}")
        else:
            fail(f"unknown step {step}")
    return failures, packets


@pytest.mark.parametrize(
    "file,policies,case", CASES, ids=[f"{f}/{c['name']}" for f, _, c in CASES]
)
def test_vector(file: str, policies: Dict[str, Any], case: Dict[str, Any]) -> None:
    failures, packets = run_case(policies, case)
    assert not failures, "\n".join(failures)
    key = f"{file}/{case['name']}"
    native = native_packets()
    assert key in native, f"{key} is not in {NATIVE_PACKETS}; rebuild it"
    expected = native[key]
    assert len(packets) == len(expected), f"{len(packets)} packets, native has {len(expected)}"
    for i, (mine, theirs) in enumerate(zip(packets, expected)):
        assert unpinned(mine) == unpinned(theirs), f"packet {i} differs from the native core's"


def test_every_native_case_ran_here() -> None:
    mine = {f"{f}/{c['name']}" for f, _, c in CASES}
    assert set(native_packets()) == mine
    assert len(CASES) > 600
