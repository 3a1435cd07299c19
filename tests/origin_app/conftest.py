"""Fixtures of the origin-app tests: an agent key pair, and one sandbox on port 0 that reads its JWKS.

The sandbox runs the default configuration (the origin app, the agent's resource URL, the delegation
link); only the agents' JWKS file is pointed at this test's keys. Tests that need another configuration
(no link) start their own instance.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from origin_support import Client, agents_read, write_jwks

from helpers.core.keys import AgentKey, agent_key_from_private, generate_private_key
from sandbox.testing import RunningSandbox, running_sandbox


@pytest.fixture(scope="session")
def agent_key() -> AgentKey:
    return agent_key_from_private(generate_private_key("RS256"))


@pytest.fixture(scope="session")
def agent_jwks(tmp_path_factory: pytest.TempPathFactory, agent_key: AgentKey) -> Path:
    return write_jwks(tmp_path_factory.mktemp("origin-agent") / "agent.jwks.json", agent_key)


@pytest.fixture(scope="session")
def origin_sb(tmp_path_factory: pytest.TempPathFactory, agent_jwks: Path) -> Iterator[RunningSandbox]:
    """The shared sandbox; at the end, no request may have reached the catch-all error handler."""
    data_dir = tmp_path_factory.mktemp("origin-sandbox")
    with running_sandbox(data_dir=data_dir, overrides=agents_read(agent_jwks)) as running:
        yield running
        assert running.sandbox.unexpected_errors == 0, "a request reached the catch-all error handler"


@pytest.fixture(scope="session")
def client(origin_sb: RunningSandbox, agent_key: AgentKey) -> Client:
    return Client(origin_sb, agent_key)
