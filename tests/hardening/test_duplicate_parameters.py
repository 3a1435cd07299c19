"""Parameters sent twice: refused with Okta's exact error wherever they arrive, never "the first one wins".

- RFC 6749 §3.1, §3.2: request and response parameters MUST NOT be included more than once
- RFC 8693 §2.1 / RFC 8707 §2: `audience` and `resource` may repeat; the sandbox serves one of each
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from hardening_support import (
    AGENT,
    ID_JAG_TYPE,
    ID_TOKEN_TYPE,
    JWT_BEARER,
    REDIRECT_URI,
    TOKEN_EXCHANGE,
    assert_refusal,
    code_for_tokens,
    sign_in,
)

Pairs = list[tuple[str, str]]


@pytest.fixture(scope="module")
def id_token(hsb, signer) -> str:
    answer = code_for_tokens(hsb.url, signer, sign_in(hsb.url))
    return answer.json()["id_token"]


def exchange_pairs(sb, signer, id_token: str, *extra: tuple[str, str]) -> Pairs:
    token_url = sb.url + "/oauth2/v1/token"
    pairs = [
        ("grant_type", TOKEN_EXCHANGE),
        ("requested_token_type", ID_JAG_TYPE),
        ("audience", sb.url + "/oauth2/default"),
        ("scope", "todo.read"),
        ("subject_token", id_token),
        ("subject_token_type", ID_TOKEN_TYPE),
        *signer.auth(token_url).items(),
    ]
    return pairs + list(extra)


def doubled(pairs: Pairs, name: str, value: str | None = None) -> Pairs:
    first = next(v for k, v in pairs if k == name)
    return [*pairs, (name, first if value is None else value)]


CASES: list[tuple[str, Callable[..., tuple[str, Pairs]], int, str, str]] = [
    (
        "grant_type twice",
        lambda sb, s, t: ("/oauth2/v1/token", doubled(exchange_pairs(sb, s, t), "grant_type")),
        400,
        "invalid_request",
        "illegal_duplicated_parameters",
    ),
    (
        "subject_token twice, the second another value",
        lambda sb, s, t: ("/oauth2/v1/token", doubled(exchange_pairs(sb, s, t), "subject_token", "x.y.z")),
        400,
        "invalid_request",
        "illegal_duplicated_parameters",
    ),
    (
        "client_assertion twice",
        lambda sb, s, t: ("/oauth2/v1/token", doubled(exchange_pairs(sb, s, t), "client_assertion")),
        400,
        "invalid_request",
        "illegal_duplicated_parameters",
    ),
    (
        "scope twice",
        lambda sb, s, t: ("/oauth2/v1/token", doubled(exchange_pairs(sb, s, t), "scope", "todo.write")),
        400,
        "invalid_request",
        "illegal_duplicated_parameters",
    ),
    (
        "audience twice",
        lambda sb, s, t: ("/oauth2/v1/token", doubled(exchange_pairs(sb, s, t), "audience")),
        400,
        "invalid_target",
        "token_exchange_invalid_audience",
    ),
    (
        "resource twice",
        lambda sb, s, t: (
            "/oauth2/v1/token",
            exchange_pairs(sb, s, t, ("resource", sb.url + "/todo-api"), ("resource", sb.url + "/todo-api")),
        ),
        400,
        "invalid_target",
        "too_many_resources",
    ),
    (
        "assertion twice at the custom server",
        lambda sb, s, t: (
            "/oauth2/default/v1/token",
            [
                ("grant_type", JWT_BEARER),
                ("assertion", "a.b.c"),
                ("assertion", "a.b.c"),
                *s.auth(sb.url + "/oauth2/default/v1/token").items(),
            ],
        ),
        400,
        "invalid_request",
        "illegal_duplicated_parameters",
    ),
    (
        "code twice in the authorization code grant",
        lambda sb, s, t: (
            "/oauth2/v1/token",
            [
                ("grant_type", "authorization_code"),
                ("code", "one"),
                ("code", "two"),
                ("redirect_uri", REDIRECT_URI),
                *s.auth(sb.url + "/oauth2/v1/token").items(),
            ],
        ),
        400,
        "invalid_request",
        "illegal_duplicated_parameters",
    ),
]


@pytest.mark.parametrize(
    ("make", "status", "error", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_parameter_sent_twice_is_refused_with_its_exact_error(
    hsb, signer, id_token, make, status, error, code
):
    path, pairs = make(hsb, signer, id_token)
    answer = requests.post(hsb.url + path, data=pairs, timeout=10)
    assert_refusal(answer, status, error, code)


def test_two_authorization_headers_at_the_api_are_an_invalid_token(hsb) -> None:
    connection = http.client.HTTPConnection(*hsb.address, timeout=10)
    try:
        connection.putrequest("GET", "/todo-api/me")
        connection.putheader("Authorization", "Bearer aaa.bbb.ccc")
        connection.putheader("Authorization", "Bearer ddd.eee.fff")
        connection.endheaders()
        answer = connection.getresponse()
        status, body = answer.status, json.loads(answer.read())
    finally:
        connection.close()
    assert status == 401
    assert body["error"] == "invalid_token"


def test_state_twice_at_authorize_is_redirected_as_illegal_duplicated_parameters(hsb) -> None:
    params = [
        ("response_type", "code"),
        ("client_id", AGENT),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid"),
        ("state", "one"),
        ("state", "two"),
        ("nonce", "n"),
        ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
        ("code_challenge_method", "S256"),
    ]
    answer = requests.get(hsb.url + "/oauth2/v1/authorize", params=params, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert answer.headers["Location"].startswith(REDIRECT_URI + "?")
    assert query["error"] == ["invalid_request"]
    assert query["error_description"] == [
        "Duplicate parameter provided in request. Duplicated parameters: [state]."
    ]


def test_client_id_twice_at_authorize_is_an_error_page_not_a_redirect(hsb) -> None:
    params = [("client_id", AGENT), ("client_id", "0oaOtherWebApp000001"), ("redirect_uri", REDIRECT_URI)]
    answer = requests.get(hsb.url + "/oauth2/v1/authorize", params=params, allow_redirects=False, timeout=10)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "Location" not in answer.headers
