"""Inputs only Python can produce: each is refused with a denied `invalid_request` packet,
never an exception, and never read as something else (a bool is never the number 1)."""

from __future__ import annotations

import collections
import datetime
import decimal
import json
from typing import Any, Dict

import pytest

import behalf

NOW = "2026-11-26T11:00:00Z"


def purchase(amount: Any) -> Dict[str, Any]:
    return {
        "agentId": "agent_claude_code",
        "action": "purchase",
        "vendor": "www.amazon.com",
        "params": {"amount": amount},
    }


@pytest.fixture
def engine(seed: Dict[str, Any]) -> behalf.Behalf:
    return behalf.Behalf(seed)


def assert_invalid(d: behalf.Decision) -> None:
    assert d.decision == "denied"
    assert d.reason == "invalid_request"
    assert d.allowed is False
    assert d.trace, "a refused request still explains itself"


NOT_JSON = {
    "nan": float("nan"),
    "inf": float("inf"),
    "minus_inf": float("-inf"),
    "int_beyond_64_bits": 10**30,
    "negative_int_beyond_64_bits": -(10**30),
    "bool_true_as_amount": True,
    "bool_false_as_amount": False,
    "bytes": b"12",
    "bytearray": bytearray(b"12"),
    "tuple": (1, 2),
    "set": {1, 2},
    "frozenset": frozenset({1}),
    "object": object(),
    "decimal": decimal.Decimal("1.5"),
    "complex": 1j,
    "datetime": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
    "non_str_key": {1: "one"},
    "tuple_key": {(1, 2): "pair"},
    "lone_surrogate": "\ud800",
    "negative_zero": -0.0,
    "seven_decimals": 0.1234567,
    "beyond_2_53": 2**53,
    "negative_amount": -1,
}


@pytest.mark.parametrize("value", list(NOT_JSON.values()), ids=list(NOT_JSON))
def test_a_value_that_is_not_a_valid_amount_is_invalid_request(
    engine: behalf.Behalf, value: Any
) -> None:
    d = engine.verify(purchase(value), now=NOW)
    assert_invalid(d)
    assert d.agent_id == "agent_claude_code", "readable fields are still echoed"


@pytest.mark.parametrize("value", list(NOT_JSON.values()), ids=list(NOT_JSON))
def test_the_same_values_are_refused_by_the_one_shot_verify(
    seed: Dict[str, Any], value: Any
) -> None:
    assert_invalid(behalf.verify(seed, purchase(value), now=NOW))


def test_a_bool_amount_is_never_read_as_one(engine: behalf.Behalf) -> None:
    assert engine.verify(purchase(1), now=NOW).allowed
    d = engine.verify(purchase(True), now=NOW)
    assert_invalid(d)
    assert "true" in d.message


def test_bools_stay_bools_in_conditions() -> None:
    policy = {
        "version": 1,
        "passports": [
            {
                "id": "p",
                "agent": "a",
                "permissions": [{"id": "one", "action": "do", "when": {"flag": 1}}],
            }
        ],
    }
    b = behalf.Behalf(policy)
    assert b.verify({"agentId": "a", "action": "do", "params": {"flag": 1}}).allowed
    assert b.verify({"agentId": "a", "action": "do", "params": {"flag": True}}).reason == "no_permission"


def test_a_hundred_thousand_deep_nesting_is_refused_without_recursion(
    engine: behalf.Behalf,
) -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    assert_invalid(engine.verify(purchase(deep), now=NOW))
    nested: Any = {}
    for _ in range(100_000):
        nested = {"x": nested}
    assert_invalid(engine.verify(purchase(nested), now=NOW))


def test_a_huge_list_is_refused(engine: behalf.Behalf) -> None:
    assert_invalid(engine.verify(purchase(list(range(200_000))), now=NOW))


def test_nesting_beyond_the_core_limit_gets_the_core_explanation(engine: behalf.Behalf) -> None:
    deep: Any = 1
    for _ in range(40):
        deep = {"x": deep}
    d = engine.verify(purchase(deep), now=NOW)
    assert_invalid(d)


@pytest.mark.parametrize(
    "request_",
    [None, 42, "deploy", ["agentId"], ("a", "b"), b"{}", object()],
    ids=["none", "int", "str", "list", "tuple", "bytes", "object"],
)
def test_a_request_that_is_not_a_dict_is_invalid(engine: behalf.Behalf, request_: Any) -> None:
    assert_invalid(engine.verify(request_, now=NOW))


def test_no_request_at_all_is_invalid(engine: behalf.Behalf) -> None:
    assert_invalid(engine.verify(now=NOW))


def test_a_dict_and_keywords_together_are_invalid(engine: behalf.Behalf) -> None:
    d = engine.verify(purchase(1), action="deploy", now=NOW)
    assert_invalid(d)
    assert "not both" in d.message


def test_an_unknown_keyword_is_an_unknown_field(engine: behalf.Behalf) -> None:
    d = engine.verify(agent_id="agent_claude_code", action="deploy", vendr="vercel.com", now=NOW)
    assert_invalid(d)
    assert "vendr" in d.message


def test_keyword_requests_decide_like_dicts(engine: behalf.Behalf) -> None:
    d = engine.verify(
        agent_id="agent_claude_code",
        action="deploy",
        vendor="vercel.com",
        params={"env": "staging"},
        request_id="kw-1",
        now=NOW,
    )
    assert d.allowed and d.reason == "allowed" and d.request_id == "kw-1"


def test_dict_subclasses_and_str_subclasses_are_read_by_content(engine: behalf.Behalf) -> None:
    class Name(str):
        pass

    request = collections.OrderedDict(
        agentId=Name("agent_claude_code"),
        action="deploy",
        vendor="vercel.com",
        params=collections.defaultdict(int, env="staging"),
    )
    assert engine.verify(request, now=NOW).allowed


def test_a_refused_request_echoes_a_valid_request_id(engine: behalf.Behalf) -> None:
    r = purchase(float("nan"))
    r["requestId"] = "mine-1"
    d = engine.verify(r, now=NOW)
    assert_invalid(d)
    assert d.request_id == "mine-1"
    r["requestId"] = "not valid!"
    assert engine.verify(r, now=NOW).request_id.startswith("req_")


def test_refusals_are_audited(engine: behalf.Behalf) -> None:
    engine.verify(purchase(float("nan")), now=NOW)
    log = engine.audit_log()
    assert log[-1]["reason"] == "invalid_request"
    assert behalf.verify_audit_log(log).ok


def test_verify_json_takes_text_and_bytes(engine: behalf.Behalf) -> None:
    text = '{"agentId": "agent_claude_code", "action": "deploy", "vendor": "vercel.com", "params": {"env": "staging"}}'
    assert engine.verify_json(text, now=NOW).allowed
    assert engine.verify_json(text.encode(), now=NOW).allowed
    assert_invalid(engine.verify_json("{not json", now=NOW))
    assert_invalid(engine.verify_json(b"\xff\xfe", now=NOW))


# A request dict is read on a fast path (its str fields borrowed, not converted); anything it
# does not take goes the general way. Either way the packet is the one the core gives the same
# request as JSON text.
SAME_AS_JSON = {
    "seed": {"agentId": "agent_claude_code", "action": "deploy", "vendor": "vercel.com",
             "params": {"env": "staging"}},
    "none_fields": {"agentId": "agent_claude_code", "action": "deploy", "vendor": None,
                    "resource": None, "requestId": None, "params": None},
    "agent_none": {"agentId": None, "action": "deploy"},
    "agent_not_str": {"agentId": 5, "action": "deploy"},
    "agent_empty": {"agentId": "", "action": "deploy"},
    "agent_control": {"agentId": "agent\u0007", "action": "deploy"},
    "agent_too_long": {"agentId": "a" * 129, "action": "deploy"},
    "agent_128_wide_chars": {"agentId": "é" * 128, "action": "deploy"},
    "action_missing": {"agentId": "agent_claude_code"},
    "action_to_normalize": {"agentId": "agent_claude_code", "action": "DEPLOY",
                            "vendor": "VERCEL.COM.", "params": {"env": "staging"}},
    "vendor_not_str": {"agentId": "agent_claude_code", "action": "deploy", "vendor": ["x"]},
    "vendor_with_port": {"agentId": "agent_claude_code", "action": "deploy", "vendor": "a.com:1"},
    "resource_dot_dot": {"agentId": "agent_claude_code", "action": "read", "resource": "a/../b"},
    "request_id_given": {"agentId": "agent_claude_code", "action": "deploy", "requestId": "r-1"},
    "request_id_invalid": {"agentId": "agent_claude_code", "action": "deploy",
                           "requestId": "not valid!", "params": {"amount": -1}},
    "request_id_not_str": {"agentId": "agent_claude_code", "action": "deploy", "requestId": 7},
    "unknown_field": {"agentId": "agent_claude_code", "action": "deploy", "agent": "x"},
    "params_not_object": {"agentId": "agent_claude_code", "action": "deploy", "params": [1]},
    "params_dotted_key": {"agentId": "agent_claude_code", "action": "deploy",
                          "params": {"repo.owner": "x"}},
    "amount": {"agentId": "agent_claude_code", "action": "purchase", "vendor": "www.amazon.com",
               "params": {"amount": 12.5}},
}


def packet(d: behalf.Decision) -> Dict[str, Any]:
    out = d.to_dict()
    if not out["requestId"] or out["requestId"].startswith("req_"):
        out["requestId"] = "made"
    return out


@pytest.mark.parametrize("request_", list(SAME_AS_JSON.values()), ids=list(SAME_AS_JSON))
def test_a_request_dict_decides_as_its_json_text(
    engine: behalf.Behalf, seed: Dict[str, Any], request_: Any
) -> None:
    text = json.dumps(request_)
    want = packet(behalf.Behalf(seed).verify_json(text, now=NOW))
    assert packet(engine.verify(request_, now=NOW)) == want
    # The same dict with keys that are not interned (as json.loads makes them).
    assert packet(engine.verify(json.loads(text), now=NOW)) == want


def test_a_field_with_a_lone_surrogate_is_refused_not_raised(engine: behalf.Behalf) -> None:
    for field in ("agentId", "action", "vendor", "resource", "requestId"):
        request = {"agentId": "agent_claude_code", "action": "deploy", field: "x\ud800"}
        assert_invalid(engine.verify(request, now=NOW))


class OtherHash(str):
    """A str whose hash differs from the plain str's: a dict keeps both as separate keys."""

    def __hash__(self) -> int:
        return hash(("other", str(self)))

    def __eq__(self, other: object) -> bool:
        return self is other


def test_two_keys_with_one_text_are_refused_not_read_last_wins(engine: behalf.Behalf) -> None:
    # The tool reads d["env"] (the plain key); a last-wins reader would check the other one.
    params = {"env": "production", OtherHash("env"): "staging"}
    assert len(params) == 2
    d = engine.verify({"agentId": "agent_claude_code", "action": "deploy",
                       "vendor": "vercel.com", "params": params}, now=NOW)
    assert_invalid(d)
    assert "appears twice" in d.message
    request = {"agentId": "agent_claude_code", OtherHash("agentId"): "agent_other",
               "action": "deploy"}
    d = engine.verify(request, now=NOW)
    assert_invalid(d)
    assert "appears twice" in d.message
