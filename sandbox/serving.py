"""Serving the sandbox with waitress: bind first (so port 0 works), then build the app for that URL.

The org URL is the issuer of every token, so it must be known before the app exists: the socket is
bound first, its port read back, and the `Sandbox` built for `http://<host>:<port>`.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from waitress import wasyncore
from waitress.server import create_server

from .app import create_app
from .config import SandboxConfig
from .core import Sandbox

log = logging.getLogger("sandbox.serving")

#: waitress refuses larger bodies itself, from Content-Length, before reading them (the app's own
#: limit, default 64 KiB, answers in OAuth JSON for bodies between the two).
WAITRESS_MAX_BODY = 1024 * 1024
THREADS = 8


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


def url_for_socket(sock: socket.socket, host: str) -> str:
    """Return the org URL for a bound socket (no trailing slash)."""
    port = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{port}"


@dataclass
class ServedSandbox:
    """A sandbox bound to a socket and wrapped in a waitress server (not yet running)."""

    sandbox: Sandbox
    app: Flask
    server: Any
    sock: socket.socket
    url: str
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
        # Runs inside the serving loop's thread: no socket is closed under a running select().
        self.server.trigger.pull_trigger(lambda: wasyncore.close_all(channels))


def make_served_sandbox(
    config: SandboxConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    data_dir: Path,
    org_url: str | None = None,
) -> ServedSandbox:
    """Bind, build the sandbox and its app for the bound URL, and wrap them in a waitress server."""
    sock = bind_socket(host, port)
    try:
        url = org_url or url_for_socket(sock, host)
        sandbox = Sandbox(config, org_url=url, data_dir=data_dir)
        app = create_app(sandbox)
        server = create_server(
            app,
            sockets=[sock],
            threads=THREADS,
            max_request_body_size=WAITRESS_MAX_BODY,
            ident="sandbox",
            expose_tracebacks=False,
            clear_untrusted_proxy_headers=True,
            asyncore_use_poll=True,
        )
    except BaseException:
        sock.close()
        raise
    return ServedSandbox(sandbox=sandbox, app=app, server=server, sock=sock, url=url)
