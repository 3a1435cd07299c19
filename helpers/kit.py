"""The kit's working set for one notebook: settings, the agent's key and signer, HTTP, the session file.

Every notebook's setup cell opens one:

    kit = Kit.open("02_token_exchange_id_jag")

and then passes `kit.http`, `kit.signer`, `kit.settings` to the phase modules, or uses the shortcuts
here (`token_request`, `org_jwks`, `remember`, `require`). Nothing here is specific to the sandbox.
"""

from __future__ import annotations

from typing import Any

from . import flow
from .core.checks import Checklist
from .core.client_assertion import ClientAssertionSigner, check_client_assertion
from .core.config import Settings, load_settings
from .core.discovery import Metadata, fetch_jwks, fetch_metadata
from .core.errors import OAuthError
from .core.formatting import KeyValues
from .core.jwts import decode_unverified, looks_like_jwt
from .core.keys import AgentKey, PublicKeyView, agent_key_for
from .core.oauth import TokenResponse, post_token_request
from .core.session import SessionFile, SessionItem
from .core.transport import ExchangeLog, KitHTTP
from .teaching.display import TokenCard, step_configuration


class Kit:
    """Settings, key, signer, HTTP session and session file for one phase (one notebook)."""

    def __init__(
        self, settings: Settings, *, phase: str = "kit", key: AgentKey | None = None, fresh_log: bool = True
    ) -> None:
        self.phase = phase
        self.settings = settings
        self.key = key or agent_key_for(settings)
        self.signer = ClientAssertionSigner(settings.agent_client_id, self.key)
        state_dir = settings.state_dir or settings.home / ".kit"
        self.http = KitHTTP(
            phase=phase,
            log_dir=state_dir / "logs",
            redact=settings.redact,
            fresh_log=fresh_log,
            ca_bundle=settings.ca_bundle,
        )
        self.session = SessionFile(state_dir / "session.json")
        self.reran: list[str] = []
        self._metadata: dict[str, Metadata] = {}
        self._jwks: dict[str, dict[str, Any]] = {}

    @classmethod
    def open(cls, phase: str, settings: Settings | None = None) -> Kit:
        """Load the settings (unless given), ensure the agent's key, start this phase's request log.

        When OKTA_ORG_URL is a local sandbox URL and nothing answers there, the person's own sandbox is
        started first and said so in one line (helpers.local_sandbox); a later notebook reuses it.
        """
        from .sandbox_client.local_sandbox import ensure_local_sandbox
        from .teaching.notebook_errors import install

        install()  # in a notebook, a KitError shows as what to fix, not a long traceback
        local = ensure_local_sandbox(settings or load_settings())
        return cls(local.settings, phase=phase)

    def __repr__(self) -> str:
        return (
            f"Kit(phase={self.phase!r}, org={self.settings.org_url!r}, "
            f"client_id={self.settings.agent_client_id!r}, "
            f"kid={self.key.kid!r})"
        )

    def use(self, settings: Settings) -> Kit:
        """Switch to new settings (e.g. from a form); reload the key if its file or alg changed."""
        same_key = (settings.agent_private_key_file, settings.agent_key_alg, settings.agent_key_id) == (
            self.settings.agent_private_key_file,
            self.settings.agent_key_alg,
            self.settings.agent_key_id,
        )
        if settings.ca_bundle != self.settings.ca_bundle:
            self.http.use_ca_bundle(settings.ca_bundle)
        self.settings = settings
        self.http.redact = settings.redact
        if not same_key:
            self.key = agent_key_for(settings)
        self.signer = ClientAssertionSigner(settings.agent_client_id, self.key)
        self._metadata.clear()
        self._jwks.clear()
        return self

    # --- display shortcuts --------------------------------------------------------------------------
    def configuration(self, step: str) -> KeyValues:
        """The settings and endpoints a step uses: "sign_in", "token_exchange", "jwt_bearer" or "api"."""
        return step_configuration(self.settings, step, key_id=self.key.kid)

    def public_key(self) -> PublicKeyView:
        """The agent's public key and JWKS, for display and registration."""
        return PublicKeyView(
            self.key, jwks_path=self.settings.agent_public_jwks_file, home=self.settings.home
        )

    def card(self, token: str, title: str = "Token") -> TokenCard:
        """A decoded token for display (shortened unless KIT_REDACT is false)."""
        return TokenCard(token, title=title, redact=self.settings.redact)

    def log(self, label: str | None = None) -> ExchangeLog:
        """The exchanges of this notebook so far ("view log"), optionally only those with one label."""
        return self.http.log(label=label)

    # --- discovery --------------------------------------------------------------------------------
    def org_metadata(self) -> Metadata:
        """The org authorization server's OIDC metadata (`issuer` checked)."""
        issuer = self.settings.org_issuer
        if issuer not in self._metadata:
            with self.http.labelled("Discovery (org)"):
                self._metadata[issuer] = fetch_metadata(
                    self.http, issuer, form="openid", title="Org authorization server"
                )
        return self._metadata[issuer]

    def server_metadata(self, issuer: str | None = None) -> Metadata:
        """A custom authorization server's RFC 8414 metadata (default: the configured audience)."""
        issuer = issuer or self.settings.audience
        if issuer == self.settings.org_issuer:
            return self.org_metadata()
        if issuer not in self._metadata:
            with self.http.labelled("Discovery (custom server)"):
                self._metadata[issuer] = fetch_metadata(
                    self.http, issuer, form="okta", title="Custom authorization server"
                )
        return self._metadata[issuer]

    def jwks_of(self, issuer: str) -> dict[str, Any]:
        """The JWK Set of an issuer, found through its metadata's `jwks_uri`."""
        if issuer not in self._jwks:
            metadata = self.server_metadata(issuer)
            with self.http.labelled("Keys"):
                self._jwks[issuer] = fetch_jwks(self.http, metadata["jwks_uri"])
        return self._jwks[issuer]

    def org_jwks(self) -> dict[str, Any]:
        """The org keys: they sign ID tokens and ID-JAGs."""
        return self.jwks_of(self.settings.org_issuer)

    # --- client authentication and token requests -------------------------------------------------
    def new_assertion(self, endpoint: str) -> str:
        """A fresh client assertion for one request to `endpoint` (`aud` = the endpoint URL)."""
        return self.signer.assertion_for(endpoint)

    def check_assertion(self, assertion: str, endpoint: str) -> Checklist:
        """Check a client assertion against Okta's rules for `endpoint`, before sending it."""
        return check_client_assertion(
            assertion, endpoint=endpoint, client_id=self.settings.agent_client_id, key=self.key
        )

    def token_request(
        self, url: str, form: dict[str, str], *, assertion: str | None = None, label: str = "Token request"
    ) -> TokenResponse:
        """POST `form` to a token endpoint with a client assertion (fresh unless given).

        Raises:
            OAuthError: Okta's `error` and `error_description`, the status and the exchange.
            ResponseError: an answer that is not a JSON object.
        """
        try:
            return post_token_request(
                self.http, url, form, signer=self.signer, assertion=assertion, label=label
            )
        except OAuthError as exc:
            hint = setting_hint(exc, self.settings)
            if hint:
                exc.add_note(hint)
            raise

    # --- the session file ---------------------------------------------------------------------------
    def remember(self, name: str, value: str, **extra: Any) -> SessionItem:
        """Store a result for the next notebooks; a JWT's `exp` becomes the expiry."""
        expires_at = extra.pop("expires_at", None)
        if expires_at is None and looks_like_jwt(value):
            expires_at = decode_unverified(value)[1].get("exp")
        return self.session.save(name, value, expires_at=expires_at, made_by=f"{self.phase}.ipynb", **extra)

    def mark_used(self, name: str) -> None:
        """Record that a single-use result (the ID-JAG) was redeemed."""
        self.session.mark_used(name)

    def require(self, name: str) -> SessionItem:
        """Return an earlier step's result; headless, the flow re-runs the step(s) that make it.

        Raises:
            SessionError: missing, expired or used, naming the notebook to run (interactive runs).
        """
        return flow.require(self, name)


#: Okta's answers that point at a setting: (error, a phrase of its description) -> the setting and why.
_HINTS: tuple[tuple[str, str, str], ...] = (
    (
        "invalid_client",
        "kid",
        "AGENT_KEY_ID / AGENT_PRIVATE_KEY_FILE: the org does not know this key; "
        "register the public JWKS of 00_configure with the agent",
    ),
    ("invalid_client", "signature", "AGENT_PRIVATE_KEY_FILE: sign with the key registered for the agent"),
    ("invalid_client", "issuer", "AGENT_CLIENT_ID: the org knows no client with this id"),
    ("invalid_client", "client", "AGENT_CLIENT_ID and the agent's registered key"),
    ("invalid_target", "audience", "AUDIENCE (empty: the custom server's issuer) and OKTA_AUTH_SERVER_ID"),
    ("invalid_target", "resource", "RESOURCE: a resource the custom server serves, or empty"),
    ("invalid_target", "", "AUDIENCE, and the agent's resource connection to that server (Admin Console)"),
    ("invalid_scope", "", "AGENT_SCOPES: the target server's custom scopes, without openid"),
    ("access_denied", "", "AGENT_SCOPES, and the custom server's access policy rule for the agent"),
    ("unauthorized_client", "", "AGENT_CLIENT_ID: this client is not allowed the grant type"),
)


def setting_hint(error: OAuthError, settings: Settings) -> str | None:
    """Name the setting an OAuth error most likely points at, and where to change it (or None)."""
    description = (error.error_description or "").lower()
    for code, phrase, what in _HINTS:
        if error.error == code and phrase in description:
            name = what.split(":")[0].split(" ")[0]
            now = settings.to_env().get(name)
            shown = f' (now "{now}")' if now else ""
            return f"To fix: check {what}{shown}; change it in the form of 00_configure (then Save), or .env."
    return None
