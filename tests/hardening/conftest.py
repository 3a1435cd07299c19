"""Fixtures of the hardening tests: a second agent's key, a shared sandbox, and a second sandbox instance.

The shared sandbox registers two AI agents (each with its own key) so that a token can name the
other client's key; the second instance has keys of its own, so that its tokens are "signed by
another sandbox". Both must end with no request having reached the catch-all error handler
(`serve_sandbox`); the agent's key, JWKS, `signer` and `stranger_key` come from tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hardening_support import (
    AGENT,
    REDIRECT_URI,
    SECOND_AGENT,
    AgentKey,
    agent_key_from_private,
    generate_private_key,
)

from sandbox.testing import RunningSandbox

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
def second_agent() -> AgentKey:
    return agent_key_from_private(generate_private_key("RS256"))


@pytest.fixture(scope="session")
def hsb(
    serve_sandbox: Callable[..., RunningSandbox], agent_jwks: Path, second_agent: AgentKey
) -> RunningSandbox:
    """The shared sandbox of the hardening tests."""
    return serve_sandbox("hardening-sandbox", agent_overrides(agent_jwks, second_agent))


@pytest.fixture(scope="session")
def other_sb(
    serve_sandbox: Callable[..., RunningSandbox], agent_jwks: Path, second_agent: AgentKey
) -> RunningSandbox:
    """Another sandbox instance: same configuration, its own signing keys."""
    return serve_sandbox("other-sandbox", agent_overrides(agent_jwks, second_agent))
