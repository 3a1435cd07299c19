"""Step 4 (notebook 04): call the API with the access token, and explain a refusal's challenge.

- RFC 6750 §2.1 (the bearer token in `Authorization`), §3 (the `WWW-Authenticate` challenge:
  `error`, `error_description`, `scope`) and §3.1 (error codes)
- RFC 9728 §5.1 (`resource_metadata`: where the protected resource metadata is)
- RFC 9110 §11.6.1 (challenge syntax: auth-scheme, then auth-params)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape
from typing import Any

from .core.errors import ResponseError
from .core.formatting import KeyValues, html_pre, stable_json
from .core.transport import BearerAuth, CurlCommand, Exchange, KitHTTP

#: RFC 6750 §3.1 error codes, in plain words.
ERROR_MEANINGS = {
    "invalid_request": "the request is malformed (a missing or repeated parameter, or more than one way "
    "of sending "
    "the token)",
    "invalid_token": "the access token is expired, revoked, malformed, signed by an unknown key, or for "
    "another "
    "audience: get a new one",
    "insufficient_scope": "the token is valid but lacks the scope this request needs",
}

_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)\s*,?')


@dataclass(frozen=True)
class Challenge:
    """One challenge of a `WWW-Authenticate` header: the scheme and its parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def error(self) -> str | None:
        """The RFC 6750 `error`, if any (none when no token was sent, RFC 6750 §3.1)."""
        return self.params.get("error")

    def explain(self) -> list[str]:
        """Return plain-language lines saying what the challenge means and what to do."""
        lines = []
        if self.error is None:
            lines.append(
                f"{self.scheme}: no error code, which RFC 6750 §3.1 uses when the request had no token: "
                "send one in the Authorization header"
            )
        else:
            meaning = ERROR_MEANINGS.get(self.error, "an error this kit does not know")
            lines.append(f"error={self.error}: {meaning} (RFC 6750 §3.1)")
        if "error_description" in self.params:
            lines.append(f"error_description: {self.params['error_description']}")
        if "scope" in self.params:
            lines.append(f"scope={self.params['scope']}: the scope(s) this request needs (RFC 6750 §3)")
        if "resource_metadata" in self.params:
            lines.append(
                f"resource_metadata={self.params['resource_metadata']}: the API's protected resource "
                "metadata, naming its authorization servers and scopes (RFC 9728 §5.1)"
            )
        if "realm" in self.params:
            lines.append(f"realm={self.params['realm']}: the protection space (RFC 9110 §11.5)")
        return lines


def parse_www_authenticate(value: str) -> list[Challenge]:
    """Parse a `WWW-Authenticate` value into challenges (scheme + auth-params, quoted or not)."""
    challenges: list[Challenge] = []
    rest = value.strip()
    while rest:
        match = re.match(r"([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?=\s|$|,)", rest)
        if not match:
            break
        scheme = match.group(1)
        rest = rest[match.end() :].lstrip(" ,")
        params: dict[str, str] = {}
        while rest:
            param = _PARAM.match(rest)
            if not param:
                break
            raw = param.group(2)
            params[param.group(1).lower()] = (
                re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
            )
            rest = rest[param.end() :].lstrip()
        challenges.append(Challenge(scheme, params))
    return challenges


@dataclass
class ApiResult:
    """The API's answer: status, body, the exchange, and the parsed challenge on 401/403."""

    status: int
    body: Any
    exchange: Exchange
    challenges: list[Challenge]

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return 200 <= self.status < 300

    @property
    def challenge(self) -> Challenge | None:
        """The Bearer challenge, if the API sent one."""
        for challenge in self.challenges:
            if challenge.scheme.lower() == "bearer":
                return challenge
        return self.challenges[0] if self.challenges else None

    def curl(self) -> CurlCommand:
        """The request as cURL (redacted, and replayable with `$ACCESS_TOKEN`)."""
        return self.exchange.curl()

    def explain(self) -> KeyValues:
        """The challenge's parameters, then what they mean, one line each (empty table on success)."""
        rows: list[tuple[str, Any]] = []
        if self.challenge is not None:
            rows = [(name, self.challenge.params[name]) for name in sorted(self.challenge.params)]
            rows += [("meaning", line) for line in self.challenge.explain()]
        return KeyValues(f"WWW-Authenticate on HTTP {self.status}", rows)

    def __repr__(self) -> str:
        body = stable_json(self.body) if isinstance(self.body, (dict, list)) else str(self.body)
        text = f"HTTP {self.status} {self.exchange.reason}\n{body}"
        if self.challenge is not None:
            text += "\n" + repr(self.explain())
        return text

    def _repr_html_(self) -> str:
        body = stable_json(self.body) if isinstance(self.body, (dict, list)) else str(self.body)
        html = f"<p><b>HTTP {self.status} {escape(self.exchange.reason)}</b></p>" + html_pre(body)
        if self.challenge is not None:
            html += self.explain()._repr_html_()
        return html


def call_api(
    http: KitHTTP,
    url: str,
    access_token: str | None,
    *,
    method: str = "GET",
    json: Any = None,
    label: str = "API call",
) -> ApiResult:
    """Call the API with the token as a bearer token (RFC 6750 §2.1); never raises on 401/403."""
    with http.labelled(label):
        response = http.request(
            method,
            url,
            json=json,
            auth=BearerAuth(access_token) if access_token else None,
            headers={"Accept": "application/json"},
        )
    try:
        body = response.json()
    except ValueError:
        body = response.text
    header = response.headers.get("WWW-Authenticate", "")
    return ApiResult(
        status=response.status_code,
        body=body,
        exchange=response.exchange,  # type: ignore[attr-defined]
        challenges=parse_www_authenticate(header) if header else [],
    )


#: RFC 9728 §2: the members of protected resource metadata the kit shows, in this order.
RESOURCE_METADATA_MEMBERS = (
    "resource",
    "authorization_servers",
    "scopes_supported",
    "bearer_methods_supported",
    "resource_name",
    "resource_documentation",
)


class ResourceMetadata(KeyValues):
    """An API's protected resource metadata (RFC 9728 §2), shown as a table; `.document` holds it all."""

    def __init__(self, title: str, document: dict[str, Any]) -> None:
        rows = [(name, document[name]) for name in RESOURCE_METADATA_MEMBERS if name in document]
        rows += [(name, document[name]) for name in sorted(document) if name not in RESOURCE_METADATA_MEMBERS]
        super().__init__(title, rows)
        self.document = document

    @property
    def resource(self) -> str | None:
        """The API's resource identifier (RFC 9728 §2): what `resource` names in RFC 8707 requests."""
        value = self.document.get("resource")
        return value if isinstance(value, str) else None


def fetch_resource_metadata(http: KitHTTP, refusal: ApiResult | str) -> ResourceMetadata:
    """Follow a 401's `resource_metadata` (RFC 9728 §5.1) and show the API's protected resource metadata.

    Args:
        refusal: the API's answer whose challenge names the metadata URL, or the URL itself.

    Raises:
        ResponseError: no `resource_metadata` in the challenge, or the document is not a JSON object.
    """
    if isinstance(refusal, ApiResult):
        challenge = refusal.challenge
        url = challenge.params.get("resource_metadata") if challenge is not None else None
        if not url:
            raise ResponseError(
                f"the HTTP {refusal.status} answer has no resource_metadata in WWW-Authenticate, "
                "expected the URL of the API's protected resource metadata (RFC 9728 §5.1)",
                status=refusal.status,
                exchange=refusal.exchange,
            )
    else:
        url = refusal
    with http.labelled("Protected resource metadata (RFC 9728)"):
        response = http.get(url, headers={"Accept": "application/json"})
    try:
        document = response.json()
    except ValueError:
        document = None
    if response.status_code != 200 or not isinstance(document, dict):
        raise ResponseError(
            f"GET {url} answered HTTP {response.status_code} "
            f"({response.headers.get('Content-Type', 'no content type')}), "
            "expected 200 with a JSON protected resource metadata document (RFC 9728 §3.2)",
            status=response.status_code,
            exchange=getattr(response, "exchange", None),
        )
    return ResourceMetadata(f"Protected resource metadata ({url})", document)
