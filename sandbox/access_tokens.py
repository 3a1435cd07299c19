"""Okta's access token claim layout, for every grant of the sandbox that issues one.

- SPEC.md "Step 4": Okta's layout `ver`, `jti`, `iss`, `aud`, `iat`, `exp`, `cid`, `uid`, `scp` (a
  list), `sub` (the user's login), `auth_time`; RFC 9068 §2.2 names the same facts `client_id`, `scope`.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from .config import User


def okta_access_token_claims(
    *,
    issuer: str,
    audience: str,
    client_id: str,
    user: User,
    scope: str | None,
    lifetime: int,
    auth_time: int | None = None,
    now: int | None = None,
) -> dict[str, Any]:
    """Return the claims of an access token issued now to `client_id` for `user` (Okta's layout)."""
    now = int(time.time()) if now is None else now
    return {
        "ver": 1,
        "jti": "AT." + secrets.token_urlsafe(32),
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "cid": client_id,
        "uid": user.id,
        "scp": (scope or "").split(),
        "auth_time": now if auth_time is None else auth_time,
        "sub": user.username,
    }
