"""Step 8 (notebook 08): a resource authorization server on loopback: the plumbing of a JWT bearer endpoint.

Notebook 08 writes the interesting part, the checks of an ID-JAG, cell by cell, and plugs them in
as `server.jwt_bearer`; this module does the rest, the parts every OAuth server has:

- an HTTP server on 127.0.0.1 and an ephemeral port, in a thread (werkzeug), stopped by `stop()`;
- its token endpoint (RFC 6749 §3.2: POST, form-encoded, each parameter once), which authenticates
  the client first (RFC 6749 §2.3: `client_secret_basic` / `client_secret_post`; RFC 7523 §2.2:
  `private_key_jwt`), then calls `jwt_bearer(request)` for `grant_type=…:jwt-bearer`;
- refusals as OAuth error bodies (RFC 6749 §5.2): a `Refusal` raised by the checks becomes its
  status and `{"error", "error_description"}`; anything else is a counted `500 server_error`;
- its own signing key (RSA, in a PEM file of mode 0600, never printed), published at `jwks_uri`, and
  `issue_access_token` for RFC 9068 JWT access tokens signed with it;
- its RFC 8414 metadata at `/.well-known/oauth-authorization-server`, whatever `server.metadata` holds.
"""

from __future__ import annotations

import base64
import hmac
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from flask import Flask, Response, jsonify, request
from jose import jwk as jose_jwk
from jose import jwt as jose_jwt
from jose.exceptions import JOSEError
from werkzeug.serving import WSGIRequestHandler, make_server

from .constants import ACCESS_TOKEN_JWT_TYP, CLIENT_ASSERTION_TYPE_JWT_BEARER, GRANT_JWT_BEARER
from .core.errors import ConfigError, ResponseError
from .core.jwts import decode_unverified, pick_key
from .core.keys import AgentKey, ensure_agent_key
from .core.transport import TOKEN_FIELDS

FORM = "application/x-www-form-urlencoded"
#: Algorithms accepted for client assertions (never `none`, never HS*; RFC 8725 §3.1).
CLIENT_ASSERTION_ALGS = ("RS256", "ES256")


class Refusal(Exception):
    """A refused token request: an OAuth error code, a description, and the HTTP status (RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class RegisteredClient:
    """A client of this server: its id, and a secret or public keys (JWKS) to authenticate it."""

    client_id: str
    secret: str | None = field(default=None, repr=False)
    jwks: dict[str, Any] | None = field(default=None, repr=False)


@dataclass
class TokenRequest:
    """A token request whose client is authenticated: the client id and the form parameters."""

    client_id: str
    form: dict[str, str]


class ExpiringSet:
    """Values remembered until a time (jti replay caches); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def first_use(self, value: str, *, until: float) -> bool:
        """Remember `value` until `until` (epoch seconds); False if it was already remembered."""
        now = time.time()
        with self._lock:
            for key in [k for k, t in self._until.items() if t < now]:
                del self._until[key]
            if value in self._until:
                return False
            self._until[value] = until
            return True

    def __len__(self) -> int:
        return len(self._until)


class ResourceServer:
    """A resource authorization server on 127.0.0.1: `start()`, `issuer`, `token_endpoint`, `stop()`.

    Example:
        server = ResourceServer(key_file=Path(".kit/ras/signing.pem"), clients=[...]).start()
        server.jwt_bearer = redeem_id_jag        # (TokenRequest) -> token response dict
        server.metadata = {...}                  # RFC 8414
    """

    def __init__(self, *, key_file: Path, clients: list[RegisteredClient], name: str = "notes") -> None:
        self.name = name
        self.clients = {c.client_id: c for c in clients}
        # The server's own key pair: private PEM of mode 0600, public JWKS beside it (helpers.core.keys).
        self.key: AgentKey = ensure_agent_key(Path(key_file), Path(key_file).with_suffix(".jwks.json"))[0]
        self._signing_key = _jose_private(self.key)  # built once: parsing an RSA key is slow
        self.jwt_bearer: Callable[[TokenRequest], dict[str, Any]] | None = None
        self.metadata: dict[str, Any] = {}
        self.unexpected_errors = 0
        self.last_unexpected: str | None = None
        self._assertion_jtis = ExpiringSet()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.app = self._make_app()

    # --- addresses ---------------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        """`http://127.0.0.1:<port>`: the server's issuer identifier (RFC 8414 §2), and the ID-JAG's aud."""
        if self._server is None:
            raise RuntimeError("the server is not started: call start() first")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/token"

    @property
    def jwks_uri(self) -> str:
        return self.issuer + "/jwks"

    @property
    def metadata_url(self) -> str:
        """RFC 8414 §3: the well-known URL (the issuer has no path, so nothing is inserted)."""
        return self.issuer + "/.well-known/oauth-authorization-server"

    def __repr__(self) -> str:
        where = self.issuer if self._server is not None else "not started"
        return f"ResourceServer({self.name!r}, {where}, clients={sorted(self.clients)})"

    # --- running -----------------------------------------------------------------------------------

    def start(self) -> ResourceServer:
        """Listen on 127.0.0.1 and an ephemeral port, in a daemon thread; return self."""
        if self._server is None:
            # Loopback only: this server is for learning and testing, never exposed.
            self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_Quiet)
            self._thread = threading.Thread(
                target=self._server.serve_forever, name=f"resource server {self.name}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and join the thread (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(10)
        self._server = None

    def __enter__(self) -> ResourceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- issuing -----------------------------------------------------------------------------------

    def issue_access_token(
        self, *, subject: str, client_id: str, scopes: list[str], audience: str, lifetime: int = 300
    ) -> dict[str, Any]:
        """Sign an RFC 9068 access token with this server's key; return the RFC 6749 §5.1 response."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "client_id": client_id,
            "scope": " ".join(scopes),
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + lifetime,
        }
        # RFC 9068 §2.1: typ at+jwt; the key named by kid, published at jwks_uri.
        token = jose_jwt.encode(
            claims,
            self._signing_key,
            algorithm="RS256",
            headers={"kid": self.key.kid, "typ": ACCESS_TOKEN_JWT_TYP},
        )
        # ID-JAG -04 §4.4.3: no refresh token; the granted scope always in the response (§4.4.1).
        return {
            "token_type": "Bearer",
            "access_token": token,
            "expires_in": lifetime,
            "scope": claims["scope"],
        }

    # --- HTTP --------------------------------------------------------------------------------------

    def _make_app(self) -> Flask:
        app = Flask(f"resource-server-{self.name}")
        app.json.sort_keys = False

        @app.get("/.well-known/oauth-authorization-server")
        def metadata() -> Response:
            return jsonify(self.metadata)

        @app.get("/jwks")
        def jwks() -> Response:
            return jsonify(self.key.jwks)

        @app.post("/token")
        def token() -> Response:
            try:
                answer = self._token()
            except Refusal as refusal:
                return _error(refusal)
            except Exception as exc:  # noqa: BLE001 - a bug in the checks: say so, count it
                self.unexpected_errors += 1
                self.last_unexpected = f"{type(exc).__name__}: {exc}"
                return _error(Refusal("server_error", "The server failed to handle the request.", 500))
            response = jsonify(answer)
            response.headers["Cache-Control"] = "no-store"
            return response

        @app.errorhandler(404)
        @app.errorhandler(405)
        def not_here(error: Any) -> Response:
            return _error(
                Refusal("invalid_request", f"No endpoint {request.method} {request.path}.", error.code)
            )

        return app

    def _token(self) -> dict[str, Any]:
        # RFC 6749 §3.2: form-encoded POST; §3.1: parameters sent at most once.
        if request.mimetype != FORM:
            raise Refusal("invalid_request", f"The body must be {FORM}.")
        repeated = sorted(k for k in request.form if len(request.form.getlist(k)) > 1)
        if repeated:
            raise Refusal("invalid_request", f"Repeated parameter(s): {', '.join(repeated)}.")
        form = {k: request.form[k] for k in request.form}
        client_id = self._authenticate(form)
        if form.get("grant_type") != GRANT_JWT_BEARER or self.jwt_bearer is None:
            raise Refusal("unsupported_grant_type", "This server supports the JWT bearer grant only.")
        if not form.get("assertion"):
            raise Refusal("invalid_request", "The assertion parameter is missing (RFC 7523 §2.1).")
        return self.jwt_bearer(TokenRequest(client_id=client_id, form=form))

    def _authenticate(self, form: dict[str, str]) -> str:
        """Authenticate the client (RFC 6749 §2.3, RFC 7523 §2.2); return its id or refuse with 401."""

        def fail(why: str) -> Refusal:
            return Refusal("invalid_client", f"Client authentication failed: {why}.", 401)

        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                pair = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
                client_id, secret = (unquote(part) for part in pair.split(":", 1))
            except (ValueError, UnicodeDecodeError):
                raise fail("the Basic credentials are not base64 of id:secret") from None
            return self._check_secret(client_id, secret, fail)
        if "client_assertion" in form:
            return self._check_assertion(form, fail)
        if "client_secret" in form:
            return self._check_secret(form.get("client_id", ""), form["client_secret"], fail)
        raise fail("no client credentials")

    def _check_secret(self, client_id: str, secret: str, fail: Callable[[str], Refusal]) -> str:
        client = self.clients.get(client_id)
        if client is None or client.secret is None:
            raise fail("unknown client, or one without a secret")
        if not hmac.compare_digest(secret.encode(), client.secret.encode()):
            raise fail("wrong secret")
        return client_id

    def _check_assertion(self, form: dict[str, str], fail: Callable[[str], Refusal]) -> str:
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE_JWT_BEARER:
            raise fail("client_assertion_type is not jwt-bearer")
        assertion = form["client_assertion"]
        try:
            header, claims = decode_unverified(assertion, what="client assertion")
        except Exception:  # noqa: BLE001 - any undecodable assertion is a failed authentication
            raise fail("the client assertion is not a JWT") from None
        client_id = claims.get("sub")
        client = self.clients.get(client_id) if isinstance(client_id, str) else None
        if client is None or client.jwks is None:
            raise fail("unknown client, or one without keys")
        if form.get("client_id", client_id) != client_id:
            raise fail("client_id is not the assertion's sub")
        if header.get("alg") not in CLIENT_ASSERTION_ALGS:
            raise fail(f"alg {header.get('alg')!r} is not one of {list(CLIENT_ASSERTION_ALGS)}")
        try:
            key = pick_key(client.jwks, header.get("kid"))
            jose_jwt.decode(
                assertion,
                jose_jwk.construct(key, header["alg"]),
                algorithms=[header["alg"]],
                options={"verify_aud": False, "verify_iat": False, "verify_nbf": False, "verify_exp": False},
            )
        except (JOSEError, Exception):  # noqa: BLE001 - unknown kid, bad key, bad signature
            raise fail("the signature does not verify with the client's key named by kid") from None
        # RFC 7523 §3: iss and sub are the client, aud this server, exp in the future; jti single use.
        if claims.get("iss") != client_id:
            raise fail("iss is not the client")
        if claims.get("aud") not in (self.token_endpoint, self.issuer, [self.token_endpoint], [self.issuer]):
            raise fail("aud is not this server's token endpoint")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool) or exp < time.time() - 30:
            raise fail("the assertion has expired")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not self._assertion_jtis.first_use(
            f"{client_id}:{jti}", until=exp + 30
        ):
            raise fail("the assertion's jti is missing or was used before")
        return client_id


# --- the IdP's side: a resource connection in the sandbox ------------------------------------------


@dataclass
class SandboxConnection:
    """A resource connection added to a running sandbox (its admin API); `remove()` takes it away."""

    http: Any = field(repr=False)
    org_url: str
    api_token: str = field(repr=False)
    name: str
    client_id: str
    audience: str
    scopes: tuple[str, ...]

    def __repr__(self) -> str:
        return (
            f'Resource connection "{self.name}": {self.client_id} may get ID-JAGs for {self.audience} '
            f"(scopes {' '.join(self.scopes)})"
        )

    def remove(self) -> None:
        """Remove the connection (the sandbox forgets it; nothing happens if it is already gone)."""
        url = f"{self.org_url}/api/v1/sandbox/resource-connections/{self.name}"
        response = self.http.delete(url, headers={"Authorization": f"SSWS {self.api_token}"})
        if response.status_code not in (204, 404):
            raise ResponseError(f"removing the resource connection answered {response.status_code}")


def connect_in_sandbox(
    http: Any,
    org_url: str,
    api_token: str | None,
    *,
    client_id: str,
    audience: str,
    scopes: list[str],
    name: str | None = None,
) -> SandboxConnection:
    """Let `client_id` get ID-JAGs for the issuer `audience` (sandbox only: Okta's Admin Console does this).

    Raises:
        ConfigError: no API token (OKTA_API_TOKEN) to call the sandbox's admin API.
        ResponseError: the sandbox refused (its Okta error object's summary and causes in the message).
    """
    if not api_token:
        raise ConfigError(
            "OKTA_API_TOKEN is not set: the sandbox's admin API needs it (python -m sandbox token)"
        )
    body: dict[str, Any] = {"client_id": client_id, "audience": audience, "scopes": list(scopes)}
    if name:
        body["name"] = name
    with http.labelled("Resource connection (sandbox admin API)"):
        response = http.post(
            f"{org_url}/api/v1/sandbox/resource-connections",
            json=body,
            headers={"Authorization": f"SSWS {api_token}", "Accept": "application/json"},
        )
    if response.status_code not in (200, 201):
        raise ResponseError(
            f"the sandbox refused the resource connection: HTTP {response.status_code} {response.text[:300]}",
            status=response.status_code,
        )
    item = response.json()
    return SandboxConnection(
        http, org_url, api_token, item["name"], item["client_id"], item["audience"], tuple(item["scopes"])
    )


class _Quiet(WSGIRequestHandler):
    """No access log line per request (a notebook's output would fill with them)."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        return None


def _jose_private(key: AgentKey) -> Any:
    from cryptography.hazmat.primitives import serialization

    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return jose_jwk.construct(pem.decode("ascii"), key.alg)


def _error(refusal: Refusal) -> Response:
    response = jsonify({"error": refusal.error, "error_description": refusal.description})
    response.status_code = refusal.status
    response.headers["Cache-Control"] = "no-store"
    if refusal.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="token"'
    return response


assert "assertion" in TOKEN_FIELDS  # the kit's logs shorten assertions sent to this server too
