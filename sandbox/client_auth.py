"""Client authentication at every token endpoint, with Okta's rules and Okta's errors.

- RFC 6749 §2.3.1 (client_secret_basic / client_secret_post), §2.1 (public clients: `none`)
- RFC 7521 §4.2, RFC 7523 §2.2 and §3 (private_key_jwt client assertions); OIDC Core §9
- Okta "Build a self-signed JWT": `aud` is the exact URL of the endpoint invoked, `exp` at most
  one hour ahead, `jti` single use, RS256/384/512 and ES256/384/512 only.

One method per request: a request carrying more than one credential is refused
(`multiple_client_credentials`), and so is a method the client is not configured for.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any
from urllib.parse import unquote

from .constants import (
    CLIENT_ASSERTION_ALGS,
    CLIENT_ASSERTION_TYPE,
    CLIENT_SECRET_BASIC,
    CLIENT_SECRET_POST,
    NONE_AUTH,
    PRIVATE_KEY_JWT,
)
from .core import Sandbox
from .errors import refuse
from .jwts import MalformedJWT, SignatureInvalid, is_number, parse_unverified, verify_signature
from .keys import ClientKeyError
from .models import OAuthClient, SandboxRequest

#: Curves an ES* algorithm requires (RFC 7518 §3.4).
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


def authenticate_client(sandbox: Sandbox, request: SandboxRequest, endpoint_url: str) -> OAuthClient:
    """Authenticate the client of a token request; return it or raise Okta's refusal.

    Args:
        endpoint_url: the exact URL of the endpoint invoked (a client assertion's `aud`).
    """
    if request.authenticated_client is not None:
        return request.authenticated_client
    form = request.form
    authorization = request.headers.get("Authorization")
    has_basic = authorization is not None
    has_post = "client_secret" in form
    has_jwt = "client_assertion" in form or "client_assertion_type" in form
    if has_basic + has_post + has_jwt > 1:
        # RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
        raise refuse("multiple_client_credentials", client_id=form.get("client_id"))
    if has_jwt:
        client = _private_key_jwt(sandbox, form, endpoint_url)
        method = PRIVATE_KEY_JWT
    elif has_basic:
        client = _client_secret_basic(sandbox, authorization, form)
        method = CLIENT_SECRET_BASIC
    elif has_post:
        client = _client_secret_post(sandbox, form)
        method = CLIENT_SECRET_POST
    else:
        client = _none(sandbox, form)
        method = NONE_AUTH
    request.authenticated_client = client
    request.auth_method = method
    return client


def _known(sandbox: Sandbox, client_id: Any) -> OAuthClient | None:
    return sandbox.clients.get(client_id) if isinstance(client_id, str) else None


def _require_method(client: OAuthClient, method: str) -> None:
    if method not in client.config.auth_methods:
        raise refuse("invalid_token_endpoint_auth_method", client_id=client.get_client_id(), method=method)


def _client_secret_basic(sandbox: Sandbox, authorization: str, form: dict[str, str]) -> OAuthClient:
    scheme, _, value = authorization.partition(" ")
    try:
        if scheme.lower() != "basic":
            raise ValueError("not Basic")
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        raw_id, sep, raw_secret = decoded.partition(":")
        if not sep or not raw_id:
            raise ValueError("no client_id:secret pair")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise refuse(
            "invalid_basic_auth_creds", headers=[("WWW-Authenticate", 'Basic realm="sandbox"')]
        ) from None
    # RFC 6749 §2.3.1: both parts are form-urlencoded before being joined.
    client_id, secret = unquote(raw_id.replace("+", " ")), unquote(raw_secret.replace("+", " "))
    challenge = [("WWW-Authenticate", 'Basic realm="sandbox"')]
    client = _known(sandbox, client_id)
    if client is None or ("client_id" in form and form["client_id"] != client_id):
        raise refuse("invalid_client", headers=challenge, client_id=client_id)
    _require_method(client, CLIENT_SECRET_BASIC)
    if not client.check_client_secret(secret):
        raise refuse("invalid_client_secret", headers=challenge, client_id=client_id)
    return client


def _client_secret_post(sandbox: Sandbox, form: dict[str, str]) -> OAuthClient:
    client = _known(sandbox, form.get("client_id"))
    if client is None:
        raise refuse("invalid_client", client_id=form.get("client_id"))
    _require_method(client, CLIENT_SECRET_POST)
    if not client.check_client_secret(form["client_secret"]):
        raise refuse("invalid_client_secret", client_id=client.get_client_id())
    return client


def _none(sandbox: Sandbox, form: dict[str, str]) -> OAuthClient:
    client_id = form.get("client_id")
    if not client_id:
        raise refuse("missing_client_credentials")
    client = _known(sandbox, client_id)
    if client is None:
        raise refuse("invalid_client", client_id=client_id)
    # A confidential client that sends no credential is refused like a wrong method.
    _require_method(client, NONE_AUTH)
    return client


def _private_key_jwt(sandbox: Sandbox, form: dict[str, str], endpoint_url: str) -> OAuthClient:
    lifetimes = sandbox.config.lifetimes
    # RFC 7523 §2.2: the assertion type MUST be the jwt-bearer client assertion type.
    if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
        raise refuse("client_assertion_type_invalid", client_id=form.get("client_id"))
    if not form.get("client_assertion"):
        raise refuse("missing_token_request_parameter", "client_assertion", client_id=form.get("client_id"))
    try:
        jwt = parse_unverified(form["client_assertion"])
    except MalformedJWT as exc:
        raise refuse(
            "client_assertion_invalid_jwt", client_id=form.get("client_id"), detail=str(exc)
        ) from None
    # RFC 8725 §3.1: only the algorithms Okta accepts; never "none" or HMAC here.
    if jwt.alg not in CLIENT_ASSERTION_ALGS:
        raise refuse(
            "client_assertion_invalid_signature_algorithm", client_id=form.get("client_id"), alg=str(jwt.alg)
        )
    claims = jwt.claims
    # RFC 7523 §3: iss MUST be the client_id.
    client = _known(sandbox, claims.get("iss"))
    if client is None:
        raise refuse("client_assertion_invalid_issuer", client_id=str(claims.get("iss")))
    client_id = client.get_client_id()
    # RFC 7523 §3: sub MUST be the client_id.
    if claims.get("sub") != client_id:
        raise refuse("client_assertion_invalid_subject", client_id=client_id)
    if "client_id" in form and form["client_id"] != client_id:
        raise refuse(
            "invalid_client", client_id=client_id, detail="client_id parameter differs from the assertion"
        )
    source = sandbox.client_keys.get(client_id)
    if source is None or not client.config.uses_keys:
        raise refuse("client_assertion_jwks_not_configured", client_id=client_id)
    try:
        key = source.select(jwt.kid)
    except ClientKeyError as exc:
        if exc.reason == ClientKeyError.NOT_CONFIGURED:
            raise refuse(
                "client_assertion_jwks_not_configured", client_id=client_id, detail=str(exc)
            ) from None
        if exc.reason == ClientKeyError.INVALID_JWKS:
            raise refuse("client_assertion_invalid_jwks", client_id=client_id, detail=str(exc)) from None
        raise refuse("client_assertion_invalid_kid", client_id=client_id, detail=str(exc)) from None
    if key.jwk.get("use", "sig") != "sig":
        raise refuse("client_assertion_invalid_key_use", "sig", client_id=client_id)
    if not _alg_suits_key(jwt.alg, key.jwk):
        raise refuse("client_assertion_invalid_signature_algorithm", client_id=client_id, alg=jwt.alg)
    try:
        verify_signature(jwt, key.key, [jwt.alg])
    except SignatureInvalid as exc:
        raise refuse("client_assertion_invalid_signature", client_id=client_id, detail=str(exc)) from None
    # Okta: aud is exactly the URL of the endpoint invoked (RFC 7523 §3: aud MUST identify the AS).
    aud = claims.get("aud")
    if not (aud == endpoint_url or (isinstance(aud, list) and endpoint_url in aud)):
        raise refuse(
            "client_assertion_invalid_audience", client_id=client_id, aud=str(aud), expected=endpoint_url
        )
    now = time.time()
    skew = lifetimes.clock_skew
    exp = claims.get("exp")
    # RFC 7523 §3: the JWT MUST contain an exp claim.
    if not is_number(exp):
        raise refuse("client_assertion_expiration_required", client_id=client_id)
    if exp < now - skew:
        raise refuse("client_assertion_expired_token", client_id=client_id)
    if exp > now + lifetimes.client_assertion_max_ahead + skew:
        raise refuse("client_assertion_expires_too_far_in_future", client_id=client_id)
    iat = claims.get("iat")
    if iat is not None and (not is_number(iat)):
        raise refuse("client_assertion_invalid_jwt", client_id=client_id, detail="iat is not a number")
    nbf = claims.get("nbf")
    if nbf is not None and not is_number(nbf):
        raise refuse("client_assertion_invalid_jwt", client_id=client_id, detail="nbf is not a number")
    if (iat is not None and iat > now + skew) or (nbf is not None and nbf > now + skew):
        raise refuse("client_assertion_issued_at_in_future", client_id=client_id)
    jti = claims.get("jti")
    if jti is not None:
        if not isinstance(jti, str) or not jti:
            raise refuse("client_assertion_invalid_jwt", client_id=client_id, detail="jti is not a string")
        # RFC 7523 §3: the authorization server MAY ensure that JWTs are not replayed (Okta does);
        # MCP EMA §7.4.2: replay detection REQUIRED for the assertion's lifetime. Remembered until the
        # last instant it is accepted (exp + skew), which the check above bounds by
        # client_assertion_max_ahead + 2 x clock_skew from now: the longest window the cache holds.
        # A full cache refuses a new jti with a 429 and never forgets a live one (sandbox.replay).
        if not sandbox.assertion_replay.use(client_id, jti, exp + skew, client_id=client_id):
            raise refuse("client_assertion_already_used", client_id=client_id)
    return client


def _alg_suits_key(alg: str, jwk: dict[str, Any]) -> bool:
    """True if the JWK's type (and curve) can verify `alg`, and its own `alg`, if any, agrees."""
    if jwk.get("alg") not in (None, alg):
        return False
    if alg.startswith("RS"):
        return jwk.get("kty") == "RSA"
    return jwk.get("kty") == "EC" and jwk.get("crv") == _EC_CURVES.get(alg)
