"""The battery against a deliberately weak validator: it fails exactly the rows of the weak checks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ras_support import AGENT, idp_of
from weak_validator import EXPECTED_FAILURES, weak_server

from helpers.conformance import RULES, ClientAuth, Report, Target, run_battery
from helpers.core.client_assertion import ClientAssertionSigner
from helpers.core.keys import AgentKey
from helpers.resource_server import RegisteredClient, ResourceServer
from sandbox.testing import RunningSandbox

OTHER = "notes-reporting-app"
OTHER_SECRET = "reporting-app-secret-for-the-weak-server"


@pytest.fixture(scope="module")
def weak(
    sb: RunningSandbox, agent_key: AgentKey, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ResourceServer]:
    server = weak_server(
        trusted_issuer=sb.url,
        key_file=tmp_path_factory.mktemp("weak") / "signing.pem",
        clients=[RegisteredClient(AGENT, jwks=agent_key.jwks), RegisteredClient(OTHER, secret=OTHER_SECRET)],
    )
    yield server
    server.stop()


def weak_target(server: ResourceServer, agent: AgentKey) -> Target:
    return Target(
        issuer=server.issuer,
        client=ClientAuth(AGENT, signer=ClientAssertionSigner(AGENT, agent)),
        granted_scope="notes.read",
        ungranted_scope="notes.admin",
        other_client=ClientAuth(OTHER, "client_secret_post", secret=OTHER_SECRET),
        name="weak validator",
    )


@pytest.fixture(scope="module")
def report(sb: RunningSandbox, weak: ResourceServer, agent_key: AgentKey) -> Report:
    return run_battery(idp_of(sb), weak_target(weak, agent_key))


def test_the_weak_validator_fails_exactly_its_gaps(report: Report, weak: ResourceServer) -> None:
    assert set(report.failed_ids()) == EXPECTED_FAILURES
    assert not any(row.skipped for row in report.rows)
    assert weak.unexpected_errors == 0, weak.last_unexpected


@pytest.mark.parametrize("row_id", sorted(EXPECTED_FAILURES))
def test_each_gap_lets_the_bad_id_jag_through(report: Report, row_id: str) -> None:
    """Each failed row failed because the server issued a token (not because of a 500 or an odd error)."""
    assert report[row_id].received.startswith("200, an access token"), report[row_id].received


def test_the_summary_line_says_fail_with_the_levels(report: Report) -> None:
    summary = report.summary()
    assert summary.startswith(f"FAIL weak validator: {len(RULES) - len(EXPECTED_FAILURES)} of {len(RULES)}")
    assert "MUST 27/32" in summary and "Okta 2/4" in summary and "EMA 0/1" in summary
    assert report.exit_code() == 1
    assert report.exit_code(("SHOULD",)) == 0  # judged on SHOULD rows alone, it passes
