"""The Flask application: Okta's URL layout, request guards, and OAuth-shaped answers to everything.

- RFC 6749 §3.1 / §3.2 (parameters sent once; token requests form-encoded, POST only), §2.3.1
  (no client credentials in the query), §5.2 (error responses)
- RFC 8414 §3 / OIDC Discovery §4 (metadata URLs), RFC 9728 §3 (protected resource metadata URL)

Every answer that is not a success is `{"error", "error_description"}` JSON with Okta's status,
except the two cases where a browser is on the page (the authorize endpoint's error page and the
sign-in page). Unknown paths, wrong methods and oversized bodies get the same JSON shape; anything
unexpected is logged, counted (`Sandbox.unexpected_errors`) and answered with a 500 in that shape.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from . import admin, signin, system_log
from .api import TodoApi
from .constants import ORG_AUTHORIZE_PATH, ORG_KEYS_PATH, ORG_TOKEN_PATH, ORG_USERINFO_PATH
from .core import Sandbox
from .errors import SandboxError, refuse
from .jwts import MalformedJWT, SignatureInvalid, is_number, parse_unverified, verify_signature
from .servers import CustomServer, OrgServer, request_params

log = logging.getLogger("sandbox.app")

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
#: Parameters that may appear more than once in a token request (RFC 8693 §2.1, RFC 8707 §2).
REPEATABLE = frozenset({"resource", "audience"})
#: Credentials RFC 6749 §2.3.1 forbids in the query string.
CREDENTIAL_PARAMS = ("client_secret", "client_assertion", "client_assertion_type")


def json_response(data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Return a JSON response."""
    response = jsonify(data)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_response(error: SandboxError) -> Response:
    """Render a refusal: Okta's status, `{"error", "error_description"}`, no-store, extra headers."""
    response = jsonify(error.body())
    response.status_code = error.status_code
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers.add(name, value)
    return response


def check_form_post(sandbox: Sandbox, *, repeatable: frozenset[str] = frozenset()) -> None:
    """Refuse a POST that is not a small form with each parameter once (RFC 6749 §3.2)."""
    limit = sandbox.config.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise refuse("http_request_too_large", limit)
    if request.mimetype != FORM_CONTENT_TYPE:
        raise refuse(
            "invalid_request",
            description=(
                f"The request body must be {FORM_CONTENT_TYPE} (RFC 6749 §3.2), "
                f"not '{request.mimetype or 'none'}'."
            ),
        )
    if any(name in request.args for name in CREDENTIAL_PARAMS):
        raise refuse("client_credentials_in_query")
    duplicated = sorted(k for k in request.form if k not in repeatable and len(request.form.getlist(k)) > 1)
    if duplicated:
        raise refuse("illegal_duplicated_parameters", ", ".join(duplicated))


def create_app(sandbox: Sandbox) -> Flask:
    """Build the Flask app serving the org server, the custom servers and the demo API."""
    app = Flask("sandbox")
    # "/oauth2//v1/token" is an unknown path (a 404 in the OAuth shape), not a redirect to another one.
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = sandbox.config.max_body_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = sandbox.config.max_body_bytes
    app.json.sort_keys = False
    app.extensions["sandbox"] = sandbox
    org = OrgServer(sandbox)
    customs = {sid: CustomServer(sandbox, server) for sid, server in sandbox.config.servers.items()}
    api = TodoApi(sandbox)
    app.extensions["sandbox_servers"] = {"org": org, "custom": customs, "api": api}
    # The System Log (GET /api/v1/logs, SSWS token) and X-Okta-Request-Id on every response.
    system_log.register(app, sandbox)
    # Run-time resource connections and minted ID-JAGs for conformance tests (same SSWS token).
    admin.register(app, sandbox)

    def custom(server_id: str) -> CustomServer:
        server = customs.get(server_id)
        if server is None:
            # Okta: an unknown authorization server id in the URL.
            raise refuse("invalid_authorization_server", server_id=server_id)
        return server

    access_log = logging.getLogger("sandbox.access")

    @app.after_request
    def log_access(response: Response) -> Response:
        access_log.info("%s %s %s", request.method, request.path, response.status_code)
        return response

    # --- Errors -----------------------------------------------------------------------------

    @app.errorhandler(SandboxError)
    def on_refusal(error: SandboxError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    def on_http_error(error: HTTPException) -> Response:
        if isinstance(error, NotFound):
            refusal = refuse("http_not_found", request.path)
        elif isinstance(error, MethodNotAllowed):
            methods = sorted(error.valid_methods or [])
            allowed = ", ".join(m for m in methods if m not in ("HEAD", "OPTIONS"))
            refusal = refuse("http_method_not_allowed", request.method, allowed)
            refusal.extra_headers.append(("Allow", ", ".join(methods)))
        elif isinstance(error, RequestEntityTooLarge):
            refusal = refuse("http_request_too_large", sandbox.config.max_body_bytes)
        elif error.code is not None and 400 <= error.code < 500:
            refusal = refuse("http_bad_request", error.description or error.name)
        else:
            sandbox.count_unexpected()
            log.error("unexpected HTTP error %s on %s %s", error.code, request.method, request.path)
            refusal = refuse("http_server_error")
        return error_response(refusal)

    @app.errorhandler(Exception)
    def on_unexpected(error: Exception) -> Response:
        sandbox.count_unexpected()
        log.exception("unexpected failure on %s %s", request.method, request.path)
        return error_response(refuse("http_server_error"))

    # --- Org authorization server -------------------------------------------------------------

    @app.get("/")
    def index() -> Response:
        return json_response(
            {
                "org_url": sandbox.org_url,
                "discovery": f"{sandbox.org_url}/.well-known/openid-configuration",
                "authorization_servers": [sandbox.server_issuer(sid) for sid in customs],
                "api": sandbox.api_resource,
                # The MCP server (sandbox/mcp_server.py): its URL is its resource identifier.
                "mcp_server": sandbox.mcp_url,
            }
        )

    @app.get("/.well-known/openid-configuration")
    @app.get("/.well-known/oauth-authorization-server")
    def org_metadata() -> Response:
        return json_response(org.metadata())

    @app.get(ORG_KEYS_PATH)
    def org_keys() -> Response:
        return json_response(sandbox.keys.org.jwks())

    @app.get(ORG_AUTHORIZE_PATH)
    def authorize_page() -> Response:
        return signin.authorize_get(sandbox, org, request_params())

    @app.post(ORG_AUTHORIZE_PATH)
    def authorize_sign_in() -> Response:
        try:
            check_form_post(sandbox)
        except SandboxError as error:
            return signin.error_page(sandbox, error)
        return signin.authorize_post(sandbox, org, request_params())

    @app.post(ORG_TOKEN_PATH)
    def org_token() -> Response:
        check_form_post(sandbox, repeatable=REPEATABLE)
        return org.create_token_response()

    @app.route(ORG_USERINFO_PATH, methods=["GET", "POST"])
    def userinfo() -> Response:
        return json_response(_userinfo(sandbox))

    # --- Custom authorization servers ---------------------------------------------------------

    @app.get("/oauth2/<server_id>/.well-known/oauth-authorization-server")
    @app.get("/oauth2/<server_id>/.well-known/openid-configuration")
    @app.get("/.well-known/oauth-authorization-server/oauth2/<server_id>")
    def custom_metadata(server_id: str) -> Response:
        return json_response(custom(server_id).metadata())

    @app.get("/oauth2/<server_id>/v1/keys")
    def custom_keys(server_id: str) -> Response:
        custom(server_id)
        return json_response(sandbox.keys.servers[server_id].jwks())

    # The same sign-in page and code grant as the org server, for the apps a custom server's policy
    # allows (Okta's machine access: the origin app signs the user in here; signin_custom.py).
    @app.get("/oauth2/<server_id>/v1/authorize")
    def custom_authorize_page(server_id: str) -> Response:
        return signin.authorize_get(sandbox, custom(server_id), request_params())

    @app.post("/oauth2/<server_id>/v1/authorize")
    def custom_authorize_sign_in(server_id: str) -> Response:
        server = custom(server_id)
        try:
            check_form_post(sandbox)
        except SandboxError as error:
            return signin.error_page(sandbox, error)
        return signin.authorize_post(sandbox, server, request_params())

    @app.post("/oauth2/<server_id>/v1/token")
    def custom_token(server_id: str) -> Response:
        server = custom(server_id)
        check_form_post(sandbox, repeatable=REPEATABLE)
        return server.create_token_response()

    # --- The demo API (RFC 9728 metadata at both well-known forms) -----------------------------

    path = sandbox.config.api.path

    @app.get("/.well-known/oauth-protected-resource" + path)
    @app.get("/.well-known/oauth-protected-resource")
    def api_metadata() -> Response:
        return json_response(api.metadata())

    app.add_url_rule(f"{path}/todos", "api_list_todos", api.list_todos, methods=["GET"])
    app.add_url_rule(
        f"{path}/todos", "api_add_todo", _guarded_json_post(sandbox, api.add_todo), methods=["POST"]
    )
    app.add_url_rule(f"{path}/me", "api_me", api.me, methods=["GET"])
    return app


def _guarded_json_post(sandbox: Sandbox, view: Any) -> Any:
    def guarded() -> Response:
        limit = sandbox.config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise refuse("http_request_too_large", limit)
        return view()

    guarded.__name__ = view.__name__
    return guarded


def _bearer_challenge(error: SandboxError, *, named: bool = True, scope: str | None = None) -> SandboxError:
    """Add an RFC 6750 §3 `WWW-Authenticate: Bearer` challenge (no error code when no token was sent)."""
    parts = [f'error="{error.error}"', f'error_description="{error.description}"'] if named else []
    if scope:
        parts.append(f'scope="{scope}"')
    error.extra_headers.append(("WWW-Authenticate", ("Bearer " + ", ".join(parts)).strip()))
    return error


def _userinfo(sandbox: Sandbox) -> dict[str, Any]:
    """Answer OIDC Core §5.3 userinfo for an org access token carrying `openid`."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        # RFC 6750 §3.1: no token, no error code in the challenge.
        raise _bearer_challenge(
            refuse("invalid_token", description="The request has no bearer access token."), named=False
        )
    try:
        jwt = parse_unverified(token.strip())
        if jwt.kid != sandbox.keys.org.kid:
            raise SignatureInvalid("unknown kid")
        verify_signature(jwt, sandbox.keys.org.public_key, [sandbox.keys.org.alg])
    except (MalformedJWT, SignatureInvalid):
        raise _bearer_challenge(refuse("access_token_invalid")) from None
    claims = jwt.claims
    if claims.get("iss") != sandbox.issuer:
        raise _bearer_challenge(refuse("access_token_invalid_issuer"))
    if claims.get("aud") != sandbox.issuer:
        raise _bearer_challenge(refuse("access_token_invalid_audience"))
    if not is_number(claims.get("exp")) or claims["exp"] < time.time() - sandbox.config.lifetimes.clock_skew:
        raise _bearer_challenge(refuse("token_expired"))
    scopes = claims.get("scp") if isinstance(claims.get("scp"), list) else []
    if "openid" not in scopes:
        error = refuse("access_token_insufficient_scopes", client_id=claims.get("cid"))
        raise _bearer_challenge(error, scope="openid")
    user = sandbox.config.user_by_id(claims.get("uid")) if isinstance(claims.get("uid"), str) else None
    if user is None:
        raise _bearer_challenge(refuse("access_token_invalid"))
    info = signin.id_token_user_claims(sandbox, user, " ".join(scopes))
    for name in ("jti", "ver", "idp"):
        info.pop(name, None)
    if "profile" in scopes:
        info.update(given_name=user.given_name, family_name=user.family_name)
    return info
