"""Fixtures of the hardening tests: agent keys, a shared sandbox, and a second sandbox instance.

The shared sandbox registers two AI agents (each with its own key) so that a token can name the
other client's key; the second instance has keys of its own, so that its tokens are "signed by
another sandbox". Both must end with no request having reached the catch-all error handler.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hardening_support import (
    AGENT,
    REDIRECT_URI,
    SECOND_AGENT,
    AgentKey,
    Signer,
    agent_key_from_private,
    generate_private_key,
    write_jwks,
)

from sandbox.testing import RunningSandbox, running_sandbox

ALL_GRANTS = [
    "authorization_code",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
]


def agent_overrides(jwks_file: Path, second: AgentKey) -> dict:
    """The agent reads its JWKS from `jwks_file`; a second agent has its key inline."""
    return {
        "clients": {
            AGENT: {"jwks_file": str(jwks_file)},
            SECOND_AGENT: {
                "name": "A second AI agent",
                "token_endpoint_auth_methods": ["private_key_jwt"],
                "jwks": {"keys": [dict(second.public_jwk)]},
                "redirect_uris": [REDIRECT_URI],
                "grant_types": ALL_GRANTS,
            },
        },
    }


@pytest.fixture(scope="session")
def agent() -> AgentKey:
    return agent_key_from_private(generate_private_key("RS256"))


@pytest.fixture(scope="session")
def second_agent() -> AgentKey:
    return agent_key_from_private(generate_private_key("RS256"))


@pytest.fixture(scope="session")
def stranger() -> AgentKey:
    """A key nobody registered."""
    return agent_key_from_private(generate_private_key("RS256"))


@pytest.fixture(scope="session")
def jwks_file(tmp_path_factory: pytest.TempPathFactory, agent: AgentKey) -> Path:
    return write_jwks(tmp_path_factory.mktemp("agent") / "agent.jwks.json", agent)


@pytest.fixture(scope="session")
def signer(agent: AgentKey) -> Signer:
    return Signer(agent)


def _serve(data_dir: Path, overrides: dict) -> Iterator[RunningSandbox]:
    with running_sandbox(data_dir=data_dir, overrides=overrides) as running:
        yield running
        assert running.sandbox.unexpected_errors == 0, "a request reached the catch-all error handler"


@pytest.fixture(scope="session")
def hsb(
    tmp_path_factory: pytest.TempPathFactory, jwks_file: Path, second_agent: AgentKey
) -> Iterator[RunningSandbox]:
    """The shared sandbox of the hardening tests."""
    yield from _serve(tmp_path_factory.mktemp("hardening-sandbox"), agent_overrides(jwks_file, second_agent))


@pytest.fixture(scope="session")
def other_sb(
    tmp_path_factory: pytest.TempPathFactory, jwks_file: Path, second_agent: AgentKey
) -> Iterator[RunningSandbox]:
    """Another sandbox instance: same configuration, its own signing keys."""
    yield from _serve(tmp_path_factory.mktemp("other-sandbox"), agent_overrides(jwks_file, second_agent))
