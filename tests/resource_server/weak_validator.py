"""A deliberately weak resource authorization server: the battery must catch exactly its gaps.

It verifies the signature properly (the IdP's key by `kid`, RS256 only), the issuer, `sub`,
`client_id`, `exp` and the scope policy, but it has four gaps common in hand-written validators:

- no `typ` check (any JWT the IdP signs passes for an ID-JAG);
- `aud` "contains" the issuer (an array of two passes);
- `iat` ignored (missing, in the future, or a lifetime of hours: all pass);
- no replay memory (an ID-JAG can be redeemed again and again).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import requests
from jose import jwk, jws
from jose.exceptions import JOSEError

from helpers.resource_server import Refusal, RegisteredClient, ResourceServer, TokenRequest

#: The battery rows these gaps must fail, and no other.
EXPECTED_FAILURES = {
    "refuse.typ_jwt",
    "refuse.typ_missing",
    "refuse.access_token",
    "refuse.aud_array_two",
    "refuse.lifetime_too_long",
    "refuse.iat_future",
    "refuse.iat_missing",
    "refuse.jti_replayed",
}

POLICY = {"notes.read", "notes.write"}


def weak_server(*, trusted_issuer: str, key_file: Path, clients: list[RegisteredClient]) -> ResourceServer:
    """Start the weak server; its metadata is complete (the gaps are in the checks only)."""
    server = ResourceServer(key_file=key_file, clients=clients, name="weak").start()
    discovery = requests.get(trusted_issuer + "/.well-known/openid-configuration", timeout=5).json()
    jwks = requests.get(discovery["jwks_uri"], timeout=5).json()

    def redeem(request: TokenRequest) -> dict[str, Any]:
        token = request.form["assertion"]
        try:
            header = jws.get_unverified_header(token)
            key = next(k for k in jwks["keys"] if k.get("kid") == header.get("kid"))
            claims = json.loads(jws.verify(token, jwk.construct(key, "RS256"), algorithms=["RS256"]))
        except (JOSEError, StopIteration, ValueError):
            raise Refusal("invalid_grant", "bad signature") from None
        if claims.get("iss") != trusted_issuer:
            raise Refusal("invalid_grant", "untrusted issuer")
        aud = claims.get("aud")
        # Gap: "contains" instead of "is" (a string, or an array of exactly one element).
        if not (aud == server.issuer or (isinstance(aud, list) and server.issuer in aud)):
            raise Refusal("invalid_grant", "wrong audience")
        if not claims.get("sub") or not claims.get("jti"):
            raise Refusal("invalid_grant", "sub and jti are required")
        if claims.get("client_id") != request.client_id:
            raise Refusal("invalid_grant", "client mismatch")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp < time.time():
            raise Refusal("invalid_grant", "expired")
        if claims.get("nbf") is not None and claims["nbf"] > time.time() + 60:
            raise Refusal("invalid_grant", "not yet valid")
        asked = str(claims.get("scope") or "").split()
        granted = [s for s in asked if s in POLICY]
        if not asked:
            raise Refusal("invalid_grant", "no scope")
        if not granted:
            raise Refusal("invalid_scope", "no scope granted")
        if "scope" in request.form:
            raise Refusal("invalid_request", "no scope parameter")
        return server.issue_access_token(
            subject=claims["sub"],
            client_id=request.client_id,
            scopes=granted,
            audience="https://notes.example/api",
        )

    server.jwt_bearer = redeem
    server.metadata = {
        "issuer": server.issuer,
        "token_endpoint": server.token_endpoint,
        "jwks_uri": server.jwks_uri,
        "grant_types_supported": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
        "authorization_grant_profiles_supported": ["urn:ietf:params:oauth:grant-profile:id-jag"],
    }
    return server
