"""The battery against the sandbox's own custom server: every row passes, Okta's descriptions included.

The sandbox's custom server is the kit's reference validator (sandbox/jwt_bearer.py); it claims to be
Okta-shaped, so the rows with an Okta code also require Okta's exact `error_description`.
"""

from __future__ import annotations

import pytest
from ras_support import idp_of, sandbox_target

from helpers.conformance import (
    LEVELS,
    OKTA_ERRORS,
    RULES,
    Report,
    run_battery,
)
from helpers.core.keys import AgentKey
from sandbox.errors import catalog
from sandbox.testing import RunningSandbox


@pytest.fixture(scope="module")
def report(sb: RunningSandbox, agent_key: AgentKey) -> Report:
    return run_battery(idp_of(sb), sandbox_target(sb.url, agent_key, okta_shaped=True))


def test_the_battery_has_at_least_20_refusals_and_2_acceptances() -> None:
    refusals = [r for r in RULES if r.id.startswith("refuse.")]
    accepts = [r for r in RULES if r.id.startswith("accept.") and r.expect.accept and r.check is None]
    assert len(refusals) >= 20 and len(accepts) >= 2
    assert len({r.id for r in RULES}) == len(RULES)
    assert all(r.level in LEVELS and r.source for r in RULES)


@pytest.mark.parametrize("row_id", [r.id for r in RULES])
def test_every_row_passes_against_the_sandbox_custom_server(report: Report, row_id: str) -> None:
    row = report[row_id]
    assert not row.skipped, row.received
    assert row.passed, f"{row.rule}: expected {row.expected}, received {row.received}"


def test_the_summary_line_counts_every_level(report: Report) -> None:
    assert report.ok and report.exit_code() == 0
    summary = report.summary()
    assert summary.startswith("PASS sandbox custom server default: 39 of 39 rows passed")
    assert "MUST 32/32, SHOULD 2/2, Okta 4/4, EMA 1/1" in summary


def test_okta_descriptions_are_the_catalog_s() -> None:
    """The battery's copy of Okta's RAS-side errors is word for word the sandbox's catalog."""
    entries = catalog()
    for code, (status, error, description) in OKTA_ERRORS.items():
        entry = entries[code]
        assert (entry.status, entry.error, entry.description) == (status, error, description), code


def test_an_okta_shaped_target_must_give_okta_s_exact_description(
    sb: RunningSandbox, agent_key: AgentKey
) -> None:
    """A refusal with the right error but another description fails an Okta-shaped row, passes otherwise."""
    from helpers.conformance import Answer, judge, refused

    expect = refused("id_jag_expired")
    answer = Answer(400, {"error": "invalid_grant", "error_description": "expired"}, "")
    assert judge(expect, answer, okta_shaped=False)
    assert not judge(expect, answer, okta_shaped=True)
    assert not judge(expect, Answer(401, {"error": "invalid_grant"}, ""), okta_shaped=False)
    assert not judge(expect, Answer(400, {"error": "invalid_request"}, ""), okta_shaped=False)


def test_the_docs_list_every_row_of_the_battery() -> None:
    import re
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "resource-server.md").read_text(encoding="utf-8")
    full_list = docs.split("## The full list of rows")[1]
    listed = re.findall(r"^\| `((?:metadata|accept|refuse)\.[a-z_0-9]+)` \|", full_list, flags=re.M)
    assert listed == [r.id for r in RULES]
    for rule in RULES:
        line = next(line for line in docs.splitlines() if line.startswith(f"| `{rule.id}` |"))
        assert f"| {rule.level} |" in line, rule.id
