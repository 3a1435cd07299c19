"""Fixtures of the resource-server tests: the agent's key, one shared sandbox with a second agent."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ras_support import sandbox_overrides, write_jwks  # noqa: E402

from helpers.core.keys import AgentKey, agent_key_from_private, generate_private_key  # noqa: E402
from sandbox.testing import RunningSandbox, running_sandbox  # noqa: E402


@pytest.fixture(scope="session")
def agent() -> AgentKey:
    """The agent's key (private_key_jwt at the sandbox and at the learner-style servers)."""
    return agent_key_from_private(generate_private_key("RS256"))


@pytest.fixture(scope="session")
def agent_jwks(tmp_path_factory: pytest.TempPathFactory, agent: AgentKey) -> Path:
    return write_jwks(tmp_path_factory.mktemp("agent") / "agent.jwks.json", agent)


@pytest.fixture(scope="session")
def sb(tmp_path_factory: pytest.TempPathFactory, agent_jwks: Path) -> Iterator[RunningSandbox]:
    """The shared sandbox; no request may reach its catch-all error handler."""
    with running_sandbox(
        data_dir=tmp_path_factory.mktemp("sandbox-data"), overrides=sandbox_overrides(agent_jwks)
    ) as running:
        yield running
        assert running.sandbox.unexpected_errors == 0, "a request reached the catch-all error handler"
