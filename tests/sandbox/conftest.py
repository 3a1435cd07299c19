"""Fixtures of the sandbox's conformance tests: the agent's EC key, and one shared sandbox on port 0.

The agent's RSA key, `signer` and `serve_sandbox` come from tests/conftest.py. The shared sandbox reads
the agent's JWKS with both keys (RSA and EC) from a temporary file, and adds an authorization server
with no resource connection ("inventory") for the policy cases. Tests that need other settings start
their own instance with `running_sandbox(overrides=...)`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sandbox_flows import Signer, shared_overrides, write_jwks

from helpers.core.keys import AgentKey, agent_key_from_private, generate_private_key
from sandbox.testing import RunningSandbox


@pytest.fixture(scope="session")
def ec_agent() -> AgentKey:
    """The agent's second key, EC (ES256)."""
    return agent_key_from_private(generate_private_key("ES256"))


@pytest.fixture(scope="session")
def agent_jwks_rsa_ec(
    tmp_path_factory: pytest.TempPathFactory, agent_key: AgentKey, ec_agent: AgentKey
) -> Path:
    """The agent's JWKS with both its keys, RSA (`agent_key`) and EC (`ec_agent`): what `sb` reads."""
    return write_jwks(tmp_path_factory.mktemp("agent") / "agent.jwks.json", agent_key, ec_agent)


@pytest.fixture(scope="session")
def sb(serve_sandbox: Callable[..., RunningSandbox], agent_jwks_rsa_ec: Path) -> RunningSandbox:
    """The shared sandbox; at the end, no request may have reached the catch-all error handler."""
    return serve_sandbox("sandbox-data", shared_overrides(agent_jwks_rsa_ec))


@pytest.fixture(scope="session")
def ec_signer(ec_agent: AgentKey) -> Signer:
    return Signer(ec_agent)
