"""Okta's own Python libraries against the HTTPS sandbox, told only which CA to trust.

- okta-jwt-verifier 0.5.0 (pinned): refuses any issuer that is not https, so it never ran against the
  plain-HTTP sandbox. It verifies in a fresh interpreter (tests/okta_mode/verifier_probe.py), given one
  environment variable: its async path fetches keys with aiohttp, which reads SSL_CERT_FILE; its sync
  path with requests, which reads REQUESTS_CA_BUNDLE. It has no option of its own for a CA.
- okta-client-python 0.3.0 (pinned): its HTTP is urllib's, which reads SSL_CERT_FILE per connection.

The rows pin what these versions accept and refuse, exactly; docs/okta-mode.md explains them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import URLError

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from okta_client.authfoundation import OAuth2Client, OAuth2ClientConfiguration
from okta_client.authfoundation.key_provider import LocalKeyProvider
from okta_client.authfoundation.oauth2.client_authorization import ClientAssertionAuthorization
from okta_client.authfoundation.oauth2.jwt_bearer_claims import JWTBearerClaims
from okta_client.oauth2auth.authorization_code import AuthorizationCodeFlow
from okta_client.oauth2auth.cross_app import CrossAppAccessFlow, CrossAppAccessTarget
from okta_jwt_verifier import AccessTokenVerifier, IDTokenVerifier
from okta_jwt_verifier.exceptions import JWTInvalidConfigException
from okta_mode_support import clean_environment, run_python
from sandbox_flows import (
    AGENT,
    ALICE,
    ALICE_ID,
    REDIRECT_URI,
    Signer,
    code_for_tokens,
    decode_unverified,
    jwt_bearer,
    sign_in,
    submit_sign_in,
    token_exchange,
)

from helpers.core.keys import AgentKey
from sandbox.testing import RunningSandbox

VERIFY_FAILED = (
    "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate"
)


@dataclass(frozen=True)
class Tokens:
    id_token: str
    nonce: str
    id_jag: str
    access_token: str


@pytest.fixture(scope="module")
def tokens(tls_sb: RunningSandbox, signer: Signer) -> Tokens:
    """Steps 1 to 3 by the test's own client (it trusts the sandbox's CA through REQUESTS_CA_BUNDLE)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", str(tls_sb.ca_file))
        grant = sign_in(tls_sb.url)
        step1 = code_for_tokens(tls_sb.url, signer, grant)
        assert step1.status_code == 200, step1.text
        id_token = step1.json()["id_token"]
        step2 = token_exchange(tls_sb.url, signer, id_token)
        assert step2.status_code == 200, step2.text
        step3 = jwt_bearer(tls_sb.url, signer, step2.json()["access_token"])
        assert step3.status_code == 200, step3.text
    return Tokens(id_token, grant.nonce, step2.json()["access_token"], step3.json()["access_token"])


# --- okta-jwt-verifier ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    name: str
    kind: str  # "id": IDTokenVerifier; "access": AccessTokenVerifier
    token: str  # which of Tokens
    issuer: str  # "{org}" is the org URL
    audience_or_client: str
    nonce: str | None  # "nonce": the sign-in's nonce
    error: str | None  # None: accepted


CUSTOM = "{org}/oauth2/default"
VERIFICATIONS = [
    # What the kit's flow needs verified: each token with the verifier its kind calls for.
    Verification("ID token: IDTokenVerifier(org, client_id=agent)", "id", "id_token", "{org}", AGENT,
                 "nonce", None),
    Verification("ID-JAG: AccessTokenVerifier(org, audience=custom server's issuer)", "access", "id_jag",
                 "{org}", CUSTOM, None, None),
    Verification("access token: AccessTokenVerifier({org}/oauth2/default, api://default)", "access",
                 "access_token", CUSTOM, "api://default", None, None),
    # It checks iss, aud (or client_id), exp, nonce, alg RS256 and the signature; nothing else.
    Verification("ID token with another nonce", "id", "id_token", "{org}", AGENT, "another-nonce",
                 'JWTValidationException: Claim "nonce" is invalid.'),
    Verification("ID token for another client", "id", "id_token", "{org}", "0oaOtherClient", "nonce",
                 'JWTValidationException: Claim "aud" does not match Client ID.'),
    Verification("ID-JAG as an access token of the custom server", "access", "id_jag", CUSTOM, "api://default",
                 None, "JWTValidationException: Invalid issuer"),
    Verification("ID-JAG with the custom server's audience api://default", "access", "id_jag", "{org}",
                 "api://default", None, "JWTValidationException: Audience doesn't match"),
    Verification("access token as an ID-JAG (issuer org)", "access", "access_token", "{org}", CUSTOM, None,
                 "JWTValidationException: Invalid issuer"),
    Verification("ID-JAG as an ID token", "id", "id_jag", "{org}", AGENT, None,
                 'JWTValidationException: Claim "aud" does not match Client ID.'),
    # No `typ` check: an ID token passes as an access token whose audience is the client.
    Verification("ID token as an access token for audience=agent (typ not checked)", "access", "id_token",
                 "{org}", AGENT, None, None),
]  # fmt: skip


def verifier_cases(verifications: list[Verification], tokens: Tokens, org: str) -> list[dict[str, Any]]:
    cases = []
    for v in verifications:
        case = {
            "name": v.name,
            "kind": v.kind,
            "issuer": v.issuer.format(org=org),
            "token": getattr(tokens, v.token),
            "nonce": tokens.nonce if v.nonce == "nonce" else v.nonce,
        }
        case["client_id" if v.kind == "id" else "audience"] = v.audience_or_client.format(org=org)
        cases.append(case)
    return cases


@pytest.mark.parametrize(("mode", "variable"), [("async", "SSL_CERT_FILE"), ("sync", "REQUESTS_CA_BUNDLE")])
def test_okta_jwt_verifier_accepts_and_refuses_as_the_table_says(
    tls_sb: RunningSandbox, tokens: Tokens, mode: str, variable: str
) -> None:
    results = run_python(
        "verifier_probe.py",
        {"mode": mode, "cases": verifier_cases(VERIFICATIONS, tokens, tls_sb.url)},
        clean_environment(**{variable: tls_sb.ca_file}),
    )
    assert [(r["name"], r["error"]) for r in results] == [(v.name, v.error) for v in VERIFICATIONS]
    assert [r["accepted"] for r in results] == [v.error is None for v in VERIFICATIONS]


AIOHTTP_REFUSAL = "Cannot connect to host 127.0.0.1:{port} ssl:True [SSLCertVerificationError: (1, '"
REQUESTS_REFUSAL = (
    "HTTPSConnectionPool(host='127.0.0.1', port={port}): Max retries exceeded with url: /oauth2/v1/keys"
)
#: (mode, the one variable set, how the refusal starts): each path ignores the other's variable.
CA_ROUTES = [
    ("async", {}, AIOHTTP_REFUSAL + VERIFY_FAILED),
    ("async", {"REQUESTS_CA_BUNDLE": "ca"}, AIOHTTP_REFUSAL + VERIFY_FAILED),
    ("sync", {}, REQUESTS_REFUSAL),
    ("sync", {"SSL_CERT_FILE": "ca"}, REQUESTS_REFUSAL),
]


@pytest.mark.parametrize(
    ("mode", "trust", "error"), CA_ROUTES, ids=[f"{r[0]}-{list(r[1]) or 'nothing'}" for r in CA_ROUTES]
)
def test_okta_jwt_verifier_reaches_the_keys_only_with_the_variable_its_http_client_reads(
    tls_sb: RunningSandbox, tokens: Tokens, mode: str, trust: dict[str, str], error: str
) -> None:
    (result,) = run_python(
        "verifier_probe.py",
        {"mode": mode, "cases": verifier_cases(VERIFICATIONS[:1], tokens, tls_sb.url)},
        clean_environment(**{name: tls_sb.ca_file for name in trust}),
    )
    assert result["accepted"] is False
    assert result["error"].startswith("JWTValidationException: " + error.format(port=tls_sb.address[1]))
    assert "CERTIFICATE_VERIFY_FAILED" in result["error"]


@pytest.mark.parametrize(
    "make", [IDTokenVerifier, AccessTokenVerifier], ids=["IDTokenVerifier", "AccessTokenVerifier"]
)
def test_okta_jwt_verifier_refuses_a_plain_http_org_outright(make: Any) -> None:
    with pytest.raises(JWTInvalidConfigException) as refused:
        make(issuer="http://127.0.0.1:8400")
    assert str(refused.value) == "Your Okta URL must start with 'https'."


# --- okta-client-python -----------------------------------------------------------------------------------


def sdk_client(org: str, agent: AgentKey, **config: Any) -> OAuth2Client:
    """The agent as an okta-client-python client of the org server: private_key_jwt signed by the SDK."""
    pem = agent.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    auth = ClientAssertionAuthorization(
        assertion_claims=JWTBearerClaims(
            issuer=AGENT, subject=AGENT, audience=org + "/oauth2/v1/token", expires_in=60
        ),
        key_provider=LocalKeyProvider.from_pem(pem, algorithm=agent.alg, key_id=agent.kid),
    )
    return OAuth2Client(
        configuration=OAuth2ClientConfiguration(issuer=org, client_authorization=auth, **config)
    )


@pytest.fixture
def sdk_trusts_ca(tls_sb: RunningSandbox, no_trust_env: None, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The SDK's only configuration of trust: SSL_CERT_FILE (urllib reads it for each connection)."""
    assert tls_sb.ca_file is not None
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_sb.ca_file))
    return tls_sb.ca_file


def test_the_sdk_signs_the_user_in_on_the_https_org(
    tls_sb: RunningSandbox, agent_key: AgentKey, sdk_trusts_ca: Path
) -> None:
    flow = AuthorizationCodeFlow(
        sdk_client(tls_sb.url, agent_key, redirect_uri=REDIRECT_URI, scope=["openid", "profile", "email"])
    )

    async def run() -> Any:
        url = await flow.start()
        assert url.startswith(tls_sb.url + "/oauth2/v1/authorize?")
        with requests.Session() as browser:  # the person's browser, told the CA explicitly
            browser.verify = str(sdk_trusts_ca)
            page = browser.get(url, timeout=10)
            answer = submit_sign_in(browser, page.url, page.text, *ALICE)
        assert answer.status_code == 302, answer.text
        return await flow.resume(answer.headers["Location"])  # the SDK checks state, nonce, iss, aud

    token = asyncio.run(run())
    _, claims = decode_unverified(token.id_token.raw)
    assert (claims["iss"], claims["aud"], claims["sub"]) == (tls_sb.url, AGENT, ALICE_ID)


def test_the_sdks_cross_app_flow_runs_on_the_https_org(
    tls_sb: RunningSandbox, agent_key: AgentKey, tokens: Tokens, sdk_trusts_ca: Path
) -> None:
    flow = CrossAppAccessFlow(
        sdk_client(tls_sb.url, agent_key), target=CrossAppAccessTarget(issuer=tls_sb.url + "/oauth2/default")
    )

    async def run() -> Any:
        await flow.start(token=tokens.id_token, scope=["todo.read"])
        return flow.context.id_jag_token, await flow.resume()

    id_jag, access = asyncio.run(run())
    header, claims = decode_unverified(id_jag.access_token)
    assert header["typ"] == "oauth-id-jag+jwt"
    assert (claims["iss"], claims["aud"]) == (tls_sb.url, tls_sb.url + "/oauth2/default")
    assert access.token_type.value == "Bearer" and access.scope == ["todo.read"]
    _, at = decode_unverified(access.access_token)
    assert (at["iss"], at["cid"], at["uid"]) == (tls_sb.url + "/oauth2/default", AGENT, ALICE_ID)
    api = requests.get(
        tls_sb.url + "/todo-api/todos",
        headers={"Authorization": f"Bearer {access.access_token}"},
        verify=str(sdk_trusts_ca),
        timeout=10,
    )
    assert api.status_code == 200, api.text


def test_without_the_ca_the_sdk_stops_at_the_certificate(
    tls_sb: RunningSandbox,
    agent_key: AgentKey,
    tokens: Tokens,
    no_trust_env: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    flow = CrossAppAccessFlow(
        sdk_client(tls_sb.url, agent_key), target=CrossAppAccessTarget(issuer=tls_sb.url + "/oauth2/default")
    )
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with pytest.raises(URLError) as refused:
            asyncio.run(flow.start(token=tokens.id_token, scope=["todo.read"]))
        said = str(refused.value)
        # 0.3.0 may also leave its metadata fetch task's exception unretrieved (it depends on which of
        # its requests fails first); asyncio logs that when the task is collected. Collected here, not
        # at some later moment inside another library's code.
        del flow, refused
        gc.collect()
    assert said.startswith("<urlopen error " + VERIFY_FAILED)
    logged = [r.getMessage().splitlines() for r in caplog.records if r.name == "asyncio"]
    assert len(logged) <= 1
    for lines in logged:
        assert lines[0] == "Task exception was never retrieved"
        assert "coro=<OAuth2Client.fetch_oauth_server_metadata() done" in lines[1]
        assert VERIFY_FAILED in lines[1]
