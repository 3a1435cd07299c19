"""The official MCP Python SDK against the sandbox: its client, and its ID-JAG provider, with no kit helper.

- A token obtained through the sandbox (sign-in, token exchange, JWT bearer with `resource`), then the
  SDK's `Client` over streamable HTTP: `tools/call` of both tools, in both protocol modes (the
  `initialize` handshake, and the 2026-07-28 revision's `server/discover`)
- `IdentityAssertionOAuthProvider` (mcp.client.auth.extensions.identity_assertion): works for a client
  registered with a secret whose `assertion_provider` makes a real token exchange; refused by Okta's
  rule when it sends `scope` (configured, or after a 403); cannot authenticate an agent without a
  secret. What the provider does is pinned to the SDK version below: a new version must be read again.
"""

from __future__ import annotations

import importlib.metadata
import json
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp_support import SECRET, SECRET_CLIENT, McpSandbox, secret_client_exchange, secret_client_id_token
from sandbox_flows import AGENT, Signer

#: The SDK version whose behaviour these tests pin (requirements.txt).
SDK_VERSION = "2.3.0"
SCOPE_REFUSED = "The id-jag request must not include a 'scope' parameter."


def test_the_pinned_sdk_version_is_installed() -> None:
    assert importlib.metadata.version("mcp") == SDK_VERSION


class Traffic:
    """httpx2 event hooks that keep (method, url, form or JSON-RPC method, status) of every exchange."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Any, int]] = []

    async def on_response(self, response: httpx2.Response) -> None:
        await response.aread()
        request = response.request
        content = request.content.decode()
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            what: Any = {k: v[0] for k, v in parse_qs(content).items()}
        else:
            what = json.loads(content).get("method") if content else None
        self.seen.append((request.method, str(request.url), what, response.status_code))

    def hooks(self) -> dict[str, Any]:
        return {"response": [self.on_response]}

    def token_forms(self) -> list[dict[str, str]]:
        return [what for _, _, what, _ in self.seen if isinstance(what, dict)]


async def _call_tools(url: str, http: httpx2.AsyncClient, mode: str) -> list[Any]:
    async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        tools = await client.list_tools()
        added = await client.call_tool("add_todo", {"title": f"Added in {mode} mode"})
        listed = await client.call_tool("list_todos", {})
    return [tools, added, listed]


@pytest.mark.parametrize(("mode", "first"), [("legacy", "initialize"), ("auto", "server/discover")])
def test_the_sdk_client_completes_tools_call_with_a_token_from_the_sandbox(
    msb: McpSandbox, signer: Signer, mode: str, first: str
) -> None:
    token = msb.mcp_token(signer)
    traffic = Traffic()
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, event_hooks=traffic.hooks())
    tools, added, listed = anyio.run(_call_tools, msb.mcp_url, http, mode)
    assert [t.name for t in tools.tools] == ["list_todos", "add_todo"]
    assert added.is_error is False
    assert added.structured_content["title"] == f"Added in {mode} mode"
    assert added.structured_content["created_by"] == AGENT
    assert listed.structured_content["user"] == "alice@example.com"
    assert f"Added in {mode} mode" in [item["title"] for item in listed.structured_content["todos"]]
    assert traffic.seen[0][2] == first and all(status in (200, 202) for *_, status in traffic.seen)


def test_the_sdk_client_without_a_token_meets_the_401_challenge(msb: McpSandbox) -> None:
    traffic = Traffic()
    http = httpx2.AsyncClient(event_hooks=traffic.hooks())
    with pytest.raises(BaseException):  # noqa: B017 - the SDK wraps its MCPError in exception groups
        anyio.run(_call_tools, msb.mcp_url, http, "legacy")
    assert traffic.seen == [("POST", msb.mcp_url, "initialize", 401)]


# --- IdentityAssertionOAuthProvider --------------------------------------------------------------------


class MemoryStorage:
    """The SDK's TokenStorage, in memory."""

    def __init__(self) -> None:
        self.tokens: Any = None
        self.client_info: Any = None

    async def get_tokens(self) -> Any:
        return self.tokens

    async def set_tokens(self, tokens: Any) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> Any:
        return self.client_info

    async def set_client_info(self, client_info: Any) -> None:
        self.client_info = client_info


def provider_for(
    msb: McpSandbox, *, id_jag_scope: str = "todo.read todo.write", calls: list | None = None, **kw: Any
) -> IdentityAssertionOAuthProvider:
    """The SDK's provider for the secret client; its assertion_provider makes a real token exchange."""
    id_token = secret_client_id_token(msb.url)

    async def assertion_provider(audience: str, resource: str) -> str:
        if calls is not None:
            calls.append((audience, resource))
        answer = await anyio.to_thread.run_sync(
            lambda: secret_client_exchange(
                msb.url, id_token, audience=audience, resource=resource, scope=id_jag_scope
            )
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    options: dict[str, Any] = {"client_id": SECRET_CLIENT, "client_secret": SECRET}
    options.update(kw)
    return IdentityAssertionOAuthProvider(
        server_url=msb.mcp_url,
        storage=MemoryStorage(),
        issuer=msb.issuer,
        assertion_provider=assertion_provider,
        **options,
    )


def _innermost(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def test_the_provider_works_for_a_client_with_a_secret_and_no_scope(msb: McpSandbox) -> None:
    calls: list[tuple[str, str]] = []
    traffic = Traffic()
    http = httpx2.AsyncClient(auth=provider_for(msb, calls=calls), event_hooks=traffic.hooks())
    tools, added, listed = anyio.run(_call_tools, msb.mcp_url, http, "legacy")
    assert added.structured_content["created_by"] == SECRET_CLIENT
    # EMA §4: the SDK asks the assertion provider for aud = the configured issuer, resource = the MCP server.
    assert calls == [(msb.issuer, msb.mcp_url)]
    (form,) = traffic.token_forms()
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert (form["client_id"], form["client_secret"], form["resource"]) == (
        SECRET_CLIENT,
        SECRET,
        msb.mcp_url,
    )
    assert "scope" not in form
    # The first call was refused, the discovery went to the configured issuer (not the PRM), then a retry.
    assert [(m, what, s) for m, _, what, s in traffic.seen[:2]] == [
        ("POST", "initialize", 401),
        ("GET", None, 200),
    ]
    assert traffic.seen[1][1] == msb.url + "/.well-known/oauth-authorization-server/oauth2/default"


def test_the_provider_sends_a_configured_scope_and_okta_refuses_it(msb: McpSandbox) -> None:
    traffic = Traffic()
    http = httpx2.AsyncClient(auth=provider_for(msb, scope="todo.read"), event_hooks=traffic.hooks())
    with pytest.raises(BaseException) as raised:  # noqa: B017 - exception groups around the SDK's error
        anyio.run(_call_tools, msb.mcp_url, http, "legacy")
    error = _innermost(raised.value)
    assert type(error).__name__ == "OAuthTokenError"
    assert SCOPE_REFUSED in str(error) and "(400)" in str(error)
    (form,) = traffic.token_forms()
    assert form["scope"] == "todo.read"
    assert msb.sandbox.events.list()[-1]["outcome"] == {
        "result": "FAILURE",
        "reason": "id_jag_scopes_in_request",
    }


def test_after_a_403_the_provider_asks_again_with_the_scope_and_okta_refuses_it(msb: McpSandbox) -> None:
    traffic = Traffic()
    http = httpx2.AsyncClient(auth=provider_for(msb, id_jag_scope="todo.read"), event_hooks=traffic.hooks())
    with pytest.raises(BaseException) as raised:  # noqa: B017
        anyio.run(_call_tools, msb.mcp_url, http, "legacy")
    assert any(SCOPE_REFUSED in str(e) for e in _leaves(raised.value))
    first, second = traffic.token_forms()
    assert "scope" not in first
    assert second["scope"] == "todo.write"  # the scope the MCP server's 403 challenge named
    statuses = [(what, status) for _, _, what, status in traffic.seen if not isinstance(what, dict)]
    assert ("tools/call", 403) in statuses


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def test_the_provider_cannot_authenticate_an_agent_that_has_no_secret(msb: McpSandbox) -> None:
    async def unused(audience: str, resource: str) -> str:
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="client_secret is required"):
        IdentityAssertionOAuthProvider(
            server_url=msb.mcp_url,
            storage=MemoryStorage(),
            client_id=AGENT,
            client_secret="",
            issuer=msb.issuer,
            assertion_provider=unused,
        )
    # A made-up secret for the agent (private_key_jwt only): the authorization server refuses the client.
    traffic = Traffic()
    http = httpx2.AsyncClient(
        auth=provider_for(msb, client_id=AGENT, client_secret="made-up"), event_hooks=traffic.hooks()
    )
    with pytest.raises(BaseException) as raised:  # noqa: B017
        anyio.run(_call_tools, msb.mcp_url, http, "legacy")
    assert "(401)" in str(_innermost(raised.value)) and "invalid_client" in str(_innermost(raised.value))
