"""Step 3 (notebook 03): redeem the ID-JAG for an access token at the custom authorization server.

- RFC 7523 §2.1 (the JWT bearer grant: `grant_type`, `assertion`)
- draft-ietf-oauth-identity-assertion-authz-grant-04 §4.4 (the ID-JAG as the assertion), §4.4.1
  (the target's processing), §4.4.3 (the target SHOULD NOT return a refresh token)
- RFC 6749 §5.1 (the response), RFC 9068 (JWT access tokens) and Okta's access token claims
  (`ver`, `jti`, `iss`, `aud`, `iat`, `exp`, `cid`, `uid`, `scp`, `sub`)
At Okta no `scope` is sent here: the scopes come from the ID-JAG (Okta's `id_jag_scopes_in_request`).
"""

from __future__ import annotations

import time
from typing import Any

from .constants import DEFAULT_CLOCK_SKEW, GRANT_JWT_BEARER
from .core.checks import Checklist
from .core.formatting import KeyValues
from .core.jwts import decode_unverified
from .core.oauth import TokenResponse

RFC6749 = "RFC 6749 §5.1"
OKTA_AT = "Okta access token; RFC 9068 §2.2"


def jwt_bearer_form(id_jag: str, *, resource: str | None = None) -> dict[str, str]:
    """Return the step 3 JWT bearer form (RFC 7523 §2.1; no `scope`; client auth added when sent)."""
    form = {
        "grant_type": GRANT_JWT_BEARER,
        # RFC 7523 §2.1: the assertion parameter carries a single JWT: the ID-JAG.
        "assertion": id_jag,
    }
    if resource:
        form["resource"] = resource
    return form


def check_bearer_response(
    response: TokenResponse | dict[str, Any], *, headers: dict[str, str] | None = None
) -> Checklist:
    """Check the JWT bearer response's shape: Bearer token, `expires_in`, `scope`, no refresh token."""
    headers = headers if headers is not None else getattr(response, "headers", {})
    checks = Checklist("JWT bearer response checks")
    token_type = response.get("token_type")
    checks.add(
        '"token_type"',
        "Bearer",
        token_type,
        isinstance(token_type, str) and token_type.lower() == "bearer",
        RFC6749 + "; RFC 6750",
    )
    checks.is_jwt('"access_token"', response.get("access_token"), RFC6749)
    expires_in = response.get("expires_in")
    checks.add(
        '"expires_in"',
        "a positive number of seconds",
        expires_in,
        isinstance(expires_in, int) and expires_in > 0,
        RFC6749,
    )
    checks.present('"scope"', response.get("scope"), RFC6749 + "; Okta", expected="the scopes granted")
    # ID-JAG -04 §4.4.3: the target "SHOULD NOT return a Refresh Token": a warning, not a failure.
    checks.absent(response, "refresh_token", "ID-JAG -04 §4.4.3: SHOULD NOT", required=False)
    checks.no_store(headers, RFC6749)
    return checks


def access_token_signature(checks: Checklist, access_token: str, jwks: dict[str, Any]) -> bool:
    """Add the signature row of an access token: the custom server's key named by `kid` (RFC 9068 §4)."""
    return checks.signature(
        access_token,
        jwks,
        expected="verifies with the custom server key named by kid",
        reference="RFC 9068 §4",
        what="access token",
    )


def check_access_token(
    access_token: str,
    *,
    jwks: dict[str, Any],
    issuer: str,
    client_id: str,
    id_jag_claims: dict[str, Any],
    audience: str | None = None,
    now: int | None = None,
    skew: int = DEFAULT_CLOCK_SKEW,
) -> Checklist:
    """Check an access token: signature by `kid`, `iss`, `aud`, `cid`, `scp`, `exp`, and the user.

    Args:
        id_jag_claims: the claims of the ID-JAG redeemed: the user and the scopes the token may carry.
        audience: the API's audience (Okta: the custom server's Audience, e.g. "api://default"); when
            None, the check only requires one.
    """
    now = int(time.time()) if now is None else now
    checks = Checklist("Access token checks")
    decoded = checks.decode(access_token, what="access token")
    if decoded is None:
        return checks
    header, claims = decoded
    access_token_signature(checks, access_token, jwks)
    checks.equal('"iss"', issuer, claims.get("iss"), "RFC 9068 §4: the custom server's issuer")
    if audience is not None:
        checks.add(
            '"aud"',
            audience,
            claims.get("aud"),
            claims.get("aud") == audience or claims.get("aud") == [audience],
            "RFC 9068 §4",
        )
    else:
        checks.present('"aud"', claims.get("aud"), "RFC 9068 §4", expected="the API's audience")
    cid = claims.get("cid", claims.get("client_id"))
    checks.equal('"cid"', client_id, cid, OKTA_AT + " (client_id)")
    # The user the ID-JAG names is the user the access token speaks for (Okta: uid is the user id).
    user = id_jag_claims.get("sub")
    speaks_for = [v for v in (claims.get("sub"), claims.get("uid")) if v]
    checks.add(
        '"sub" / "uid"',
        user,
        " / ".join(str(v) for v in speaks_for) or "(missing)",
        user in speaks_for,
        "ID-JAG -04 §4.4.1: the token is for the ID-JAG's subject",
    )
    scp = claims.get("scp", claims.get("scope"))
    scopes = set(scp.split()) if isinstance(scp, str) else set(scp or [])
    allowed = set(str(id_jag_claims.get("scope", "")).split())
    checks.add(
        '"scp"',
        f"a non-empty subset of the ID-JAG's ({' '.join(sorted(allowed))})",
        " ".join(sorted(scopes)) or "(none)",
        bool(scopes) and scopes <= allowed,
        "ID-JAG -04 §4.4.1",
    )
    checks.lifetime(claims, now=now, skew=skew, exp_reference="RFC 9068 §4", iat_reference="RFC 9068 §2.2")
    return checks


def audiences(tokens: dict[str, str]) -> KeyValues:
    """Show the `aud` of each named access token (RFC 9068 §2.2: whom each one is for)."""
    rows = []
    for name, token in tokens.items():
        aud = decode_unverified(token, what=f"access token ({name})")[1].get("aud")
        rows.append((name, aud))
    return KeyValues("Whom each access token is for (aud)", rows)
