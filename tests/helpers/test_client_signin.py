"""Phase 1 helpers without a server: the authorize URL, the callback, the form finder, the listener."""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from helpers.core.config import load_settings
from helpers.core.errors import SignInError
from helpers.core.pkce import s256_challenge
from helpers.core.transport import KitHTTP
from helpers.sandbox_client.headless_signin import find_password_form, sign_in_headless
from helpers.signin import code_exchange_form, new_authorization_request, parse_callback
from helpers.teaching.browser_signin import LoopbackListener, start_sign_in


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def settings(kit_home, monkeypatch):
    monkeypatch.setenv("REDIRECT_URI", f"http://127.0.0.1:{free_port()}/callback")
    return load_settings()


def test_the_authorize_url_carries_every_parameter_of_oidc_and_pkce(settings):
    request = new_authorization_request(settings)
    parts = urlsplit(request.url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://127.0.0.1:8400/oauth2/v1/authorize"
    assert query == {
        "response_type": "code",
        "client_id": "wlpSandboxAgent00001",
        "redirect_uri": settings.redirect_uri,
        "scope": "openid profile email",
        "state": request.state,
        "nonce": request.nonce,
        "code_challenge": s256_challenge(request.pkce.verifier),
        "code_challenge_method": "S256",
    }
    assert request.state != new_authorization_request(settings).state
    assert request.pkce.verifier not in repr(request)


def test_a_good_callback_gives_the_code(settings):
    request = new_authorization_request(settings)
    callback = parse_callback(f"{settings.redirect_uri}?code=abc123&state={request.state}", request)
    assert (callback.code, callback.state) == ("abc123", request.state)
    assert code_exchange_form(request, callback) == {
        "grant_type": "authorization_code",
        "code": "abc123",
        "redirect_uri": settings.redirect_uri,
        "code_verifier": request.pkce.verifier,
    }


@pytest.mark.parametrize(
    ("case", "query", "message"),
    [
        ("state differs", "code=abc&state=WRONG", 'redirect "state" is "WRONG", expected'),
        ("state is missing", "code=abc", 'redirect "state" is "None", expected'),
        ("code is missing", "state={state}", 'redirect has no "code"'),
        (
            "error redirect",
            "error=access_denied&error_description=User+is+not+assigned&state={state}",
            "sign-in failed: access_denied: User is not assigned",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v and "=" not in v else None,
)
def test_a_bad_callback_raises_a_sign_in_error_naming_what_is_wrong(settings, case, query, message):
    request = new_authorization_request(settings)
    with pytest.raises(SignInError, match=message.replace("(", r"\(")) as caught:
        parse_callback(f"{settings.redirect_uri}?{query.format(state=request.state)}", request)
    if case == "error redirect":
        assert (caught.value.error, caught.value.error_description) == (
            "access_denied",
            "User is not assigned",
        )


def test_a_callback_to_another_address_is_refused(settings):
    request = new_authorization_request(settings)
    with pytest.raises(SignInError, match="expected one starting with"):
        parse_callback(f"http://evil.example/callback?code=abc&state={request.state}", request)


def test_the_password_form_is_found_among_others():
    html = """<form method="get" action="/search"><input name="q"></form>
    <form method="post" action="/signin"><input type="hidden" name="tx" value="t-1">
    <input name="username"><input type="password" name="password">
    <input type="submit" value="Sign in"></form>"""
    form = find_password_form(html)
    assert form["action"] == "/signin" and form["method"] == "post"
    assert [(i["name"], i["type"], i["value"]) for i in form["inputs"]] == [
        ("tx", "hidden", "t-1"),
        ("username", "text", ""),
        ("password", "password", ""),
        ("", "submit", "Sign in"),
    ]
    with pytest.raises(SignInError, match="expected one with a password input"):
        find_password_form('<form><input name="q"></form>')


def test_headless_sign_in_is_refused_against_a_real_okta_org(kit_home, monkeypatch, tmp_path):
    monkeypatch.setenv("OKTA_ORG_URL", "https://example.okta.com")
    settings = load_settings()
    http = KitHTTP(phase="01", log_dir=tmp_path)
    with pytest.raises(
        SignInError, match='OKTA_ORG_URL is "https://example.okta.com", expected the loopback sandbox'
    ):
        sign_in_headless(http, new_authorization_request(settings), settings)
    assert http.exchanges == []


def test_the_loopback_listener_catches_the_redirect_and_answers_a_page(settings):
    request = new_authorization_request(settings)
    listener = LoopbackListener(settings.redirect_uri)
    try:
        page = requests.get(f"{settings.redirect_uri}?code=c-1&state={request.state}", timeout=5)
        assert page.status_code == 200 and "return to the notebook" in page.text
        assert listener.caught.is_set()
        assert parse_callback(listener.url, request).code == "c-1"
        assert (
            requests.get(settings.redirect_uri.replace("/callback", "/other"), timeout=5).status_code == 404
        )
    finally:
        listener.close()


def test_an_interactive_sign_in_finishes_from_the_listener(settings, tmp_path):
    request = new_authorization_request(settings)
    sign_in = start_sign_in(KitHTTP(phase="01", log_dir=tmp_path), request, settings, open_browser=False)
    requests.get(f"{settings.redirect_uri}?code=c-2&state={request.state}", timeout=5)
    callback = sign_in.wait(timeout=5)
    assert (callback.code, callback.how) == ("c-2", "loopback listener")
    assert "waiting up to 300 s" in repr(sign_in)


def test_an_interactive_sign_in_finishes_from_a_pasted_url(settings, tmp_path):
    request = new_authorization_request(settings)
    sign_in = start_sign_in(KitHTTP(phase="01", log_dir=tmp_path), request, settings, open_browser=False)
    sign_in._pasted.value = f"{settings.redirect_uri}?code=c-3&state={request.state}"
    assert sign_in.wait(timeout=5).code == "c-3"
    bundle = sign_in._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and bundle["text/plain"] == repr(sign_in)


def test_an_interactive_sign_in_gives_up_with_a_clear_message(settings, tmp_path):
    request = new_authorization_request(settings)
    sign_in = start_sign_in(KitHTTP(phase="01", log_dir=tmp_path), request, settings, open_browser=False)
    with pytest.raises(SignInError, match="within 1 s.*paste the URL your browser was sent to"):
        sign_in.wait(timeout=1)
    assert sign_in._status.value.startswith("Gave up waiting after 1 s: no redirect reached")
    sign_in.listener.close()
