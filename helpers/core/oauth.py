"""Token endpoint requests: send a form with a fresh client assertion, read the answer or the error.

- RFC 6749 §5.1 (successful response: JSON, `Cache-Control: no-store`) and §5.2 (error response:
  `error`, `error_description`)
- RFC 7523 §2.2 (client authentication with a JWT)
"""

from __future__ import annotations

from html import escape
from typing import Any

import requests

from .client_assertion import ClientAssertionSigner
from .errors import OAuthError, ResponseError
from .formatting import html_pre, stable_json
from .transport import CurlCommand, Exchange, KitHTTP, redact_mapping


class TokenResponse(dict):
    """A token endpoint's JSON answer (a dict) with the exchange that produced it."""

    def __init__(self, body: dict[str, Any], *, exchange: Exchange, assertion: str | None = None) -> None:
        super().__init__(body)
        self.exchange = exchange
        self.assertion = assertion

    @property
    def status(self) -> int:
        """The HTTP status."""
        return self.exchange.status

    @property
    def headers(self) -> dict[str, str]:
        """The response headers."""
        return self.exchange.response_headers

    def curl(self) -> CurlCommand:
        """The request as cURL (redacted, and replayable)."""
        return self.exchange.curl()

    def __repr__(self) -> str:
        body = redact_mapping(dict(self), redact=self.exchange.redact)
        return f"HTTP {self.status} {self.exchange.reason}\n{stable_json(body)}"

    def _repr_html_(self) -> str:
        body = redact_mapping(dict(self), redact=self.exchange.redact)
        head = f"<p><b>HTTP {self.status} {escape(self.exchange.reason)}</b></p>"
        return head + html_pre(stable_json(body))


def read_token_response(
    response: requests.Response, *, where: str, assertion: str | None = None
) -> TokenResponse:
    """Turn a token endpoint answer into a TokenResponse, or raise the error it carries.

    Raises:
        OAuthError: the body is an OAuth error (RFC 6749 §5.2).
        ResponseError: the body is not a JSON object (e.g. an HTML page), or a non-200 without `error`.
    """
    exchange: Exchange = response.exchange  # type: ignore[attr-defined]
    content_type = response.headers.get("Content-Type", "(none)")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        snippet = " ".join(response.text.split())[:120]
        raise ResponseError(
            f'{where}: HTTP {response.status_code} with Content-Type "{content_type}", '
            "expected a JSON object "
            f"(RFC 6749 §5.1); the body starts: {snippet!r}",
            status=response.status_code,
            exchange=exchange,
        )
    if "error" in body:
        raise OAuthError(
            str(body["error"]),
            body.get("error_description"),
            status=response.status_code,
            exchange=exchange,
            where=where,
        )
    if response.status_code != 200:
        raise ResponseError(
            f'{where}: HTTP {response.status_code} without an "error" member, expected 200 '
            "or an OAuth error body (RFC 6749 §5.2)",
            status=response.status_code,
            exchange=exchange,
        )
    return TokenResponse(body, exchange=exchange, assertion=assertion)


def post_token_request(
    http: KitHTTP,
    url: str,
    form: dict[str, str],
    *,
    signer: ClientAssertionSigner | None,
    assertion: str | None = None,
    label: str = "Token request",
) -> TokenResponse:
    """POST a token request; authenticate with a fresh client assertion whose `aud` is `url`.

    The form is copied; `client_assertion_type` and `client_assertion` are added unless the form
    has them already. Pass `assertion` to send one you made (and checked) yourself.
    """
    body = dict(form)
    if signer is not None and "client_assertion" not in body:
        fields = signer.form_fields(url)
        if assertion is not None:
            fields["client_assertion"] = assertion
        body.update(fields)
    with http.labelled(label):
        response = http.post(url, data=body, headers={"Accept": "application/json"}, allow_redirects=False)
    return read_token_response(response, where=label, assertion=body.get("client_assertion"))
