"""Okta's documented machine access: the origin app's own token (client credentials) handed to the agent.

Okta "Set up AI agent token exchange" (2026.08 docs): the client obtains its subject token with the
Client Credentials grant and `resource` = the agent's resource URL; the token's `aud` is that URL; the
agent exchanges it through a delegation link; the ID-JAG and the access token name the client as a
service (`"sub_profile": "service"`) with the `act` chain agent → client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from origin_support import CATALOG, ORIGIN, Client, agents_read, read_error
from sandbox_flows import AGENT, OTHER_APP, OTHER_APP_SECRET, decode_unverified

from helpers.core.keys import AgentKey
from sandbox.testing import running_sandbox

CHAIN = {"sub": AGENT, "sub_profile": "ai_agent", "act": {"sub": ORIGIN, "sub_profile": "service"}}


def test_the_client_credentials_token_is_the_origin_apps_own_and_aimed_at_the_agent(client: Client) -> None:
    answer = client.client_credentials()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 3600, "todo.read")
    assert "refresh_token" not in body and "id_token" not in body  # RFC 6749 §4.4.3
    assert answer.headers["Cache-Control"] == "no-store"
    header, claims = decode_unverified(body["access_token"])
    assert header["kid"] == client.server_key().thumbprint()
    assert (claims["iss"], claims["aud"]) == (client.issuer(), client.resource)
    assert (claims["sub"], claims["cid"], claims["sub_profile"]) == (ORIGIN, ORIGIN, "service")
    assert claims["scp"] == ["todo.read"] and "uid" not in claims and "auth_time" not in claims


def test_the_agent_exchanges_it_and_the_id_jag_names_the_service_and_the_chain(client: Client) -> None:
    token = client.client_credentials().json()["access_token"]
    answer = client.exchange(token)
    assert answer.status_code == 200, answer.text
    header, claims = decode_unverified(answer.json()["access_token"])
    assert header["typ"] == "oauth-id-jag+jwt"
    assert (claims["sub"], claims["sub_profile"], claims["client_id"]) == (ORIGIN, "service", AGENT)
    assert claims["act"] == CHAIN
    assert claims["aud"] == client.issuer() and claims["scope"] == "todo.read"
    assert not {"auth_time", "amr", "email"} & set(claims)  # nothing about a user's sign-in


def test_the_service_id_jag_redeems_to_a_service_access_token_that_calls_the_api(client: Client) -> None:
    token = client.client_credentials(scope="todo.read todo.write").json()["access_token"]
    id_jag = client.exchange(token, scope="todo.read todo.write").json()["access_token"]
    redeemed = client.redeem_id_jag(id_jag)
    assert redeemed.status_code == 200, redeemed.text
    claims = decode_unverified(redeemed.json()["access_token"])[1]
    assert (claims["sub"], claims["sub_profile"], claims["cid"]) == (ORIGIN, "service", AGENT)
    assert claims["act"] == CHAIN and "uid" not in claims and claims["aud"] == "api://default"
    bearer = {"Authorization": "Bearer " + redeemed.json()["access_token"]}
    added = requests.post(
        client.org + "/todo-api/todos", json={"title": "nightly report"}, headers=bearer, timeout=10
    )
    assert added.status_code == 201, added.text
    listed = requests.get(client.org + "/todo-api/todos", headers=bearer, timeout=10)
    assert listed.status_code == 200 and listed.json()["user"] == ORIGIN
    assert [t["title"] for t in listed.json()["todos"]] == ["nightly report"]
    me = requests.get(client.org + "/todo-api/me", headers=bearer, timeout=10).json()
    assert (me["sub"], me["uid"], me["sub_profile"]) == (ORIGIN, None, "service")


def test_the_api_refuses_the_origin_apps_token_because_it_is_for_the_agent_not_the_api(
    client: Client,
) -> None:
    token = client.client_credentials().json()["access_token"]
    answer = requests.get(
        client.org + "/todo-api/todos", headers={"Authorization": "Bearer " + token}, timeout=10
    )
    assert answer.status_code == 401
    assert read_error(answer, "json") == (
        "invalid_token",
        CATALOG["access_token_invalid_audience"]["errorDescription"],
    )
    assert answer.headers["WWW-Authenticate"] == (
        'Bearer error="invalid_token", '
        'error_description="The access token provided is not intended for Okta.", '
        f'resource_metadata="{client.org}/.well-known/oauth-protected-resource/todo-api"'
    )


@dataclass(frozen=True)
class Row:
    id: str
    send: Callable[[Client], requests.Response]
    status: int
    error: str
    code: str
    description: str | None = None


ROWS = [
    Row(
        "an app without the client credentials grant is refused",
        lambda c: c.client_credentials(client=(OTHER_APP, OTHER_APP_SECRET)),
        400,
        "unauthorized_client",
        "unauthorized_client",
        "The client is not authorized to use the provided grant type. Configured grant types: "
        "[authorization_code].",
    ),
    Row(
        "no scope is refused: the servers have no default scopes",
        lambda c: c.client_credentials(scope=None),
        400,
        "invalid_scope",
        "no_default_scopes",
    ),
    Row(
        "an OpenID scope is refused: no user signs in",
        lambda c: c.client_credentials(scope="openid todo.read"),
        400,
        "invalid_scope",
        "no_matching_scope",
    ),
    Row(
        "a scope the server does not have is refused",
        lambda c: c.client_credentials(scope="todo.delete"),
        400,
        "invalid_scope",
        "no_matching_scope",
    ),
    Row(
        "a scope the access policy does not give the app is refused",
        lambda c: c.client_credentials(scope="todo.admin"),
        400,
        "access_denied",
        "no_scope_allowed",
    ),
    Row(
        "a resource the server does not issue tokens for is refused",
        lambda c: c.client_credentials(resource="https://elsewhere.example/agent"),
        400,
        "invalid_target",
        "unsupported_resource",
        "The authorization server has rejected the 'resource' parameter: https://elsewhere.example/agent",
    ),
    Row(
        "a server with no rule for the app refuses it",
        lambda c: c.client_credentials(server="reports", scope="reports.read", resource=None),
        401,
        "access_denied",
        "no_matching_policy",
    ),
    Row(
        "a wrong client secret is refused",
        lambda c: c.client_credentials(client=(ORIGIN, "not-the-secret")),
        401,
        "invalid_client",
        "invalid_client_secret",
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_client_credentials_refusal(client: Client, row: Row) -> None:
    answer = row.send(client)
    assert answer.status_code == row.status, answer.text
    error, description = read_error(answer, "json")
    assert error == row.error
    assert description == (row.description or CATALOG[row.code]["errorDescription"])
    assert [e["outcome"]["reason"] for e in client.events(answer)] == [row.code]


def test_without_the_delegation_link_the_service_token_is_refused(
    tmp_path: Path, agent_key: AgentKey, agent_jwks: Path
) -> None:
    overrides = {**agents_read(agent_jwks), "delegation_links": {"origin-app-to-agent": None}}
    with running_sandbox(data_dir=tmp_path, overrides=overrides) as sb:
        unlinked = Client(sb, agent_key)
        answer = unlinked.exchange(unlinked.client_credentials().json()["access_token"])
        assert answer.status_code == 400
        assert read_error(answer, "json") == (
            "invalid_request",
            CATALOG["invalid_subject_token_client_not_registered"]["errorDescription"],
        )
