"""TLS on waitress's connections: a non-blocking handshake per connection, then HTTP as on any other.

waitress (3.0) speaks plain HTTP only: one loop polls non-blocking sockets, and each connection (a
"channel") calls `recv` and `send` on its socket. `TLSChannelMixin` wraps each accepted socket in the
server's `ssl.SSLContext` (server side, no handshake on connect) and changes only what TLS changes:

- The handshake runs step by step as the socket becomes readable or writable, so a slow or silent
  client never blocks the loop; waitress's idle timeout closes one that never finishes.
- "Want read" and "want write" (`ssl.SSLWantReadError`, `ssl.SSLWantWriteError`) mean "try again when
  the socket is ready", not "the client left".
- After each read, what TLS has already decrypted (`SSLSocket.pending()`) is read too: poll() cannot
  see bytes that have left the kernel's buffer.
- A write that TLS interrupted is retried with the same bytes, as OpenSSL requires (SSL_write(3)).
- One lock per connection keeps TLS reads and writes apart: waitress writes from its task threads
  while its loop reads, and one OpenSSL connection must not be used by two threads at once.
- A plain-HTTP request sent to the HTTPS port (OpenSSL's reason: HTTP_REQUEST) gets a plain-HTTP 400
  with an OAuth error body (RFC 6749 §5.2 shape) naming the https URL, then the connection closes.
- When the server closes a connection after its answer (a 413 for a body over the limit, refused from
  its Content-Length while the client is still sending it), it first half-closes and reads and drops
  what the client still sends, for up to LINGER_SECONDS: closing a socket with unread data sends a
  TCP reset, and a TLS client then loses the answer it has not read yet (a plain-HTTP client often
  reads it anyway). RFC 9112 §9.6 describes this staged close.

Everything after the handshake (request parsing, limits, OAuth-shaped refusals) is waitress's own.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
from typing import Any

log = logging.getLogger("sandbox.serving")

#: Handshake failures that mean the client does not trust the certificate (its TLS alert to us).
_DISTRUST_REASONS = frozenset(
    {"TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE", "SSLV3_ALERT_CERTIFICATE_UNKNOWN"}
)
#: How long a connection the server closes keeps reading (and dropping) what the client still sends.
LINGER_SECONDS = 2.0


def plain_http_refusal(org_url: str) -> bytes:
    """Return the plain-HTTP 400 answered to an http:// request on the HTTPS port."""
    body = json.dumps(
        {
            "error": "invalid_request",
            "error_description": f"This server speaks HTTPS only: use {org_url}",
        }
    ).encode("utf-8")
    head = (
        "HTTP/1.1 400 Bad Request\r\n"
        "Content-Type: application/json\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


class TLSChannelMixin:
    """Mix in before a waitress `HTTPChannel` class: the connection speaks TLS with `server.tls_context`.

    The server also carries `tls_org_url`, the https URL a plain-HTTP request is told to use.
    """

    def __init__(self, server: Any, sock: socket.socket, addr: Any, adj: Any, map: Any = None) -> None:  # noqa: A002
        self._tls_lock = threading.Lock()
        self._tls_ready = False
        self._tls_wants_write = False
        self._tls_retry = 0
        self._linger_until: float | None = None
        broken = False
        try:
            sock = server.tls_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except (OSError, ValueError) as exc:  # the peer left already: close this channel at once
            log.info("TLS: cannot start with %s (%s)", addr, exc)
            broken = True
        super().__init__(server, sock, addr, adj, map)  # type: ignore[call-arg]
        if broken:
            self.will_close = True

    # --- what waitress's loop asks ------------------------------------------------------------------
    def readable(self) -> bool:
        """Before the handshake completes: readable until the channel closes; then as waitress says."""
        if self._linger_until is not None:
            return True
        if not self._tls_ready:
            return not self.will_close
        return super().readable()  # type: ignore[misc]

    def writable(self) -> bool:
        """Before the handshake completes: when TLS wants to write (or to close); then as waitress says."""
        if self._linger_until is not None:
            return time.monotonic() >= self._linger_until  # time to close (the loop wakes every second)
        if not self._tls_ready:
            return self._tls_wants_write or self.will_close
        return super().writable()  # type: ignore[misc]

    def handle_read(self) -> None:
        """Continue the handshake, or read and parse what the client sent (or drop it, when closing)."""
        if self._linger_until is not None:
            self._drop_incoming()
        elif self._tls_ready or self._handshake():
            self._read_decrypted()

    def handle_write(self) -> None:
        """Continue the handshake (or close), or flush the responses as waitress does."""
        if self._linger_until is not None:
            self.handle_close()
        elif self._tls_ready:
            super().handle_write()  # type: ignore[misc]
        elif self.will_close:
            self.handle_close()
        elif self._handshake():
            self._read_decrypted()

    def handle_close(self) -> None:
        """Close; when the server closes after its answer, half-close and drop input for a while first."""
        if self._linger_until is not None or not (self._tls_ready and self.will_close and self.connected):
            self._linger_until = None
            super().handle_close()  # type: ignore[misc]
            return
        self.connected = False  # task threads stop writing (waitress's ClientDisconnected)
        try:
            socket.socket.shutdown(self.socket, socket.SHUT_WR)  # the TCP socket under TLS: FIN now
        except OSError:
            super().handle_close()  # type: ignore[misc]
            return
        self._linger_until = time.monotonic() + LINGER_SECONDS

    def _drop_incoming(self) -> None:
        """While closing: read and drop what the client still sends; close at its end of stream."""
        try:
            data = socket.socket.recv(self.socket, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.handle_close()

    # --- TLS ------------------------------------------------------------------------------------------
    def _handshake(self) -> bool:
        """Advance the TLS handshake; return True once it is complete."""
        try:
            with self._tls_lock:
                self.socket.do_handshake()
        except ssl.SSLWantReadError:
            self._tls_wants_write = False
            return False
        except ssl.SSLWantWriteError:
            self._tls_wants_write = True
            return False
        except ssl.SSLError as exc:
            self._refuse_handshake(exc)
            return False
        except OSError as exc:
            log.info("TLS handshake with %s ended: %s", self.addr, exc)
            self.handle_close()
            return False
        self._tls_ready = True
        self._tls_wants_write = False
        self.last_activity = time.time()
        return True

    def _refuse_handshake(self, exc: ssl.SSLError) -> None:
        reason = getattr(exc, "reason", None) or str(exc)
        org_url = getattr(self.server, "tls_org_url", "https://")
        if reason == "HTTP_REQUEST":
            log.info("TLS: %s sent plain HTTP to the HTTPS port; answered 400 (use %s)", self.addr, org_url)
            raw = self.socket
            try:
                socket.socket.recv(raw, 65536)  # what is left of the request, so closing sends no reset
            except OSError:
                pass
            try:
                socket.socket.send(raw, plain_http_refusal(org_url))
            except OSError:
                pass
        elif reason in _DISTRUST_REASONS:
            log.info(
                "TLS handshake with %s failed: %s (the client does not trust this certificate; it needs "
                "the sandbox's CA certificate, tls/ca.pem in the data folder)",
                self.addr,
                reason,
            )
        else:
            log.info("TLS handshake with %s failed: %s", self.addr, reason)
        self.handle_close()

    def _read_decrypted(self) -> None:
        """Read what the client sent, including what TLS has decrypted already, and hand it to waitress."""
        while self.connected:
            try:
                with self._tls_lock:
                    data = self.socket.recv(self.adj.recv_bytes)
                    pending = self.socket.pending() if data else 0
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except OSError as exc:
                if self.adj.log_socket_errors:
                    log.info("TLS read from %s failed: %s", self.addr, exc)
                data, pending = b"", 0
            if not data:  # the client closed the connection
                self.handle_close()
                return
            self.last_activity = time.time()
            self.received(data)
            if not pending:
                return

    def send(self, data: bytes, do_close: bool = True) -> int:
        """Write through TLS; 0 when TLS must wait (the same bytes are sent again next time)."""
        if self._tls_retry:
            data = data[: self._tls_retry]
        try:
            with self._tls_lock:
                sent = self.socket.send(data)
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            self._tls_retry = len(data)
            return 0
        except OSError:  # the client left, or TLS failed: waitress's loop closes the channel
            self.will_close = True
            if do_close:
                self.handle_close()
            return 0
        self._tls_retry = 0
        return sent
