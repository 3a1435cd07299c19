"""What the notebooks show: token cards, key/value tables, and "configuration used for this step".

Every object here has `_repr_html_` for JupyterLab and a text `__repr__` for nbval and static
viewers. Times show as ISO 8601 UTC plus a relative form ("in 4 min 58 s"); tokens are shortened
when redaction is on.
"""

from __future__ import annotations

from html import escape
from typing import Any

from ..core.config import ENV_VARS, Settings
from ..core.formatting import KeyValues, describe_time, html_table, now, plain_value, shorten, text_table
from ..core.jwts import decode_unverified

#: Plain-language meaning of the JOSE header members the flow meets.
HEADER_EXPLANATIONS = {
    "alg": "signature algorithm",
    "kid": "id of the signing key in the issuer's JWKS",
    "typ": "kind of JWT (oauth-id-jag+jwt: an ID-JAG; at+jwt: an access token)",
    "cty": "content type of the payload",
}

#: Plain-language meaning of the claims the flow meets (ID token, ID-JAG, access token, assertion).
CLAIM_EXPLANATIONS = {
    "iss": "issuer: the authorization server that signed it",
    "sub": "subject: the user (or client) the token is about",
    "aud": "audience: who the token is for",
    "exp": "expires at",
    "iat": "issued at",
    "nbf": "not valid before",
    "auth_time": "when the user signed in",
    "jti": "unique id of this token (replay detection)",
    "nonce": "value from the authorization request, binds the ID token to it",
    "at_hash": "hash of the access token issued with it",
    "c_hash": "hash of the authorization code",
    "azp": "authorized party: the client the token was issued to",
    "amr": "how the user authenticated",
    "acr": "authentication context class",
    "idp": "identity provider that authenticated the user",
    "ver": "token format version (Okta)",
    "name": "the user's full name",
    "preferred_username": "the user's login name",
    "email": "the user's email address",
    "email_verified": "whether the email address was verified",
    "given_name": "the user's given name",
    "family_name": "the user's family name",
    "client_id": "the client the token was issued to (at the target server)",
    "scope": "scopes granted, space-separated",
    "scp": "scopes granted (Okta: a list)",
    "cid": "the client the token was issued to (Okta)",
    "uid": "the user's id (Okta)",
    "resource": "the API the token is meant for (RFC 8707)",
    "act": "the actor acting on the subject's behalf (RFC 8693 §4.1)",
    "cnf": "key the token is bound to (RFC 7800)",
    "sid": "session id",
    "tenant": "the issuer's tenant of the user",
    "aud_tenant": "the target's tenant of the user",
    "aud_sub": "the user's id at the target",
    "sub_id": "the subject as a structured identifier",
}

TIME_CLAIMS = frozenset({"exp", "iat", "nbf", "auth_time", "updated_at"})


class TokenCard:
    """A decoded JWT: header and claims with their meaning, times readable; the token itself shortened.

    The signature is not checked here: the checklist next to the card does that.
    """

    def __init__(
        self, token: str, *, title: str = "Token", redact: bool = True, reference: int | None = None
    ) -> None:
        self.token = token
        self.title = title
        self.redact = redact
        self.reference = reference
        self.header, self.claims = decode_unverified(token, what=title)

    def _header_rows(self) -> list[list[str]]:
        return [[k, HEADER_EXPLANATIONS.get(k, ""), plain_value(self.header[k])] for k in sorted(self.header)]

    def _claim_rows(self) -> list[list[str]]:
        reference = self.reference if self.reference is not None else now()
        rows = []
        for name in sorted(self.claims):
            value = self.claims[name]
            if name in TIME_CLAIMS:
                shown = describe_time(value, reference=reference)
            elif isinstance(value, str) and name in ("at_hash", "c_hash"):
                shown = value
            else:
                shown = plain_value(value)
            rows.append([name, CLAIM_EXPLANATIONS.get(name, ""), shown])
        return rows

    def __repr__(self) -> str:
        return "\n".join(
            [
                f"{self.title}: {shorten(self.token, redact=self.redact)}",
                "Header",
                text_table(["member", "meaning", "value"], self._header_rows()),
                "Claims",
                text_table(["claim", "meaning", "value"], self._claim_rows()),
            ]
        )

    def _repr_html_(self) -> str:
        token = escape(shorten(self.token, redact=self.redact))
        return (
            f"<div><p><b>{escape(self.title)}</b> <code style='word-break:break-all'>{token}</code></p>"
            "<p><i>Header</i></p>"
            + html_table(["Member", "Meaning", "Value"], self._header_rows(), code_columns=(2,))
            + "<p><i>Claims</i></p>"
            + html_table(["Claim", "Meaning", "Value"], self._claim_rows(), code_columns=(2,))
            + "</div>"
        )


#: Settings each step uses, for the "configuration used for this step" view.
STEP_SETTINGS = {
    "sign_in": ("OKTA_ORG_URL", "AGENT_CLIENT_ID", "REDIRECT_URI", "SIGNIN_SCOPES", "KIT_HEADLESS"),
    "token_exchange": (
        "OKTA_ORG_URL",
        "AGENT_CLIENT_ID",
        "AGENT_KEY_ID",
        "AUDIENCE",
        "AGENT_SCOPES",
        "RESOURCE",
        "SUBJECT_TOKEN_TYPE",
    ),
    "jwt_bearer": ("OKTA_ORG_URL", "OKTA_AUTH_SERVER_ID", "AGENT_CLIENT_ID", "AGENT_KEY_ID"),
    "api": ("API_URL",),
}


def step_configuration(settings: Settings, step: str, *, key_id: str | None = None) -> KeyValues:
    """Return the settings and endpoints a step uses: "sign_in", "token_exchange", "jwt_bearer" or "api"."""
    env = settings.to_env()
    rows: list[tuple[str, Any]] = []
    for name in STEP_SETTINGS[step]:
        value = env[name]
        if name == "AGENT_KEY_ID":
            value = key_id or value or "(RFC 7638 thumbprint of the public key)"
        elif name == "AUDIENCE":
            value = settings.audience
        rows.append((name, value if value != "" else "(empty)"))
    front = (
        [
            ("authorize endpoint, your browser's (KIT_BROWSER_BASE_URL)", settings.browser_authorize_url),
            ("redirect_uri sent, your browser's (KIT_BROWSER_BASE_URL)", settings.browser_redirect_uri),
        ]
        if settings.front_channel
        else []
    )
    derived = {
        "sign_in": [
            ("authorize endpoint", settings.org_authorize_url),
            ("token endpoint", settings.org_token_url),
            *front,
        ],
        "token_exchange": [
            ("token endpoint", settings.org_token_url),
            ("client assertion aud", settings.org_token_url),
        ],
        "jwt_bearer": [
            ("token endpoint", settings.custom_token_url),
            ("issuer", settings.custom_issuer),
            ("client assertion aud", settings.custom_token_url),
        ],
        "api": [],
    }[step]
    return KeyValues(f"Configuration used for this step ({step.replace('_', ' ')})", rows + derived)


class SettingsView:
    """The settings as a two-column table: text for print/nbval, HTML for notebooks."""

    def __init__(self, settings: Settings, *, names: tuple[str, ...] = ENV_VARS) -> None:
        self.settings = settings
        self.names = names

    def rows(self) -> list[tuple[str, str]]:
        """Return (variable, value) pairs; the password hidden, empty values shown as (empty)."""
        env = self.settings.to_env()
        rows = []
        for name in self.names:
            value = env[name]
            if name == "SANDBOX_PASSWORD":
                value = "[hidden]"
            elif name == "AUDIENCE" and not value:
                value = f"(empty: {self.settings.audience})"
            elif not value:
                value = "(empty)"
            rows.append((name, value))
        return rows

    def __str__(self) -> str:
        rows = self.rows()
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)

    __repr__ = __str__

    def _repr_html_(self) -> str:

        return html_table(["Setting", "Value"], [list(row) for row in self.rows()], code_columns=(0, 1))


def describe(settings: Settings, *, names: tuple[str, ...] = ENV_VARS) -> SettingsView:
    """Return a printable table of the settings (or of the named variables only)."""
    return SettingsView(settings, names=names)
