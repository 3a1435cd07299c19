"""Fixtures for the sandbox's conformance tests: agent keys, and one shared sandbox on port 0.

The shared sandbox reads the agent's JWKS (an RSA and an EC key) from a temporary file and adds an
authorization server with no resource connection ("inventory") for the policy cases. Tests that
need other settings start their own instance with `running_sandbox(overrides=...)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_flows import Signer, shared_overrides, write_jwks

from helpers.core.keys import AgentKey, agent_key_from_private, generate_private_key
from sandbox.testing import RunningSandbox, running_sandbox


@pytest.fixture(scope="session")
def rsa_agent() -> AgentKey:
    return agent_key_from_private(generate_private_key("RS256"))


@pytest.fixture(scope="session")
def ec_agent() -> AgentKey:
    return agent_key_from_private(generate_private_key("ES256"))


@pytest.fixture(scope="session")
def stranger_key() -> AgentKey:
    """A key nobody registered."""
    return agent_key_from_private(generate_private_key("RS256"))


@pytest.fixture(scope="session")
def agent_jwks(tmp_path_factory: pytest.TempPathFactory, rsa_agent: AgentKey, ec_agent: AgentKey) -> Path:
    return write_jwks(tmp_path_factory.mktemp("agent") / "agent.jwks.json", rsa_agent, ec_agent)


@pytest.fixture(scope="session")
def sb(tmp_path_factory: pytest.TempPathFactory, agent_jwks: Path) -> Iterator[RunningSandbox]:
    """The shared sandbox; at the end, no request may have reached the catch-all error handler."""
    data_dir = tmp_path_factory.mktemp("sandbox-data")
    with running_sandbox(data_dir=data_dir, overrides=shared_overrides(agent_jwks)) as running:
        yield running
        assert running.sandbox.unexpected_errors == 0, "a request reached the catch-all error handler"


@pytest.fixture(scope="session")
def signer(rsa_agent: AgentKey) -> Signer:
    return Signer(rsa_agent)


@pytest.fixture(scope="session")
def ec_signer(ec_agent: AgentKey) -> Signer:
    return Signer(ec_agent)
