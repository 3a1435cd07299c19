"""Fixtures of the origin-app tests: one sandbox on port 0 that reads the agent's JWKS, and its client.

The sandbox runs the default configuration (the origin app, the agent's resource URL, the delegation
link); only the agents' JWKS file is pointed at this session's key (`agent_jwks`, tests/conftest.py).
Tests that need another configuration (no link) start their own instance.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from origin_support import Client, agents_read

from helpers.core.keys import AgentKey
from sandbox.testing import RunningSandbox


@pytest.fixture(scope="session")
def origin_sb(serve_sandbox: Callable[..., RunningSandbox], agent_jwks: Path) -> RunningSandbox:
    """The shared sandbox; at the end, no request may have reached the catch-all error handler."""
    return serve_sandbox("origin-sandbox", agents_read(agent_jwks))


@pytest.fixture(scope="session")
def client(origin_sb: RunningSandbox, agent_key: AgentKey) -> Client:
    return Client(origin_sb, agent_key)
