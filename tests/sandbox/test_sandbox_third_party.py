"""Fidelity: a third-party OAuth client, here Authlib's, works against the sandbox unchanged."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata
from sandbox_flows import (
    AGENT,
    ALICE,
    OTHER_APP,
    OTHER_APP_SECRET,
    REDIRECT_URI,
    jose_key,
    submit_sign_in,
    verify_with_jwks,
)

from helpers.core.keys import AgentKey
from sandbox.testing import RunningSandbox


def test_authlib_validates_both_metadata_documents(sb: RunningSandbox) -> None:
    org = OpenIDProviderMetadata(requests.get(sb.url + "/.well-known/openid-configuration", timeout=5).json())
    org.validate()
    custom = AuthorizationServerMetadata(
        requests.get(sb.url + "/.well-known/oauth-authorization-server/oauth2/default", timeout=5).json()
    )
    custom.validate()
    assert org["issuer"] == sb.url and custom["issuer"] == sb.url + "/oauth2/default"


def _browser_sign_in(authorization_url: str) -> str:
    """Play the browser: open the authorization URL, sign in, return the callback URL."""
    with requests.Session() as browser:
        page = browser.get(authorization_url, timeout=5)
        assert page.status_code == 200, page.text
        answer = submit_sign_in(browser, page.url, page.text, *ALICE)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


@pytest.mark.parametrize("method", ["private_key_jwt", "client_secret_basic"])
def test_authlib_oauth2session_runs_the_code_flow_with_pkce(
    sb: RunningSandbox, agent_key: AgentKey, method: str
) -> None:
    meta = requests.get(sb.url + "/.well-known/openid-configuration", timeout=5).json()
    if method == "private_key_jwt":
        client = OAuth2Session(
            AGENT,
            jose_key(agent_key),
            scope="openid profile email",
            redirect_uri=REDIRECT_URI,
            code_challenge_method="S256",
            token_endpoint_auth_method="private_key_jwt",
        )
        client.register_client_auth_method(
            PrivateKeyJWT(meta["token_endpoint"], headers={"kid": agent_key.kid})
        )
        client_id = AGENT
    else:
        client = OAuth2Session(
            OTHER_APP,
            OTHER_APP_SECRET,
            scope="openid profile email",
            redirect_uri=REDIRECT_URI,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",
        )
        client_id = OTHER_APP
    verifier = "v" * 20 + "-verifier-of-the-third-party-client"
    url, state = client.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce="n-0S6_WzA2Mj"
    )
    callback = _browser_sign_in(url)
    assert parse_qs(urlsplit(callback).query)["state"] == [state]
    token = client.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    assert token["token_type"] == "Bearer"
    claims = verify_with_jwks(token["id_token"], meta["jwks_uri"])
    assert claims["aud"] == client_id and claims["nonce"] == "n-0S6_WzA2Mj"
    info = client.get(meta["userinfo_endpoint"], timeout=5)
    assert info.status_code == 200 and info.json()["preferred_username"] == ALICE[0]
