"""Serving the sandbox with waitress: bind first (so port 0 works), then build the app for that URL.

The org URL is the issuer of every token, so it must be known before the app exists: the socket is
bound first, its port read back, and the `Sandbox` built for `http://<host>:<port>`, or, with
`tls=True`, `https://<host>:<port>`: waitress's connections then speak TLS (sandbox.tls_serving) with a
certificate from the data folder's local test CA (sandbox.tls).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask

from . import events
from .app import create_app
from .config import SandboxConfig
from .core import Sandbox
from .system_log import REQUEST_ID_HEADER
from .tls import TLSFiles, ensure_tls_files
from .tls_serving import TLSChannelMixin

log = logging.getLogger("sandbox.serving")

THREADS = 8
#: Open connections waitress accepts (its default, 100, is reached by a room of notebooks whose
#: sessions keep connections alive), and how long an idle one may stay open, in seconds.
CONNECTION_LIMIT = 500
IDLE_TIMEOUT = 30


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
        else:
            description = f"The request could not be parsed: {getattr(error, 'body', '')}"
        if code >= 500:
            state = self.channel.server.application.extensions.get("sandbox")
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

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the socket listens on."""
        name = self.sock.getsockname()
        return name[0], name[1]

    def run(self) -> None:
        """Serve until `shutdown` is called (from any thread or a signal handler)."""
        try:
            self.server.run()
        finally:
            self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)

    def shutdown(self) -> None:
        """Ask the serving loop to close every socket and return (idempotent)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
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
    tls: bool = False,
) -> ServedSandbox:
    """Bind, build the sandbox and its app for the bound URL, and wrap them in a waitress server.

    With `tls`, the server speaks HTTPS with a certificate from `<data_dir>/tls/` (made when missing).

    Raises:
        OSError: the address cannot be bound.
        sandbox.tls.TLSSetupError: with `tls`, a host that is not loopback, or an unusable CA.
    """
    sock = bind_socket(host, port)
    try:
        url = org_url or url_for_socket(sock, host, "https" if tls else "http")
        tls_files = ensure_tls_files(data_dir, hosts=[host, urlsplit(url).hostname or host]) if tls else None
        ca_file = tls_files.ca_file if tls_files is not None else None
        sandbox = Sandbox(config, org_url=url, data_dir=data_dir, ca_file=ca_file)
        app = create_app(sandbox)
        server = create_server(
            app,
            sockets=[sock],
            threads=THREADS,
            connection_limit=CONNECTION_LIMIT,
            channel_timeout=IDLE_TIMEOUT,
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
        raise
    server.channel_class = OAuthErrorTLSChannel if tls_files is not None else OAuthErrorChannel
    return ServedSandbox(sandbox=sandbox, app=app, server=server, sock=sock, url=url, tls=tls_files)
