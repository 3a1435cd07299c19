"""Step 7 (notebook 07): the sandbox's MCP server: the to-do list as MCP tools, behind the custom server.

- MCP Enterprise-Managed Authorization (modelcontextprotocol/ext-auth, specification/stable/
  enterprise-managed-authorization.mdx; "EMA"): §5.1 "the issued access token MUST be
  audience-restricted to the MCP Server identified by the `resource` claim in the ID-JAG"; §7.5.4
  "MCP Servers MUST validate access tokens according to their token format and policy (including
  signature verification for JWTs, and audience restrictions where applicable)"
- RFC 9728 §2, §3.1 (protected resource metadata, path-inserted well-known URL), §3.3 (`resource` is
  the identifier the URL was built from), §5.1 (`resource_metadata` in `WWW-Authenticate`)
- RFC 6750 §2.1 (bearer token in the Authorization header), §3, §3.1 (challenges; no error code when
  no token was sent; `insufficient_scope` is 403 and names the scope)
- RFC 9068 §4 / Okta's access token layout (`iss`, `aud`, `exp`, `iat`, `cid`, `uid`, `scp`)

Built on the official MCP Python SDK (`mcp`, pinned in requirements.txt): its `MCPServer` serves the
tools over streamable HTTP (stateless, JSON responses), and its `AuthContextMiddleware` hands each
tool the caller's token (`get_access_token()`). The SDK's own bearer middleware answers every failure
with one generic 401 or 403; this module puts its own ASGI layer in front instead, so that each
refusal is the same as the demo API's (api.py): Okta's catalog code, status, `error`,
`error_description`, and the RFC 6750 / RFC 9728 challenge. Per-tool scopes are checked there too,
before the SDK runs: a `tools/call` of `add_todo` needs `todo.write` (403 `insufficient_scope`).

The server runs under uvicorn in a thread of the sandbox's process, on its own loopback port (the
SDK's transport is ASGI; the authorization servers are WSGI under waitress). It verifies tokens as a
separate resource server would: the custom server's JWKS fetched over HTTP (`RemoteJwks`), the key
picked by `kid`, RS256 only. Its to-do store is the demo API's (`TodoApi.items_for`, `add_item`), keyed
by the user. Its decisions go to the sandbox's System Log (`sandbox.mcp.access`), each response
carrying the `X-Okta-Request-Id` its events record as `transaction.id`.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import uvicorn
from flask import Flask, g
from flask import request as flask_request
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware, get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import MCPServer
from pydantic import Field
from starlette.authentication import AuthCredentials
from werkzeug.routing import Rule
from werkzeug.test import EnvironBuilder

from . import events
from .access_tokens import lifetime_refusal
from .api import RemoteJwks, TodoApi
from .errors import SandboxError, refuse
from .jwts import MalformedJWT, SignatureInvalid, parse_unverified, verify_signature
from .system_log import REQUEST_ID_HEADER

if TYPE_CHECKING:
    from .core import Sandbox

log = logging.getLogger("sandbox.mcp")
access_log = logging.getLogger("sandbox.access")

#: The MCP endpoint's path: the resource identifier is `http://127.0.0.1:<port>/mcp`.
MCP_PATH = "/mcp"
#: RFC 9728 §3.1: the well-known segment inserted between the host and the resource's path.
PRM_PREFIX = "/.well-known/oauth-protected-resource"
#: The port `python -m sandbox serve` uses when the org is on its usual port (8400).
DEFAULT_MCP_PORT = 8401
DEFAULT_ORG_PORT = 8400
SERVER_NAME = "Sandbox to-do MCP server"
MAX_TITLE = 200
#: The signing algorithm the custom server uses; the only one accepted (RFC 8725 §3.1).
ACCEPTED_ALGS = ("RS256",)


def default_mcp_port(org_port: int) -> int:
    """Choose the MCP server's port: 8401 beside an org on 8400, else any free port (0)."""
    return DEFAULT_MCP_PORT if org_port == DEFAULT_ORG_PORT else 0


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


# --- Token verification -------------------------------------------------------------------------


class McpTokenVerifier:
    """Verify the custom server's access tokens for the MCP server; refuse in Okta's terms.

    Also an MCP SDK `TokenVerifier` (`verify_token`), for code that wants the SDK's interface.
    """

    def __init__(self, sandbox: Sandbox, resource: str, metadata_url: str) -> None:
        self.sandbox = sandbox
        config = sandbox.config.api
        server_id = config.authorization_server
        self.issuer = sandbox.server_issuer(server_id)
        #: EMA §5.1: the one audience accepted is this MCP server's resource identifier.
        self.resource = resource
        self.metadata_url = metadata_url
        self.jwks = RemoteJwks(
            sandbox.server_keys_url(server_id),
            min_refetch_seconds=config.jwks_min_refetch_seconds,
            ca_file=sandbox.ca_file,  # an HTTPS org: the sandbox's own test CA
        )

    def challenge(
        self, error: str | None = None, description: str | None = None, scope: str | None = None
    ) -> str:
        """Return the RFC 6750 §3 challenge naming the metadata URL (RFC 9728 §5.1)."""
        parts = []
        if error:
            parts.append(f'error="{error}"')
        if description:
            parts.append(f'error_description="{_quote(description)}"')
        if scope:
            parts.append(f'scope="{scope}"')
        parts.append(f'resource_metadata="{self.metadata_url}"')
        return "Bearer " + ", ".join(parts)

    def _challenged(self, error: SandboxError) -> SandboxError:
        error.extra_headers.append(("WWW-Authenticate", self.challenge(error.error, error.description)))
        return error

    def check(self, authorization: str, needed: str | None) -> dict[str, Any]:
        """Return the claims of a valid token carrying `needed`, or raise the 401/403 refusal."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            # RFC 6750 §3.1: no authentication information, so no error code in the challenge.
            error = refuse("invalid_token", description="The request has no bearer access token.")
            error.extra_headers.append(("WWW-Authenticate", self.challenge()))
            raise error
        token = token.strip()
        if not token or " " in token:
            raise self._challenged(refuse("access_token_invalid", detail="empty or malformed bearer value"))
        try:
            jwt = parse_unverified(token)
        except MalformedJWT as exc:
            raise self._challenged(refuse("access_token_invalid", detail=str(exc))) from None
        # RFC 8725 §3.1: the key is picked by kid among the issuer's keys, the algorithm from a fixed list.
        key = self.jwks.key(jwt.kid)
        if key is None:
            raise self._challenged(refuse("access_token_invalid", detail=f"unknown kid {jwt.kid!r}"))
        try:
            verify_signature(jwt, key, ACCEPTED_ALGS)
        except SignatureInvalid as exc:
            raise self._challenged(refuse("access_token_invalid", detail=str(exc))) from None
        claims = jwt.claims
        client_id, user_id = claims.get("cid"), claims.get("uid")
        if claims.get("iss") != self.issuer:
            raise self._challenged(
                refuse("access_token_invalid_issuer", client_id=client_id, user_id=user_id)
            )
        aud = claims.get("aud")
        # EMA §5.1 and §7.5.4: audience-restricted to this MCP server, exactly (RFC 9728 §3.3 spelling):
        # a token for the REST API (`api://default` or its resource URL) is refused here.
        if not (aud == self.resource or aud == [self.resource]):
            raise self._challenged(
                refuse(
                    "access_token_invalid_audience",
                    client_id=client_id,
                    user_id=user_id,
                    aud=str(aud),
                    expected=self.resource,
                )
            )
        expired = lifetime_refusal(claims, self.sandbox.config.lifetimes.clock_skew, client_id, user_id)
        if expired is not None:
            raise self._challenged(expired)
        granted = claims.get("scp")
        if needed and not (isinstance(granted, list) and needed in granted):
            # RFC 6750 §3.1: insufficient_scope, 403, naming the scope needed.
            error = refuse(
                "access_token_insufficient_scopes", client_id=client_id, user_id=user_id, needed=needed
            )
            error.extra_headers.append(
                ("WWW-Authenticate", self.challenge("insufficient_scope", error.description, needed))
            )
            raise error
        return claims

    async def verify_token(self, token: str) -> AccessToken | None:
        """Verify a token for the MCP SDK (`TokenVerifier`): its facts, or None when it is refused."""
        try:
            claims = await anyio.to_thread.run_sync(self.check, f"Bearer {token}", None)
        except SandboxError:
            return None
        return access_token_of(token, claims)


def access_token_of(token: str, claims: dict[str, Any]) -> AccessToken:
    """Return the MCP SDK's view of a verified token (what tools read through `get_access_token()`)."""
    scopes = claims.get("scp") if isinstance(claims.get("scp"), list) else []
    aud = claims.get("aud")
    return AccessToken(
        token=token,
        client_id=str(claims.get("cid", "")),
        scopes=[str(s) for s in scopes],
        expires_at=int(claims["exp"]),
        resource=aud if isinstance(aud, str) else None,
        subject=str(claims.get("sub")) if claims.get("sub") is not None else None,
        claims=claims,
    )


# --- The MCP tools --------------------------------------------------------------------------------


def build_mcp_server(sandbox: Sandbox, store: TodoApi) -> tuple[MCPServer, dict[str, str]]:
    """Build the MCP SDK server with the to-do tools; return it and the scope each tool needs."""
    api = sandbox.config.api
    tool_scopes = {"list_todos": api.read_scope, "add_todo": api.write_scope}
    server = MCPServer(
        name="sandbox-todo",
        title=SERVER_NAME,
        version="1.0",
        instructions="The user's to-do list, the same as the sandbox's demo REST API.",
        log_level="WARNING",
    )

    def claims_with(scope: str) -> dict[str, Any]:
        # Checked before the SDK runs (McpApp); again here, in case a request reaches a tool otherwise.
        token = get_access_token()
        if token is None or token.claims is None or scope not in token.scopes:
            raise PermissionError(f"the access token does not carry the scope {scope}")
        return token.claims

    @server.tool(description=f"List the user's to-dos. Needs the {api.read_scope} scope.")
    def list_todos() -> dict[str, Any]:
        claims = claims_with(api.read_scope)
        return {"user": claims.get("sub"), "todos": store.items_for(claims)}

    @server.tool(description=f"Add a to-do to the user's list. Needs the {api.write_scope} scope.")
    def add_todo(
        title: Annotated[str, Field(min_length=1, max_length=MAX_TITLE, description="What to do")],
    ) -> dict[str, Any]:
        claims = claims_with(api.write_scope)
        if not title.strip():
            raise ValueError("the title is blank")
        return store.add_item(claims, title)

    return server, tool_scopes


# --- The ASGI layer in front of the SDK --------------------------------------------------------------


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def needed_scope(body: bytes, tool_scopes: dict[str, str]) -> tuple[str | None, dict[str, str]]:
    """Return the scope a JSON-RPC POST body needs (a `tools/call` of a known tool), and facts to log."""
    try:
        message = json.loads(body) if body else None
    except (ValueError, RecursionError):
        return None, {}
    messages = message if isinstance(message, list) else [message]
    facts: dict[str, str] = {}
    for item in messages:
        if not isinstance(item, dict) or not isinstance(item.get("method"), str):
            continue
        facts.setdefault("mcpMethod", item["method"][:100])
        params = item.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        if item["method"] == "tools/call" and isinstance(name, str):
            facts["mcpTool"] = name[:100]
            if name in tool_scopes:
                return tool_scopes[name], facts
    return None, facts


@dataclass
class _Answer:
    """What the front layer decided: refuse with this error, or let the SDK answer for these claims."""

    claims: dict[str, Any] | None = None
    error: SandboxError | None = None


class McpApp:
    """The ASGI app on the MCP port: RFC 9728 metadata, token checks, then the SDK's transport."""

    def __init__(self, sandbox: Sandbox, flask_app: Flask, store: TodoApi, url: str) -> None:
        self.sandbox = sandbox
        self.flask_app = flask_app
        self.url = url
        self.origin = url[: -len(MCP_PATH)]
        metadata_url = sandbox.mcp_metadata_url or f"{self.origin}{PRM_PREFIX}{MCP_PATH}"
        self.verifier = McpTokenVerifier(sandbox, url, metadata_url)
        self.server, self.tool_scopes = build_mcp_server(sandbox, store)
        # Stateless, JSON answers: each POST is one JSON-RPC exchange (no session id, no SSE stream).
        self.inner = self.server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=True,
            json_response=True,
            max_request_body_size=sandbox.config.max_body_bytes,
            host="127.0.0.1",
        )
        self.authorized = AuthContextMiddleware(self.inner)

    def metadata(self) -> dict[str, Any]:
        """Return the protected resource metadata (RFC 9728 §2): `resource` is the MCP endpoint's URL."""
        config = self.sandbox.config
        server = config.servers[config.api.authorization_server]
        return {
            "resource": self.url,
            "authorization_servers": [self.verifier.issuer],
            "scopes_supported": [
                s for s in (config.api.read_scope, config.api.write_scope) if server.scopes[s].public
            ],
            "bearer_methods_supported": ["header"],
            "resource_name": SERVER_NAME,
        }

    # --- the Flask context the sandbox's errors and events need -------------------------------------
    def _environ(self, scope: dict[str, Any]) -> dict[str, Any]:
        client = scope.get("client") or ("127.0.0.1", 0)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers") or []]
        return EnvironBuilder(
            path=scope.get("path", "/"),
            base_url=self.origin,
            method=scope.get("method", "GET"),
            headers=headers,
            query_string=scope.get("query_string", b"").decode("latin-1"),
            environ_base={"REMOTE_ADDR": client[0]},
        ).get_environ()

    def _decide(
        self,
        scope: dict[str, Any],
        request_id: str,
        decide: Callable[[], dict[str, Any] | None],
        *,
        endpoint: str | None = events.MCP_ENDPOINT,
    ) -> _Answer:
        """Run `decide` as if in a sandbox request (refusals recorded under this request's id).

        `endpoint` names the event type (sandbox.events): the MCP endpoint's `sandbox.mcp.access`,
        or None for a refusal of the transport (unknown path, method, size): `sandbox.http.request`.
        """
        with self.flask_app.request_context(self._environ(scope)):
            g.okta_request_id = request_id
            if endpoint is not None:
                flask_request.url_rule = Rule(scope.get("path", "/"), endpoint=endpoint)
            try:
                return _Answer(claims=decide())
            except SandboxError as error:
                return _Answer(error=error)

    # --- ASGI ----------------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)  # lifespan: the SDK's session manager
            return
        request_id = events.new_request_id()
        status_seen: list[int] = []

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_seen.append(message["status"])
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-okta-request-id"]
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = dict(message, headers=headers)
            await send(message)

        try:
            await self._dispatch(scope, receive, send_with_id, request_id)
        except Exception:  # noqa: BLE001 - answered in the OAuth shape, counted, logged
            self.sandbox.count_unexpected()
            log.exception("unexpected failure on %s %s", scope.get("method"), scope.get("path"))
            if not status_seen:
                await self._send_error(send_with_id, refuse("http_server_error"))
        access_log.info(
            "MCP %s %s %s", scope.get("method"), scope.get("path"), status_seen[0] if status_seen else "-"
        )

    async def _dispatch(self, scope: dict[str, Any], receive: Any, send: Any, request_id: str) -> None:
        path, method = scope.get("path", ""), scope.get("method", "GET")
        if path in (PRM_PREFIX + MCP_PATH, PRM_PREFIX):
            if method != "GET":
                await self._refuse(send, scope, request_id, lambda: self._not_allowed(method, "GET"))
                return
            await self._send_json(send, 200, self.metadata())
            return
        if path != MCP_PATH:
            await self._refuse(send, scope, request_id, lambda: refuse("http_not_found", path))
            return
        body = b""
        if method == "POST":
            body, too_large = await self._read_body(receive)
            if too_large:
                limit = self.sandbox.config.max_body_bytes
                await self._refuse(send, scope, request_id, lambda: refuse("http_request_too_large", limit))
                return
        needed, facts = needed_scope(body, self.tool_scopes)
        authorization = _header(scope, b"authorization")

        def decide() -> dict[str, Any]:
            claims = self.verifier.check(authorization, needed)
            events.record_success(
                events.MCP_ACCESS,
                client_id=claims.get("cid") if isinstance(claims.get("cid"), str) else None,
                user_id=claims.get("uid") if isinstance(claims.get("uid"), str) else None,
                neededScope=needed or "(any valid token)",
                **facts,
            )
            return claims

        answer = await anyio.to_thread.run_sync(self._decide, scope, request_id, decide)
        if answer.error is not None:
            await self._send_error(send, answer.error)
            return
        assert answer.claims is not None
        token = authorization.partition(" ")[2].strip()
        access = access_token_of(token, answer.claims)
        scope = dict(scope, user=AuthenticatedUser(access), auth=AuthCredentials(access.scopes))
        await self.authorized(scope, _replay(body, receive), send)

    async def _refuse(
        self, send: Any, scope: dict[str, Any], request_id: str, make: Callable[[], SandboxError]
    ) -> None:
        """Build a refusal inside the request's context (so it is recorded) and send it."""

        def decide() -> dict[str, Any]:
            raise make()

        await self._send_error(send, self._decide(scope, request_id, decide, endpoint=None).error)

    def _not_allowed(self, method: str, allowed: str) -> SandboxError:
        error = refuse("http_method_not_allowed", method, allowed)
        error.extra_headers.append(("Allow", allowed))
        return error

    async def _read_body(self, receive: Any) -> tuple[bytes, bool]:
        limit = self.sandbox.config.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), False

    async def _send_json(
        self, send: Any, status: int, data: dict[str, Any], headers: list[tuple[str, str]] | None = None
    ) -> None:
        body = json.dumps(data).encode("utf-8")
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers or []]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    async def _send_error(self, send: Any, error: SandboxError | None) -> None:
        assert error is not None
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        await self._send_json(send, error.status_code, error.body(), headers)


def _replay(body: bytes, receive: Any) -> Any:
    """Return a `receive` that hands the already-read body to the SDK once, then waits on the client."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# --- Hosting: uvicorn in a thread, on its own loopback port ----------------------------------------


class McpHost:
    """The MCP server bound to a loopback socket, served by uvicorn in a daemon thread."""

    def __init__(self, sandbox: Sandbox, sock: socket.socket) -> None:
        self.sandbox = sandbox
        self.sock = sock
        port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}{MCP_PATH}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def bind(cls, sandbox: Sandbox, port: int) -> McpHost:
        """Bind 127.0.0.1:`port` (0: any free port) and set the sandbox's MCP URL ("{mcp}")."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))  # loopback only, whatever address the org binds
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        host = cls(sandbox, sock)
        sandbox.mcp_url = host.url
        return host

    def start(self, flask_app: Flask, *, timeout: float = 15.0) -> None:
        """Build the app (sharing the demo API's store) and serve it until `stop`."""
        store = flask_app.extensions["sandbox_servers"]["api"]
        app = McpApp(self.sandbox, flask_app, store, self.url)
        config = uvicorn.Config(
            app,
            lifespan="on",
            log_level="warning",
            access_log=False,
            loop="asyncio",
            http="h11",
            ws="none",
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=3,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self.sock]}, name=f"mcp {self.url}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the MCP server at {self.url} did not start")
            time.sleep(0.02)

    def request_stop(self) -> None:
        """Ask uvicorn to stop (non-blocking; safe from a signal handler)."""
        if self._server is not None:
            self._server.should_exit = True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread; close the socket."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():  # pragma: no cover - a hung request
                log.warning("the MCP server at %s did not stop within %s s", self.url, timeout)
        self.sock.close()
