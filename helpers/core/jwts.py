"""Read and verify JWTs: decode for display, pick the key by `kid`, verify with explicit algorithms.

- RFC 7515 (JWS), RFC 7519 (JWT), RFC 7517 (JWK Set)
- python-jose 3.5.0 (its `jwt.decode` source): given a JWKS tries every key and may accept a
  DER key as an HMAC secret without an algorithm list; here the key is picked by `kid` first
  and `algorithms` is always an explicit list of asymmetric algorithms.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from jose import jwk, jws
from jose.exceptions import JOSEError

from ..constants import ASYMMETRIC_ALGORITHMS
from .errors import TokenValidationError


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def looks_like_jwt(value: Any) -> bool:
    """Tell whether a value has the three dot-separated parts of a compact JWS."""
    return isinstance(value, str) and value.count(".") == 2 and value.startswith("eyJ")


def decode_unverified(token: str, *, what: str = "token") -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (header, claims) of a compact JWT WITHOUT checking its signature (for display and checks).

    Raises:
        TokenValidationError: the value is not a JWT with JSON header and claims.
    """
    if not isinstance(token, str) or token.count(".") != 2:
        shown = (token[:16] + "…") if isinstance(token, str) and len(token) > 16 else token
        raise TokenValidationError(
            f'{what} is "{shown}", expected a JWT (three base64url parts separated by dots)',
            check="format",
            expected="JWT",
            received=shown,
        )
    head, body, _ = token.split(".")
    try:
        header = json.loads(_b64decode(head))
        claims = json.loads(_b64decode(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenValidationError(
            f"{what} has a header or payload that is not base64url JSON ({exc})",
            check="format",
            expected="JSON",
            received="undecodable",
        ) from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenValidationError(
            f"{what} header and payload must be JSON objects",
            check="format",
            expected="JSON objects",
            received="other JSON",
        )
    return header, claims


def pick_key(jwks: dict[str, Any], kid: str | None) -> dict[str, Any]:
    """Return the JWK whose `kid` matches; never fall back to trying every key.

    Raises:
        TokenValidationError: no `kid`, or no key with that `kid` in the set.
    """
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        raise TokenValidationError(
            'JWKS has no "keys" array (RFC 7517 §5)', check="jwks", expected="keys", received=None
        )
    available = sorted(str(k.get("kid")) for k in keys if isinstance(k, dict))
    if not kid:
        raise TokenValidationError(
            f'token header "kid" is missing, expected one of {available}',
            check="kid",
            expected=available,
            received=None,
        )
    for key in keys:
        if isinstance(key, dict) and key.get("kid") == kid:
            return key
    raise TokenValidationError(
        f'token header "kid" is "{kid}", expected one of {available} (the signer\'s published keys)',
        check="kid",
        expected=available,
        received=kid,
    )


def verify_signature(
    token: str,
    jwks: dict[str, Any],
    *,
    algorithms: tuple[str, ...] = ASYMMETRIC_ALGORITHMS,
    what: str = "token",
) -> dict[str, Any]:
    """Verify a JWS with the key its `kid` names; return the claims.

    Raises:
        TokenValidationError: unknown `kid`, an algorithm outside `algorithms`, or a bad signature.
    """
    header, claims = decode_unverified(token, what=what)
    alg = header.get("alg")
    if alg not in algorithms:
        raise TokenValidationError(
            f'{what} header "alg" is "{alg}", expected one of {list(algorithms)}',
            check="alg",
            expected=list(algorithms),
            received=alg,
        )
    key_data = pick_key(jwks, header.get("kid"))
    if key_data.get("alg") and key_data["alg"] != alg:
        raise TokenValidationError(
            f'{what} header "alg" is "{alg}", but key "{header.get("kid")}" is for "{key_data["alg"]}"',
            check="alg",
            expected=key_data["alg"],
            received=alg,
        )
    try:
        key = jwk.construct(key_data, alg)
        jws.verify(token, key, algorithms=[alg])
    except JOSEError as exc:
        raise TokenValidationError(
            f'{what} signature does not verify with key "{header.get("kid")}" ({exc})',
            check="signature",
            expected="valid",
            received="invalid",
        ) from None
    return claims


def token_hash(value: str, alg: str) -> str:
    """Return the `at_hash`/`c_hash` of a value: left half of its hash, base64url (OIDC Core §3.1.3.6)."""
    bits = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}.get(alg[-3:])
    if bits is None:
        raise TokenValidationError(
            f'cannot compute at_hash for alg "{alg}"', check="at_hash", expected="RS/ES alg", received=alg
        )
    digest = bits(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")
