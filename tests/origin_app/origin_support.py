"""What the origin-app tests share: a client for the custom server's sign-in, the exchange, forgery.

Real HTTP against `running_sandbox`. The sign-in page is driven, and tokens decoded, by the sandbox
tests' independent client (tests/sandbox/sandbox_flows.py), whose names and fixture ids it shares; what
is the origin app's own is here: the custom server's sign-in for the agent's resource, the origin app
authenticating with HTTP Basic as RFC 6749 §2.3.1 says, the agent's client assertions from `helpers`
(the agent's side of the kit). Tokens a correct issuer would never mint (no user, another audience, a
foreign issuer) are forged with the sandbox's own keys, read from its data folder.
"""

from __future__ import annotations

import html
import json
import re
import time
import uuid
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import RSAKey
from sandbox_flows import (
    ACCESS_TOKEN_TYPE,
    AGENT,
    ALICE,
    ALICE_ID,
    ID_JAG_TYPE,
    ID_TOKEN_TYPE,
    JWT_BEARER,
    SPA,
    TOKEN_EXCHANGE,
    SignIn,
    authorize_params,
    server_key,
    sign_in,
    submit_sign_in,
)

from helpers.core.client_assertion import ClientAssertionSigner
from helpers.core.keys import AgentKey
from sandbox.testing import RunningSandbox

SECOND_AGENT = "wlpExpiredIdToken001"  # same keys as the agent, token exchange allowed, no resource URL
ORIGIN = "0oaOriginWebApp00001"
ORIGIN_SECRET = "origin-web-app-secret-fedcba9876543210"
AGENT_PATH = "/agents/sandbox-agent"
#: What the origin app's sign-in asks for (the sandbox tests' default adds `email`).
SIGN_IN_SCOPE = "openid profile"

CATALOG_FILE = Path(__file__).resolve().parents[2] / "sandbox" / "data" / "okta-oauth2-errors.json"
CATALOG = {e["internalErrorCode"]: e for e in json.loads(CATALOG_FILE.read_text())["errors"]}


def agents_read(jwks: Path) -> dict[str, Any]:
    """Overrides pointing both agents of the default configuration at a test's JWKS file."""
    return {"clients": {AGENT: {"jwks_file": str(jwks)}, SECOND_AGENT: {"jwks_file": str(jwks)}}}


class Client:
    """Drives one sandbox: sign-ins (org or custom server), code for tokens, exchanges, forgery."""

    def __init__(self, sb: RunningSandbox, agent_key: AgentKey) -> None:
        self.sb = sb
        self.org = sb.url
        self.agent_key = agent_key
        self.signer = ClientAssertionSigner(AGENT, agent_key)

    # --- URLs -----------------------------------------------------------------------------------
    def issuer(self, server: str = "default") -> str:
        return f"{self.org}/oauth2/{server}"

    @property
    def resource(self) -> str:
        """The agent's resource URL (sandbox/default.toml: {org}/agents/sandbox-agent)."""
        return self.org + AGENT_PATH

    # --- sign-in --------------------------------------------------------------------------------
    def authorize_params(self, client_id: str, **overrides: Any) -> tuple[dict[str, str], str]:
        """An authorization request of `client_id` (a fresh PKCE pair), and its verifier."""
        return authorize_params(client_id, **{"scope": SIGN_IN_SCOPE, **overrides})

    def authorize(
        self, client_id: str, *, server: str | None = "default", **overrides: Any
    ) -> requests.Response:
        """GET the authorize endpoint (a custom server's, or the org's with server=None)."""
        params, _ = self.authorize_params(client_id, **overrides)
        url = f"{self.issuer(server)}/v1/authorize" if server else f"{self.org}/oauth2/v1/authorize"
        return requests.get(url, params=params, allow_redirects=False, timeout=10)

    def sign_in(self, client_id: str = ORIGIN, *, server: str | None = "default", **overrides: Any) -> SignIn:
        """Sign in at a custom server (for the agent's resource unless `resource` is given) or the org's."""
        if server:
            overrides.setdefault("resource", self.resource)
        return sign_in(self.org, client_id=client_id, server=server, **{"scope": SIGN_IN_SCOPE, **overrides})

    @staticmethod
    def submit(
        session: requests.Session, page: requests.Response, user: tuple[str, str] = ALICE
    ) -> requests.Response:
        """Post the page's one form as a browser would: the hidden transaction, the username, the password."""
        return submit_sign_in(session, page.url, page.text, *user)

    def redeem_code(
        self, grant: SignIn, *, client_id: str = ORIGIN, server: str | None = "default", **extra: Any
    ) -> requests.Response:
        """Code for tokens: the origin app with HTTP Basic, the SPA as public client, the agent with a key."""
        url = f"{self.issuer(server)}/v1/token" if server else f"{self.org}/oauth2/v1/token"
        data = {
            "grant_type": "authorization_code",
            "code": grant.code,
            "redirect_uri": grant.redirect_uri,
            "code_verifier": grant.verifier,
        }
        auth = None
        if client_id == ORIGIN:
            auth = (ORIGIN, extra.pop("secret", ORIGIN_SECRET))
        elif client_id == SPA:
            data["client_id"] = SPA
        else:
            data.update(self.signer.form_fields(url))
        data.update(extra)
        return requests.post(
            url, data={k: v for k, v in data.items() if v is not None}, auth=auth, timeout=10
        )

    def client_credentials(
        self,
        *,
        client: tuple[str, str] = (ORIGIN, ORIGIN_SECRET),
        server: str = "default",
        **form: Any,
    ) -> requests.Response:
        """A client's own token (RFC 6749 §4.4), with HTTP Basic; `resource` = the agent's unless given."""
        data = {"grant_type": "client_credentials", "scope": "todo.read", "resource": self.resource}
        data.update(form)
        return requests.post(
            f"{self.issuer(server)}/v1/token",
            data={k: v for k, v in data.items() if v is not None},
            auth=client,
            timeout=10,
        )

    def tokens(self, client_id: str = ORIGIN, **overrides: Any) -> dict[str, Any]:
        """A fresh sign-in's tokens at the custom server (for the agent's resource unless overridden)."""
        answer = self.redeem_code(self.sign_in(client_id, **overrides), client_id=client_id)
        assert answer.status_code == 200, answer.text
        return answer.json()

    @cached_property
    def origin_tokens(self) -> dict[str, Any]:
        """One sign-in of the origin app for the agent's resource (its token may be exchanged often)."""
        return self.tokens()

    @cached_property
    def agent_org_tokens(self) -> dict[str, Any]:
        """The agent's own sign-in at the org server (01): an ID token and an org access token."""
        answer = self.redeem_code(self.sign_in(AGENT, server=None), client_id=AGENT, server=None)
        assert answer.status_code == 200, answer.text
        return answer.json()

    # --- the agent's side -----------------------------------------------------------------------
    def exchange(
        self,
        subject_token: str,
        *,
        subject_token_type: str = ACCESS_TOKEN_TYPE,
        agent: str = AGENT,
        **extra: Any,
    ) -> requests.Response:
        """The agent's token exchange at the org server (RFC 8693 §2.1)."""
        url = f"{self.org}/oauth2/v1/token"
        signer = self.signer if agent == AGENT else ClientAssertionSigner(agent, self.agent_key)
        data = {
            "grant_type": TOKEN_EXCHANGE,
            "requested_token_type": ID_JAG_TYPE,
            "audience": self.issuer(),
            "scope": "todo.read",
            "subject_token": subject_token,
            "subject_token_type": subject_token_type,
            **signer.form_fields(url),
        }
        data.update(extra)
        return requests.post(url, data={k: v for k, v in data.items() if v is not None}, timeout=10)

    def redeem_id_jag(self, id_jag: str) -> requests.Response:
        url = f"{self.issuer()}/v1/token"
        data = {"grant_type": JWT_BEARER, "assertion": id_jag, **self.signer.form_fields(url)}
        return requests.post(url, data=data, timeout=10)

    def agent_access_token(self) -> str:
        """The agent's own access token from the default flow (01-03): aud api://default."""
        answer = self.exchange(self.agent_org_tokens["id_token"], subject_token_type=ID_TOKEN_TYPE)
        assert answer.status_code == 200, answer.text
        redeemed = self.redeem_id_jag(answer.json()["access_token"])
        assert redeemed.status_code == 200, redeemed.text
        return redeemed.json()["access_token"]

    # --- forgery with the sandbox's own keys ------------------------------------------------------
    def server_key(self, name: str = "default") -> RSAKey:
        """A signing key of this sandbox: a custom server's (`default` unless named), or "org"."""
        return server_key(self.sb.data_dir, name)

    def forge_access_token(
        self, *, key: RSAKey | None = None, drop: tuple[str, ...] = (), **claims: Any
    ) -> str:
        """An access token like the origin app's, signed by the default server unless `key` says otherwise."""
        now = int(time.time())
        body: dict[str, Any] = {
            "ver": 1,
            "jti": "AT." + uuid.uuid4().hex,
            "iss": self.issuer(),
            "aud": self.resource,
            "iat": now,
            "exp": now + 600,
            "cid": ORIGIN,
            "uid": ALICE_ID,
            "scp": ["openid", "profile"],
            "auth_time": now,
            "sub": ALICE[0],
        }
        body.update(claims)
        for name in drop:
            body.pop(name, None)
        signing = key or self.server_key()
        header = {"alg": "RS256", "kid": signing.thumbprint(), "typ": "JWT"}
        return jwt.encode(header, body, signing, algorithms=["RS256"])

    # --- the System Log -------------------------------------------------------------------------
    def events(self, response: requests.Response) -> list[dict[str, Any]]:
        """The System Log events of one response (by its X-Okta-Request-Id)."""
        rid = response.headers["X-Okta-Request-Id"]
        answer = requests.get(
            self.org + "/api/v1/logs",
            params={"filter": f'transaction.id eq "{rid}"'},
            headers={"Authorization": "SSWS " + self.sb.api_token},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()


def read_error(response: requests.Response, kind: str) -> tuple[str, str]:
    """The `error` and `error_description` of a JSON body, a redirect, or the HTML error page."""
    if kind == "redirect":
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        return query["error"][0], query["error_description"][0]
    if kind == "page":
        found = dict(re.findall(r'<dd id="(error|error_description)">(.*?)</dd>', response.text, re.S))
        return html.unescape(found["error"]), html.unescape(found["error_description"])
    body = response.json()
    assert set(body) == {"error", "error_description"}, body
    return body["error"], body["error_description"]
