"""`python -m helpers.conformance`: the table, the summary line, exit 0 on a pass and 1 on a failure."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ras_support import AGENT, OTHER_AGENT, OTHER_AGENT_SECRET
from weak_validator import weak_server

from helpers.core.keys import AgentKey, save_agent_key
from helpers.resource_server import RegisteredClient, ResourceServer
from sandbox.testing import RunningSandbox

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def key_file(agent_key: AgentKey, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-key") / "agent.pem"
    save_agent_key(agent_key, path)
    return path


@pytest.fixture(scope="module")
def weak(
    sb: RunningSandbox, agent_key: AgentKey, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ResourceServer]:
    server = weak_server(
        trusted_issuer=sb.url,
        key_file=tmp_path_factory.mktemp("weak-cli") / "signing.pem",
        clients=[RegisteredClient(AGENT, jwks=agent_key.jwks)],
    )
    yield server
    server.stop()


def conformance(*args: str, token: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "helpers.conformance", "--api-token", token, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_exit_0_when_every_row_passes(sb: RunningSandbox, key_file: Path) -> None:
    done = conformance(
        "--org", sb.url, "--issuer", f"{sb.url}/oauth2/default", "--scope", "todo.read",
        "--ungranted-scope", "todo.admin", "--client-id", AGENT, "--private-key", str(key_file),
        "--other-client-id", OTHER_AGENT, "--other-client-secret", OTHER_AGENT_SECRET, "--okta-shaped",
        token=sb.api_token,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("PASS ") and "39 of 39 rows passed" in last
    assert "Result  Rule" in done.stdout and "refuse.jti_replayed" not in done.stdout  # rows by rule text
    assert sb.api_token not in done.stdout and OTHER_AGENT_SECRET not in done.stdout


def test_exit_1_on_a_failed_row_and_a_skipped_row_is_said(
    sb: RunningSandbox, weak: ResourceServer, key_file: Path
) -> None:
    done = conformance(
        "--org", sb.url, "--issuer", weak.issuer, "--scope", "notes.read", "--ungranted-scope", "notes.admin",
        "--client-id", AGENT, "--private-key", str(key_file),
        token=sb.api_token,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith(f"FAIL {weak.issuer}: ")
    assert "skipped: refuse.other_client_authenticated" in last and "refuse.typ_jwt" in last


def test_exit_0_when_only_the_levels_asked_for_pass(
    sb: RunningSandbox, weak: ResourceServer, key_file: Path
) -> None:
    done = conformance(
        "--org", sb.url, "--issuer", weak.issuer, "--scope", "notes.read", "--ungranted-scope", "notes.admin",
        "--client-id", AGENT, "--private-key", str(key_file), "--levels", "SHOULD",
        token=sb.api_token,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-1000:]


def test_exit_2_when_the_idp_cannot_mint(sb: RunningSandbox, key_file: Path) -> None:
    done = conformance(
        "--org", sb.url, "--issuer", f"{sb.url}/oauth2/default", "--scope", "todo.read",
        "--ungranted-scope", "todo.admin", "--client-id", AGENT, "--private-key", str(key_file),
        "--token-endpoint", f"{sb.url}/oauth2/default/v1/token",
        token="00wrongTokenwrongTokenwrongTokenwrongToken00",
    )  # fmt: skip
    assert done.returncode in (1, 2)
    assert "minting endpoint" in done.stdout + done.stderr
