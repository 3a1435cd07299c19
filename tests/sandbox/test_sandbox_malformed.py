"""Malformed input of any kind gets a 4xx OAuth error body, never a 500."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import pytest
import requests
from sandbox_flows import AGENT, CLIENT_ASSERTION_TYPE, ID_TOKEN_TYPE, TOKEN_EXCHANGE, Signer, jwt_bearer

from sandbox.testing import RunningSandbox


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_of(header: object, claims: object) -> str:
    """A compact JWT with arbitrary JSON (or bytes) in its parts and a dummy signature."""

    def part(value: object) -> str:
        return b64(value if isinstance(value, bytes) else json.dumps(value).encode())

    return f"{part(header)}.{part(claims)}.{b64(b'sig')}"


def form(
    url: str, body: bytes | str, content_type: str = "application/x-www-form-urlencoded"
) -> requests.Response:
    return requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=5)


def assertion_form(token: str) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": "x", "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": token}  # fmt: skip


NOW = int(time.time())
VALID = {"iss": AGENT, "sub": AGENT, "exp": NOW + 60}


def tok(sb: RunningSandbox, data: dict[str, str], **kw: object) -> requests.Response:
    return requests.post(sb.url + "/oauth2/v1/token", data=data, timeout=5, **kw)


def own(sb: RunningSandbox, s: Signer, **claims: object) -> dict[str, str]:
    """A code request authenticated by a real assertion with `claims` changed."""
    return assertion_form(s.assertion(sb.url + "/oauth2/v1/token", **claims))


def odd_subject(sb: RunningSandbox, s: Signer) -> requests.Response:
    return tok(
        sb,
        {
            "grant_type": TOKEN_EXCHANGE,
            "requested_token_type": "urn:ietf:params:oauth:token-type:id-jag",
            "audience": sb.url + "/oauth2/default",
            "scope": "todo.read",
            "subject_token": jwt_of({"alg": "RS256"}, "x"),
            "subject_token_type": ID_TOKEN_TYPE,
            **s.auth(sb.url + "/oauth2/v1/token"),
        },
    )


def api(sb: RunningSandbox, method: str, path: str, **kw: object) -> requests.Response:
    return requests.request(method, sb.url + path, timeout=5, **kw)


ODD: list[tuple[str, Callable[[RunningSandbox, Signer], requests.Response]]] = [
    (
        "a token request with a foreign Host header",
        lambda sb, s: tok(sb, {"grant_type": "authorization_code"}, headers={"Host": "evil.example"}),
    ),
    (
        "an authorize request with a foreign Host header",
        lambda sb, s: api(sb, "GET", "/oauth2/v1/authorize?client_id=x", headers={"Host": "evil.example:80"}),
    ),
    (
        "form body with invalid UTF-8",
        lambda sb, s: form(sb.url + "/oauth2/v1/token", b"grant_type=\xff\xfe&code=\xc3"),
    ),
    (
        "form body with broken percent-encoding",
        lambda sb, s: form(sb.url + "/oauth2/v1/token", "grant_type=%zz%&code=%"),
    ),
    ("multipart body at the token endpoint", lambda sb, s: tok(sb, {}, files={"grant_type": ("a", b"x")})),
    (
        "a client assertion whose header is a JSON array",
        lambda sb, s: tok(sb, assertion_form(jwt_of([1], VALID))),
    ),
    (
        "a client assertion whose alg is a list",
        lambda sb, s: tok(sb, assertion_form(jwt_of({"alg": ["RS256"]}, VALID))),
    ),
    (
        "a client assertion whose header is not JSON",
        lambda sb, s: tok(sb, assertion_form(jwt_of(b"\xff{", VALID))),
    ),
    (
        "a client assertion nested a thousand levels deep",
        lambda sb, s: tok(sb, assertion_form(jwt_of({"alg": "RS256"}, b"[" * 1000 + b"]" * 1000))),
    ),
    (
        "a client assertion whose kid is a number",
        lambda sb, s: tok(sb, assertion_form(jwt_of({"alg": "RS256", "kid": 7}, VALID))),
    ),
    ("a client assertion whose exp is a string", lambda sb, s: tok(sb, own(sb, s, exp="tomorrow"))),
    ("a client assertion whose iss is an object", lambda sb, s: tok(sb, own(sb, s, iss={"a": 1}))),
    ("a client assertion whose jti is a number", lambda sb, s: tok(sb, own(sb, s, jti=5))),
    (
        "basic credentials that are not UTF-8",
        lambda sb, s: tok(
            sb,
            {"grant_type": "authorization_code"},
            headers={"Authorization": "Basic " + base64.b64encode(b"\xff:\xfe").decode()},
        ),
    ),
    ("a subject token whose claims are a JSON string", odd_subject),
    (
        "an ID-JAG whose typ is a number",
        lambda sb, s: jwt_bearer(sb.url, s, jwt_of({"alg": "RS256", "typ": 1}, {})),
    ),
    (
        "a unicode grant type at a custom server",
        lambda sb, s: requests.post(
            sb.url + "/oauth2/default/v1/token", data={"grant_type": "ürn:☃"}, timeout=5
        ),
    ),
    (
        "a bearer header with two tokens",
        lambda sb, s: api(sb, "GET", "/todo-api/me", headers={"Authorization": "Bearer a b"}),
    ),
    (
        "a bearer header with no token",
        lambda sb, s: api(sb, "GET", "/todo-api/me", headers={"Authorization": "Bearer"}),
    ),
    (
        "a to-do that is not JSON",
        lambda sb, s: api(
            sb, "POST", "/todo-api/todos", data="{", headers={"Content-Type": "application/json"}
        ),
    ),
    ("an authorize path with a trailing slash", lambda sb, s: api(sb, "GET", "/oauth2/v1/authorize/")),
    ("a token request with an empty body", lambda sb, s: form(sb.url + "/oauth2/v1/token", b"")),
    ("a DELETE on the API", lambda sb, s: api(sb, "DELETE", "/todo-api/todos")),
    (
        "a sign-in post that is JSON",
        lambda sb, s: api(sb, "POST", "/oauth2/v1/authorize", json={"username": "a"}),
    ),
]


@pytest.mark.parametrize("send", [case[1] for case in ODD], ids=[case[0] for case in ODD])
def test_malformed_input_gets_a_4xx_oauth_answer(sb: RunningSandbox, signer: Signer, send: Callable) -> None:
    before = sb.sandbox.unexpected_errors
    answer = send(sb, signer)
    assert 400 <= answer.status_code < 500, answer.text
    if answer.headers["Content-Type"].startswith("application/json"):
        assert set(answer.json()) == {"error", "error_description"}
    else:  # the authorize endpoint's HTML error page
        assert answer.headers["Content-Type"].startswith("text/html") and 'id="error"' in answer.text
    assert sb.sandbox.unexpected_errors == before
