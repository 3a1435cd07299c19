"""Step 6 (notebook 06): machine access at a custom server: the client credentials grant, a service's token.

- RFC 6749 §4.4 (client credentials grant: confidential clients only, no refresh token)
- RFC 8707 §2 (the `resource` parameter: the token is for the resource asked for)
- Okta "Set up AI agent token exchange" (2026.08 docs), machine access: "To obtain a subject token
  (`subject_token`) for itself, the client sends a request to an Okta custom authorization server to
  obtain an access token. Use the Client Credentials grant type … The request includes the `resource`
  parameter. The parameter value is the resource URL that's configured on the agent"; the token's
  `aud` is that resource URL.
- Okta's catalog: `unsupported_grant_type_client_creds_org_as` (only at a custom server),
  `no_default_scopes`, `no_matching_scope`, `no_matching_policy`, `no_scope_allowed`,
  `unsupported_resource`.

The token names no user: `sub` is the client's id and `sub_profile` is "service", as in Okta's
machine-access examples. The client hands it to an agent, which exchanges it for an ID-JAG through a
machine-access link (token_exchange.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant

from . import events
from .access_tokens import TokenSubject, okta_access_token_claims
from .config import AuthServer
from .constants import AUTH_METHODS, CLIENT_CREDENTIALS, OIDC_SCOPES
from .errors import refuse
from .models import OAuthClient, SandboxRequest
from .signin_custom import allowed_resources

if TYPE_CHECKING:
    from .core import Sandbox


class SandboxClientCredentialsGrant(ClientCredentialsGrant):
    """A service's own access token at one custom server, with Okta's checks and errors."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    request: SandboxRequest

    @property
    def sandbox(self) -> Sandbox:
        return self.server.sandbox

    @property
    def auth_server(self) -> AuthServer:
        return self.server.auth_server

    def authenticate_token_endpoint_client(self) -> OAuthClient:
        return self.server.authenticate_client(self.request, self.TOKEN_ENDPOINT_AUTH_METHODS)

    def validate_token_request(self) -> None:
        """Check the client, the scopes, the access policy and the resource (RFC 6749 §4.4.2)."""
        client = self.authenticate_token_endpoint_client()
        client_id = client.get_client_id()
        server = self.auth_server
        # RFC 6749 §4.4: "The client credentials grant type MUST only be used by confidential clients."
        if client.config.is_public or not client.check_grant_type(CLIENT_CREDENTIALS):
            raise refuse("unauthorized_client", ", ".join(client.config.grant_types), client_id=client_id)
        requested = (self.request.form.get("scope") or "").split()
        if not requested:
            # The kit's choice: the sandbox's servers have no default scopes, so `scope` is required.
            raise refuse("no_default_scopes", client_id=client_id)
        if any(s in OIDC_SCOPES for s in requested) or any(s not in server.scopes for s in requested):
            # No user signs in: OpenID scopes have nothing to describe (OIDC Core §3.1.2.1).
            raise refuse("no_matching_scope", client_id=client_id, scope=" ".join(requested))
        rules = [r for r in server.policies if client_id in r.clients and CLIENT_CREDENTIALS in r.grant_types]
        if not rules:
            raise refuse("no_matching_policy", client_id=client_id, server=server.id)
        allowed = {s for r in rules for s in r.scopes}
        granted = [s for s in requested if s in allowed]
        if not granted:
            raise refuse("no_scope_allowed", client_id=client_id, scope=" ".join(requested))
        resources = self.request.values("resource")
        if len(resources) > 1:
            raise refuse("too_many_resources", 1, client_id=client_id)
        resource = resources[0] if resources else None
        # RFC 8707 §2: a resource the server does not issue tokens for is refused (invalid_target).
        if resource is not None and resource not in allowed_resources(self.sandbox, server):
            raise refuse("unsupported_resource", resource, client_id=client_id, server=server.id)
        self.request.client = client
        self.request.scope = " ".join(granted)
        self._resource = resource

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """Issue the access token (RFC 6749 §4.4.3: no refresh token)."""
        sandbox = self.sandbox
        server = self.auth_server
        lifetime = sandbox.config.lifetimes.access_token
        client_id = self.request.client.get_client_id()
        scope = self.request.scope
        claims = okta_access_token_claims(
            issuer=sandbox.server_issuer(server.id),
            # Okta machine access: the token's `aud` is the agent's resource URL the client asked for.
            audience=self._resource or server.audience,
            client_id=client_id,
            subject=TokenSubject.for_service(client_id),
            scope=scope,
            lifetime=lifetime,
        )
        events.record_success(
            events.ACCESS_TOKEN_GRANT,
            client_id=client_id,
            user_id=None,
            issued=events.IssuedToken("access_token", claims["jti"], claims["exp"], claims["aud"], scope),
            authorizationServer=server.id,
            grantedScopes=scope,
        )
        body = {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "access_token": sandbox.keys.servers[server.id].sign(claims),
            "scope": scope,
        }
        return 200, body, self.TOKEN_RESPONSE_HEADER
