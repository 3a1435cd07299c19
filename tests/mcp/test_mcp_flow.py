"""The EMA flow at the sandbox's authorization servers, for the MCP server as the resource.

- EMA §4: `audience` the resource authorization server's issuer, `resource` the MCP server; §4.3 the
  ID-JAG's `resource` claim; §5.1 the access token audience-restricted to the MCP server
- EMA §7.6.1: the IdP keeps (audience, resource) pairs; §7.6.2: the resource authorization server checks
  `resource`; §7.4.2: replay detection REQUIRED
- Okta ("Exchange ID-JAG for access token"): the optional `resource` parameter; no `scope` parameter
"""

from __future__ import annotations

import pytest
import requests
from mcp_support import McpSandbox, bearer, tools_call
from sandbox_flows import BOB, Signer, code_for_tokens, decode_unverified, jwt_bearer, sign_in, token_exchange


def test_the_id_jag_names_the_mcp_server_and_the_access_token_is_for_it_alone(
    msb: McpSandbox, signer: Signer
) -> None:
    id_jag = msb.id_jag(signer)
    header, claims = decode_unverified(id_jag)
    assert header["typ"] == "oauth-id-jag+jwt"
    assert (claims["aud"], claims["resource"]) == (msb.issuer, msb.mcp_url)  # EMA §4, §4.3
    redeemed = jwt_bearer(msb.url, signer, id_jag, resource=msb.mcp_url)
    assert redeemed.status_code == 200, redeemed.text
    assert "refresh_token" not in redeemed.json()
    access = decode_unverified(redeemed.json()["access_token"])[1]
    assert access["aud"] == msb.mcp_url  # EMA §5.1
    assert access["scp"] == ["todo.read", "todo.write"]


def test_without_the_resource_parameter_the_token_still_follows_the_id_jags_resource(
    msb: McpSandbox, signer: Signer
) -> None:
    # EMA §5.1: audience-restricted to the MCP server "identified by the resource claim in the ID-JAG".
    redeemed = jwt_bearer(msb.url, signer, msb.id_jag(signer))
    assert redeemed.status_code == 200, redeemed.text
    assert decode_unverified(redeemed.json()["access_token"])[1]["aud"] == msb.mcp_url


def test_the_access_token_carries_only_scopes_the_id_jag_carried(msb: McpSandbox, signer: Signer) -> None:
    # EMA §7.2.1: the intersection with the ID-JAG's scopes (Okta: no scope parameter to intersect with).
    token = msb.mcp_token(signer, scope="todo.read")
    assert decode_unverified(token)[1]["scp"] == ["todo.read"]


@pytest.mark.parametrize(
    ("name", "change", "status", "error", "description", "reason"),
    [
        (
            "the MCP server paired with another authorization server (EMA §7.6.1)",
            lambda m: {"server": "reports", "scope": "reports.read"},
            400,
            "invalid_target",
            "'resource' is invalid or not supported.",
            "token_exchange_invalid_resource",
        ),
        (
            "the MCP server's URL with a trailing slash",
            lambda m: {"resource": m.mcp_url + "/"},
            400,
            "invalid_target",
            "'resource' is invalid or not supported.",
            "token_exchange_invalid_resource",
        ),
        (
            "two resources",
            lambda m: {"resource": [m.mcp_url, m.url + "/todo-api"]},
            400,
            "invalid_target",
            "Too many 'resource' parameters in the request; maximum allowed is 1.",
            "too_many_resources",
        ),
        (
            "the audience of a server without the id-jag profile (the org server)",
            lambda m: {"audience": m.url},
            400,
            "invalid_target",
            "Token Exchange requests must include a valid audience of the authorization server.",
            "token_exchange_invalid_audience",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else None,
)
def test_token_exchange_refusals_for_the_mcp_server(
    msb: McpSandbox,
    signer: Signer,
    name: str,
    change,
    status: int,
    error: str,
    description: str,
    reason: str,
) -> None:
    extra = {"resource": msb.mcp_url, **change(msb)}
    answer = token_exchange(msb.url, signer, msb.id_token(signer), **extra)
    assert answer.status_code == status, answer.text
    assert answer.json() == {"error": error, "error_description": description}
    assert msb.sandbox.events.list()[-1]["outcome"] == {"result": "FAILURE", "reason": reason}


@pytest.mark.parametrize(
    ("name", "send", "status", "error", "description", "reason"),
    [
        (
            "resource disagrees with the ID-JAG's (EMA §7.6.2)",
            lambda m, s, jag: jwt_bearer(m.url, s, jag, resource=m.url + "/todo-api"),
            400,
            "invalid_grant",
            "The 'resource' claim in the id-jag does not match the 'resource' parameter in the request.",
            "id_jag_resource_mismatch",
        ),
        (
            "a scope parameter (Okta)",
            lambda m, s, jag: jwt_bearer(m.url, s, jag, resource=m.mcp_url, scope="todo.read"),
            400,
            "invalid_request",
            "The id-jag request must not include a 'scope' parameter.",
            "id_jag_scopes_in_request",
        ),
        (
            "the same ID-JAG twice (EMA §7.4.2)",
            lambda m, s, jag: (jwt_bearer(m.url, s, jag, resource=m.mcp_url), jwt_bearer(m.url, s, jag))[1],
            400,
            "invalid_grant",
            "The id-jag was already used.",
            "id_jag_replayed",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else None,
)
def test_jwt_bearer_refusals_for_the_mcp_server(
    msb: McpSandbox,
    signer: Signer,
    name: str,
    send,
    status: int,
    error: str,
    description: str,
    reason: str,
) -> None:
    answer = send(msb, signer, msb.id_jag(signer))
    assert answer.status_code == status, answer.text
    assert answer.json() == {"error": error, "error_description": description}
    assert msb.sandbox.events.list()[-1]["outcome"] == {"result": "FAILURE", "reason": reason}


def test_the_mcp_token_is_refused_by_the_rest_api_and_the_rest_token_by_the_mcp_server(
    msb: McpSandbox, signer: Signer
) -> None:
    refused = requests.get(msb.url + "/todo-api/todos", headers=bearer(msb.mcp_token(signer)), timeout=5)
    assert refused.status_code == 401
    assert refused.json()["error_description"] == "The access token provided is not intended for Okta."
    assert msb.post_mcp(tools_call("list_todos"), headers=bearer(msb.rest_token(signer))).status_code == 401


def test_the_mcp_server_and_the_rest_api_share_each_users_to_do_list(msb: McpSandbox, signer: Signer) -> None:
    title = "Shared between MCP and REST"
    added = msb.post_mcp(tools_call("add_todo", {"title": title}), headers=bearer(msb.mcp_token(signer)))
    assert added.status_code == 200 and added.json()["result"]["structuredContent"]["title"] == title
    listed = requests.get(msb.url + "/todo-api/todos", headers=bearer(msb.rest_token(signer)), timeout=5)
    assert title in [item["title"] for item in listed.json()["todos"]]
    # Another user's list stays apart.
    grant = sign_in(msb.url, user=BOB)
    bobs_id_token = code_for_tokens(msb.url, signer, grant).json()["id_token"]
    exchanged = token_exchange(msb.url, signer, bobs_id_token, scope="todo.read", resource=msb.mcp_url)
    bobs = jwt_bearer(msb.url, signer, exchanged.json()["access_token"], resource=msb.mcp_url).json()
    answer = msb.post_mcp(tools_call("list_todos"), headers=bearer(bobs["access_token"]))
    assert answer.json()["result"]["structuredContent"] == {"user": "bob@example.com", "todos": []}
