"""Step 1 (notebook 01): the user signs in (authorization code + PKCE) and the ID token is checked.

- RFC 6749 §4.1 (authorization code grant), §4.1.2.1 (error redirect), §10.12 (`state`)
- RFC 7636 (PKCE, S256 only)
- OpenID Connect Core 1.0 §3.1.2.1 (authentication request, `nonce`), §3.1.3.7 (ID token validation),
  §3.1.3.8 (`at_hash`)
- RFC 8252 §7.3 (loopback redirect for native apps: the listener here)

Three ways to finish the sign-in, one result (`Callback`): a browser with a loopback listener that
catches the redirect; a pasted URL (when the browser cannot reach the kernel, e.g. a remote
JupyterHub); and, for the sandbox only, a headless sign-in that completes its form over HTTP.

Front channel and back channel: on a JupyterHub the browser is not on the kernel's machine. With
KIT_BROWSER_BASE_URL set (helpers.core.config), the authorize URL the browser opens and the redirect URI it
comes back to go through jupyter-server-proxy (`{KIT_BROWSER_BASE_URL}/proxy/{port}/…`), while the
kernel keeps the loopback URLs: its listener binds REDIRECT_URI, its token requests go to the org URL,
and the ID token's issuer is the org URL. A headless sign-in always uses the back channel.

An interactive sign-in waits up to `KIT_SIGNIN_TIMEOUT` seconds (environment, then `.env`; default 300)
for the redirect. While a cell waits, the kernel reads no widget change from the browser (they are
queued until the cell ends): a URL pasted during the wait is read when the cell runs again, and the
form says so.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .constants import DEFAULT_CLOCK_SKEW
from .core.checks import Checklist
from .core.config import Settings
from .core.errors import SignInError
from .core.formatting import KeyValues, shorten
from .core.jwts import token_hash
from .core.pkce import Pkce
from .core.transport import KitHTTP

OIDC_VALIDATION = "OIDC Core §3.1.3.7"

#: Which setting each authorization request parameter comes from (the agent's sign-in, notebook 01).
DEFAULT_SETTING_NAMES = {
    "client_id": "AGENT_CLIENT_ID",
    "redirect_uri": "REDIRECT_URI",
    "scope": "SIGNIN_SCOPES",
    "authorize_url": "OKTA_ORG_URL",
}
#: Where a person changes a setting.
WHERE_TO_CHANGE = "in the form of 00_configure (then Save), or in .env"


def setting_to_fix(request: AuthorizationRequest, error: str | None, description: str | None) -> str:
    """Name the setting an authorize error points at, its value, and where to change it."""
    text = f"{error or ''} {description or ''}".lower()
    by_code = {
        "invalid_scope": "scope",
        "invalid_target": "resource",
        "invalid_client": "client_id",
        "unauthorized_client": "client_id",
    }
    if error in by_code:
        param = by_code[error]
    elif "redirect" in text:
        param = "redirect_uri"
    elif "resource" in text:
        param = "resource"
    elif "client" in text:
        param = "client_id"
    elif "scope" in text:
        param = "scope"
    else:
        param = "authorize_url"
    name = request.settings_names.get(param, param)
    value = request.authorize_url if param == "authorize_url" else request.params.get(param, "")
    where = WHERE_TO_CHANGE if name in DEFAULT_SETTING_NAMES.values() else "in .env"
    return f'check {name} (now "{value}") {where}'


# --- the authorization request --------------------------------------------------------------------
@dataclass(frozen=True)
class AuthorizationRequest:
    """The parameters of one sign-in: `state`, `nonce`, PKCE, and the authorize URL built from them."""

    authorize_url: str
    client_id: str
    redirect_uri: str
    scope: str
    state: str
    nonce: str
    pkce: Pkce
    extra: dict[str, str] = field(default_factory=dict)
    #: The kit settings each parameter comes from, so an error can name the one to fix.
    settings_names: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SETTING_NAMES))

    @property
    def params(self) -> dict[str, str]:
        """The query parameters of the authorize URL, in a readable order."""
        return {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            # OIDC Core §3.1.2.1: scope MUST contain openid.
            "scope": self.scope,
            # RFC 6749 §10.12: state binds the redirect to this request (CSRF).
            "state": self.state,
            # OIDC Core §3.1.2.1: nonce binds the ID token to this request (replay).
            "nonce": self.nonce,
            # RFC 7636 §4.3: the challenge, S256 only.
            "code_challenge": self.pkce.challenge,
            "code_challenge_method": self.pkce.method,
            **self.extra,
        }

    @property
    def url(self) -> str:
        """The full authorize URL to open in a browser."""
        return f"{self.authorize_url}?{urlencode(self.params)}"

    def __repr__(self) -> str:
        return repr(KeyValues(f"Authorization request to {self.authorize_url}", self.params.items()))

    def _repr_html_(self) -> str:
        return KeyValues(f"Authorization request to {self.authorize_url}", self.params.items())._repr_html_()


def new_authorization_request(settings: Settings, **extra: str) -> AuthorizationRequest:
    """Make a new authorization request: fresh `state`, `nonce` and PKCE verifier (S256).

    Its URLs are the ones the browser uses (the front channel, when KIT_BROWSER_BASE_URL is set).
    """
    return AuthorizationRequest(
        authorize_url=settings.browser_authorize_url,
        client_id=settings.agent_client_id,
        redirect_uri=settings.browser_redirect_uri,
        scope=settings.signin_scope,
        state=secrets.token_urlsafe(16),
        nonce=secrets.token_urlsafe(16),
        pkce=Pkce.new(),
        extra=dict(extra),
    )


# --- the callback -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Callback:
    """The redirect back to REDIRECT_URI after a successful sign-in."""

    url: str = field(repr=False)
    code: str = field(repr=False)
    state: str
    how: str

    def __repr__(self) -> str:
        return repr(
            KeyValues(
                f"Redirect received ({self.how})", [("code", shorten(self.code)), ("state", self.state)]
            )
        )

    def _repr_html_(self) -> str:
        return KeyValues(
            f"Redirect received ({self.how})", [("code", shorten(self.code)), ("state", self.state)]
        )._repr_html_()


def parse_callback(url: str, request: AuthorizationRequest, *, how: str = "redirect") -> Callback:
    """Read the redirect URL: check it goes to REDIRECT_URI, that `state` matches, take the `code`.

    Raises:
        SignInError: another address, a `state` mismatch, an `error` redirect (with Okta's error
            and description), or no `code`.
    """
    url = url.strip()
    got, want = urlsplit(url), urlsplit(request.redirect_uri)
    if (got.scheme, got.netloc, got.path) != (want.scheme, want.netloc, want.path):
        raise SignInError(
            f'redirect URL is "{url[:80]}", expected one starting with "{request.redirect_uri}?"'
        )
    query = {k: v[0] for k, v in parse_qs(got.query, keep_blank_values=True).items()}
    if "error" in query:
        # RFC 6749 §4.1.2.1: the authorization server reports an error in the redirect.
        raise SignInError(
            f"sign-in failed: {query['error']}"
            + (f": {query['error_description']}" if query.get("error_description") else "")
            + f"; {setting_to_fix(request, query['error'], query.get('error_description'))}",
            error=query["error"],
            error_description=query.get("error_description"),
        )
    # RFC 6749 §10.12: the client MUST check state before using the code.
    if query.get("state") != request.state:
        raise SignInError(
            f'redirect "state" is "{query.get("state")}", expected "{request.state}" (RFC 6749 §10.12)'
        )
    if not query.get("code"):
        raise SignInError('redirect has no "code", expected an authorization code (RFC 6749 §4.1.2)')
    return Callback(url=url, code=query["code"], state=query["state"], how=how)


# --- the authorization server's error page ----------------------------------------------------
class ErrorPageParser(HTMLParser):
    """Read `error` and `error_description` from an error page (the sandbox's `<dd id=…>`)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, str] = {}
        self._field: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ident = dict(attrs).get("id")
        self._field = ident if ident in ("error", "error_description") else None

    def handle_data(self, data: str) -> None:
        if self._field and data.strip():
            self.found[self._field] = self.found.get(self._field, "") + data.strip()

    def handle_endtag(self, tag: str) -> None:
        self._field = None


def check_authorize_request(
    http: KitHTTP, request: AuthorizationRequest, url: str, *, label: str = "Sign-in page check"
) -> None:
    """Ask the authorize endpoint for the sign-in page once, before a browser is sent there.

    An authorization server shows an error page instead of redirecting when the client or the redirect
    URI is not one it trusts (RFC 6749 §4.1.2.1), and a browser tab is then all a person would see: this
    check turns that page into an error in the notebook, naming the setting to fix.

    Raises:
        SignInError: an error page (4xx/5xx) or an error redirect, naming the setting and its value.
    """
    with http.labelled(label):
        page = http.get(f"{url}?{urlencode(request.params)}", allow_redirects=False)
    location = page.headers.get("Location", "") if page.is_redirect else ""
    if location.startswith(request.redirect_uri) and "error=" in location:
        parse_callback(location, request, how="sign-in page check")  # raises, naming the setting
    if page.status_code < 400:
        return
    parser = ErrorPageParser()
    if "html" in page.headers.get("Content-Type", ""):
        parser.feed(page.text)
    else:
        try:
            body = page.json()
            parser.found = {k: str(body[k]) for k in ("error", "error_description") if k in body}
        except ValueError:
            pass
    error, description = parser.found.get("error"), parser.found.get("error_description")
    said = f"{error}: {description}" if error else " ".join(page.text.split())[:120]
    raise SignInError(
        f"the authorization server refused the sign-in request with HTTP {page.status_code} ({said}) "
        f"instead of showing its sign-in page; {setting_to_fix(request, error, description)}, then run "
        "this cell again",
        error=error,
        error_description=description,
    )


# --- the code for tokens --------------------------------------------------------------------------------
def code_exchange_form(request: AuthorizationRequest, callback: Callback) -> dict[str, str]:
    """Return the token request form for the code (client authentication is added when it is sent)."""
    return {
        "grant_type": "authorization_code",
        "code": callback.code,
        # RFC 6749 §4.1.3: redirect_uri MUST be identical to the one in the authorization request.
        "redirect_uri": request.redirect_uri,
        # RFC 7636 §4.5: the verifier proves this client made the authorization request.
        "code_verifier": request.pkce.verifier,
    }


# --- the ID token --------------------------------------------------------------------------------------
def check_id_token(
    id_token: str,
    *,
    jwks: dict[str, Any],
    issuer: str,
    client_id: str,
    nonce: str | None,
    access_token: str | None = None,
    now: int | None = None,
    skew: int = DEFAULT_CLOCK_SKEW,
) -> Checklist:
    """Check an ID token as OIDC Core §3.1.3.7 requires (key by `kid`, explicit algorithms)."""
    now = int(time.time()) if now is None else now
    checks = Checklist("ID token checks")
    decoded = checks.decode(id_token, what="ID token")
    if decoded is None:
        return checks
    header, claims = decoded

    checks.asymmetric_alg(header, OIDC_VALIDATION + " step 7")
    checks.signature(
        id_token,
        jwks,
        expected="verifies with the org key named by kid",
        reference=OIDC_VALIDATION + " step 6",
        what="ID token",
    )
    checks.equal('"iss"', issuer, claims.get("iss"), OIDC_VALIDATION + " step 2")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    checks.add('"aud"', f"contains {client_id}", aud, client_id in audiences, OIDC_VALIDATION + " step 3")
    if "azp" in claims or len(audiences) > 1:
        checks.equal('"azp"', client_id, claims.get("azp"), OIDC_VALIDATION + " steps 4-5")
    checks.lifetime(
        claims,
        now=now,
        skew=skew,
        exp_reference=OIDC_VALIDATION + " step 9",
        iat_reference=OIDC_VALIDATION + " step 10",
    )
    if nonce is not None:
        checks.equal('"nonce"', nonce, claims.get("nonce"), OIDC_VALIDATION + " step 11")
    checks.present('"sub"', claims.get("sub"), "OIDC Core §2", expected="the user's id")
    if access_token is not None and "at_hash" in claims:
        expected = token_hash(access_token, str(header.get("alg")))
        checks.equal('"at_hash"', expected, claims.get("at_hash"), "OIDC Core §3.1.3.8")
    return checks
