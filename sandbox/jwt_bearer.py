"""Step 3 (notebook 03): a custom server's JWT bearer grant, redeeming an ID-JAG for an access token.

- RFC 7523 §2.1 (JWT bearer grant), §3 (checks of the assertion); RFC 7521 §5.2
- draft-ietf-oauth-identity-assertion-authz-grant-04 §4.4.1 (processing an ID-JAG), §3.1 (its
  claims), §4.4.3 (no refresh token)
- Okta: `id_jag_*`, `jwt_bearer_grant_*`, `no_matching_policy`, `id_jag_scopes_in_request`; and
  "Set up AI agent token exchange" (2026.08 docs), "Exchange ID-JAG for access token": an optional
  `resource` parameter; with it the access token's `aud` is that resource URL, without it the custom
  server's configured audience
- MCP Enterprise-Managed Authorization §5.1: the access token "MUST be audience-restricted to the MCP
  Server identified by the `resource` claim in the ID-JAG"; §7.4.2: jti replay detection REQUIRED

Built on Authlib's `IDJAGGrant` (authlib.oauth2.drafts, Authlib 1.9.6). Authlib raises its own
errors with its own texts, so `validate_token_request` runs every check first, in Okta's terms,
and then lets Authlib's flow run (its checks pass by then); the hooks it calls
(`resolve_issuer_key`, `authenticate_user`, `check_jti`, `check_id_jag_permission`) do the
stateful parts: the replay cache and the policy.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from authlib.oauth2.drafts import IDJAGGrant
from authlib.oauth2.rfc6749.errors import OAuth2Error

from . import events
from .access_tokens import SERVICE_PROFILE, TokenSubject, okta_access_token_claims
from .config import AuthServer
from .constants import AUTH_METHODS, ID_JAG_TYP, JWT_BEARER
from .errors import SandboxError, refuse
from .jwts import MalformedJWT, SignatureInvalid, is_number, parse_unverified, verify_signature
from .models import OAuthClient, SandboxRequest

if TYPE_CHECKING:
    from .core import Sandbox

log = logging.getLogger("sandbox.jwt_bearer")


class SandboxIDJAGGrant(IDJAGGrant):
    """Redeem an ID-JAG at one custom authorization server, with Okta's checks and errors."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    request: SandboxRequest

    def __init__(self, request: SandboxRequest, server: Any) -> None:
        super().__init__(request, server)
        self.LEEWAY = server.sandbox.config.lifetimes.clock_skew

    @property
    def sandbox(self) -> Sandbox:
        return self.server.sandbox

    @property
    def auth_server(self) -> AuthServer:
        return self.server.auth_server

    @property
    def issuer(self) -> str:
        return self.sandbox.server_issuer(self.auth_server.id)

    def authenticate_token_endpoint_client(self) -> OAuthClient:
        return self.server.authenticate_client(self.request, self.TOKEN_ENDPOINT_AUTH_METHODS)

    # --- Checks -------------------------------------------------------------------------------

    def validate_token_request(self) -> None:
        """Check the request and the ID-JAG in Okta's terms, then run Authlib's flow."""
        client = self.authenticate_token_endpoint_client()
        self._check_request_and_assertion(client)
        try:
            super().validate_token_request()
        except SandboxError:
            raise
        except OAuth2Error as exc:  # pragma: no cover - every Authlib refusal is pre-empted above
            self.sandbox.count_unexpected()
            log.error("unmapped Authlib refusal in the JWT bearer grant: %r %s", exc, exc.description)
            raise refuse("invalid_grant", description=str(exc.description or "Invalid grant")) from None

    def _check_request_and_assertion(self, client: OAuthClient) -> None:
        sandbox = self.sandbox
        client_id = client.get_client_id()
        form = self.request.form
        lifetimes = sandbox.config.lifetimes
        if not client.check_grant_type(JWT_BEARER):
            raise refuse("unauthorized_client", ", ".join(client.config.grant_types), client_id=client_id)
        # Okta: the scopes come from the ID-JAG; a scope parameter is refused.
        if "scope" in form:
            raise refuse("id_jag_scopes_in_request", client_id=client_id)
        if not form.get("assertion"):
            raise refuse("missing_token_request_parameter", "assertion", client_id=client_id)
        try:
            jwt = parse_unverified(form["assertion"])
        except MalformedJWT as exc:
            raise refuse(
                "invalid_grant",
                description="The 'assertion' is not a signed JWT.",
                client_id=client_id,
                detail=str(exc),
            ) from None
        # ID-JAG -04 §4.4.1 (and §3.1): the typ header MUST be oauth-id-jag+jwt.
        if jwt.typ != ID_JAG_TYP:
            raise refuse(
                "invalid_grant",
                description=f"The assertion's 'typ' header must be '{ID_JAG_TYP}'.",
                client_id=client_id,
                typ=str(jwt.typ),
            )
        claims = jwt.claims
        # RFC 7523 §3 / ID-JAG -04 §4.4.1: the issuer must be one this server trusts (the org).
        if claims.get("iss") != sandbox.issuer:
            raise refuse("id_jag_untrusted_issuer", client_id=client_id, iss=str(claims.get("iss")))
        org_key = sandbox.keys.org
        if jwt.kid != org_key.kid:
            raise refuse("id_jag_invalid_signature", client_id=client_id, detail=f"unknown kid {jwt.kid!r}")
        try:
            verify_signature(jwt, org_key.public_key, [org_key.alg])
        except SignatureInvalid as exc:
            raise refuse("id_jag_invalid_signature", client_id=client_id, detail=str(exc)) from None
        # ID-JAG -04 §4.4.1: aud is this server's issuer, a string or an array of exactly one element.
        aud = claims.get("aud")
        if not (aud == self.issuer or aud == [self.issuer]):
            raise refuse("jwt_bearer_grant_invalid_audience", client_id=client_id, aud=str(aud))
        now = time.time()
        skew = lifetimes.clock_skew
        exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
        if not is_number(exp) or not is_number(iat):
            raise refuse(
                "invalid_grant",
                description="The id-jag must contain numeric 'exp' and 'iat' claims.",
                client_id=client_id,
            )
        if exp < now - skew:
            raise refuse("id_jag_expired", client_id=client_id, user_id=claims.get("sub"))
        if iat > now + skew or (nbf is not None and (not is_number(nbf) or nbf > now + skew)):
            raise refuse("id_jag_issued_in_future", client_id=client_id)
        # Okta: an ID-JAG lives at most 5 minutes.
        if exp - iat > lifetimes.id_jag_max_lifetime:
            raise refuse("id_jag_lifetime_too_long", client_id=client_id)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise refuse(
                "invalid_grant", description="The id-jag must contain a 'jti' claim.", client_id=client_id
            )
        subject = claims.get("sub")
        if not isinstance(subject, str) or self._subject_of(claims) is None:
            raise refuse("id_jag_invalid_subject", client_id=client_id)
        # ID-JAG -04 §4.4.1: client_id MUST be the authenticated client.
        if claims.get("client_id") != client_id:
            raise refuse(
                "id_jag_client_mismatch", client_id=client_id, id_jag_client_id=str(claims.get("client_id"))
            )
        if "cnf" in claims:
            raise refuse(
                "invalid_grant",
                description="The id-jag's 'cnf' confirmation method is not supported.",
                client_id=client_id,
            )
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.split():
            raise refuse("id_jag_lacking_scopes", client_id=client_id, user_id=subject)
        self._check_resource(claims, client_id)
        # Seen before? The recording itself happens in check_jti, inside Authlib's flow.
        if sandbox.id_jag_replay.seen(sandbox.issuer, jti):
            raise refuse("id_jag_replayed", client_id=client_id, user_id=subject)

    def _subject_of(self, claims: dict[str, Any]) -> TokenSubject | None:
        """The user the ID-JAG names, or the client it names as a service (Okta's machine access)."""
        subject = claims.get("sub")
        user = self.sandbox.config.user_by_id(subject) if isinstance(subject, str) else None
        if user is not None:
            return TokenSubject.for_user(user)
        # Okta's machine-access examples: `"sub_profile": "service"` with a client's id in `sub`.
        if claims.get("sub_profile") == SERVICE_PROFILE and subject in self.sandbox.clients:
            return TokenSubject.for_service(subject)
        return None

    def _check_resource(self, claims: dict[str, Any], client_id: str) -> None:
        resources = self.request.values("resource")
        if len(resources) > 1:
            raise refuse("too_many_resources", 1, client_id=client_id)
        claimed = claims.get("resource")
        if resources and resources[0] != claimed:
            raise refuse("id_jag_resource_mismatch", client_id=client_id)
        if claimed is not None and claimed not in self.sandbox.server_resources(self.auth_server):
            raise refuse("id_jag_resource_not_allowed_for_as", client_id=client_id)
        # The resource the access token is for: the ID-JAG's (the parameter, when sent, equals it).
        self.request.granted_resource = claimed

    # --- Authlib hooks ------------------------------------------------------------------------

    def get_audiences(self) -> list[str]:
        return [self.issuer]

    def resolve_issuer_key(self, issuer: str, headers: dict[str, Any]) -> Any:
        return self.sandbox.keys.org.public_key

    def authenticate_user(self, subject: str) -> TokenSubject:
        who = self._subject_of(self.request.id_jag_claims)
        if who is None:  # pragma: no cover - checked before Authlib's flow
            raise refuse("id_jag_invalid_subject", client_id=self.request.id_jag_claims.get("client_id"))
        return who

    def check_jti(self, claims: dict[str, Any], jti: str) -> bool:
        # Okta (id_jag_replayed) and MCP EMA §7.4.2 (replay detection REQUIRED for the assertion's
        # lifetime): an ID-JAG is redeemed once; remember it until it expires. ID-JAG -04 §4.4.3
        # instead lets a client re-submit the same ID-JAG; the sandbox follows Okta.
        expires = float(claims["exp"]) + self.LEEWAY
        # MCP EMA §7.4.2: replay detection REQUIRED for the lifetime; a full cache answers 429.
        who = {"client_id": claims.get("client_id"), "user_id": claims.get("sub")}
        if not self.sandbox.id_jag_replay.use(self.sandbox.issuer, jti, expires, **who):
            raise refuse("id_jag_replayed", client_id=claims.get("client_id"), user_id=claims.get("sub"))
        return True

    def check_id_jag_permission(self, client: OAuthClient, user: TokenSubject, scopes: list[str]) -> bool:
        """Apply the server's access policy: a rule for this client and grant; scopes = ID-JAG ∩ rule."""
        client_id = client.get_client_id()
        rules = [
            r for r in self.auth_server.policies if client_id in r.clients and JWT_BEARER in r.grant_types
        ]
        if not rules:
            raise refuse(
                "no_matching_policy", client_id=client_id, user_id=user.id, server=self.auth_server.id
            )
        allowed = {s for r in rules for s in r.scopes}
        granted = [s for s in scopes if s in allowed]
        if not granted:
            raise refuse("no_scope_allowed", client_id=client_id, user_id=user.id, scope=" ".join(scopes))
        self.request.scope = " ".join(granted)
        return True

    def generate_token(
        self, user: TokenSubject | None = None, scope: str | None = None, **_: Any
    ) -> dict[str, Any]:
        """Issue the access token: Okta's claim layout, signed by this server's key, with `kid`."""
        sandbox = self.sandbox
        lifetime = sandbox.config.lifetimes.access_token
        id_jag = self.request.id_jag_claims
        if user is None:  # pragma: no cover - authenticate_user returned the subject or refused
            raise refuse("id_jag_invalid_subject", client_id=id_jag.get("client_id"))
        claims = okta_access_token_claims(
            issuer=self.issuer,
            # Okta ("Exchange ID-JAG for access token") and MCP EMA §5.1: the token is for the resource
            # the ID-JAG names (and the request repeats); without one, the server's audience.
            audience=self.request.granted_resource or self.auth_server.audience,
            client_id=self.request.client.get_client_id(),
            subject=user,
            scope=scope,
            lifetime=lifetime,
            auth_time=id_jag.get("auth_time"),
        )
        if isinstance(id_jag.get("act"), dict):
            # RFC 8693 §4.1, and Okta's delegation examples: the delegation chain stays in the token.
            claims["act"] = id_jag["act"]
        events.record_success(
            events.ACCESS_TOKEN_GRANT,
            client_id=claims["cid"],
            user_id=user.user.id if user.user is not None else None,
            issued=events.IssuedToken("access_token", claims["jti"], claims["exp"], claims["aud"], scope),
            authorizationServer=self.auth_server.id,
            grantedScopes=scope,
        )
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "access_token": sandbox.keys.servers[self.auth_server.id].sign(claims),
            "scope": scope,
        }
