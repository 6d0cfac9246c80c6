"""behalf: a permission engine for AI agents.

Before an agent runs a tool, it asks behalf; the answer is a `Decision` that is `allowed`,
`denied` or `approval_required`, and every decision is audited. Any error or malformed
input fails closed. The rules are evaluated by behalf's Rust core, the same core that the
CLI and the JavaScript package run, so every runtime gives the same decision.

    import behalf
    b = behalf.Behalf.from_file("behalf.json")
    d = b.verify(agent_id="agent_claude_code", action="deploy", vendor="vercel.com",
                 params={"env": "staging"})
    if d.allowed:
        deploy()
"""

from __future__ import annotations

import datetime
import functools
import inspect
import os
import time
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    TypeVar,
    Union,
    cast,
)

from . import _behalf
from ._behalf import Decision
from ._types import DecisionKind, Reason
from ._client import AsyncClient, Client, RemoteDecision
from ._errors import (
    ApprovalError,
    ApprovalRequired,
    BehalfError,
    Denied,
    NotAllowed,
    PolicyError,
    Problem,
    StateError,
    WebhookError,
)

if TYPE_CHECKING:
    from typing_extensions import ParamSpec

    P = ParamSpec("P")

R = TypeVar("R")

__version__: str = _behalf.__version__

__all__ = [
    "ApprovalError",
    "ApprovalRequired",
    "AsyncClient",
    "AuditReport",
    "Behalf",
    "BehalfError",
    "Client",
    "Decision",
    "DecisionKind",
    "Denied",
    "NotAllowed",
    "PolicyError",
    "Problem",
    "Reason",
    "RemoteDecision",
    "StateError",
    "WebhookDelivery",
    "WebhookError",
    "sign_webhook",
    "validate_policy",
    "verify",
    "verify_audit_log",
    "verify_webhook",
    "webhook_delivery",
    "webhook_event",
]

Policy = Union[Mapping[str, Any], str]
"""A policy: the parsed `behalf.json` (a dict) or its JSON text."""

Time = Union[str, int, float, Any]
"""RFC 3339 text, epoch milliseconds, or an aware `datetime.datetime`."""


class Behalf(_behalf.Behalf):
    """A compiled policy and its state: usage (budgets, rates), pending approvals, grants and
    the audit chain. Compile once, verify many times; one instance may be shared by threads.

    `Behalf(policy)` takes the parsed `behalf.json` or its text and raises `PolicyError`
    (listing every problem) when the policy is invalid. Options: `agent_id` (the agent that
    `guard` acts for), `audit_capacity` (audit records kept in memory, default 10,000),
    `clock` (a callable returning the time when `now` is not passed), `on_decision` (a
    callable handed every audit record, chained, once, right after the call that made it;
    this moves the record's hashing onto that call, and the callback's exceptions go to
    `sys.unraisablehook`, never into the decision).

    Methods (implemented natively): `verify(request | **fields, now=None) -> Decision` never
    raises for a bad request; `verify_json(text)`; `approve(approval_id, ttl=None, now=None)`;
    `deny(approval_id, now=None)`; `pending_approvals()`; `grants()`; `usage()` (budget and
    rate use per limited permission); `audit_log()`;
    `export_state()`; `restore(state)`.
    """

    __slots__ = ()

    @classmethod
    def from_file(
        cls,
        path: Union[str, "os.PathLike[str]"],
        *,
        agent_id: Optional[str] = None,
        audit_capacity: int = 10_000,
        clock: Optional[Callable[[], Time]] = None,
        on_decision: Optional[Callable[[Dict[str, Any]], object]] = None,
    ) -> Behalf:
        """Loads a policy file (`behalf.json`)."""
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return cls(
            text,
            agent_id=agent_id,
            audit_capacity=audit_capacity,
            clock=clock,
            on_decision=on_decision,
        )

    def guard(
        self,
        action: str,
        vendor: Optional[str] = None,
        resource: Optional[str] = None,
        *,
        agent_id: Optional[str] = None,
        params: Union[None, Mapping[str, Any], Callable[..., Mapping[str, Any]]] = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorates a tool (a function or an async function) so that it runs only when its
        request is allowed; otherwise it raises `Denied` or `ApprovalRequired` (with
        `approval_id` and the `decision`) and the tool does not run.

        The request's `params` are the call's arguments by name (`self` and `cls` left out;
        `**kwargs` merged in), or what `params` gives: a dict, or a callable taking the same
        arguments as the tool. Arguments that are not JSON make the request invalid, so
        the call is denied: pass `params=` to choose what the policy sees.
        """
        agent = agent_id if agent_id is not None else self.agent_id
        if agent is None:
            raise TypeError("guard needs an agent: Behalf(policy, agent_id=...) or guard(agent_id=...)")

        def decorate(fn: Callable[P, R]) -> Callable[P, R]:
            signature = inspect.signature(fn)

            def request_for(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
                if params is None:
                    p = _arguments(signature, args, kwargs)
                elif callable(params):
                    p = dict(params(*args, **kwargs))
                else:
                    p = dict(params)
                request: dict[str, Any] = {"agentId": agent, "action": action, "params": p}
                if vendor is not None:
                    request["vendor"] = vendor
                if resource is not None:
                    request["resource"] = resource
                return request

            def check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
                decision = self.verify(request_for(args, kwargs))
                if decision.allowed:
                    return
                if decision.decision == "approval_required":
                    raise ApprovalRequired(decision)
                raise Denied(decision)

            if inspect.iscoroutinefunction(fn):
                async_fn = cast(Callable[..., Awaitable[Any]], fn)

                @functools.wraps(fn)
                async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                    check(args, kwargs)
                    return await async_fn(*args, **kwargs)

                return cast("Callable[P, R]", guarded_async)

            @functools.wraps(fn)
            def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
                check(args, kwargs)
                return fn(*args, **kwargs)

            return guarded

        return decorate

    def __repr__(self) -> str:
        return f"<behalf.Behalf agent_id={self.agent_id!r}>"


def _arguments(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    params: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if name in ("self", "cls"):
            continue
        if kind is inspect.Parameter.VAR_KEYWORD:
            params.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            params[name] = list(value)
        else:
            params[name] = value
    return params


def verify(
    policy: Policy,
    request: Optional[Mapping[str, Any]] = None,
    /,
    *,
    now: Optional[Time] = None,
    **fields: Any,
) -> Decision:
    """The stateless one-shot verify: compiles `policy`, decides `request` with empty usage
    and no grants (a `requires_approval` answer opens no approval). Raises `PolicyError`
    for a bad policy; never raises for a bad request."""
    return _behalf.verify(policy, request, now=now, **fields)


def validate_policy(policy: Policy) -> List[Problem]:
    """Every problem of a policy by JSON path; an empty list when the policy is valid."""
    return [Problem.from_dict(p) for p in _behalf.validate_policy(policy)]


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: Union[str, bytes]) -> str:
    """The Standard Webhooks `webhook-signature` value (`v1,<base64>`) of one message."""
    return _behalf.sign_webhook(secret, msg_id, timestamp, body)


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: Union[str, bytes],
    *,
    now: Optional[int] = None,
) -> None:
    """Verifies a Standard Webhooks message from its headers (`webhook-id`,
    `webhook-timestamp`, `webhook-signature`, any case) and raw body, within ±5 minutes of
    `now` (unix seconds, default the clock). Raises `WebhookError` when it does not verify."""
    lowered = {k.lower(): v for k, v in headers.items()}
    missing = [h for h in ("webhook-id", "webhook-timestamp", "webhook-signature") if h not in lowered]
    if missing:
        raise WebhookError(
            f"missing header `{missing[0]}`",
            code="missing_header",
            hint="pass the request's headers as received",
        )
    _behalf.verify_webhook_signature(
        secret,
        lowered["webhook-id"],
        lowered["webhook-timestamp"],
        body,
        lowered["webhook-signature"],
        int(time.time()) if now is None else now,
    )


@dataclass(frozen=True)
class WebhookDelivery:
    """Exactly what to POST for one event: send `body` (UTF-8, byte for byte) with `headers`
    (`content-type`, `webhook-id`, `webhook-timestamp`, `webhook-signature`). `webhook-id` is
    derived from the audit record, so it is the same on every retry: receivers drop
    duplicates by it. `event_type` is the event's `type`, for choosing endpoints."""

    headers: Dict[str, str]
    body: str
    event_type: str


def webhook_event(record: Mapping[str, Any]) -> Dict[str, Any]:
    """The webhook event of one audit record (as `on_decision` or `Behalf.audit_log()` handed
    it out): `{"type", "timestamp", "data"}`, `data` being the record. Raises `WebhookError`
    (`bad_audit_record`) for anything that is not such a record, unchanged."""
    return _behalf.webhook_event(record)


def webhook_delivery(
    record: Mapping[str, Any],
    secrets: Union[str, Sequence[str]],
    timestamp: Union[int, datetime.datetime, None] = None,
) -> WebhookDelivery:
    """The signed Standard Webhooks message for one audit record's event (as `on_decision` or
    `Behalf.audit_log()` handed it out), ready to POST with any HTTP client.

    `secrets` is the endpoint's `whsec_...` secret, or several during a rotation (one
    signature each, space separated, so a receiver on either secret accepts). `timestamp` is
    the `webhook-timestamp`: unix seconds (int) or an aware datetime; default now. Sign right
    before each attempt, since receivers reject messages more than 5 minutes old. Raises
    `WebhookError` (`bad_audit_record`, `bad_secret`, `bad_timestamp`) rather than sign
    anything else."""
    if isinstance(secrets, str):
        keys = [secrets]
    elif isinstance(secrets, (bytes, bytearray, Mapping)) or not isinstance(secrets, Sequence):
        raise WebhookError(
            f"`secrets` must be a `whsec_...` str or a sequence of them, not `{type(secrets).__name__}`",
            code="bad_secret",
            hint="pass the endpoint's secret, or the new and the previous one during a rotation",
        )
    else:
        keys = list(secrets)
        if not keys or not all(isinstance(k, str) for k in keys):
            raise WebhookError(
                "`secrets` must hold at least one secret, each a `whsec_...` str",
                code="bad_secret",
                hint="pass the endpoint's secret, or the new and the previous one during a rotation",
            )
    r = _behalf.webhook_delivery(record, keys, _unix_seconds(timestamp))
    return WebhookDelivery(headers=dict(r["headers"]), body=str(r["body"]), event_type=str(r["eventType"]))


_MAX_UNIX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z


def _unix_seconds(timestamp: Union[int, datetime.datetime, None]) -> int:
    hint = "leave it out for now, or pass int(time.time()) or an aware datetime"
    if timestamp is None:
        return int(time.time())
    if isinstance(timestamp, datetime.datetime):
        if timestamp.utcoffset() is None:
            raise WebhookError(
                "a naive datetime is ambiguous as a `webhook-timestamp`",
                code="bad_timestamp",
                hint="give it a tzinfo (datetime.timezone.utc)",
            )
        seconds = int(timestamp.timestamp() // 1)
    elif isinstance(timestamp, int) and not isinstance(timestamp, bool):
        seconds = timestamp
    else:
        raise WebhookError(
            f"`{str(timestamp)[:40]}` is not whole unix seconds",
            code="bad_timestamp",
            hint=hint,
        )
    if not 0 <= seconds <= _MAX_UNIX_SECONDS:
        raise WebhookError(f"`{seconds}` is not whole unix seconds", code="bad_timestamp", hint=hint)
    return seconds


@dataclass(frozen=True)
class AuditReport:
    """The result of checking an audit chain; `first_broken` is the 0-based index of the
    first bad record."""

    ok: bool
    records: int
    first_broken: Optional[int]
    first_broken_seq: Optional[int]
    problem: Optional[str]


def verify_audit_log(
    records: List[Dict[str, Any]],
    *,
    first_seq: Optional[int] = None,
    last_hash: Optional[str] = None,
) -> AuditReport:
    """Checks the hash chain of audit records (as `Behalf.audit_log()` returns them). Give
    the first `seq` and the last `hash` you know to also catch records cut from either end."""
    r = _behalf.verify_audit_chain(records, first_seq=first_seq, last_hash=last_hash)
    return AuditReport(
        ok=bool(r["ok"]),
        records=int(r["records"]),
        first_broken=r.get("firstBroken"),
        first_broken_seq=r.get("firstBrokenSeq"),
        problem=r.get("problem"),
    )
