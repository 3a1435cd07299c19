"""External resource connections: ID-JAGs whose `aud` is an issuer the sandbox does not host.

From the configuration (`[resource_connections.*]` with `audience`), and at run time through the admin
API and `python -m sandbox connect`; the org's policy (which client, which scopes) applies as for its
own custom servers, and the target finds the org's keys through discovery.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from ras_support import AGENT, OTHER_AGENT, sandbox_overrides
from sandbox_flows import (
    Signer,
    code_for_tokens,
    decode_unverified,
    sign_in,
    token_exchange,
    verify_with_jwks,
)

from helpers.core.keys import AgentKey
from sandbox.config import ConfigError, load_config
from sandbox.testing import RunningSandbox, running_sandbox

ROOT = Path(__file__).resolve().parents[2]
EXTERNAL = "http://127.0.0.1:9000"
CONNECTION = {"client_id": AGENT, "audience": EXTERNAL, "scopes": ["notes.read", "notes.write"]}


@pytest.fixture(scope="module")
def configured(agent_jwks: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    overrides = sandbox_overrides(agent_jwks)
    overrides["resource_connections"] = {
        "agent-notes": dict(CONNECTION, resources=["https://notes.example/api"])
    }
    with running_sandbox(data_dir=tmp_path_factory.mktemp("ext"), overrides=overrides) as running:
        yield running
        assert running.sandbox.unexpected_errors == 0


def id_token_of(org: str, signer: Signer) -> str:
    answer = code_for_tokens(org, signer, sign_in(org))
    assert answer.status_code == 200, answer.text
    return answer.json()["id_token"]


def exchange(org: str, signer: Signer, **extra: Any) -> requests.Response:
    return token_exchange(org, signer, id_token_of(org, signer), **{"audience": EXTERNAL, **extra})


def test_the_org_issues_an_id_jag_for_an_external_issuer(configured: RunningSandbox, signer: Signer) -> None:
    answer = exchange(configured.url, signer, scope="notes.read")
    assert answer.status_code == 200, answer.text
    id_jag = answer.json()["access_token"]
    header, claims = decode_unverified(id_jag)
    assert header["typ"] == "oauth-id-jag+jwt"
    assert claims["aud"] == EXTERNAL and claims["client_id"] == AGENT and claims["scope"] == "notes.read"
    # The external server finds the key as it would at Okta: discovery, then jwks_uri.
    discovery = requests.get(configured.url + "/.well-known/openid-configuration", timeout=5).json()
    assert verify_with_jwks(id_jag, discovery["jwks_uri"])["aud"] == EXTERNAL


def test_the_resource_of_the_connection_is_carried(configured: RunningSandbox, signer: Signer) -> None:
    answer = exchange(configured.url, signer, scope="notes.read", resource="https://notes.example/api")
    assert answer.status_code == 200, answer.text
    assert decode_unverified(answer.json()["access_token"])[1]["resource"] == "https://notes.example/api"


@pytest.mark.parametrize(
    ("case", "extra", "status", "error", "code"),
    [
        (
            "unknown issuer",
            {"audience": "http://127.0.0.1:9001"},
            400,
            "invalid_target",
            "token_exchange_invalid_audience",
        ),
        (
            "trailing slash",
            {"audience": EXTERNAL + "/"},
            400,
            "invalid_target",
            "token_exchange_invalid_audience",
        ),
        ("scope outside the connection", {"scope": "notes.admin"}, 400, "invalid_scope", "no_matching_scope"),
        (
            "resource outside the connection",
            {"scope": "notes.read", "resource": "https://x.example/"},
            400,
            "invalid_target",
            "token_exchange_invalid_resource",
        ),
    ],
)
def test_external_refusals(
    configured: RunningSandbox,
    signer: Signer,
    case: str,
    extra: dict[str, str],
    status: int,
    error: str,
    code: str,
) -> None:
    from sandbox.errors import lookup

    answer = exchange(configured.url, signer, **extra)
    assert (answer.status_code, answer.json()["error"]) == (status, error), (case, answer.text)
    entry = lookup(code)
    assert (entry.status, entry.error) == (status, error)
    if entry.placeholders() == 0:  # Okta's words exactly (the others carry the request's values)
        assert answer.json()["error_description"] == entry.description


def test_a_client_without_a_connection_to_the_external_server_is_refused(
    agent_jwks: Path, agent_key: AgentKey, tmp_path: Path
) -> None:
    """The org knows the external server (another client's connection) but not for this client."""
    overrides = sandbox_overrides(agent_jwks)
    overrides["resource_connections"] = {"other-notes": dict(CONNECTION, client_id=OTHER_AGENT)}
    with running_sandbox(data_dir=tmp_path / "d", overrides=overrides) as running:
        signer = Signer(agent_key)
        answer = exchange(running.url, signer, scope="notes.read")
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_target", answer.text


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (dict(CONNECTION, authorization_server="default"), "has both audience and authorization_server"),
        (dict(CONNECTION, audience="ftp://127.0.0.1:9000"), "expected an absolute http(s) URL"),
        (dict(CONNECTION, audience="{org}/oauth2/notes"), "an issuer of the sandbox itself"),
        (dict(CONNECTION, audience="http://127.0.0.1:9000?x=1"), "expected no query or fragment"),
        (dict(CONNECTION, scopes=["openid"]), "OpenID scopes are never granted"),
        (dict(CONNECTION, scopes=[]), "expected a non-empty list"),
        (dict(CONNECTION, client_id="0oaNobody"), "which is not a configured client"),
        (dict(CONNECTION, resources=["not a url"]), "expected an absolute URL without a fragment"),
        (dict(CONNECTION, extra=1), "unknown key(s) ['extra']"),
    ],
)
def test_configuration_errors_name_the_field(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(overrides={"resource_connections": {"bad": table}})
    assert message in str(caught.value) and "resource_connections.bad" in str(caught.value)


def test_the_default_configuration_has_no_external_connection() -> None:
    assert not any(c.is_external for c in load_config().connections)


# --- at run time: the admin API and the command line -------------------------------------------


def admin(sb: RunningSandbox) -> dict[str, str]:
    return {"Authorization": f"SSWS {sb.api_token}"}


def test_connect_at_run_time_then_exchange_then_disconnect(sb: RunningSandbox, agent_key: AgentKey) -> None:
    url = sb.url + "/api/v1/sandbox/resource-connections"
    signer = Signer(agent_key)
    before = exchange(sb.url, signer, scope="notes.read")
    assert before.json()["error"] == "invalid_target"
    added = requests.post(url, json=dict(CONNECTION, name="rt-notes"), headers=admin(sb), timeout=5)
    assert added.status_code == 201, added.text
    assert added.json() == dict(
        CONNECTION, name="rt-notes", authorization_server=None, resources=[], source="runtime"
    )
    again = requests.post(url, json=dict(CONNECTION, name="rt-notes"), headers=admin(sb), timeout=5)
    assert again.status_code == 200  # replaced, not added twice
    listed = requests.get(url, headers=admin(sb), timeout=5).json()
    assert [c["name"] for c in listed if c["source"] == "runtime"] == ["rt-notes"]
    answer = exchange(sb.url, signer, scope="notes.read")
    assert answer.status_code == 200, answer.text
    assert decode_unverified(answer.json()["access_token"])[1]["aud"] == EXTERNAL
    removed = requests.delete(url + "/rt-notes", headers=admin(sb), timeout=5)
    assert removed.status_code == 204 and removed.content == b""
    assert exchange(sb.url, signer, scope="notes.read").json()["error"] == "invalid_target"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_command_line_connects_lists_and_disconnects(sb: RunningSandbox, agent_key: AgentKey) -> None:
    common = ("--data-dir", str(sb.data_dir), "--url", sb.url)
    done = run_cli(
        "connect",
        *common,
        "--client",
        AGENT,
        "--audience",
        EXTERNAL,
        "--scopes",
        "notes.read notes.write",
        "--name",
        "cli-notes",
    )
    assert done.returncode == 0, done.stderr
    assert f"Connected: {AGENT} may get ID-JAGs for {EXTERNAL} (scopes notes.read notes.write" in done.stdout
    assert sb.api_token not in done.stdout + done.stderr
    listed = run_cli("connections", *common)
    assert (
        listed.returncode == 0
        and f"cli-notes: {AGENT} -> {EXTERNAL} [notes.read notes.write] (runtime)" in listed.stdout
    )
    assert exchange(sb.url, Signer(agent_key), scope="notes.write").status_code == 200
    assert run_cli("disconnect", *common, "--name", "cli-notes").returncode == 0
    gone = run_cli("disconnect", *common, "--name", "cli-notes")
    assert gone.returncode == 1 and "HTTP 404" in gone.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--audience", "{org}/oauth2/default", "--scopes", "a"), "an issuer of the sandbox itself"),
        (("--audience", EXTERNAL, "--scopes", "openid"), "OpenID scopes are never granted"),
    ],
)
def test_the_command_line_reports_refusals(sb: RunningSandbox, args: tuple[str, ...], message: str) -> None:
    done = run_cli("connect", "--data-dir", str(sb.data_dir), "--url", sb.url, "--client", AGENT, *args)
    assert done.returncode == 1 and "HTTP 400" in done.stderr and message in done.stderr


def test_the_command_line_needs_the_api_token(tmp_path: Path) -> None:
    done = run_cli("connections", "--data-dir", str(tmp_path), "--url", "http://127.0.0.1:9")
    assert done.returncode == 2 and "no API token" in done.stderr
