"""Step 1 (notebook 01): the org server's authorize endpoint, sign-in page, code grant with PKCE.

- RFC 6749 §4.1 (authorization code grant), §4.1.2.1 (when to redirect an error, when not)
- RFC 7636 (PKCE): the sandbox requires S256 from every client; `plain` and no challenge are refused
- OIDC Core §3.1.2 (authentication request), §3.1.3.6 and §2 (ID token: nonce, at_hash, auth_time, amr)

Authlib's `AuthorizationCodeGrant`, `CodeChallenge` and `OpenIDCode` do the work; the subclasses
here replace their refusals by Okta's (`pkce_*`, `invalid_authorization_code`, `mismatched_*`) and
add what Okta puts in its tokens (`kid`, `ver`, `jti`, `idp`, `amr`).

The sign-in page holds one `<form method="post">` with `username`, `password` and a hidden
`transaction_id`: the pending request stays on the server, the page carries only its opaque id.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from authlib.common.encoding import to_unicode, urlsafe_b64encode
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from flask import Response, render_template, request

from . import events
from .access_tokens import okta_access_token_claims
from .config import User
from .constants import AUTH_METHODS, AUTHORIZATION_CODE, ORG_SCOPES, PKCE_S256
from .errors import SandboxError, refuse
from .models import AuthCode, OAuthClient, SandboxRequest
from .replay import StoreFull, refuse_full

if TYPE_CHECKING:
    from .core import Sandbox
    from .keys import SigningKey
    from .servers import CustomServer, OrgServer

# RFC 7636 §4.1 (verifier) and §4.2 (challenge): 43 to 128 characters of the unreserved set.
_PKCE_PATTERN = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_MAX_STATE = 2048
#: The sign-in form's action, relative to the page ({issuer}/v1/authorize, RFC 3986 §5.2): the page
#: itself, for the org's and a custom server's authorize endpoint alike, and under a proxy's path prefix.
AUTHORIZE_FORM_ACTION = "authorize"
_MAX_NONCE = 2048


def s256(verifier: str) -> str:
    """Return BASE64URL(SHA256(ASCII(verifier))) (RFC 7636 §4.2)."""
    return to_unicode(urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()))


# --- Checks of the authorization request (after the client and redirect URI are known) ---------


def check_code_challenge(params: dict[str, str], client_id: str) -> None:
    """Refuse a request without an S256 PKCE challenge (RFC 7636 §4.3, §4.4.1)."""
    challenge = params.get("code_challenge")
    if not challenge:
        raise refuse("pkce_missing_challenge", client_id=client_id)
    # RFC 7636 §4.3: a missing method means "plain", which the sandbox (like Okta) does not accept.
    if params.get("code_challenge_method") != PKCE_S256:
        raise refuse("pkce_unsupported_code_challenge_method", PKCE_S256, client_id=client_id)
    if not _PKCE_PATTERN.fullmatch(challenge):
        raise refuse("pkce_invalid_challenge", client_id=client_id)


def check_scope(scope: str | None, client_id: str | None) -> None:
    """Refuse a scope the org server does not serve, or one without `openid` (OIDC Core §3.1.2.1)."""
    if not scope or not scope.split():
        raise refuse("no_default_scopes", client_id=client_id)
    scopes = scope.split()
    unknown = [s for s in scopes if s not in ORG_SCOPES]
    if unknown:
        raise refuse("invalid_scope", client_id=client_id, unknown_scopes=" ".join(unknown))
    if "openid" not in scopes:
        raise refuse("openid_scope_required", client_id=client_id)


def check_authorization_request(
    params: dict[str, list[str]], client: OAuthClient, *, scope_check: Any = check_scope
) -> None:
    """Run every check that answers by redirecting to the (already validated) redirect URI.

    `scope_check(scope, client_id)` checks the scopes: the org's by default (a custom server passes
    its own).
    """
    client_id = client.get_client_id()
    duplicated = sorted(k for k, v in params.items() if len(v) > 1)
    if duplicated:
        # RFC 6749 §3.1: request parameters MUST NOT be included more than once.
        raise refuse("illegal_duplicated_parameters", ", ".join(duplicated), client_id=client_id)
    first = {k: v[0] for k, v in params.items() if v}
    if first.get("response_type") != "code" or not client.check_response_type("code"):
        raise refuse("unsupported_response_type", "code", client_id=client_id)
    state = first.get("state")
    if not state or len(state) > _MAX_STATE:
        raise refuse("invalid_state", client_id=client_id)
    scope_check(first.get("scope"), client_id)
    check_code_challenge(first, client_id)
    if "none" in first.get("prompt", "").split():
        # The sandbox keeps no session: prompt=none can never be satisfied.
        raise refuse("no_existing_session", client_id=client_id)
    if len(first.get("nonce", "")) > _MAX_NONCE:
        raise refuse("invalid_request", description="The 'nonce' parameter is too long.", client_id=client_id)
    if first.get("response_mode", "query") != "query":
        raise refuse(
            "invalid_request",
            description="The 'response_mode' parameter must be 'query'.",
            client_id=client_id,
        )


# --- Authlib grant and extensions ---------------------------------------------------------------


class SandboxCodeChallenge(CodeChallenge):
    """PKCE with S256 only and Okta's refusals."""

    SUPPORTED_CODE_CHALLENGE_METHOD = [PKCE_S256]

    def validate_code_challenge(self, grant: AuthorizationCodeGrant, redirect_uri: str) -> None:
        check_code_challenge(grant.request.payload.data, grant.request.payload.client_id)

    def validate_code_verifier(self, grant: AuthorizationCodeGrant, result: Any) -> None:
        req = grant.request
        code: AuthCode = req.authorization_code
        verifier = req.form.get("code_verifier")
        if not verifier:
            raise refuse("pkce_missing_verifier", client_id=code.client_id, user_id=code.user_id)
        if not _PKCE_PATTERN.fullmatch(verifier):
            reason = "the code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]"
            raise refuse("pkce_verification_failed_with_reason", reason, client_id=code.client_id)
        # RFC 7636 §4.6: compare BASE64URL(SHA256(verifier)) with the stored challenge.
        if not hmac.compare_digest(s256(verifier), code.code_challenge or ""):
            raise refuse("pkce_verification_failed", client_id=code.client_id, user_id=code.user_id)


class SandboxOpenIDCode(OpenIDCode):
    """OpenID Connect on the code grant: Okta-shaped ID tokens signed by the org key, with `kid`."""

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(require_nonce=False)
        self.sandbox = sandbox

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False  # nonces are the client's replay defence; the sandbox echoes them

    def resolve_client_private_key(self, client: OAuthClient) -> Any:
        return self.sandbox.keys.org.private_key

    def get_client_algorithm(self, client: OAuthClient) -> str:
        return self.sandbox.keys.org.alg

    def get_encode_header(self, client: OAuthClient) -> dict[str, str]:
        # Authlib 1.9 adds no kid by default (its OpenIDCode.get_encode_header); Okta always does.
        return {"alg": self.sandbox.keys.org.alg, "kid": self.sandbox.keys.org.kid}

    def get_client_claims(self, client: OAuthClient) -> dict[str, Any]:
        now = int(time.time())
        lifetime = client.config.id_token_lifetime
        if lifetime is None:
            lifetime = self.sandbox.config.lifetimes.id_token
        return {
            "iss": self.sandbox.issuer,
            "aud": client.get_client_id(),  # Okta: a string, the client_id
            "iat": now,
            "exp": now + lifetime,
        }

    def generate_user_info(self, user: User, scope: str) -> dict[str, Any]:
        return id_token_user_claims(self.sandbox, user, scope)


def id_token_user_claims(sandbox: Sandbox, user: User, scope: str) -> dict[str, Any]:
    """Return the user claims Okta puts in an ID token (and userinfo) for these scopes."""
    scopes = scope.split()
    claims: dict[str, Any] = {
        "sub": user.id,
        "ver": 1,
        "jti": "ID." + secrets.token_urlsafe(32),
        "idp": sandbox.config.org_id,
    }
    if "profile" in scopes:
        claims.update(name=user.name, preferred_username=user.username)
    if "email" in scopes:
        claims.update(email=user.email)
    return claims


class OrgAuthorizationCodeGrant(AuthorizationCodeGrant):
    """The authorization code grant at the org server, with Okta's refusals and Okta's access token."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    #: The custom server whose codes this grant issues and redeems (None: the org server), and the
    #: event that records a code issued (a custom server's subclass changes both; signin_custom.py).
    issuing_server_id: str | None = None
    AUTHORIZE_EVENT = events.AUTHORIZE_CODE

    @property
    def sandbox(self) -> Sandbox:
        return self.server.sandbox

    def code_resource(self, request: SandboxRequest) -> str | None:
        """The RFC 8707 resource a code is bound to (the org server takes none)."""
        return None

    def authenticate_token_endpoint_client(self) -> OAuthClient:
        return self.server.authenticate_client(self.request, self.TOKEN_ENDPOINT_AUTH_METHODS)

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(AUTHORIZATION_CODE):
            raise refuse(
                "unauthorized_client", ", ".join(client.config.grant_types), client_id=client.get_client_id()
            )
        if not self.request.form.get("code"):
            raise refuse("missing_token_request_parameter", "code", client_id=client.get_client_id())
        super().validate_token_request()

    def save_authorization_code(self, code: str, request: SandboxRequest) -> None:
        params = request.payload.data
        lifetime = self.sandbox.config.lifetimes.authorization_code
        record = AuthCode(
            code=code,
            client_id=request.client.get_client_id(),
            redirect_uri=params["redirect_uri"],
            scope=request.scope,
            user_id=request.user.id,
            auth_time=request.auth_time,
            expires_at=time.time() + lifetime,
            nonce=params.get("nonce"),
            code_challenge=params.get("code_challenge"),
            code_challenge_method=params.get("code_challenge_method"),
            server_id=self.issuing_server_id,
            resource=self.code_resource(request),
        )
        try:
            # Never evicts an unredeemed code to make room: at capacity, a 429 page (`authorize_post`).
            self.sandbox.codes.put(code, record, record.expires_at)
        except StoreFull as full:
            raise refuse_full(full, client_id=record.client_id, user_id=record.user_id) from None
        events.record_success(
            self.AUTHORIZE_EVENT,
            client_id=record.client_id,
            user_id=record.user_id,
            grantedScopes=record.scope,
        )

    def query_authorization_code(self, code: str, client: OAuthClient) -> AuthCode:
        # RFC 6749 §4.1.2: single use. Taken out of the store on the first attempt, whatever follows.
        record = self.sandbox.codes.pop(code)
        client_id = client.get_client_id()
        if record is None:
            raise refuse("invalid_authorization_code", client_id=client_id)
        # Codes are bound to the server that issued them (org or one custom server).
        if record.server_id != self.issuing_server_id:
            raise refuse("mismatched_authorization_server", client_id=client_id, user_id=record.user_id)
        # RFC 6749 §4.1.3: the code MUST have been issued to the authenticated client.
        if record.client_id != client_id:
            raise refuse("mismatched_client", client_id=client_id, user_id=record.user_id)
        # RFC 6749 §4.1.3: redirect_uri MUST be identical to the one of the authorization request.
        if self.request.payload.redirect_uri != record.redirect_uri:
            raise refuse("mismatched_redirect_uri", client_id=client_id, user_id=record.user_id)
        return record

    def delete_authorization_code(self, authorization_code: AuthCode) -> None:
        return None  # already removed by query_authorization_code

    def authenticate_user(self, authorization_code: AuthCode) -> User | None:
        return self.sandbox.config.user_by_id(authorization_code.user_id)

    def generate_token(self, user: User | None = None, scope: str | None = None, **_: Any) -> dict[str, Any]:
        """Issue the org access token: Okta's claim layout, signed by the org key."""
        sandbox = self.sandbox
        return issue_access_token(
            self,
            user,
            scope,
            issuer=sandbox.issuer,
            audience=sandbox.issuer,
            key=sandbox.keys.org,
            lifetime=sandbox.config.lifetimes.org_access_token,
            event=events.ID_TOKEN_GRANT,
        )


def issue_access_token(
    grant: OrgAuthorizationCodeGrant,
    user: User,
    scope: str | None,
    *,
    issuer: str,
    audience: str,
    key: SigningKey,
    lifetime: int,
    event: str,
    **details: Any,
) -> dict[str, Any]:
    """Answer a redeemed code with an access token for `user`, and record the grant in the event log.

    One place for the org server (above) and the custom servers (signin_custom.py), which differ only
    in the token's issuer, audience, signing key and lifetime, and the event's type and `details`.
    The claims are Okta's access token layout (access_tokens.py), `auth_time` the sign-in's.
    """
    code: AuthCode = grant.request.authorization_code
    claims = okta_access_token_claims(
        issuer=issuer,
        audience=audience,
        client_id=grant.request.client.get_client_id(),
        subject=user,
        scope=scope,
        lifetime=lifetime,
        auth_time=code.auth_time,
    )
    events.record_success(
        event,
        client_id=claims["cid"],
        user_id=user.id,
        issued=events.IssuedToken("access_token", claims["jti"], claims["exp"], claims["aud"], scope),
        **details,
        grantedScopes=scope,
    )
    return {
        "token_type": "Bearer",
        "expires_in": lifetime,
        "access_token": key.sign(claims),
        "scope": scope,
    }


# --- Views ------------------------------------------------------------------------------------


def _html_headers() -> dict[str, str]:
    return {
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        "Referrer-Policy": "no-referrer",
    }


def error_page(sandbox: Sandbox, error: SandboxError) -> Response:
    """Render an error the browser cannot be redirected with (RFC 6749 §4.1.2.1): HTTP 400.

    A full single-use memory (`sandbox.replay`) is a 429 page with `Retry-After` instead: the person
    at the browser is told to wait, and the client is not sent an error it could not retry. The page
    names what the request asked for (`client_id`, `redirect_uri`), so a person who reached it from a
    notebook knows which setting to fix; it sends nothing back to the app.
    """
    retry_after = next((v for k, v in error.extra_headers if k == "Retry-After"), None)
    status_line = "429 Too Many Requests" if error.status_code == 429 else "400 Bad Request"
    args = request.values
    asked = [(name, args.get(name)) for name in ("client_id", "redirect_uri") if args.get(name)]
    body = render_template(
        "error.html",
        error=error,
        status_line=status_line,
        retry_after=retry_after,
        asked=[(name, value[:300]) for name, value in asked],
        org_name=sandbox.config.org_name,
        org_url=sandbox.org_url,
    )
    headers = list(_html_headers().items()) + ([("Retry-After", retry_after)] if retry_after else [])
    return Response(body, status=int(status_line[:3]), headers=headers, mimetype="text/html")


def error_redirect(error: SandboxError, redirect_uri: str, state: str | None) -> Response:
    """Send an error back to the client's redirect URI (RFC 6749 §4.1.2.1)."""
    params = [("error", error.error), ("error_description", error.description)]
    if state:
        params.append(("state", state))
    return Response(
        "",
        status=302,
        headers={"Location": add_params_to_uri(redirect_uri, params), "Cache-Control": "no-store"},
    )


def _signin_page(
    sandbox: Sandbox, transaction_id: str, client: OAuthClient, *, failed: bool, username: str = ""
) -> Response:
    body = render_template(
        "signin.html",
        # Relative: the form posts back to the page's own path, also when a proxy serves it under a
        # path prefix (jupyter-server-proxy on a JupyterHub: /user/{name}/proxy/{port}/oauth2/v1/…).
        action=AUTHORIZE_FORM_ACTION,
        transaction_id=transaction_id,
        client_name=client.config.name,
        org_name=sandbox.config.org_name,
        org_url=sandbox.org_url,
        failed=failed,
        username=username,
    )
    return Response(body, status=401 if failed else 200, headers=_html_headers(), mimetype="text/html")


def _front_channel_client(sandbox: Sandbox, params: dict[str, list[str]]) -> tuple[OAuthClient, str]:
    """Validate client_id and redirect_uri, which decide whether errors may be redirected."""
    for name in ("client_id", "redirect_uri"):
        if len(params.get(name, [])) > 1:
            raise refuse("illegal_duplicated_parameters", name)
    client_id = (params.get("client_id") or [""])[0]
    client = sandbox.clients.get(client_id)
    if client is None:
        raise refuse("invalid_client_id", client_id=client_id or None)
    redirect_uri = (params.get("redirect_uri") or [""])[0]
    if not redirect_uri:
        raise refuse("missing_redirect_uri", client_id=client_id)
    # RFC 6749 §3.1.2.4: never redirect to a URI that is not registered for the client.
    if not client.check_redirect_uri(redirect_uri):
        raise refuse("illegal_redirect_uri", client_id=client_id, redirect_uri=redirect_uri)
    return client, redirect_uri


def authorize_get(
    sandbox: Sandbox, server: OrgServer | CustomServer, params: dict[str, list[str]]
) -> Response:
    """GET {issuer}/v1/authorize: validate, keep the request server-side, show the sign-in page."""
    try:
        client, redirect_uri = _front_channel_client(sandbox, params)
    except SandboxError as error:
        return error_page(sandbox, error)
    state = (params.get("state") or [None])[0]
    try:
        server.check_authorization_request(params, client)
        oauth_request = SandboxRequest("GET", server.authorize_url, request.headers, params)
        server.get_consent_grant(request=oauth_request)  # Authlib's own checks (they pass by now)
    except SandboxError as error:
        return error_redirect(error, redirect_uri, state)
    except OAuth2Error as error:  # pragma: no cover - pre-empted by check_authorization_request
        return error_redirect(server.unmapped(error), redirect_uri, state)
    transaction_id = secrets.token_urlsafe(24)
    lifetime = sandbox.config.lifetimes.signin_transaction
    try:
        sandbox.transactions.put(server.transaction_key(transaction_id), params, time.time() + lifetime)
    except StoreFull as full:
        return error_page(sandbox, refuse_full(full, client_id=client.get_client_id()))
    return _signin_page(sandbox, transaction_id, client, failed=False)


def authorize_post(
    sandbox: Sandbox, server: OrgServer | CustomServer, form: dict[str, list[str]]
) -> Response:
    """POST {issuer}/v1/authorize: check the credentials, then redirect with a code."""
    duplicated = sorted(k for k in ("transaction_id", "username", "password") if len(form.get(k, [])) > 1)
    if duplicated:
        return error_page(sandbox, refuse("illegal_duplicated_parameters", ", ".join(duplicated)))
    transaction_id = (form.get("transaction_id") or [""])[0]
    params = sandbox.transactions.get(server.transaction_key(transaction_id)) if transaction_id else None
    if params is None:
        return error_page(sandbox, refuse("request_expired"))
    client = sandbox.clients[params["client_id"][0]]
    username = (form.get("username") or [""])[0]
    password = (form.get("password") or [""])[0]
    user = sandbox.config.users.get(username)
    if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
        events.record_failure(
            events.SESSION_START,
            "INVALID_CREDENTIALS",
            client_id=client.get_client_id(),
            username=username,
        )
        return _signin_page(sandbox, transaction_id, client, failed=True, username=username)
    # Single use, even under concurrent posts.
    if sandbox.transactions.pop(server.transaction_key(transaction_id)) is None:
        return error_page(sandbox, refuse("request_expired"))
    events.record_success(events.SESSION_START, client_id=client.get_client_id(), user_id=user.id)
    oauth_request = SandboxRequest("GET", server.authorize_url, request.headers, params)
    oauth_request.auth_time = int(time.time())
    redirect_uri = params["redirect_uri"][0]
    state = params["state"][0]
    try:
        grant = server.get_consent_grant(request=oauth_request, end_user=user)
        return server.create_authorization_response(request=oauth_request, grant_user=user, grant=grant)
    except SandboxError as error:
        if error.status_code == 429:  # the code store is full: the person waits, then signs in again
            return error_page(sandbox, error)
        return error_redirect(error, redirect_uri, state)
    except OAuth2Error as error:  # pragma: no cover - pre-empted by check_authorization_request
        return error_redirect(server.unmapped(error), redirect_uri, state)
