"""The server's side of a request: the System Log events that answer it, beside what the client saw.

- Okta System Log API: `GET {org}/api/v1/logs` with `filter=transaction.id eq "<request id>"`,
  authenticated by `Authorization: SSWS <API token>` (OKTA_API_TOKEN); events are Okta LogEvents
  (`eventType`, `outcome.result`, `outcome.reason`, `displayMessage`, `debugContext.debugData`)
- Okta's `X-Okta-Request-Id` response header: the id of the request, which the log records as each
  event's `transaction.id`.

The same code reads the sandbox's log and a real Okta org's. Without OKTA_API_TOKEN the server's side
is skipped with a sentence saying why (never an error); a refused token or an unreachable log is shown
the same way. The log requests use a session of their own, so a notebook's request log ("view log")
shows only the flow's requests; the token never appears in an output (transport redaction hides
`Authorization: SSWS …`).

    side = system_log.server_side(kit, response)      # a TokenResponse, an OAuthError, an ApiResult…
    side                                              # the client's view and the server's events
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from html import escape
from typing import Any

from ..core.config import API_TOKEN_VAR, Settings
from ..core.errors import KitError, ResponseError
from ..core.formatting import html_table, iso_time, stable_json
from ..core.transport import Exchange, KitHTTP, redact_url

REQUEST_ID_HEADER = "X-Okta-Request-Id"
LOGS_PATH = "/api/v1/logs"
#: debugData members not shown (the request id is the transaction id; the rest is noise).
_HIDDEN_DEBUG = frozenset({"requestId", "httpMethod", "clientAssertionType", "errorDescription"})
#: How long to wait for a real Okta org's System Log to show an event (it lags a few seconds).
OKTA_LOG_WAIT = 30.0


def exchange_of(source: Any) -> Exchange | None:
    """Return the recorded exchange of a response, an OAuthError, an ApiResult or an Exchange."""
    if isinstance(source, Exchange):
        return source
    exchange = getattr(source, "exchange", None)
    return exchange if isinstance(exchange, Exchange) else None


def request_id_of(exchange: Exchange) -> str | None:
    """Return the `X-Okta-Request-Id` the server gave a response, or None."""
    for name, value in exchange.response_headers.items():
        if name.lower() == REQUEST_ID_HEADER.lower():
            return value
    return None


def api_token_for(settings: Settings) -> str | None:
    """Return OKTA_API_TOKEN (the settings read it from the environment, else the env file)."""
    return settings.okta_api_token


@dataclass
class ClientView:
    """What the client saw: the request line, the status, and the OAuth error if there was one."""

    method: str
    url: str
    status: int
    error: str | None
    error_description: str | None
    request_id: str | None

    @classmethod
    def of(cls, exchange: Exchange) -> ClientView:
        """Read the client's view from a recorded exchange."""
        body = exchange.json if isinstance(exchange.json, dict) else {}
        return cls(
            method=exchange.method,
            url=redact_url(exchange.url),
            status=exchange.status,
            error=body.get("error") if isinstance(body.get("error"), str) else None,
            error_description=body.get("error_description")
            if isinstance(body.get("error_description"), str)
            else None,
            request_id=request_id_of(exchange),
        )

    def rows(self) -> list[tuple[str, str]]:
        """(name, value) rows for display."""
        rows = [("request", f"{self.method} {self.url}"), ("status", str(self.status))]
        if self.error:
            rows.append(("error", self.error))
        if self.error_description:
            rows.append(("error_description", self.error_description))
        rows.append((REQUEST_ID_HEADER, self.request_id or "(none)"))
        return rows


def describe_event(event: dict[str, Any]) -> list[tuple[str, str]]:
    """Return an event as (name, value) rows: outcome, type, reason, message, actor, targets, debugData."""
    outcome = event.get("outcome") or {}
    actor = event.get("actor") or {}
    rows = [
        ("eventType", str(event.get("eventType"))),
        (
            "outcome",
            f"{outcome.get('result')}" + (f" (reason: {outcome['reason']})" if outcome.get("reason") else ""),
        ),
        ("displayMessage", str(event.get("displayMessage"))),
        ("published", str(event.get("published", "")).split(".")[0] + "Z"),
        ("actor", f"{actor.get('alternateId')} ({actor.get('displayName')})"),
    ]
    for target in event.get("target") or []:
        rows.append(
            (f"target ({target.get('type')})", f"{target.get('alternateId')} ({target.get('displayName')})")
        )
    debug = ((event.get("debugContext") or {}).get("debugData")) or {}
    for name in sorted(debug):
        if name not in _HIDDEN_DEBUG:
            value = debug[name]
            rows.append(
                (f"debugData.{name}", value if isinstance(value, str) else stable_json(value, indent=None))
            )
    return rows


@dataclass
class ServerSide:
    """A request seen from both sides: the client's view, and the server's System Log events for it."""

    client: ClientView | None
    events: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None
    log_exchange: Exchange | None = field(default=None, repr=False)

    @property
    def reasons(self) -> list[str]:
        """The `outcome.reason` of each event (Okta's internal error codes for refusals)."""
        return [str((e.get("outcome") or {}).get("reason")) for e in self.events]

    @property
    def event_types(self) -> list[str]:
        """The `eventType` of each event."""
        return [str(e.get("eventType")) for e in self.events]

    def _header(self) -> str:
        if self.skipped:
            return f"Server's side: skipped. {self.skipped}"
        rid = self.client.request_id if self.client else None
        return f'Server\'s side: {len(self.events)} System Log event(s) with transaction.id eq "{rid}"'

    def text(self) -> str:
        """Plain text: the client's view, then each event."""
        lines = []
        if self.client is not None:
            lines.append("What the client saw")
            lines += [f"  {name}: {value}" for name, value in self.client.rows()]
        lines.append(self._header())
        for number, event in enumerate(self.events, 1):
            lines.append(f"  event {number}")
            lines += [f"    {name}: {value}" for name, value in describe_event(event)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self, *, collapsed: bool = False) -> str:
        """The client's view, then the server's events under it (stacked: long values wrap, never
        cut off); `collapsed` folds the events until the reader opens them."""
        client = (
            html_table(["", ""], [list(r) for r in self.client.rows()], code_columns=(1,))
            if self.client
            else "<p>(no request)</p>"
        )
        if self.skipped:
            events = f"<p><i>{escape(self.skipped)}</i></p>"
        elif not self.events:
            events = "<p>No event recorded for this request.</p>"
        else:
            events = "".join(
                html_table(["", ""], [list(r) for r in describe_event(e)], code_columns=(1,))
                for e in self.events
            )
        header = escape(self._header())
        if collapsed:
            events = f"<details><summary><b>{header}</b> (click to open)</summary>{events}</details>"
        else:
            events = f"<p><b>{header}</b></p>{events}"
        return f"<div><p><b>What the client saw</b></p>{client}{events}</div>"


def read_events(
    http: KitHTTP,
    org_url: str,
    token: str,
    *,
    request_id: str,
    since: float | None = None,
    wait: float = 0.0,
) -> tuple[list[dict[str, Any]], Exchange]:
    """GET the System Log events of one request (`transaction.id eq "<id>"`), waiting up to `wait` s.

    Raises:
        ResponseError: the log answered with something other than a JSON array (401 with Okta's
            error object when the token is refused).
    """
    params = {"filter": f'transaction.id eq "{request_id}"', "limit": "100"}
    if since is not None:
        params["since"] = iso_time(since)
    deadline = time.monotonic() + wait
    while True:
        response = http.get(
            f"{org_url}{LOGS_PATH}",
            params=params,
            headers={"Authorization": f"SSWS {token}", "Accept": "application/json"},
        )
        exchange: Exchange = response.exchange  # type: ignore[attr-defined]
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, list):
            summary = body.get("errorSummary") if isinstance(body, dict) else None
            code = body.get("errorCode") if isinstance(body, dict) else None
            raise ResponseError(
                f"GET {LOGS_PATH} answered HTTP {response.status_code}"
                + (f" {code} {summary}" if code else "")
                + ", expected 200 with a JSON array of events",
                status=response.status_code,
                exchange=exchange,
            )
        if body or time.monotonic() >= deadline:
            return body, exchange
        time.sleep(2.0)


def server_side(kit: Any, source: Any, *, wait: float | None = None) -> ServerSide:
    """Show the server's System Log events for a request beside the client's view of it.

    Args:
        kit: the notebook's `Kit` (its settings name the org and OKTA_API_TOKEN).
        source: a TokenResponse, an OAuthError (a refused request), an ApiResult or an Exchange.
        wait: seconds to wait for the events (default: none for the sandbox, 30 for Okta, whose log lags).

    Never raises for a missing token, a refused token or an unreachable log: it says what was skipped.
    """
    settings: Settings = kit.settings
    exchange = exchange_of(source)
    if exchange is None:
        return ServerSide(None, skipped=f"{type(source).__name__} carries no recorded request to look up.")
    client = ClientView.of(exchange)
    token = api_token_for(settings)
    if not token:
        return ServerSide(
            client,
            skipped=(
                f"{API_TOKEN_VAR} is not set, so the System Log is not read. Sandbox: `make lab` writes its "
                "token to .env (`python -m sandbox token` prints it); Okta: an API token of your org "
                "that may read the System Log (Security > API > Tokens)."
            ),
        )
    if client.request_id is None:
        return ServerSide(
            client, skipped=f"the response has no {REQUEST_ID_HEADER} header, so its events cannot be found."
        )
    if wait is None:
        wait = 0.0 if settings.is_sandbox else OKTA_LOG_WAIT
    http = _log_session(kit)
    try:
        events, log_exchange = read_events(
            http,
            settings.org_url,
            token,
            request_id=client.request_id,
            since=exchange.started_at - 120,
            wait=wait,
        )
    except ResponseError as exc:
        return ServerSide(
            client, skipped=f"the System Log could not be read: {exc}", log_exchange=exc.exchange
        )
    except KitError as exc:
        return ServerSide(client, skipped=f"the System Log could not be read: {exc}")
    return ServerSide(client, events=events, log_exchange=log_exchange)


def _log_session(kit: Any) -> KitHTTP:
    """The kit's session for System Log reads (not in the notebook's request log), made once."""
    http = getattr(kit, "_system_log_http", None)
    if http is None:
        ca_bundle = getattr(getattr(kit, "settings", None), "ca_bundle", None)
        http = KitHTTP(
            phase=f"{getattr(kit, 'phase', 'kit')}.system_log", log_dir=None, redact=True, ca_bundle=ca_bundle
        )
        kit._system_log_http = http  # noqa: SLF001 - a cache on the notebook's Kit
    return http
