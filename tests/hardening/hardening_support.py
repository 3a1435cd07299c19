"""What the hardening tests share (not fixtures): forging JWTs, a listening trap, exact-error checks.

- RFC 7515 §3.1 (compact JWS, built by hand here so any header, payload or signature can be sent)
- RFC 8725 §2.1 / §3.1 (alg "none", algorithm confusion), §2.8 / §3.10 (jku, x5u, jwk headers)

Named uniquely (not `conftest`), and reusing `tests/sandbox/sandbox_flows.py` (an independent OAuth
client over real HTTP, importable through tests/conftest.py) so the two suites drive the sandbox the
same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sandbox_flows import (
    AGENT,
    ALICE,
    CLIENT_ASSERTION_TYPE,
    ID_JAG_TYPE,
    ID_TOKEN_TYPE,
    JWT_BEARER,
    REDIRECT_URI,
    TOKEN_EXCHANGE,
    Signer,
    code_for_tokens,
    full_flow,
    jwt_bearer,
    now,
    post,
    server_key,
    sign_in,
    token_exchange,
)

from helpers.core.keys import AgentKey, agent_key_from_private, generate_private_key
from sandbox.errors import lookup

__all__ = [
    "AGENT",
    "ALICE",
    "CLIENT_ASSERTION_TYPE",
    "ID_JAG_TYPE",
    "ID_TOKEN_TYPE",
    "JWT_BEARER",
    "REDIRECT_URI",
    "TOKEN_EXCHANGE",
    "AgentKey",
    "Signer",
    "agent_key_from_private",
    "code_for_tokens",
    "full_flow",
    "generate_private_key",
    "jwt_bearer",
    "now",
    "post",
    "server_key",
    "sign_in",
    "token_exchange",
]

#: A second AI agent with its own key: "a kid naming another client's key".
SECOND_AGENT = "wlpSandboxAgent00002"


# --- Forging compact JWS by hand ------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def json_bytes(value: Any) -> bytes:
    """JSON as Python writes it: NaN and Infinity included (they are what a hostile signer sends)."""
    return value if isinstance(value, bytes) else json.dumps(value).encode("utf-8")


def forge(
    header: Any, claims: Any, key: Any = None, *, secret: bytes | None = None, sig: str | None = None
) -> str:
    """Return `b64(header).b64(claims).signature`, signed as asked.

    Args:
        key: a cryptography RSA private key: RS256 over the signing input.
        secret: HMAC-SHA256 with this secret (algorithm confusion: a public key used as the secret).
        sig: this literal third part (alg none: "" or junk).
    """
    signing_input = f"{b64url(json_bytes(header))}.{b64url(json_bytes(claims))}"
    if sig is not None:
        return f"{signing_input}.{sig}"
    if secret is not None:
        mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(mac)}"
    assert isinstance(key, rsa.RSAPrivateKey), "forge needs an RSA private key, a secret or a sig"
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def public_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    """The PEM of a public key: what an algorithm-confusion attacker uses as the HMAC secret."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def sandbox_signing_key(data_dir: Path, name: str = "org") -> tuple[rsa.RSAPrivateKey, str]:
    """A sandbox's own signing key (cryptography object) and its kid, read from its data folder."""
    key = server_key(data_dir, name)
    return key.private_key, key.thumbprint()


def assertion_claims(endpoint: str, **changes: Any) -> dict[str, Any]:
    """The claims of a good client assertion for `endpoint` with `changes` applied (None removes)."""
    claims: dict[str, Any] = {
        "iss": AGENT,
        "sub": AGENT,
        "aud": endpoint,
        "iat": now(),
        "exp": now() + 300,
        "jti": str(uuid.uuid4()),
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


# --- Checking refusals exactly --------------------------------------------------------------------


def catalog_pattern(internal_code: str) -> re.Pattern[str]:
    """A regex of the catalog description of `internal_code`, its placeholders matching anything."""
    text = re.escape(lookup(internal_code).description)
    for placeholder in (r"\{1\}", r"\{2\}", r"\{3\}"):
        text = text.replace(placeholder, ".+")
    text = re.sub(r"\ben\b", ".+", text)  # `en` is the first placeholder (sandbox.errors)
    return re.compile(text, re.DOTALL)


def assert_refusal(
    response: requests.Response, status: int, error: str, internal_code: str | None = None
) -> None:
    """Assert an OAuth-shaped refusal: the status, `error`, and (given) the catalog text of the Okta code."""
    assert response.status_code == status, (
        f"HTTP {response.status_code}, expected {status}: {response.text[:300]}"
    )
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == error, body
    if internal_code is not None:
        assert catalog_pattern(internal_code).fullmatch(body["error_description"]), (
            f'description "{body["error_description"]}" is not the catalog text of {internal_code}: '
            f'"{lookup(internal_code).description}"'
        )


# --- A trap: a local listener that must never be called -------------------------------------------


@dataclass
class Trap:
    """A local HTTP server recording every request it gets (jku / x5u URLs point here)."""

    url: str
    hits: list[str] = field(default_factory=list)


@contextmanager
def listening_trap() -> Iterator[Trap]:
    """Run a Trap on 127.0.0.1 (port 0) for the duration of the block."""
    trap = Trap(url="")

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            trap.hits.append(f"{self.command} {self.path}")
            body = b'{"keys": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _record  # noqa: N815

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    trap.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield trap
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def public_jwk(agent: AgentKey) -> dict[str, Any]:
    """The agent's public JWK as a dict (for a `jwk` header)."""
    return dict(agent.public_jwk)
