"""The sandbox's side of Okta's machine access: the origin app's sign-in at a custom server, the
agent's exchange of its access token through a delegation link, and every refusal on the way.

Each refusal row names the status, `error`, Okta's internal code (the System Log's `outcome.reason`
for that very request) and the `error_description`: the catalog's, unless the row spells it out.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc.jwk import RSAKey
from origin_support import CATALOG, ORIGIN, SECOND_AGENT, Client, agents_read, read_error
from sandbox_flows import (
    ACCESS_TOKEN_TYPE,
    AGENT,
    ALICE_ID,
    ID_TOKEN_TYPE,
    OTHER_APP,
    REDIRECT_URI,
    SPA,
    SignIn,
    decode_unverified,
)

from helpers.core.keys import AgentKey
from sandbox.testing import running_sandbox

# --- acceptance -------------------------------------------------------------------------------------


def test_the_origin_app_signs_in_at_the_custom_server_and_gets_a_token_for_the_agent(client: Client) -> None:
    tokens = client.origin_tokens
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "openid profile"
    header, claims = decode_unverified(tokens["access_token"])
    assert header["kid"] == client.server_key().thumbprint()
    assert claims["iss"] == client.issuer()
    assert claims["aud"] == client.resource  # RFC 8707: the resource asked for
    assert (claims["cid"], claims["uid"], claims["sub"]) == (ORIGIN, ALICE_ID, "alice@example.com")
    assert claims["scp"] == ["openid", "profile"]
    id_header, id_claims = decode_unverified(tokens["id_token"])
    assert id_header["kid"] == client.server_key().thumbprint()
    assert (id_claims["iss"], id_claims["aud"], id_claims["sub"]) == (client.issuer(), ORIGIN, ALICE_ID)


def test_the_agent_exchanges_the_origin_apps_token_and_the_id_jag_names_user_agent_and_chain(
    client: Client,
) -> None:
    answer = client.exchange(client.origin_tokens["access_token"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:id-jag"
    assert body["token_type"] == "N_A" and body["expires_in"] == 300 and "refresh_token" not in body
    assert answer.headers["Cache-Control"] == "no-store"
    header, claims = decode_unverified(body["access_token"])
    assert header["typ"] == "oauth-id-jag+jwt"
    assert (claims["iss"], claims["aud"]) == (client.org, client.issuer())
    assert (claims["sub"], claims["client_id"], claims["scope"]) == (ALICE_ID, AGENT, "todo.read")
    assert claims["act"] == {
        "sub": AGENT,
        "sub_profile": "ai_agent",
        "act": {"sub": ORIGIN, "sub_profile": "service"},
    }
    assert "sub_profile" not in claims  # the subject is a user, not a service
    assert claims["auth_time"] == decode_unverified(client.origin_tokens["access_token"])[1]["auth_time"]


def test_the_delegated_id_jag_redeems_to_an_access_token_that_keeps_the_chain_and_calls_the_api(
    client: Client,
) -> None:
    id_jag = client.exchange(client.origin_tokens["access_token"]).json()["access_token"]
    redeemed = client.redeem_id_jag(id_jag)
    assert redeemed.status_code == 200, redeemed.text
    claims = decode_unverified(redeemed.json()["access_token"])[1]
    assert (claims["cid"], claims["uid"], claims["aud"]) == (AGENT, ALICE_ID, "api://default")
    assert claims["act"] == {
        "sub": AGENT,
        "sub_profile": "ai_agent",
        "act": {"sub": ORIGIN, "sub_profile": "service"},
    }
    api = requests.get(
        client.org + "/todo-api/me",
        headers={"Authorization": "Bearer " + redeemed.json()["access_token"]},
        timeout=10,
    )
    assert api.status_code == 200 and api.json()["uid"] == ALICE_ID and api.json()["cid"] == AGENT


def test_the_default_flow_is_unchanged_an_id_token_subject_gives_an_id_jag_without_act(
    client: Client,
) -> None:
    answer = client.exchange(client.agent_org_tokens["id_token"], subject_token_type=ID_TOKEN_TYPE)
    assert answer.status_code == 200, answer.text
    claims = decode_unverified(answer.json()["access_token"])[1]
    assert set(claims) == {"iss", "sub", "aud", "client_id", "jti", "iat", "exp", "scope", "auth_time", "amr"}
    assert (claims["sub"], claims["client_id"]) == (ALICE_ID, AGENT)


def test_each_decision_is_a_system_log_event_naming_the_origin_app_and_the_link(client: Client) -> None:
    params, verifier = client.authorize_params(ORIGIN, resource=client.resource)
    with requests.Session() as session:
        page = session.get(
            client.issuer() + "/v1/authorize", params=params, allow_redirects=False, timeout=10
        )
        signed_in = client.submit(session, page)
    assert [e["eventType"] for e in client.events(signed_in)] == [
        "user.session.start",
        "app.oauth2.as.authorize.code",
    ]
    code = parse_qs(urlsplit(signed_in.headers["Location"]).query)["code"][0]
    tokens = client.redeem_code(SignIn(code, verifier, params["nonce"], params["state"], REDIRECT_URI))
    (grant_event,) = client.events(tokens)
    assert grant_event["eventType"] == "app.oauth2.as.token.grant.id_token"
    assert grant_event["outcome"]["result"] == "SUCCESS" and grant_event["actor"]["alternateId"] == ORIGIN
    exchanged = client.exchange(tokens.json()["access_token"])
    (event,) = client.events(exchanged)
    assert event["eventType"] == "app.oauth2.token.grant.id_jag"
    assert event["outcome"] == {"result": "SUCCESS", "reason": None}
    data = event["debugContext"]["debugData"]
    assert data["delegatedBy"] == ORIGIN and data["delegationLink"] == "origin-app-to-agent"
    assert data["subjectTokenType"] == ACCESS_TOKEN_TYPE


def test_the_custom_servers_metadata_advertises_its_sign_in(client: Client) -> None:
    meta = requests.get(client.issuer() + "/.well-known/oauth-authorization-server", timeout=10).json()
    assert meta["authorization_endpoint"] == client.issuer() + "/v1/authorize"
    assert meta["grant_types_supported"] == [
        "authorization_code",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["scopes_supported"] == ["todo.read", "todo.write"]  # public custom scopes only, as before


def test_a_custom_servers_sign_in_cannot_be_completed_on_the_org_servers_form(client: Client) -> None:
    params, _ = client.authorize_params(ORIGIN, resource=client.resource)
    with requests.Session() as session:
        page = session.get(
            client.issuer() + "/v1/authorize", params=params, allow_redirects=False, timeout=10
        )
        page.url = client.org + "/oauth2/v1/authorize"  # post the same form to the org's endpoint
        answer = client.submit(session, page)
    assert answer.status_code == 400
    assert read_error(answer, "page") == ("login_required", CATALOG["request_expired"]["errorDescription"])


def test_the_exchange_is_refused_for_the_same_token_once_the_link_is_removed(
    tmp_path: Path, agent_key: AgentKey, agent_jwks: Path
) -> None:
    overrides = {**agents_read(agent_jwks), "delegation_links": {"origin-app-to-agent": None}}
    with running_sandbox(data_dir=tmp_path, overrides=overrides) as sb:
        unlinked = Client(sb, agent_key)
        answer = unlinked.exchange(unlinked.origin_tokens["access_token"])
        assert answer.status_code == 400
        assert read_error(answer, "json") == (
            "invalid_request",
            "'subject_token' is invalid: the client application is not registered for delegation to this "
            "agent.",
        )
        assert [e["outcome"]["reason"] for e in unlinked.events(answer)] == [
            "invalid_subject_token_client_not_registered"
        ]


# --- refusals -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One bad input: what to send, and Okta's exact answer."""

    id: str
    send: Callable[[Client], requests.Response]
    status: int
    error: str
    code: str
    description: str | None = None
    kind: str = "json"


def stranger_key() -> RSAKey:
    return RSAKey.generate_key(2048, private=True)


NOW = int(time.time())

EXCHANGE_ROWS = [
    Row(
        "a subject token that is not a JWT is refused",
        lambda c: c.exchange("not-a-jwt"),
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Row(
        "an ID-JAG sent as an access token is refused as the wrong type",
        lambda c: c.exchange(
            c.exchange(c.agent_org_tokens["id_token"], subject_token_type=ID_TOKEN_TYPE).json()[
                "access_token"
            ]
        ),
        400,
        "invalid_request",
        "invalid_subject_token_type",
    ),
    Row(
        "the origin app's ID token sent as an access token is refused as the wrong type",
        lambda c: c.exchange(c.origin_tokens["id_token"]),
        400,
        "invalid_request",
        "invalid_subject_token_type",
    ),
    Row(
        "a token of the custom server without cid and scp is refused as the wrong type",
        lambda c: c.exchange(c.forge_access_token(drop=("cid", "scp"))),
        400,
        "invalid_request",
        "invalid_subject_token_type",
    ),
    Row(
        "an access token of the org server is refused for its authorization server",
        lambda c: c.exchange(c.agent_org_tokens["access_token"]),
        400,
        "invalid_request",
        "invalid_subject_token_authorization_server",
    ),
    Row(
        "an ID token of the org server sent as an access token is refused for its authorization server",
        lambda c: c.exchange(c.agent_org_tokens["id_token"]),
        400,
        "invalid_request",
        "invalid_subject_token_authorization_server",
    ),
    Row(
        "a token naming an unknown custom server is refused for its authorization server",
        lambda c: c.exchange(c.forge_access_token(iss=c.org + "/oauth2/nope")),
        400,
        "invalid_request",
        "invalid_subject_token_authorization_server",
    ),
    Row(
        "a token of the reports server, where the agent is no resource, is refused for its server",
        lambda c: c.exchange(c.forge_access_token(key=c.server_key("reports"), iss=c.issuer("reports"))),
        400,
        "invalid_request",
        "invalid_subject_token_authorization_server",
    ),
    Row(
        "a token of another issuer is refused as an issuer not allowed",
        lambda c: c.exchange(c.forge_access_token(iss="https://other.example.com/oauth2/default")),
        400,
        "invalid_request",
        "invalid_subject_token_issuer_not_allowed",
    ),
    Row(
        "a token signed with a key the custom server does not have is refused",
        lambda c: c.exchange(c.forge_access_token(key=stranger_key())),
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Row(
        "a token signed with the org key in the name of the custom server is refused",
        lambda c: c.exchange(c.forge_access_token(key=c.server_key("org"))),
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Row(
        "a token whose claims were edited after signing is refused",
        lambda c: c.exchange(tampered(c.origin_tokens["access_token"], uid="00uB0bBu11derDemo002")),
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Row(
        "an expired access token is refused as expired",
        lambda c: c.exchange(c.forge_access_token(iat=NOW - 7200, exp=NOW - 3600)),
        400,
        "invalid_grant",
        "token_exchange_subject_token_expired",
    ),
    Row(
        "an access token issued in the future is refused",
        lambda c: c.exchange(c.forge_access_token(iat=int(time.time()) + 3600, exp=int(time.time()) + 7200)),
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Row(
        "an access token without exp is refused",
        lambda c: c.exchange(c.forge_access_token(drop=("exp",))),
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Row(
        "the agent's own access token, for the API, is refused with no delegation link",
        lambda c: c.exchange(c.agent_access_token()),
        400,
        "invalid_request",
        "invalid_subject_token_no_delegation_link",
    ),
    Row(
        "the origin app's token without the agent's resource is refused with no delegation link",
        lambda c: c.exchange(c.tokens(resource=None)["access_token"]),
        400,
        "invalid_request",
        "invalid_subject_token_no_delegation_link",
    ),
    Row(
        "a token aimed at another resource URL is refused with no delegation link",
        lambda c: c.exchange(c.forge_access_token(aud=c.org + "/agents/another-agent")),
        400,
        "invalid_request",
        "invalid_subject_token_no_delegation_link",
    ),
    Row(
        "an agent with no resource URL is refused with no delegation link",
        lambda c: c.exchange(c.origin_tokens["access_token"], agent=SECOND_AGENT),
        400,
        "invalid_request",
        "invalid_subject_token_no_delegation_link",
    ),
    Row(
        "a token of an app with no delegation link to the agent is refused as not registered",
        lambda c: c.exchange(c.tokens(SPA)["access_token"]),
        400,
        "invalid_request",
        "invalid_subject_token_client_not_registered",
    ),
    Row(
        "a token with no user must name its own client in sub (a service), else it is refused",
        lambda c: c.exchange(c.forge_access_token(drop=("uid",), sub="0oaSomebodyElse00001")),
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Row(
        "a token for a user the org does not know is refused",
        lambda c: c.exchange(c.forge_access_token(uid="00uNobody00000000000")),
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Row(
        "an access token exchange asking for openid is still refused for the scope",
        lambda c: c.exchange(c.origin_tokens["access_token"], scope="openid todo.read"),
        400,
        "invalid_scope",
        "openid_not_allowed_token_exchange",
    ),
]


def tampered(token: str, **claims: Any) -> str:
    """The token with some claims changed and the original signature kept."""
    head, body, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data.update(claims)
    edited = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{head}.{edited}.{signature}"


SIGN_IN_ROWS = [
    Row(
        "a sign-in at the custom server by an app with no sign-in rule there is refused by policy",
        lambda c: c.authorize(OTHER_APP),
        302,
        "access_denied",
        "no_matching_policy",
        kind="redirect",
    ),
    Row(
        "a sign-in asking only for scopes the rule does not allow is refused",
        lambda c: c.authorize(ORIGIN, scope="todo.read"),
        302,
        "access_denied",
        "no_scope_allowed",
        kind="redirect",
    ),
    Row(
        "a sign-in asking for a scope the custom server does not have is refused",
        lambda c: c.authorize(ORIGIN, scope="openid mail.send"),
        302,
        "invalid_scope",
        "invalid_scope",
        kind="redirect",
    ),
    Row(
        "a sign-in asking for profile without openid is refused",
        lambda c: c.authorize(ORIGIN, scope="profile"),
        302,
        "invalid_scope",
        "openid_scope_required",
        kind="redirect",
    ),
    Row(
        "a sign-in for a resource the custom server does not serve is refused",
        lambda c: c.authorize(ORIGIN, resource="https://elsewhere.example.com/agent"),
        302,
        "invalid_target",
        "unsupported_resource",
        "The authorization server has rejected the 'resource' parameter: https://elsewhere.example.com/agent",
        kind="redirect",
    ),
    Row(
        "a sign-in asking for two resources is refused",
        lambda c: c.authorize(ORIGIN, resource=[c.resource, c.org + "/todo-api"]),
        302,
        "invalid_request",
        "illegal_duplicated_parameters",
        "Duplicate parameter provided in request. Duplicated parameters: [resource].",
        kind="redirect",
    ),
    Row(
        "a sign-in without a PKCE challenge is refused",
        lambda c: c.authorize(ORIGIN, code_challenge=None),
        302,
        "invalid_request",
        "pkce_missing_challenge",
        kind="redirect",
    ),
    Row(
        "a sign-in at an unknown custom server is refused",
        lambda c: c.authorize(ORIGIN, server="nope"),
        400,
        "invalid_request",
        "invalid_authorization_server",
    ),
    Row(
        "a code redeemed with another resource than the sign-in's is refused",
        lambda c: c.redeem_code(c.sign_in(), resource=c.org + "/todo-api"),
        400,
        "invalid_request",
        "mismatched_resource",
    ),
    Row(
        "a code redeemed with two resources is refused",
        lambda c: c.redeem_code(c.sign_in(), resource=[c.resource, c.resource]),
        400,
        "invalid_target",
        "too_many_resources",
        "Too many 'resource' parameters in the request; maximum allowed is 1.",
    ),
    Row(
        "a code of the custom server redeemed at the org server is refused",
        lambda c: c.redeem_code(c.sign_in(), server=None),
        400,
        "invalid_request",
        "mismatched_authorization_server",
    ),
    Row(
        "a code of the org server redeemed at the custom server is refused",
        lambda c: c.redeem_code(c.sign_in(ORIGIN, server=None)),
        400,
        "invalid_request",
        "mismatched_authorization_server",
    ),
    Row(
        "the origin app with a wrong secret is refused",
        lambda c: c.redeem_code(c.sign_in(), secret="not-the-secret"),
        401,
        "invalid_client",
        "invalid_client_secret",
    ),
    Row(
        "a code redeemed with the wrong PKCE verifier is refused",
        lambda c: c.redeem_code(c.sign_in(), code_verifier="w" * 43),
        400,
        "invalid_grant",
        "pkce_verification_failed",
    ),
]

ROWS = EXCHANGE_ROWS + SIGN_IN_ROWS


def test_the_tables_have_unique_sentence_names_and_cover_every_okta_code_of_the_exchange() -> None:
    assert len({r.id for r in ROWS}) == len(ROWS)
    assert {r.code for r in EXCHANGE_ROWS} >= {
        "invalid_subject_token",
        "invalid_subject_token_type",
        "invalid_subject_token_authorization_server",
        "invalid_subject_token_issuer_not_allowed",
        "invalid_subject_token_no_delegation_link",
        "invalid_subject_token_client_not_registered",
        "token_exchange_subject_token_expired",
    }
    # Okta's machine access takes a token with no user (client credentials): no "user required" refusal.
    assert "oauth_sts_user_subject_required" not in {r.code for r in EXCHANGE_ROWS}


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_refusal(client: Client, row: Row) -> None:
    response = row.send(client)
    assert response.status_code == row.status, response.text
    error, description = read_error(response, row.kind)
    entry = CATALOG.get(row.code)
    assert error == row.error
    assert description == (row.description if row.description is not None else entry["errorDescription"])
    if entry is not None:
        assert entry["errorCode"] == row.error
        if row.kind == "json":
            assert entry["statusCode"] == row.status
    if row.kind == "redirect":
        assert response.headers["Location"].startswith(REDIRECT_URI + "?")
    else:
        assert response.headers["Cache-Control"] == "no-store"
    # The server's side: the System Log event of this very request carries Okta's internal code.
    assert row.code in [e["outcome"]["reason"] for e in client.events(response)]


def test_no_refusal_reached_the_catch_all_handler(client: Client) -> None:
    assert client.sb.sandbox.unexpected_errors == 0


def test_the_machine_access_page_maps_every_code_the_exchange_answers_with() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "machine-access.md").read_text(encoding="utf-8")
    section = page.split("<!-- origin-app:start -->")[1].split("<!-- origin-app:end -->")[0]
    table = section.split("## Okta's errors, case by case")[1].split("\n## ")[0]
    missing = sorted(
        {r.code for r in EXCHANGE_ROWS} - {"openid_not_allowed_token_exchange"} - set(table.split("`"))
    )
    assert missing == []
