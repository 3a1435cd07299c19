"""The helpers facing a server that answers what the sandbox never would: each a clear error or failed check.

- RFC 6749 §5.1 / §5.2 (a token response is a JSON object; an error has `error`)
- RFC 8693 §2.2.1, ID-JAG -04 §4.3 (`issued_token_type` is the id-jag type, `token_type` is N_A)
- RFC 7515 §5.2 (a signature that does not verify with the key its `kid` names fails)

A tiny local HTTP server plays the misbehaving authorization server; the helpers run the same
functions the notebooks and `helpers.flow` call.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hardening_support import AGENT, AgentKey, forge

from helpers.core.client_assertion import ClientAssertionSigner
from helpers.core.errors import OAuthError, ResponseError, TokenValidationError
from helpers.core.oauth import post_token_request
from helpers.core.transport import KitHTTP
from helpers.jwt_bearer import check_access_token, check_bearer_response
from helpers.signin import check_id_token
from helpers.token_exchange import check_exchange_response, check_id_jag, token_exchange_form

ISSUER_PATH = ""  # the fake org's issuer is its base URL
ID_JAG_TYPE = "urn:ietf:params:oauth:token-type:id-jag"


def _claims(issuer: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer, "sub": "00uAlice", "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), **extra}


class FakeOrg:
    """What each path of the fake server answers: (status, content type, body)."""

    def __init__(self, org: AgentKey, stranger: AgentKey) -> None:
        self.org = org
        self.stranger = stranger
        self.url = ""

    def id_jag(self, *, key: AgentKey) -> str:
        claims = _claims(self.url, aud=self.url + "/oauth2/default", client_id=AGENT, scope="todo.read")
        header = {"alg": "RS256", "kid": self.org.kid, "typ": "oauth-id-jag+jwt"}
        return forge(header, claims, key.private_key)

    def exchange(self, **changes: Any) -> dict[str, Any]:
        body = {
            "issued_token_type": ID_JAG_TYPE,
            "access_token": self.id_jag(key=self.org),
            "token_type": "N_A",
            "expires_in": 300,
            "scope": "todo.read",
        }
        body.update(changes)
        return {k: v for k, v in body.items() if v is not None}

    def answer(self, path: str) -> tuple[int, str, bytes]:
        as_json = "application/json"
        routes: dict[str, tuple[int, str, Any]] = {
            "/html": (
                200,
                "text/html; charset=utf-8",
                "<!doctype html><html><body>Sign in to Okta</body></html>",
            ),
            "/html-502": (502, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>"),
            "/json-array": (200, as_json, ["access_token"]),
            "/empty-400": (400, as_json, {}),
            "/error": (
                400,
                as_json,
                {"error": "invalid_grant", "error_description": "The id-jag was already used."},
            ),
            "/no-issued-token-type": (200, as_json, self.exchange(issued_token_type=None)),
            "/token-type-bearer": (200, as_json, self.exchange(token_type="Bearer")),
            "/forged-id-jag": (200, as_json, self.exchange(access_token=self.id_jag(key=self.stranger))),
            "/keys": (200, as_json, {"keys": [dict(self.org.public_jwk)]}),
        }
        status, content_type, body = routes.get(path, (404, as_json, {"error": "not_found"}))
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        return status, content_type, data


@pytest.fixture(scope="module")
def fake(agent_key: AgentKey, stranger_key: AgentKey) -> Iterator[FakeOrg]:
    org = FakeOrg(agent_key, stranger_key)

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, content_type, data = org.answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve  # noqa: N815

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    org.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield org
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def send(fake: FakeOrg, second_agent: AgentKey):
    """POST a token exchange to a path of the fake server through the helpers."""
    http = KitHTTP(phase="hardening")
    signer = ClientAssertionSigner(AGENT, second_agent)

    def post(path: str):
        form = token_exchange_form(
            subject_token="a.b.c", audience=fake.url + "/oauth2/default", scopes="todo.read"
        )
        return post_token_request(
            http, fake.url + path, form, signer=signer, label="Token exchange (RFC 8693)"
        )

    return post


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/html", "text/html; charset=utf-8"), ("/html-502", "text/html"), ("/json-array", "application/json")],
)
def test_an_answer_that_is_not_a_json_object_is_a_response_error_naming_it(send, path, content_type) -> None:
    with pytest.raises(ResponseError) as caught:
        send(path)
    message = str(caught.value)
    assert f'Content-Type "{content_type}"' in message
    assert "expected a JSON object (RFC 6749 §5.1)" in message
    assert not isinstance(caught.value, OAuthError)


def test_a_non_200_json_answer_without_error_is_a_response_error(send) -> None:
    with pytest.raises(
        ResponseError, match=r'HTTP 400 without an "error" member, expected 200 or an OAuth error body'
    ):
        send("/empty-400")


def test_an_oauth_error_body_keeps_its_error_and_description(send) -> None:
    with pytest.raises(OAuthError) as caught:
        send("/error")
    assert (caught.value.error, caught.value.error_description, caught.value.status) == (
        "invalid_grant",
        "The id-jag was already used.",
        400,
    )


@pytest.mark.parametrize(
    ("path", "check", "expected", "received"),
    [
        ("/no-issued-token-type", '"issued_token_type"', ID_JAG_TYPE, "(none)"),
        ("/token-type-bearer", '"token_type"', "N_A", "Bearer"),
    ],
)
def test_a_token_exchange_answer_of_the_wrong_shape_fails_the_check_naming_what_was_expected(
    send, path, check, expected, received
) -> None:
    response = send(path)
    checks = check_exchange_response(response)
    assert [c.name for c in checks.failed] == [check]
    with pytest.raises(TokenValidationError) as caught:
        checks.raise_if_failed()
    assert (caught.value.check, caught.value.expected, caught.value.received) == (check, expected, received)
    assert f'{check} is "{received}", expected "{expected}"' in str(caught.value)


def test_an_id_jag_whose_signature_does_not_verify_fails_only_the_signature_check(
    send, fake: FakeOrg
) -> None:
    response = send("/forged-id-jag")
    assert check_exchange_response(response).ok
    checks = check_id_jag(
        response["access_token"],
        jwks={"keys": [dict(fake.org.public_jwk)]},
        issuer=fake.url,
        audience=fake.url + "/oauth2/default",
        client_id=AGENT,
        subject="00uAlice",
        requested_scopes="todo.read",
    )
    assert [c.name for c in checks.failed] == ["signature"]
    row = checks["signature"]
    assert row.expected == "verifies with the org key named by kid"
    assert f'ID-JAG signature does not verify with key "{fake.org.kid}"' in row.received
    with pytest.raises(TokenValidationError, match=r"ID-JAG checks: signature is .*expected \"verifies with"):
        checks.raise_if_failed()


def test_an_id_token_and_an_access_token_with_forged_signatures_fail_their_signature_checks(
    fake: FakeOrg, stranger_key: AgentKey
) -> None:
    jwks = {"keys": [dict(fake.org.public_jwk)]}
    header = {"alg": "RS256", "kid": fake.org.kid}
    id_token = forge(header, _claims(fake.url, aud=AGENT, nonce="n"), stranger_key.private_key)
    id_checks = check_id_token(id_token, jwks=jwks, issuer=fake.url, client_id=AGENT, nonce="n")
    assert [c.name for c in id_checks.failed] == ["signature"]
    access = forge(
        header,
        _claims(
            fake.url + "/oauth2/default", aud="api://default", cid=AGENT, uid="00uAlice", scp=["todo.read"]
        ),
        stranger_key.private_key,
    )
    at_checks = check_access_token(
        access,
        jwks=jwks,
        issuer=fake.url + "/oauth2/default",
        client_id=AGENT,
        id_jag_claims={"sub": "00uAlice", "scope": "todo.read"},
        audience="api://default",
    )
    assert [c.name for c in at_checks.failed] == ["signature"]
    assert "access token signature does not verify" in at_checks["signature"].received


def test_a_bearer_answer_with_token_type_n_a_fails_the_token_type_check() -> None:
    checks = check_bearer_response(
        {"token_type": "N_A", "access_token": "eyJ.a.b", "expires_in": 3600, "scope": "todo.read"},
        headers={"Cache-Control": "no-store"},
    )
    assert [(c.name, c.expected, c.received) for c in checks.failed] == [('"token_type"', "Bearer", "N_A")]
