"""PKCE for the authorization code flow: a code verifier and its S256 challenge.

- RFC 7636 §4.1 (verifier: 43-128 characters of [A-Za-z0-9-._~]), §4.2 (S256 challenge),
  Appendix B (the worked example the tests reproduce).
Only S256: `plain` offers no protection if the authorization request leaks.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field

from .keys import b64url

_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
METHOD = "S256"


def make_verifier(n_bytes: int = 32) -> str:
    """Return a new code verifier: `n_bytes` random bytes, base64url (32 bytes -> 43 characters)."""
    verifier = b64url(secrets.token_bytes(n_bytes))
    check_verifier(verifier)
    return verifier


def check_verifier(verifier: str) -> None:
    """Raise ValueError unless the verifier meets RFC 7636 §4.1."""
    if not _VERIFIER.fullmatch(verifier):
        raise ValueError(
            f'code_verifier is "{verifier}" ({len(verifier)} chars), '
            "expected 43-128 characters of [A-Za-z0-9-._~] "
            "(RFC 7636 §4.1)"
        )


def s256_challenge(verifier: str) -> str:
    """Return BASE64URL(SHA256(ASCII(verifier))) (RFC 7636 §4.2)."""
    check_verifier(verifier)
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass(frozen=True)
class Pkce:
    """A verifier and its S256 challenge; the verifier is hidden from the repr."""

    verifier: str = field(repr=False)
    challenge: str
    method: str = METHOD

    @classmethod
    def new(cls) -> Pkce:
        """Return a fresh verifier and challenge."""
        verifier = make_verifier()
        return cls(verifier=verifier, challenge=s256_challenge(verifier))
