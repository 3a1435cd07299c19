"""The sandbox's admin API: SSWS-protected like the System Log, Okta's error object, checked bodies."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from ras_support import AGENT

from sandbox.testing import RunningSandbox

CONNECTIONS = "/api/v1/sandbox/resource-connections"
ID_JAGS = "/api/v1/sandbox/id-jags"
EXTERNAL = {"client_id": AGENT, "audience": "http://127.0.0.1:9000", "scopes": ["a"]}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", CONNECTIONS), ("POST", CONNECTIONS), ("DELETE", CONNECTIONS + "/agent-todo"), ("POST", ID_JAGS)],
)
@pytest.mark.parametrize(
    "authorization",
    [None, "SSWS", "SSWS 00notTheToken0000000000000000000000000000", "Bearer {token}", "Basic {token}"],
)
def test_without_the_api_token_every_endpoint_is_401_with_okta_s_error_object(
    sb: RunningSandbox, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization.format(token=sb.api_token)} if authorization else {}
    answer = requests.request(
        method, sb.url + path, headers=headers, json={"audience": "http://127.0.0.1:9000"}, timeout=5
    )
    assert answer.status_code == 401
    body = answer.json()
    assert (body["errorCode"], body["errorSummary"], body["errorLink"]) == (
        "E0000011",
        "Invalid token provided",
        "E0000011",
    )
    assert body["errorId"].startswith("oae") and body["errorCauses"] == []
    assert "error" not in body  # not an OAuth error body


def ssws(sb: RunningSandbox) -> dict[str, str]:
    return {"Authorization": f"SSWS {sb.api_token}"}


@pytest.mark.parametrize(
    ("path", "body", "field", "cause"),
    [
        (CONNECTIONS, "not json", "body", 'the body is "text/plain", expected application/json'),
        (CONNECTIONS, [], "body", "the body is not a JSON object"),
        (CONNECTIONS, {"client_id": AGENT, "audience": "x", "scopes": ["a"], "extra": 1}, "extra", "unknown"),
        (CONNECTIONS, {"client_id": "nobody", "audience": "http://127.0.0.1:9000", "scopes": ["a"]},
         "connection.client_id", "not a configured client"),
        (CONNECTIONS, {"client_id": AGENT, "audience": "not-a-url", "scopes": ["a"]},
         "connection.audience", "expected an absolute http(s) URL"),
        (CONNECTIONS, dict(EXTERNAL, name="no/slash"), "connection", "expected 1-64 letters"),
        (CONNECTIONS, dict(EXTERNAL, name="agent-todo"), "name", "is a configured connection"),
        (ID_JAGS, {}, "audience", "audience is required"),
        (ID_JAGS, {"audience": 5}, "audience", "audience is not a string"),
        (ID_JAGS, {"audience": "x", "claims": []}, "claims", "claims is not a JSON object"),
        (ID_JAGS, {"audience": "x", "header": {"alg": "none"}}, "header", "alg stays RS256"),
        (ID_JAGS, {"audience": "x", "kind": "id_token"}, "kind", "unknown member(s) ['kind']"),
    ],
)  # fmt: skip
def test_bad_bodies_are_400_naming_the_field(
    sb: RunningSandbox, path: str, body: Any, field: str, cause: str
) -> None:
    if isinstance(body, str):
        answer = requests.post(
            sb.url + path, data=body, headers={**ssws(sb), "Content-Type": "text/plain"}, timeout=5
        )
    else:
        answer = requests.post(sb.url + path, json=body, headers=ssws(sb), timeout=5)
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert (error["errorCode"], error["errorSummary"]) == ("E0000001", f"Api validation failed: {field}")
    assert cause in error["errorCauses"][0]["errorSummary"]


def test_an_audience_the_sandbox_hosts_is_not_external(sb: RunningSandbox) -> None:
    for audience in (sb.url, sb.url + "/oauth2/default"):
        body = {"client_id": AGENT, "audience": audience, "scopes": ["todo.read"]}
        answer = requests.post(sb.url + CONNECTIONS, json=body, headers=ssws(sb), timeout=5)
        assert answer.status_code == 400 and "not external" in answer.json()["errorCauses"][0]["errorSummary"]


def test_removing_an_unknown_or_configured_connection_is_404(sb: RunningSandbox) -> None:
    for name in ("nope", "agent-todo"):
        answer = requests.delete(f"{sb.url}{CONNECTIONS}/{name}", headers=ssws(sb), timeout=5)
        assert answer.status_code == 404 and answer.json()["errorCode"] == "E0000007"


def test_minting_defaults_are_the_token_exchange_s_claims(sb: RunningSandbox) -> None:
    before = int(time.time())
    answer = requests.post(
        sb.url + ID_JAGS,
        json={"audience": "http://127.0.0.1:9000", "scope": "notes.read"},
        headers=ssws(sb),
        timeout=5,
    )
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    org_key = sb.sandbox.keys.org
    assert body["header"] == {"alg": "RS256", "kid": org_key.kid, "typ": "oauth-id-jag+jwt"}
    claims = body["claims"]
    assert (
        claims["iss"] == sb.url
        and claims["aud"] == "http://127.0.0.1:9000"
        and claims["scope"] == "notes.read"
    )
    assert claims["client_id"] == AGENT and claims["sub"] == "00uA1iceL1dde11Demo1"
    assert claims["exp"] - claims["iat"] == 300 and claims["iat"] >= before and len(claims["jti"]) >= 32
    from joserfc import jwt as joserfc_jwt

    decoded = joserfc_jwt.decode(body["token"], org_key.public_key, algorithms=["RS256"])
    assert decoded.claims == claims and decoded.header == body["header"]


def test_minting_overrides_set_and_remove_claims_and_header_members(sb: RunningSandbox) -> None:
    request = {
        "audience": "http://127.0.0.1:9000",
        "claims": {"aud": ["a", "b"], "jti": None, "exp": "soon"},
        "header": {"typ": None, "kid": "not-a-key"},
    }
    body = requests.post(sb.url + ID_JAGS, json=request, headers=ssws(sb), timeout=5).json()
    assert body["header"] == {"alg": "RS256", "kid": "not-a-key"}
    assert (
        body["claims"]["aud"] == ["a", "b"]
        and "jti" not in body["claims"]
        and body["claims"]["exp"] == "soon"
    )
