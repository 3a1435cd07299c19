"""Fixtures of the MCP tests: an agent key pair, and one sandbox (with its MCP server) on port 0.

The sandbox runs the default configuration, its agent reading this test's JWKS, plus a client
registered with a client secret for the MCP SDK's own ID-JAG provider (`SECRET_CLIENT`). The tests
reuse the sandbox tests' independent OAuth client (tests/sandbox/sandbox_flows.py): real HTTP, joserfc.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sandbox"))

from mcp_support import McpSandbox, overrides  # noqa: E402
from sandbox_flows import Signer, write_jwks  # noqa: E402

from helpers.core.keys import AgentKey, agent_key_from_private, generate_private_key  # noqa: E402
from sandbox.testing import running_sandbox  # noqa: E402


@pytest.fixture(scope="session")
def mcp_agent() -> AgentKey:
    return agent_key_from_private(generate_private_key("RS256"))


@pytest.fixture(scope="session")
def mcp_signer(mcp_agent: AgentKey) -> Signer:
    return Signer(mcp_agent)


@pytest.fixture(scope="session")
def msb(tmp_path_factory: pytest.TempPathFactory, mcp_agent: AgentKey) -> Iterator[McpSandbox]:
    """The shared sandbox; at the end, no request may have reached a catch-all error handler."""
    jwks = write_jwks(tmp_path_factory.mktemp("mcp-agent") / "agent.jwks.json", mcp_agent)
    data_dir = tmp_path_factory.mktemp("mcp-sandbox")
    with running_sandbox(data_dir=data_dir, overrides=overrides(jwks)) as running:
        yield McpSandbox(running, data_dir)
        assert running.sandbox.unexpected_errors == 0, "a request reached a catch-all error handler"
