"""Fidelity with Okta's own client: okta-client-python runs the flow against the sandbox.

The SDK's `AuthorizationCodeFlow` signs the user in and validates the ID token, and its
`CrossAppAccessFlow` does steps 2 and 3 (token exchange for an ID-JAG, then the JWT bearer grant),
with the agent's `private_key_jwt` built by the SDK itself. Nothing in the sandbox knows which client
calls it. Refusals reach the SDK's `OAuth2Error` with Okta's `error` and `error_description`,
read here from the copied catalog by Okta's internal error code.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from okta_client.authfoundation import OAuth2Client, OAuth2ClientConfiguration
from okta_client.authfoundation.key_provider import LocalKeyProvider
from okta_client.authfoundation.oauth2.client_authorization import (
    ClientAssertionAuthorization,
    ClientSecretAuthorization,
)
from okta_client.authfoundation.oauth2.errors import OAuth2Error
from okta_client.authfoundation.oauth2.jwt_bearer_claims import JWTBearerClaims
from okta_client.oauth2auth.authorization_code import AuthorizationCodeContext, AuthorizationCodeFlow
from okta_client.oauth2auth.cross_app import CrossAppAccessFlow, CrossAppAccessTarget
from sandbox_flows import (
    AGENT,
    ALICE,
    ALICE_ID,
    REDIRECT_URI,
    Signer,
    code_for_tokens,
    decode_unverified,
    sign_in,
    submit_sign_in,
    verify_with_jwks,
)

from helpers.core.keys import AgentKey, save_agent_key
from sandbox.testing import RunningSandbox

CATALOG_FILE = Path(__file__).resolve().parents[2] / "sandbox" / "data" / "okta-oauth2-errors.json"
CATALOG = {e["internalErrorCode"]: e for e in json.loads(CATALOG_FILE.read_text())["errors"]}
# sandbox/default.toml: the origin web app, its delegation link to the agent, the agent's resource URL.
ORIGIN = "0oaOriginWebApp00001"
ORIGIN_SECRET = "origin-web-app-secret-fedcba9876543210"
AGENT_PATH = "/agents/sandbox-agent"


def sdk_client(sb: RunningSandbox, agent: AgentKey, jwt_id: str | None = None, **config: Any) -> OAuth2Client:
    """The agent as an okta-client-python client of the org server: private_key_jwt signed by the SDK."""
    pem = agent.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    auth = ClientAssertionAuthorization(
        assertion_claims=JWTBearerClaims(
            issuer=AGENT, subject=AGENT, audience=sb.url + "/oauth2/v1/token", expires_in=60, jwt_id=jwt_id
        ),
        key_provider=LocalKeyProvider.from_pem(pem, algorithm=agent.alg, key_id=agent.kid),
    )
    config = OAuth2ClientConfiguration(issuer=sb.url, client_authorization=auth, **config)
    return OAuth2Client(configuration=config)


def cross_app_flow(sb: RunningSandbox, agent: AgentKey, server: str = "default") -> CrossAppAccessFlow:
    target = CrossAppAccessTarget(issuer=f"{sb.url}/oauth2/{server}")
    return CrossAppAccessFlow(sdk_client(sb, agent), target=target)


def assert_the_api_answers(sb: RunningSandbox, access_token: str) -> None:
    bearer = {"Authorization": f"Bearer {access_token}"}
    api = requests.get(sb.url + "/todo-api/todos", headers=bearer, timeout=5)
    assert api.status_code == 200, api.text


@pytest.fixture
def id_token(sb: RunningSandbox, signer: Signer) -> str:
    """A fresh ID token of Alice for the agent (sign-in and code exchange by the kit's test client)."""
    answer = code_for_tokens(sb.url, signer, sign_in(sb.url))
    assert answer.status_code == 200, answer.text
    return answer.json()["id_token"]


async def sdk_sign_in(flow: AuthorizationCodeFlow, context: AuthorizationCodeContext | None = None) -> Any:
    """The SDK's authorization code flow, with the sandbox's sign-in page filled in as a browser would."""
    url = await flow.start(context=context)
    with requests.Session() as browser:
        page = browser.get(url, timeout=5)
        assert page.status_code == 200, page.text
        answer = submit_sign_in(browser, page.url, page.text, *ALICE)
    assert answer.status_code == 302, answer.text
    return await flow.resume(answer.headers["Location"])  # the SDK checks state, nonce, iss, aud


def test_the_sdk_signs_the_user_in_and_accepts_the_sandboxs_id_token(
    sb: RunningSandbox, agent_key: AgentKey
) -> None:
    client = sdk_client(sb, agent_key, redirect_uri=REDIRECT_URI, scope=["openid", "profile", "email"])
    token = asyncio.run(sdk_sign_in(AuthorizationCodeFlow(client)))
    claims = verify_with_jwks(token.id_token.raw, sb.url + "/oauth2/v1/keys")
    assert (claims["iss"], claims["aud"], claims["sub"]) == (sb.url, AGENT, ALICE_ID)


def test_the_sdks_cross_app_access_flow_gets_an_access_token_that_the_api_accepts(
    sb: RunningSandbox, agent_key: AgentKey, id_token: str
) -> None:
    flow = cross_app_flow(sb, agent_key)

    async def run() -> tuple[Any, Any]:
        started = await flow.start(token=id_token, scope=["todo.read"])
        assert started.resume_assertion_claims is None  # the SDK signs the second assertion itself
        id_jag = flow.context.id_jag_token
        return id_jag, await flow.resume()

    id_jag, access = asyncio.run(run())
    assert id_jag.token_type.value == "N_A"
    assert id_jag.issued_token_type == "urn:ietf:params:oauth:token-type:id-jag"
    header, claims = decode_unverified(id_jag.access_token)
    assert header["typ"] == "oauth-id-jag+jwt"
    assert claims["aud"] == sb.url + "/oauth2/default"
    assert (claims["client_id"], claims["sub"]) == (AGENT, ALICE_ID)

    assert access.token_type.value == "Bearer" and access.scope == ["todo.read"]
    at = verify_with_jwks(access.access_token, sb.url + "/oauth2/default/v1/keys")
    assert at["iss"] == sb.url + "/oauth2/default"
    assert (at["cid"], at["uid"], at["scp"]) == (AGENT, ALICE_ID, ["todo.read"])
    assert_the_api_answers(sb, access.access_token)


def origin_app_client(sb: RunningSandbox) -> OAuth2Client:
    """The origin web app as an SDK client of the custom server (client secret)."""
    config = OAuth2ClientConfiguration(
        issuer=sb.url + "/oauth2/default",
        client_authorization=ClientSecretAuthorization(id=ORIGIN, secret=ORIGIN_SECRET),
        redirect_uri=REDIRECT_URI,
        scope=["openid", "profile"],
    )
    return OAuth2Client(configuration=config)


def test_the_sdk_runs_the_origin_app_variant_through_the_delegation_link(
    sb: RunningSandbox, agent_key: AgentKey
) -> None:
    # 06_origin_app_delegation with the SDK: the origin app signs Alice in at the custom server for
    # the agent's resource URL, hands its access token over, and the agent exchanges it.
    origin = origin_app_client(sb)
    # The resource goes in the flow's additional parameters, so it reaches the authorize request and
    # the token request alike; the context's `resource` reaches only the token request, which Okta
    # refuses (`resource` not used at authorize): the next test.
    flow = AuthorizationCodeFlow(origin, additional_parameters={"resource": sb.url + AGENT_PATH})
    handed_over = asyncio.run(sdk_sign_in(flow)).access_token
    assert decode_unverified(handed_over)[1]["aud"] == sb.url + AGENT_PATH

    flow = cross_app_flow(sb, agent_key)

    async def run() -> Any:
        await flow.start(token=handed_over, token_type="access_token", scope=["todo.read"])
        return await flow.resume()

    access = asyncio.run(run())
    at = verify_with_jwks(access.access_token, sb.url + "/oauth2/default/v1/keys")
    assert (at["cid"], at["uid"]) == (AGENT, ALICE_ID)
    assert_the_api_answers(sb, access.access_token)


def test_a_resource_sent_only_with_the_code_is_refused_as_okta_refuses_it(sb: RunningSandbox) -> None:
    # AuthorizationCodeContext(resource=...) adds `resource` to the token request only.
    context = AuthorizationCodeContext(resource=sb.url + AGENT_PATH)
    with pytest.raises(OAuth2Error) as refused:
        asyncio.run(sdk_sign_in(AuthorizationCodeFlow(origin_app_client(sb)), context))
    assert refused.value.error == "invalid_request"
    assert refused.value.error_description == CATALOG["mismatched_resource"]["errorDescription"]


def readme_snippet() -> str:
    """The Python block of docs/okta-sdk.md, the page on Okta's SDK."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "okta-sdk.md").read_text(encoding="utf-8")
    section = page.split("# In your code: Okta's Python SDK", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_the_readmes_sdk_snippet_runs_as_written(
    sb: RunningSandbox, agent_key: AgentKey, ec_agent: AgentKey, tmp_path: Path, alg: str
) -> None:
    agent = agent_key if alg == "RS256" else ec_agent
    pem_file = tmp_path / "agent.pem"
    save_agent_key(agent, pem_file)  # as `make lab` writes .keys/agent.pem
    snippet: dict[str, Any] = {}
    exec(compile(readme_snippet(), "docs/okta-sdk.md", "exec"), snippet)  # noqa: S102 (our own page)
    signer = Signer(agent)
    grant = code_for_tokens(sb.url, signer, sign_in(sb.url))
    assert grant.status_code == 200, grant.text
    flow = snippet["cross_app_flow"](sb.url, AGENT, str(pem_file), agent.kid, alg)
    access_token = asyncio.run(snippet["access_token_for"](flow, grant.json()["id_token"], ["todo.read"]))
    assert_the_api_answers(sb, access_token)


@dataclass(frozen=True)
class Refusal:
    case: str
    run: Callable[[CrossAppAccessFlow, str, str], Any]  # (flow, id_token, org) -> coroutine
    error: str
    code: str  # Okta's internal error code: the catalog gives the description


async def _exchange_then_redeem_twice(flow: CrossAppAccessFlow, id_token: str, org: str) -> None:
    await flow.start(token=id_token, scope=["todo.read"])
    await flow.resume()
    await flow.resume()  # the same ID-JAG again


REFUSALS = [
    Refusal(
        "audience with a trailing slash",
        lambda flow, token, org: flow.start(
            token=token, audience=org + "/oauth2/default/", scope=["todo.read"]
        ),
        "invalid_target",
        "token_exchange_invalid_audience",
    ),
    Refusal(
        "openid among the exchange's scopes",
        lambda flow, token, org: flow.start(token=token, scope=["openid", "todo.read"]),
        "invalid_scope",
        "openid_not_allowed_token_exchange",
    ),
    Refusal(
        "an ID token sent as an access token (only a custom server's access token can be one)",
        lambda flow, token, org: flow.start(token=token, token_type="access_token", scope=["todo.read"]),
        "invalid_request",
        "invalid_subject_token_authorization_server",
    ),
    Refusal(
        "the same ID-JAG redeemed twice", _exchange_then_redeem_twice, "invalid_grant", "id_jag_replayed"
    ),
]


@pytest.mark.parametrize("row", REFUSALS, ids=[r.case for r in REFUSALS])
def test_the_sdk_reports_the_sandboxs_refusals_as_okta_writes_them(
    sb: RunningSandbox, agent_key: AgentKey, id_token: str, row: Refusal
) -> None:
    flow = cross_app_flow(sb, agent_key)
    with pytest.raises(OAuth2Error) as refused:
        asyncio.run(row.run(flow, id_token, sb.url))
    assert refused.value.error == row.error
    assert refused.value.error_description == CATALOG[row.code]["errorDescription"]


# --- what the README says about the SDK (0.3.0): each statement fails here when a new pin changes it --


def test_the_sdk_puts_the_clients_credentials_in_the_authorize_url(
    sb: RunningSandbox, agent_key: AgentKey
) -> None:
    async def authorize_url(client: OAuth2Client) -> dict[str, list[str]]:
        return parse_qs(urlsplit(await AuthorizationCodeFlow(client).start()).query)

    origin = asyncio.run(authorize_url(origin_app_client(sb)))
    assert origin["client_secret"] == [ORIGIN_SECRET]
    agent = asyncio.run(authorize_url(sdk_client(sb, agent_key, redirect_uri=REDIRECT_URI, scope=["openid"])))
    _, claims = decode_unverified(agent["client_assertion"][0])
    assert claims["aud"] == sb.url + "/oauth2/v1/token" and "jti" not in claims  # replayable until exp


def test_a_fixed_jwt_id_makes_the_flows_second_request_a_replay(
    sb: RunningSandbox, agent_key: AgentKey, id_token: str
) -> None:
    flow = CrossAppAccessFlow(
        sdk_client(sb, agent_key, jwt_id="one-jti-for-every-request"),
        target=CrossAppAccessTarget(issuer=sb.url + "/oauth2/default"),
    )

    async def run() -> Any:
        await flow.start(token=id_token, scope=["todo.read"])  # accepted: the jti is new
        return await flow.resume()

    with pytest.raises(OAuth2Error) as refused:
        asyncio.run(run())
    assert refused.value.error == "invalid_client"
    assert refused.value.error_description == CATALOG["client_assertion_already_used"]["errorDescription"]
