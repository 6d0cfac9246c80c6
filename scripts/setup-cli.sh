#!/usr/bin/env bash
# The CLI's test tools, idempotently: the official MCP TypeScript SDK and the reference servers
# filesystem, memory and everything (npm, pinned by cli/tests/mcp/package-lock.json), and in a
# venv the Python `mcp` client with the reference servers git and fetch (PyPI).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
MCP_DIR="$ROOT/cli/tests/mcp"

if ! have node || ! have npm; then
  echo "setup-cli: node and npm are required (Node 20+)" >&2
  exit 1
fi
if [ -d "$MCP_DIR/node_modules/@modelcontextprotocol/sdk" ] \
  && [ -d "$MCP_DIR/node_modules/@modelcontextprotocol/server-filesystem" ] \
  && [ -d "$MCP_DIR/node_modules/@modelcontextprotocol/server-everything" ] \
  && [ -d "$MCP_DIR/node_modules/@modelcontextprotocol/server-memory" ] \
  && [ "$MCP_DIR/node_modules/.package-lock.json" -nt "$MCP_DIR/package-lock.json" ]; then
  echo "setup-cli: npm packages present"
else
  step "setup-cli: npm ci (MCP SDK, server-filesystem, server-memory, server-everything)"
  (cd "$MCP_DIR" && npm ci --no-audit --no-fund)
fi

VENV="$MCP_DIR/.venv"
# A stamp newer than requirements.txt, written after a successful install: importing mcp to
# find out took a second on every run.
stamp="$VENV/.stamp-requirements.txt"
if [ -x "$VENV/bin/python" ] && [ -e "$stamp" ] && [ "$stamp" -nt "$MCP_DIR/requirements.txt" ] \
  && [ -x "$VENV/bin/mcp-server-git" ] && [ -x "$VENV/bin/mcp-server-fetch" ]; then
  echo "setup-cli: python mcp, mcp-server-git and mcp-server-fetch present"
else
  step "setup-cli: python venv with mcp, mcp-server-git, mcp-server-fetch"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$MCP_DIR/requirements.txt"
  "$VENV/bin/python" -c 'import mcp'
  touch "$stamp"
fi
