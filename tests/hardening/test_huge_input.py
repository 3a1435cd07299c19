"""Bodies, headers and tokens far larger than any real one: a quick 4xx in the OAuth shape, unread.

- RFC 9110 §15.5.14 (413 Content Too Large), RFC 6585 §5 (431 Request Header Fields Too Large)
- RFC 6749 §5.2 (the error body), README "Errors" (bodies over 64 KiB: 413 `invalid_request`)

The measure of "without reading it all": the client sends a 50 MB body slowly, in 64 KiB pieces, and
watches for the answer between pieces; the refusal must arrive after at most 1 MiB was sent (the
server cannot have read more than that), and the connection is closed.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import time
from dataclasses import dataclass

import pytest
import requests
from hardening_support import assert_refusal, jwt_bearer

FIFTY_MB = 50 * 1024 * 1024
PIECE = 64 * 1024
LIMIT = 65536  # sandbox/default.toml [limits] max_body_bytes


@dataclass
class SlowUpload:
    status: int
    body: dict
    headers: dict[str, str]
    sent: int
    seconds: float


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], dict]:
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(lines[0].split()[1]), headers, json.loads(rest[:length])


def upload_slowly(address: tuple[str, int], path: str, *, chunked: bool, pause: float = 0.01) -> SlowUpload:
    """Send a 50 MB form body in 64 KiB pieces, stopping at the first byte of an answer."""
    started = time.monotonic()
    sock = socket.create_connection(address, timeout=5)
    try:
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {FIFTY_MB}"
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n{framing}\r\n\r\n".encode()
        )
        piece = b"a" * PIECE
        framed = b"%x\r\n%s\r\n" % (PIECE, piece) if chunked else piece
        sent = 0
        while sent < FIFTY_MB:
            readable, _, _ = select.select([sock], [], [], pause)
            if readable:
                break
            try:
                sock.sendall(framed)
            except OSError:  # the server closed the connection: its answer is waiting to be read
                break
            sent += PIECE
        status, headers, body = _read_answer(sock)
    finally:
        sock.close()
    return SlowUpload(status, body, headers, sent, time.monotonic() - started)


ENDPOINTS = ["/oauth2/v1/token", "/oauth2/default/v1/token", "/oauth2/v1/authorize", "/todo-api/todos"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_50_mb_body_is_refused_from_its_content_length_before_it_is_sent(hsb, path: str) -> None:
    upload = upload_slowly(hsb.address, path, chunked=False)
    assert upload.status == 413
    assert upload.body == {
        "error": "invalid_request",
        "error_description": f"The request body is larger than {LIMIT} bytes.",
    }
    assert upload.headers["connection"] == "close"
    assert upload.headers["x-okta-request-id"]  # like every other answer of the sandbox
    assert upload.sent <= 1024 * 1024, f"{upload.sent} bytes were sent before the refusal"


def test_a_50_mb_chunked_body_is_refused_once_it_passes_the_limit(hsb) -> None:
    upload = upload_slowly(hsb.address, "/oauth2/v1/token", chunked=True)
    assert upload.status == 413
    assert upload.body["error"] == "invalid_request"
    assert upload.sent <= 1024 * 1024, f"{upload.sent} bytes were sent before the refusal"


def test_a_body_one_byte_over_the_limit_is_413_and_one_at_the_limit_is_read(hsb, signer) -> None:
    over = requests.post(
        hsb.url + "/oauth2/v1/token",
        data=b"grant_type=x&pad=" + b"a" * (LIMIT + 1 - len(b"grant_type=x&pad=")),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert_refusal(over, 413, "invalid_request", "http_request_too_large")
    at = requests.post(
        hsb.url + "/oauth2/v1/token",
        data=b"grant_type=x&pad=" + b"a" * (LIMIT - len(b"grant_type=x&pad=")),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert_refusal(at, 400, "unsupported_grant_type", "unsupported_grant_type")


def test_a_300_kb_authorization_header_is_refused_with_431(hsb) -> None:
    connection = http.client.HTTPConnection(*hsb.address, timeout=10)
    try:
        connection.putrequest("GET", "/todo-api/me")
        connection.putheader("Authorization", "Bearer " + "e" * 300_000)
        connection.endheaders()
        answer = connection.getresponse()
        body = json.loads(answer.read())
    finally:
        connection.close()
    assert answer.status == 431
    assert body == {
        "error": "invalid_request",
        "error_description": "The request headers are larger than 262144 bytes.",
    }


def test_a_60_kb_bearer_token_in_a_header_is_an_invalid_token(hsb) -> None:
    answer = requests.get(
        hsb.url + "/todo-api/me", headers={"Authorization": "Bearer " + "e" * 60_000}, timeout=10
    )
    assert_refusal(answer, 401, "invalid_token", "access_token_invalid")


def test_a_60_kb_id_jag_within_the_body_limit_is_refused_as_not_a_jwt(hsb, signer) -> None:
    answer = jwt_bearer(hsb.url, signer, "eyJ" + "e" * 60_000)
    assert_refusal(answer, 400, "invalid_grant")
    assert answer.json()["error_description"] == "The 'assertion' is not a signed JWT."
