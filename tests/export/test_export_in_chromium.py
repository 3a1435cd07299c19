"""The exported pages in a real browser with the network cut off: the forms render with their values.

Debian's Chromium (`/usr/bin/chromium`) opens the pages from `file://`; every request that is not a
`file://` URL is aborted and recorded, so the widget renderer, require.js and the fonts must all come
from the export's own folder. Playwright never downloads a browser here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "the exported pages' browser tests need Chromium at /usr/bin/chromium: "
        "run `sudo apt-get install chromium` (CI's .ci/run installs it)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


class Offline:
    """A page whose non-file requests are aborted; what was aborted or failed is kept."""

    def __init__(self, browser: Browser, *, javascript: bool = True) -> None:
        self.context = browser.new_context(
            java_script_enabled=javascript, viewport={"width": 1280, "height": 900}
        )
        self.aborted: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page: Page = self.context.new_page()
        self.page.on("requestfailed", lambda request: self.failed.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _route(self, route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            self.aborted.append(route.request.url)
            route.abort()


@pytest.fixture
def offline(browser: Browser, tmp_path: Path) -> Iterator[Offline]:
    """An offline page; a full-page screenshot is saved to the test's tmp_path (page.png) at the end."""
    session = Offline(browser)
    yield session
    try:
        session.page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    finally:
        session.context.close()


def field(page: Page, label: str):
    """The input of the form field whose label is `label`."""
    exact = re.compile(rf"^\s*{re.escape(label)}:?\s*$")
    return page.locator(".widget-inline-hbox", has=page.locator("label.widget-label", has_text=exact)).first


def test_the_configuration_form_renders_its_saved_values_with_the_network_cut_off(
    exported, offline, tmp_path
):
    page = offline.page
    page.goto((exported.out / "00_configure.html").as_uri())
    page.wait_for_selector(".widget-text input", timeout=20_000)
    print(f"screenshot of this page: {tmp_path / 'page.png'}")

    assert field(page, "Org URL").locator("input").input_value() == "http://127.0.0.1:8400"
    assert field(page, "Agent client_id").locator("input").input_value() == "wlpSandboxAgent00001"
    assert field(page, "API URL").locator("input").input_value() == "http://127.0.0.1:8400/todo-api/todos"
    assert field(page, "Key algorithm").locator("select").input_value() == "RS256"
    assert page.locator(".widget-checkbox", has_text="Redact tokens in outputs").locator("input").is_checked()
    assert field(page, "Sandbox password").locator("input").input_value() == ""
    assert page.locator(".widget-toggle-button.mod-active").first.inner_text().startswith("Sandbox")
    # The audience form: its audience, and the scopes loaded from metadata with todo.read chosen.
    assert (
        field(page, "Audience (issuer)").locator("input").input_value()
        == "http://127.0.0.1:8400/oauth2/default"
    )
    scopes = field(page, "Scopes").locator("select")
    assert scopes.locator("option").all_inner_texts() == ["todo.read", "todo.write"]
    assert scopes.evaluate("s => Array.from(s.selectedOptions).map(o => o.value)") == ["todo.read"]

    assert offline.aborted == [], "the page asked the network for something"
    assert offline.failed == [], "a file the page needs is missing from the export"
    assert offline.errors == []


def test_without_javascript_the_static_text_still_shows_the_values(exported, browser):
    session = Offline(browser, javascript=False)
    try:
        session.page.goto((exported.out / "00_configure.html").as_uri())
        static = session.page.locator(".kit-widget-text pre").first.inner_text()
        assert "Org URL: http://127.0.0.1:8400" in static
        assert session.page.locator(".widget-text input").count() == 0
        assert session.aborted == []
    finally:
        session.context.close()


@pytest.mark.parametrize("name", ["index.html", "01_user_sign_in.html"])
def test_the_other_pages_load_with_the_network_cut_off(exported, offline, name):
    offline.page.goto((exported.out / name).as_uri())
    offline.page.wait_for_load_state("load")
    assert offline.page.locator("h1").first.inner_text()
    assert offline.aborted == [] and offline.failed == [] and offline.errors == []
