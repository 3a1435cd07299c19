"""The MCP server's acceptances and refusals: exact status, `WWW-Authenticate`, JSON body and event.

- RFC 6750 §3, §3.1: a request with no token gets a challenge with no error code; `invalid_token` is
  401, `insufficient_scope` 403 naming the scope; RFC 9728 §5.1: `resource_metadata` in each challenge
- EMA §5.1 / §7.5.4: only tokens audience-restricted to the MCP server, signature verified
- Okta's catalog for every description (the same refusals as the demo API's)
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from joserfc.jwk import RSAKey
from mcp_support import INITIALIZE, McpSandbox, bearer, tools_call
from sandbox_flows import Signer, sign

NO_TOKEN = "The request has no bearer access token."
INVALID = "The access token is invalid."
AUDIENCE = "The access token provided is not intended for Okta."
ISSUER = "The access token provided has an invalid issuer."
EXPIRED = "The token has expired."
TIMESTAMP = "The token timestamp is invalid."
SCOPES = "The access token provided does not contain the required scopes."


@dataclass(frozen=True)
class Ctx:
    """What a case needs: the sandbox, and ways to make tokens."""

    msb: McpSandbox
    signer: Signer
    tokens: dict[str, str]

    def token(self, kind: str) -> str:
        """A real token of this kind, made once per test session."""
        if kind not in self.tokens:
            makers = {
                "mcp": lambda: self.msb.mcp_token(self.signer),
                "mcp-read": lambda: self.msb.mcp_token(self.signer, scope="todo.read"),
                "mcp-write": lambda: self.msb.mcp_token(self.signer, scope="todo.write"),
                "rest": lambda: self.msb.rest_token(self.signer),
            }
            self.tokens[kind] = makers[kind]()
        return self.tokens[kind]


@pytest.fixture(scope="module")
def ctx(msb: McpSandbox, signer: Signer) -> Ctx:
    return Ctx(msb, signer, {})


@dataclass(frozen=True)
class Case:
    """One refusal: the request's Authorization header and body, and the exact answer expected."""

    name: str
    authorization: Callable[[Ctx], str | None]
    status: int
    error: str
    description: str
    reason: str
    body: dict[str, Any] | None = None
    #: The challenge's parameters after "Bearer " (None: the error and description, as RFC 6750 §3).
    challenge: str | None = None
    scope: str | None = None


def _stranger_token(c: Ctx) -> str:
    stranger = RSAKey.generate_key(2048, parameters={"kid": c.msb.server_kid})  # the same kid, another key
    return sign(stranger, {"iss": c.msb.issuer, "aud": c.msb.mcp_url, "exp": int(time.time()) + 60}, {
        "alg": "RS256", "kid": c.msb.server_kid})  # fmt: skip


def _tampered(c: Ctx) -> str:
    head, _, signature = c.token("mcp-read").split(".")
    other = c.msb.forge(scp=["todo.read", "todo.write", "todo.admin"]).split(".")[1]
    return f"{head}.{other}.{signature}"


def _unsigned(c: Ctx) -> str:
    real = c.msb.forge().split(".")
    head = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": c.msb.server_kid}).encode())
    return head.decode().rstrip("=") + "." + real[1] + ".AAAA"


CASES = [
    Case(
        "no Authorization header",
        lambda c: None,
        401,
        "invalid_token",
        NO_TOKEN,
        "invalid_token",
        challenge="",
    ),
    Case(
        "Basic, not Bearer",
        lambda c: "Basic YWdlbnQ6c2VjcmV0",
        401,
        "invalid_token",
        NO_TOKEN,
        "invalid_token",
        challenge="",
    ),
    Case("Bearer with no token", lambda c: "Bearer ", 401, "invalid_token", INVALID, "access_token_invalid"),
    Case("not a JWT", lambda c: "Bearer not.a.jwt", 401, "invalid_token", INVALID, "access_token_invalid"),
    Case(
        "a kid the server does not have",
        lambda c: "Bearer " + c.msb.forge(header={"kid": "no-such-kid"}),
        401,
        "invalid_token",
        INVALID,
        "access_token_invalid",
    ),
    Case(
        "signed by another key with the server's kid",
        lambda c: "Bearer " + _stranger_token(c),
        401,
        "invalid_token",
        INVALID,
        "access_token_invalid",
    ),
    Case(
        "alg none", lambda c: "Bearer " + _unsigned(c), 401, "invalid_token", INVALID, "access_token_invalid"
    ),
    Case(
        "a claim edited after signing",
        lambda c: "Bearer " + _tampered(c),
        401,
        "invalid_token",
        INVALID,
        "access_token_invalid",
    ),
    Case(
        "issued by the org server",
        lambda c: "Bearer " + c.msb.forge(iss=c.msb.url),
        401,
        "invalid_token",
        ISSUER,
        "access_token_invalid_issuer",
    ),
    Case(
        "the REST API's token (aud api://default)",
        lambda c: "Bearer " + c.token("rest"),
        401,
        "invalid_token",
        AUDIENCE,
        "access_token_invalid_audience",
    ),
    Case(
        "a token for the REST API's resource URL",
        lambda c: "Bearer " + c.msb.forge(aud=c.msb.url + "/todo-api"),
        401,
        "invalid_token",
        AUDIENCE,
        "access_token_invalid_audience",
    ),
    Case(
        "aud with a trailing slash",
        lambda c: "Bearer " + c.msb.forge(aud=c.msb.mcp_url + "/"),
        401,
        "invalid_token",
        AUDIENCE,
        "access_token_invalid_audience",
    ),
    Case(
        "aud naming another resource too",
        lambda c: "Bearer " + c.msb.forge(aud=[c.msb.mcp_url, "api://default"]),
        401,
        "invalid_token",
        AUDIENCE,
        "access_token_invalid_audience",
    ),
    Case(
        "expired",
        lambda c: "Bearer " + c.msb.forge(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
        401,
        "invalid_token",
        EXPIRED,
        "token_expired",
    ),
    Case(
        "no exp",
        lambda c: "Bearer " + c.msb.forge(drop=("exp",)),
        401,
        "invalid_token",
        INVALID,
        "access_token_invalid",
    ),
    Case(
        "issued in the future",
        lambda c: "Bearer " + c.msb.forge(iat=int(time.time()) + 3600),
        401,
        "invalid_token",
        TIMESTAMP,
        "token_timestamp_invalid",
    ),
    Case(
        "add_todo with a todo.read token",
        lambda c: "Bearer " + c.token("mcp-read"),
        403,
        "insufficient_scope",
        SCOPES,
        "access_token_insufficient_scopes",
        body=tools_call("add_todo", {"title": "x"}),
        scope="todo.write",
    ),
    Case(
        "list_todos with a todo.write token",
        lambda c: "Bearer " + c.token("mcp-write"),
        403,
        "insufficient_scope",
        SCOPES,
        "access_token_insufficient_scopes",
        body=tools_call("list_todos"),
        scope="todo.read",
    ),
]


def test_the_table_covers_every_refusal_code_of_the_mcp_server() -> None:
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.reason for c in CASES} == {
        "invalid_token",
        "access_token_invalid",
        "access_token_invalid_issuer",
        "access_token_invalid_audience",
        "token_expired",
        "token_timestamp_invalid",
        "access_token_insufficient_scopes",
    }


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_refusal(ctx: Ctx, case: Case) -> None:
    authorization = case.authorization(ctx)
    headers = {"Authorization": authorization} if authorization is not None else {}
    answer = ctx.msb.post_mcp(case.body or INITIALIZE, headers=headers)
    assert answer.status_code == case.status
    assert answer.json() == {"error": case.error, "error_description": case.description}
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["Cache-Control"] == "no-store"
    metadata = f'resource_metadata="{ctx.msb.prm_url}"'
    named = f'error="{case.error}", error_description="{case.description}", '
    if case.challenge == "":
        expected = f"Bearer {metadata}"  # RFC 6750 §3.1: no token, no error code
    elif case.scope:
        expected = f'Bearer {named}scope="{case.scope}", {metadata}'  # RFC 6750 §3: the scope needed
    else:
        expected = f"Bearer {named}{metadata}"
    assert answer.headers["WWW-Authenticate"] == expected
    events = ctx.msb.events_of(answer)
    assert [(e["eventType"], e["outcome"]) for e in events] == [
        ("sandbox.mcp.access", {"result": "FAILURE", "reason": case.reason})
    ]


def test_a_valid_token_is_accepted_and_its_call_recorded(ctx: Ctx) -> None:
    answer = ctx.msb.post_mcp(tools_call("list_todos"), headers=bearer(ctx.token("mcp")))
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"] == 7 and body["result"]["isError"] is False
    assert body["result"]["structuredContent"]["user"] == "alice@example.com"
    (event,) = ctx.msb.events_of(answer)
    assert event["eventType"] == "sandbox.mcp.access" and event["outcome"]["result"] == "SUCCESS"
    debug = event["debugContext"]["debugData"]
    assert (debug["mcpMethod"], debug["mcpTool"], debug["neededScope"]) == (
        "tools/call",
        "list_todos",
        "todo.read",
    )


def test_initialize_and_tools_list_need_a_valid_token_but_no_particular_scope(ctx: Ctx) -> None:
    token = ctx.msb.forge(scp=[])
    assert ctx.msb.post_mcp(INITIALIZE, headers=bearer(token)).status_code == 200
    listed = ctx.msb.post_mcp({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=bearer(token))
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()["result"]["tools"]] == ["list_todos", "add_todo"]


@pytest.mark.parametrize(
    ("method", "path", "status", "error", "description"),
    [
        ("GET", "/nope", 404, "invalid_request", "There is no endpoint at /nope on this server."),
        ("GET", "/mcp/", 404, "invalid_request", "There is no endpoint at /mcp/ on this server."),
        (
            "POST",
            "/.well-known/oauth-protected-resource/mcp",
            405,
            "invalid_request",
            "The method POST is not allowed here. Allowed: [GET].",
        ),
    ],
)
def test_other_paths_and_methods_get_an_oauth_shaped_refusal(
    msb: McpSandbox, method: str, path: str, status: int, error: str, description: str
) -> None:
    answer = requests.request(method, msb.mcp_url.removesuffix("/mcp") + path, timeout=5)
    assert answer.status_code == status
    assert answer.json() == {"error": error, "error_description": description}
    assert [e["eventType"] for e in msb.events_of(answer)] == ["sandbox.http.request"]


def test_a_body_over_the_limit_is_refused_with_413_before_any_token_check(msb: McpSandbox) -> None:
    limit = msb.sandbox.config.max_body_bytes
    answer = requests.post(
        msb.mcp_url, data=b"x" * (limit + 1), headers={"Content-Type": "application/json"}, timeout=10
    )
    assert answer.status_code == 413
    assert answer.json() == {
        "error": "invalid_request",
        "error_description": f"The request body is larger than {limit} bytes.",
    }


def test_a_body_that_is_not_json_gets_the_sdks_json_rpc_parse_error_never_a_500(ctx: Ctx) -> None:
    answer = requests.post(
        ctx.msb.mcp_url,
        data=b"{not json",
        headers={
            **bearer(ctx.token("mcp")),
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        },
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == -32700  # JSON-RPC 2.0 §5.1: parse error
    assert ctx.msb.sandbox.unexpected_errors == 0
