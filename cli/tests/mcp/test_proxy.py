"""The approval flow once more, with the official Python `mcp` client: server-filesystem
behind `behalf mcp proxy`; a held write is approved with `behalf approvals approve` and retried."""

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

HERE = Path(__file__).resolve().parent
BEHALF = os.environ.get("BEHALF_BIN") or str(HERE.parents[2] / "target" / "debug" / "behalf")
SERVER = HERE / "node_modules" / "@modelcontextprotocol" / "server-filesystem" / "dist" / "index.js"
NOW = "2026-11-26T11:00:00Z"

POLICY = {
    "version": 1,
    "passports": [{
        "id": "passport_py",
        "agent": "agent_py",
        "permissions": [
            {"id": "fs_read", "action": "read_*", "vendor": "filesystem"},
            {"id": "fs_write", "action": "write_file", "vendor": "filesystem",
             "effect": "require_approval", "approval": {"grantTtl": "5m"}},
        ],
    }],
}


def text_of(result) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def behalf(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BEHALF_NOW": NOW}
    return subprocess.run([BEHALF, *args], cwd=project, env=env, capture_output=True, text=True)


async def main() -> None:
    project = Path(tempfile.mkdtemp(prefix="behalf-py-"))
    (project / "behalf.json").write_text(json.dumps(POLICY))
    data = project / "data"
    data.mkdir()
    (data / "hello.txt").write_text("hello from python\n")
    target = data / "report.txt"
    params = StdioServerParameters(
        command=BEHALF,
        args=["mcp", "proxy", "--agent", "agent_py", "--server", "filesystem", "--",
              "node", str(SERVER), str(data)],
        cwd=str(project),
        env={**os.environ, "BEHALF_NOW": NOW},
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            ok = await session.call_tool("read_text_file", {"path": str(data / "hello.txt")})
            assert not ok.isError, text_of(ok)
            assert "hello from python" in text_of(ok)

            held = await session.call_tool("write_file", {"path": str(target), "content": "done\n"})
            assert held.isError, text_of(held)
            text = text_of(held)
            assert text.startswith("APPROVAL REQUIRED — do not execute this action."), text
            approval = re.search(r"Approval ID: (apr_[A-Za-z0-9]+)", text)
            assert approval, text
            assert not target.exists(), "a held write is not executed"

            done = behalf(project, "approvals", "approve", approval.group(1))
            assert done.returncode == 0, done.stderr

            retried = await session.call_tool("write_file", {"path": str(target), "content": "done\n"})
            assert not retried.isError, text_of(retried)
            assert target.read_text() == "done\n"

    chain = behalf(project, "audit", "verify")
    assert chain.returncode == 0, chain.stdout + chain.stderr
    print("python mcp client: approval round trip ok")


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
