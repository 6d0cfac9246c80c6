"""The closed sets of a decision packet as `Literal` types. tests/test_typing.py checks them
against the lists the Rust core decides from (`behalf._behalf.REASONS` / `DECISIONS`), so a
reason added to the core fails the tests until it is added here too."""

from typing import Literal

DecisionKind = Literal["allowed", "denied", "approval_required"]
"""`Decision.decision`: exactly `allowed` when `Decision.allowed` is true."""

Reason = Literal[
    "invalid_request",
    "unknown_agent",
    "passport_expired",
    "blocked",
    "approval_denied",
    "approved",
    "requires_approval",
    "approval_limit_reached",
    "allowed",
    "limit_exceeded",
    "permission_expired",
    "no_permission",
    "internal_error",
]
"""`Decision.reason`, highest precedence first (the reason table of the design)."""
