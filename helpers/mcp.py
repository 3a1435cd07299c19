"""Step 7 (notebook 07): the agent calls an MCP server: Enterprise-Managed Authorization from its URL alone.

- MCP Enterprise-Managed Authorization (modelcontextprotocol/ext-auth, specification/stable/
  enterprise-managed-authorization.mdx; "EMA"): §4 token exchange (`audience` MUST be the resource
  authorization server's issuer; `resource` OPTIONAL, if set MUST be the MCP server's RFC 9728 resource
  identifier), §4.3 the ID-JAG's `resource`, §5 the access token request, §5.1 the access token "MUST be
  audience-restricted to the MCP Server", §6 discovery (`authorization_grant_profiles_supported`),
  §7.2.1 scopes, §7.4.2 replay detection REQUIRED, §7.6 the (`aud`, `resource`) pair
- draft-ietf-oauth-identity-assertion-authz-grant-04 ("ID-JAG -04"): §3.1 claims, §4.3 token exchange,
  §4.4.1 the resource authorization server's processing, §7.1 / §7.2 metadata
- RFC 9728 §3.1 (metadata URL), §3.3 (`resource` identical to the identifier), §5.1 (`resource_metadata`)
- RFC 8414 §3.3 (`issuer` identical), RFC 8707 §2 (`resource`), RFC 6750 §2.1, §3.1

The OAuth requests go through the kit's `KitHTTP` (cURL, redaction, the request log). The MCP traffic
goes through the official MCP Python SDK (`mcp`): its `Client` over `streamable_http_client`, on an
`httpx2.AsyncClient` whose event hooks record each request and response in the same log, so every
JSON-RPC message is shown as the SDK sent and received it; nothing here writes JSON-RPC by hand. The
SDK is async; `McpSession` runs it in an event loop of its own thread (an anyio blocking portal), so a
notebook calls it cell by cell like the rest of the kit.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2
from anyio.from_thread import start_blocking_portal
from dotenv.main import DotEnv

from .api import Challenge, parse_www_authenticate
from .constants import (
    GRANT_JWT_BEARER,
    GRANT_PROFILE_ID_JAG,
    GRANT_TOKEN_EXCHANGE,
    ID_JAG_MAX_LIFETIME,
    TOKEN_TYPE_ID_JAG,
)
from .core.checks import Checklist
from .core.config import Settings
from .core.errors import ConfigError, KitError, OAuthError, ResponseError
from .core.formatting import HIDDEN, KeyValues, html_pre, stable_json
from .core.jwts import decode_unverified
from .core.oauth import TokenResponse, post_token_request
from .core.transport import Exchange, KitHTTP, check_transport, redact_url
from .jwt_bearer import check_access_token, jwt_bearer_form
from .sandbox_client.headless_signin import sign_in_headless
from .sandbox_client.ids import MCP_SDK_CLIENT
from .signin import code_exchange_form, new_authorization_request
from .token_exchange import check_id_jag, token_exchange_form

EMA = "EMA"
IDJAG = "ID-JAG -04"
#: The MCP protocol revision the kit's session speaks: the one with the `initialize` handshake.
HANDSHAKE_MODE = "legacy"
#: Variables this module reads (environment first, then the env file).
SERVER_URL_VAR = "MCP_SERVER_URL"
SDK_CLIENT_ID_VAR = "MCP_SDK_CLIENT_ID"
SDK_CLIENT_SECRET_VAR = "MCP_SDK_CLIENT_SECRET"


def sdk_version() -> str:
    """Return the installed MCP Python SDK's version (requirements.txt pins it)."""
    return importlib.metadata.version("mcp")


# --- settings ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class McpSettings:
    """The MCP server's URL, and the client the SDK's own ID-JAG provider authenticates as."""

    server_url: str
    sdk_client_id: str
    sdk_client_secret: str = field(repr=False)

    def describe(self) -> KeyValues:
        """Show the settings as a table, the secret hidden."""
        return KeyValues(
            "MCP settings",
            [
                (SERVER_URL_VAR, self.server_url),
                (SDK_CLIENT_ID_VAR, self.sdk_client_id or "(empty)"),
                (SDK_CLIENT_SECRET_VAR, HIDDEN if self.sdk_client_secret else "(empty)"),
            ],
        )


def _env_value(settings: Settings, name: str) -> str:
    """Read a variable as the kit reads its own: the environment first, then the env file."""
    if name in os.environ:
        return os.environ[name].strip()
    path = settings.env_file
    if path is None or not path.is_file():
        return ""
    values = DotEnv(path, interpolate=True, override=False).dict()
    return (values.get(name) or "").strip()


def load_mcp_settings(settings: Settings) -> McpSettings:
    """Load MCP_SERVER_URL and the SDK's client (MCP_SDK_CLIENT_ID / _SECRET): environment, then env file.

    Against the sandbox, the defaults are the URL its index document names and its secret client.

    Raises:
        ConfigError: no MCP server URL, or one that is not an absolute http(s) URL without a fragment.
    """
    url = _env_value(settings, SERVER_URL_VAR) or (sandbox_mcp_url(settings) if settings.is_sandbox else "")
    if not url and settings.is_sandbox:
        raise ConfigError(
            f"{SERVER_URL_VAR} is empty and the sandbox at {settings.org_url} names no MCP server (it was "
            "started before it had one, or with --mcp-port -1): restart it (python -m sandbox stop, then "
            "make lab), or set MCP_SERVER_URL",
            problems=[f"{SERVER_URL_VAR} is empty"],
        )
    if not url:
        raise ConfigError(
            f"{SERVER_URL_VAR} is empty, expected your MCP server's URL (its RFC 9728 resource identifier, "
            "e.g. https://mcp.example.com/mcp)",
            problems=[f"{SERVER_URL_VAR} is empty"],
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise ConfigError(
            f'{SERVER_URL_VAR} is "{url}", expected an absolute http(s) URL without a fragment (RFC 8707 §2)',
            problems=[f"{SERVER_URL_VAR} is malformed"],
        )
    client_id = _env_value(settings, SDK_CLIENT_ID_VAR)
    secret = _env_value(settings, SDK_CLIENT_SECRET_VAR)
    if settings.is_sandbox:
        client_id = client_id or MCP_SDK_CLIENT[0]
        secret = secret or MCP_SDK_CLIENT[1]
    return McpSettings(server_url=url, sdk_client_id=client_id, sdk_client_secret=secret)


def sandbox_mcp_url(settings: Settings) -> str:
    """Return the MCP server URL the local sandbox's index document names (`GET {org}/`), or ""."""
    import requests

    try:
        # The sandbox's own index, not part of the flow: read outside the notebook's request log.
        index = requests.get(settings.org_url + "/", timeout=5, headers={"Accept": "application/json"}).json()
    except (requests.RequestException, ValueError):
        return ""
    value = index.get("mcp_server") if isinstance(index, dict) else None
    return value if isinstance(value, str) else ""


# --- the SDK's HTTP traffic, recorded in the kit's log -------------------------------------------------
def _header_name(raw: bytes) -> str:
    return "-".join(part.capitalize() for part in raw.decode("latin-1").split("-"))


def _parse_request_body(content: bytes, content_type: str) -> tuple[dict[str, str] | None, Any]:
    if not content:
        return None, None
    text = content.decode("utf-8", "replace")
    if "application/x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(text, keep_blank_values=True)), None
    try:
        return None, json.loads(text)
    except ValueError:
        return None, text


def exchange_from_httpx(response: httpx2.Response, *, phase: str, label: str, redact: bool) -> Exchange:
    """Build the kit's Exchange (cURL, redaction, log) from an httpx2 response whose body was read."""
    request = response.request
    headers = {_header_name(k): v.decode("latin-1") for k, v in request.headers.raw}
    try:
        content = request.content
    except httpx2.RequestNotRead:  # pragma: no cover - the SDK's requests carry their whole body
        content = b""
    form, other = _parse_request_body(content, headers.get("Content-Type", ""))
    streamed = "text/event-stream" in response.headers.get("content-type", "")
    try:
        elapsed = response.elapsed.total_seconds()
    except RuntimeError:
        elapsed = 0.0
    exchange = Exchange(
        phase=phase,
        label=label,
        method=request.method,
        url=str(request.url),
        request_headers=headers,
        form=form,
        request_json=other,
        status=response.status_code,
        reason=response.reason_phrase or "",
        response_headers={_header_name(k): v.decode("latin-1") for k, v in response.headers.raw},
        response_text="(an event stream, read by the SDK)" if streamed else response.text,
        elapsed=elapsed,
        started_at=time.time() - elapsed,
        redact=redact,
    )
    if not streamed and "json" in response.headers.get("content-type", ""):
        try:
            exchange._json = response.json()  # noqa: SLF001 - the parsed body the Exchange shows
        except ValueError:
            exchange._json = None  # noqa: SLF001
    return exchange


class Recorder:
    """httpx2 event hooks that check the transport and add each exchange to a KitHTTP log."""

    def __init__(self, http: KitHTTP, label: str = "MCP") -> None:
        self.http = http
        self.label = label
        self.exchanges: list[Exchange] = []

    async def on_request(self, request: httpx2.Request) -> None:
        """Refuse credentials over plain http to a non-loopback host (RFC 6750 §5.3), as KitHTTP does."""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw}
        form, _ = _parse_request_body(request.content, headers.get("Content-Type", ""))
        check_transport(str(request.url), headers, form)

    async def on_response(self, response: httpx2.Response) -> None:
        """Read the body (unless it is an event stream the SDK reads itself) and record the exchange."""
        if "text/event-stream" not in response.headers.get("content-type", ""):
            await response.aread()
        exchange = exchange_from_httpx(
            response, phase=self.http.phase, label=self.label, redact=self.http.redact
        )
        response.extensions["kit_exchange"] = exchange
        self.exchanges.append(exchange)
        self.http.record_exchange(exchange)

    def hooks(self) -> dict[str, list[Callable[..., Awaitable[None]]]]:
        """Return the `event_hooks` argument of an httpx2.AsyncClient."""
        return {"request": [self.on_request], "response": [self.on_response]}

    @contextmanager
    def labelled(self, label: str) -> Iterator[list[Exchange]]:
        """Label the exchanges of a block; yield the list they are collected in."""
        previous, self.label = self.label, label
        start = len(self.exchanges)
        collected: list[Exchange] = []
        try:
            yield collected
        finally:
            collected.extend(self.exchanges[start:])
            self.label = previous


# --- one MCP call as the kit shows it -------------------------------------------------------------------
def _first_error(exc: BaseException) -> BaseException:
    """Return the innermost first exception of (nested) exception groups: what the SDK raised."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return value


@dataclass
class McpCall:
    """One step of an MCP session: the HTTP exchanges it took, their JSON-RPC messages, the result."""

    what: str
    exchanges: list[Exchange]
    result: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when the SDK returned a result (no exception)."""
        return self.error is None

    @property
    def last(self) -> Exchange | None:
        """The last HTTP exchange of the step (the refusal, when it failed)."""
        return self.exchanges[-1] if self.exchanges else None

    @property
    def status(self) -> int | None:
        """The last exchange's HTTP status."""
        return self.last.status if self.last else None

    @property
    def challenge(self) -> Challenge | None:
        """The Bearer challenge of the last response's `WWW-Authenticate`, if any (RFC 6750 §3)."""
        if self.last is None:
            return None
        header = next(
            (v for k, v in self.last.response_headers.items() if k.lower() == "www-authenticate"), ""
        )
        challenges = parse_www_authenticate(header) if header else []
        return next((c for c in challenges if c.scheme.lower() == "bearer"), None)

    @property
    def structured(self) -> Any:
        """The tool result's `structuredContent`, if the result carries one."""
        return getattr(self.result, "structured_content", None)

    def messages(self) -> list[tuple[str, Any]]:
        """Return the JSON-RPC messages in order: ("→", request) and ("←", response or HTTP status)."""
        out: list[tuple[str, Any]] = []
        for exchange in self.exchanges:
            if exchange.request_json is not None:
                out.append(("→", exchange.request_json))
            elif exchange.form is not None:
                out.append(("→", f"(a form to {redact_url(exchange.url)}: not JSON-RPC)"))
            body = exchange.json
            if isinstance(body, dict) and body.get("jsonrpc") == "2.0":
                out.append(("←", body))
            else:
                out.append(("←", f"HTTP {exchange.status} {exchange.reason} (no JSON-RPC message)"))
        return out

    def curl(self) -> Any:
        """Render the last request as cURL (redacted, and replayable with `$ACCESS_TOKEN`)."""
        if self.last is None:
            raise LookupError("no request was sent")
        return self.last.curl()

    def summary(self) -> str:
        """Say the outcome in one line: what the SDK returned, or what it raised."""
        if self.error is not None:
            error = _first_error(self.error)
            status = f" (HTTP {self.status})" if self.status is not None and self.status >= 400 else ""
            return f"the SDK raised {type(error).__name__}: {_sdk_message(error)}{status}"
        body = next((e.json for e in self.exchanges if _is_response(e.json)), None)
        result = body.get("result") if isinstance(body, dict) else None
        if self.what == "initialize" and isinstance(result, dict):
            info = result.get("serverInfo") or {}
            return (
                f"protocol {result.get('protocolVersion')}, server {info.get('name')} {info.get('version')}, "
                f"capabilities: {', '.join(sorted(result.get('capabilities') or {}))}"
            )
        if self.what == "tools/list" and isinstance(result, dict):
            tools = result.get("tools") or []
            named = []
            for tool in tools:
                arguments = sorted((tool.get("inputSchema") or {}).get("properties") or {})
                named.append(f"{tool.get('name')}({', '.join(arguments)})")
            return f"{len(tools)} tool(s): {', '.join(named)}"
        if self.structured is not None:
            return f"structuredContent {stable_json(self.structured, indent=None)}"
        return stable_json(_plain(self.result), indent=None)

    def text(self) -> str:
        """Render each HTTP exchange with its JSON-RPC request and response, then the outcome."""
        lines = [f"MCP {self.what}: {len(self.exchanges)} HTTP exchange(s)"]
        for exchange in self.exchanges:
            lines.append(_exchange_text(exchange))
        lines.append(f"Result: {self.summary()}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return html_pre(self.text())


def _is_response(body: Any) -> bool:
    return isinstance(body, dict) and body.get("jsonrpc") == "2.0" and "id" in body


def _indented(value: Any, prefix: str = "    ") -> list[str]:
    return [prefix + line for line in stable_json(value).splitlines()]


def _exchange_text(exchange: Exchange) -> str:
    """Render an MCP exchange: request line, the headers that matter, the JSON-RPC messages both ways."""
    record = exchange.record(redact=exchange.redact, body_limit=800)
    lines = [f"{exchange.method} {redact_url(exchange.url)} -> {exchange.status} {exchange.reason}"]
    for name in ("Authorization", "Mcp-Protocol-Version"):
        value = next((v for k, v in record["request_headers"].items() if k.lower() == name.lower()), None)
        if value is not None:
            lines.append(f"  {name}: {value}")
    if record["form"]:
        lines.append("  form: " + " ".join(f"{k}={v}" for k, v in record["form"].items()))
    elif exchange.request_json is not None:
        lines.append("  → JSON-RPC " + ("request" if "id" in exchange.request_json else "notification"))
        lines += _indented(exchange.request_json)
    challenge = next(
        (v for k, v in exchange.response_headers.items() if k.lower() == "www-authenticate"), None
    )
    if challenge:
        lines.append(f"  WWW-Authenticate: {challenge}")
    body = exchange.json
    if _is_response(body):
        lines.append("  ← JSON-RPC response")
        lines += _indented(body)
    elif isinstance(body, dict):
        lines.append("  ← not JSON-RPC:")
        lines += _indented(record["response_body"])
    elif exchange.response_text:
        lines.append(f"  ← {exchange.response_text[:200]}")
    return "\n".join(lines)


class JsonRpcLog:
    """The JSON-RPC messages of a session, in order (a display of `McpSession.messages()`)."""

    def __init__(self, messages: list[tuple[str, Any]]) -> None:
        self.entries = messages

    def text(self) -> str:
        """Render one line per message: the direction, then the JSON."""
        lines = [f"JSON-RPC messages: {len(self.entries)}"]
        for arrow, message in self.entries:
            body = stable_json(message, indent=None) if isinstance(message, (dict, list)) else str(message)
            lines.append(f"{arrow} {body}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return html_pre(self.text())


class McpSession:
    """A session with an MCP server through the official SDK's `Client`, run in a thread of its own.

    Example:
        session = McpSession(server_url, http=kit.http, token=access_token)
        session.initialize()               # initialize + notifications/initialized
        session.list_tools()
        session.call_tool("add_todo", {"title": "Water the plants"})
        session.close()
    """

    def __init__(
        self,
        url: str,
        *,
        http: KitHTTP,
        token: str | None = None,
        auth: httpx2.Auth | None = None,
        mode: str = HANDSHAKE_MODE,
        label: str = "MCP",
    ) -> None:
        self.url = url
        self.recorder = Recorder(http, label)
        self.token = token
        self.auth = auth
        self.mode = mode
        self.label = label
        self._portal_cm: Any = start_blocking_portal(backend="asyncio")
        self._portal = self._portal_cm.__enter__()
        self._client_cm: Any = None
        self._client: Any = None
        self.calls: list[McpCall] = []
        #: What the SDK raised while the session closed (its transport re-raises a failed request's error).
        self.close_error: BaseException | None = None

    def __repr__(self) -> str:
        state = "open" if self._client is not None else "not connected"
        return f"McpSession({self.url!r}, {state}, {len(self.recorder.exchanges)} exchange(s))"

    def _http_client(self) -> httpx2.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx2.AsyncClient(
            headers=headers, auth=self.auth, timeout=30.0, event_hooks=self.recorder.hooks()
        )

    def initialize(self) -> McpCall:
        """Connect: send `initialize` and `notifications/initialized` (never raises; see `.error`)."""
        from mcp.client import Client
        from mcp.client.streamable_http import streamable_http_client
        from mcp.types import Implementation

        http = self._portal.call(self._make_client)
        client = Client(
            streamable_http_client(self.url, http_client=http),
            mode=self.mode,
            client_info=Implementation(name="agentic-token-exchange-kit", version="0.1"),
        )
        with self.recorder.labelled(f"{self.label}: initialize") as exchanges:
            try:
                self._client_cm = self._portal.wrap_async_context_manager(client)
                self._client = self._client_cm.__enter__()
                call = McpCall("initialize", exchanges)
            except Exception as exc:  # noqa: BLE001 - the refusal is the lesson: kept and shown
                self._client_cm = self._client = None
                call = McpCall("initialize", exchanges, error=exc)
        if call.ok:
            call.result = self._client.server_capabilities
            self._await_initialized(call)
        self.calls.append(call)
        return call

    def _await_initialized(self, call: McpCall, timeout: float = 5.0) -> None:
        """Wait for the SDK's `notifications/initialized` (sent in the background), and add it to the call."""
        if self.mode != HANDSHAKE_MODE:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for exchange in self.recorder.exchanges:
                body = exchange.request_json
                if isinstance(body, dict) and body.get("method") == "notifications/initialized":
                    if exchange not in call.exchanges:
                        exchange.label = f"{self.label}: initialize"
                        call.exchanges.append(exchange)
                    return
            time.sleep(0.01)

    async def _make_client(self) -> httpx2.AsyncClient:
        return self._http_client()

    def _call(self, what: str, method: Callable[..., Awaitable[Any]], *args: Any) -> McpCall:
        if self._client is None:
            raise KitError(
                f"MCP {what}: the session is not connected (initialize() first, and it must succeed)"
            )
        with self.recorder.labelled(f"{self.label}: {what}") as exchanges:
            try:
                result = self._portal.call(method, *args)
                call = McpCall(what, exchanges, result=result)
            except Exception as exc:  # noqa: BLE001 - a refusal (403) is shown, not raised
                call = McpCall(what, exchanges, error=exc)
        self.calls.append(call)
        return call

    def list_tools(self) -> McpCall:
        """Send `tools/list`: the tools the server offers, with their input schemas."""
        return self._call("tools/list", self._client.list_tools if self._client else _never)

    def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> McpCall:
        """Send `tools/call` of one tool with its arguments."""
        client = self._client

        async def call() -> Any:
            return await client.call_tool(name, arguments or {})

        return self._call(f"tools/call {name}", call)

    def messages(self) -> JsonRpcLog:
        """Return every JSON-RPC message of the session so far."""
        return JsonRpcLog([m for call in self.calls for m in call.messages()])

    def close(self) -> None:
        """Leave the session and stop its thread (idempotent); an error on the way out is kept."""
        try:
            if self._client_cm is not None:
                self._client_cm.__exit__(None, None, None)
        except Exception as exc:  # noqa: BLE001 - the SDK re-raises a failed request's error here
            self.close_error = exc
        finally:
            self._client_cm = self._client = None
            if self._portal_cm is not None:
                self._portal_cm.__exit__(None, None, None)
                self._portal_cm = None

    def __enter__(self) -> McpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _never() -> None:  # pragma: no cover - guarded by McpSession._call
    raise KitError("not connected")


def try_mcp(kit: Any, url: str, token: str | None, *, label: str) -> McpCall:
    """Initialize a session and close it again; return the attempt (a refusal is kept, not raised)."""
    with McpSession(url, http=kit.http, token=token, label=label) as session:
        return session.initialize()


# --- discovery: protected resource metadata, then the authorization server's -------------------------
class ResourceMetadata(dict):
    """An RFC 9728 protected resource metadata document (a dict), with the URL and exchange it came from."""

    def __init__(self, document: dict[str, Any], *, url: str, exchange: Exchange) -> None:
        super().__init__(document)
        self.url = url
        self.exchange = exchange

    def __repr__(self) -> str:
        return f"Protected resource metadata ({self.url})\n{stable_json(dict(self))}"

    def _repr_html_(self) -> str:
        return f"<p><b>Protected resource metadata</b> <code>{escape(self.url)}</code></p>" + html_pre(
            stable_json(dict(self))
        )


def resource_metadata_url(resource: str) -> str:
    """Return the metadata URL of a resource (RFC 9728 §3.1: the well-known segment after the host)."""
    parts = urlsplit(resource)
    path = parts.path.rstrip("/") if parts.path != "/" else ""
    return f"{parts.scheme}://{parts.netloc}/.well-known/oauth-protected-resource{path}"


def fetch_resource_metadata(kit: Any, refusal: McpCall | str) -> ResourceMetadata:
    """Follow the 401's `resource_metadata` (RFC 9728 §5.1) and read the document (RFC 9728 §3.2).

    Raises:
        ResponseError: no `resource_metadata` in the challenge, or not a JSON object with HTTP 200.
    """
    if isinstance(refusal, McpCall):
        challenge = refusal.challenge
        url = challenge.params.get("resource_metadata") if challenge is not None else None
        if not url:
            raise ResponseError(
                f"the HTTP {refusal.status} answer has no resource_metadata in WWW-Authenticate, expected "
                "the URL of the MCP server's protected resource metadata (RFC 9728 §5.1)",
                status=refusal.status,
                exchange=refusal.last,
            )
    else:
        url = refusal
    with kit.http.labelled("Protected resource metadata (RFC 9728)"):
        response = kit.http.get(url, headers={"Accept": "application/json"})
    try:
        document = response.json()
    except ValueError:
        document = None
    if response.status_code != 200 or not isinstance(document, dict):
        raise ResponseError(
            f"GET {url} answered HTTP {response.status_code}, expected 200 with a JSON protected resource "
            "metadata document (RFC 9728 §3.2)",
            status=response.status_code,
            exchange=getattr(response, "exchange", None),
        )
    return ResourceMetadata(document, url=url, exchange=response.exchange)


def check_resource_metadata(prm: dict[str, Any], server_url: str) -> Checklist:
    """Check the MCP server's metadata: `resource` is its URL exactly, an authorization server named."""
    checks = Checklist("Protected resource metadata checks")
    # RFC 9728 §3.3: the resource value MUST be identical to the identifier the metadata URL was built from.
    checks.equal(
        '"resource"', server_url, prm.get("resource"), "RFC 9728 §3.3; Okta: exactly, trailing slash too"
    )
    servers = prm.get("authorization_servers")
    checks.add(
        '"authorization_servers"',
        "one issuer or more",
        servers if servers else "(missing)",
        isinstance(servers, list) and bool(servers) and all(isinstance(s, str) for s in servers),
        "RFC 9728 §2; EMA §1.2: the resource authorization server",
    )
    checks.present('"scopes_supported"', prm.get("scopes_supported"), "RFC 9728 §2", expected="the scopes")
    methods = prm.get("bearer_methods_supported")
    checks.add(
        '"bearer_methods_supported"',
        "header (or absent)",
        methods if methods is not None else "(absent)",
        methods is None or "header" in methods,
        "RFC 9728 §2; RFC 6750 §2.1",
    )
    return checks


def check_grant_profile(metadata: dict[str, Any], issuer: str) -> Checklist:
    """Check the resource authorization server's metadata: the id-jag grant profile and jwt-bearer."""
    checks = Checklist("Resource authorization server: ID-JAG support")
    checks.equal('"issuer"', issuer, metadata.get("issuer"), "RFC 8414 §3.3: the PRM's authorization server")
    profiles = metadata.get("authorization_grant_profiles_supported") or []
    checks.add(
        '"authorization_grant_profiles_supported"',
        f"contains {GRANT_PROFILE_ID_JAG}",
        profiles or "(absent)",
        GRANT_PROFILE_ID_JAG in profiles,
        f"{EMA} §6; {IDJAG} §7.2",
    )
    grants = metadata.get("grant_types_supported") or []
    checks.add(
        '"grant_types_supported"',
        f"contains {GRANT_JWT_BEARER}",
        grants or "(absent)",
        GRANT_JWT_BEARER in grants,
        f"{IDJAG} §7.2 (with the profile); RFC 7523 §2.1",
    )
    checks.present('"token_endpoint"', metadata.get("token_endpoint"), f"RFC 8414 §2; {EMA} §5")
    return checks


def check_idp_metadata(metadata: dict[str, Any]) -> Checklist:
    """Check the IdP (org server) metadata: token exchange, and the id-jag token type it can issue."""
    checks = Checklist("IdP authorization server: identity chaining")
    grants = metadata.get("grant_types_supported") or []
    checks.add(
        '"grant_types_supported"',
        f"contains {GRANT_TOKEN_EXCHANGE}",
        grants or "(absent)",
        GRANT_TOKEN_EXCHANGE in grants,
        f"{IDJAG} §4.3; RFC 8693 §2.1",
    )
    types = metadata.get("identity_chaining_requested_token_types_supported") or []
    checks.add(
        '"identity_chaining_requested_token_types_supported"',
        f"contains {TOKEN_TYPE_ID_JAG}",
        types or "(absent)",
        TOKEN_TYPE_ID_JAG in types,
        f"{IDJAG} §7.1 (SHOULD)",
    )
    return checks


# --- the token exchange and the JWT bearer grant, for the MCP server ------------------------------------
def exchange_for_mcp(
    kit: Any,
    *,
    audience: str,
    resource: str | None,
    scopes: list[str] | tuple[str, ...] | str,
    id_token: str | None = None,
    label: str = "Token exchange (RFC 8693) for the MCP server",
) -> TokenResponse:
    """Exchange the user's ID token for an ID-JAG: `audience` the RAS issuer, `resource` the MCP server.

    Raises:
        OAuthError: the IdP refused (its `error` and `error_description`).
    """
    form = token_exchange_form(
        subject_token=id_token or kit.require("id_token").value,
        # EMA §4: audience MUST be the issuer identifier of the resource authorization server.
        audience=audience,
        scopes=scopes,
        subject_token_type=kit.settings.subject_token_type,
        # EMA §4: resource, if set, MUST be the MCP server's RFC 9728 resource identifier.
        resource=resource,
    )
    return kit.token_request(kit.settings.org_token_url, form, label=label)


def check_ema_id_jag(
    id_jag: str, *, jwks: dict[str, Any], issuer: str, audience: str, resource: str, client_id: str,
    subject: str, requested_scopes: list[str] | tuple[str, ...] | str,
) -> Checklist:  # fmt: skip
    """Check an ID-JAG for an MCP server: ID-JAG -04 §3.1, then EMA §4, §4.3 and §7.4.2."""
    checks = check_id_jag(
        id_jag,
        jwks=jwks,
        issuer=issuer,
        audience=audience,
        client_id=client_id,
        subject=subject,
        requested_scopes=requested_scopes,
        resource=resource,
    )
    checks.title = "ID-JAG checks (ID-JAG -04 §3.1, EMA §4)"
    claims = decode_unverified(id_jag)[1]
    checks.equal(
        '"aud" (EMA)', audience, claims.get("aud"), f"{EMA} §4: the RAS issuer; §7.6 pair with resource"
    )
    checks.equal(
        '"resource" (EMA)', resource, claims.get("resource"), f"{EMA} §4.3: the MCP server's identifier"
    )
    exp, iat = claims.get("exp"), claims.get("iat")
    lifetime = exp - iat if isinstance(exp, int) and isinstance(iat, int) else None
    checks.add(
        "short-lived",
        f"at most {ID_JAG_MAX_LIFETIME} s (Okta)",
        f"{lifetime} s" if lifetime is not None else "(unknown)",
        lifetime is not None and 0 < lifetime <= ID_JAG_MAX_LIFETIME,
        f"{EMA} §7.4.2: ID-JAGs MUST be short-lived",
    )
    checks.present(
        '"jti" (EMA)', claims.get("jti"), f"{EMA} §7.4.2: the RAS detects its replay", expected="present"
    )
    return checks


def pair_probe(kit: Any, *, other_audience: str, resource: str, scopes: str) -> TokenResponse | OAuthError:
    """Ask the IdP for an ID-JAG pairing another server's issuer with the MCP server (EMA §7.6.1)."""
    try:
        return exchange_for_mcp(
            kit,
            audience=other_audience,
            resource=resource,
            scopes=scopes,
            label="Probe: the MCP server paired with another authorization server",
        )
    except OAuthError as exc:
        return exc


def check_pair_refused(answer: TokenResponse | OAuthError) -> Checklist:
    """Check that the IdP refused an (audience, resource) pair it does not keep (EMA §7.6.1)."""
    checks = Checklist("The IdP keeps (audience, resource) pairs")
    refused = isinstance(answer, OAuthError)
    got = f"HTTP {answer.status} {answer.error}" if refused else f"HTTP {answer.status} an ID-JAG"
    checks.add(
        "another issuer with the MCP server",
        "refused (400 invalid_target)",
        got,
        refused and answer.status == 400 and answer.error == "invalid_target",
        f"{EMA} §7.6.1: the IdP MUST reject an audience that is not the resource's authorization server",
    )
    return checks


def redeem_for_mcp(
    kit: Any,
    id_jag: str,
    *,
    token_endpoint: str,
    resource: str | None,
    label: str = "JWT bearer grant (RFC 7523) for the MCP server",
) -> TokenResponse:
    """Redeem the ID-JAG at the RAS with `resource` (Okta; EMA §5) and no `scope` (Okta refuses one)."""
    return kit.token_request(token_endpoint, jwt_bearer_form(id_jag, resource=resource), label=label)


def check_mcp_access_token(
    access_token: str, *, jwks: dict[str, Any], issuer: str, resource: str, client_id: str,
    id_jag_claims: dict[str, Any],
) -> Checklist:  # fmt: skip
    """Check an access token for the MCP server: RFC 9068 §4, `aud` (EMA §5.1), scopes (EMA §7.2.1)."""
    checks = check_access_token(
        access_token,
        jwks=jwks,
        issuer=issuer,
        client_id=client_id,
        id_jag_claims=id_jag_claims,
        audience=resource,
    )
    checks.title = "Access token checks (RFC 9068 §4, EMA §5.1)"
    claims = decode_unverified(access_token)[1]
    aud = claims.get("aud")
    checks.add(
        '"aud" (EMA)',
        f"{resource} only",
        aud,
        aud == resource or aud == [resource],
        f"{EMA} §5.1: MUST be audience-restricted to the MCP server",
    )
    scp = claims.get("scp", claims.get("scope"))
    granted = set(scp.split()) if isinstance(scp, str) else set(scp or [])
    in_id_jag = set(str(id_jag_claims.get("scope", "")).split())
    checks.add(
        "scopes (EMA)",
        f"within the ID-JAG's ({' '.join(sorted(in_id_jag))})",
        " ".join(sorted(granted)) or "(none)",
        bool(granted) and granted <= in_id_jag,
        f"{EMA} §7.2.1: the intersection with the ID-JAG's scopes (Okta: no scope parameter)",
    )
    return checks


def replay_probe(kit: Any, id_jag: str, *, token_endpoint: str, resource: str | None) -> Checklist:
    """Send the redeemed ID-JAG again: the RAS MUST refuse it (EMA §7.4.2: replay detection REQUIRED)."""
    checks = Checklist("Replay detection at the resource authorization server")
    try:
        answer = redeem_for_mcp(
            kit,
            id_jag,
            token_endpoint=token_endpoint,
            resource=resource,
            label="Probe: the same ID-JAG again",
        )
        got, refused = f"HTTP {answer.status} an access token", False
    except OAuthError as exc:
        got, refused = f"HTTP {exc.status} {exc.error}: {exc.error_description}", exc.error == "invalid_grant"
    checks.add(
        "the same ID-JAG a second time",
        "refused (invalid_grant)",
        got,
        refused,
        f"{EMA} §7.4.2: replay detection REQUIRED for the assertion's lifetime",
    )
    return checks


# --- the MCP SDK's own ID-JAG client (IdentityAssertionOAuthProvider) ---------------------------------
class MemoryTokenStorage:
    """The SDK's `TokenStorage`, in memory (tokens and client information of one provider)."""

    def __init__(self) -> None:
        self.tokens: Any = None
        self.client_info: Any = None

    async def get_tokens(self) -> Any:
        return self.tokens

    async def set_tokens(self, tokens: Any) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> Any:
        return self.client_info

    async def set_client_info(self, client_info: Any) -> None:
        self.client_info = client_info


def sign_in_sdk_client(kit: Any, mcp_settings: McpSettings) -> str:
    """Sign the demo user in to the SDK's client (headless, sandbox only); return its ID token.

    Raises:
        KitError: not a sandbox (a browser sign-in would be needed), or the sign-in was refused.
    """
    settings = kit.settings.replace(agent_client_id=mcp_settings.sdk_client_id)
    request = new_authorization_request(settings)
    callback = sign_in_headless(kit.http, request, settings)
    form = code_exchange_form(request, callback)
    form.update(client_id=mcp_settings.sdk_client_id, client_secret=mcp_settings.sdk_client_secret)
    tokens = post_token_request(
        kit.http, settings.org_token_url, form, signer=None, label="Sign-in of the SDK's client"
    )
    return tokens["id_token"]


def sdk_assertion_provider(
    kit: Any, mcp_settings: McpSettings, id_token: str, *, scopes: str
) -> Callable[[str, str], Awaitable[str]]:
    """Make the provider's `assertion_provider(audience, resource)`: a token exchange (EMA §4)."""
    from anyio import to_thread

    def exchange(audience: str, resource: str) -> str:
        form = token_exchange_form(
            subject_token=id_token, audience=audience, scopes=scopes, resource=resource
        )
        form.update(client_id=mcp_settings.sdk_client_id, client_secret=mcp_settings.sdk_client_secret)
        response = post_token_request(
            kit.http,
            kit.settings.org_token_url,
            form,
            signer=None,
            label="assertion_provider: token exchange (RFC 8693)",
        )
        return response["access_token"]

    async def provider(audience: str, resource: str) -> str:
        return await to_thread.run_sync(exchange, audience, resource)

    return provider


def sdk_provider(
    kit: Any,
    mcp_settings: McpSettings,
    *,
    server_url: str,
    issuer: str,
    id_token: str,
    id_jag_scopes: str = "todo.read todo.write",
    scope: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> Any:
    """Build the SDK's `IdentityAssertionOAuthProvider` for the MCP server, fed by a real token exchange."""
    from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider

    return IdentityAssertionOAuthProvider(
        server_url=server_url,
        storage=MemoryTokenStorage(),
        client_id=client_id or mcp_settings.sdk_client_id,
        client_secret=mcp_settings.sdk_client_secret if client_secret is None else client_secret,
        issuer=issuer,
        assertion_provider=sdk_assertion_provider(kit, mcp_settings, id_token, scopes=id_jag_scopes),
        scope=scope,
    )


@dataclass
class SdkRun:
    """What the SDK's provider did in one session: the calls, their exchanges, and the outcome."""

    title: str
    calls: list[McpCall]
    skipped: str | None = None
    #: What the SDK's transport raised as the session closed (a failed request inside its auth flow).
    close_error: BaseException | None = None
    #: The kit's token exchanges the provider's `assertion_provider` made (the IdP leg, not the SDK's).
    idp_exchanges: list[Exchange] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every call returned a result (False when skipped)."""
        return not self.skipped and bool(self.calls) and all(call.ok for call in self.calls)

    @property
    def error(self) -> BaseException | None:
        """What went wrong, innermost: the transport's error when a call only saw the connection close."""
        for call in self.calls:
            if call.error is not None:
                if self.close_error is not None:
                    return _first_error(self.close_error)
                return _first_error(call.error)
        return None

    @property
    def exchanges(self) -> list[Exchange]:
        """Every HTTP exchange the SDK made, in order (its own token requests among them)."""
        return [e for call in self.calls for e in call.exchanges]

    def token_requests(self) -> list[Exchange]:
        """Return the SDK's requests to a token endpoint (forms), in order."""
        return [e for e in self.exchanges if e.form is not None and "grant_type" in e.form]

    def timeline(self) -> list[tuple[str, Exchange]]:
        """Return every exchange in the order it was made: ("SDK", …) or ("assertion_provider", …)."""
        tagged = [("SDK", e) for e in self.exchanges] + [
            ("assertion_provider", e) for e in self.idp_exchanges
        ]
        return sorted(tagged, key=lambda pair: pair[1].started_at)

    def text(self) -> str:
        """Render one line per exchange, the SDK's token requests in full, then the outcome."""
        lines = [self.title]
        if self.skipped:
            return "\n".join([*lines, f"Skipped: {self.skipped}"])
        for who, exchange in self.timeline():
            body = exchange.request_json
            what = body.get("method") if isinstance(body, dict) else None
            if what is None and exchange.form is not None:
                grant = exchange.form.get("grant_type", "a form")
                what = grant + (
                    f", audience={exchange.form.get('audience')}, resource={exchange.form.get('resource')}"
                    if who != "SDK"
                    else ""
                )
            lines.append(
                f"  {who:<18} {exchange.method} {redact_url(exchange.url)} ({what or 'no body'}) "
                f"-> {exchange.status}"
            )
        for exchange in self.token_requests():
            lines.append("The SDK's token request:")
            lines += ["  " + line for line in exchange.text().splitlines()]
        error = self.error
        if error is not None:
            lines.append(f"Outcome: the SDK raised {type(error).__name__}: {_sdk_message(error)}")
        else:
            last = self.calls[-1] if self.calls else None
            shown = stable_json(
                last.structured
                if last is not None and last.structured is not None
                else _plain(last.result if last else None)
            )
            lines.append("Outcome: " + shown.replace("\n", "\n  "))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return html_pre(self.text())


def _sdk_message(error: BaseException) -> str:
    # The SDK's token errors carry the server's JSON body after a status; keep them on one line.
    return re.sub(r"\s+", " ", str(error)).strip()


def run_sdk(
    kit: Any, server_url: str, provider: Any, *, tools: list[tuple[str, dict[str, Any]]], title: str
) -> SdkRun:
    """Open a session whose HTTP client authenticates with the SDK's provider; call `tools` in order."""
    calls: list[McpCall] = []
    with McpSession(server_url, http=kit.http, auth=provider, label="SDK provider") as session:
        first = session.initialize()
        calls.append(first)
        if first.ok:
            for name, arguments in tools:
                call = session.call_tool(name, arguments)
                calls.append(call)
                if not call.ok:
                    break
    return SdkRun(title, calls, close_error=session.close_error)


def provider_without_secret(server_url: str, issuer: str, client_id: str) -> str:
    """Return what the SDK says when its provider gets no client secret (an Okta AI agent has none)."""
    from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider

    async def unused(audience: str, resource: str) -> str:  # pragma: no cover - never called
        return ""

    try:
        IdentityAssertionOAuthProvider(
            server_url=server_url,
            storage=MemoryTokenStorage(),
            client_id=client_id,
            client_secret="",
            issuer=issuer,
            assertion_provider=unused,
        )
    except ValueError as exc:
        return f"ValueError: {exc}"
    return "accepted (the SDK changed: review the notebook's text)"


class SdkDemo:
    """The MCP SDK's `IdentityAssertionOAuthProvider` against the sandbox, four ways (notebook 07).

    The provider does only the last leg (the JWT bearer grant): its `assertion_provider(audience,
    resource)` gets the ID-JAG from the kit's token exchange. The secret client is the sandbox's
    (`0oaMcpSdkClient00001`); against an Okta org every run says it is skipped and sends nothing.
    """

    def __init__(self, kit: Any, mcp_settings: McpSettings, *, server_url: str, issuer: str) -> None:
        self.kit = kit
        self.settings = mcp_settings
        self.server_url = server_url
        self.issuer = issuer
        self._id_token: str | None = None

    def _skip(self, title: str) -> SdkRun | None:
        if not self.kit.settings.is_sandbox:
            return SdkRun(
                title,
                [],
                skipped="sandbox only: it signs the demo user in to the sandbox's secret client, headless "
                "(an Okta AI agent has no client secret)",
            )
        return None

    def id_token(self) -> str:
        """Return the demo user's ID token issued to the secret client (signed in once)."""
        if self._id_token is None:
            self._id_token = sign_in_sdk_client(self.kit, self.settings)
        return self._id_token

    def _run(self, title: str, provider: Any, tools: list[tuple[str, dict[str, Any]]]) -> SdkRun:
        start = len(self.kit.http.exchanges)
        run = run_sdk(self.kit, self.server_url, provider, tools=tools, title=title)
        run.idp_exchanges = [
            e for e in self.kit.http.exchanges[start:] if e.label.startswith("assertion_provider")
        ]
        return run

    def working(self) -> SdkRun:
        """Run a client with a secret and no `scope` configured: add a to-do, then list them."""
        title = "The SDK's provider, a client with a secret, no scope configured"
        skipped = self._skip(title)
        if skipped:
            return skipped
        provider = sdk_provider(
            self.kit, self.settings, server_url=self.server_url, issuer=self.issuer, id_token=self.id_token()
        )
        return self._run(
            title, provider, [("add_todo", {"title": "Added by the MCP SDK"}), ("list_todos", {})]
        )

    def with_scope(self, scope: str) -> SdkRun:
        """Run the same client with `scope` configured: the provider sends it in the JWT bearer request."""
        title = f'The SDK\'s provider with scope="{scope}"'
        skipped = self._skip(title)
        if skipped:
            return skipped
        provider = sdk_provider(
            self.kit,
            self.settings,
            server_url=self.server_url,
            issuer=self.issuer,
            id_token=self.id_token(),
            scope=scope,
        )
        return self._run(title, provider, [("list_todos", {})])

    def after_insufficient_scope(self) -> SdkRun:
        """Run with an ID-JAG for todo.read only, then `add_todo`: after the 403 the SDK sends `scope`."""
        title = "The SDK's provider after a 403 insufficient_scope"
        skipped = self._skip(title)
        if skipped:
            return skipped
        provider = sdk_provider(
            self.kit,
            self.settings,
            server_url=self.server_url,
            issuer=self.issuer,
            id_token=self.id_token(),
            id_jag_scopes="todo.read",
        )
        return self._run(title, provider, [("add_todo", {"title": "Needs todo.write"})])

    def as_the_agent(self, made_up_secret: str = "no-such-secret") -> SdkRun:  # noqa: S107 - not a secret
        """Run the kit's agent (private_key_jwt only) in the provider, which can only send a secret."""
        from anyio import to_thread
        from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider

        title = "The SDK's provider as the AI agent (a made-up secret: the agent has none)"
        kit = self.kit

        def exchange(audience: str, resource: str) -> str:
            response = exchange_for_mcp(
                kit,
                audience=audience,
                resource=resource,
                scopes="todo.read",
                label="assertion_provider: the agent's token exchange (RFC 8693)",
            )
            return response["access_token"]

        async def provider(audience: str, resource: str) -> str:
            return await to_thread.run_sync(exchange, audience, resource)

        sdk = IdentityAssertionOAuthProvider(
            server_url=self.server_url,
            storage=MemoryTokenStorage(),
            client_id=kit.settings.agent_client_id,
            client_secret=made_up_secret,
            issuer=self.issuer,
            assertion_provider=provider,
        )
        return self._run(title, sdk, [("list_todos", {})])
