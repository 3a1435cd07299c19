"""Malformed HTTP over a raw socket: an OAuth-shaped answer wherever the server can give one.

- RFC 9112 §2.2 (lines end with CRLF; a bare CR MUST be refused or replaced), §3 (request line),
  §5 (field lines), §6.1 and §7.1 (Transfer-Encoding, chunks), §6.3 (invalid Content-Length: 400),
  §8 (incomplete messages); RFC 9110 §15.5.9 (408), §15.6.2 (501); RFC 6585 §5 (431)
- RFC 6749 §5.2: the error body, `{"error": "invalid_request", "error_description": ...}`

Each row is bytes no HTTP client library would send, and the exact answer: status, JSON body,
`Connection: close`, `X-Okta-Request-Id`. The rows marked "was" were closed without an answer, or
left waiting, before (sandbox.serving). The last table documents what the server does not answer,
and why: there each test checks that the connection is closed and nothing is sent.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sandbox import serving
from sandbox.testing import RunningSandbox, running_sandbox

PARSE = "The request could not be parsed: "
LIMIT = 65536  # sandbox/default.toml [limits] max_body_bytes
HEADER_LIMIT = 262144  # waitress's max_request_header_size


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def exchange(address: tuple[str, int], raw: bytes, *, pieces: int = 1, timeout: float = 5) -> Answer | None:
    """Send `raw` (in `pieces` writes), then read one answer; None if the connection closed first.

    A send that fails (the server answered and closed while we were still sending) is not an
    error: the answer is read after it, as a careful client does.
    """
    with socket.create_connection(address, timeout=timeout) as sock:
        size = -(-len(raw) // pieces)
        try:
            for start in range(0, len(raw), size):
                sock.sendall(raw[start : start + size])
        except OSError:
            pass
        data = b""
        try:
            while True:
                head, sep, rest = data.partition(b"\r\n\r\n")
                if sep:
                    lines = head.decode("latin-1").split("\r\n")
                    headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
                    length = int(headers.get("content-length", "0"))
                    if len(rest) >= length:
                        return Answer(int(lines[0].split()[1]), headers, rest[:length])
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        assert data == b"", f"a partial answer: {data[:300]!r}"
        return None


def assert_oauth_answer(answer: Answer | None, status: int, description: str, error: str) -> None:
    assert answer is not None, "the connection was closed without an answer"
    assert answer.status == status, (answer.status, answer.body)
    assert answer.headers["content-type"] == "application/json"
    assert json.loads(answer.body) == {"error": error, "error_description": description}
    assert answer.headers["connection"] == "close"
    assert answer.headers["x-okta-request-id"]


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    status: int
    description: str
    error: str = "invalid_request"
    #: What happened before sandbox.serving answered it (empty: it was already answered).
    was: str = ""
    pieces: int = 1


TOKEN = b"POST /oauth2/v1/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
FORM = b"Content-Type: application/x-www-form-urlencoded\r\n"

ANSWERED = [
    Case("a request line that is not HTTP", b"GARBAGE\r\n\r\n", 400, PARSE + "Start line is invalid"),
    Case(
        "a lowercase method", b"get / HTTP/1.1\r\nHost: x\r\n\r\n", 400, PARSE + 'Malformed HTTP method "get"'
    ),
    Case(
        "a space inside the URI",
        b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
        PARSE + "Start line is invalid",
    ),
    Case(
        "a method that is not ASCII", "GÉT / HTTP/1.1\r\n\r\n".encode(), 400, PARSE + "Start line is invalid"
    ),
    Case(
        "a request line, headers and blank line ending in bare LF",
        b"GET / HTTP/1.1\nHost: x\n\n",
        400,
        PARSE + "Bare CR or LF found in HTTP message",
        was="no answer: waitress waited for CRLF CRLF until the idle timeout",
    ),
    Case(
        "an invalid request line, its headers not yet ended",
        b"NOT HTTP AT ALL\r\nHost: x\r\n",
        400,
        PARSE + "Start line is invalid",
        was="no answer until the idle timeout (waitress parses only a complete header block)",
    ),
    Case(
        "TLS on the plain HTTP port (a ClientHello's first bytes)",
        bytes.fromhex("160301020001") + b"\x00" * 64,
        400,
        PARSE + "Start line is invalid",
        was="no answer until the idle timeout",
    ),
    Case(
        "a bare CR inside a header block not yet ended",
        b"GET / HTTP/1.1\r\nHost: x\rX-A: b\r\n",
        400,
        PARSE + "Bare CR or LF found in HTTP message",
        was="no answer until the idle timeout",
    ),
    Case(
        "a URI urlsplit cannot parse (an unclosed IPv6 host)",
        b"GET http://[::1/ HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
        PARSE + "Bad URI",
        was="closed without an answer (ValueError escaped waitress's parser)",
    ),
    Case("a URI that is not UTF-8", b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", 400, PARSE + "Bad URI"),
    Case("a header line with no colon", b"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400, PARSE + "Invalid header"),
    Case("a NUL in a header value", b"GET / HTTP/1.1\r\nHost: x\x00y\r\n\r\n", 400, PARSE + "Invalid header"),
    Case(
        "a folded first header line",
        b"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
        400,
        PARSE + 'Malformed header line " Host: x"',
    ),
    Case(
        "a bare CR in a complete header block",
        b"GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n",
        400,
        PARSE + 'Bare CR or LF found in header line "Host: x\rY: z"',
    ),
    Case(
        "a Content-Length that is not a number",
        TOKEN + b"Content-Length: abc\r\n\r\n",
        400,
        PARSE + "Content-Length is invalid",
    ),
    Case(
        "a negative Content-Length",
        TOKEN + b"Content-Length: -1\r\n\r\n",
        400,
        PARSE + "Content-Length is invalid",
    ),
    Case(
        "two different Content-Lengths",
        TOKEN + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
        PARSE + "Content-Length is invalid",
    ),
    Case(
        "a chunk size that is not hexadecimal",
        TOKEN + FORM + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
        400,
        PARSE + "Invalid chunk size",
    ),
    Case(
        "a chunk extension with a control byte",
        TOKEN + FORM + b"Transfer-Encoding: chunked\r\n\r\n2;\x01\r\nab\r\n0\r\n\r\n",
        400,
        PARSE + "Invalid chunk extension",
    ),
    Case(
        "a chunk longer than its size",
        TOKEN + FORM + b"Transfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
        400,
        PARSE + "Chunk not properly terminated",
    ),
    Case(
        "a chunk whose declared size passes the body limit",
        TOKEN + FORM + b"Transfer-Encoding: chunked\r\n\r\nffffffffffff\r\nabc",
        413,
        f"The request body is larger than {LIMIT} bytes.",
        was="no answer: waitress waited for the chunk's bytes",
    ),
    Case(
        "a Content-Length over the body limit",
        TOKEN + FORM + b"Content-Length: 999999999\r\n\r\nab",
        413,
        f"The request body is larger than {LIMIT} bytes.",
    ),
    Case(
        "a transfer coding the server does not implement",
        TOKEN + FORM + b"Transfer-Encoding: gzip\r\n\r\n",
        501,
        PARSE + "Transfer-Encoding requested is not supported.",
        was="no answer: the error task failed (it looked the sandbox up on waitress's proxy wrapper)",
    ),
    Case(
        "headers over 256 KiB, sent in pieces while the server answers",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (HEADER_LIMIT + 300_000) + b"\r\n\r\n",
        431,
        f"The request headers are larger than {HEADER_LIMIT} bytes.",
        pieces=40,
    ),
    Case(
        "a request line over 256 KiB that never ends",
        b"GET /" + b"a" * (HEADER_LIMIT + 10),
        431,
        f"The request headers are larger than {HEADER_LIMIT} bytes.",
    ),
]


@pytest.mark.parametrize("case", ANSWERED, ids=[c.name for c in ANSWERED])
def test_malformed_http_gets_an_oauth_shaped_answer(hsb: RunningSandbox, case: Case) -> None:
    before = hsb.sandbox.unexpected_errors
    answer = exchange(hsb.address, case.raw, pieces=case.pieces)
    assert_oauth_answer(answer, case.status, case.description, case.error)
    assert hsb.sandbox.unexpected_errors == before


def test_a_valid_request_on_the_same_server_still_works(hsb: RunningSandbox) -> None:
    answer = exchange(hsb.address, b"GET /oauth2/v1/keys HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer is not None and answer.status == 200 and "keys" in json.loads(answer.body)


# --- A request that stalls, and what is not answered ------------------------------------------------


@pytest.fixture
def impatient(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningSandbox]:
    """A sandbox that closes connections idle for 1 s (the default is 30 s), sweeping every second."""
    monkeypatch.setattr(serving, "IDLE_TIMEOUT", 1)
    monkeypatch.setattr(serving, "CLEANUP_INTERVAL", 1)
    with running_sandbox() as running:
        yield running
        assert running.sandbox.unexpected_errors == 0


STALLED = [
    ("a request line that never ends", b"GET /oauth2/v1/keys HTT"),
    ("headers with no blank line after them", b"GET /oauth2/v1/keys HTTP/1.1\r\nHost: x\r\n"),
    ("a body shorter than its Content-Length", TOKEN + FORM + b"Content-Length: 100\r\n\r\ngrant_type=x"),
    ("a chunked body with no last chunk", TOKEN + FORM + b"Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n"),
]


@pytest.mark.parametrize(("name", "raw"), STALLED, ids=[s[0] for s in STALLED])
def test_a_request_stalled_half_way_gets_a_408_at_the_idle_timeout(
    impatient: RunningSandbox, name: str, raw: bytes
) -> None:
    started = time.monotonic()
    answer = exchange(impatient.address, raw, timeout=10)
    assert_oauth_answer(answer, 408, "The request was not completed within 1 seconds.", "invalid_request")
    assert time.monotonic() - started < 5  # idle 1 s, swept within the next second or two


#: Not answered, and why. Each is checked: the connection closes and no byte is sent.
UNANSWERED = [
    (
        "the client closes its side mid-request",
        b"POST /oauth2/v1/token HTTP/1.1\r\nContent-Length: 50\r\n\r\nabc",
        "waitress takes end of input as the client gone (usually a cancelled request) and closes; RFC 9112 "
        "§8 makes an answer to an incomplete request optional, and a client that closed reads nothing",
    ),
    (
        "an idle keep-alive connection with no request",
        b"",
        "there is no request to answer: it is closed at the idle timeout, as every HTTP server does",
    ),
]


@pytest.mark.parametrize(("name", "raw", "why"), UNANSWERED, ids=[u[0] for u in UNANSWERED])
def test_what_is_not_answered_closes_the_connection_and_sends_nothing(
    impatient: RunningSandbox, name: str, raw: bytes, why: str
) -> None:
    assert why
    with socket.create_connection(impatient.address, timeout=10) as sock:
        sock.sendall(raw)
        if raw:
            sock.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        assert sock.recv(65536) == b""  # closed, no answer
        assert time.monotonic() - started < 5
