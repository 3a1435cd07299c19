"""Discovery for the MCP path: the MCP server's RFC 9728 metadata, and the two authorization servers'.

- RFC 9728 §2, §3.1, §3.3: `resource` is the MCP server's URL exactly; `authorization_servers` names the
  custom server; the document at the path-inserted well-known URL
- EMA §6 and ID-JAG -04 §7.2: the resource authorization server lists the id-jag grant profile (and then
  the jwt-bearer grant); ID-JAG -04 §7.1: the IdP lists id-jag among the token types it can issue
"""

from __future__ import annotations

import pytest
import requests
from mcp_support import ID_JAG_PROFILE, ID_JAG_TYPE, JWT_BEARER, TOKEN_EXCHANGE, McpSandbox


def test_the_mcp_server_runs_on_loopback_beside_the_org_and_the_org_index_names_it(msb: McpSandbox) -> None:
    assert msb.mcp_url.startswith("http://127.0.0.1:") and msb.mcp_url.endswith("/mcp")
    assert msb.mcp_url.split(":")[2] != msb.url.split(":")[2], "its own port"
    assert requests.get(msb.url + "/", timeout=5).json()["mcp_server"] == msb.mcp_url


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]
)
def test_protected_resource_metadata_names_the_mcp_server_and_its_authorization_server(
    msb: McpSandbox, path: str
) -> None:
    origin = msb.mcp_url.removesuffix("/mcp")
    answer = requests.get(origin + path, timeout=5)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {
        "resource": msb.mcp_url,
        "authorization_servers": [msb.issuer],
        "scopes_supported": ["todo.read", "todo.write"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Sandbox to-do MCP server",
    }


def test_the_resource_authorization_server_advertises_the_id_jag_grant_profile_and_jwt_bearer(
    msb: McpSandbox,
) -> None:
    meta = requests.get(msb.issuer + "/.well-known/oauth-authorization-server", timeout=5).json()
    rfc8414 = requests.get(
        msb.url + "/.well-known/oauth-authorization-server/oauth2/default", timeout=5
    ).json()
    assert meta == rfc8414
    assert meta["issuer"] == msb.issuer
    # EMA §6; ID-JAG -04 §7.2: the profile, and then the jwt-bearer grant type.
    assert meta["authorization_grant_profiles_supported"] == [ID_JAG_PROFILE]
    assert JWT_BEARER in meta["grant_types_supported"]


def test_the_idp_advertises_identity_chaining_with_the_id_jag_token_type(msb: McpSandbox) -> None:
    meta = requests.get(msb.url + "/.well-known/openid-configuration", timeout=5).json()
    # ID-JAG -04 §7.1: identity_chaining_requested_token_types_supported SHOULD contain the id-jag type.
    assert meta["identity_chaining_requested_token_types_supported"] == [ID_JAG_TYPE]
    assert TOKEN_EXCHANGE in meta["grant_types_supported"]
    # The IdP is not a resource authorization server: no grant profile of its own.
    assert "authorization_grant_profiles_supported" not in meta


def test_the_mcp_server_is_a_configured_resource_of_the_custom_server(msb: McpSandbox) -> None:
    server = msb.sandbox.config.servers["default"]
    assert msb.sandbox.server_resources(server) == [msb.url + "/todo-api", msb.mcp_url]
    assert msb.sandbox.server_resources(msb.sandbox.config.servers["reports"]) == []
