"""Reading JWTs the careful way: parse first, pick the key by `kid`, verify with explicit algorithms.

- RFC 7519 §7.2 (validating a JWT), RFC 7515 §5.2 (validating a JWS)
- RFC 8725 §3.1 (perform algorithm verification), §3.2 (use appropriate algorithms)

The sandbox never lets a token choose its key: `jku`, `x5u` and `jwk` headers are ignored and
never fetched; the key comes from the issuer or client the sandbox already trusts.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError

#: The largest JWT the sandbox parses (a request body is capped anyway).
MAX_JWT_LENGTH = 16384


class MalformedJWT(ValueError):
    """The value is not a compact JWS with JSON header and claims."""


class SignatureInvalid(ValueError):
    """The signature does not verify with the chosen key and algorithm."""


@dataclass(frozen=True)
class ParsedJWT:
    """A JWT parsed but not yet verified: header, claims and the compact form."""

    header: dict[str, Any]
    claims: dict[str, Any]
    compact: str

    @property
    def alg(self) -> Any:
        """The header's `alg` (not yet checked)."""
        return self.header.get("alg")

    @property
    def kid(self) -> Any:
        """The header's `kid`, if any."""
        return self.header.get("kid")

    @property
    def typ(self) -> Any:
        """The header's `typ`, if any."""
        return self.header.get("typ")


def b64url_decode(segment: str) -> bytes:
    """Decode base64url without padding (RFC 7515 §2); raise MalformedJWT on bad input."""
    # One regex match, not a Python loop per character (a JWT has about a thousand of them).
    if not segment or not _B64URL.fullmatch(segment):
        raise MalformedJWT("segment is not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise MalformedJWT("segment is not base64url") from None


_B64URL = re.compile(r"[A-Za-z0-9_-]+")


def parse_unverified(token: Any) -> ParsedJWT:
    """Split a compact JWS and decode its header and claims, without verifying anything.

    Raises:
        MalformedJWT: not a string of three base64url parts whose first two are JSON objects.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_JWT_LENGTH:
        raise MalformedJWT("not a JWT of acceptable length")
    parts = token.split(".")
    if len(parts) != 3 or not parts[2]:
        raise MalformedJWT("a signed JWT has three non-empty parts")
    try:
        # RFC 8259 §6: NaN and Infinity are not JSON; Python's parser would accept them, and a NaN
        # `exp` passes every "<" and ">" check (an assertion that never expires, and never replays).
        header = json.loads(b64url_decode(parts[0]), parse_constant=_reject_constant)
        claims = json.loads(b64url_decode(parts[1]), parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # also int("1" * 5000): Python's digit limit is a ValueError
        raise MalformedJWT("header or claims are not JSON") from None
    b64url_decode(parts[2])
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise MalformedJWT("header and claims must be JSON objects")
    return ParsedJWT(header=header, claims=claims, compact=token)


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON number", name, 0)


def verify_signature(parsed: ParsedJWT, key: Any, algorithms: list[str] | tuple[str, ...]) -> None:
    """Verify the signature with one key, allowing only `algorithms` (RFC 8725 §3.1).

    Raises:
        SignatureInvalid: the algorithm is not allowed, does not suit the key, or the signature fails.
    """
    if parsed.alg not in algorithms:
        raise SignatureInvalid(f"alg {parsed.alg!r} is not one of {list(algorithms)}")
    try:
        jws.deserialize_compact(parsed.compact, key, algorithms=[parsed.alg])
    except (JoseError, ValueError, TypeError) as exc:
        raise SignatureInvalid(f"{type(exc).__name__}: {exc}") from None


def is_number(value: Any) -> bool:
    """True for a JSON number usable as a NumericDate (RFC 7519 §2): finite, not a bool."""
    if isinstance(value, bool):
        return False
    # An int is always finite (math.isfinite would overflow on a huge one); a float may be inf or nan.
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
