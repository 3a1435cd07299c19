"""Serving the sandbox with waitress: bind first (so port 0 works), then build the app for that URL.

The org URL is the issuer of every token, so it must be known before the app exists: the socket is
bound first, its port read back, and the `Sandbox` built for `http://<host>:<port>`, or, with
`tls=True`, `https://<host>:<port>`: waitress's connections then speak TLS (sandbox.tls_serving) with a
certificate from the data folder's local test CA (sandbox.tls).

Malformed HTTP is answered, not dropped (RFC 9112 §2.2, §3, §6, §7.1; docs/performance.md): every
refusal waitress makes before the app runs is OAuth-shaped JSON (`OAuthErrorTask`), and the parser
and the idle-connection sweep answer four cases waitress would close silently or never answer: a URI
`urlsplit` cannot parse, a request line or header block that can no longer become valid (bare LF or
CR, a first byte that cannot start a method, an invalid request line before the headers end), a chunk
whose declared size passes the body limit, and a request that stalls half-way (408 at the idle
timeout). What stays unanswered: a client that closes mid-request (waitress takes end of input as the
client gone; RFC 9112 §8 makes an answer optional), and an idle keep-alive connection with no request.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError, crack_first_line
from waitress.server import create_server
from waitress.task import ErrorTask
from waitress.utilities import BadRequest, RequestEntityTooLarge

from . import events
from .app import create_app
from .config import SandboxConfig
from .core import Sandbox
from .mcp_server import DEFAULT_MCP_PORT, McpHost, default_mcp_port
from .system_log import REQUEST_ID_HEADER
from .tls import TLSFiles, ensure_tls_files
from .tls_serving import TLSChannelMixin

log = logging.getLogger("sandbox.serving")

THREADS = 8
#: Open connections waitress accepts (its default, 100, is reached by a room of notebooks whose
#: sessions keep connections alive), and how long an idle one may stay open, in seconds.
CONNECTION_LIMIT = 500
IDLE_TIMEOUT = 30
#: How often waitress sweeps idle connections (and answers stalled requests with a 408), in seconds.
CLEANUP_INTERVAL = 5

#: RFC 9110 §5.6.2: the characters of a token (a method starts with one).
_TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
#: RFC 9112 §2.2: a bare LF, or a CR not followed by LF (a CR at the very end may be half of a CRLF).
_BARE_CR_OR_LF = re.compile(rb"(?<!\r)\n|\r(?=[^\n])")


class RequestTimeout(BadRequest):
    """RFC 9110 §15.5.9: the request was not completed within the time the server waits."""

    code = 408
    reason = "Request Timeout"


class OAuthRequestParser(HTTPRequestParser):
    """waitress's parser, refusing at once what it would drop or wait on forever.

    - a URI `urllib.parse.urlsplit` raises ValueError on (e.g. `http://[::1`): waitress catches only
      UnicodeError, so the exception closed the connection with no answer; now 400 "Bad URI";
    - a request line or header block that can no longer become valid: waitress waits for CRLF CRLF,
      which a client ending lines with a bare LF never sends; now 400 as soon as it is seen;
    - a chunk whose declared size passes the body limit: 413 now, not once that many bytes arrived.
    """

    def received(self, data: bytes) -> int:
        consumed = super().received(data)
        if self.completed:
            return consumed
        try:
            if self.body_rcv is None:
                self._check_pending_header()
        except ParsingError as exc:
            self._refuse(BadRequest(exc.args[0]))
            return consumed
        body = self.body_rcv
        limit = self.adj.max_request_body_size
        if self.chunked and body is not None and self.body_bytes_received + body.chunk_remainder >= limit:
            self._refuse(RequestEntityTooLarge(f"exceeds max_body of {limit}"))
        return consumed

    def _check_pending_header(self) -> None:
        """Raise ParsingError if the header received so far cannot begin a valid request."""
        head = self.header_plus.lstrip()
        if _BARE_CR_OR_LF.search(head):
            raise ParsingError("Bare CR or LF found in HTTP message")
        if head and head[0] not in _TCHAR:
            raise ParsingError("Start line is invalid")
        end = head.find(b"\r\n")
        if end >= 0 and crack_first_line(head[:end]) == (b"", b"", b""):
            raise ParsingError("Start line is invalid")

    def _refuse(self, error: Any) -> None:
        if not self.headers_finished:
            # As waitress does for its own 431: a request line for the error task and its log.
            self.parse_header(b"GET / HTTP/1.0\r\n")
        self.error = error
        self.completed = True

    def parse_header(self, header_plus: bytes) -> None:
        try:
            super().parse_header(header_plus)
        except ParsingError:
            raise
        except ValueError:  # urlsplit: "Invalid IPv6 URL", a port out of range, ...
            raise ParsingError("Bad URI") from None


class OAuthErrorTask(ErrorTask):
    """waitress's own refusals (body or headers too large, unparsable HTTP) in the OAuth error shape.

    waitress answers these before the app runs, from the request line and headers alone: a body over
    the limit is refused from its Content-Length (or, chunked, as soon as it grows past it) without
    being read, and the connection is closed. RFC 6749 §5.2 shape, as every other refusal.
    """

    def execute(self) -> None:
        error = self.request.error
        code = int(getattr(error, "code", 500))
        if code == 413:
            limit = self.channel.server.adj.max_request_body_size - 1
            description = f"The request body is larger than {limit} bytes."
        elif code == 431:
            limit = self.channel.server.adj.max_request_header_size
            description = f"The request headers are larger than {limit} bytes."
        elif code == 408:
            limit = self.channel.server.adj.channel_timeout
            description = f"The request was not completed within {limit} seconds."
        else:
            description = f"The request could not be parsed: {getattr(error, 'body', '')}"
        if code >= 500:
            # The server's application is waitress's proxy-headers wrapper, not the Flask app.
            state = getattr(self.channel.server, "sandbox", None)
            if code != 501 and state is not None:  # 501: a transfer coding waitress does not implement
                state.count_unexpected()
            error_code = "invalid_request" if code == 501 else "server_error"
        else:
            error_code = "invalid_request"
        body = json.dumps({"error": error_code, "error_description": description}).encode("utf-8")
        self.status = f"{code} {getattr(error, 'reason', 'Error')}"
        self.response_headers.extend(
            [
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-store"),
                ("Pragma", "no-cache"),
                # Like every answer of the app (sandbox.system_log), though no event records it.
                (REQUEST_ID_HEADER, events.new_request_id()),
            ]
        )
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class OAuthErrorChannel(HTTPChannel):
    """A waitress connection whose transport-level refusals are OAuth-shaped JSON."""

    error_task_class = OAuthErrorTask
    parser_class = OAuthRequestParser


def sweep_idle_connections(server: Any, now: float) -> None:
    """waitress's maintenance, answering a request that stalled half-way with a 408 before closing.

    waitress closes every connection idle for `channel_timeout`; one holding part of a request (a
    request line with no end, headers with no blank line, a body shorter than its Content-Length)
    gets a 408 in the OAuth shape first (RFC 9112 §8: MAY send an error response). An idle
    keep-alive connection with nothing pending is closed silently, as before.
    """
    cutoff = now - server.adj.channel_timeout
    for channel in list(server.active_channels.values()):
        if channel.requests or channel.last_activity >= cutoff:
            continue
        pending = channel.request
        if (
            pending is None
            or not channel.connected
            or not (pending.header_plus.strip() or pending.headers_finished)
        ):
            channel.will_close = True
            continue
        stalled = channel.parser_class(channel.adj)
        stalled.parse_header(b"GET / HTTP/1.0\r\n")
        stalled.error = RequestTimeout("request not completed in time")
        stalled.completed = True
        with channel.requests_lock:
            channel.request = None
            channel.requests.append(stalled)
        channel.last_activity = now
        server.add_task(channel)


class OAuthErrorTLSChannel(TLSChannelMixin, OAuthErrorChannel):
    """The same connection over TLS (`python -m sandbox serve --tls`)."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind and listen on `host`:`port` (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def url_for_socket(sock: socket.socket, host: str, scheme: str = "http") -> str:
    """Return the org URL for a bound socket (no trailing slash)."""
    port = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


@dataclass
class ServedSandbox:
    """A sandbox bound to a socket and wrapped in a waitress server (not yet running)."""

    sandbox: Sandbox
    app: Flask
    server: Any
    sock: socket.socket
    url: str
    #: The CA and server certificate files when serving HTTPS, else None.
    tls: TLSFiles | None = None
    _stopped: threading.Event = field(default_factory=threading.Event)
    #: The MCP server (sandbox/mcp_server.py), started and stopped with the sandbox; None if disabled.
    mcp: McpHost | None = None

    @property
    def mcp_url(self) -> str | None:
        """The MCP server's URL (its resource identifier), or None."""
        return self.mcp.url if self.mcp is not None else None

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the socket listens on."""
        name = self.sock.getsockname()
        return name[0], name[1]

    def run(self) -> None:
        """Serve until `shutdown` is called (from any thread or a signal handler)."""
        try:
            if self.mcp is not None:
                self.mcp.start(self.app)
            self.server.run()
        finally:
            if self.mcp is not None:
                self.mcp.stop()
            self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)

    def shutdown(self) -> None:
        """Ask the serving loop to close every socket and return (idempotent)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.mcp is not None:
            self.mcp.request_stop()
        channels = self.server._map  # waitress's socket map: the listener, the trigger, connections
        try:
            # Runs inside the serving loop's thread: no socket is closed under a running poll().
            self.server.trigger.pull_trigger(lambda: wasyncore.close_all(channels))
        except OSError as exc:
            # The wake-up pipe is gone (seen, rarely, in long test sessions that run many sandboxes
            # and notebook kernels in one process: EBADF). Close from here instead; the serving loop
            # notices the empty map within its poll timeout (waitress: 1 s) and returns.
            log.warning(
                "sandbox at %s: wake-up pipe unusable (%s); closing its sockets directly", self.url, exc
            )
            wasyncore.close_all(channels, ignore_all=True)


def make_served_sandbox(
    config: SandboxConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    data_dir: Path,
    org_url: str | None = None,
    mcp_port: int | None = None,
    tls: bool = False,
) -> ServedSandbox:
    """Bind, build the sandbox and its app for the bound URL, and wrap them in a waitress server.

    The MCP server binds 127.0.0.1:`mcp_port` (None: 8401 beside an org on 8400, else any free port;
    -1: no MCP server) before the app is built, so "{mcp}" in the configuration names its URL. With
    `tls`, the org speaks HTTPS with a certificate from `<data_dir>/tls/` (made when missing).

    Raises:
        OSError: the address cannot be bound.
        sandbox.tls.TLSSetupError: with `tls`, a host that is not loopback, or an unusable CA.
    """
    sock = bind_socket(host, port)
    mcp: McpHost | None = None
    try:
        url = org_url or url_for_socket(sock, host, "https" if tls else "http")
        tls_files = ensure_tls_files(data_dir, hosts=[host, urlsplit(url).hostname or host]) if tls else None
        ca_file = tls_files.ca_file if tls_files is not None else None
        sandbox = Sandbox(config, org_url=url, data_dir=data_dir, ca_file=ca_file)
        if mcp_port is None:
            try:
                mcp = McpHost.bind(sandbox, default_mcp_port(sock.getsockname()[1]))
            except OSError as exc:  # its usual port is taken: any free one (the org's index names it)
                log.warning("MCP server: port %s unavailable (%s); using a free port", DEFAULT_MCP_PORT, exc)
                mcp = McpHost.bind(sandbox, 0)
        elif mcp_port >= 0:
            mcp = McpHost.bind(sandbox, mcp_port)
        app = create_app(sandbox)
        server = create_server(
            app,
            sockets=[sock],
            threads=THREADS,
            connection_limit=CONNECTION_LIMIT,
            channel_timeout=IDLE_TIMEOUT,
            cleanup_interval=CLEANUP_INTERVAL,
            # waitress refuses a body over the limit from its Content-Length, before reading it
            # (it refuses a length >= this value).
            max_request_body_size=config.max_body_bytes + 1,
            ident="sandbox",
            expose_tracebacks=False,
            clear_untrusted_proxy_headers=True,
            asyncore_use_poll=True,
            url_scheme="https" if tls else "http",
        )
        if tls_files is not None:
            server.tls_context = tls_files.server_context()
            server.tls_org_url = url
    except BaseException:
        sock.close()
        if mcp is not None:
            mcp.sock.close()
        raise
    server.channel_class = OAuthErrorTLSChannel if tls_files is not None else OAuthErrorChannel
    server.sandbox = sandbox  # what OAuthErrorTask counts a 5xx on
    server.maintenance = partial(sweep_idle_connections, server)
    return ServedSandbox(sandbox=sandbox, app=app, server=server, sock=sock, url=url, tls=tls_files, mcp=mcp)
