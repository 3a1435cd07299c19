"""Step 2's rules that more than one place applies, each written once.

The form (`teaching.forms`), the settings check (`core.config`) and the exercise of notebook 02
(`teaching.exercises`) all ask the same two questions of a token exchange: which scopes Okta will refuse,
and why an `audience` is not the target server's issuer. Notebook 05 sends the same mistakes to the
server and shows its answers (`openid_not_allowed_token_exchange`, an unknown audience).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..constants import OIDC_SCOPES

#: Okta's reason when a token exchange asks for an OpenID Connect scope.
OKTA_OIDC_SCOPE_REASON = "openid_not_allowed_token_exchange"


def oidc_scopes(scopes: str | Iterable[str]) -> list[str]:
    """The OpenID Connect scopes among `scopes`, in order: Okta refuses them in a token exchange.

    An ID-JAG carries the target server's custom scopes; `openid`, `profile`, `email`, … belong to the
    sign-in (Okta: openid_not_allowed_token_exchange).
    """
    names = scopes.split() if isinstance(scopes, str) else list(scopes)
    return [s for s in names if s in OIDC_SCOPES]


def audience_mistake(value: str, *, audience: str, org_issuer: str) -> str | None:
    """Why `value` is not the ID-JAG's audience, or None when it is exactly `audience`.

    ID-JAG -04 §4.3 and RFC 8693 §2.1: the audience names the target authorization server by its
    issuer identifier, compared as an exact string (RFC 8414 §3.3).
    """
    if value == audience:
        return None
    if value.endswith("/v1/token"):
        return "that is a token URL; the audience is the target server's issuer"
    if value.rstrip("/") == audience:
        return "one trailing slash too many: issuers compare as exact strings"
    if value.startswith("api://"):
        return "that is the API's audience (the access token's aud); here it is the authorization server"
    if value == org_issuer:
        return "that is the org server you are sending the request to; audience names the target server"
    return "it is not the target server's issuer"
