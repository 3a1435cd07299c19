"""The battery against a resource authorization server the project did not write: pinned rows.

The target: the MCP Python SDK's token endpoint (`mcp` 2.3.0, `create_auth_routes(…,
identity_assertion_enabled=True)`) whose `exchange_identity_assertion` hands every ID-JAG to FastMCP's
`IdentityAssertionValidator` (`fastmcp` 4.1.6, beta), trusting the sandbox (tests/resource_server/
fastmcp_target.py). The SDK itself validates nothing of the ID-JAG: its provider hook's docstring
leaves that to the implementer.

The rows it fails, measured (README "For resource-app owners", docs/resource-server.md):

- `refuse.aud_array_two`: JWTVerifier accepts an `aud` array that *contains* the issuer;
- `refuse.aud_trailing_slash`: the validator deliberately accepts the issuer with and without `/`;
- `refuse.iat_missing`: without `iat` it only caps `exp` at 5 minutes ahead;
- `accept.scope_narrowed`, `refuse.scope_not_granted`: no per-client scope policy: the scopes of the
  ID-JAG are granted as they are (FastMCP's own OAuthProxy does the same; `required_scopes` only
  demands scopes, it does not limit them);
- Okta-level `refuse.scope_missing`, `refuse.scope_parameter`: an ID-JAG without scope, and a `scope`
  parameter, are accepted (neither is a MUST of ID-JAG -04).
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import version

import pytest
from ras_support import AGENT, idp_of

from helpers.conformance import RULES, ClientAuth, Report, Target, run_battery
from sandbox.testing import RunningSandbox

fastmcp_target = pytest.importorskip("fastmcp_target")

AGENT_SECRET = "agent-secret-at-the-mcp-server-0001"
OTHER = "other-mcp-client"
OTHER_SECRET = "other-secret-at-the-mcp-server-0002"

PINNED_FAILURES = {
    "accept.scope_narrowed",
    "refuse.aud_array_two",
    "refuse.aud_trailing_slash",
    "refuse.iat_missing",
    "refuse.scope_not_granted",
    "refuse.scope_missing",
    "refuse.scope_parameter",
}


@pytest.fixture(scope="module")
def target(sb: RunningSandbox) -> Iterator[object]:
    server = fastmcp_target.FastMcpTarget(
        trusted_issuer=sb.url, clients={AGENT: AGENT_SECRET, OTHER: OTHER_SECRET}
    )
    with server:
        yield server


@pytest.fixture(scope="module")
def report(sb: RunningSandbox, target: object) -> Report:
    return run_battery(
        idp_of(sb),
        Target(
            issuer=target.issuer,
            client=ClientAuth(AGENT, "client_secret_post", secret=AGENT_SECRET),
            granted_scope="notes.read",
            ungranted_scope="notes.admin",
            other_client=ClientAuth(OTHER, "client_secret_post", secret=OTHER_SECRET),
            name=f"MCP SDK {version('mcp')} + FastMCP {version('fastmcp')} IdentityAssertionValidator",
        ),
    )


def test_the_versions_measured() -> None:
    assert (version("mcp"), version("fastmcp")) == ("2.3.0", "4.1.6")


def test_the_failed_rows_are_the_pinned_ones(report: Report) -> None:
    assert set(report.failed_ids()) == PINNED_FAILURES
    assert not any(row.skipped for row in report.rows)


@pytest.mark.parametrize("row_id", sorted(PINNED_FAILURES))
def test_each_failure_is_an_issued_token(report: Report, row_id: str) -> None:
    """Every failure is the server accepting what it should refuse, or granting too much."""
    assert report[row_id].received.startswith("200, an access token"), report[row_id].received


def test_the_summary_by_level(report: Report) -> None:
    summary = report.summary()
    passed = len(RULES) - len(PINNED_FAILURES)
    assert f"{passed} of {len(RULES)} rows passed" in summary
    assert "MUST 27/32, SHOULD 2/2, Okta 2/4, EMA 1/1" in summary
    # Every refusal it makes is the validator's one generic answer, or the SDK's client authentication.
    refusals = {r.received for r in report.rows if r.id.startswith("refuse.") and r.passed}
    assert refusals == {
        '400 invalid_grant "Invalid identity assertion"',
        '401 invalid_client "Invalid client_secret"',
    }
