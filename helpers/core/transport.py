"""HTTP for the kit: one requests.Session that records, redacts and guards every exchange.

- RFC 6749 §10.3-§10.4, RFC 6750 §5.3: tokens and credentials only over TLS (plain http allowed
  here for loopback only, where the sandbox runs).
- RFC 6750 §2.1: bearer tokens in the `Authorization` header (through `BearerAuth`).
- TLS is verified on every https request, with what helpers.core.tls says the kit trusts (KIT_CA_BUNDLE,
  REQUESTS_CA_BUNDLE, SSL_CERT_FILE); a certificate it does not trust is a `TLSError` naming them.

Every response passes through a hook that records the exchange (method, URL, request headers,
form, status, response headers and body, time taken) in memory and appends it, redacted, to
`<state dir>/logs/<phase>.jsonl`. Each exchange renders as a cURL command in two forms: redacted
for display, and replayable with secrets read from environment variables.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase

from .config import CA_BUNDLE_VAR, is_loopback_host
from .errors import InsecureTransportError, UnreachableError
from .formatting import HIDDEN, duration_ms, html_pre, iso_time, shorten, stable_json
from .jwts import looks_like_jwt
from .tls import TrustingAdapter, tls_error, trust_for

#: Form, query and JSON fields whose values are tokens or codes: shortened when shown, in logs always.
TOKEN_FIELDS = frozenset(
    {
        "access_token",
        "actor_token",
        "assertion",
        "client_assertion",
        "code",
        "code_verifier",
        "device_code",
        "id_token",
        "refresh_token",
        "subject_token",
        "token",
    }
)
#: Fields whose values are never shown, even shortened.
SECRET_FIELDS = frozenset({"password", "client_secret", "passwd", "secret"})
#: Authorization schemes whose credentials are never shown: Basic (a secret), SSWS (an Okta API token).
HIDDEN_SCHEMES = frozenset({"basic", "ssws"})
#: Headers whose values carry credentials.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "dpop", "proxy-authorization"})

#: Headers shown in a notebook (the rest, volatile or noise, stay in the JSONL log only).
SHOWN_REQUEST_HEADERS = ("Accept", "Authorization", "Content-Type", "DPoP")
SHOWN_RESPONSE_HEADERS = ("Cache-Control", "Content-Type", "Location", "Pragma", "WWW-Authenticate")

#: What the reader puts in each environment variable of a replayable cURL command.
ENV_HINTS = {
    "CLIENT_ASSERTION": "a NEW client assertion for this URL (each one is single use)",
    "SUBJECT_TOKEN": "the subject token (the ID token from 01_user_sign_in)",
    "ASSERTION": "the ID-JAG from 02_token_exchange_id_jag (single use)",
    "CODE": "the authorization code from the redirect (single use, short-lived)",
    "CODE_VERIFIER": "the PKCE code verifier of the same sign-in",
    "ACCESS_TOKEN": "the access token",
    "PASSWORD": "the password",
    "CLIENT_SECRET": "the client secret",
    "CLIENT_CREDENTIALS": "base64 of client_id:client_secret (HTTP Basic, RFC 6749 §2.3.1)",
    "COOKIE": "the session cookie",
    "OKTA_API_TOKEN": "your Okta API token (SSWS), as in .env",
}

#: Default timeouts: (connect, read) seconds.
DEFAULT_TIMEOUT = (5.0, 30.0)
_BODY_LIMIT_SHOWN = 800
_BODY_LIMIT_STORED = 4000


# --- redaction -------------------------------------------------------------------------------------
def redact_value(name: str, value: Any, *, redact: bool = True) -> Any:
    """Redact one named value: secrets hidden always, tokens shortened when `redact` is on."""
    lowered = name.lower()
    if lowered in SECRET_FIELDS:
        return HIDDEN if value not in (None, "") else value
    if isinstance(value, str) and (lowered in TOKEN_FIELDS or looks_like_jwt(value)):
        return shorten(value, redact=redact)
    if isinstance(value, Mapping):
        return redact_mapping(value, redact=redact)
    if isinstance(value, list):
        return [redact_value(name, item, redact=redact) for item in value]
    return value


def redact_mapping(values: Mapping[str, Any], *, redact: bool = True) -> dict[str, Any]:
    """Redact every value of a form or JSON object by its field name (nested objects too)."""
    return {key: redact_value(key, value, redact=redact) for key, value in values.items()}


def redact_header(name: str, value: str, *, redact: bool = True) -> str:
    """Redact a header value: `Bearer <shortened>`, `Basic [hidden]`, cookies shortened."""
    lowered = name.lower()
    if lowered in ("authorization", "proxy-authorization"):
        scheme, _, credentials = value.partition(" ")
        # Basic carries a secret, SSWS an Okta API token: hidden always, even with redaction off.
        if scheme.lower() in HIDDEN_SCHEMES:
            return f"{scheme} {HIDDEN}"
        return f"{scheme} {shorten(credentials, redact=redact)}"
    if lowered in CREDENTIAL_HEADERS:
        return shorten(value, redact=redact)
    if lowered == "location":
        return redact_url(value, redact=redact)
    return value


def redact_url(url: str, *, redact: bool = True) -> str:
    """Redact token-like query parameters of a URL (e.g. `code` in a redirect); for display only."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(k.lower() in TOKEN_FIELDS | SECRET_FIELDS for k, _ in pairs):
        return url
    rendered = []
    for key, value in pairs:
        if key.lower() in TOKEN_FIELDS | SECRET_FIELDS:
            rendered.append(f"{quote(key)}={redact_value(key, value, redact=redact)}")
        else:
            rendered.append(urlencode([(key, value)]))
    return urlunsplit(parts._replace(query="&".join(rendered)))


def shell_quote(text: str) -> str:
    """Quote a word for a POSIX shell, always with single quotes (stable, readable output)."""
    return "'" + text.replace("'", "'\\''") + "'"


def env_name(field_name: str) -> str:
    """Return the variable a replayable command reads a field from: client_assertion -> CLIENT_ASSERTION."""
    return field_name.upper().replace("-", "_")


# --- the guard --------------------------------------------------------------------------------------
def carries_credentials(headers: Mapping[str, str], form: Mapping[str, Any] | None) -> list[str]:
    """Return the names of the credentials a request carries (headers and form fields)."""
    found = [name for name in headers if name.lower() in CREDENTIAL_HEADERS and name.lower() != "set-cookie"]
    if form:
        found += [name for name in form if name.lower() in TOKEN_FIELDS | SECRET_FIELDS]
    return found


def check_transport(url: str, headers: Mapping[str, str], form: Mapping[str, Any] | None) -> None:
    """Refuse to send credentials over plain http to a host that is not loopback.

    Raises:
        InsecureTransportError: naming the URL and what would have been sent.
    """
    parts = urlsplit(url)
    if parts.scheme == "https" or is_loopback_host(parts.hostname):
        return
    secrets = carries_credentials(headers, form)
    if secrets:
        # RFC 6749 §10.3 / RFC 6750 §5.3: tokens MUST only travel over TLS.
        raise InsecureTransportError(
            f'URL is "{parts.scheme}://{parts.netloc}{parts.path}", expected https:// (or a loopback host) '
            f"before sending {', '.join(sorted(secrets))}"
        )


# --- one exchange ------------------------------------------------------------------------------------
def _parse_body(body: bytes | str | None, content_type: str) -> tuple[dict[str, str] | None, Any]:
    """Return (form, other) from a request body: a form dict, or parsed JSON / text."""
    if body is None:
        return None, None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    if "application/x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(text, keep_blank_values=True)), None
    if "json" in content_type:
        try:
            return None, json.loads(text)
        except ValueError:
            return None, text
    return None, text


@dataclass
class Exchange:
    """One request and its response, as sent and received (display and log views are redacted)."""

    phase: str
    label: str
    method: str
    url: str
    request_headers: dict[str, str]
    form: dict[str, str] | None
    request_json: Any
    status: int
    reason: str
    response_headers: dict[str, str]
    response_text: str
    elapsed: float
    started_at: float
    redact: bool = True
    #: The CA file a replay must trust for this https URL (KIT_CA_BUNDLE), "" for the system's CAs.
    ca_file: str = ""
    _json: Any = field(default=None, repr=False)

    @classmethod
    def from_response(cls, response: requests.Response, *, phase: str, label: str, redact: bool) -> Exchange:
        """Build an Exchange from a requests.Response (its `.request` is what was sent)."""
        request = response.request
        headers = dict(request.headers)
        content_type = headers.get("Content-Type", "")
        form, other = _parse_body(request.body, content_type)
        elapsed = response.elapsed.total_seconds()
        exchange = cls(
            phase=phase,
            label=label,
            method=request.method or "GET",
            url=request.url or "",
            request_headers=headers,
            form=form,
            request_json=other,
            status=response.status_code,
            reason=response.reason or "",
            response_headers=dict(response.headers),
            response_text=response.text,
            elapsed=elapsed,
            started_at=time.time() - elapsed,
            redact=redact,
        )
        try:
            exchange._json = response.json() if "json" in response.headers.get("Content-Type", "") else None
        except ValueError:
            exchange._json = None
        return exchange

    @property
    def json(self) -> Any:
        """The response body parsed as JSON, or None."""
        return self._json

    # --- views ------------------------------------------------------------------------------------
    def record(self, *, redact: bool = True, body_limit: int = _BODY_LIMIT_STORED) -> dict[str, Any]:
        """Return the exchange as a JSON-able dict with secrets redacted (what the JSONL log stores)."""
        body: Any = redact_mapping(self._json, redact=redact) if isinstance(self._json, dict) else None
        if body is None:
            body = self.response_text[:body_limit] + ("…" if len(self.response_text) > body_limit else "")
        return {
            "time": iso_time(self.started_at),
            "phase": self.phase,
            "label": self.label,
            "method": self.method,
            "url": redact_url(self.url, redact=redact),
            "request_headers": {
                k: redact_header(k, v, redact=redact) for k, v in sorted(self.request_headers.items())
            },
            "form": redact_mapping(self.form, redact=redact) if self.form is not None else None,
            "request_json": redact_value("json", self.request_json, redact=redact),
            "status": self.status,
            "response_headers": {
                k: redact_header(k, v, redact=redact) for k, v in sorted(self.response_headers.items())
            },
            "response_body": body,
            "elapsed_ms": round(self.elapsed * 1000),
        }

    def curl(self) -> CurlCommand:
        """Return this request as a cURL command (redacted for display, and replayable)."""
        return CurlCommand.from_exchange(self)

    def _summary(self) -> str:
        url = redact_url(self.url, redact=self.redact)
        return f"{self.method} {url} -> {self.status} {self.reason} ({duration_ms(self.elapsed)})"

    def text(self) -> str:
        """Plain-text view: request line, shown headers, form, status, shown headers, body."""
        rec = self.record(redact=self.redact, body_limit=_BODY_LIMIT_SHOWN)
        lines = [(f"[{self.label}] " if self.label else "") + self._summary()]
        shown_req = _pick(rec["request_headers"], SHOWN_REQUEST_HEADERS)
        if shown_req:
            lines.append("Request headers:")
            lines += [f"  {k}: {v}" for k, v in shown_req]
        if rec["form"]:
            lines.append("Form:")
            lines += [f"  {k}={v}" for k, v in rec["form"].items()]
        if rec["request_json"] is not None:
            lines.append("JSON body:")
            lines += ["  " + line for line in stable_json(rec["request_json"]).splitlines()]
        lines.append(f"Response: {self.status} {self.reason}")
        lines += [f"  {k}: {v}" for k, v in _pick(rec["response_headers"], SHOWN_RESPONSE_HEADERS)]
        body = rec["response_body"]
        if "html" in self.response_headers.get("Content-Type", "") and isinstance(body, str):
            title = re.search(r"<title[^>]*>(.*?)</title>", self.response_text, re.S | re.I)
            body = f'(an HTML page: "{" ".join(title.group(1).split())}")' if title else "(an HTML page)"
        if body not in (None, ""):
            lines.append("Response body:")
            text = stable_json(body) if isinstance(body, (dict, list)) else str(body)
            lines += ["  " + line for line in text.splitlines()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self, *, open_: bool = False) -> str:
        summary = escape(("[" + self.label + "] " if self.label else "") + self._summary())
        opened = " open" if open_ else ""
        body = html_pre(self.text())
        return f"<details{opened}><summary><code>{summary}</code></summary>{body}</details>"


def _pick(headers: Mapping[str, str], wanted: tuple[str, ...]) -> list[tuple[str, str]]:
    lowered = {k.lower(): (k, v) for k, v in headers.items()}
    return [(name, lowered[name.lower()][1]) for name in wanted if name.lower() in lowered]


# --- cURL ------------------------------------------------------------------------------------------
_CURL_SKIPPED_HEADERS = {"user-agent", "accept-encoding", "connection", "content-length", "host"}


@dataclass(frozen=True)
class CurlCommand:
    """A request as cURL: `display` (secrets redacted) and `replayable` (secrets from `$VARIABLES`)."""

    display: str
    replayable: str
    exports: str

    @classmethod
    def from_exchange(cls, exchange: Exchange) -> CurlCommand:
        """Render an exchange's request in both forms."""
        redact = exchange.redact
        shown: list[str] = []
        replay: list[str] = []
        needed: dict[str, str] = {}
        method = exchange.method.upper()
        head = "curl" + (
            "" if method == "GET" or (method == "POST" and exchange.form is not None) else f" -X {method}"
        )
        shown.append(f"{head} {shell_quote(redact_url(exchange.url, redact=redact))}")
        replay.append(f"{head} {_replay_url(exchange.url, needed, exchange)}")
        if exchange.ca_file:  # curl trusts only this CA then: the sandbox's, or the company proxy's
            shown.append(f"--cacert {shell_quote(exchange.ca_file)}")
            replay.append(f"--cacert {shell_quote(exchange.ca_file)}")
        for name, value in sorted(exchange.request_headers.items()):
            lowered = name.lower()
            if lowered in _CURL_SKIPPED_HEADERS or (lowered == "accept" and value == "*/*"):
                continue
            if lowered in ("authorization", "proxy-authorization"):
                scheme, _, credentials = value.partition(" ")
                variable = {"bearer": "ACCESS_TOKEN", "dpop": "ACCESS_TOKEN", "ssws": "OKTA_API_TOKEN"}.get(
                    scheme.lower(), "CLIENT_CREDENTIALS"
                )
                needed[variable] = credentials if scheme.lower() not in HIDDEN_SCHEMES else ""
                shown.append(f"-H {shell_quote(f'{name}: ' + redact_header(name, value, redact=redact))}")
                replay.append(f'-H "{name}: {scheme} ${variable}"')
            elif lowered == "cookie":
                needed["COOKIE"] = value
                shown.append(f"-H {shell_quote(f'Cookie: {shorten(value, redact=redact)}')}")
                replay.append('-H "Cookie: $COOKIE"')
            else:
                shown.append(f"-H {shell_quote(f'{name}: {value}')}")
                replay.append(f"-H {shell_quote(f'{name}: {value}')}")
        if exchange.form is not None:
            for key, value in exchange.form.items():
                lowered = key.lower()
                shown_value = redact_value(key, value, redact=redact)
                shown.append(f"--data-urlencode {shell_quote(f'{key}={shown_value}')}")
                if lowered in TOKEN_FIELDS | SECRET_FIELDS:
                    variable = env_name(key)
                    needed[variable] = value
                    replay.append(f'--data-urlencode "{key}=${variable}"')
                else:
                    replay.append(f"--data-urlencode {shell_quote(f'{key}={value}')}")
        elif exchange.request_json is not None:
            body = json.dumps(exchange.request_json, sort_keys=True)
            shown.append(f"--data {shell_quote(body)}")
            replay.append(f"--data {shell_quote(body)}")
        exports = []
        for variable in sorted(needed):
            value = needed[variable]
            fill = (
                value
                if (
                    not redact
                    and variable not in ("PASSWORD", "CLIENT_SECRET", "CLIENT_CREDENTIALS", "OKTA_API_TOKEN")
                )
                else ""
            )
            hint = ENV_HINTS.get(variable, f"the value of {variable}")
            exports.append(f"export {variable}={shell_quote(fill) if fill else chr(39) * 2}  # {hint}")
        return cls(" \\\n  ".join(shown), " \\\n  ".join(replay), "\n".join(exports))

    def text(self) -> str:
        """Both forms as plain text: the redacted command, then the export block and replayable command."""
        out = [self.display]
        if self.exports:
            out += [
                "",
                "# To replay: fill in these variables, then run the command below.",
                self.exports,
                self.replayable,
            ]
        elif self.replayable != self.display:
            out += ["", "# To replay:", self.replayable]
        return "\n".join(out)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        html = html_pre(self.display)
        if self.exports:
            html += (
                "<details><summary>Replay it in a terminal (secrets from environment variables)</summary>"
                + html_pre(f"{self.exports}\n{self.replayable}")
                + "</details>"
            )
        return html


def _replay_url(url: str, needed: dict[str, str], exchange: Exchange) -> str:
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(k.lower() in TOKEN_FIELDS | SECRET_FIELDS for k, _ in pairs):
        return shell_quote(url)
    rendered = []
    for key, value in pairs:
        if key.lower() in TOKEN_FIELDS | SECRET_FIELDS:
            needed[env_name(key)] = value
            rendered.append(f"{key}=${env_name(key)}")
        else:
            rendered.append(urlencode([(key, value)]))
    return '"' + urlunsplit(parts._replace(query="&".join(rendered))) + '"'


# --- a log of exchanges -----------------------------------------------------------------------------
class ExchangeLog(list):
    """Exchanges in order; renders as collapsible HTML (`<details>`) with a plain-text fallback."""

    def __init__(self, exchanges: list[Exchange] | None = None, *, title: str = "Request log") -> None:
        super().__init__(exchanges or [])
        self.title = title

    def text(self) -> str:
        """All exchanges as plain text, numbered."""
        if not self:
            return f"{self.title}: no requests yet"
        parts = [f"{self.title}: {len(self)} request(s)"]
        for n, exchange in enumerate(self, 1):
            parts.append(f"--- {n} ---\n{exchange.text()}")
        return "\n".join(parts)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        items = "".join(exchange._repr_html_() for exchange in self)  # noqa: SLF001
        return f"<details><summary><b>view log</b> ({len(self)} request(s))</summary>{items}</details>"


# --- the session -------------------------------------------------------------------------------------
class BearerAuth(AuthBase):
    """Send a bearer token in the Authorization header (RFC 6750 §2.1)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def __repr__(self) -> str:
        return f"BearerAuth({shorten(self.token)})"


class KitHTTP(requests.Session):
    """The kit's one HTTP session: guard, timeouts, verified TLS, and a hook that records each exchange.

    `ca_bundle` is KIT_CA_BUNDLE (`Settings.ca_bundle`): a CA's PEM file trusted in addition (core/tls.py).

    Example:
        http = KitHTTP(phase="02_token_exchange_id_jag", log_dir=settings.state_dir / "logs")
        with http.labelled("Token exchange"):
            response = http.post(url, data=form)
        http.last.curl()
    """

    def __init__(
        self,
        *,
        phase: str = "kit",
        log_dir: Path | None = None,
        redact: bool = True,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        fresh_log: bool = True,
        ca_bundle: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.phase = phase
        self.redact = redact
        self.timeout = timeout
        self.exchanges: list[Exchange] = []
        self.log_path = (Path(log_dir) / f"{phase}.jsonl") if log_dir else None
        self._label = threading.local()
        self._lock = threading.Lock()
        self.headers["User-Agent"] = "agentic-token-exchange-kit/0.1"
        self.hooks["response"].append(self._record)
        self.use_ca_bundle(ca_bundle)
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            if fresh_log:
                self.log_path.write_text("", encoding="utf-8")

    def __repr__(self) -> str:
        return f"KitHTTP(phase={self.phase!r}, exchanges={len(self.exchanges)})"

    def use_ca_bundle(self, ca_bundle: str | Path | None) -> None:
        """Trust `ca_bundle` (KIT_CA_BUNDLE) in addition to the environment's CAs from the next request on."""
        self.trust = trust_for(ca_bundle)
        previous = self.adapters.get("https://")
        self.mount("https://", TrustingAdapter(self.trust))
        if previous is not None:
            previous.close()

    @contextmanager
    def labelled(self, label: str) -> Iterator[None]:
        """Label the exchanges made inside the block (e.g. "Token exchange (RFC 8693)")."""
        previous = getattr(self._label, "value", "")
        self._label.value = label
        try:
            yield
        finally:
            self._label.value = previous

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Check the transport, apply the default timeout, send."""
        content_type = request.headers.get("Content-Type", "")
        form, _ = _parse_body(request.body, content_type)
        check_transport(request.url or "", request.headers, form)
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        try:
            return super().send(request, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise tls_error(request.method or "GET", redact_url(request.url or ""), exc, self.trust) from None
        except requests.ConnectionError as exc:
            raise UnreachableError(
                f"{request.method} {redact_url(request.url or '')} got no answer "
                f"({type(exc).__name__}); is the server running at that address?"
            ) from None
        except requests.Timeout:
            raise UnreachableError(
                f"{request.method} {redact_url(request.url or '')} timed out after {kwargs['timeout']} s"
            ) from None

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        exchange = Exchange.from_response(
            response, phase=self.phase, label=getattr(self._label, "value", ""), redact=self.redact
        )
        extra = dict(self.trust.extra)
        if CA_BUNDLE_VAR in extra and exchange.url.startswith("https://"):
            exchange.ca_file = str(extra[CA_BUNDLE_VAR])
        response.exchange = exchange  # type: ignore[attr-defined]
        self.record_exchange(exchange)
        return response

    def record_exchange(self, exchange: Exchange) -> None:
        """Add an exchange to this log and its JSONL file (also one another client made: the MCP SDK's)."""
        with self._lock:
            self.exchanges.append(exchange)
            if self.log_path is not None:
                with self.log_path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(exchange.record(redact=True), sort_keys=True) + "\n")

    @property
    def last(self) -> Exchange:
        """The most recent exchange."""
        if not self.exchanges:
            raise LookupError("no request has been sent yet")
        return self.exchanges[-1]

    def log(self, *, label: str | None = None, since: int = 0) -> ExchangeLog:
        """Return the recorded exchanges (optionally only those with a label) as a displayable log."""
        picked = [e for e in self.exchanges[since:] if label is None or e.label == label]
        return ExchangeLog(picked, title=f"Request log ({label})" if label else "Request log")
