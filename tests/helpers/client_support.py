"""Shared test helpers of the client-side tests (not fixtures): signing test tokens, a tiny HTTP handler.

Named uniquely (not `conftest`) so that `from client_support import …` never picks another suite's module.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from jose import jwt

from helpers.core.keys import AgentKey


def sign(key: AgentKey, claims: dict[str, Any], **headers: Any) -> str:
    """Sign claims with a test key (header kid = the key's kid unless overridden)."""
    header = {"kid": key.kid, **headers}
    return jwt.encode(dict(claims), key.private_key, algorithm=key.alg, headers=header)


FAKE_ACCESS_TOKEN = (
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSIsInNjcCI6WyJ"
    "0b2RvLnJlYWQiXX0.c2lnbmF0dXJlLXBhcnQtb2YtdGhlLXRva2Vu"
)


class LocalHandler(BaseHTTPRequestHandler):
    def _answer(
        self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        if self.path == "/token":
            body = {
                "access_token": FAKE_ACCESS_TOKEN,
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": "todo.read",
            }
            self._answer(200, json.dumps(body).encode(), "application/json", {"Cache-Control": "no-store"})
        elif self.path == "/error":
            body = {"error": "invalid_client", "error_description": "The client_assertion token is expired."}
            self._answer(401, json.dumps(body).encode(), "application/json")
        else:
            self._answer(200, b"<html><body>Sign in</body></html>", "text/html")

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/api"):
            auth = self.headers.get("Authorization", "")
            if auth == f"Bearer {FAKE_ACCESS_TOKEN}":
                self._answer(200, b'{"items": []}', "application/json")
            else:
                challenge = 'Bearer error="invalid_token", error_description="The token is expired"'
                self._answer(
                    401, b'{"error": "invalid_token"}', "application/json", {"WWW-Authenticate": challenge}
                )
        else:
            self._answer(404, b"not found", "text/plain")

    def log_message(self, *args: Any) -> None:
        return
