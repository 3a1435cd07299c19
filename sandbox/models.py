"""What Authlib's grants work on: clients, authorization codes, and OAuth requests built from Flask.

- RFC 6749 §2 (clients), §4.1 (authorization codes); OIDC Core §3.1.2 (nonce, auth_time, amr)
"""

from __future__ import annotations

import hmac
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Payload, OAuth2Request
from authlib.oidc.core import AuthorizationCodeMixin

from .config import Client


class OAuthClient(ClientMixin):
    """A configured client as Authlib's grants see it."""

    def __init__(self, client: Client) -> None:
        self.config = client

    def __repr__(self) -> str:
        return f"OAuthClient({self.config.client_id!r})"

    def get_client_id(self) -> str:
        return self.config.client_id

    def get_default_redirect_uri(self) -> str | None:
        # OIDC Core §3.1.2.1: redirect_uri is REQUIRED; the sandbox never picks one for the client.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # RFC 6749 §3.1.2.3 / OIDC Core §3.1.2.1: simple string comparison with a registered URI.
        return redirect_uri in self.config.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        expected = self.config.client_secret
        return bool(expected) and hmac.compare_digest(expected.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in self.config.auth_methods

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.config.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.config.grant_types


@dataclass
class AuthCode(AuthorizationCodeMixin):
    """An issued authorization code and everything it is bound to (RFC 6749 §4.1.2, RFC 7636 §4.4)."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user_id: str
    auth_time: int
    expires_at: float
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    amr: list[str] = field(default_factory=lambda: ["pwd"])
    #: The custom server that issued the code (None: the org server), and the RFC 8707 resource asked for.
    server_id: str | None = None
    resource: str | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_amr(self) -> list[str]:
        return list(self.amr)


class ParamsPayload(OAuth2Payload):
    """Request parameters from one source only (the query for GET, the form body for POST)."""

    def __init__(self, multi: dict[str, list[str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(
            list, {k: list(v) for k, v in multi.items()}
        )
        self._data = {k: v[0] for k, v in multi.items() if v}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class SandboxRequest(OAuth2Request):
    """An OAuth request whose parameters come from one place, never a mix of query and body."""

    def __init__(self, method: str, uri: str, headers: Any, params: dict[str, list[str]]) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self.payload = ParamsPayload(params)
        self._params = params
        # Set by the sandbox's client authentication, once per request.
        self.authenticated_client: OAuthClient | None = None
        # Set by the JWT bearer grant: the resource the access token is for (the ID-JAG's `resource`).
        self.granted_resource: str | None = None

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data

    def values(self, name: str) -> list[str]:
        """Return every value sent for `name` (for parameters that may repeat, e.g. `resource`)."""
        return list(self._params.get(name, []))
