"""Notebook 06: the origin app driven step by step (`OriginApp`), its refusal and the three models.

The protocol (settings, client authentication, checks, the hand-off) is `helpers.origin_app`; this
module runs it from a notebook: the origin app's sign-in with the `SignIn` widget or headless, its
code for tokens, the hand-off to the agent, the refusal of an app with no delegation link (in the
troubleshooting notebook's case shape) and the comparison of user access with machine access.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from ..constants import GRANT_CLIENT_CREDENTIALS, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN
from ..core.checks import Checklist
from ..core.config import Settings
from ..core.errors import KitError, OAuthError, ResponseError
from ..core.formatting import HIDDEN, KeyValues, html_table
from ..core.oauth import TokenResponse, read_token_response
from ..core.pkce import Pkce
from ..origin_app import (
    HANDED_OVER,
    MACHINE_ACCESS_TAB,
    ClientSecretBasic,
    HandOff,
    OriginSettings,
    check_delegation_token,
    load_origin_settings,
)
from ..sandbox_client.headless_signin import sign_in_headless
from ..sandbox_client.ids import PUBLIC_SPA
from ..signin import AuthorizationRequest, code_exchange_form
from ..token_exchange import token_exchange_form
from .browser_signin import SignIn
from .system_log import server_side
from .troubleshooting.workbench import Attempt, Case, CaseDriftError, CaseReport, Expected

# --- the refusal without a delegation link ----------------------------------------------------------------
#: Okta's answer when an app with no delegation link to the agent hands it its access token.
NO_LINK = Expected(
    400,
    "invalid_request",
    "'subject_token' is invalid: the client application is not registered for delegation to this agent.",
    "invalid_subject_token_client_not_registered",
)

#: The refusal notebook 06 shows, in the same shape as the troubleshooting notebook's cases.
NO_LINK_CASE = Case(
    key="no_delegation_link",
    step="token exchange, org server",
    title="The same exchange from an app with no delegation link",
    change=(
        "the subject token comes from another app that signs users in at the same server for the same "
        "resource URL, but has no delegation link to the agent"
    ),
    expected=NO_LINK,
    cause=(
        "The token's client (cid) has no delegation link to this agent: Okta accepts another app's access "
        "token only through a link from that app to the agent."
    ),
    fix=(
        f'Link the app to the agent ({MACHINE_ACCESS_TAB}; the tab was "Delegations" before 2026-08-17), '
        "or hand the agent a token of an app that has a link."
    ),
    run=None,
    sandbox_only="it signs the user in to a second app of the sandbox, headless",
)


# --- the comparison of the two models ----------------------------------------------------------------------
@dataclass(frozen=True)
class ModelComparison:
    """User access (the agent's ID token) beside the two machine-access tokens an origin app can hand over."""

    rows: tuple[tuple[str, str, str, str], ...]

    HEADERS = (
        "User access: the agent's own sign-in, ID token (01-04)",
        "Machine access: the app's own token, client credentials (Okta's guide)",
        "Machine access: a user's token from the app (the kit's reading)",
    )

    def text(self) -> str:
        """Plain text, one block per aspect."""
        lines = ["Three ways to give the agent a subject token"]
        for aspect, *cells in self.rows:
            lines.append(aspect)
            lines += [
                f"  {head.split(':')[0]} ({head.split(', ')[-1]}): {cell}"
                for head, cell in zip(self.HEADERS, cells, strict=True)
            ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return html_table(["", *self.HEADERS], [list(r) for r in self.rows])


def compare_models(settings: Settings, origin: OriginSettings) -> ModelComparison:
    """The three models side by side, with this configuration's names."""
    agent = settings.agent_client_id
    return ModelComparison(
        (
            (
                "Who says so",
                "ID-JAG -04 §4.3 (an identity assertion as subject); Okta's user access",
                'Okta\'s guide, machine access ("Use the Client Credentials grant type")',
                'no source shows it: Okta accepts "access tokens minted for a different client", and this '
                "is one with a user",
            ),
            (
                "Who gets the subject token",
                f"the agent's linked OIDC app (client id {agent}, the agent's own credentials)",
                f"the origin app {origin.client_id}, for itself, with its own secret (no user)",
                f"the origin app {origin.client_id}, signing a user in, with its own secret",
            ),
            (
                "Where",
                f"the org authorization server, {settings.org_authorize_url}",
                f"a custom authorization server, {origin.token_url}",
                f"a custom authorization server, {origin.authorize_url}",
            ),
            (
                "The subject token, its aud",
                f"an ID token ({TOKEN_TYPE_ID_TOKEN}); aud = the agent's client id, {agent}",
                f"an access token ({TOKEN_TYPE_ACCESS_TOKEN}); aud = the agent's resource URL, "
                f"{origin.agent_resource_url}",
                f"an access token ({TOKEN_TYPE_ACCESS_TOKEN}); aud = the agent's resource URL, "
                f"{origin.agent_resource_url}",
            ),
            (
                "What Okta needs",
                "the agent's linked OIDC app, a resource connection, an access policy rule for the JWT "
                "bearer grant",
                f"the agent's resource URL and a link from the app ({MACHINE_ACCESS_TAB}), a client "
                "credentials rule for the app, plus the same connection and rule",
                "the same, with a sign-in rule for the app instead of the client credentials one",
            ),
            (
                "The ID-JAG's subject",
                "sub = the user, client_id = the agent",
                "sub = the app (sub_profile service), client_id = the agent, act: the agent, then the app",
                "sub = the user, client_id = the agent, act: the agent, then the app",
            ),
            (
                "Choose it when",
                "the agent has its own front end and signs the user in (a chat app, a CLI, this kit)",
                "a service calls the agent for itself (a scheduled job, a workflow with no user)",
                "an app already signs the user in and calls the agent for them (a portal); check it on your "
                "org first",
            ),
        )
    )


# --- the origin app -------------------------------------------------------------------------------------
class OriginApp:
    """The origin app, driven from a notebook: sign-in, code for tokens, checks, hand-off, a refusal.

    Example:
        origin = OriginApp(kit)
        auth = origin.authorization_request()
    """

    def __init__(self, kit: Any, origin: OriginSettings | None = None) -> None:
        self.kit = kit
        self.settings: Settings = kit.settings
        self.origin = origin or load_origin_settings(self.settings)
        self.auth = ClientSecretBasic(self.origin.client_id, self.origin.client_secret)

    def __repr__(self) -> str:
        return f"OriginApp({self.origin.client_id!r} at {self.origin.issuer!r})"

    def configuration(self) -> KeyValues:
        """The two parties' settings and endpoints (the secret hidden)."""
        o, s = self.origin, self.settings
        return KeyValues(
            "Configuration used for this variant",
            [
                ("ORIGIN_CLIENT_ID", o.client_id),
                ("ORIGIN_CLIENT_SECRET", HIDDEN),
                ("origin app authentication", "client_secret_basic (RFC 6749 §2.3.1)"),
                ("ORIGIN_AUTH_SERVER_ID", o.auth_server_id),
                ("authorize endpoint", o.authorize_url),
                ("token endpoint", o.token_url),
                ("AGENT_RESOURCE_URL", o.agent_resource_url),
                ("REDIRECT_URI", s.redirect_uri),
                ("SIGNIN_SCOPES", s.signin_scope),
                ("AGENT_CLIENT_ID", s.agent_client_id),
                ("agent's token exchange endpoint", s.org_token_url),
                ("AUDIENCE", s.audience),
                ("AGENT_SCOPES", s.agent_scope),
            ],
        )

    def authorization_request(self, *, client_id: str | None = None) -> AuthorizationRequest:
        """A sign-in at the custom server for the agent's resource: fresh `state`, `nonce`, PKCE S256."""
        return AuthorizationRequest(
            authorize_url=self.settings.browser_url(self.origin.authorize_url),
            client_id=client_id or self.origin.client_id,
            redirect_uri=self.settings.browser_redirect_uri,
            scope=self.settings.signin_scope,
            state=secrets.token_urlsafe(16),
            nonce=secrets.token_urlsafe(16),
            pkce=Pkce.new(),
            # RFC 8707 §2: the resource the access token is for; its aud will be this URL.
            extra={"resource": self.origin.agent_resource_url},
            settings_names={
                "client_id": "ORIGIN_CLIENT_ID",
                "redirect_uri": "REDIRECT_URI",
                "scope": "SIGNIN_SCOPES",
                "authorize_url": "ORIGIN_AUTH_SERVER_ID",
                "resource": "AGENT_RESOURCE_URL",
            },
        )

    def sign_in(self, request: AuthorizationRequest) -> SignIn:
        """Sign the user in to the origin app: headless against the sandbox, else in the browser (as 01)."""
        return SignIn(self.kit.http, request, self.settings, authorize_url=self.origin.authorize_url).start()

    def token_request(
        self, form: dict[str, str], *, label: str = "Origin app: code for tokens"
    ) -> TokenResponse:
        """POST the code to the custom server's token endpoint, authenticated with the origin app's secret.

        Raises:
            OAuthError: Okta's `error` and `error_description`.
        """
        with self.kit.http.labelled(label):
            response = self.kit.http.post(
                self.origin.token_url,
                data=dict(form),
                auth=self.auth,
                headers={"Accept": "application/json"},
                allow_redirects=False,
            )
        return read_token_response(response, where=label)

    def client_credentials_form(self, scopes: list[str] | tuple[str, ...] | None = None) -> dict[str, str]:
        """The origin app's own token request (RFC 6749 §4.4.2), for the agent's resource URL (RFC 8707)."""
        return {
            "grant_type": GRANT_CLIENT_CREDENTIALS,
            "scope": " ".join(scopes if scopes is not None else self.settings.agent_scopes),
            # Okta machine access: "The request includes the `resource` parameter": the agent's URL.
            "resource": self.origin.agent_resource_url,
        }

    def check_access_token(self, access_token: str, *, for_user: bool = True) -> Checklist:
        """Check the origin app's access token: signature (custom server's key), `aud`, `cid`, subject."""
        return check_delegation_token(
            access_token,
            jwks=self.kit.jwks_of(self.origin.issuer),
            issuer=self.origin.issuer,
            origin_client_id=self.origin.client_id,
            agent_resource_url=self.origin.agent_resource_url,
            for_user=for_user,
        )

    def hand_off(
        self, tokens: TokenResponse | dict[str, Any], request: AuthorizationRequest | None = None
    ) -> HandOff:
        """Hand the access token to the agent (only it); keep it in the session file, the kit's channel.

        Args:
            request: the sign-in that got the token, when there was one (its PKCE verifier must stay).
        """
        withheld = [
            ("client secret", "the origin app's credential: the agent authenticates with its own key")
        ]
        if request is not None:
            withheld += [
                ("ID token", "issued to the origin app (aud = its client id): the agent cannot use it"),
                ("authorization code, PKCE verifier", "single use, spent by the origin app"),
            ]
        handoff = HandOff(
            subject_token=tokens["access_token"],
            subject_token_type=TOKEN_TYPE_ACCESS_TOKEN,
            from_client=self.origin.client_id,
            to_agent=self.settings.agent_client_id,
            withheld=tuple(withheld),
            redact=self.settings.redact,
        )
        handoff.check(self.kept_values(tokens, request)).raise_if_failed()
        self.kit.remember(
            HANDED_OVER,
            handoff.subject_token,
            subject_token_type=handoff.subject_token_type,
            from_client=handoff.from_client,
        )
        return handoff

    def kept_values(
        self, tokens: TokenResponse | dict[str, Any], request: AuthorizationRequest | None = None
    ) -> dict[str, str | None]:
        """The origin app's own values that must not cross to the agent, by name."""
        kept: dict[str, str | None] = {"client secret": self.origin.client_secret}
        if request is not None:
            kept.update({"ID token": tokens.get("id_token"), "PKCE verifier": request.pkce.verifier})
        return kept

    def exchange_form(self, subject_token: str, *, audience: str | None = None) -> dict[str, str]:
        """The agent's token exchange of a handed-over access token (RFC 8693 §2.1)."""
        return token_exchange_form(
            subject_token=subject_token,
            audience=audience or self.settings.audience,
            scopes=list(self.settings.agent_scopes),
            subject_token_type=TOKEN_TYPE_ACCESS_TOKEN,
        )

    def without_delegation_link(self) -> CaseReport:
        """Sign the user in with an app that has no delegation link, and let the agent exchange its token.

        Sandbox-only (the sandbox's public app, with no secret, plays that app). Raises
        CaseDriftError when the answer differs from Okta's documented one.
        """
        changed = [
            (
                "origin app",
                f"{PUBLIC_SPA} (allowed to sign users in at {self.origin.auth_server_id}, no link)",
            ),
            ("subject_token", f"its access token for {self.origin.agent_resource_url}"),
        ]
        places = {"org": self.settings.org_url}
        if not self.settings.is_sandbox:
            return CaseReport(NO_LINK_CASE, places, None, None, skipped=NO_LINK_CASE.sandbox_only)
        request = self.authorization_request(client_id=PUBLIC_SPA)
        try:
            callback = sign_in_headless(
                self.kit.http, request, self.settings, authorize_url=self.origin.authorize_url
            )
            form = code_exchange_form(request, callback)
            form["client_id"] = PUBLIC_SPA  # a public client: no secret (RFC 6749 §2.3)
            with self.kit.http.labelled(f"Sign-in as {PUBLIC_SPA}"):
                answer = self.kit.http.post(self.origin.token_url, data=form, allow_redirects=False)
            tokens = read_token_response(answer, where=f"Sign-in as {PUBLIC_SPA}")
        except KitError as exc:
            raise CaseDriftError(
                f"signing in as {PUBLIC_SPA} failed ({exc}); the sandbox may run an older configuration: "
                "restart it (python -m sandbox stop, then make lab)"
            ) from None
        try:
            response = self.kit.token_request(
                self.settings.org_token_url,
                self.exchange_form(tokens["access_token"]),
                label="Token exchange without a delegation link",
            )
            exchange = response.exchange
        except (OAuthError, ResponseError) as exc:
            exchange = exc.exchange
        refusal = CaseReport(
            NO_LINK_CASE, places, Attempt(exchange, changed), server_side(self.kit, exchange)
        )
        refusal.verify(check_reason=True)
        return refusal

    def compare(self) -> ModelComparison:
        """The two models side by side."""
        return compare_models(self.settings, self.origin)
