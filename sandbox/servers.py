"""The authorization servers: the org server and one per custom server id, with their metadata.

- RFC 8414 §2 (authorization server metadata), OIDC Discovery §3 (provider metadata)
- ID-JAG -04 §7.1: the IdP's metadata SHOULD list the id-jag type in
  `identity_chaining_requested_token_types_supported` (defined by draft-ietf-oauth-identity-chaining);
  §7.2: a resource server's metadata SHOULD list the id-jag profile in
  `authorization_grant_profiles_supported`, and then MUST list jwt-bearer in `grant_types_supported`.
  Whether Okta's own servers publish either is not documented (the kit's choice: both are published).
- RFC 6749 §5.2 (token endpoint errors)

Each server is an Authlib `AuthorizationServer` (Flask integration) whose client authentication
is the sandbox's (Okta's rules), whose requests take parameters from the form body only, and
whose refusals are the sandbox's `SandboxError`s.
"""

from __future__ import annotations

import logging
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import OAuth2Error, UnsupportedGrantTypeError
from flask import Response
from flask import request as flask_request

from .client_auth import authenticate_client
from .client_credentials import SandboxClientCredentialsGrant
from .config import AuthServer
from .constants import (
    AUTH_METHODS,
    AUTHORIZATION_CODE,
    CLIENT_ASSERTION_ALGS,
    CLIENT_CREDENTIALS,
    ID_JAG_GRANT_PROFILE,
    ID_JAG_TOKEN_TYPE,
    JWT_BEARER,
    ORG_SCOPES,
    PKCE_S256,
    TOKEN_EXCHANGE,
)
from .core import Sandbox
from .errors import SandboxError, refuse
from .jwt_bearer import SandboxIDJAGGrant
from .models import OAuthClient, SandboxRequest
from .signin import (
    OrgAuthorizationCodeGrant,
    SandboxCodeChallenge,
    SandboxOpenIDCode,
    check_authorization_request,
    check_scope,
    error_redirect,
)
from .signin_custom import (
    CustomAuthorizationCodeGrant,
    CustomOpenIDCode,
    check_custom_authorization_request,
    check_custom_scope,
)
from .token_exchange import SUBJECT_TOKEN_HANDLERS, TokenExchangeGrant

log = logging.getLogger("sandbox.servers")


def request_params() -> dict[str, list[str]]:
    """Return the current request's parameters: the form body for POST, the query otherwise."""
    source = flask_request.form if flask_request.method == "POST" else flask_request.args
    return {key: source.getlist(key) for key in source}


class SandboxServer(AuthorizationServer):
    """What the org server and the custom servers share: clients, authentication, errors."""

    GRANT_TYPES: tuple[str, ...] = ()

    def __init__(self, sandbox: Sandbox, *, token_url: str) -> None:
        super().__init__()
        self.sandbox = sandbox
        self.token_url = token_url

    def query_client(self, client_id: str) -> OAuthClient | None:
        return self.sandbox.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        return None  # every token is a self-contained, signed JWT

    def authenticate_client(
        self, request: SandboxRequest, methods: Any, endpoint: str = "token"
    ) -> OAuthClient:
        # Okta's rules replace Authlib's method-by-method trial (client_auth.py).
        return authenticate_client(self.sandbox, request, self.token_url)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        # The URL as the issuer names it, not as the Host header does (Authlib checks its transport).
        uri = self.sandbox.org_url + flask_request.path
        return SandboxRequest(flask_request.method, uri, flask_request.headers, request_params())

    def handle_error_response(self, request: Any, error: OAuth2Error) -> Response:
        if isinstance(error, SandboxError) and error.redirect_uri:
            return error_redirect(error, error.redirect_uri, error.state)
        if isinstance(error, SandboxError):
            raise error
        raise self.unmapped(error)

    def unmapped(self, error: OAuth2Error) -> SandboxError:
        """Turn an Authlib refusal the sandbox did not pre-empt into a generic one, and count it."""
        self.sandbox.count_unexpected()
        log.error("unmapped Authlib refusal: %r %s", error, error.description)
        description = str(error.get_error_description() or error.error)
        if error.error == "invalid_grant":
            return refuse("invalid_grant", description=description)
        if error.error == "invalid_client":
            return refuse("invalid_client", description=description)
        if error.error == "invalid_scope":
            return refuse("invalid_scope", description=description)
        return refuse("invalid_request", description=description)

    def create_token_response(self, request: Any = None) -> Response:
        """Find the grant, validate, issue; every refusal is raised as a SandboxError."""
        oauth_request = self.create_oauth2_request(request)
        grant_type = oauth_request.payload.grant_type
        if not grant_type:
            raise refuse("token_request_missing_grant_type", ", ".join(self.GRANT_TYPES))
        try:
            grant = self.get_token_grant(oauth_request)
        except UnsupportedGrantTypeError:
            if grant_type == CLIENT_CREDENTIALS and isinstance(self, OrgServer):
                # Okta: the client credentials grant is served by custom authorization servers only.
                raise refuse("unsupported_grant_type_client_creds_org_as", grant_type=grant_type) from None
            raise refuse(
                "unsupported_grant_type", ", ".join(self.GRANT_TYPES), grant_type=grant_type
            ) from None
        try:
            grant.validate_token_request()
            return self.handle_response(*grant.create_token_response())
        except SandboxError:
            raise
        except OAuth2Error as error:
            raise self.unmapped(error) from None


class OrgServer(SandboxServer):
    """The org authorization server: authorize + code (step 1) and token exchange (step 2)."""

    GRANT_TYPES = (AUTHORIZATION_CODE, TOKEN_EXCHANGE)

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox, token_url=sandbox.token_url)
        self.register_grant(
            OrgAuthorizationCodeGrant, [SandboxCodeChallenge(required=True), SandboxOpenIDCode(sandbox)]
        )
        self.register_grant(TokenExchangeGrant)

    def validate_requested_scope(self, scope: str | None) -> None:
        check_scope(scope, None)

    @property
    def authorize_url(self) -> str:
        """`{org}/oauth2/v1/authorize`."""
        return self.sandbox.authorize_url

    def check_authorization_request(self, params: dict[str, list[str]], client: OAuthClient) -> None:
        """The checks of an authorization request that answer by redirect (signin.py)."""
        check_authorization_request(params, client)

    def transaction_key(self, transaction_id: str) -> str:
        """Where a pending sign-in of this server is kept (the org's: the id itself)."""
        return transaction_id

    def metadata(self) -> dict[str, Any]:
        """The org server's metadata (RFC 8414 §2, OIDC Discovery §3), issuer = the org URL."""
        sandbox = self.sandbox
        return {
            "issuer": sandbox.issuer,
            "authorization_endpoint": sandbox.authorize_url,
            "token_endpoint": sandbox.token_url,
            "userinfo_endpoint": sandbox.userinfo_url,
            "jwks_uri": sandbox.keys_url,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": list(self.GRANT_TYPES),
            "subject_types_supported": ["public"],
            "scopes_supported": list(ORG_SCOPES),
            "id_token_signing_alg_values_supported": [sandbox.keys.org.alg],
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "token_endpoint_auth_signing_alg_values_supported": list(CLIENT_ASSERTION_ALGS),
            "code_challenge_methods_supported": [PKCE_S256],
            "claims_supported": [
                "iss",
                "sub",
                "aud",
                "iat",
                "exp",
                "auth_time",
                "amr",
                "nonce",
                "at_hash",
                "jti",
                "ver",
                "idp",
                "name",
                "preferred_username",
                "email",
            ],
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            # Identity chaining: the token types a token exchange here can issue, and accept.
            "identity_chaining_requested_token_types_supported": [ID_JAG_TOKEN_TYPE],
            "token_exchange_subject_token_types_supported": sorted(SUBJECT_TOKEN_HANDLERS),
        }


class CustomServer(SandboxServer):
    """A custom authorization server (`{org}/oauth2/{id}`): the JWT bearer grant for ID-JAGs (step 3),
    and a sign-in (authorization code + PKCE) for apps its policy allows (signin_custom.py)."""

    GRANT_TYPES = (AUTHORIZATION_CODE, CLIENT_CREDENTIALS, JWT_BEARER)

    def __init__(self, sandbox: Sandbox, auth_server: AuthServer) -> None:
        super().__init__(sandbox, token_url=sandbox.server_token_url(auth_server.id))
        self.auth_server = auth_server
        self.register_grant(
            CustomAuthorizationCodeGrant,
            [SandboxCodeChallenge(required=True), CustomOpenIDCode(sandbox, auth_server.id)],
        )
        self.register_grant(SandboxClientCredentialsGrant)
        self.register_grant(SandboxIDJAGGrant)

    def validate_requested_scope(self, scope: str | None) -> None:
        # Authlib asks at the sign-in (checked before, by check_authorization_request) and at the JWT
        # bearer grant, which has no scope parameter (refused before this runs when there is one).
        if scope:
            check_custom_scope(self.auth_server, scope, None)

    @property
    def authorize_url(self) -> str:
        """`{org}/oauth2/{id}/v1/authorize`."""
        return self.sandbox.server_authorize_url(self.auth_server.id)

    def check_authorization_request(self, params: dict[str, list[str]], client: OAuthClient) -> None:
        """The org server's checks with this server's scopes, access policy and resources."""
        check_custom_authorization_request(self.sandbox, self.auth_server, params, client)

    def transaction_key(self, transaction_id: str) -> str:
        """A pending sign-in of this server: kept apart, so the org's form cannot complete it."""
        return f"{self.auth_server.id}:{transaction_id}"

    def metadata(self) -> dict[str, Any]:
        """The custom server's metadata (RFC 8414 §2): public scopes, jwt-bearer, the id-jag profile."""
        sandbox = self.sandbox
        sid = self.auth_server.id
        return {
            "issuer": sandbox.server_issuer(sid),
            "authorization_endpoint": sandbox.server_authorize_url(sid),
            "token_endpoint": sandbox.server_token_url(sid),
            "jwks_uri": sandbox.server_keys_url(sid),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": list(self.GRANT_TYPES),
            "code_challenge_methods_supported": [PKCE_S256],
            "authorization_grant_profiles_supported": [ID_JAG_GRANT_PROFILE],
            "scopes_supported": self.auth_server.public_scopes,
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "token_endpoint_auth_signing_alg_values_supported": list(CLIENT_ASSERTION_ALGS),
            "subject_types_supported": ["public"],
            "claims_supported": [
                "ver",
                "jti",
                "iss",
                "aud",
                "iat",
                "exp",
                "cid",
                "uid",
                "scp",
                "sub",
                "auth_time",
            ],
            "request_parameter_supported": False,
        }
