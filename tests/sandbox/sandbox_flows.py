"""A small, independent OAuth client for the sandbox's tests: real HTTP, joserfc for signing.

It drives the sign-in form as a browser would (parse the page, post the form), builds client
assertions and ID-JAG requests, and can forge tokens with the sandbox's own keys (read from its
data folder) for the target-side checks that only a misbehaving issuer could trigger.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey, import_key

from helpers.core.keys import AgentKey

AGENT = "wlpSandboxAgent00001"
OTHER_APP = "0oaOtherWebApp000001"
OTHER_APP_SECRET = "other-web-app-secret-0123456789abcdef"
SPA = "0oaPublicSpa00000001"
REDIRECT_URI = "http://127.0.0.1:8765/callback"
ALICE = ("alice@example.com", "Wonderland-2026!")
BOB = ("bob@example.com", "Builder-2026!")
ALICE_ID = "00uA1iceL1dde11Demo1"

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
ID_JAG_TYPE = "urn:ietf:params:oauth:token-type:id-jag"


#: A server the agent has no resource connection to (token exchange: invalid_target).
INVENTORY = {
    "name": "inventory",
    "audience": "api://inventory",
    "resources": [],
    "scopes": {"inventory.read": {"public": True}},
    "policies": {"agent": {"clients": [AGENT], "scopes": ["inventory.read"]}},
}


def shared_overrides(jwks_file: Path) -> dict[str, Any]:
    """Overrides of the shared test sandbox: the agent's JWKS file, and the "inventory" server."""
    return {
        "clients": {AGENT: {"jwks_file": str(jwks_file)}},
        "authorization_servers": {"inventory": INVENTORY},
    }


def now() -> int:
    return int(time.time())


# --- keys -----------------------------------------------------------------------------------


def jose_key(agent: AgentKey) -> RSAKey | ECKey:
    """Return the joserfc private key of a helpers.core.keys AgentKey (built once per test key)."""
    pem = agent.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return import_key(pem, "RSA" if agent.alg.startswith("RS") else "EC")


def write_jwks(path: Path, *agents: AgentKey) -> Path:
    """Write the public JWKS of these agent keys to `path` (what `make lab` registers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"keys": [dict(a.public_jwk) for a in agents]}, indent=2), encoding="utf-8")
    return path


def server_key(data_dir: Path, name: str = "org") -> RSAKey:
    """Load a sandbox signing key from its data folder (tests forge tokens with it)."""
    file = "org.jwk.json" if name == "org" else f"authorization-server-{name}.jwk.json"
    return RSAKey.import_key(json.loads((data_dir / "keys" / file).read_text()))


def sign(key: Any, claims: dict[str, Any], header: dict[str, Any]) -> str:
    """Sign `claims` with `key` and exactly this header."""
    return jwt.encode(dict(header), dict(claims), key, algorithms=[header["alg"]])


@dataclass
class Signer:
    """Signs client assertions for one agent key."""

    agent: AgentKey
    client_id: str = AGENT

    def __post_init__(self) -> None:
        self.key = jose_key(self.agent)

    def assertion(
        self, aud: Any, *, header: dict[str, Any] | None = None, drop: tuple[str, ...] = (), **claims: Any
    ) -> str:
        """Return a fresh client assertion for endpoint `aud`; `claims` override, `drop` removes."""
        body: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": aud,
            "iat": now(),
            "exp": now() + 300,
            "jti": str(uuid.uuid4()),
        }
        body.update(claims)
        for name in drop:
            body.pop(name, None)
        head = {"alg": self.agent.alg, "kid": self.agent.kid, "typ": "JWT"}
        head.update(header or {})
        return sign(self.key, body, head)

    def auth(self, aud: str, **kw: Any) -> dict[str, str]:
        """The form fields of private_key_jwt client authentication for endpoint `aud`."""
        return {"client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": self.assertion(aud, **kw)}


# --- sign-in (a browser's view of the page) --------------------------------------------------


class FormParser(HTMLParser):
    """Collect the page's forms: action, method, and inputs (name, type, value)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "action": attributes.get("action", ""),
                    "method": attributes.get("method", "get"),
                    "inputs": [],
                }
            )
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"].append(
                {
                    "name": attributes.get("name"),
                    "type": attributes.get("type", "text"),
                    "value": attributes.get("value", ""),
                }
            )

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_page(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    return parser


def pkce_pair() -> tuple[str, str]:
    """Return (verifier, S256 challenge) per RFC 7636 §4.1-4.2."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class SignIn:
    """What a sign-in produced: the code and everything the token request needs."""

    code: str
    verifier: str
    nonce: str
    state: str
    redirect_uri: str


def authorize_params(client_id: str = AGENT, **overrides: Any) -> tuple[dict[str, str], str]:
    """Return authorize parameters (with a fresh PKCE pair) and the verifier."""
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email",
        "state": secrets.token_urlsafe(12),
        "nonce": secrets.token_urlsafe(12),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}, verifier


def submit_sign_in(
    session: requests.Session, page_url: str, html: str, username: str, password: str
) -> requests.Response:
    """Fill in the page's only form as a browser would, and post it (no redirect following)."""
    page = parse_page(html)
    assert len(page.forms) == 1, f"expected one form, found {len(page.forms)}"
    form = page.forms[0]
    assert form["method"].lower() == "post"
    data = {}
    for field in form["inputs"]:
        if field["type"] == "hidden":
            data[field["name"]] = field["value"]
        elif field["type"] == "password":
            data[field["name"]] = password
        elif field["name"] == "username":
            data[field["name"]] = username
    return session.post(urljoin(page_url, form["action"]), data=data, allow_redirects=False, timeout=10)


def sign_in(
    org: str,
    *,
    client_id: str = AGENT,
    user: tuple[str, str] = ALICE,
    server: str | None = None,
    **overrides: Any,
) -> SignIn:
    """Run the authorize request and the sign-in form; return the code from the redirect.

    At the org server, or at custom server `server` (`{org}/oauth2/{server}/v1/authorize`).
    """
    params, verifier = authorize_params(client_id, **overrides)
    url = f"{org}/oauth2/{server}/v1/authorize" if server else f"{org}/oauth2/v1/authorize"
    with requests.Session() as session:
        page = session.get(url, params=params, allow_redirects=False, timeout=10)
        assert page.status_code == 200, page.text
        answer = submit_sign_in(session, page.url, page.text, *user)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(params["redirect_uri"] + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [params["state"]]
    return SignIn(
        query["code"][0], verifier, params.get("nonce", ""), params["state"], params["redirect_uri"]
    )


# --- token requests -------------------------------------------------------------------------


def post(url: str, data: dict[str, Any], **kw: Any) -> requests.Response:
    return requests.post(url, data=data, allow_redirects=False, timeout=10, **kw)


def code_for_tokens(org: str, signer: Signer, grant: SignIn, **extra: Any) -> requests.Response:
    token_url = org + "/oauth2/v1/token"
    data = {
        "grant_type": "authorization_code",
        "code": grant.code,
        "redirect_uri": grant.redirect_uri,
        "code_verifier": grant.verifier,
        **signer.auth(token_url),
    }
    data.update(extra)
    return post(token_url, {k: v for k, v in data.items() if v is not None})


def token_exchange(
    org: str, signer: Signer, subject_token: str, *, server: str = "default", **extra: Any
) -> requests.Response:
    token_url = org + "/oauth2/v1/token"
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "requested_token_type": ID_JAG_TYPE,
        "audience": f"{org}/oauth2/{server}",
        "scope": "todo.read",
        "subject_token": subject_token,
        "subject_token_type": ID_TOKEN_TYPE,
        **signer.auth(token_url),
    }
    data.update(extra)
    return post(token_url, {k: v for k, v in data.items() if v is not None})


def jwt_bearer(
    org: str, signer: Signer, assertion: str, *, server: str = "default", **extra: Any
) -> requests.Response:
    token_url = f"{org}/oauth2/{server}/v1/token"
    data = {"grant_type": JWT_BEARER, "assertion": assertion, **signer.auth(token_url)}
    data.update(extra)
    return post(token_url, {k: v for k, v in data.items() if v is not None})


@dataclass
class Tokens:
    id_token: str
    org_access_token: str
    id_jag: str
    access_token: str


def full_flow(org: str, signer: Signer, *, scope: str = "todo.read todo.write") -> Tokens:
    """Steps 1 to 3 with the agent: sign-in, code for tokens, token exchange, JWT bearer."""
    grant = sign_in(org)
    step1 = code_for_tokens(org, signer, grant)
    assert step1.status_code == 200, step1.text
    step2 = token_exchange(org, signer, step1.json()["id_token"], scope=scope)
    assert step2.status_code == 200, step2.text
    step3 = jwt_bearer(org, signer, step2.json()["access_token"])
    assert step3.status_code == 200, step3.text
    return Tokens(
        step1.json()["id_token"],
        step1.json()["access_token"],
        step2.json()["access_token"],
        step3.json()["access_token"],
    )


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (header, claims) of a JWT without verifying it (for looking, not trusting)."""
    head, body, _ = token.split(".")

    def part(segment: str) -> dict[str, Any]:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))

    return part(head), part(body)


def verify_with_jwks(token: str, jwks_url: str) -> dict[str, Any]:
    """Verify a token against a JWKS fetched over HTTP, picking the key by kid; return the claims."""
    header, _ = decode_unverified(token)
    keys = requests.get(jwks_url, timeout=10).json()["keys"]
    match = [k for k in keys if k["kid"] == header["kid"]]
    assert len(match) == 1, f"kid {header['kid']} not in {jwks_url}"
    return jwt.decode(token, import_key(match[0]), algorithms=["RS256"]).claims
