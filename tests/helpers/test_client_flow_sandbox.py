"""The whole flow through the helpers against a real sandbox; each helper-side check meets a wrong answer.

The agent's key pair is made by the helpers in a temporary kit home; the sandbox reads its public
JWKS from there (`base_dir`), exactly as `make lab` arranges it on a person's machine.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from helpers import flow
from helpers.api import call_api
from helpers.core.config import load_settings
from helpers.core.discovery import fetch_metadata
from helpers.core.errors import DiscoveryError, OAuthError, SessionError, SignInError
from helpers.core.jwts import decode_unverified
from helpers.core.keys import agent_key_for
from helpers.jwt_bearer import check_access_token, jwt_bearer_form
from helpers.kit import Kit
from helpers.sandbox_client.headless_signin import sign_in_headless
from helpers.signin import check_id_token, code_exchange_form, new_authorization_request
from helpers.teaching.forms import AudienceForm
from helpers.token_exchange import check_exchange_response, check_id_jag, token_exchange_form
from sandbox.testing import RunningSandbox, running_sandbox

OTHER_CLIENT = "0oaOtherWebApp000001"


def start(
    home: Path, monkeypatch: pytest.MonkeyPatch, *, alg: str = "RS256", overrides=None
) -> RunningSandbox:
    """Prepare a kit home (settings, agent key) and start a sandbox reading its JWKS; return the sandbox."""
    monkeypatch.setenv("KIT_HOME", str(home))
    monkeypatch.setenv("KIT_ENV_FILE", str(home / ".env"))
    monkeypatch.setenv("KIT_STATE_DIR", str(home / ".kit"))
    monkeypatch.setenv("KIT_HEADLESS", "true")
    monkeypatch.setenv("AGENT_KEY_ALG", alg)
    agent_key_for(load_settings())
    return running_sandbox(base_dir=home, overrides=overrides)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSandbox, Path]]:
    """One sandbox for the read-only cases (RSA agent key)."""
    home = tmp_path_factory.mktemp("kit-home")
    with pytest.MonkeyPatch.context() as mp:
        with start(home, mp) as sb:
            yield sb, home


@pytest.fixture
def kit(shared, monkeypatch) -> Kit:
    sb, home = shared
    for name, value in {
        "KIT_HOME": home,
        "KIT_ENV_FILE": home / ".env",
        "KIT_STATE_DIR": home / ".kit",
        "KIT_HEADLESS": "true",
        "OKTA_ORG_URL": sb.url,
    }.items():
        monkeypatch.setenv(name, str(value))
    return Kit.open("test")


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_the_whole_flow_runs_headless_through_the_helpers(tmp_path, monkeypatch, alg):
    with start(tmp_path, monkeypatch, alg=alg) as sb:
        monkeypatch.setenv("OKTA_ORG_URL", sb.url)
        kit = Kit.open("flow")
        assert kit.key.alg == alg
        tokens = flow.run_sign_in(kit)
        exchange = flow.run_token_exchange(kit)
        bearer = flow.run_jwt_bearer(kit)
        result = flow.run_api_call(kit)
    assert decode_unverified(tokens["id_token"])[1]["aud"] == "wlpSandboxAgent00001"
    assert exchange["issued_token_type"] == "urn:ietf:params:oauth:token-type:id-jag"
    assert decode_unverified(bearer["access_token"])[1]["scp"] == ["todo.read"]
    assert (result.status, result.ok) == (200, True)
    log = (tmp_path / ".kit" / "logs" / "flow.jsonl").read_text()
    for secret in (
        tokens["id_token"],
        tokens["access_token"],
        exchange["access_token"],
        bearer["access_token"],
        "Wonderland-2026!",
    ):
        assert secret not in log
    assert [e.label for e in kit.http.exchanges if e.method == "POST"] == [
        "Sign-in form",
        "Authorization code for tokens",
        "Token exchange (RFC 8693)",
        "JWT bearer grant (RFC 7523)",
    ]


def test_kit_require_reruns_every_missing_phase_when_headless(kit):
    kit.session.forget()
    before = len(kit.http.exchanges)
    item = kit.require("access_token")
    assert kit.reran == ["access_token"]
    assert "03_jwt_bearer_access_token.ipynb was re-run" in repr(item)
    assert set(kit.session.names()) >= {"id_token", "id_jag", "access_token"}
    # The re-run phases log under the notebooks that normally make their results, not here.
    assert len(kit.http.exchanges) == before
    logs = kit.http.log_path.parent
    assert "Sign-in form" in (logs / "01_user_sign_in.jsonl").read_text()
    assert "Token exchange (RFC 8693)" in (logs / "02_token_exchange_id_jag.jsonl").read_text()
    assert "JWT bearer grant (RFC 7523)" in (logs / "03_jwt_bearer_access_token.jsonl").read_text()
    assert call_api(kit.http, kit.settings.api_url, item.value).status == 200
    with pytest.raises(
        SessionError, match="02_token_exchange_id_jag.ipynb again: the ID-JAG was already used"
    ):
        kit.session.get("id_jag")


def test_kit_require_names_the_notebook_when_not_headless(kit, monkeypatch):
    kit.session.forget()
    kit.use(kit.settings.replace(headless=False))
    with pytest.raises(SessionError, match="^Run 01_user_sign_in.ipynb first"):
        kit.require("id_token")


def test_discovery_reads_both_servers_and_the_form_loads_public_scopes_only(kit):
    assert kit.org_metadata()["token_endpoint"] == kit.settings.org_token_url
    assert kit.server_metadata()["issuer"] == kit.settings.custom_issuer
    form = AudienceForm(kit.http, kit.settings)
    assert form.load_scopes() == ["todo.read", "todo.write"]
    assert form.scopes == ["todo.read"]
    form.audience_box.value = f"{kit.settings.org_url}/oauth2/reports"
    assert form.load_scopes() == ["reports.read"]
    assert form.scopes == ["todo.read"]  # kept in the manual box: not public at this server


def test_discovery_refuses_metadata_naming_another_issuer(kit):
    other_spelling = kit.settings.org_url.replace("127.0.0.1", "localhost")
    with pytest.raises(
        DiscoveryError, match=f'"issuer" is "{kit.settings.org_url}", expected "{other_spelling}"'
    ):
        fetch_metadata(kit.http, other_spelling, form="openid")


def test_headless_sign_in_with_a_wrong_password_is_a_sign_in_error(kit):
    settings = kit.settings.replace(sandbox_password="not-the-password")
    with pytest.raises(SignInError, match="answered HTTP 401, expected 302"):
        sign_in_headless(kit.http, new_authorization_request(settings), settings)


def test_an_error_redirect_keeps_the_servers_error(kit):
    request = new_authorization_request(kit.settings, code_challenge_method="plain")
    with pytest.raises(SignInError) as caught:
        sign_in_headless(kit.http, request, kit.settings)
    assert caught.value.error == "invalid_request"


def signed_in(kit: Kit) -> tuple[dict, str]:
    """Sign in headless; return the token response and the nonce sent."""
    request = new_authorization_request(kit.settings)
    callback = sign_in_headless(kit.http, request, kit.settings)
    return kit.token_request(kit.settings.org_token_url, code_exchange_form(request, callback)), request.nonce


def test_the_id_token_checks_fail_on_a_real_token_checked_against_other_expectations(kit):
    tokens, nonce = signed_in(kit)
    s = kit.settings
    common = {
        "jwks": kit.org_jwks(),
        "issuer": s.org_issuer,
        "client_id": s.agent_client_id,
        "nonce": nonce,
        "access_token": tokens["access_token"],
    }
    assert check_id_token(tokens["id_token"], **common).ok
    exp = decode_unverified(tokens["id_token"])[1]["exp"]
    cases = {
        '"nonce"': {**common, "nonce": "another-nonce"},
        '"aud"': {**common, "client_id": OTHER_CLIENT},
        '"iss"': {**common, "issuer": s.custom_issuer},
        '"at_hash"': {**common, "access_token": "another-access-token"},
        '"exp"': {**common, "now": exp + 1, "skew": 0},
        "signature": {**common, "jwks": kit.jwks_of(s.custom_issuer)},
    }
    for failed, arguments in cases.items():
        assert [c.name for c in check_id_token(tokens["id_token"], **arguments).failed] == [failed], failed


def test_the_id_jag_checks_fail_on_a_real_id_jag_for_another_audience(kit):
    tokens, _ = signed_in(kit)
    s = kit.settings
    reports = f"{s.org_url}/oauth2/reports"
    form = token_exchange_form(subject_token=tokens["id_token"], audience=reports, scopes=["reports.read"])
    response = kit.token_request(s.org_token_url, form)
    assert check_exchange_response(response).ok
    sub = decode_unverified(tokens["id_token"])[1]["sub"]
    checks = check_id_jag(
        response["access_token"],
        jwks=kit.org_jwks(),
        issuer=s.org_issuer,
        audience=s.audience,
        client_id=s.agent_client_id,
        subject=sub,
        requested_scopes="todo.read",
    )
    assert [c.name for c in checks.failed] == ['"aud"', '"scope"']


def test_an_id_jag_living_longer_than_five_minutes_fails_the_lifetime_checks(tmp_path, monkeypatch):
    with start(tmp_path, monkeypatch, overrides={"lifetimes": {"id_jag": 600}}) as sb:
        monkeypatch.setenv("OKTA_ORG_URL", sb.url)
        kit = Kit.open("long")
        tokens, _ = signed_in(kit)
        s = kit.settings
        form = token_exchange_form(
            subject_token=tokens["id_token"], audience=s.audience, scopes=["todo.read"]
        )
        response = kit.token_request(s.org_token_url, form)
        sub = decode_unverified(tokens["id_token"])[1]["sub"]
        checks = check_id_jag(
            response["access_token"],
            jwks=kit.org_jwks(),
            issuer=s.org_issuer,
            audience=s.audience,
            client_id=s.agent_client_id,
            subject=sub,
            requested_scopes="todo.read",
        )
    assert [c.name for c in check_exchange_response(response).failed] == ['"expires_in"']
    assert [c.name for c in checks.failed] == ["lifetime"]


def test_the_sandbox_refuses_an_id_token_issued_to_another_client_with_an_oauth_error(kit):
    s = kit.settings
    request = new_authorization_request(s)
    other = dataclasses.replace(request, client_id=OTHER_CLIENT)
    callback = sign_in_headless(kit.http, other, s)
    http = requests.Session()
    answer = http.post(
        s.org_token_url,
        data=code_exchange_form(other, callback),
        auth=(OTHER_CLIENT, kit_secret_of(OTHER_CLIENT)),
        timeout=10,
    ).json()
    assert "id_token" in answer, answer
    checks = check_id_token(
        answer["id_token"],
        jwks=kit.org_jwks(),
        issuer=s.org_issuer,
        client_id=s.agent_client_id,
        nonce=other.nonce,
    )
    assert [c.name for c in checks.failed] == ['"aud"']
    form = token_exchange_form(subject_token=answer["id_token"], audience=s.audience, scopes=["todo.read"])
    with pytest.raises(OAuthError) as caught:
        kit.token_request(s.org_token_url, form, label="Token exchange (RFC 8693)")
    assert (caught.value.status, caught.value.error) == (400, "invalid_request")
    assert caught.value.exchange is kit.http.last


def kit_secret_of(client_id: str) -> str:
    """The demo web app's secret, from the sandbox's own default configuration file."""
    import tomllib

    text = (Path(__file__).resolve().parents[2] / "sandbox" / "default.toml").read_text()
    return tomllib.loads(text)["clients"][client_id]["client_secret"]


def test_a_replayed_id_jag_is_refused_and_the_error_is_kept(kit):
    kit.session.forget()
    id_jag = kit.require("id_jag").value
    s = kit.settings
    first = kit.token_request(s.custom_token_url, jwt_bearer_form(id_jag))
    id_jag_claims = decode_unverified(id_jag)[1]
    common = {
        "jwks": kit.jwks_of(s.custom_issuer),
        "issuer": s.custom_issuer,
        "client_id": s.agent_client_id,
        "id_jag_claims": id_jag_claims,
    }
    assert check_access_token(first["access_token"], **common).ok
    assert [
        c.name for c in check_access_token(first["access_token"], **{**common, "jwks": kit.org_jwks()}).failed
    ] == ["signature"]
    with pytest.raises(OAuthError) as caught:
        kit.token_request(s.custom_token_url, jwt_bearer_form(id_jag))
    assert (caught.value.status, caught.value.error) == (400, "invalid_grant")


def test_an_assertion_for_the_org_token_url_is_refused_at_the_custom_token_url(kit):
    s = kit.settings
    kit.session.forget()
    id_jag = kit.require("id_jag").value
    wrong = kit.new_assertion(s.org_token_url)
    assert [c.name for c in kit.check_assertion(wrong, s.custom_token_url).failed] == ['"aud"']
    with pytest.raises(OAuthError) as caught:
        kit.token_request(s.custom_token_url, jwt_bearer_form(id_jag), assertion=wrong)
    assert (caught.value.status, caught.value.error) == (401, "invalid_client")
    assert (
        caught.value.error_description
        == "The audience claim for client_assertion must be the endpoint invoked "
        "for the request."
    )


def test_the_api_explains_a_missing_token_and_a_missing_scope(kit):
    token = kit.require("access_token").value
    no_token = call_api(kit.http, kit.settings.api_url, None)
    assert no_token.status == 401 and no_token.challenge.error is None
    assert no_token.challenge.params["resource_metadata"].startswith(kit.settings.org_url)
    write = call_api(kit.http, kit.settings.api_url, token, method="POST", json={"title": "tea"})
    assert (write.status, write.challenge.error, write.challenge.params.get("scope")) == (
        403,
        "insufficient_scope",
        "todo.write",
    )
    assert "the scope(s) this request needs" in repr(write)


def test_nothing_here_imports_the_sandbox_from_the_helpers():
    helpers_dir = Path(__file__).resolve().parents[2] / "helpers"
    for path in helpers_dir.rglob("*.py"):
        text = path.read_text()
        assert "import sandbox" not in text and "from sandbox" not in text, path.name
    assert os.environ.get("KIT_HOME") != str(helpers_dir.parent)


def test_every_display_object_renders_text_and_html_without_a_whole_token(kit):
    from helpers.teaching.display import describe

    kit.session.forget()
    s = kit.settings
    request = new_authorization_request(s)
    callback = sign_in_headless(kit.http, request, s)
    tokens = kit.token_request(s.org_token_url, code_exchange_form(request, callback))
    checks = check_id_token(
        tokens["id_token"],
        jwks=kit.org_jwks(),
        issuer=s.org_issuer,
        client_id=s.agent_client_id,
        nonce=request.nonce,
    )
    api_result = call_api(kit.http, s.api_url, None)
    shown = [
        request,
        callback,
        tokens,
        tokens.exchange,
        tokens.curl(),
        checks,
        kit.card(tokens["id_token"], "ID token"),
        kit.org_metadata(),
        kit.server_metadata(),
        kit.log(),
        kit.configuration("token_exchange"),
        kit.public_key(),
        describe(s),
        api_result,
        api_result.explain(),
    ]
    for item in shown:
        text, html = repr(item), item._repr_html_()
        assert text and html.startswith("<"), type(item).__name__
        for secret in (
            tokens["id_token"],
            tokens["access_token"],
            callback.code,
            request.pkce.verifier,
            s.sandbox_password,
        ):
            assert secret not in text and secret not in html, type(item).__name__
