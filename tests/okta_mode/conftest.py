"""Fixtures of the Okta-mode tests: one sandbox serving HTTPS, the agent's key, and the trust settings.

The sandbox's test client (tests/sandbox/sandbox_flows.py) plays the person's browser; it uses
`requests`, so the tests that need it give it the sandbox's CA through REQUESTS_CA_BUNDLE. Every
variable that says which CAs to trust is cleared first: this machine's own environment may set some.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "sandbox"))

from okta_mode_support import TRUST_VARS  # noqa: E402
from sandbox_flows import Signer, shared_overrides, write_jwks  # noqa: E402

from helpers.core.keys import AgentKey, agent_key_from_private, generate_private_key  # noqa: E402
from sandbox.testing import RunningSandbox, running_sandbox  # noqa: E402


@pytest.fixture(scope="session")
def rsa_agent() -> AgentKey:
    return agent_key_from_private(generate_private_key("RS256"))


@pytest.fixture(scope="session")
def agent_jwks(tmp_path_factory: pytest.TempPathFactory, rsa_agent: AgentKey) -> Path:
    return write_jwks(tmp_path_factory.mktemp("agent") / "agent.jwks.json", rsa_agent)


@pytest.fixture(scope="session")
def signer(rsa_agent: AgentKey) -> Signer:
    return Signer(rsa_agent)


@pytest.fixture(scope="session")
def tls_sb(tmp_path_factory: pytest.TempPathFactory, agent_jwks: Path) -> Iterator[RunningSandbox]:
    """The shared HTTPS sandbox; at the end, no request may have reached the catch-all error handler."""
    data_dir = tmp_path_factory.mktemp("tls-sandbox-data")
    with running_sandbox(data_dir=data_dir, overrides=shared_overrides(agent_jwks), tls=True) as running:
        yield running
        assert running.sandbox.unexpected_errors == 0, "a request reached the catch-all error handler"


@pytest.fixture
def no_trust_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clear every variable that names CAs to trust (REQUESTS_CA_BUNDLE, SSL_CERT_FILE, …)."""
    for name in TRUST_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def browser_trusts_ca(no_trust_env: None, tls_sb: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's own client (the person's browser) trusts the sandbox's CA; returns the CA file."""
    assert tls_sb.ca_file is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_sb.ca_file))
    return tls_sb.ca_file
