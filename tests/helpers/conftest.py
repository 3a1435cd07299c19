"""Fixtures for the helpers' tests: an isolated kit home, and keys made once per session."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from client_support import LocalHandler

from helpers.core.config import ENV_VARS, HIDDEN_VARS
from helpers.core.keys import AgentKey, agent_key_from_private, generate_private_key


@pytest.fixture
def kit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point KIT_HOME, KIT_ENV_FILE and KIT_STATE_DIR at a temporary folder; clear the kit's variables."""
    home = tmp_path / "home"
    home.mkdir()
    for name in (*ENV_VARS, *HIDDEN_VARS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KIT_HOME", str(home))
    monkeypatch.setenv("KIT_ENV_FILE", str(home / ".env"))
    monkeypatch.setenv("KIT_STATE_DIR", str(home / ".kit"))
    return home


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
