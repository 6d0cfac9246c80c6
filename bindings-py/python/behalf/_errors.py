"""The exceptions of behalf. Every error carries a stable `code`, a lowercase `message`
and a `hint`; the native extension raises these classes, it defines none of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional

from ._types import Reason

if TYPE_CHECKING:
    from ._behalf import Decision


@dataclass(frozen=True)
class Problem:
    """One problem of a rejected policy, at a JSON path such as
    `passports[0].permissions[2].when.env`."""

    path: str
    code: str
    message: str
    hint: str

    @classmethod
    def from_dict(cls, problem: Mapping[str, Any]) -> Problem:
        return cls(
            path=str(problem.get("path", "")),
            code=str(problem.get("code", "")),
            message=str(problem.get("message", "")),
            hint=str(problem.get("hint", "")),
        )


class BehalfError(Exception):
    """The base of every error behalf raises."""

    code: str = "behalf_error"

    def __init__(self, message: str, *, code: Optional[str] = None, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code or type(self).code
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.code})" + (f"; {self.hint}" if self.hint else "")


class PolicyError(BehalfError, ValueError):
    """The policy was rejected as a whole; `problems` lists every problem by path."""

    code = "invalid_policy"

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        hint: str = "",
        problems: Iterable[Mapping[str, Any] | Problem] = (),
    ) -> None:
        super().__init__(message, code=code, hint=hint)
        self.problems: list[Problem] = [
            p if isinstance(p, Problem) else Problem.from_dict(p) for p in problems
        ]

    def __str__(self) -> str:
        return self.message


class ApprovalError(BehalfError):
    """Approving or denying failed: `approval_not_found`, `approval_expired`,
    `approval_already_decided` or `bad_duration`. Nothing was granted."""

    code = "approval_error"


class StateError(BehalfError, ValueError):
    """`restore` was given something that is not an exported state (`bad_state`)."""

    code = "bad_state"


class WebhookError(BehalfError, ValueError):
    """A webhook message could not be made or did not verify (`bad_secret`,
    `bad_timestamp`, `bad_audit_record`, `missing_header`, `timestamp_too_old`,
    `timestamp_too_new`, `no_matching_signature`)."""

    code = "webhook_error"


class NotAllowed(BehalfError):
    """A guarded tool was not run because its request was not allowed."""

    code = "not_allowed"

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.message, code=decision.reason)
        self.decision = decision
        self.reason: Reason = decision.reason
        self.request_id: str = decision.request_id
        self.approval_id: Optional[str] = decision.approval_id

    def __str__(self) -> str:
        return self.message


class Denied(NotAllowed):
    """The request was denied; `reason` says why (`blocked`, `no_permission`, ...)."""


class ApprovalRequired(NotAllowed):
    """The request needs a person's approval; approve `approval_id`, then call again."""

    approval_id: str

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision)
        # A stateful Behalf always opens an approval; only the stateless one-shot verify opens
        # none, and then there is nothing to approve.
        self.approval_id = decision.approval_id or ""

    def __str__(self) -> str:
        if not self.approval_id:
            return f"{self.message}; no approval was opened (the one-shot verify keeps no state)"
        return f"{self.message}; approve `{self.approval_id}` (b.approve(...) or `behalf approvals approve {self.approval_id}`) and retry"
