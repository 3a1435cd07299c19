"""Discovery: read authorization server metadata and keys, and check the issuer is the one asked for.

- RFC 8414 §3 (metadata URL: `/.well-known/oauth-authorization-server` inserted after the host) and
  §3.3 (the `issuer` in the document MUST be identical to the issuer used to build the URL)
- OpenID Connect Discovery 1.0 §4 (`{issuer}/.well-known/openid-configuration`)
- RFC 7517 §5 (JWK Set)

URL forms (Okta's layout): org `{org}/.well-known/openid-configuration`; custom server
`{issuer}/.well-known/oauth-authorization-server` (Okta's legacy form), or the RFC 8414 §3.1 form
`{org}/.well-known/oauth-authorization-server/oauth2/{id}` (served by Okta since release 2026.06,
bug fix OKTA-998096).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from .errors import DiscoveryError
from .formatting import html_table, plain_value, text_table
from .jwts import pick_key

__all__ = ["Metadata", "check_metadata_paths", "fetch_jwks", "fetch_metadata", "metadata_url", "pick_key"]

#: Metadata members shown in the notebooks' discovery tables, in this order.
SHOWN_MEMBERS = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "grant_types_supported",
    "token_endpoint_auth_methods_supported",
    "token_endpoint_auth_signing_alg_values_supported",
    "code_challenge_methods_supported",
    "scopes_supported",
    "authorization_grant_profiles_supported",
    "identity_chaining_requested_token_types_supported",
)


def metadata_url(issuer: str, *, form: str = "okta") -> str:
    """Return the metadata URL of an issuer.

    Args:
        form: "openid" (`{issuer}/.well-known/openid-configuration`), "okta"
            (`{issuer}/.well-known/oauth-authorization-server`) or "rfc8414" (the well-known
            segment inserted between host and path).
    """
    if form == "openid":
        return f"{issuer}/.well-known/openid-configuration"
    if form == "okta":
        return f"{issuer}/.well-known/oauth-authorization-server"
    if form == "rfc8414":
        parts = urlsplit(issuer)
        return urlunsplit(
            parts._replace(path="/.well-known/oauth-authorization-server" + parts.path.rstrip("/"))
        )
    raise ValueError(f'form is "{form}", expected "openid", "okta" or "rfc8414"')


class Metadata(dict):
    """An authorization server's metadata document (a dict) that displays as a table."""

    def __init__(
        self, document: dict[str, Any], *, url: str, title: str = "Authorization server metadata"
    ) -> None:
        super().__init__(document)
        self.url = url
        self.title = title

    @property
    def scopes_supported(self) -> list[str]:
        """The public scopes the server lists (Okta lists only those marked for public metadata)."""
        scopes = self.get("scopes_supported") or []
        return [s for s in scopes if isinstance(s, str)]

    def _rows(self) -> list[list[str]]:
        return [[name, plain_value(self[name])] for name in SHOWN_MEMBERS if name in self]

    def __repr__(self) -> str:
        return f"{self.title} ({self.url})\n" + text_table(["member", "value"], self._rows())

    def _repr_html_(self) -> str:
        from html import escape

        return f"<p><b>{escape(self.title)}</b> <code>{escape(self.url)}</code></p>" + html_table(
            ["Member", "Value"], self._rows(), code_columns=(1,)
        )


def fetch_metadata(
    http: requests.Session, issuer: str, *, form: str = "okta", title: str | None = None
) -> Metadata:
    """Fetch an issuer's metadata and check that its `issuer` is exactly the one asked for.

    Raises:
        DiscoveryError: not found, not JSON, or a different issuer (RFC 8414 §3.3).
    """
    url = metadata_url(issuer, form=form)
    response = http.get(url, headers={"Accept": "application/json"})
    if response.status_code != 200:
        raise DiscoveryError(
            f"GET {url} answered HTTP {response.status_code}, expected 200 with the metadata document"
        )
    try:
        document = response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type")
        raise DiscoveryError(f"GET {url} answered {kind}, expected a JSON metadata document") from None
    if not isinstance(document, dict):
        raise DiscoveryError(f"GET {url} answered JSON that is not an object, expected a metadata document")
    # RFC 8414 §3.3: the issuer value returned MUST be identical to the issuer used to build the URL.
    if document.get("issuer") != issuer:
        raise DiscoveryError(
            f'metadata "issuer" is "{document.get("issuer")}", expected "{issuer}" (RFC 8414 §3.3)'
        )
    return Metadata(document, url=url, title=title or f"Metadata of {issuer}")


def fetch_jwks(http: requests.Session, jwks_uri: str) -> dict[str, Any]:
    """Fetch a JWK Set and check it has a `keys` array.

    Raises:
        DiscoveryError: not 200, not JSON, or no `keys` array.
    """
    response = http.get(jwks_uri, headers={"Accept": "application/json"})
    if response.status_code != 200:
        raise DiscoveryError(
            f"GET {jwks_uri} answered HTTP {response.status_code}, expected 200 with a JWK Set"
        )
    try:
        jwks = response.json()
    except ValueError:
        raise DiscoveryError(f"GET {jwks_uri} did not answer JSON, expected a JWK Set") from None
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise DiscoveryError(f'GET {jwks_uri} answered no "keys" array, expected a JWK Set (RFC 7517 §5)')
    return jwks


def check_metadata_paths(http: requests.Session, issuer: str) -> Any:
    """Fetch a custom server's metadata at both of Okta's URLs and check they serve the same document.

    Okta serves `{issuer}/.well-known/oauth-authorization-server` (its legacy form, the one Okta's guides
    show) and, since release 2026.06 (bug fix OKTA-998096), the RFC 8414 §3.1 form that MCP clients build:
    `{org}/.well-known/oauth-authorization-server/oauth2/{id}`.
    """
    from .checks import Checklist

    checks = Checklist("Both metadata URLs of the custom server")
    documents = {}
    forms = (
        ("okta", "the legacy URL", "Okta (the form its guides show)"),
        ("rfc8414", "the RFC 8414 URL", "RFC 8414 §3.1; Okta since 2026.06"),
    )
    for form, name, reference in forms:
        url = metadata_url(issuer, form=form)

        def probe(url: str = url, form: str = form) -> tuple[str, bool]:
            documents[form] = fetch_metadata(http, issuer, form=form)
            return f"200 at {url}, issuer {documents[form]['issuer']}", True

        checks.run(name, f"200, issuer {issuer}", probe, reference)
    same = len(documents) == 2 and dict(documents["okta"]) == dict(documents["rfc8414"])
    checks.add("the two documents", "identical", "identical" if same else "different", same, "RFC 8414 §3")
    return checks
