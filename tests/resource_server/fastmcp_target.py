"""A resource authorization server the project did not write: the MCP Python SDK's token endpoint with
FastMCP's ID-JAG validator, configured to trust the sandbox, on 127.0.0.1.

- MCP Python SDK (`mcp`, pinned in requirements.txt): `create_auth_routes(…, identity_assertion_enabled
  =True)` serves RFC 8414 metadata with the id-jag grant profile and a token endpoint that authenticates
  the client (client_secret_post / client_secret_basic; confidential clients only) and parses the JWT
  bearer request, then calls the provider's `exchange_identity_assertion`, which the SDK leaves to the
  implementer ("The implementation is responsible for validating params.assertion").
- FastMCP (`fastmcp`, pinned): `fastmcp.server.auth.identity_assertion.IdentityAssertionValidator`
  (beta) validates the ID-JAG: typ, trusted iss, signature by the issuer's JWKS (found by OIDC
  discovery), aud, exp, nbf, iat, lifetime, sub, client_id, jti replay.

The provider below is the thinnest possible glue: it knows the registered clients and, for an ID-JAG,
calls the validator and nothing else; it grants the scopes the ID-JAG carries (as FastMCP's own
`OAuthProxy.exchange_identity_assertion` does: it has no per-client scope policy) and mints an opaque
token. Every ID-JAG rule the battery checks is therefore the validator's (or the SDK's, for client
authentication and request parsing).
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from typing import Any

import uvicorn
from fastmcp.server.auth.identity_assertion import (
    IdentityAssertion,
    IdentityAssertionError,
    IdentityAssertionValidator,
)
from mcp.server.auth.provider import IdentityAssertionParams, TokenError
from mcp.server.auth.routes import create_auth_routes
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyHttpUrl
from starlette.applications import Starlette


class ValidatorOnlyProvider:
    """An MCP SDK provider whose only job is to hand each ID-JAG to FastMCP's validator."""

    def __init__(self, clients: dict[str, OAuthClientInformationFull], validator: IdentityAssertionValidator):
        self.clients = clients
        self.validator = validator

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def exchange_identity_assertion(
        self, client: OAuthClientInformationFull, params: IdentityAssertionParams
    ) -> OAuthToken:
        try:
            claims = await self.validator.validate(
                params.assertion, client_id=client.client_id or "", resource_url=None
            )
        except IdentityAssertionError:
            raise TokenError(error="invalid_grant", error_description="Invalid identity assertion") from None
        scope = claims.get("scope") if isinstance(claims.get("scope"), str) else None
        return OAuthToken(
            access_token=secrets.token_urlsafe(32), token_type="Bearer", expires_in=300, scope=scope
        )


class FastMcpTarget:
    """The MCP SDK's auth routes with FastMCP's validator, served by uvicorn in a thread."""

    def __init__(self, *, trusted_issuer: str, clients: dict[str, str]) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        # pydantic renders the issuer of a bare host with a trailing slash; the SDK publishes that.
        self.issuer = str(AnyHttpUrl(f"http://127.0.0.1:{port}"))
        validator = IdentityAssertionValidator(
            IdentityAssertion(trusted_issuers=[trusted_issuer], algorithm="RS256"), audience=self.issuer
        )
        registered = {
            client_id: OAuthClientInformationFull(
                client_id=client_id,
                client_secret=secret,
                token_endpoint_auth_method="client_secret_post",
                grant_types=["urn:ietf:params:oauth:grant-type:jwt-bearer"],
                redirect_uris=None,
            )
            for client_id, secret in clients.items()
        }
        provider = ValidatorOnlyProvider(registered, validator)
        routes = create_auth_routes(provider, AnyHttpUrl(self.issuer), identity_assertion_enabled=True)
        self.app = Starlette(routes=routes)
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off"))
        self._thread: threading.Thread | None = None

    def start(self) -> FastMcpTarget:
        """Serve on the bound loopback socket; return when it answers."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="fastmcp target", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self._server.started:
            raise RuntimeError("the MCP SDK / FastMCP target did not start")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._socket.close()

    def __enter__(self) -> FastMcpTarget:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
