"""Step 6 (notebook 06): the origin app of machine access: it gets a token for the agent and hands it over.

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
import time
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from requests.auth import AuthBase

from .constants import (
    DEFAULT_CLOCK_SKEW,
)
from .core.checks import Checklist
from .core.config import ORIGIN_VARS, Settings, is_loopback_host
from .core.errors import ConfigError, KitError, field_problem
from .core.formatting import HIDDEN, KeyValues, html_table, shorten, text_table
from .core.jwts import decode_unverified
from .jwt_bearer import access_token_signature
from .sandbox_client.ids import ORIGIN_APP_DEFAULTS
from .token_exchange import check_id_jag

SECRET_VAR = "ORIGIN_CLIENT_SECRET"
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


def load_origin_settings(settings: Settings) -> OriginSettings:
    """The origin app's settings: ORIGIN_* and AGENT_RESOURCE_URL as the kit read them (environment,
    then env file), else, against the sandbox, its origin app.

    Raises:
        ConfigError: naming each missing or malformed variable, its value and what is expected.
    """
    defaults = dict(ORIGIN_APP_DEFAULTS) if settings.is_sandbox else {}
    values = {}
    for name in ORIGIN_VARS:
        raw = settings.origin.get(name, "").strip() or defaults.get(name, "")
        values[name] = raw.replace("${OKTA_ORG_URL}", settings.org_url)
    values["ORIGIN_AUTH_SERVER_ID"] = values["ORIGIN_AUTH_SERVER_ID"] or settings.auth_server_id
    problems = []
    where = "the sandbox's" if settings.is_sandbox else "your"
    if not values["ORIGIN_CLIENT_ID"] or re.search(r"\s", values["ORIGIN_CLIENT_ID"]):
        problems.append(
            field_problem("ORIGIN_CLIENT_ID", values["ORIGIN_CLIENT_ID"], f"{where} origin app's client id")
        )
    if not values[SECRET_VAR]:
        problems.append(f"{SECRET_VAR} is empty, expected {where} origin app's client secret")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", values["ORIGIN_AUTH_SERVER_ID"]):
        problems.append(
            field_problem(
                "ORIGIN_AUTH_SERVER_ID",
                values["ORIGIN_AUTH_SERVER_ID"],
                'a custom server id such as "default"',
            )
        )
    resource = values["AGENT_RESOURCE_URL"]
    parts = urlsplit(resource)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment:
        problems.append(
            field_problem("AGENT_RESOURCE_URL", resource, "the agent's resource URL, an absolute URL")
        )
    elif parts.scheme == "http" and not is_loopback_host(parts.hostname):
        problems.append(
            field_problem("AGENT_RESOURCE_URL", resource, "https:// (plain http only on loopback)")
        )
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
