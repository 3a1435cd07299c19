"""Fixtures for the helpers' tests: keys made once per session, and a local HTTP server.

`kit_home` (an isolated kit folder) comes from tests/conftest.py.
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import pytest
from client_support import LocalHandler

from helpers.core.keys import AgentKey, agent_key_from_private, generate_private_key


@pytest.fixture(scope="session")
def rsa_key() -> AgentKey:
    return agent_key_from_private(generate_private_key("RS256"))


@pytest.fixture(scope="session")
def ec_key() -> AgentKey:
    return agent_key_from_private(generate_private_key("ES256"))


@pytest.fixture(scope="session")
def org_key() -> AgentKey:
    """A key standing in for the org authorization server's signing key in unit tests."""
    return agent_key_from_private(generate_private_key("RS256"))


@pytest.fixture(scope="session")
def local_server():
    """A local HTTP server answering /token (JSON), /error (OAuth error), /html and /api (bearer)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), LocalHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
