"""The origin application of Okta's machine access: it gets a token for the agent and hands it over.

Two ways, both exchanged by the agent through a delegation link:

- the app's own token, from the client credentials grant (no user): Okta's documented machine access;
- a token for a user signed in to the app (authorization code + PKCE): the kit's reading of "the origin
  application sends the user's token to the AI Agent", which Okta's docs do not show.

- RFC 6749 §4.4 (client credentials), §4.1 and RFC 7636 (the origin app's sign-in, PKCE S256), §2.3.1
  (client_secret_basic: the origin app authenticates with its own secret, which never reaches the agent)
- RFC 8707 §2 (`resource` = the agent's resource URL: the access token's `aud`)
- RFC 8693 §2.1 (the agent's token exchange, `subject_token_type=…:access_token`), §4.1 (`act`)
- Okta "Set up AI agent token exchange" (machine access: "Okta accepts access tokens minted for a
  different client as subject tokens. This requires a delegation link authorizing that client to
  delegate to your AI agent, and the token must target your agent's resource URL."; "Use the Client
  Credentials grant type to obtain the subject token"); Okta help "Add AI agents manually" (the agent's
  User access and Machine access tabs, named "Delegations" before 2026-08-17)

The settings live beside the kit's (environment first, then the env file, then defaults):

    ORIGIN_CLIENT_ID       the origin app's client id (sandbox: 0oaOriginWebApp00001)
    ORIGIN_CLIENT_SECRET   its client secret: a secret, never shown, logged or exported
    ORIGIN_AUTH_SERVER_ID  the custom server it signs in at, where the agent is a resource
                           (empty: OKTA_AUTH_SERVER_ID)
    AGENT_RESOURCE_URL     the agent's resource URL (sandbox: {org}/agents/sandbox-agent)

Against the sandbox every one has a default; against Okta the first, second and fourth are required.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from requests.auth import AuthBase

from .checks import Checklist
from .config import ORIGIN_VARS, Settings, is_loopback_host
from .constants import (
    DEFAULT_CLOCK_SKEW,
    GRANT_CLIENT_CREDENTIALS,
    TOKEN_TYPE_ACCESS_TOKEN,
    TOKEN_TYPE_ID_TOKEN,
)
from .display import KeyValues
from .errors import ConfigError, KitError, OAuthError, ResponseError
from .formatting import HIDDEN, html_table, shorten, text_table
from .jwt_bearer import access_token_signature
from .jwts import decode_unverified
from .oauth import TokenResponse, read_token_response
from .pkce import Pkce
from .signin import (
    AuthorizationRequest,
    SignIn,
    code_exchange_form,
    sign_in_headless,
)
from .system_log import server_side
from .token_exchange import check_id_jag, token_exchange_form
from .troubleshooting import Attempt, Case, CaseDriftError, CaseReport, Expected

SECRET_VAR = "ORIGIN_CLIENT_SECRET"
#: The sandbox's origin app, its demo secret and the agent's resource URL (sandbox/default.toml).
SANDBOX_DEFAULTS = {
    "ORIGIN_CLIENT_ID": "0oaOriginWebApp00001",
    "ORIGIN_CLIENT_SECRET": "origin-web-app-secret-fedcba9876543210",
    "AGENT_RESOURCE_URL": "${OKTA_ORG_URL}/agents/sandbox-agent",
}
#: The sandbox's public app: it may sign users in at the custom server, but has no delegation link.
UNLINKED_APP = "0oaPublicSpa00000001"
#: The session file's name for the token the origin app hands over.
HANDED_OVER = "origin_access_token"

OKTA_MACHINE_ACCESS = "Okta: AI agent token exchange, machine access"
#: Okta's `sub_profile` values in its machine-access and agent-to-agent examples.
SERVICE_PROFILE = "service"
AI_AGENT_PROFILE = "ai_agent"
#: Where Okta's admin console sets the links (the tab was "Delegations" before 2026-08-17).
MACHINE_ACCESS_TAB = "Directory > AI Agents > the agent > Machine access"
_VAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


# --- settings ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OriginSettings:
    """Who the origin app is, where it signs users in, and the agent its tokens are for."""

    org_url: str
    client_id: str
    client_secret: str = field(repr=False)
    auth_server_id: str
    agent_resource_url: str

    @property
    def issuer(self) -> str:
        """The custom server the origin app signs in at: `{org}/oauth2/{ORIGIN_AUTH_SERVER_ID}`."""
        return f"{self.org_url}/oauth2/{self.auth_server_id}"

    @property
    def authorize_url(self) -> str:
        """`{issuer}/v1/authorize`."""
        return f"{self.issuer}/v1/authorize"

    @property
    def token_url(self) -> str:
        """`{issuer}/v1/token`."""
        return f"{self.issuer}/v1/token"

    def describe(self) -> KeyValues:
        """The settings as a table, the secret hidden."""
        return KeyValues(
            "The origin app's settings",
            [
                ("ORIGIN_CLIENT_ID", self.client_id),
                ("ORIGIN_CLIENT_SECRET", HIDDEN),
                ("ORIGIN_AUTH_SERVER_ID", self.auth_server_id),
                ("AGENT_RESOURCE_URL", self.agent_resource_url),
            ],
        )

    def __repr__(self) -> str:
        return (
            f"OriginSettings(client_id={self.client_id!r}, issuer={self.issuer!r}, "
            f"agent_resource_url={self.agent_resource_url!r})"
        )


def _problem(name: str, value: str, expected: str) -> str:
    return f'{name} is "{value}", expected {expected}'


def load_origin_settings(settings: Settings) -> OriginSettings:
    """The origin app's settings: ORIGIN_* and AGENT_RESOURCE_URL as the kit read them (environment,
    then env file), else, against the sandbox, its origin app.

    Raises:
        ConfigError: naming each missing or malformed variable, its value and what is expected.
    """
    defaults = dict(SANDBOX_DEFAULTS) if settings.is_sandbox else {}
    values = {}
    for name in ORIGIN_VARS:
        raw = settings.origin.get(name, "").strip() or defaults.get(name, "")
        values[name] = raw.replace("${OKTA_ORG_URL}", settings.org_url)
    values["ORIGIN_AUTH_SERVER_ID"] = values["ORIGIN_AUTH_SERVER_ID"] or settings.auth_server_id
    problems = []
    where = "the sandbox's" if settings.is_sandbox else "your"
    if not values["ORIGIN_CLIENT_ID"] or re.search(r"\s", values["ORIGIN_CLIENT_ID"]):
        problems.append(
            _problem("ORIGIN_CLIENT_ID", values["ORIGIN_CLIENT_ID"], f"{where} origin app's client id")
        )
    if not values[SECRET_VAR]:
        problems.append(f"{SECRET_VAR} is empty, expected {where} origin app's client secret")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", values["ORIGIN_AUTH_SERVER_ID"]):
        problems.append(
            _problem(
                "ORIGIN_AUTH_SERVER_ID",
                values["ORIGIN_AUTH_SERVER_ID"],
                'a custom server id such as "default"',
            )
        )
    resource = values["AGENT_RESOURCE_URL"]
    parts = urlsplit(resource)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment:
        problems.append(_problem("AGENT_RESOURCE_URL", resource, "the agent's resource URL, an absolute URL"))
    elif parts.scheme == "http" and not is_loopback_host(parts.hostname):
        problems.append(_problem("AGENT_RESOURCE_URL", resource, "https:// (plain http only on loopback)"))
    if problems:
        raise ConfigError("\n".join(problems), problems=problems)
    return OriginSettings(
        org_url=settings.org_url,
        client_id=values["ORIGIN_CLIENT_ID"],
        client_secret=values[SECRET_VAR],
        auth_server_id=values["ORIGIN_AUTH_SERVER_ID"],
        agent_resource_url=resource,
    )


class ClientSecretBasic(AuthBase):
    """HTTP Basic client authentication (RFC 6749 §2.3.1): id and secret form-encoded, then base64."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self._secret = client_secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        # RFC 6749 §2.3.1: both are encoded with application/x-www-form-urlencoded before base64.
        pair = f"{quote(self.client_id, safe='')}:{quote(self._secret, safe='')}"
        request.headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        return request

    def __repr__(self) -> str:
        return f"ClientSecretBasic({self.client_id!r}, {HIDDEN})"


# --- checks ---------------------------------------------------------------------------------------------
def check_delegation_token(
    access_token: str,
    *,
    jwks: dict[str, Any],
    issuer: str,
    origin_client_id: str,
    agent_resource_url: str,
    for_user: bool = True,
    now: int | None = None,
    skew: int = DEFAULT_CLOCK_SKEW,
) -> Checklist:
    """Check the origin app's access token as the agent's exchange will: issuer, `aud`, client, subject.

    Args:
        for_user: True for a token the app got for a signed-in user (it names the user in `uid`); False
            for the app's own client credentials token (Okta: `sub` = the app, `sub_profile` service).
    """
    now = int(time.time()) if now is None else now
    checks = Checklist("The origin app's access token")
    decoded = checks.decode(access_token, what="access token")
    if decoded is None:
        return checks
    header, claims = decoded
    access_token_signature(checks, access_token, jwks)
    checks.equal('"iss"', issuer, claims.get("iss"), OKTA_MACHINE_ACCESS + ": a custom server")
    aud = claims.get("aud")
    checks.add(
        '"aud"',
        agent_resource_url,
        aud,
        aud == agent_resource_url or aud == [agent_resource_url],
        "RFC 8707 §2; " + OKTA_MACHINE_ACCESS + ": the agent's resource URL",
    )
    checks.equal('"cid"', origin_client_id, claims.get("cid"), "Okta: the app the token was issued to")
    if for_user:
        checks.present('"uid"', claims.get("uid"), "Okta: the user the app signed in", expected="a user id")
    else:
        checks.equal('"sub"', origin_client_id, claims.get("sub"), "RFC 6749 §4.4: the app for itself")
        checks.add(
            '"uid"', "(none: no user)", claims.get("uid"), "uid" not in claims, "RFC 6749 §4.4: no user"
        )
    checks.lifetime(claims, now=now, skew=skew, exp_reference="RFC 9068 §4", iat_reference="RFC 9068 §2.2")
    return checks


def check_delegated_id_jag(
    id_jag: str,
    *,
    jwks: dict[str, Any],
    issuer: str,
    audience: str,
    agent_client_id: str,
    origin_client_id: str,
    subject: str,
    requested_scopes: str,
    now: int | None = None,
) -> Checklist:
    """Check an ID-JAG made from a delegated access token: as for an ID token, plus the `act` chain."""
    checks = check_id_jag(
        id_jag,
        jwks=jwks,
        issuer=issuer,
        audience=audience,
        client_id=agent_client_id,
        subject=subject,
        requested_scopes=requested_scopes,
        now=now,
    )
    try:
        claims = decode_unverified(id_jag, what="ID-JAG")[1]
    except KitError:
        return checks
    act = claims.get("act") if isinstance(claims.get("act"), dict) else {}
    prior = act.get("act") if isinstance(act.get("act"), dict) else {}
    if subject == origin_client_id:
        # Okta's machine-access examples: the app for itself is a service.
        checks.equal('"sub_profile"', SERVICE_PROFILE, claims.get("sub_profile"), OKTA_MACHINE_ACCESS)
    checks.equal('"act.sub_profile"', AI_AGENT_PROFILE, act.get("sub_profile"), OKTA_MACHINE_ACCESS)
    checks.equal('"act.sub"', agent_client_id, act.get("sub"), "RFC 8693 §4.1: the current actor, the agent")
    checks.equal(
        '"act.act.sub"', origin_client_id, prior.get("sub"), "RFC 8693 §4.1: the actor before, the origin app"
    )
    return checks


# --- the hand-off ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HandOff:
    """What the origin app sends the agent over a secure channel: the token and its type.

    Nothing else crosses: not the origin app's client secret, not the authorization code or the PKCE
    verifier (spent, and the origin app's), not its ID token (issued to the origin app, `aud` = its id).
    """

    subject_token: str = field(repr=False)
    subject_token_type: str
    from_client: str
    to_agent: str
    withheld: tuple[tuple[str, str], ...] = field(repr=False)
    redact: bool = True

    def payload(self) -> dict[str, str]:
        """Exactly what crosses the channel."""
        return {"subject_token": self.subject_token, "subject_token_type": self.subject_token_type}

    def check(self, secrets_kept: dict[str, str | None]) -> Checklist:
        """Check that none of the origin app's own values is in what crosses (the secret first)."""
        checks = Checklist("What crosses to the agent")
        crossing = " ".join(self.payload().values())
        for name, value in secrets_kept.items():
            leaked = bool(value) and value in crossing
            checks.add(name, "stays with the origin app", "crosses!" if leaked else "stays", not leaked)
        claims = decode_unverified(self.subject_token, what="access token")[1]
        checks.add(
            "the token's cid",
            f"{self.from_client} (the origin app: the agent needs a delegation link from it)",
            claims.get("cid"),
            claims.get("cid") == self.from_client,
            OKTA_MACHINE_ACCESS,
        )
        return checks

    def _rows(self) -> tuple[list[list[str]], list[list[str]]]:
        crossing = [
            [
                "subject_token",
                shorten(self.subject_token, redact=self.redact),
                "the access token, aud = the agent",
            ],
            ["subject_token_type", self.subject_token_type, "RFC 8693 §3: it is an access token"],
        ]
        kept = [[name, why] for name, why in self.withheld]
        return crossing, kept

    def text(self) -> str:
        """Plain text: what crosses, and what stays with the origin app."""
        crossing, kept = self._rows()
        return "\n".join(
            [
                f"Hand-off: {self.from_client} (origin app) -> {self.to_agent} (AI agent)",
                "Crosses to the agent",
                text_table(["what", "value", "note"], crossing),
                "Stays with the origin app",
                text_table(["what", "why"], kept),
            ]
        )

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        crossing, kept = self._rows()
        return (
            f"<p><b>Hand-off:</b> <code>{escape(self.from_client)}</code> (origin app) → "
            f"<code>{escape(self.to_agent)}</code> (AI agent)</p><p><i>Crosses to the agent</i></p>"
            + html_table(["What", "Value", "Note"], crossing, code_columns=(1,))
            + "<p><i>Stays with the origin app</i></p>"
            + html_table(["What", "Why"], kept)
        )


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
                f"{UNLINKED_APP} (allowed to sign users in at {self.origin.auth_server_id}, no link)",
            ),
            ("subject_token", f"its access token for {self.origin.agent_resource_url}"),
        ]
        places = {"org": self.settings.org_url}
        if not self.settings.is_sandbox:
            return CaseReport(NO_LINK_CASE, places, None, None, skipped=NO_LINK_CASE.sandbox_only)
        request = self.authorization_request(client_id=UNLINKED_APP)
        try:
            callback = sign_in_headless(
                self.kit.http, request, self.settings, authorize_url=self.origin.authorize_url
            )
            form = code_exchange_form(request, callback)
            form["client_id"] = UNLINKED_APP  # a public client: no secret (RFC 6749 §2.3)
            with self.kit.http.labelled(f"Sign-in as {UNLINKED_APP}"):
                answer = self.kit.http.post(self.origin.token_url, data=form, allow_redirects=False)
            tokens = read_token_response(answer, where=f"Sign-in as {UNLINKED_APP}")
        except KitError as exc:
            raise CaseDriftError(
                f"signing in as {UNLINKED_APP} failed ({exc}); the sandbox may run an older configuration: "
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
