"""Fixtures of the Okta-mode tests: one sandbox serving HTTPS, and the trust settings.

The sandbox's test client (tests/sandbox/sandbox_flows.py) plays the person's browser; it uses
`requests`, so the tests that need it give it the sandbox's CA through REQUESTS_CA_BUNDLE. Every
variable that says which CAs to trust is cleared first: this machine's own environment may set some.
The agent's key, JWKS and `signer` come from tests/conftest.py.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from okta_mode_support import TRUST_VARS  # noqa: E402
from sandbox_flows import shared_overrides  # noqa: E402

from sandbox.testing import RunningSandbox  # noqa: E402


@pytest.fixture(scope="session")
def tls_sb(serve_sandbox: Callable[..., RunningSandbox], agent_jwks: Path) -> RunningSandbox:
    """The shared HTTPS sandbox; at the end, no request may have reached the catch-all error handler."""
    return serve_sandbox("tls-sandbox-data", shared_overrides(agent_jwks), tls=True)


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
