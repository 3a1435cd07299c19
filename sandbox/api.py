"""Step 4 (notebook 04): the demo to-do API, a resource server separate from the authorization servers.

- RFC 6750 §2.1 (bearer token in the Authorization header), §3 and §3.1 (WWW-Authenticate, errors)
- RFC 9728 §2, §3 (protected resource metadata), §5.1 (resource_metadata in WWW-Authenticate)
- RFC 9068 §4 / Okta's access token layout (iss, aud, exp, scp)
- RFC 8707 §2 and Okta ("Exchange ID-JAG for access token"): a token minted for a `resource` has that
  resource as `aud`. A resource server behind the custom server accepts the server's audience and its
  own resource URL, and refuses a token minted for any other resource (MCP EMA §5.1's audience
  restriction, seen from the resource's side).

It shares the process but not the memory of the custom server: it reads the server's published JWKS
(`{issuer}/v1/keys`, the same endpoint and document any client gets), caches it, and refetches on an
unknown `kid` at most every few seconds. From inside the sandbox the request goes through the Flask app
itself rather than a socket: a burst of API calls waiting for the keys holds every worker thread, and a
fetch over the socket would then wait for a free one (seen in a soak run as 5 s stalls and refused
tokens at start-up). The MCP server, served by its own threads, fetches over HTTP.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from flask import Response, current_app, has_app_context, jsonify
from flask import request as flask_request
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from . import events
from .access_tokens import lifetime_refusal
from .errors import SandboxError, refuse
from .jwts import MalformedJWT, SignatureInvalid, parse_unverified, verify_signature

if TYPE_CHECKING:
    from .core import Sandbox

log = logging.getLogger("sandbox.api")

_MAX_TITLE = 200
_MAX_ITEMS_PER_USER = 200


class RemoteJwks:
    """The custom server's public keys as a separate resource server sees them: its published JWKS."""

    def __init__(
        self,
        url: str,
        *,
        min_refetch_seconds: float,
        local_origin: str | None = None,
        ca_file: Path | None = None,
    ) -> None:
        self.url = url
        #: What the fetch verifies an https URL with: the sandbox's test CA when it serves HTTPS.
        self.verify: str | bool = str(ca_file) if ca_file is not None else True
        self.min_refetch = min_refetch_seconds
        #: The sandbox's own origin: a fetch from inside one of its requests goes through its app.
        self.local_origin = local_origin
        self._keys: dict[str, RSAKey] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: Any) -> RSAKey | None:
        """Return the key named `kid`, refetching the JWKS when it is unknown (rate-limited)."""
        if not isinstance(kid, str):
            return None
        key = self._keys.get(kid)
        if key is not None:
            return key
        with self._lock:
            if kid in self._keys:
                return self._keys[kid]
            now = time.monotonic()
            if self._fetched_at is None or now - self._fetched_at >= self.min_refetch:
                self._fetched_at = now
                self._fetch()
            return self._keys.get(kid)

    def _document(self) -> dict[str, Any]:
        """GET the JWKS: through the Flask app when called inside its request (no worker needed)."""
        if self.local_origin and self.url.startswith(self.local_origin + "/") and has_app_context():
            answer = current_app.test_client().get(
                self.url[len(self.local_origin) :], headers={"Accept": "application/json"}
            )
            if answer.status_code != 200:
                raise ValueError(f"HTTP {answer.status_code}")
            return answer.get_json()
        response = requests.get(
            self.url, timeout=5, headers={"Accept": "application/json"}, verify=self.verify
        )
        response.raise_for_status()
        return response.json()

    def _fetch(self) -> None:
        try:
            keys = {}
            for jwk in self._document().get("keys", []):
                if jwk.get("kty") == "RSA" and isinstance(jwk.get("kid"), str):
                    keys[jwk["kid"]] = RSAKey.import_key({k: jwk[k] for k in ("kty", "n", "e")})
            self._keys = keys
        except (requests.RequestException, ValueError, AttributeError, JoseError) as exc:
            log.warning("could not fetch the JWKS at %s: %s", self.url, exc)


def _owner(claims: dict[str, Any]) -> str:
    """Whose list a token reaches: the user (`uid`), or a service named by `sub` (no user)."""
    return str(claims["uid"]) if isinstance(claims.get("uid"), str) else f"service:{claims.get('sub')}"


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class TodoApi:
    """The demo API: GET/POST {org}/todo-api/todos and GET {org}/todo-api/me."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        config = sandbox.config.api
        server_id = config.authorization_server
        self.issuer = sandbox.server_issuer(server_id)
        #: The audiences this API accepts: the custom server's, and its own resource URL (RFC 8707).
        self.audiences = (sandbox.config.servers[server_id].audience, sandbox.api_resource)
        self.jwks = RemoteJwks(
            sandbox.server_keys_url(server_id),
            min_refetch_seconds=config.jwks_min_refetch_seconds,
            local_origin=sandbox.org_url,
            ca_file=sandbox.ca_file,
        )
        self._todos: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # --- RFC 9728 ------------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The protected resource metadata (RFC 9728 §2)."""
        config = self.sandbox.config
        server = config.servers[config.api.authorization_server]
        return {
            "resource": self.sandbox.api_resource,
            "authorization_servers": [self.issuer],
            "scopes_supported": [
                s for s in (config.api.read_scope, config.api.write_scope) if server.scopes[s].public
            ],
            "bearer_methods_supported": ["header"],
            "resource_name": config.api.name,
        }

    # --- Access token checks (RFC 6750, RFC 9068 §4) -------------------------------------------

    def _challenge(
        self, error: str | None = None, description: str | None = None, scope: str | None = None
    ) -> tuple[str, str]:
        parts = []
        if error:
            parts.append(f'error="{error}"')
        if description:
            parts.append(f'error_description="{_quote(description)}"')
        if scope:
            parts.append(f'scope="{scope}"')
        parts.append(f'resource_metadata="{self.sandbox.api_metadata_url}"')
        return ("WWW-Authenticate", "Bearer " + ", ".join(parts))

    def _challenged(self, error: SandboxError) -> SandboxError:
        """Add the RFC 6750 §3 challenge naming the error and the metadata URL (RFC 9728 §5.1)."""
        error.extra_headers.append(self._challenge(error.error, error.description))
        return error

    def authorize(self, scope: str | None) -> dict[str, Any]:
        """Return the claims of a valid access token carrying `scope`, or raise the 401/403 refusal."""
        header = flask_request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            # RFC 6750 §3.1: no authentication information, so no error code in the challenge.
            error = refuse("invalid_token", description="The request has no bearer access token.")
            error.extra_headers.append(self._challenge())
            raise error
        token = token.strip()
        if not token or " " in token:
            raise self._challenged(refuse("access_token_invalid", detail="empty or malformed bearer value"))
        try:
            jwt = parse_unverified(token)
        except MalformedJWT as exc:
            raise self._challenged(refuse("access_token_invalid", detail=str(exc))) from None
        key = self.jwks.key(jwt.kid)
        if key is None:
            raise self._challenged(refuse("access_token_invalid", detail=f"unknown kid {jwt.kid!r}"))
        try:
            verify_signature(jwt, key, ["RS256"])
        except SignatureInvalid as exc:
            raise self._challenged(refuse("access_token_invalid", detail=str(exc))) from None
        claims = jwt.claims
        client_id, user_id = claims.get("cid"), claims.get("uid")
        if claims.get("iss") != self.issuer:
            raise self._challenged(
                refuse("access_token_invalid_issuer", client_id=client_id, user_id=user_id)
            )
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if not any(a in self.audiences for a in audiences):
            raise self._challenged(
                refuse("access_token_invalid_audience", client_id=client_id, user_id=user_id)
            )
        expired = lifetime_refusal(claims, self.sandbox.config.lifetimes.clock_skew, client_id, user_id)
        if expired is not None:
            raise self._challenged(expired)
        granted = claims.get("scp")
        if scope and not (isinstance(granted, list) and scope in granted):
            # RFC 6750 §3.1: insufficient_scope, 403, naming the scope needed.
            error = refuse(
                "access_token_insufficient_scopes", client_id=client_id, user_id=user_id, needed=scope
            )
            error.extra_headers.append(self._challenge("insufficient_scope", error.description, scope))
            raise error
        events.record_success(
            events.API_ACCESS,
            client_id=client_id if isinstance(client_id, str) else None,
            user_id=user_id if isinstance(user_id, str) else None,
            neededScope=scope or "(any valid token)",
        )
        return claims

    # --- The to-do store, shared with the MCP server (sandbox/mcp_server.py) ---------------------

    def items_for(self, claims: dict[str, Any]) -> list[dict[str, Any]]:
        """Return (copies of) the to-dos of the user or service a verified token speaks for."""
        with self._lock:
            return [dict(item) for item in self._todos.get(_owner(claims), [])]

    def add_item(self, claims: dict[str, Any], title: str) -> dict[str, Any]:
        """Add a to-do (title already checked) for whom a verified token speaks for; return it."""
        with self._lock:
            items = self._todos.setdefault(_owner(claims), [])
            if len(items) >= _MAX_ITEMS_PER_USER:
                items.pop(0)
            item = {
                "id": next(self._ids),
                "title": title.strip(),
                "done": False,
                "created_by": claims.get("cid"),
            }
            items.append(item)
        return dict(item)

    # --- Routes --------------------------------------------------------------------------------

    def list_todos(self) -> Response:
        claims = self.authorize(self.sandbox.config.api.read_scope)
        return jsonify({"user": claims.get("sub"), "todos": self.items_for(claims)})

    def add_todo(self) -> Response:
        claims = self.authorize(self.sandbox.config.api.write_scope)
        data = flask_request.get_json(silent=True) if flask_request.is_json else None
        title = data.get("title") if isinstance(data, dict) else None
        if not isinstance(title, str) or not title.strip() or len(title) > _MAX_TITLE:
            raise refuse(
                "invalid_request",
                description=(
                    'The body must be JSON like {"title": "..."} '
                    f"with a title of 1 to {_MAX_TITLE} characters."
                ),
                client_id=claims.get("cid"),
            )
        item = self.add_item(claims, title)
        response = jsonify(item)
        response.status_code = 201
        return response

    def me(self) -> Response:
        claims = self.authorize(None)
        seen = {k: claims.get(k) for k in ("sub", "uid", "cid", "scp", "iss", "aud")}
        if "sub_profile" in claims:
            seen["sub_profile"] = claims["sub_profile"]
        return jsonify(seen)
