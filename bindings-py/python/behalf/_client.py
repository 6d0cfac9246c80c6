"""Clients of `behalf serve`: `Client` (blocking) and `AsyncClient` (asyncio).

They keep no policy or state of their own: `verify` sends the request with the agent's key and
returns the server's packet as a `RemoteDecision` (the attributes of `Decision`; `to_json()` is
the server's bytes). A network error, a timeout (2 s by default), a 5xx, a refused key or an
answer that is not a packet is a denied `internal_error` decision naming the cause: `verify`
never raises and never allows what the server did not allow. HTTP is the standard library's
(`urllib.request`); the async client runs it in a worker thread under `asyncio.wait_for`.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Mapping, Optional, cast

from ._types import DecisionKind, Reason

_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DECISIONS = ("allowed", "denied", "approval_required")


def _request_id(request: object) -> str:
    given = request.get("requestId") if isinstance(request, Mapping) else None
    if isinstance(given, str) and _REQUEST_ID.fullmatch(given):
        return given
    return "req_" + "".join(secrets.choice(_ALPHABET) for _ in range(16))


def _denied_here(problem: str, request: object) -> "RemoteDecision":
    now = datetime.datetime.now(datetime.timezone.utc)
    packet: Dict[str, Any] = {
        "decision": "denied",
        "allowed": False,
        "reason": "internal_error",
        "message": f"Internal error; failing closed: {problem}",
        "requestId": _request_id(request),
        "agentId": None,
        "action": None,
        "vendor": None,
        "resource": None,
        "passportId": None,
        "activePermissions": None,
        "matchedPermission": None,
        "approvalId": None,
        "grantId": None,
        "grantExpiresAt": None,
        "evaluatedAt": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "trace": [{"step": "client", "permission": None, "result": "error", "detail": problem}],
    }
    return RemoteDecision(packet, json.dumps(packet, separators=(",", ":"), ensure_ascii=False))


def _is_packet(p: object) -> bool:
    """Whole and consistent: `allowed` exactly when the decision is `allowed`."""
    if not isinstance(p, dict):
        return False
    decision = p.get("decision")
    return (
        decision in _DECISIONS
        and isinstance(p.get("reason"), str)
        and isinstance(p.get("requestId"), str)
        and isinstance(p.get("allowed"), bool)
        and p.get("allowed") is (decision == "allowed")
    )


class RemoteDecision:
    """A decision packet from `behalf serve`, with the attributes of `behalf.Decision`."""

    __slots__ = ("_packet", "_text")

    def __init__(self, packet: Dict[str, Any], text: str) -> None:
        self._packet = packet
        self._text = text

    def _opt(self, key: str) -> Optional[str]:
        v = self._packet.get(key)
        return v if isinstance(v, str) else None

    @property
    def allowed(self) -> bool:
        return self._packet.get("allowed") is True and self._packet.get("decision") == "allowed"

    @property
    def decision(self) -> DecisionKind:
        return cast(DecisionKind, self._packet["decision"])

    @property
    def reason(self) -> Reason:
        return cast(Reason, self._packet["reason"])

    @property
    def message(self) -> str:
        return str(self._packet.get("message", ""))

    @property
    def request_id(self) -> str:
        return str(self._packet["requestId"])

    @property
    def agent_id(self) -> Optional[str]:
        return self._opt("agentId")

    @property
    def action(self) -> Optional[str]:
        return self._opt("action")

    @property
    def vendor(self) -> Optional[str]:
        return self._opt("vendor")

    @property
    def resource(self) -> Optional[str]:
        return self._opt("resource")

    @property
    def passport_id(self) -> Optional[str]:
        return self._opt("passportId")

    @property
    def active_permissions(self) -> Optional[int]:
        v = self._packet.get("activePermissions")
        return v if isinstance(v, int) and not isinstance(v, bool) else None

    @property
    def matched_permission(self) -> Optional[str]:
        return self._opt("matchedPermission")

    @property
    def approval_id(self) -> Optional[str]:
        return self._opt("approvalId")

    @property
    def grant_id(self) -> Optional[str]:
        return self._opt("grantId")

    @property
    def grant_expires_at(self) -> Optional[str]:
        return self._opt("grantExpiresAt")

    @property
    def evaluated_at(self) -> str:
        return str(self._packet.get("evaluatedAt", ""))

    @property
    def trace(self) -> List[Dict[str, Optional[str]]]:
        steps = self._packet.get("trace")
        return [dict(s) for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []

    def to_dict(self) -> Dict[str, Any]:
        """The canonical packet (a fresh copy)."""
        return cast(Dict[str, Any], json.loads(self._text))

    def to_json(self) -> str:
        """The packet exactly as the server sent it."""
        return self._text

    def __bool__(self) -> bool:
        return self.allowed

    def __repr__(self) -> str:
        return f"RemoteDecision(decision={self.decision!r}, reason={self.reason!r}, request_id={self.request_id!r})"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer that is not a decision: denied, never followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Client:
    """`verify` against `behalf serve` with an agent key; never raises, fails closed."""

    def __init__(self, url: str, api_key: str, timeout: float = 2.0) -> None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("url must be the server's http:// or https:// address")
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be the agent's key (bhk_...)")
        if not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0):
            raise ValueError("timeout must be a positive number of seconds")
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self._key = api_key
        self._opener = urllib.request.build_opener(_NoRedirect)

    def approval_url(self, approval_id: str) -> str:
        """The dashboard page where a person approves `approval_id`."""
        return f"{self.url}/dashboard/approvals/{urllib.parse.quote(approval_id, safe='')}"

    def verify(self, request: Mapping[str, Any], *, timeout: Optional[float] = None) -> RemoteDecision:
        return self._verify(request, self.timeout if timeout is None else timeout)

    def _verify(self, request: Mapping[str, Any], timeout: float) -> RemoteDecision:
        try:
            body = json.dumps(request, allow_nan=False, ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError, RecursionError) as e:
            return _denied_here(f"the request cannot be sent as JSON ({e}); not sent, not recorded", request)
        req = urllib.request.Request(
            f"{self.url}/v1/verify",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self._key}"},
        )
        try:
            with self._opener.open(req, timeout=timeout) as response:
                status = response.status
                raw = response.read()
        except urllib.error.HTTPError as e:
            why = ""
            try:
                err = json.loads(e.read())
                if isinstance(err, dict) and isinstance(err.get("code"), str):
                    why = f" {err['code']}: {err.get('message', '')}"
            except Exception:
                pass
            return _denied_here(f"the behalf server {self.url} answered {e.code}{why}; nothing was allowed", request)
        except TimeoutError:
            return _denied_here(
                f"the behalf server {self.url} did not answer within {timeout} s; not known to be recorded", request
            )
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, TimeoutError):
                return _denied_here(
                    f"the behalf server {self.url} did not answer within {timeout} s; not known to be recorded",
                    request,
                )
            return _denied_here(f"cannot reach the behalf server {self.url}: {reason}", request)
        except Exception as e:  # a reset connection, a bad status line: never an allow
            return _denied_here(f"cannot reach the behalf server {self.url}: {e!r}", request)
        if status != 200:
            return _denied_here(f"the behalf server {self.url} answered {status}; nothing was allowed", request)
        try:
            text = raw.decode("utf-8")
            packet = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            return _denied_here(f"the behalf server {self.url} answered with something that is not JSON", request)
        if not _is_packet(packet):
            return _denied_here(
                f"the behalf server {self.url} answered with something that is not a decision packet", request
            )
        return RemoteDecision(packet, text)


class AsyncClient:
    """`Client` for asyncio: `await client.verify(...)`; the deadline is `timeout` in all."""

    def __init__(self, url: str, api_key: str, timeout: float = 2.0) -> None:
        self._client = Client(url, api_key, timeout)

    @property
    def url(self) -> str:
        return self._client.url

    @property
    def timeout(self) -> float:
        return self._client.timeout

    def approval_url(self, approval_id: str) -> str:
        return self._client.approval_url(approval_id)

    async def verify(self, request: Mapping[str, Any], *, timeout: Optional[float] = None) -> RemoteDecision:
        limit = self._client.timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._client._verify, request, limit), limit)
        except asyncio.TimeoutError:
            return _denied_here(
                f"the behalf server {self._client.url} did not answer within {limit} s; not known to be recorded",
                request,
            )
        except Exception as e:
            return _denied_here(f"cannot reach the behalf server {self._client.url}: {e!r}", request)
