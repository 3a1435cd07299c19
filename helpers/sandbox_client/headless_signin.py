"""Step 1 (notebook 01), sandbox only: complete the sandbox's sign-in page over HTTP, no browser.

Headless runs (`make test`, KIT_HEADLESS=true) sign the sandbox's user in by reading the sign-in page
the sandbox serves (`sandbox/templates/signin.html`): its form with a password input, posted with
SANDBOX_USERNAME and SANDBOX_PASSWORD. Against Okta a person signs in with a browser
(helpers.teaching.browser_signin).
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urljoin

from ..core.config import Settings
from ..core.errors import SignInError
from ..core.transport import KitHTTP
from ..signin import AuthorizationRequest, Callback, ErrorPageParser, parse_callback, setting_to_fix


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
        parser = ErrorPageParser()
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
