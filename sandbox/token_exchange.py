"""Step 2 (notebook 02): the org server's RFC 8693 token exchange of a subject token for an ID-JAG.

- RFC 8693 §2.1 (request), §2.2.1 (response: issued_token_type, token_type N_A), §2.2.2 (errors),
  §4.1 (the `act` claim: who acts for the subject, earlier actors nested)
- draft-ietf-oauth-identity-assertion-authz-grant-04 §4.3 (request), §4.3.3 (the IdP's processing;
  the pending -05 rule: a subject token whose `typ` names another type is refused), §4.3.4
  (response), §3.1 (the ID-JAG's claims)
- Okta "Set up AI agent token exchange" (developer docs, 2026.08): resource connections; `openid`
  scopes refused; user access ("Okta accepts only ID token subject tokens minted for the current
  requesting client, which is the AI agent") and machine access ("Okta accepts access tokens minted for
  a different client as subject tokens. This requires a delegation link authorizing that client to
  delegate to your AI agent, and the token must target your agent's resource URL.")

Authlib has no RFC 8693 server grant, so this one is written on Authlib's `BaseGrant` and
`TokenEndpointMixin`. Subject tokens are handled by type through `SUBJECT_TOKEN_HANDLERS`:

- an ID token the org server issued to the requesting client (Okta's user access; the default flow);
- an access token of one of the org's custom servers, issued to another client, aimed at the
  requesting agent's resource URL, and covered by a delegation link from that client to the agent
  (Okta's machine access). Two kinds are accepted:
  - the client's own token, from the client credentials grant (no user): Okta's documented machine
    access. The ID-JAG names the client (`sub`, `"sub_profile": "service"`), as Okta's examples do;
  - a token the client obtained for a signed-in user (authorization code at the custom server): the
    kit's reading of "the origin application sends the user's token to the AI Agent". The ID-JAG
    names the user.
  Either way `act` records the chain: the agent (`"sub_profile": "ai_agent"`), then the client.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749.grants import BaseGrant, TokenEndpointMixin

from . import events
from .access_tokens import AI_AGENT_PROFILE, SERVICE_PROFILE, TokenSubject
from .config import AuthServer
from .constants import (
    ACCESS_TOKEN_TYP,
    ACCESS_TOKEN_TYPE,
    AUTH_METHODS,
    ID_JAG_TOKEN_TYPE,
    ID_JAG_TYP,
    ID_TOKEN_TYPE,
    OIDC_SCOPES,
    TOKEN_EXCHANGE,
)
from .errors import refuse
from .external import ExternalTarget, external_target
from .jwts import MalformedJWT, SignatureInvalid, is_number, parse_unverified, verify_signature
from .models import OAuthClient, SandboxRequest

if TYPE_CHECKING:
    from .core import Sandbox


@dataclass(frozen=True)
class Subject:
    """Who a verified subject token speaks for, how they signed in, and who handed the token on."""

    who: TokenSubject
    claims: dict[str, Any]
    token_type: str
    #: The origin app that delegated (an access token's `cid`) and the link that allowed it.
    delegated_by: str | None = None
    link: str | None = None


class SubjectTokenHandler:
    """Verifies one `subject_token_type` and returns the subject, or raises Okta's refusal."""

    token_type: str = ""

    def resolve(self, sandbox: Sandbox, token: str, client: OAuthClient) -> Subject:
        raise NotImplementedError


class IdTokenSubject(SubjectTokenHandler):
    """An ID token the org server issued to this very client (ID-JAG -04 §4.3.3; Okta user access)."""

    token_type = ID_TOKEN_TYPE

    def resolve(self, sandbox: Sandbox, token: str, client: OAuthClient) -> Subject:
        client_id = client.get_client_id()

        def invalid(why: str) -> Exception:
            return refuse("invalid_subject_token", client_id=client_id, detail=why)

        try:
            jwt = parse_unverified(token)
        except MalformedJWT as exc:
            raise invalid(f"not a JWT: {exc}") from None
        # draft -04 §4.3.3, the pending -05 rule: "a token ... issued for a different purpose, such as
        # an access token, an ID-JAG, or a client assertion, MUST NOT be accepted as an Identity
        # Assertion"; a typ naming another type (at+jwt, oauth-id-jag+jwt) is refused. An ID token
        # carries no typ, or "JWT".
        if jwt.typ not in (None, "JWT"):
            raise invalid(f"typ is {jwt.typ!r}: not an ID token")
        org_key = sandbox.keys.org
        # Key chosen by kid among the org keys only: a client assertion or a custom server's
        # token names a key the org server does not have.
        if jwt.kid != org_key.kid:
            raise invalid(f"kid {jwt.kid!r} is not a key of the org authorization server")
        try:
            verify_signature(jwt, org_key.public_key, [org_key.alg])
        except SignatureInvalid as exc:
            raise invalid(f"signature: {exc}") from None
        claims = jwt.claims
        if claims.get("iss") != sandbox.issuer:
            raise invalid("iss is not the org authorization server")
        if "scp" in claims or "cid" in claims or str(claims.get("jti", "")).startswith("AT."):
            raise invalid("an access token is not an ID token")
        now = time.time()
        skew = sandbox.config.lifetimes.clock_skew
        if not is_number(claims.get("exp")) or not is_number(claims.get("iat")):
            raise invalid("exp and iat are required")
        if claims["exp"] < now - skew:
            raise refuse(
                "token_exchange_subject_token_expired", client_id=client_id, user_id=claims.get("sub")
            )
        if claims["iat"] > now + skew:
            raise invalid("issued in the future")
        # draft -04 §4.3.3: the identity assertion's audience MUST be the client making the request.
        aud = claims.get("aud")
        if not (aud == client_id or (isinstance(aud, list) and client_id in aud)):
            raise invalid(f"aud is {aud!r}, not the authenticated client")
        if claims.get("azp") not in (None, client_id):
            raise invalid("azp is not the authenticated client")
        user = sandbox.config.user_by_id(claims.get("sub")) if isinstance(claims.get("sub"), str) else None
        if user is None:
            raise invalid("sub is not a user of this org")
        return Subject(who=TokenSubject.for_user(user), claims=claims, token_type=self.token_type)


class AccessTokenSubject(SubjectTokenHandler):
    """Okta's machine access: another client's access token, accepted through a delegation link.

    The checks, in order, and Okta's answer to each (the fidelity table in docs/ says why each code
    was chosen; Okta documents the rules, not which error answers each):

    1. a JWT; an access token, not an ID-JAG (`typ`)          invalid_subject_token / _type
    2. issued by a custom server of this org                   invalid_subject_token_authorization_server
       (not the org server; a foreign issuer)                  invalid_subject_token_issuer_not_allowed
    3. signature with that server's key, picked by `kid`       invalid_subject_token
    4. an access token's claims (`cid`, `scp`), not an ID token invalid_subject_token_type
    5. unexpired (`exp`), not issued in the future (`iat`)     token_exchange_subject_token_expired / …
    6. the agent is registered as a resource, on that server   invalid_subject_token_no_delegation_link /
                                                               invalid_subject_token_authorization_server
    7. `aud` is the agent's resource URL                       invalid_subject_token_no_delegation_link
    8. a delegation link from the token's client to the agent  invalid_subject_token_client_not_registered
    9. no user (`uid` absent): the client itself (a service); a `uid` must be a user of this org
                                                               invalid_subject_token
    """

    token_type = ACCESS_TOKEN_TYPE

    def resolve(self, sandbox: Sandbox, token: str, client: OAuthClient) -> Subject:
        agent = client.get_client_id()

        def invalid(why: str, **context: Any) -> Exception:
            return refuse("invalid_subject_token", client_id=agent, detail=why, **context)

        try:
            jwt = parse_unverified(token)
        except MalformedJWT as exc:
            raise invalid(f"not a JWT: {exc}") from None
        # RFC 8693 §2.1: subject_token_type names the kind of token; an ID-JAG is not an access token.
        if jwt.typ not in (None, "JWT", ACCESS_TOKEN_TYP, "application/" + ACCESS_TOKEN_TYP):
            raise refuse("invalid_subject_token_type", client_id=agent, typ=str(jwt.typ))
        claims = jwt.claims
        server = self._issuing_server(sandbox, claims.get("iss"), agent)
        signing_key = sandbox.keys.servers[server.id]
        # The key is picked by kid among the issuing custom server's keys, never from the token.
        if jwt.kid != signing_key.kid:
            raise invalid(f"kid {jwt.kid!r} is not a key of the authorization server {server.id}")
        try:
            verify_signature(jwt, signing_key.public_key, [signing_key.alg])
        except SignatureInvalid as exc:
            raise invalid(f"signature: {exc}") from None
        # Okta's access token layout: the client in cid, the scopes in scp.
        if not isinstance(claims.get("cid"), str) or not isinstance(claims.get("scp"), list):
            raise refuse(
                "invalid_subject_token_type", client_id=agent, detail="no cid and scp: not an access token"
            )
        origin = claims["cid"]
        user_id = claims.get("uid") if isinstance(claims.get("uid"), str) else None
        self._check_times(sandbox, claims, agent, user_id)

        # Machine access: the agent must be registered as a resource, on the server that issued the token.
        registration = sandbox.config.agent_resources.get(agent)
        if registration is None:
            raise refuse(
                "invalid_subject_token_no_delegation_link",
                client_id=agent,
                user_id=user_id,
                subjectTokenClient=origin,
                detail="the agent is not registered as a resource (no machine access configured)",
            )
        if registration.authorization_server != server.id:
            raise refuse(
                "invalid_subject_token_authorization_server",
                client_id=agent,
                user_id=user_id,
                detail=f"issued by {server.id}; agent resource on {registration.authorization_server}",
            )
        # Okta: "the token must target your agent's resource URL".
        resource_url = sandbox.expand(registration.resource_url)
        aud = claims.get("aud")
        if not (aud == resource_url or aud == [resource_url]):
            raise refuse(
                "invalid_subject_token_no_delegation_link",
                client_id=agent,
                user_id=user_id,
                subjectTokenClient=origin,
                detail=f"aud is {aud!r}, not the agent's resource URL {resource_url}",
            )
        # Okta: "a delegation link authorizing that client to delegate to your AI agent".
        link = sandbox.config.delegation_link(origin, agent)
        if link is None:
            raise refuse(
                "invalid_subject_token_client_not_registered",
                client_id=agent,
                user_id=user_id,
                subjectTokenClient=origin,
                detail=f"no delegation link from {origin} to {agent}",
            )
        if user_id is None:
            # Okta's machine access: the client's own token (client credentials grant); the client
            # is the subject, a service.
            if claims.get("sub") != origin:
                raise invalid("a token without uid must name its client in sub", subjectTokenClient=origin)
            who = TokenSubject.for_service(origin)
        else:
            user = sandbox.config.user_by_id(user_id)
            if user is None:
                raise invalid("uid is not a user of this org", subjectTokenClient=origin)
            who = TokenSubject.for_user(user)
        return Subject(
            who=who, claims=claims, token_type=self.token_type, delegated_by=origin, link=link.name
        )

    @staticmethod
    def _issuing_server(sandbox: Sandbox, iss: Any, agent: str) -> AuthServer:
        """Return the custom server named by `iss`, or refuse: the org server, an unknown id, another org."""
        prefix = sandbox.org_url + "/oauth2/"
        if isinstance(iss, str) and iss.startswith(prefix):
            server = sandbox.config.servers.get(iss[len(prefix) :])
            if server is not None:
                return server
        if iss == sandbox.issuer or (isinstance(iss, str) and iss.startswith(prefix)):
            # The org server (its ID tokens and access tokens) or an unknown server id of this org.
            raise refuse("invalid_subject_token_authorization_server", client_id=agent, iss=str(iss))
        raise refuse("invalid_subject_token_issuer_not_allowed", client_id=agent, iss=str(iss))

    @staticmethod
    def _check_times(sandbox: Sandbox, claims: dict[str, Any], agent: str, user_id: str | None) -> None:
        now = time.time()
        skew = sandbox.config.lifetimes.clock_skew
        if not is_number(claims.get("exp")) or not is_number(claims.get("iat")):
            raise refuse("invalid_subject_token", client_id=agent, detail="exp and iat are required")
        if claims["exp"] < now - skew:
            raise refuse("token_exchange_subject_token_expired", client_id=agent, user_id=user_id)
        if claims["iat"] > now + skew:
            raise refuse("invalid_subject_token", client_id=agent, detail="issued in the future")


#: The subject token types the org server accepts, and who verifies each.
SUBJECT_TOKEN_HANDLERS: dict[str, SubjectTokenHandler] = {
    h.token_type: h for h in (IdTokenSubject(), AccessTokenSubject())
}


class TokenExchangeGrant(BaseGrant, TokenEndpointMixin):
    """RFC 8693 token exchange issuing ID-JAGs (the org server only)."""

    GRANT_TYPE = TOKEN_EXCHANGE
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    request: SandboxRequest

    @property
    def sandbox(self) -> Sandbox:
        return self.server.sandbox

    def authenticate_token_endpoint_client(self) -> OAuthClient:
        return self.server.authenticate_client(self.request, self.TOKEN_ENDPOINT_AUTH_METHODS)

    def validate_token_request(self) -> None:
        """Check the request, the subject token and the org's policy (ID-JAG -04 §4.3, §4.3.3)."""
        client = self.authenticate_token_endpoint_client()
        client_id = client.get_client_id()
        sandbox = self.sandbox
        form = self.request.form
        if not client.check_grant_type(TOKEN_EXCHANGE):
            raise refuse("unauthorized_client", ", ".join(client.config.grant_types), client_id=client_id)

        def missing(name: str) -> Exception:
            return refuse("missing_token_request_parameter", name, client_id=client_id)

        # ID-JAG -04 §4.3: requested_token_type is REQUIRED and is the ID-JAG type.
        if not form.get("requested_token_type"):
            raise missing("requested_token_type")
        if form["requested_token_type"] != ID_JAG_TOKEN_TYPE:
            raise refuse(
                "invalid_requested_token_type", client_id=client_id, requested=form["requested_token_type"]
            )
        # RFC 8693 §2.1: subject_token and subject_token_type are REQUIRED.
        if not form.get("subject_token"):
            raise missing("subject_token")
        if not form.get("subject_token_type"):
            raise missing("subject_token_type")
        handler = SUBJECT_TOKEN_HANDLERS.get(form["subject_token_type"])
        if handler is None:
            raise refuse(
                "invalid_subject_token_type",
                client_id=client_id,
                subject_token_type=form["subject_token_type"],
            )

        # ID-JAG -04 §4.3: audience is the issuer identifier of the target authorization server.
        audiences = self.request.values("audience")
        server: AuthServer | ExternalTarget | None = (
            sandbox.server_by_issuer(audiences[0]) if len(audiences) == 1 else None
        )
        if server is None and len(audiences) == 1:
            # An external resource authorization server named by a resource connection (external.py).
            server = external_target(sandbox, audiences[0])
        if server is None:
            raise refuse("token_exchange_invalid_audience", client_id=client_id, audience=" ".join(audiences))
        resources = self.request.values("resource")
        if len(resources) > 1:
            raise refuse("too_many_resources", 1, client_id=client_id)
        resource = resources[0] if resources else None
        known_resources = (
            server.resources if isinstance(server, ExternalTarget) else sandbox.server_resources(server)
        )
        if resource is not None and resource not in known_resources:
            raise refuse("token_exchange_invalid_resource", client_id=client_id, resource=resource)

        requested = (form.get("scope") or "").split()
        if not requested:
            # ID-JAG -04 §4.3 makes scope OPTIONAL; Okta's docs do not say what it answers without
            # one. The kit's choice: Okta's catalog entry for a request with no scope.
            raise refuse("missing_scopes", client_id=client_id)
        if any(s in OIDC_SCOPES for s in requested):
            # Okta (openid_not_allowed_token_exchange): no OpenID scopes in a token exchange.
            raise refuse("openid_not_allowed_token_exchange", client_id=client_id)
        if any(s not in server.scopes for s in requested):
            raise refuse("no_matching_scope", client_id=client_id, scope=" ".join(requested))

        subject = handler.resolve(sandbox, form["subject_token"], client)
        granted = self._granted_scopes(client, server, requested, subject)

        self.request.client = client
        self.request.user = subject.who.user
        self.request.scope = " ".join(granted)
        self._target = server
        # ID-JAG -04 §3.1: aud is the target's issuer, exactly as the audience named it.
        self._target_issuer = audiences[0]
        self._subject = subject
        self._resource = resource

    def _granted_scopes(
        self, client: OAuthClient, server: AuthServer | ExternalTarget, requested: list[str], subject: Subject
    ) -> list[str]:
        """Apply the resource connections: which scopes this client may get for this server."""
        client_id = client.get_client_id()
        if isinstance(server, ExternalTarget):
            connections = server.connections_for(client_id)
        else:
            connections = self.sandbox.config.connections_for(client_id, server.id)
        if not connections:
            # No resource connection from this client to that server: a target the org will not serve.
            raise refuse("invalid_target", client_id=client_id, user_id=subject.who.id, audience=server.id)
        allowed = {s for c in connections for s in c.scopes}
        granted = [s for s in requested if s in allowed]
        if not granted:
            raise refuse("illegal_scope", " ".join(requested), client_id=client_id, user_id=subject.who.id)
        return granted

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """Issue the ID-JAG (draft -04 §3.1) in an RFC 8693 §2.2.1 response."""
        sandbox = self.sandbox
        lifetime = sandbox.config.lifetimes.id_jag
        now = int(time.time())
        subject = self._subject
        who = subject.who
        claims: dict[str, Any] = {
            "iss": sandbox.issuer,
            "sub": who.id,
            "aud": self._target_issuer,
            # draft -04 §3.1: client_id is REQUIRED (the client's id at the target; at Okta the same id).
            # Okta's machine-access examples show no client_id; the kit follows the draft.
            "client_id": self.request.client.get_client_id(),
            "jti": secrets.token_urlsafe(32),
            "iat": now,
            "exp": now + lifetime,
            "scope": self.request.scope,
        }
        if who.is_service:
            # Okta's machine-access examples: a client acting for itself is `"sub_profile": "service"`.
            claims["sub_profile"] = SERVICE_PROFILE
        if self._resource:
            claims["resource"] = self._resource
        if not who.is_service:
            # draft -04 §3.1: auth_time and amr describe how the user signed in (none for a service).
            for name in ("auth_time", "amr"):
                if name in subject.claims:
                    claims[name] = subject.claims[name]
        # Okta release 2026.05.2: the ID-JAG carries `email` when the sign-in asked for the email
        # scope (the ID token then has it); draft -04 §3.1 RECOMMENDS `email` and/or `aud_sub`.
        if subject.token_type == ID_TOKEN_TYPE and isinstance(subject.claims.get("email"), str):
            claims["email"] = subject.claims["email"]
        facts: dict[str, Any] = {}
        if subject.delegated_by is not None:
            # RFC 8693 §4.1: act names the party acting for the subject, earlier actors nested. Okta's
            # examples: the agent is `"sub_profile": "ai_agent"`, the initiating client `"service"`.
            claims["act"] = {
                "sub": claims["client_id"],
                "sub_profile": AI_AGENT_PROFILE,
                "act": {"sub": subject.delegated_by, "sub_profile": SERVICE_PROFILE},
            }
            facts = {"delegatedBy": subject.delegated_by, "delegationLink": subject.link}
        # draft -04 §3.1: the header typ MUST be oauth-id-jag+jwt.
        id_jag = sandbox.keys.org.sign(claims, typ=ID_JAG_TYP)
        body = {
            "issued_token_type": ID_JAG_TOKEN_TYPE,
            "access_token": id_jag,  # RFC 8693 §2.2.1 names it so; it is not an access token
            "token_type": "N_A",
            "expires_in": lifetime,
            "scope": self.request.scope,
        }
        events.record_success(
            events.ID_JAG_GRANT,
            client_id=claims["client_id"],
            user_id=who.user.id if who.user is not None else None,
            issued=events.IssuedToken("id_jag", claims["jti"], claims["exp"], claims["aud"], claims["scope"]),
            grantedScopes=self.request.scope,
            **facts,
        )
        return 200, body, self.TOKEN_RESPONSE_HEADER
