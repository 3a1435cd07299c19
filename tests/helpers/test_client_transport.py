"""The kit's HTTP session: recording, redaction, cURL rendering, and the plain-http guard."""

from __future__ import annotations

import json

import pytest
from client_support import FAKE_ACCESS_TOKEN

from helpers.core.errors import InsecureTransportError, OAuthError, ResponseError, UnreachableError
from helpers.core.oauth import post_token_request
from helpers.core.transport import BearerAuth, KitHTTP, check_transport, redact_url

ASSERTION = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJhZ2VudC"
    "IsImF1ZCI6InRva2VuIn0.QXNzZXJ0aW9uU2lnbmF0dXJlMTIzNDU2"
)
ID_TOKEN = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6Im9yZyJ9.eyJzdWIiOiIwMHVh"
    "bGljZSIsImF1ZCI6ImFnZW50In0.SWRUb2tlblNpZ25hdHVyZVhZWg"
)
FORM = {
    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
    "subject_token": ID_TOKEN,
    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    "client_assertion": ASSERTION,
    "code": "c0de-THAT-is-long-enough-to-shorten-0123456789",
    "password": "Wonderland-2026!",
}
SECRETS = [ASSERTION, ID_TOKEN, FAKE_ACCESS_TOKEN, FORM["code"], "Wonderland-2026!"]


@pytest.fixture
def http(tmp_path):
    return KitHTTP(phase="02_test", log_dir=tmp_path / "logs")


def test_every_exchange_is_recorded_with_status_form_and_time(http, local_server):
    with http.labelled("Token exchange"):
        http.post(f"{local_server}/token", data=FORM)
    exchange = http.last
    assert (exchange.method, exchange.status, exchange.label) == ("POST", 200, "Token exchange")
    assert exchange.form == FORM
    assert exchange.json["token_type"] == "Bearer"
    assert exchange.elapsed >= 0
    assert exchange.response_headers["Cache-Control"] == "no-store"


def test_no_secret_appears_in_the_redacted_views_or_the_jsonl_log(http, local_server, tmp_path):
    http.post(f"{local_server}/token", data=FORM, auth=BearerAuth(FAKE_ACCESS_TOKEN))
    exchange = http.last
    shown = exchange.text() + exchange._repr_html_() + exchange.curl().display + repr(http.log())
    stored = (tmp_path / "logs" / "02_test.jsonl").read_text()
    for secret in SECRETS:
        assert secret not in shown
        assert secret not in stored
    assert "eyJhbGciOiJS\u2026" in shown  # shortened: first 12 chars, an ellipsis, the last 6
    assert "[hidden]" in stored and "[hidden]" in shown
    record = json.loads(stored.splitlines()[0])
    assert record["form"]["client_assertion"] == ASSERTION[:12] + "\u2026" + ASSERTION[-6:]
    assert record["request_headers"]["Authorization"].startswith("Bearer eyJhbGciOiJS\u2026")
    assert record["response_body"]["access_token"].endswith(FAKE_ACCESS_TOKEN[-6:])


def test_the_replayable_curl_reads_secrets_from_environment_variables(http, local_server):
    http.post(f"{local_server}/token", data=FORM)
    curl = http.last.curl()
    assert '--data-urlencode "client_assertion=$CLIENT_ASSERTION"' in curl.replayable
    assert '--data-urlencode "subject_token=$SUBJECT_TOKEN"' in curl.replayable
    assert '--data-urlencode "password=$PASSWORD"' in curl.replayable
    assert "--data-urlencode 'grant_type=urn:ietf:params:oauth:grant-type:token-exchange'" in curl.replayable
    assert "export CLIENT_ASSERTION=''" in curl.exports and "export SUBJECT_TOKEN=''" in curl.exports
    for secret in SECRETS:
        assert secret not in curl.replayable and secret not in curl.exports and secret not in curl.text()


def test_with_redaction_off_tokens_show_whole_but_passwords_stay_hidden(tmp_path, local_server):
    http = KitHTTP(phase="p", log_dir=tmp_path, redact=False)
    http.post(f"{local_server}/token", data=FORM)
    shown = http.last.text() + http.last.curl().text()
    assert ASSERTION in shown and "Wonderland-2026!" not in shown
    assert ASSERTION not in (tmp_path / "p.jsonl").read_text()


def test_bearer_auth_sends_the_token_in_the_authorization_header(http, local_server):
    response = http.get(f"{local_server}/api/todos", auth=BearerAuth(FAKE_ACCESS_TOKEN))
    assert response.status_code == 200
    assert http.last.request_headers["Authorization"] == f"Bearer {FAKE_ACCESS_TOKEN}"
    assert '-H "Authorization: Bearer $ACCESS_TOKEN"' in http.last.curl().replayable


@pytest.mark.parametrize(
    ("url", "headers", "form"),
    [
        ("http://example.com/oauth2/v1/token", {}, {"client_assertion": "x"}),
        ("http://example.com/api", {"Authorization": "Bearer abc"}, None),
        ("http://10.0.0.5/oauth2/v1/token", {}, {"subject_token": "x"}),
        ("http://example.com/signin", {}, {"password": "x"}),
    ],
    ids=[
        "assertion_to_remote_http",
        "bearer_to_remote_http",
        "subject_token_to_private_ip",
        "password_to_remote_http",
    ],
)
def test_credentials_over_plain_http_to_a_remote_host_are_refused(url, headers, form):
    with pytest.raises(InsecureTransportError, match="expected https://"):
        check_transport(url, headers, form)


@pytest.mark.parametrize(
    "url",
    ["https://example.com/token", "http://127.0.0.1:8400/token", "http://localhost/token", "http://[::1]/t"],
)
def test_credentials_over_https_or_to_loopback_are_allowed(url):
    check_transport(url, {"Authorization": "Bearer abc"}, {"client_assertion": "x"})


def test_the_guard_raises_before_anything_is_sent(http):
    with pytest.raises(InsecureTransportError):
        http.post("http://example.invalid/oauth2/v1/token", data={"client_assertion": "x"})
    assert http.exchanges == []


def test_an_unreachable_server_is_named(http):
    with pytest.raises(UnreachableError, match="127.0.0.1:9"):
        http.get("http://127.0.0.1:9/nothing")


def test_default_timeouts_are_applied(http):
    assert http.timeout == (5.0, 30.0)


def test_an_oauth_error_keeps_error_description_status_and_exchange(http, local_server):
    with pytest.raises(OAuthError) as caught:
        post_token_request(
            http, f"{local_server}/error", {"grant_type": "x"}, signer=None, label="Token exchange"
        )
    error = caught.value
    assert (error.error, error.status) == ("invalid_client", 401)
    assert error.error_description == "The client_assertion token is expired."
    assert error.exchange is http.last and "Token exchange: HTTP 401 invalid_client" in str(error)


def test_an_html_answer_to_a_token_request_names_what_was_expected(http, local_server):
    with pytest.raises(ResponseError, match='Content-Type "text/html", expected a JSON object') as caught:
        post_token_request(http, f"{local_server}/html", {"grant_type": "x"}, signer=None)
    assert caught.value.status == 200


def test_a_code_in_a_redirect_url_is_shortened():
    url = "http://127.0.0.1:8765/callback?code=abcdefghijklmnopqrstuvwxyz0123&state=s1"
    assert redact_url(url) == "http://127.0.0.1:8765/callback?code=abcdefghijkl\u2026yz0123&state=s1"
