"""Step 1 (notebook 01): the interactive sign-in, a browser and a loopback listener (RFC 8252 §7.3).

`start_sign_in` shows the `SignIn` widget: a link to the authorization server's sign-in page, a status,
and a box for a pasted URL. A `LoopbackListener` on REDIRECT_URI catches the redirect when the browser
can reach the kernel; otherwise the person pastes the address the browser ends on. Either way the
result is a `helpers.signin.Callback`, checked as RFC 6749 §4.1.2 and §10.12 say.
"""

from __future__ import annotations

import threading
import time
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ..core.config import Settings, is_loopback_host
from ..core.errors import SignInError, UnreachableError
from ..core.transport import KitHTTP
from ..sandbox_client.headless_signin import sign_in_headless
from ..signin import AuthorizationRequest, Callback, check_authorize_request, parse_callback

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
