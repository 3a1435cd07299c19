"""Okta's access token claim layout, for every grant of the sandbox that issues one.

- Okta's access token claims (developer.okta.com/docs/guides/validate-access-tokens, "Custom
  authorization server"): `ver`, `jti`, `iss`, `aud`, `iat`, `exp`, `cid`, `uid`, `scp` (a list),
  `sub` (the user's login), `auth_time`; RFC 9068 §2.2 names the same facts `client_id`, `scope`.
- Okta "Set up AI agent token exchange" (2026.08 docs), machine access and agent-to-agent examples:
  a token for a service (no user) carries the client's id in `sub` and `"sub_profile": "service"`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from .config import User
from .errors import SandboxError, refuse
from .jwts import is_number

#: Okta's `sub_profile` values in its ID-JAG and access token examples.
SERVICE_PROFILE = "service"
AI_AGENT_PROFILE = "ai_agent"


@dataclass(frozen=True)
class TokenSubject:
    """Whom a token speaks for: a user of the org, or a service (a client acting for itself)."""

    id: str
    user: User | None = None

    @classmethod
    def for_user(cls, user: User) -> TokenSubject:
        return cls(id=user.id, user=user)

    @classmethod
    def for_service(cls, client_id: str) -> TokenSubject:
        return cls(id=client_id)

    @property
    def is_service(self) -> bool:
        """True when no user takes part (Okta's client credentials token, `sub_profile` service)."""
        return self.user is None


def okta_access_token_claims(
    *,
    issuer: str,
    audience: str,
    client_id: str,
    subject: User | TokenSubject,
    scope: str | None,
    lifetime: int,
    auth_time: int | None = None,
    now: int | None = None,
) -> dict[str, Any]:
    """Return the claims of an access token issued now to `client_id` for `subject` (Okta's layout)."""
    now = int(time.time()) if now is None else now
    if isinstance(subject, User):
        subject = TokenSubject.for_user(subject)
    claims: dict[str, Any] = {
        "ver": 1,
        "jti": "AT." + secrets.token_urlsafe(32),
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "cid": client_id,
    }
    if subject.user is not None:
        claims["uid"] = subject.user.id
    claims["scp"] = (scope or "").split()
    if subject.user is not None:
        claims["auth_time"] = now if auth_time is None else auth_time
        claims["sub"] = subject.user.username
    else:
        # Okta's machine access examples: a service subject is named by its client id.
        claims["sub"] = subject.id
        claims["sub_profile"] = SERVICE_PROFILE
    return claims


def lifetime_refusal(
    claims: dict[str, Any], skew: int, client_id: str | None, user_id: str | None
) -> SandboxError | None:
    """The refusal of an access token outside its lifetime at a resource server, or None.

    `exp` and `iat` are REQUIRED NumericDates (RFC 9068 §2.2), each checked with `skew` seconds of
    allowance; the errors are Okta's catalog entries.
    """
    now = time.time()
    if not is_number(claims.get("exp")):
        return refuse("access_token_invalid", detail="no exp")
    if claims["exp"] < now - skew:
        return refuse("token_expired", client_id=client_id, user_id=user_id)
    if not is_number(claims.get("iat")):
        return refuse("access_token_invalid", detail="no numeric iat")
    if claims["iat"] > now + skew:
        return refuse("token_timestamp_invalid", client_id=client_id, user_id=user_id)
    return None
