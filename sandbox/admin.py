"""Step 8 (notebook 08): the sandbox's admin API: resource connections at run time, minted ID-JAGs for tests.

Both are protected like the System Log API: `Authorization: SSWS <API token>` (the token in
`<data dir>/api-token`, `python -m sandbox token`); a missing or wrong token is `401` with Okta's
error object (`E0000011`), never an OAuth error body.

    GET    {org}/api/v1/sandbox/resource-connections          every resource connection
    POST   {org}/api/v1/sandbox/resource-connections          add (or replace) an external one
    DELETE {org}/api/v1/sandbox/resource-connections/{name}   remove one added at run time
    POST   {org}/api/v1/sandbox/id-jags                       an ID-JAG signed by the org key

Resource connections (sandbox/external.py): Okta manages them in its Admin Console (the AI agent's
managed connections); the sandbox takes them in its configuration, or here, so that a resource
authorization server on another port (a learner's, an MCP server) can be named at run time:
`{"client_id": "...", "audience": "http://127.0.0.1:9000", "scopes": ["notes.read"]}`.

Minting is SANDBOX-ONLY: nothing comparable exists at Okta, whose keys sign only what its policies
allow. A conformance battery needs ID-JAGs that only the IdP can sign but whose claims are wrong
(another `aud`, an expired `exp`, a foreign `client_id`, another `typ`), so this endpoint signs
whatever it is asked to with the org key (the key the org publishes at its `jwks_uri`):

    {"audience": "http://127.0.0.1:9000",            # the ID-JAG's aud (required unless in claims)
     "client_id": "wlpSandboxAgent00001",            # default: the first client with token exchange
     "scope": "notes.read",                          # default: none
     "claims": {"exp": 1700000000, "jti": null},     # set claims; null removes one
     "header": {"typ": "JWT", "kid": "unknown"}}     # set header members (not alg); null removes one

The answer is `{"token", "header", "claims"}`. Defaults are the claims the token exchange would
issue (token_exchange.py): `iss` the org, `sub` the first user, a fresh `jti`, `iat` now, `exp` now
plus the ID-JAG lifetime, header `typ` `oauth-id-jag+jwt`.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from joserfc import jwt
from joserfc.errors import JoseError

from .config import ConfigError
from .constants import ID_JAG_TYP, TOKEN_EXCHANGE
from .external import all_connections, describe, new_external_connection, runtime_connections
from .system_log import okta_error

API_PREFIX = "/api/v1/sandbox"
CONNECTIONS_PATH = API_PREFIX + "/resource-connections"
ID_JAGS_PATH = API_PREFIX + "/id-jags"


class BadRequest(ValueError):
    """A request body the admin API cannot use: names the field and what is expected."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _json_object() -> dict[str, Any]:
    """Return the request's JSON object body, or raise BadRequest."""
    if request.mimetype != "application/json":
        raise BadRequest("body", f'the body is "{request.mimetype or "none"}", expected application/json')
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("body", "the body is not a JSON object")
    return data


def default_name(client_id: Any, audience: Any) -> str:
    """A connection's name when none is given: the client and the audience, so a repeat replaces it."""
    text = f"{client_id}-{audience}".replace("://", "-")
    return re.sub(r"[^A-Za-z0-9._-]", "-", text)[:64]


def _invalid(exc: BadRequest) -> Response:
    return okta_error(400, "E0000001", f"Api validation failed: {exc.field}", [str(exc)])


def _no_store(response: Response, status: int = 200) -> Response:
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


class AdminApi:
    """The admin endpoints of one sandbox, behind the System Log API's SSWS token."""

    def __init__(self, sandbox: Any, authorized: Any) -> None:
        self.sandbox = sandbox
        self.authorized = authorized

    # --- resource connections -----------------------------------------------------------------

    def list_connections(self) -> Response:
        """GET: every resource connection, the configured ones first, each with its source."""
        if not self.authorized():
            return okta_error(401, "E0000011", "Invalid token provided")
        configured = set(id(c) for c in self.sandbox.config.connections)
        items = describe(all_connections(self.sandbox))
        for item, connection in zip(items, all_connections(self.sandbox), strict=True):
            item["source"] = "configuration" if id(connection) in configured else "runtime"
        return _no_store(jsonify(items))

    def add_connection(self) -> Response:
        """POST: add or replace an external resource connection; 201 when new, 200 when replaced."""
        if not self.authorized():
            return okta_error(401, "E0000011", "Invalid token provided")
        try:
            data = _json_object()
            unknown = sorted(set(data) - {"name", "client_id", "audience", "scopes", "resources"})
            if unknown:
                raise BadRequest(unknown[0], f"unknown member(s) {unknown}")
            audience = data.get("audience")
            name = data.get("name") or default_name(data.get("client_id"), audience)
            if any(c.name == name for c in self.sandbox.config.connections):
                raise BadRequest("name", f'"{name}" is a configured connection; choose another name')
            try:
                connection = new_external_connection(
                    name=name,
                    client_id=data.get("client_id"),
                    audience=audience,
                    scopes=data.get("scopes"),
                    resources=data.get("resources"),
                    clients=self.sandbox.config.clients,
                    where="connection",
                )
            except ConfigError as exc:
                raise BadRequest(str(exc).split(" ", 1)[0], str(exc)) from None
            if audience == self.sandbox.issuer or self.sandbox.server_by_issuer(audience) is not None:
                raise BadRequest("audience", f'"{audience}" is an issuer of this sandbox, not external')
        except BadRequest as exc:
            return _invalid(exc)
        new = runtime_connections(self.sandbox).put(connection)
        return _no_store(jsonify(describe([connection])[0] | {"source": "runtime"}), 201 if new else 200)

    def remove_connection(self, name: str) -> Response:
        """DELETE: remove a connection added at run time; 204, or 404 when there is none by that name."""
        if not self.authorized():
            return okta_error(401, "E0000011", "Invalid token provided")
        if not runtime_connections(self.sandbox).remove(name):
            return okta_error(404, "E0000007", f"Not found: Resource not found: {name} (ResourceConnection)")
        return _no_store(Response(), 204)

    # --- minted ID-JAGs (sandbox only) ---------------------------------------------------------

    def mint(self) -> Response:
        """POST: sign the requested claims and header with the org key (see the module docstring)."""
        if not self.authorized():
            return okta_error(401, "E0000011", "Invalid token provided")
        try:
            data = _json_object()
            header, claims = self._token_parts(data)
            org_key = self.sandbox.keys.org
            try:
                token = jwt.encode(header, claims, org_key.private_key, algorithms=[org_key.alg])
            except (JoseError, TypeError, ValueError) as exc:
                raise BadRequest("claims", f"the token cannot be signed: {exc}") from None
        except BadRequest as exc:
            return _invalid(exc)
        return _no_store(jsonify({"token": token, "header": header, "claims": claims}))

    def _token_parts(self, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        unknown = sorted(set(data) - {"audience", "client_id", "scope", "subject", "claims", "header"})
        if unknown:
            raise BadRequest(unknown[0], f"unknown member(s) {unknown}")
        claim_overrides = data["claims"] if data.get("claims") is not None else {}
        header_overrides = data["header"] if data.get("header") is not None else {}
        if not isinstance(claim_overrides, dict):
            raise BadRequest("claims", "claims is not a JSON object")
        if not isinstance(header_overrides, dict):
            raise BadRequest("header", "header is not a JSON object")
        if "alg" in header_overrides:
            raise BadRequest("header", f"alg stays {self.sandbox.keys.org.alg}: the org key signs")
        audience = data.get("audience")
        if audience is None and "aud" not in claim_overrides:
            raise BadRequest("audience", "audience is required (the ID-JAG's aud)")
        for name in ("audience", "client_id", "scope", "subject"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise BadRequest(name, f"{name} is not a string")
        config = self.sandbox.config
        now = int(time.time())
        default_client = next(
            (c.client_id for c in config.clients.values() if TOKEN_EXCHANGE in c.grant_types), None
        )
        default_user = next(iter(config.users.values()))
        # The claims the token exchange issues (token_exchange.py; ID-JAG -04 §3.1).
        claims: dict[str, Any] = {
            "iss": self.sandbox.issuer,
            "sub": data.get("subject") or default_user.id,
            "aud": audience,
            "client_id": data.get("client_id") or default_client,
            "jti": secrets.token_urlsafe(32),
            "iat": now,
            "exp": now + config.lifetimes.id_jag,
        }
        if data.get("scope"):
            claims["scope"] = data["scope"]
        for name, value in claim_overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        header: dict[str, Any] = {"alg": self.sandbox.keys.org.alg, "kid": self.sandbox.keys.org.kid}
        header["typ"] = ID_JAG_TYP
        for name, value in header_overrides.items():
            if value is None:
                header.pop(name, None)
            else:
                header[name] = value
        return header, claims


def register(app: Flask, sandbox: Any) -> AdminApi:
    """Serve the admin API (SSWS API token, the System Log's) on `app`."""
    api = AdminApi(sandbox, app.extensions["system_log"].authorized)
    app.extensions["sandbox_admin"] = api
    app.add_url_rule(CONNECTIONS_PATH, "admin_list_connections", api.list_connections, methods=["GET"])
    app.add_url_rule(CONNECTIONS_PATH, "admin_add_connection", api.add_connection, methods=["POST"])
    app.add_url_rule(
        CONNECTIONS_PATH + "/<name>", "admin_remove_connection", api.remove_connection, methods=["DELETE"]
    )
    app.add_url_rule(ID_JAGS_PATH, "admin_mint_id_jag", api.mint, methods=["POST"])
    return api
