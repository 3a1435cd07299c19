"""Fixtures of the MCP tests: one sandbox (with its MCP server) on port 0.

The sandbox runs the default configuration, its agent reading this session's JWKS (`agent_jwks`,
tests/conftest.py), plus a client registered with a client secret for the MCP SDK's own ID-JAG
provider (`SECRET_CLIENT`). The tests reuse the sandbox tests' independent OAuth client
(tests/sandbox/sandbox_flows.py: real HTTP, joserfc) and the shared `signer`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mcp_support import McpSandbox, overrides

from sandbox.testing import RunningSandbox


@pytest.fixture(scope="session")
def msb(serve_sandbox: Callable[..., RunningSandbox], agent_jwks: Path) -> McpSandbox:
    """The shared sandbox; at the end, no request may have reached a catch-all error handler."""
    running = serve_sandbox("mcp-sandbox", overrides(agent_jwks))
    return McpSandbox(running, running.data_dir)
