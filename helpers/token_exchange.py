"""Step 2 (notebook 02): exchange the user's ID token for an ID-JAG at the org authorization server.

- RFC 8693 §2.1 (request), §2.2.1 (response: `issued_token_type`, `token_type`, `expires_in`)
- draft-ietf-oauth-identity-assertion-authz-grant-04 ("ID-JAG -04"): §3.1 (the ID-JAG: `typ`,
  claims), §4.3 (the request: `requested_token_type` id-jag, `audience` = the target's issuer, `scope`
  OPTIONAL), §4.3.4 (the response: `token_type` N_A; a refresh token SHOULD NOT be returned)
- Okta "Set up AI agent token exchange": ID-JAG lifetime 300 s, org keys sign it.
"""

from __future__ import annotations

import time
from typing import Any

from .constants import (
    DEFAULT_CLOCK_SKEW,
    GRANT_TOKEN_EXCHANGE,
    ID_JAG_JWT_TYP,
    ID_JAG_MAX_LIFETIME,
    TOKEN_TYPE_ID_JAG,
    TOKEN_TYPE_ID_TOKEN,
)
from .core.checks import Checklist
from .core.oauth import TokenResponse

RFC8693 = "RFC 8693 §2.2.1"
IDJAG = "ID-JAG -04 §3.1"
IDJAG_RESPONSE = "ID-JAG -04 §4.3.4"


def token_exchange_form(
    *,
    subject_token: str,
    audience: str,
    scopes: list[str] | tuple[str, ...] | str,
    subject_token_type: str = TOKEN_TYPE_ID_TOKEN,
    resource: str | None = None,
) -> dict[str, str]:
    """Return the step 2 token exchange form (RFC 8693 §2.1, ID-JAG -04 §4.3; client auth added when sent)."""
    scope = scopes if isinstance(scopes, str) else " ".join(scopes)
    form = {
        "grant_type": GRANT_TOKEN_EXCHANGE,
        # ID-JAG -04 §4.3: requested_token_type is REQUIRED: the ID-JAG token type.
        "requested_token_type": TOKEN_TYPE_ID_JAG,
        # ID-JAG -04 §4.3: audience is the target authorization server's issuer, not its token URL.
        "audience": audience,
        "scope": scope,
        "subject_token": subject_token,
        "subject_token_type": subject_token_type,
    }
    if resource:
        form["resource"] = resource
    return form


def check_exchange_response(
    response: TokenResponse | dict[str, Any], *, headers: dict[str, str] | None = None
) -> Checklist:
    """Check the token exchange response's shape (RFC 8693 §2.2.1, ID-JAG -04 §4.3.4)."""
    headers = headers if headers is not None else getattr(response, "headers", {})
    checks = Checklist("Token exchange response checks")
    checks.equal('"issued_token_type"', TOKEN_TYPE_ID_JAG, response.get("issued_token_type"), RFC8693)
    # RFC 8693 §2.2.1 / ID-JAG -04 §4.3.4: the ID-JAG is not an access token, so token_type is N_A.
    checks.equal('"token_type"', "N_A", response.get("token_type"), IDJAG_RESPONSE)
    checks.is_jwt('"access_token"', response.get("access_token"), RFC8693, expected="the ID-JAG (a JWT)")
    expires_in = response.get("expires_in")
    checks.add(
        '"expires_in"',
        f"1 to {ID_JAG_MAX_LIFETIME} s",
        expires_in,
        isinstance(expires_in, int) and 0 < expires_in <= ID_JAG_MAX_LIFETIME,
        RFC8693 + "; Okta",
    )
    # ID-JAG -04 §4.3.4: a refresh token "SHOULD NOT be used": a warning, not a failure.
    checks.absent(response, "refresh_token", IDJAG_RESPONSE + ": SHOULD NOT", required=False)
    checks.no_store(headers, "RFC 6749 §5.1")
    return checks


def granted_scopes(response: dict[str, Any], requested: str) -> list[str]:
    """Return the scopes granted: the response's `scope`, else the requested ones (RFC 8693 §2.2.1)."""
    return sorted((response.get("scope") or requested).split())


def check_id_jag(
    id_jag: str,
    *,
    jwks: dict[str, Any],
    issuer: str,
    audience: str,
    client_id: str,
    subject: str,
    requested_scopes: list[str] | tuple[str, ...] | str,
    resource: str | None = None,
    now: int | None = None,
    skew: int = DEFAULT_CLOCK_SKEW,
) -> Checklist:
    """Check an ID-JAG: signature by kid, `typ`, `iss`, `aud`, `client_id`, `sub`, lifetime, `jti`, scopes."""
    now = int(time.time()) if now is None else now
    requested = set(requested_scopes.split() if isinstance(requested_scopes, str) else requested_scopes)
    checks = Checklist("ID-JAG checks")
    decoded = checks.decode(id_jag, what="ID-JAG")
    if decoded is None:
        return checks
    header, claims = decoded
    checks.signature(
        id_jag,
        jwks,
        expected="verifies with the org key named by kid",
        reference=IDJAG + "; RFC 7515 §5.2",
        what="ID-JAG",
    )
    # ID-JAG -04 §3.1: the typ header MUST be oauth-id-jag+jwt.
    checks.equal('header "typ"', ID_JAG_JWT_TYP, header.get("typ"), IDJAG)
    checks.equal('"iss"', issuer, claims.get("iss"), IDJAG)
    aud = claims.get("aud")
    aud_value = aud[0] if isinstance(aud, list) and len(aud) == 1 else aud
    checks.add('"aud"', audience, aud, aud_value == audience, IDJAG + ": the target server's issuer")
    checks.equal('"client_id"', client_id, claims.get("client_id"), IDJAG)
    checks.equal('"sub"', subject, claims.get("sub"), IDJAG + ": the ID token's subject")
    checks.lifetime(claims, now=now, skew=skew, exp_reference=IDJAG)
    exp, iat = claims.get("exp"), claims.get("iat")
    lifetime = exp - iat if isinstance(exp, int) and isinstance(iat, int) else None
    checks.add(
        "lifetime",
        f"at most {ID_JAG_MAX_LIFETIME} s",
        f"{lifetime} s" if lifetime is not None else "(unknown)",
        lifetime is not None and 0 < lifetime <= ID_JAG_MAX_LIFETIME,
        "Okta: ID-JAG lifetime",
    )
    checks.present('"jti"', claims.get("jti"), IDJAG, expected="a unique id")
    scope = claims.get("scope")
    granted = set(scope.split()) if isinstance(scope, str) else set()
    checks.add(
        '"scope"',
        f"a non-empty subset of {' '.join(sorted(requested))}",
        " ".join(sorted(granted)) or "(none)",
        bool(granted) and granted <= requested,
        IDJAG + "; RFC 8693 §2.2.1",
    )
    if resource:
        checks.equal('"resource"', resource, claims.get("resource"), IDJAG + "; RFC 8707")
    return checks
