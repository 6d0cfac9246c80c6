"""Shared fixtures: where the conformance vectors and the native core's packets are."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict

import pytest

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "conformance"
# Written by `cargo test -p behalf-core --test conformance` (scripts/test-py.sh runs it first).
NATIVE_PACKETS = Path(
    os.environ.get("BEHALF_NATIVE_PACKETS", ROOT / "target" / "conformance" / "native.json")
)

NOW = "2026-11-26T11:00:00.000Z"

SEED: Dict[str, Any] = {
    "version": 1,
    "passports": [
        {
            "id": "passport_claude",
            "agent": "agent_claude_code",
            "permissions": [
                {
                    "id": "deploy_staging",
                    "action": "deploy",
                    "vendor": "vercel.com",
                    "when": {"env": "staging"},
                },
                {
                    "id": "deploy_production",
                    "action": "deploy",
                    "vendor": "vercel.com",
                    "when": {"env": "production"},
                    "effect": "require_approval",
                    "approval": {"grantTtl": "30m"},
                },
                {
                    "id": "small_purchases",
                    "action": "purchase",
                    "vendor": "*.amazon.com",
                    "limits": {
                        "maxAmount": 100,
                        "budget": {"amount": 300, "per": "1d"},
                        "rate": {"count": 20, "per": "1h"},
                    },
                },
                {"id": "no_prod_db", "action": "*", "resource": "db/prod/**", "effect": "block"},
            ],
        }
    ],
}


@pytest.fixture
def seed() -> Dict[str, Any]:
    return json.loads(json.dumps(SEED))
