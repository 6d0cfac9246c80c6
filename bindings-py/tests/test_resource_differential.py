"""Resource canonicalization against a lenient consumer written here: one that percent-decodes
(twice), applies NFKC, drops invisible format characters, reads `\\` as `/`, cuts queries,
fragments and `;` parameters, trims trailing dots and spaces (as Windows does) and resolves
`.` and `..`. No path that such a consumer lands inside a blocked prefix may be allowed."""

from __future__ import annotations

import itertools
import random
import unicodedata
from urllib.parse import unquote

import behalf

NOW = "2026-11-26T11:00:00.000Z"
BLOCKED = "db/prod"

POLICY = {
    "version": 1,
    "passports": [
        {
            "id": "p",
            "agent": "agent",
            "permissions": [
                {"id": "block_prod", "action": "*", "resource": BLOCKED + "/**", "effect": "block"},
                {"id": "read_all", "action": "read", "resource": "**"},
            ],
        }
    ],
}

# Segment spellings around the blocked prefix: plain, encoded, Unicode look-alikes and
# invisible characters, dot segments, separators and parameters.
SEGMENTS = [
    "db", "prod", "x", "main", "other", "production", "PROD",
    "%64b", "%70rod", "pr%6fd", "%70%72%6f%64", "%2570rod",
    ".", "..", "%2e", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "%252e%252e",
    "prod.", "prod ", " prod", "prod..", "prod%2e", "prod%20",
    "prod;v=1", "prod%3bv=1", "prod?q", "prod%3Fq", "prod#f",
    "\uff50rod", "\uff44b", "pro\u0064", "p\u200brod", "pr\u00adod", "\ufeffprod", "pro\u200dd",
    "db\\prod", "db%5cprod", "db%2fprod", "db%2Fprod", "\u2025", "\u212aey",
]
PLAIN = ["db", "prod", "x", "main", "other", "production", "logs", "a.b", ".hidden"]
JOINERS = ["/", "//"]
PREFIXES = ["", "/", "./", "//"]


def lenient(path: str) -> str:
    """Where a forgiving consumer ends up for `path`."""
    s = unquote(unquote(path))
    s = unicodedata.normalize("NFKC", s)
    s = "".join(c for c in s if unicodedata.category(c) != "Cf")
    s = s.replace("\\", "/")
    for cut in "?#":
        s = s.split(cut, 1)[0]
    out: list[str] = []
    for segment in s.split("/"):
        segment = segment.split(";", 1)[0].rstrip(". ")
        if segment in ("", "."):
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    return "/".join(out)


def inside_blocked(path: str) -> bool:
    return path == BLOCKED or path.startswith(BLOCKED + "/")


def paths(count: int) -> list[str]:
    rng = random.Random(20261201)
    seen: set[str] = set()
    # Every pair exhaustively, then random longer paths.
    for a, b in itertools.product(SEGMENTS, repeat=2):
        seen.add(f"{a}/{b}")
    while len(seen) < count:
        n = rng.randint(2, 5)
        # Half plain segments, so allowed paths outside the prefix are common too.
        parts = [rng.choice(PLAIN if rng.random() < 0.5 else SEGMENTS) for _ in range(n)]
        path = rng.choice(PREFIXES) + parts[0]
        for part in parts[1:]:
            path += rng.choice(JOINERS) + part
        seen.add(path)
    return sorted(seen)


def test_no_path_a_lenient_consumer_lands_inside_the_blocked_prefix_is_allowed() -> None:
    engine = behalf.Behalf(POLICY)
    generated = paths(12_000)
    landed_inside = 0
    allowed_outside = 0
    leaks = []
    for path in generated:
        d = engine.verify({"agentId": "agent", "action": "read", "resource": path}, now=NOW)
        if inside_blocked(lenient(path)):
            landed_inside += 1
            if d.allowed:
                leaks.append(f"{path!r} -> {lenient(path)!r} was allowed as {d.to_dict()['resource']!r}")
        elif d.allowed:
            allowed_outside += 1
    assert leaks == [], "\n".join(leaks[:20])
    assert len(generated) >= 10_000
    # Both sides must have been exercised: many paths land inside, and plain paths outside
    # the prefix stay allowed (an engine that denies everything fails here).
    assert landed_inside >= 1_000, landed_inside
    assert allowed_outside >= 1_000, allowed_outside


def test_the_canonical_form_is_what_the_lenient_consumer_reads_when_behalf_allows() -> None:
    engine = behalf.Behalf(POLICY)
    for path in paths(12_000):
        d = engine.verify({"agentId": "agent", "action": "read", "resource": path}, now=NOW)
        if d.allowed:
            assert d.to_dict()["resource"] == lenient(path), path
