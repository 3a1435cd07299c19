"""helpers.mcp and helpers.mcp_troubleshooting: the kit's side of notebook 07, against the sandbox.

The session records what the official SDK sent and received in the kit's log (redacted); the checklists
fail on the inputs EMA and RFC 9728 rule out; settings come from the environment; every MCP
troubleshooting case answers as it documents, and a drift is caught.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from mcp_support import ID_JAG_PROFILE, JWT_BEARER, McpSandbox
from notebook_cases import NOTEBOOKS, case_cells, stored_texts
from sandbox_flows import Signer, decode_unverified

from helpers import mcp, mcp_troubleshooting
from helpers.core.config import load_settings
from helpers.core.errors import ConfigError, InsecureTransportError, KitError
from helpers.core.transport import KitHTTP


@pytest.fixture
def http(tmp_path: Path) -> KitHTTP:
    return KitHTTP(phase="test_mcp", log_dir=tmp_path)


def test_a_session_records_the_sdks_json_rpc_in_the_kits_log_with_the_token_redacted(
    msb: McpSandbox, signer: Signer, http: KitHTTP
) -> None:
    token = msb.mcp_token(signer)
    with mcp.McpSession(msb.mcp_url, http=http, token=token) as session:
        opened = session.initialize()
        listed = session.list_tools()
        called = session.call_tool("list_todos")
    assert opened.ok and listed.ok and called.ok
    methods = [e.request_json.get("method") for e in http.exchanges]
    assert methods == ["initialize", "notifications/initialized", "tools/list", "tools/call"]
    assert [e.status for e in http.exchanges] == [200, 202, 200, 200]
    assert [arrow for arrow, _ in session.messages().entries] == ["→", "←"] * 4
    assert listed.summary() == "2 tool(s): list_todos(), add_todo(title)"
    assert called.structured["user"] == "alice@example.com"
    text = opened.text() + called.curl().display
    assert token not in text and "Bearer " + token[:12] in text
    logged = (http.log_path.read_text()).splitlines()
    assert len(logged) == 4 and token not in "".join(logged)
    assert json.loads(logged[-1])["request_json"]["params"]["name"] == "list_todos"


def test_an_unauthenticated_call_keeps_the_401_and_its_challenge(msb: McpSandbox, http: KitHTTP) -> None:
    with mcp.McpSession(msb.mcp_url, http=http) as session:
        call = session.initialize()
    assert not call.ok and call.status == 401
    assert call.challenge is not None and call.challenge.error is None
    assert call.challenge.params == {"resource_metadata": msb.prm_url}
    assert mcp.resource_metadata_url(msb.mcp_url) == msb.prm_url
    with pytest.raises(KitError, match="not connected"):
        session.list_tools()


def test_a_token_never_goes_over_plain_http_to_a_host_that_is_not_loopback(http: KitHTTP) -> None:
    with mcp.McpSession("http://mcp.example.com/mcp", http=http, token="secret-token") as session:
        call = session.initialize()
    assert isinstance(mcp._first_error(call.error), InsecureTransportError)
    assert http.exchanges == []


@pytest.mark.parametrize(
    ("change", "failed"),
    [
        ({"resource": "RESOURCE/"}, ['"resource"']),
        ({"authorization_servers": []}, ['"authorization_servers"']),
        ({"bearer_methods_supported": ["body"]}, ['"bearer_methods_supported"']),
        ({}, []),
    ],
)
def test_the_resource_metadata_checklist_fails_on_what_rfc_9728_rules_out(
    msb: McpSandbox, change: dict, failed: list[str]
) -> None:
    prm = {
        "resource": msb.mcp_url,
        "authorization_servers": [msb.issuer],
        "scopes_supported": ["todo.read"],
        "bearer_methods_supported": ["header"],
    }
    prm.update(
        {k: (v.replace("RESOURCE", msb.mcp_url) if isinstance(v, str) else v) for k, v in change.items()}
    )
    checks = mcp.check_resource_metadata(prm, msb.mcp_url)
    assert [c.name for c in checks.failed] == failed


def test_the_grant_profile_checklist_fails_without_the_profile_or_jwt_bearer(msb: McpSandbox) -> None:
    good = {
        "issuer": msb.issuer,
        "token_endpoint": msb.issuer + "/v1/token",
        "authorization_grant_profiles_supported": [ID_JAG_PROFILE],
        "grant_types_supported": [JWT_BEARER],
    }
    assert mcp.check_grant_profile(good, msb.issuer).ok
    no_profile = {k: v for k, v in good.items() if k != "authorization_grant_profiles_supported"}
    assert [c.name for c in mcp.check_grant_profile(no_profile, msb.issuer).failed] == [
        '"authorization_grant_profiles_supported"'
    ]
    no_grant = dict(good, grant_types_supported=["authorization_code"])
    assert [c.name for c in mcp.check_grant_profile(no_grant, msb.issuer).failed] == [
        '"grant_types_supported"'
    ]
    assert not mcp.check_grant_profile(good, msb.issuer + "/").ok  # RFC 8414 §3.3: the issuer, exactly
    assert not mcp.check_idp_metadata({"grant_types_supported": []}).ok


def test_the_access_token_checklist_fails_for_the_rest_apis_token(msb: McpSandbox, signer: Signer) -> None:
    id_jag = msb.id_jag(signer)
    rest = msb.rest_token(signer)
    jwks = msb.sandbox.keys.servers["default"].jwks()
    checks = mcp.check_mcp_access_token(
        rest,
        jwks=jwks,
        issuer=msb.issuer,
        resource=msb.mcp_url,
        client_id="wlpSandboxAgent00001",
        id_jag_claims=decode_unverified(id_jag)[1],
    )
    assert [c.name for c in checks.failed] == ['"aud"', '"aud" (EMA)']


def test_settings_come_from_the_environment_and_a_bad_url_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKTA_ORG_URL", "https://example.okta.com")
    monkeypatch.setenv("MCP_SERVER_URL", "https://mcp.example.com/mcp")
    monkeypatch.setenv("MCP_SDK_CLIENT_ID", "")
    settings = mcp.load_mcp_settings(load_settings())
    assert (settings.server_url, settings.sdk_client_id, settings.sdk_client_secret) == (
        "https://mcp.example.com/mcp",
        "",
        "",
    )
    monkeypatch.setenv("MCP_SERVER_URL", "https://mcp.example.com/mcp#frag")
    with pytest.raises(ConfigError, match="MCP_SERVER_URL"):
        mcp.load_mcp_settings(load_settings())
    monkeypatch.setenv("MCP_SERVER_URL", "")
    with pytest.raises(ConfigError, match="MCP_SERVER_URL is empty"):
        mcp.load_mcp_settings(load_settings())


def test_every_mcp_troubleshooting_case_answers_as_documented_and_a_drift_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from helpers import Kit
    from tools.kitenv import throwaway_kit

    with throwaway_kit():
        kit = Kit.open("test_mcp_troubleshooting")
        bench = mcp_troubleshooting.McpWorkbench(kit)
        reports = [bench.run(case.key) for case in mcp_troubleshooting.MCP_CASES]
        assert all(report.ok for report in reports)
        assert [r.case.label for r in reports][0] == "MCP case 1 (mcp_resource_trailing_slash)"
        assert {r.checks.checks[-1].name for r in reports} == {"event reason"}
        drifted = dataclasses.replace(
            mcp_troubleshooting.MCP_CASES[0],
            expected=dataclasses.replace(mcp_troubleshooting.MCP_CASES[0].expected, status=401),
        )
        monkeypatch.setattr(bench, "cases", (drifted, *bench.cases[1:]))
        with pytest.raises(mcp_troubleshooting.CaseDriftError, match='status is "400", expected "401"'):
            bench.run(drifted.key)
    assert len(mcp_troubleshooting.summary_rows()) == 6


# --- Notebook 07's case cells -------------------------------------------------------------------------------

NOTEBOOK_07 = NOTEBOOKS / "07_mcp_enterprise_managed_authorization.ipynb"


def test_notebook_07_runs_every_mcp_case_once_in_order() -> None:
    assert list(case_cells(NOTEBOOK_07)) == [c.key for c in mcp_troubleshooting.MCP_CASES]


def test_each_mcp_case_cell_sends_what_its_case_in_the_table_sends() -> None:
    from helpers import Kit
    from tools.kitenv import throwaway_kit

    cells = case_cells(NOTEBOOK_07)
    with throwaway_kit():
        kit = Kit.open("test_mcp_case_cells")
        bench = mcp_troubleshooting.McpWorkbench(kit)
        for case in mcp_troubleshooting.MCP_CASES:
            namespace = {"bench": bench, "kit": kit, "server_url": bench.mcp.server_url}
            exec(
                cells[case.key], namespace
            )  # the cell as the notebook runs it (its report checks the answer)
            cell, table = namespace["attempt"], bench.run(case.key).attempt
            assert cell is not None and table is not None, case.key
            assert (cell.exchange.method, cell.exchange.url) == (table.exchange.method, table.exchange.url)
            assert cell.changed, f"{case.key}: the report names no change"
            assert cell.changed == table.changed, case.key
            assert (cell.status, cell.error, cell.error_description) == (
                table.status,
                table.error,
                table.error_description,
            ), case.key


def test_the_stored_notebook_07_shows_every_mcp_case_passing() -> None:
    passed = [
        t
        for t in stored_texts(NOTEBOOK_07)
        if t.startswith("MCP case ") and "Check: 4 of 4 as documented" in t
    ]
    assert len(passed) == len(mcp_troubleshooting.MCP_CASES)
