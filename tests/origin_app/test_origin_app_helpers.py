"""The helpers' side of the origin app: settings, HTTP Basic, the checks, the hand-off, the refusal.

Unit tests where nothing needs a server; the rest runs the helpers against the shared sandbox, the
way notebook 06 does, with a kit of its own (settings, key, state folder under tmp_path).
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from urllib.parse import unquote

import pytest
import requests
from origin_support import ORIGIN, ORIGIN_SECRET, Client, agents_read
from sandbox_flows import ACCESS_TOKEN_TYPE, AGENT, SPA

from helpers.constants import GRANT_TOKEN_EXCHANGE, TOKEN_TYPE_ID_JAG
from helpers.core.config import settings_from_values
from helpers.core.errors import ConfigError
from helpers.core.keys import AgentKey
from helpers.kit import Kit
from helpers.origin_app import (
    ClientSecretBasic,
    check_delegated_id_jag,
    check_delegation_token,
    load_origin_settings,
)
from helpers.teaching.origin_app_driver import NO_LINK, NO_LINK_CASE, OriginApp, compare_models
from helpers.teaching.troubleshooting.workbench import CaseDriftError, CaseReport
from sandbox.testing import RunningSandbox, running_sandbox


def settings_for(org_url: str, home: Path, **values: str):
    """Kit settings for `org_url`, with the env file and state folder under `home`."""
    home.mkdir(parents=True, exist_ok=True)
    return settings_from_values(
        {"OKTA_ORG_URL": org_url, "KIT_HEADLESS": "true", **values},
        home=home,
        env_file=home / ".env",
        state_dir=home / ".kit",
    )


@pytest.fixture
def kit(origin_sb: RunningSandbox, agent_key: AgentKey, tmp_path: Path) -> Kit:
    settings = settings_for(origin_sb.url, tmp_path / "home", OKTA_API_TOKEN=origin_sb.api_token)
    return Kit(settings, phase="06_origin_app_delegation", key=agent_key)


# --- settings --------------------------------------------------------------------------------------


def test_against_the_sandbox_the_origin_settings_default_to_its_origin_app(tmp_path: Path) -> None:
    origin = load_origin_settings(settings_for("http://127.0.0.1:8400", tmp_path))
    assert origin.client_id == ORIGIN and origin.client_secret == ORIGIN_SECRET
    assert origin.auth_server_id == "default"
    assert origin.agent_resource_url == "http://127.0.0.1:8400/agents/sandbox-agent"
    assert origin.authorize_url == "http://127.0.0.1:8400/oauth2/default/v1/authorize"
    assert origin.token_url == "http://127.0.0.1:8400/oauth2/default/v1/token"


def test_the_environment_wins_over_the_env_file_which_wins_over_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / ".env").write_text(
        "OKTA_ORG_URL=https://example.okta.com\n"
        "ORIGIN_CLIENT_ID=0oaFromTheFile\nORIGIN_CLIENT_SECRET=file-secret-value\n"
        "AGENT_RESOURCE_URL=${OKTA_ORG_URL}/agents/a1\n",
        encoding="utf-8",
    )
    for name in ("ORIGIN_CLIENT_ID", "ORIGIN_CLIENT_SECRET", "ORIGIN_AUTH_SERVER_ID", "AGENT_RESOURCE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ORIGIN_CLIENT_ID", "0oaFromTheEnvironment")
    settings = settings_for("https://example.okta.com", tmp_path, OKTA_AUTH_SERVER_ID="aus1")
    origin = load_origin_settings(settings)
    assert origin.client_id == "0oaFromTheEnvironment"
    assert origin.client_secret == "file-secret-value"
    assert origin.agent_resource_url == "https://example.okta.com/agents/a1"
    assert origin.auth_server_id == "aus1"  # ORIGIN_AUTH_SERVER_ID empty: OKTA_AUTH_SERVER_ID


def test_against_okta_the_origin_app_has_no_default_and_each_missing_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_origin_settings(settings_for("https://example.okta.com", tmp_path))
    assert caught.value.problems == [
        'ORIGIN_CLIENT_ID is "", expected your origin app\'s client id',
        "ORIGIN_CLIENT_SECRET is empty, expected your origin app's client secret",
        'AGENT_RESOURCE_URL is "", expected the agent\'s resource URL, an absolute URL',
    ]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ORIGIN_CLIENT_ID", "0oa with space", 'ORIGIN_CLIENT_ID is "0oa with space", expected'),
        ("ORIGIN_AUTH_SERVER_ID", "aus/1", 'ORIGIN_AUTH_SERVER_ID is "aus/1", expected a custom server id'),
        (
            "AGENT_RESOURCE_URL",
            "agents/a1",
            'AGENT_RESOURCE_URL is "agents/a1", expected the agent\'s resource URL',
        ),
        (
            "AGENT_RESOURCE_URL",
            "http://agent.example.com",
            'AGENT_RESOURCE_URL is "http://agent.example.com", expected https://',
        ),
        (
            "AGENT_RESOURCE_URL",
            "https://a.example.com/x#f",
            'AGENT_RESOURCE_URL is "https://a.example.com/x#f"',
        ),
    ],
    ids=lambda v: str(v)[:30],
)
def test_a_malformed_origin_setting_is_refused_naming_the_variable_value_and_expectation(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_origin_settings(settings_for("http://127.0.0.1:8400", tmp_path, **{name: value}))
    assert len(caught.value.problems) == 1 and caught.value.problems[0].startswith(message)


def test_the_secret_never_shows_in_the_settings_repr_table_or_the_auths_repr(tmp_path: Path) -> None:
    origin = load_origin_settings(settings_for("http://127.0.0.1:8400", tmp_path))
    shown = [repr(origin), repr(origin.describe()), origin.describe()._repr_html_()]
    shown.append(repr(ClientSecretBasic(origin.client_id, origin.client_secret)))
    assert all(ORIGIN_SECRET not in text for text in shown)
    assert "[hidden]" in repr(origin.describe())


def test_http_basic_form_encodes_id_and_secret_before_base64() -> None:
    # RFC 6749 §2.3.1: both are encoded with application/x-www-form-urlencoded, then joined by ":".
    prepared = requests.Request("POST", "http://127.0.0.1/token").prepare()
    ClientSecretBasic("0oa:id", "s3cr3t with:colon%&")(prepared)
    scheme, _, value = prepared.headers["Authorization"].partition(" ")
    decoded = base64.b64decode(value).decode()
    assert scheme == "Basic" and decoded == "0oa%3Aid:s3cr3t%20with%3Acolon%25%26"
    client_id, _, secret = decoded.partition(":")
    assert (unquote(client_id), unquote(secret)) == ("0oa:id", "s3cr3t with:colon%&")


def test_a_secret_with_special_characters_is_accepted_by_the_sandbox(
    tmp_path: Path, agent_key: AgentKey, agent_jwks: Path
) -> None:
    secret = "with space:colon%&plus+"
    overrides = {
        **agents_read(agent_jwks),
        "clients": {**agents_read(agent_jwks)["clients"], ORIGIN: {"client_secret": secret}},
    }
    with running_sandbox(data_dir=tmp_path / "sb", overrides=overrides) as sb:
        settings = settings_for(sb.url, tmp_path / "home", ORIGIN_CLIENT_SECRET=secret)
        kit = Kit(settings, phase="06_origin_app_delegation", key=agent_key)
        origin = OriginApp(kit, load_origin_settings(settings))
        auth = origin.authorization_request()
        callback = origin.sign_in(auth).wait()
        tokens = origin.token_request(
            {
                "grant_type": "authorization_code",
                "code": callback.code,
                "redirect_uri": auth.redirect_uri,
                "code_verifier": auth.pkce.verifier,
            }
        )
        assert tokens.status == 200


def test_browser_urls_of_a_custom_server_go_through_the_proxy_when_the_front_channel_is_on(
    tmp_path: Path,
) -> None:
    settings = settings_for("http://127.0.0.1:8400", tmp_path)
    back = "http://127.0.0.1:8400/oauth2/default/v1/authorize"
    assert settings.browser_url(back) == back
    hub = settings.replace(browser_base_url="https://hub.example.org/user/alice", headless=False)
    assert (
        hub.browser_url(back) == "https://hub.example.org/user/alice/proxy/8400/oauth2/default/v1/authorize"
    )


def test_the_comparison_names_both_subject_tokens_and_their_audiences(tmp_path: Path) -> None:
    settings = settings_for("http://127.0.0.1:8400", tmp_path)
    text = repr(compare_models(settings, load_origin_settings(settings)))
    assert "urn:ietf:params:oauth:token-type:id_token" in text
    assert "urn:ietf:params:oauth:token-type:access_token" in text
    assert f"the agent's client id, {AGENT}" in text
    assert "the agent's resource URL, http://127.0.0.1:8400/agents/sandbox-agent" in text


# --- against the sandbox -----------------------------------------------------------------------------


def signed_in(origin: OriginApp):
    auth = origin.authorization_request()
    callback = origin.sign_in(auth).wait()
    form = {
        "grant_type": "authorization_code",
        "code": callback.code,
        "redirect_uri": auth.redirect_uri,
        "code_verifier": auth.pkce.verifier,
    }
    return auth, origin.token_request(form)


def test_the_helpers_run_notebook_06s_flow_and_every_check_passes(kit: Kit) -> None:
    origin = OriginApp(kit)
    auth, tokens = signed_in(origin)
    assert auth.params["resource"] == origin.origin.agent_resource_url
    assert origin.check_access_token(tokens["access_token"]).ok
    handoff = origin.hand_off(tokens, auth)
    assert handoff.payload() == {
        "subject_token": tokens["access_token"],
        "subject_token_type": ACCESS_TOKEN_TYPE,
    }
    delegated = kit.require("origin_access_token")
    form = {
        "grant_type": GRANT_TOKEN_EXCHANGE,
        "requested_token_type": TOKEN_TYPE_ID_JAG,
        "audience": kit.settings.audience,
        "scope": kit.settings.agent_scope,
        "subject_token": delegated.value,
        "subject_token_type": delegated.extra["subject_token_type"],
    }
    response = kit.token_request(kit.settings.org_token_url, form)
    checks = check_delegated_id_jag(
        response["access_token"],
        jwks=kit.org_jwks(),
        issuer=kit.settings.org_issuer,
        audience=form["audience"],
        agent_client_id=AGENT,
        origin_client_id=ORIGIN,
        subject="00uA1iceL1dde11Demo1",
        requested_scopes=form["scope"],
    )
    assert checks.ok, str(checks)
    assert [c.name for c in checks][-2:] == ['"act.sub"', '"act.act.sub"']


def test_the_helpers_run_okta_s_machine_access_with_the_apps_own_token(kit: Kit) -> None:
    # Okta's guide: the client gets its subject token with the client credentials grant, resource = agent.
    origin = OriginApp(kit)
    form = origin.client_credentials_form(["todo.read"])
    assert form == {
        "grant_type": "client_credentials",
        "scope": "todo.read",
        "resource": origin.origin.agent_resource_url,
    }
    tokens = origin.token_request(form, label="Origin app: its own token")
    own = origin.check_access_token(tokens["access_token"], for_user=False)
    assert own.ok, str(own)
    assert {c.name for c in origin.check_access_token(tokens["access_token"]).failed} == {'"uid"'}
    handoff = origin.hand_off(tokens)
    assert [name for name, _ in handoff.withheld] == ["client secret"]
    response = kit.token_request(kit.settings.org_token_url, origin.exchange_form(handoff.subject_token))
    checks = check_delegated_id_jag(
        response["access_token"],
        jwks=kit.org_jwks(),
        issuer=kit.settings.org_issuer,
        audience=kit.settings.audience,
        agent_client_id=AGENT,
        origin_client_id=ORIGIN,
        subject=ORIGIN,
        requested_scopes="todo.read",
    )
    assert checks.ok, str(checks)
    assert (
        checks['"sub_profile"'].received == "service" and checks['"act.sub_profile"'].received == "ai_agent"
    )


def test_the_origin_token_check_fails_on_the_audience_the_client_and_a_foreign_key(
    kit: Kit, client: Client
) -> None:
    origin = OriginApp(kit)
    no_resource = client.tokens(resource=None)["access_token"]
    failed = {c.name for c in origin.check_access_token(no_resource).failed}
    assert failed == {'"aud"'}
    other_app = check_delegation_token(
        client.tokens(SPA)["access_token"],
        jwks=kit.jwks_of(origin.origin.issuer),
        issuer=origin.origin.issuer,
        origin_client_id=ORIGIN,
        agent_resource_url=origin.origin.agent_resource_url,
    )
    assert {c.name for c in other_app.failed} == {'"cid"'}
    foreign = check_delegation_token(
        client.origin_tokens["access_token"],
        jwks=kit.org_jwks(),  # the org's keys: the kid names no key there
        issuer=origin.origin.issuer,
        origin_client_id=ORIGIN,
        agent_resource_url=origin.origin.agent_resource_url,
    )
    assert {c.name for c in foreign.failed} == {"signature"}


def test_the_hand_off_check_fails_when_a_kept_value_would_cross(kit: Kit) -> None:
    origin = OriginApp(kit)
    auth, tokens = signed_in(origin)
    handoff = origin.hand_off(tokens, auth)
    leaked = handoff.check({"client secret": tokens["access_token"][10:40]})
    assert [(c.name, c.received, c.passed) for c in leaked][0] == ("client secret", "crosses!", False)


def test_the_exchange_without_a_delegation_link_shows_the_answer_and_the_reason(kit: Kit) -> None:
    refusal = OriginApp(kit).without_delegation_link()
    assert [(c.name, c.passed) for c in refusal.checks] == [
        ("status", True),
        ("error", True),
        ("error_description", True),
        ("event reason", True),
    ]
    text = refusal.text()
    assert "reason: invalid_subject_token_client_not_registered" in text
    assert f"debugData.subjectTokenClient: {SPA}" in text


def test_a_refusal_that_drifts_raises_naming_what_differs(kit: Kit) -> None:
    refusal = OriginApp(kit).without_delegation_link()
    other = dataclasses.replace(NO_LINK, reason="invalid_subject_token_no_delegation_link")
    case = dataclasses.replace(NO_LINK_CASE, expected=other)
    drifted = CaseReport(case, refusal.places, refusal.attempt, refusal.side)
    with pytest.raises(
        CaseDriftError, match='^no_delegation_link drifted: event reason is "invalid_subject_token_client_not'
    ):
        drifted.verify(check_reason=True)


def test_against_okta_the_refusal_is_sandbox_only_and_sends_nothing(kit: Kit, tmp_path: Path) -> None:
    okta = settings_for(
        "https://example.okta.com",
        tmp_path / "okta",
        ORIGIN_CLIENT_ID="0oaX",
        ORIGIN_CLIENT_SECRET="x" * 12,
        AGENT_RESOURCE_URL="https://agent.example.com",
        KIT_HEADLESS="false",
    )
    kit.settings = okta
    origin = OriginApp(kit, load_origin_settings(okta))
    before = len(kit.http.exchanges)
    refusal = origin.without_delegation_link()
    assert refusal.skipped and refusal.attempt is None and len(kit.http.exchanges) == before
    assert "Skipped against https://example.okta.com: sandbox-only" in refusal.text()


def test_the_origin_apps_secret_is_in_no_request_log_even_with_redaction_off(kit: Kit) -> None:
    kit.http.redact = False
    origin = OriginApp(kit)
    _, tokens = signed_in(origin)
    shown = [repr(kit.log()), kit.log()._repr_html_(), repr(tokens), repr(tokens.curl())]
    stored = kit.http.log_path.read_text(encoding="utf-8")
    assert tokens["access_token"] in repr(tokens)  # redaction is really off
    for text in [*shown, stored]:
        assert ORIGIN_SECRET not in text
        assert base64.b64encode(f"{ORIGIN}:{ORIGIN_SECRET}".encode()).decode() not in text
    assert "Authorization: Basic [hidden]" in repr(tokens.curl())
    records = [json.loads(line) for line in stored.splitlines()]
    assert any(r["request_headers"].get("Authorization") == "Basic [hidden]" for r in records)
