"""A process that forks after making an engine: parent and child each make ids of their own
(the child drops the unread random bytes it inherited)."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List

import pytest

import behalf

POLICY: Dict[str, Any] = {
    "version": 1,
    "passports": [
        {
            "id": "passport_ops",
            "agent": "agent_ops",
            "permissions": [
                {"id": "deploy", "action": "deploy"},
                {"id": "wipe", "action": "wipe", "effect": "require_approval"},
            ],
        }
    ],
}


def ids(b: behalf.Behalf) -> List[str]:
    made = [b.verify({"agentId": "agent_ops", "action": "deploy"}).request_id for _ in range(40)]
    held = b.verify({"agentId": "agent_ops", "action": "wipe"})
    assert held.approval_id is not None
    return made + [held.approval_id]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_makes_no_id_its_parent_makes() -> None:
    b = behalf.Behalf(POLICY)
    b.verify({"agentId": "agent_ops", "action": "deploy"})  # the random pool is read
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(write, json.dumps(ids(b)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = json.loads(pipe.read())
    os.waitpid(pid, 0)
    parent = ids(b)
    assert len(child) == len(parent) == 41
    assert not set(child) & set(parent)
