"""Fixtures every test folder shares: the agent's key and JWKS, a stranger's key, a signer, sandboxes.

Defined once here, used under these names by every folder below `tests/` (the repository's own
`conftest.py`, one level up, is the notebook harness and defines no fixture):

    agent_key       the agent's RSA key (RS256), made once per session
    stranger_key    a key nobody registered
    agent_jwks      the agent's public JWKS file (its RSA key only), as `make lab` registers it
    signer          the agent's client assertions (private_key_jwt), signed with `agent_key`
    serve_sandbox   start a sandbox that lives for the session; each folder's shared sandbox
                    (`sb`, `origin_sb`, `tls_sb`, `msb`, `hsb`) is one, with that folder's settings
    kit_home        an isolated kit folder (KIT_HOME, KIT_ENV_FILE, KIT_STATE_DIR) for one test

The sandbox's independent test client (tests/sandbox/sandbox_flows.py: real HTTP, joserfc) is made
importable here for every folder, so no test module needs to change `sys.path` to reach it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

SANDBOX_TESTS = Path(__file__).resolve().parent / "sandbox"
if str(SANDBOX_TESTS) not in sys.path:
    sys.path.insert(0, str(SANDBOX_TESTS))

from sandbox_flows import Signer, write_jwks  # noqa: E402

from helpers.core.config import ENV_VARS, HIDDEN_VARS  # noqa: E402
from helpers.core.keys import AgentKey, agent_key_from_private, generate_private_key  # noqa: E402
from sandbox.testing import RunningSandbox, running_sandbox  # noqa: E402

#: Variables a JupyterHub sets; the kit reads them for its front channel and its own sandbox (on a hub).
HUB_VARS = ("JUPYTERHUB_SERVICE_PREFIX", "JUPYTERHUB_PUBLIC_URL")


@pytest.fixture(scope="session")
def agent_key() -> AgentKey:
    """The agent's key (RS256): private_key_jwt at the sandbox, the one key of `agent_jwks`."""
    return agent_key_from_private(generate_private_key("RS256"))


@pytest.fixture(scope="session")
def stranger_key() -> AgentKey:
    """A key nobody registered."""
    return agent_key_from_private(generate_private_key("RS256"))


@pytest.fixture(scope="session")
def agent_jwks(tmp_path_factory: pytest.TempPathFactory, agent_key: AgentKey) -> Path:
    """The agent's public JWKS file (its RSA key only), what a sandbox reads as the agent's keys."""
    return write_jwks(tmp_path_factory.mktemp("agent") / "agent.jwks.json", agent_key)


@pytest.fixture(scope="session")
def signer(agent_key: AgentKey) -> Signer:
    """Client assertions of the agent (`wlpSandboxAgent00001`), signed with `agent_key`."""
    return Signer(agent_key)


@pytest.fixture(scope="session")
def serve_sandbox(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., RunningSandbox]]:
    """Start a sandbox for the rest of the session: `serve_sandbox(folder, overrides, tls=False)`.

    Each runs on port 0 with its own data folder (`folder`, under pytest's temporary directory). At the
    end of the session every one is stopped, and none may have had a request reach its catch-all error
    handler.
    """
    served: list[RunningSandbox] = []
    with ExitStack() as stack:

        def serve(folder: str, overrides: Mapping[str, Any], *, tls: bool = False) -> RunningSandbox:
            data_dir = tmp_path_factory.mktemp(folder)
            running = stack.enter_context(running_sandbox(data_dir=data_dir, overrides=overrides, tls=tls))
            served.append(running)
            return running

        yield serve
        broken = [running.url for running in served if running.sandbox.unexpected_errors != 0]
    assert not broken, f"a request reached the catch-all error handler of {', '.join(broken)}"


@pytest.fixture
def kit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point KIT_HOME, KIT_ENV_FILE and KIT_STATE_DIR at a temporary folder; no kit variable inherited."""
    home = tmp_path / "home"
    home.mkdir()
    for name in (*ENV_VARS, *HIDDEN_VARS, *HUB_VARS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KIT_HOME", str(home))
    monkeypatch.setenv("KIT_ENV_FILE", str(home / ".env"))
    monkeypatch.setenv("KIT_STATE_DIR", str(home / ".kit"))
    return home
