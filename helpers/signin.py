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
KIT_BROWSER_BASE_URL set (helpers.config), the authorize URL the browser opens and the redirect URI it
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
import threading
import time
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from .checks import Checklist
from .config import Settings, is_loopback_host
from .constants import DEFAULT_CLOCK_SKEW
from .display import KeyValues
from .errors import SignInError, UnreachableError
from .formatting import shorten
from .jwts import token_hash
from .pkce import Pkce
from .transport import KitHTTP

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


# --- headless: the sandbox's sign-in form ------------------------------------------------------------------
class _FormParser(HTMLParser):
    """Collect the forms of a page: action, method and inputs (name, type, value)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._current = {
                "action": values.get("action", ""),
                "method": values.get("method", "get").lower(),
                "inputs": [],
            }
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None:
            self._current["inputs"].append(
                {
                    "name": values.get("name", ""),
                    "type": values.get("type", "text").lower(),
                    "value": values.get("value", ""),
                }
            )

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def find_password_form(html: str) -> dict[str, Any]:
    """Return the page's form that has a password input.

    Raises:
        SignInError: no such form.
    """
    parser = _FormParser()
    parser.feed(html)
    for form in parser.forms:
        if any(i["type"] == "password" for i in form["inputs"]):
            return form
    raise SignInError(f"the sign-in page has {len(parser.forms)} form(s), expected one with a password input")


class _ErrorPageParser(HTMLParser):
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
    parser = _ErrorPageParser()
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


def sign_in_headless(
    http: KitHTTP, request: AuthorizationRequest, settings: Settings, *, authorize_url: str | None = None
) -> Callback:
    """Complete the sandbox's sign-in page over HTTP and return the redirect (sandbox only).

    `authorize_url` is the endpoint the kernel reaches directly (default: the org's; a custom server's
    for an app that signs users in there).

    Raises:
        SignInError: the org is not a loopback sandbox, the page or credentials were refused.
    """
    if not settings.is_sandbox:
        raise SignInError(
            f'OKTA_ORG_URL is "{settings.org_url}", expected the loopback sandbox for a headless sign-in; '
            "against Okta, set KIT_HEADLESS=false and sign in with a browser"
        )
    # The back channel: the kernel reaches the org URL itself, even when a browser would use a proxy.
    url = f"{authorize_url or settings.org_authorize_url}?{urlencode(request.params)}"
    with http.labelled("Sign-in page"):
        page = http.get(url, allow_redirects=False)
    if page.is_redirect:
        return parse_callback(page.headers.get("Location", ""), request, how="headless")
    if page.status_code != 200:
        parser = _ErrorPageParser()
        parser.feed(page.text)
        error, description = parser.found.get("error"), parser.found.get("error_description")
        text = f"{error}: {description}" if error else " ".join(page.text.split())[:160]
        raise SignInError(
            f"GET authorize answered HTTP {page.status_code}, expected 200 with a sign-in page ({text}); "
            f"{setting_to_fix(request, error, description)}",
            error=error,
            error_description=description,
        )
    form = find_password_form(page.text)
    data = {
        i["name"]: i["value"] for i in form["inputs"] if i["name"] and i["type"] not in ("submit", "button")
    }
    for item in form["inputs"]:
        if item["type"] == "password":
            data[item["name"]] = settings.sandbox_password
        elif item["name"] in ("username", "identifier", "email"):
            data[item["name"]] = settings.sandbox_username
    action = urljoin(page.url, form["action"] or page.url)
    with http.labelled("Sign-in form"):
        answer = http.post(action, data=data, allow_redirects=False)
    if not answer.is_redirect:
        raise SignInError(
            f"posting the sign-in form answered HTTP {answer.status_code}, "
            f"expected 302 to {settings.redirect_uri}; "
            f"check SANDBOX_USERNAME ({settings.sandbox_username}) and SANDBOX_PASSWORD"
        )
    return parse_callback(answer.headers.get("Location", ""), request, how="headless")


# --- interactive: a browser and a loopback listener --------------------------------------------------------
#: What the sign-in form says about the pasted-URL box (the kernel reads it only between cells).
PASTE_HELP = (
    "If your browser cannot reach this kernel (a remote JupyterHub, another machine), copy the address "
    "it ends on into the box. While a cell waits for the sign-in, the kernel cannot read this box: "
    "a URL pasted during the wait is read when the cell runs again."
)


_DONE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; background: #f4f5f7; color: #1d1d21;
       margin: 0; display: flex; min-height: 100vh; align-items: center; justify-content: center; }}
main {{ background: #fff; border-radius: 10px; box-shadow: 0 2px 14px rgba(0,0,0,.12); padding: 2.2em 2.6em;
       max-width: 32em; border-top: 6px solid {color}; }}
h1 {{ margin: 0 0 .4em; font-size: 1.5em; color: {color}; }}
p {{ line-height: 1.5; margin: .4em 0; }}
.small {{ color: #5b5b66; font-size: .9em; }}
</style></head>
<body><main><h1>{title}</h1><p>{text}</p>
<p class="small">The kit's notebook received this redirect on its loopback listener (RFC 8252 §7.3).</p>
</main></body></html>"""


class LoopbackListener:
    """A tiny HTTP server on REDIRECT_URI's host and port that catches one redirect (RFC 8252 §7.3).

    `public_uri` is the redirect URI as the browser reaches it (through a proxy on a JupyterHub); the
    URL caught is reported with it, so it compares with the redirect URI of the request.
    """

    def __init__(self, redirect_uri: str, *, public_uri: str | None = None) -> None:
        parts = urlsplit(redirect_uri)
        if parts.scheme != "http" or not is_loopback_host(parts.hostname):
            raise SignInError(
                f'REDIRECT_URI is "{redirect_uri}", expected http:// on a loopback host to listen on it'
            )
        self.path = parts.path or "/"
        self.host = "127.0.0.1" if parts.hostname in ("localhost", "127.0.0.1") else parts.hostname
        self.port = parts.port or 80
        self.netloc = parts.netloc
        self.public_uri = public_uri or f"http://{parts.netloc}{self.path}"
        self.url: str | None = None
        self.caught = threading.Event()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if urlsplit(self.path).path != listener.path:
                    self.send_error(404)
                    return
                query = urlsplit(self.path).query
                listener.url = listener.public_uri + (f"?{query}" if query else "")
                listener.caught.set()
                failed = "error=" in urlsplit(self.path).query
                title = "Sign-in failed" if failed else "Signed in"
                text = (
                    "The authorization server sent an error; return to the notebook to read it."
                    if failed
                    else "You can close this tab and return to the notebook."
                )
                color = "#b3261e" if failed else "#1a7f37"
                body = _DONE_PAGE.format(title=title, text=escape(text), color=color).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # keep the notebook quiet
                return

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="kit-loopback", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop listening (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)


class SignIn:
    """One sign-in in progress. `wait()` returns the Callback.

    Headless (sandbox): the form is completed over HTTP when it starts. Interactive: a browser tab
    opens on the authorize URL, a loopback listener waits for the redirect, and a text box takes
    a pasted redirect URL when the browser cannot reach this kernel. `timeout` (seconds) defaults to
    KIT_SIGNIN_TIMEOUT, else 300. `authorize_url` is the endpoint a headless sign-in reaches directly
    (default: the org's).
    """

    def __init__(
        self,
        http: KitHTTP,
        request: AuthorizationRequest,
        settings: Settings,
        *,
        timeout: int | None = None,
        open_browser: bool = True,
        authorize_url: str | None = None,
    ) -> None:
        self.http = http
        self.request = request
        self.settings = settings
        self.authorize_url = authorize_url
        self._timeout = timeout
        self.open_browser = open_browser
        self.callback: Callback | None = None
        self.listener: LoopbackListener | None = None
        self.listener_problem: str | None = None
        self._widgets: Any = None
        self._displayed = False
        self.preflight_problem: str | None = None

    @property
    def headless(self) -> bool:
        """True when the sign-in completes over HTTP (KIT_HEADLESS=true)."""
        return self.settings.headless

    @property
    def listen_uri(self) -> str:
        """Where the kernel's listener binds: REDIRECT_URI, also when the browser comes through a proxy."""
        if self.request.redirect_uri == self.settings.browser_redirect_uri:
            return self.settings.redirect_uri
        return self.request.redirect_uri

    @property
    def timeout(self) -> int:
        """Seconds `wait()` waits for the redirect: as given, else KIT_SIGNIN_TIMEOUT, else 300."""
        return self.settings.signin_timeout if self._timeout is None else self._timeout

    def start(self) -> SignIn:
        """Begin: headless, sign in now; interactive, check the request, start the listener, open a tab.

        Raises:
            SignInError: the authorization server refused the request (an error page), naming the setting.
        """
        if self.headless:
            self.callback = sign_in_headless(
                self.http, self.request, self.settings, authorize_url=self.authorize_url
            )
            return self
        # The kernel reaches the authorize endpoint itself (the back channel), as a headless sign-in does.
        back_channel = self.authorize_url or self.settings.org_authorize_url
        try:
            check_authorize_request(self.http, self.request, back_channel)
        except UnreachableError:
            # The browser may still reach it (a proxy the kernel does not use): say so, and go on.
            self.preflight_problem = f"the kernel could not reach {back_channel} to check the request first"
        listen_on = self.listen_uri
        try:
            self.listener = LoopbackListener(listen_on, public_uri=self.request.redirect_uri)
        except (OSError, SignInError) as exc:
            self.listener_problem = f"cannot listen on {listen_on} ({exc})"
        self._build_widgets()
        # On a hub the kernel's machine has no browser of the person's: they click the link.
        if self.open_browser and not self.settings.front_channel:
            import webbrowser

            webbrowser.open(self.request.url)
        return self

    def _build_widgets(self) -> None:
        try:
            import ipywidgets as widgets
        except ImportError:  # pragma: no cover (ipywidgets is pinned)
            return
        link = widgets.HTML(
            f'<a href="{escape(self.request.url)}" target="_blank" rel="noopener">Open the sign-in page</a>'
            " (if no tab opened)"
        )
        if self.listener_problem:
            status = (
                f"The kernel {self.listener_problem}: sign in, paste the URL your browser ends on into "
                "the box, then run the next cell."
            )
        else:
            via = (
                f" (your browser reaches it at {self.request.redirect_uri})"
                if self.listen_uri != self.request.redirect_uri
                else ""
            )
            status = (
                f"Listening on {self.listen_uri}{via}: the next cell waits up to {self.timeout} s "
                "for the redirect."
            )
        # HTML, not Label: a Label cuts a long status off at the form's edge.
        self._status = widgets.HTML(value=escape(status, quote=False))
        self._pasted = widgets.Text(
            placeholder=f"{self.request.redirect_uri}?code=…&state=…",
            description="Pasted URL:",
            layout=widgets.Layout(width="90%"),
            style={"description_width": "initial"},
        )
        help_text = widgets.HTML(
            f'<div style="font-size: smaller; line-height: 1.4">{escape(PASTE_HELP, quote=False)}</div>'
        )
        parts = [link, self._status, self._pasted, help_text]
        if self.preflight_problem:
            note = f"Note: {self.preflight_problem}."
            parts.insert(2, widgets.HTML(f'<div style="color: #a05a00">{escape(note, quote=False)}</div>'))
        self._widgets = widgets.VBox(parts)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        text = repr(self)
        self._displayed = True
        if self._widgets is None:
            return {"text/plain": text}
        bundle = self._widgets._repr_mimebundle_(**kwargs)  # noqa: SLF001
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/plain"] = text
        return data

    def __repr__(self) -> str:
        if self.headless:
            return (
                "Headless sign-in to the sandbox as "
                + self.settings.sandbox_username
                + (": redirect received" if self.callback else "")
            )
        return (
            f"Sign in with your browser; waiting up to {self.timeout} s for the redirect to "
            f"{self.request.redirect_uri}. " + PASTE_HELP
        )

    @property
    def pasted_url(self) -> str:
        """The URL pasted into the text box (empty if none)."""
        return self._pasted.value.strip() if self._widgets is not None else ""

    def finish(self, url: str) -> Callback:
        """Finish with a redirect URL copied from the browser's address bar."""
        self.callback = parse_callback(url, self.request, how="pasted URL")
        self._close()
        return self.callback

    def wait(self, timeout: int | None = None) -> Callback:
        """Return the redirect: already there (headless), pasted, or caught by the listener.

        Raises:
            SignInError: nothing arrived within the timeout (says how to paste the URL instead).
        """
        if self.callback is not None:
            return self.callback
        if self.headless:
            return self.start().callback  # type: ignore[return-value]
        if self.pasted_url:
            return self.finish(self.pasted_url)
        if not self._displayed and self._widgets is not None:
            # The link and the paste box must be on screen before the cell waits (a cell that starts
            # and waits at once never shows its last expression until the wait is over).
            try:
                from IPython.display import display

                display(self)
            except ImportError:  # pragma: no cover (IPython comes with the kernel)
                pass
        if self.listener is None:
            # Nothing can arrive while this cell runs: no listener, and the box is read only between cells.
            message = (
                f"nothing to wait for: the kernel {self.listener_problem or 'has not started the sign-in'}. "
                "Paste the URL your browser was sent to into the box, then run this cell again"
            )
            self._show(f"Not waiting: {message}.")
            raise SignInError(message)
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        try:
            while True:
                if self.pasted_url:  # only when the box changed before this cell began (see PASTE_HELP)
                    return self.finish(self.pasted_url)
                if self.listener.caught.is_set():
                    self.callback = parse_callback(
                        self.listener.url or "", self.request, how="loopback listener"
                    )
                    return self.callback
                left = int(deadline - time.monotonic() + 0.999)
                if left <= 0:
                    break
                self._show(
                    f"Waiting for the redirect to {self.request.redirect_uri}: {left} s left of {limit} s. "
                    "A URL pasted now is read when the cell runs again."
                )
                self.listener.caught.wait(0.5)
        finally:
            if self.callback is not None:
                self._close()
        message = (
            f"no redirect reached {self.request.redirect_uri} within {limit} s. Finish signing in, then "
            "either run this cell again, or paste the URL your browser was sent to into the box and run "
            "this cell again"
        )
        self._show(f"Gave up waiting after {limit} s: {message}.")
        raise SignInError(message)

    def _show(self, text: str) -> None:
        if self._widgets is not None:
            self._status.value = escape(text, quote=False)

    def _close(self) -> None:
        if self.listener is not None:
            self.listener.close()
        how = f" ({self.callback.how})" if self.callback is not None else ""
        self._show(f"Redirect received{how}.")


def start_sign_in(
    http: KitHTTP,
    request: AuthorizationRequest,
    settings: Settings,
    *,
    timeout: int | None = None,
    open_browser: bool = True,
) -> SignIn:
    """Start the sign-in: headless against the sandbox when KIT_HEADLESS is on, else in a browser.

    An interactive sign-in waits `timeout` seconds (default: KIT_SIGNIN_TIMEOUT, else 300).
    """
    return SignIn(http, request, settings, timeout=timeout, open_browser=open_browser).start()


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
