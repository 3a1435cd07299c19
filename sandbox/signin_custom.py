"""Step 6 (notebook 06): sign-in at a custom authorization server, its authorize endpoint and code grant.

- RFC 6749 §4.1 (authorization code grant); RFC 7636 (PKCE, S256 required as at the org server)
- OIDC Core §3.1 (an ID token from the custom server when `openid` is granted)
- RFC 8707 §2 (the `resource` parameter: the access token is for the resource asked for)
- Okta "Set up AI agent token exchange", machine access: the initiating client "authenticates with a
  custom authorization server and obtains a subject token (access token) that satisfies a delegation
  link for the AI agent"; the token's `aud` is the resource URL configured on the agent.

The same sign-in page, transactions and Authlib grant as the org server (signin.py); what differs
here: the scopes (the OIDC ones and the server's own), the server's access policy (a rule giving the
client the authorization code grant), the `resource` (one of the server's resources, or an agent
registered on it), and the tokens (issuer `{org}/oauth2/{id}`, signed with the server's key; the
access token's `aud` is the resource asked for, else the server's audience).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import events
from .config import AuthServer, PolicyRule, User
from .constants import AUTHORIZATION_CODE, ORG_SCOPES
from .errors import refuse
from .models import AuthCode, OAuthClient, SandboxRequest
from .signin import (
    OrgAuthorizationCodeGrant,
    SandboxOpenIDCode,
    check_authorization_request,
    issue_access_token,
)

if TYPE_CHECKING:
    from .core import Sandbox


def check_custom_scope(server: AuthServer, scope: str | None, client_id: str | None) -> None:
    """Refuse scopes this server does not have (its custom scopes and the OIDC ones)."""
    if not scope or not scope.split():
        raise refuse("no_default_scopes", client_id=client_id)
    scopes = scope.split()
    unknown = [s for s in scopes if s not in ORG_SCOPES and s not in server.scopes]
    if unknown:
        raise refuse("invalid_scope", client_id=client_id, unknown_scopes=" ".join(unknown))
    # OIDC Core §3.1.2.1: profile and email are OpenID scopes; they come with openid.
    if any(s in ORG_SCOPES for s in scopes) and "openid" not in scopes:
        raise refuse("openid_scope_required", client_id=client_id)


def sign_in_rules(server: AuthServer, client_id: str) -> list[PolicyRule]:
    """The access policy rules that give `client_id` the authorization code grant on `server`."""
    return [r for r in server.policies if client_id in r.clients and AUTHORIZATION_CODE in r.grant_types]


def granted_sign_in_scopes(server: AuthServer, client_id: str, requested: list[str]) -> list[str]:
    """The requested scopes the server's sign-in rules allow this client, in the order asked."""
    allowed = {s for r in sign_in_rules(server, client_id) for s in r.scopes}
    return [s for s in requested if s in allowed]


def allowed_resources(sandbox: Sandbox, server: AuthServer) -> list[str]:
    """The `resource` values a sign-in at `server` may ask for: its APIs and the agents it hosts."""
    return sandbox.server_resources(server) + sandbox.agent_resources_of(server)


def check_custom_authorization_request(
    sandbox: Sandbox, server: AuthServer, params: dict[str, list[str]], client: OAuthClient
) -> None:
    """The org server's checks with this server's scopes, then its access policy and the resource."""
    check_authorization_request(
        params, client, scope_check=lambda scope, cid: check_custom_scope(server, scope, cid)
    )
    client_id = client.get_client_id()
    if not sign_in_rules(server, client_id):
        # Okta: no rule of the server's access policy lets this client use the grant.
        raise refuse("no_matching_policy", client_id=client_id, server=server.id)
    requested = params["scope"][0].split()
    if not granted_sign_in_scopes(server, client_id, requested):
        raise refuse("no_scope_allowed", client_id=client_id, scope=" ".join(requested))
    resource = (params.get("resource") or [None])[0]
    # RFC 8707 §2: the server refuses a resource it does not issue tokens for (invalid_target).
    if resource is not None and resource not in allowed_resources(sandbox, server):
        raise refuse("unsupported_resource", resource, client_id=client_id, server=server.id)


class CustomOpenIDCode(SandboxOpenIDCode):
    """ID tokens of a custom server: its issuer, signed with its key (`kid` in the header)."""

    def __init__(self, sandbox: Sandbox, server_id: str) -> None:
        super().__init__(sandbox)
        self.server_id = server_id

    @property
    def _key(self) -> Any:
        return self.sandbox.keys.servers[self.server_id]

    def resolve_client_private_key(self, client: OAuthClient) -> Any:
        return self._key.private_key

    def get_client_algorithm(self, client: OAuthClient) -> str:
        return self._key.alg

    def get_encode_header(self, client: OAuthClient) -> dict[str, str]:
        return {"alg": self._key.alg, "kid": self._key.kid}

    def get_client_claims(self, client: OAuthClient) -> dict[str, Any]:
        claims = super().get_client_claims(client)
        claims["iss"] = self.sandbox.server_issuer(self.server_id)
        return claims


class CustomAuthorizationCodeGrant(OrgAuthorizationCodeGrant):
    """The authorization code grant at a custom server: codes bound to it, tokens signed by it."""

    AUTHORIZE_EVENT = events.AS_AUTHORIZE_CODE

    @property
    def issuing_server_id(self) -> str:  # type: ignore[override]
        return self.server.auth_server.id

    @property
    def auth_server(self) -> AuthServer:
        return self.server.auth_server

    def code_resource(self, request: SandboxRequest) -> str | None:
        return request.payload.data.get("resource") or None

    def save_authorization_code(self, code: str, request: SandboxRequest) -> None:
        # The code carries the scopes the server's sign-in rules grant (already checked non-empty).
        requested = (request.scope or "").split()
        request.scope = " ".join(
            granted_sign_in_scopes(self.auth_server, request.client.get_client_id(), requested)
        )
        super().save_authorization_code(code, request)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        code: AuthCode = self.request.authorization_code
        resources = self.request.values("resource")
        if len(resources) > 1:
            raise refuse("too_many_resources", 1, client_id=code.client_id)
        # Okta (mismatched_resource): a resource sent with the code (RFC 8707 §2.2) must be the one
        # of the authorization request.
        if resources and resources[0] != code.resource:
            raise refuse("mismatched_resource", client_id=code.client_id, user_id=code.user_id)

    def generate_token(self, user: User | None = None, scope: str | None = None, **_: Any) -> dict[str, Any]:
        """Issue the custom server's access token: Okta's layout, `aud` = the resource asked for."""
        sandbox = self.sandbox
        server = self.auth_server
        code: AuthCode = self.request.authorization_code
        return issue_access_token(
            self,
            user,
            scope,
            issuer=sandbox.server_issuer(server.id),
            # RFC 8707 §2: the token is for the resource asked for (Okta: the agent's resource URL).
            audience=code.resource or server.audience,
            key=sandbox.keys.servers[server.id],
            lifetime=sandbox.config.lifetimes.access_token,
            event=events.AS_CODE_GRANT,
            authorizationServer=server.id,
        )
