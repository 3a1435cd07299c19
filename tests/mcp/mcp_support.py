"""What the MCP tests share: the sandbox with its MCP server, tokens obtained through it, forged tokens.

Tokens come from real HTTP requests (sign-in, token exchange, JWT bearer) made by the sandbox tests'
independent client (`sandbox_flows`); forged ones are signed with the custom server's own key, read
from the sandbox's data folder, for the refusals only a misbehaving issuer could cause.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import requests
from sandbox_flows import (
    AGENT,
    ALICE_ID,
    REDIRECT_URI,
    Signer,
    code_for_tokens,
    jwt_bearer,
    post,
    server_key,
    sign,
    sign_in,
    token_exchange,
)

from sandbox.testing import RunningSandbox

#: A client registered with a client secret, for the MCP SDK's IdentityAssertionOAuthProvider, which
#: authenticates with a secret only (client_secret_post / client_secret_basic).
SECRET_CLIENT = "0oaMcpTestSecret0001"
SECRET = "mcp-test-client-secret-0123456789abcdef"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_JAG_TYPE = "urn:ietf:params:oauth:token-type:id-jag"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
ID_JAG_PROFILE = "urn:ietf:params:oauth:grant-profile:id-jag"

#: JSON-RPC bodies for the server's HTTP layer (the SDK's own client is used where a session is needed).
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}


def tools_call(name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON-RPC `tools/call` request."""
    return {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments or {}},
    }


def overrides(jwks_file: Path) -> dict[str, Any]:
    """The agent reads the test's JWKS; a secret client may sign in, exchange and redeem for todo.*."""
    return {
        "clients": {
            AGENT: {"jwks_file": str(jwks_file)},
            SECRET_CLIENT: {
                "name": "MCP SDK test client (client secret)",
                "token_endpoint_auth_methods": ["client_secret_post", "client_secret_basic"],
                "client_secret": SECRET,
                "redirect_uris": [REDIRECT_URI],
                "grant_types": ["authorization_code", TOKEN_EXCHANGE, JWT_BEARER],
            },
        },
        "authorization_servers": {
            "default": {
                "policies": {
                    "secret-client": {
                        "clients": [SECRET_CLIENT],
                        "grant_types": [JWT_BEARER],
                        "scopes": ["todo.read", "todo.write"],
                    }
                }
            }
        },
        "resource_connections": {
            "secret-client-todo": {
                "client_id": SECRET_CLIENT,
                "authorization_server": "default",
                "scopes": ["todo.read", "todo.write"],
            }
        },
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class McpSandbox:
    """The running sandbox, its MCP server's URLs, and ways to get tokens for it."""

    running: RunningSandbox
    data_dir: Path

    @property
    def url(self) -> str:
        """The org URL."""
        return self.running.url

    @property
    def mcp_url(self) -> str:
        """The MCP server's URL: its resource identifier."""
        url = self.running.served.mcp_url
        assert url is not None
        return url

    @property
    def prm_url(self) -> str:
        """RFC 9728 §3.1: the MCP server's metadata URL, path inserted."""
        return self.mcp_url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")

    @property
    def issuer(self) -> str:
        """The custom server `default`: the MCP server's resource authorization server."""
        return self.url + "/oauth2/default"

    @property
    def sandbox(self) -> Any:
        return self.running.sandbox

    def id_token(self, signer: Signer) -> str:
        """A fresh ID token of the demo user, issued to the agent."""
        answer = code_for_tokens(self.url, signer, sign_in(self.url))
        assert answer.status_code == 200, answer.text
        return answer.json()["id_token"]

    def id_jag(self, signer: Signer, *, scope: str = "todo.read todo.write", **extra: Any) -> str:
        """A fresh ID-JAG for the MCP server (resource = its URL, EMA §4)."""
        extra.setdefault("resource", self.mcp_url)
        answer = token_exchange(self.url, signer, self.id_token(signer), scope=scope, **extra)
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def mcp_token(self, signer: Signer, *, scope: str = "todo.read todo.write") -> str:
        """A fresh access token for the MCP server (`aud` = its URL, EMA §5.1)."""
        answer = jwt_bearer(self.url, signer, self.id_jag(signer, scope=scope), resource=self.mcp_url)
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def rest_token(self, signer: Signer, *, scope: str = "todo.read todo.write") -> str:
        """A fresh access token for the REST API (no resource: `aud` = api://default)."""
        answer = token_exchange(self.url, signer, self.id_token(signer), scope=scope)
        assert answer.status_code == 200, answer.text
        redeemed = jwt_bearer(self.url, signer, answer.json()["access_token"])
        assert redeemed.status_code == 200, redeemed.text
        return redeemed.json()["access_token"]

    @cached_property
    def server_key(self) -> Any:
        """The custom server `default`'s signing key (the sandbox's own, from its data folder)."""
        return server_key(self.data_dir, "default")

    @property
    def server_kid(self) -> str:
        """The `kid` the custom server signs with (its key's RFC 7638 thumbprint)."""
        return self.sandbox.keys.servers["default"].kid

    def forge(
        self, *, header: dict[str, Any] | None = None, drop: tuple[str, ...] = (), **claims: Any
    ) -> str:
        """An access token signed with the custom server's key: a valid MCP token unless changed."""
        now = int(time.time())
        body: dict[str, Any] = {
            "ver": 1,
            "jti": "AT." + uuid.uuid4().hex,
            "iss": self.issuer,
            "aud": self.mcp_url,
            "iat": now,
            "exp": now + 3600,
            "cid": AGENT,
            "uid": ALICE_ID,
            "scp": ["todo.read", "todo.write"],
            "sub": "alice@example.com",
        }
        body.update(claims)
        for name in drop:
            body.pop(name, None)
        head = {"alg": "RS256", "kid": self.server_kid, "typ": "JWT"}
        head.update(header or {})
        return sign(self.server_key, body, head)

    def post_mcp(self, body: Any, *, headers: dict[str, str] | None = None, **kw: Any) -> requests.Response:
        """POST a JSON-RPC body to the MCP endpoint as a streamable HTTP client does."""
        sent = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        sent.update(headers or {})
        return requests.post(self.mcp_url, json=body, headers=sent, timeout=10, **kw)

    def events_of(self, response: requests.Response) -> list[dict[str, Any]]:
        """The sandbox's System Log events for one response (its X-Okta-Request-Id)."""
        request_id = response.headers.get("X-Okta-Request-Id")
        assert request_id, "every answer carries X-Okta-Request-Id"
        return [e for e in self.sandbox.events.list() if (e.get("transaction") or {}).get("id") == request_id]


def secret_client_id_token(org: str) -> str:
    """The demo user's ID token issued to the secret client (sign-in, code redeemed with the secret)."""
    grant = sign_in(org, client_id=SECRET_CLIENT)
    answer = post(
        org + "/oauth2/v1/token",
        {
            "grant_type": "authorization_code",
            "code": grant.code,
            "redirect_uri": grant.redirect_uri,
            "code_verifier": grant.verifier,
            "client_id": SECRET_CLIENT,
            "client_secret": SECRET,
        },
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["id_token"]


def secret_client_exchange(
    org: str, id_token: str, *, audience: str, resource: str, scope: str
) -> requests.Response:
    """The secret client's token exchange (client_secret_post): what the SDK's assertion_provider calls."""
    return post(
        org + "/oauth2/v1/token",
        {
            "grant_type": TOKEN_EXCHANGE,
            "requested_token_type": ID_JAG_TYPE,
            "audience": audience,
            "resource": resource,
            "scope": scope,
            "subject_token": id_token,
            "subject_token_type": ID_TOKEN_TYPE,
            "client_id": SECRET_CLIENT,
            "client_secret": SECRET,
        },
    )
