"""Okta's OAuth 2.0 error catalog, and the one path every refusal of the sandbox takes.

- RFC 6749 §5.2 (error response), §4.1.2.1 (errors at the authorization endpoint)
- RFC 6750 §3.1 (errors at a resource server)
- Okta's error catalog (release 2026.08.1, subset): `data/okta-oauth2-errors.json`

Every refusal is `raise refuse("<Okta internalErrorCode>", ...)`. `refuse` looks the code up in
Okta's catalog, fills the placeholders (`en`, `[en]`, `{1}`, `{2}`) and returns a `SandboxError`
carrying Okta's exact status, `error` and `error_description`; it also records the refusal in the
sandbox's event log with the internal code as the reason (the sandbox's "System Log").

Where Okta's catalog has no specific entry, the refusal uses a generic entry (`invalid_request`,
`invalid_grant`, `invalid_client`, `invalid_scope`, `invalid_token`, whose internal code equals
the RFC error code) with a description of our own. Transport-level refusals that are not OAuth
errors at Okta (unknown path, wrong method, body too large, an unexpected failure), and the one
RFC error the catalog lacks (`unsupported_response_type`), use the small `LOCAL_ERRORS` table
below; its codes do not collide with Okta's (a test checks it).

Errors:

    authlib OAuth2Error
      └─ SandboxError        an OAuth-shaped answer: status, error, error_description,
                             internal_code, extra headers, and the context it was refused in
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from authlib.common.errors import AuthlibHTTPError
from authlib.oauth2.rfc6749.errors import OAuth2Error

from . import events

log = logging.getLogger("sandbox.errors")

CATALOG_PATH = Path(__file__).with_name("data") / "okta-oauth2-errors.json"

#: Refusals with no entry in Okta's OAuth catalog: (status, error, description). Two kinds: a
#: standard RFC error the catalog lacks, and transport-level answers (codes starting with http_).
LOCAL_ERRORS: dict[str, tuple[int, str, str]] = {
    # RFC 6749 §4.1.2.1; worded as Okta words it on its authorize error page.
    "unsupported_response_type": (
        400,
        "unsupported_response_type",
        "The response type is not supported by the authorization server. Configured response types: [en].",
    ),
    "http_bad_request": (400, "invalid_request", "The request could not be parsed: en"),
    "http_not_found": (404, "invalid_request", "There is no endpoint at en on this server."),
    "http_method_not_allowed": (405, "invalid_request", "The method en is not allowed here. Allowed: [{1}]."),
    "http_request_too_large": (413, "invalid_request", "The request body is larger than en bytes."),
    "http_server_error": (500, "server_error", "The sandbox failed to handle the request; see its log."),
}

_PLACEHOLDER_EN = re.compile(r"\ben\b")


@dataclass(frozen=True)
class CatalogEntry:
    """One entry of Okta's error catalog."""

    internal_code: str
    status: int
    error: str
    description: str

    @property
    def is_generic(self) -> bool:
        """True for the RFC-level entries whose internal code is the `error` code itself."""
        return self.internal_code == self.error

    def placeholders(self) -> int:
        """Return how many values the description expects (`en` is the first, `{1}` the second)."""
        count = 1 if _PLACEHOLDER_EN.search(self.description) else 0
        for index in (1, 2, 3):
            if f"{{{index}}}" in self.description:
                count = max(count, index + 1)
        return count

    def fill(self, values: Iterable[Any]) -> str:
        """Return the description with the placeholders replaced by `values`, in order."""
        values = [str(v) for v in values]
        expected = self.placeholders()
        if len(values) != expected:
            raise ValueError(
                f'error "{self.internal_code}" takes {expected} placeholder value(s), '
                f"got {len(values)}: {values}"
            )
        text = self.description
        for index in range(len(values) - 1, 0, -1):
            text = text.replace(f"{{{index}}}", values[index])
        if values:
            text = _PLACEHOLDER_EN.sub(lambda _m: values[0], text)
        return text


@cache
def catalog() -> dict[str, CatalogEntry]:
    """Return Okta's error catalog keyed by `internalErrorCode` (loaded once)."""
    data = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    entries = {}
    for item in data["errors"]:
        entry = CatalogEntry(
            internal_code=item["internalErrorCode"],
            status=int(item["statusCode"]),
            error=item["errorCode"],
            description=item["errorDescription"],
        )
        entries[entry.internal_code] = entry
    return entries


def lookup(internal_code: str) -> CatalogEntry:
    """Return the catalog (or `LOCAL_ERRORS`) entry of an internal code; KeyError if unknown."""
    if internal_code in LOCAL_ERRORS:
        status, error, description = LOCAL_ERRORS[internal_code]
        return CatalogEntry(internal_code, status, error, description)
    entries = catalog()
    if internal_code not in entries:
        raise KeyError(
            f'"{internal_code}" is not an internalErrorCode of Okta\'s catalog nor of LOCAL_ERRORS'
        )
    return entries[internal_code]


class SandboxError(OAuth2Error):
    """A refusal of the sandbox: Okta's status, `error`, `error_description` and internal code."""

    def __init__(
        self,
        entry: CatalogEntry,
        description: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        context: dict[str, Any] | None = None,
    ) -> None:
        # OAuth2Error.__init__ rejects some characters in descriptions; ours come from the catalog
        # or from code, so call the base that only stores the fields.
        AuthlibHTTPError.__init__(self, entry.error, description, None, entry.status)
        self.state = None
        self.redirect_uri = None
        self.redirect_fragment = False
        self.internal_code = entry.internal_code
        self.extra_headers = list(headers)
        self.context = dict(context or {})

    def get_headers(self) -> list[tuple[str, str]]:
        """Return JSON, no-store headers plus any extra header (e.g. `WWW-Authenticate`)."""
        headers = super().get_headers()
        return headers + list(self.extra_headers)

    def body(self) -> dict[str, str]:
        """Return the JSON body: `error` and `error_description` (RFC 6749 §5.2)."""
        return {"error": self.error, "error_description": self.description}

    def __repr__(self) -> str:
        return f"SandboxError({self.internal_code!r}, status={self.status_code}, error={self.error!r})"


def refuse(
    internal_code: str,
    *values: Any,
    description: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    client_id: str | None = None,
    user_id: str | None = None,
    **context: Any,
) -> SandboxError:
    """Build the answer to a refused request from Okta's catalog and record it as an event.

    Args:
        internal_code: Okta's `internalErrorCode` (or an `LOCAL_ERRORS` code).
        values: placeholder values, in order (`en` first, then `{1}`, `{2}`).
        description: our own description; only for generic entries, whose catalog text is vague.
        headers: extra response headers (`WWW-Authenticate`).
        client_id, user_id, context: what the event log records about the refusal.

    Returns:
        The error to raise.
    """
    entry = lookup(internal_code)
    if description is not None:
        if not (entry.is_generic or internal_code in LOCAL_ERRORS):
            raise ValueError(
                f'"{internal_code}" has its own description in Okta\'s catalog; do not override it'
            )
        text = description
    else:
        text = entry.fill(values)
    error = SandboxError(
        entry, text, headers=headers, context=dict(context, client_id=client_id, user_id=user_id)
    )
    _record(error)
    return error


def _record(error: SandboxError) -> None:
    """Send a refusal to the running sandbox's event log (issue 4 reads it over HTTP)."""
    events.record_refusal(error)
