"""The kit in a real browser: JupyterLab in Debian's Chromium, driven by Playwright as a person uses it.

nbval runs the notebooks' cells in a kernel with no frontend. Here the notebooks open in JupyterLab:
the forms render, their buttons are clicked, the authorize link opens the sandbox's sign-in page, and
the redirect comes back to the notebook through its loopback listener (RFC 8252 §7.3) or a pasted URL.
Every case saves screenshots in its own output folder (pytest's `tmp_path`; a failure report names it).

Cells are found by their source or their output, never by index: notebooks gain cells over time.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from lab_driver import (
    AGENT_CLIENT_ID,
    CHROMIUM,
    NO_CHROMIUM,
    BrowserKit,
    NotebookPage,
    PortSquatter,
    clipped_texts,
    env_value,
    keep_redirects_from_the_kernel,
    open_sign_in_page,
    save_screenshot,
    sign_in,
)
from playwright.sync_api import Locator, Page, expect

if not CHROMIUM.exists():
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

pytestmark = pytest.mark.slow

#: The sentence the sign-in form must show about the pasted-URL box (the kernel reads it between cells).
PASTED_DURING_THE_WAIT = "a URL pasted during the wait is read when the cell runs again"
ALL_PASSED = r"(\d+) of \1 passed"


def outputs(cell: Locator) -> Locator:
    """The output area of a cell."""
    return cell.locator(".jp-OutputArea")


def table_row(area: Locator, name: str) -> Locator:
    """The row of a rendered table (a token card) whose first cell is `name`."""
    return area.locator("tr").filter(has=area.page.get_by_role("cell", name=name, exact=True))


def waiting_status(area: Locator, redirect_uri: str, limit: int) -> Locator:
    """The sign-in form's status line while `login.wait()` runs: what it waits for and for how long."""
    return area.get_by_text(
        re.compile(rf"^Waiting for the redirect to {re.escape(redirect_uri)}: \d+ s left of {limit} s\.")
    )


def sign_in_through_the_notebook(notebook: NotebookPage, kit: BrowserKit) -> Page:
    """Run All on 01, follow its authorize link, sign in as Alice; return the tab (on the listener's page)."""
    notebook.open("01_user_sign_in.ipynb")
    notebook.run_all(wait=False)
    start = notebook.cell("login = browser_signin.start_sign_in(")
    expect(waiting_status(outputs(start), kit.redirect_uri, 300)).to_be_visible(timeout=60_000)
    notebook.screenshot("01-waiting-for-the-redirect", start)
    assert clipped_texts(outputs(start)) == []
    tab = open_sign_in_page(notebook.page.context, start.get_by_role("link", name="Open the sign-in page"))
    # The link is the authorization request: the sandbox's authorize endpoint, back to our listener.
    assert tab.url.startswith(f"{kit.org_url}/oauth2/v1/authorize?")
    assert parse_qs(urlsplit(tab.url).query)["redirect_uri"] == [kit.redirect_uri]
    save_screenshot(tab, notebook.shots, "01-sandbox-sign-in-page")
    sign_in(tab)
    # The sandbox redirected the browser to the notebook's loopback listener, which answered this page.
    expect(tab.get_by_role("heading", name="Signed in")).to_be_visible()
    assert tab.url.startswith(f"{kit.redirect_uri}?code=")
    save_screenshot(tab, notebook.shots, "01-listener-page")
    notebook.wait_last_cell()
    return tab


def expect_a_checked_id_token(notebook: NotebookPage, how: str) -> None:
    """The sign-in finished (`how`), the ID token passed every check, and its card is shown."""
    assert notebook.error_outputs() == []
    expect(outputs(notebook.cell("callback = login.wait()"))).to_contain_text(f"Redirect received ({how})")
    checks = notebook.cell("checks = signin.check_id_token(")
    expect(outputs(checks)).to_contain_text(re.compile("ID token checks: " + ALL_PASSED))
    expect(outputs(checks)).not_to_contain_text("FAIL")
    card = outputs(notebook.cell('kit.card(tokens["id_token"], "ID token")'))
    expect(card).to_contain_text("ID token")
    expect(table_row(card, "aud")).to_contain_text(AGENT_CLIENT_ID)
    notebook.screenshot("01-id-token-checked", checks)


# --- case 1: the configuration form and "Load scopes" -------------------------------------------------------
def test_the_configuration_form_shows_the_env_saves_a_change_and_loads_scopes(kit, notebook):
    notebook.open("00_configure.ipynb")
    notebook.run_all()
    assert notebook.error_outputs() == []

    form_cell = notebook.cell("form = ConfigForm(settings)")
    form = outputs(form_cell)
    org = form.get_by_label("Org URL", exact=True)
    signin_scopes = form.get_by_label("Sign-in scopes", exact=True)
    # The form shows this kit's .env (the sandbox's random port, the test's redirect URI), not defaults.
    expect(org).to_have_value(kit.org_url)
    expect(form.get_by_label("Redirect URI", exact=True)).to_have_value(kit.redirect_uri)
    expect(signin_scopes).to_have_value("openid profile email")
    expect(form.get_by_label("Headless (no browser)")).not_to_be_checked()
    expect(form.get_by_role("button", name="Sandbox (local, offline)")).to_have_class(
        re.compile(r"mod-active")
    )
    notebook.screenshot("00-form-from-env", form_cell)
    assert clipped_texts(form) == []

    signin_scopes.fill("openid email")
    form.get_by_role("button", name="Save").click()
    expect(form.get_by_text("Saved 1 changed setting(s).")).to_be_visible()
    assert clipped_texts(form) == []
    assert env_value(kit.env_file, "SIGNIN_SCOPES") == "openid email"
    # The next cell reads the form's current values when it runs.
    view = notebook.run_cell(notebook.cell("settings = form.settings()"))
    expect(view.get_by_role("row", name=re.compile(r"^SIGNIN_SCOPES"))).to_contain_text("openid email")

    org.fill("http://example.com")
    form.get_by_role("button", name="Save").click()
    expect(
        form.get_by_text('Not done: OKTA_ORG_URL is "http://example.com", expected https:// (plain http only')
    ).to_be_visible()
    assert env_value(kit.env_file, "OKTA_ORG_URL") == kit.org_url
    notebook.screenshot("00-form-refuses-a-bad-org-url", form_cell)
    assert clipped_texts(form) == []
    form.get_by_role("button", name="Use existing configuration").click()
    expect(org).to_have_value(kit.org_url)
    expect(form.get_by_text("Loaded the existing configuration.")).to_be_visible()

    audience_cell = notebook.cell("audience = AudienceForm(")
    audience = outputs(audience_cell)
    box = audience.get_by_label("Audience (issuer):")
    load = audience.get_by_role("button", name="Load scopes")
    choices = audience.get_by_label("Scopes:", exact=True).locator("option")
    for server, public in [("reports", ["reports.read"]), ("default", ["todo.read", "todo.write"])]:
        box.fill(f"{kit.org_url}/oauth2/{server}")
        load.click()
        expect(choices).to_have_text(public)
        expect(audience.get_by_text(f"Loaded {len(public)} public scope(s).")).to_be_visible()
    # todo.admin exists on the default server but is not in its public metadata.
    assert "todo.admin" not in choices.all_inner_texts()
    notebook.screenshot("00-scopes-loaded", audience_cell)
    assert clipped_texts(audience) == []

    box.fill(f"{kit.org_url}/oauth2/nosuch")
    load.click()
    expect(
        audience.get_by_text(
            re.compile(r"^Could not load scopes \(GET \S+/oauth2/nosuch/\S+ answered HTTP 400")
        )
    ).to_be_visible()
    expect(choices).to_have_count(0)
    assert clipped_texts(audience) == []
    box.fill(f"{kit.org_url}/oauth2/default")
    load.click()
    audience.get_by_label("Scopes:", exact=True).select_option(["todo.read", "todo.write"])
    audience.get_by_role("button", name="Save").click()
    expect(audience.get_by_text("Saved AGENT_SCOPES.")).to_be_visible()
    assert clipped_texts(audience) == []
    assert env_value(kit.env_file, "AGENT_SCOPES") == "todo.read todo.write"
    notebook.screenshot("00-scopes-saved", audience_cell)


# --- case 2: signing in through the browser -------------------------------------------------------------
def test_signing_in_in_the_browser_comes_back_to_the_notebooks_listener(kit, notebook):
    sign_in_through_the_notebook(notebook, kit)
    expect_a_checked_id_token(notebook, "loopback listener")
    session = json.loads((kit.state_dir / "session.json").read_text(encoding="utf-8"))
    assert session["id_token"]["made_by"] == "01_user_sign_in.ipynb"


def test_a_url_pasted_during_the_wait_is_read_when_the_cell_runs_again(kit, notebook):
    kit.set_env(KIT_SIGNIN_TIMEOUT="8")
    notebook.open("01_user_sign_in.ipynb")
    start = notebook.cell("login = browser_signin.start_sign_in(")
    wait = notebook.cell("callback = login.wait()")
    notebook.run_above(wait)
    notebook.wait_cell(start)
    form = outputs(start)
    expect(form).to_contain_text(PASTED_DURING_THE_WAIT)

    # The browser signs in but cannot reach the kernel: the listener never sees the redirect.
    tab = open_sign_in_page(notebook.page.context, start.get_by_role("link", name="Open the sign-in page"))
    keep_redirects_from_the_kernel(tab, kit.redirect_uri)
    sign_in(tab)
    expect(tab.get_by_role("heading", name="This browser cannot reach the kernel")).to_be_visible()
    final_url = tab.url
    assert final_url.startswith(f"{kit.redirect_uri}?code=")
    save_screenshot(tab, notebook.shots, "01-browser-cannot-reach-the-kernel")
    tab.close()

    notebook.start_cell(wait)
    waiting = waiting_status(form, kit.redirect_uri, 8)
    expect(waiting).to_be_visible()
    form.get_by_label("Pasted URL:").fill(final_url)
    expect(waiting).to_be_visible()  # pasted while the cell waits
    notebook.screenshot("01-pasted-during-the-wait", start)
    # The kernel reads no widget change while the cell runs: the wait still gives up ...
    notebook.wait_cell(wait, timeout=30_000)
    expect(form.get_by_text(re.compile(r"^Gave up waiting after 8 s"))).to_be_visible()
    expect(outputs(wait)).to_contain_text(f"SignInError: no redirect reached {kit.redirect_uri} within 8 s")
    notebook.screenshot("01-gave-up", wait)
    # ... and running the cell again reads the pasted URL.
    notebook.run_from(wait)
    expect_a_checked_id_token(notebook, "pasted URL")


def test_when_the_listener_cannot_start_the_cell_says_so_at_once_and_a_pasted_url_finishes(kit, notebook):
    with PortSquatter(kit.redirect_port) as squatter:
        notebook.open("01_user_sign_in.ipynb")
        start = notebook.cell("login = browser_signin.start_sign_in(")
        wait = notebook.cell("callback = login.wait()")
        notebook.run_above(wait)
        notebook.wait_cell(start)
        expect(outputs(start)).to_contain_text(f"The kernel cannot listen on {kit.redirect_uri} ([Errno ")
        notebook.run_cell(wait)
        # Nothing could arrive while the cell waits, so it does not wait: it says what to do.
        expect(outputs(start)).to_contain_text("Not waiting: nothing to wait for")
        assert clipped_texts(outputs(start)) == []
        expect(outputs(wait)).to_contain_text(
            f"SignInError: nothing to wait for: the kernel cannot listen on {kit.redirect_uri}"
        )
        expect(outputs(wait)).to_contain_text(
            "Paste the URL your browser was sent to into the box, then run this cell again"
        )
        notebook.screenshot("01-no-listener", start)

        tab = open_sign_in_page(
            notebook.page.context, start.get_by_role("link", name="Open the sign-in page")
        )
        sign_in(tab)
        expect(tab.get_by_role("heading", name="This browser cannot reach the kernel")).to_be_visible()
        final_url = tab.url
        parts = urlsplit(final_url)
        # The redirect went to the other program (the browser also asks it for a favicon).
        assert [path for path in squatter.paths if path != "/favicon.ico"] == [f"{parts.path}?{parts.query}"]
        tab.close()
        outputs(start).get_by_label("Pasted URL:").fill(final_url)
        notebook.run_from(wait)
        expect_a_checked_id_token(notebook, "pasted URL")


# --- case 3: Run All on the agent's notebooks -------------------------------------------------------------
def test_run_all_on_02_03_and_04_after_a_sign_in_shows_the_id_jag_the_access_token_and_the_api_answer(
    kit, notebook
):
    sign_in_through_the_notebook(notebook, kit)
    assert notebook.error_outputs() == []

    notebook.open("02_token_exchange_id_jag.ipynb")
    notebook.run_all()
    assert notebook.error_outputs() == []
    checks = outputs(notebook.cell("checks = token_exchange.check_id_jag("))
    expect(checks).to_contain_text(re.compile("ID-JAG checks: " + ALL_PASSED))
    card_cell = notebook.cell('kit.card(response["access_token"], "ID-JAG")')
    card = outputs(card_cell)
    expect(card).to_contain_text("ID-JAG")
    expect(table_row(card, "typ")).to_contain_text("oauth-id-jag+jwt")
    notebook.screenshot("02-id-jag-card", card_cell)

    notebook.open("03_jwt_bearer_access_token.ipynb")
    notebook.run_all()
    assert notebook.error_outputs() == []
    checks = outputs(notebook.cell("checks = jwt_bearer.check_access_token("))
    expect(checks).to_contain_text(re.compile("Access token checks: " + ALL_PASSED))
    card_cell = notebook.cell('kit.card(response["access_token"], "Access token")')
    card = outputs(card_cell)
    expect(card).to_contain_text("Access token")
    expect(table_row(card, "cid")).to_contain_text(AGENT_CLIENT_ID)
    notebook.screenshot("03-access-token-card", card_cell)

    notebook.open("04_call_the_api.ipynb")
    notebook.run_all()
    assert notebook.error_outputs() == []
    answer_cell = notebook.cell("result = api.call_api(")
    answer = outputs(answer_cell)
    expect(answer).to_contain_text("HTTP 200")
    expect(answer).to_contain_text('"user": "alice@example.com"')
    notebook.screenshot("04-api-answer", answer_cell)


# --- case 4: a cell that waits says so, and gives up -------------------------------------------------------
def test_a_waiting_sign_in_cell_shows_how_long_it_waits_and_gives_up_with_a_clear_message(kit, notebook):
    kit.set_env(KIT_SIGNIN_TIMEOUT="4")
    notebook.open("01_user_sign_in.ipynb")
    notebook.run_all(wait=False)
    start = notebook.cell("login = browser_signin.start_sign_in(")
    wait = notebook.cell("callback = login.wait()")
    form = outputs(start)
    expect(waiting_status(form, kit.redirect_uri, 4)).to_be_visible()
    expect(wait.locator(".jp-InputPrompt")).to_have_text("[*]:")
    expect(form).to_contain_text(PASTED_DURING_THE_WAIT)
    notebook.screenshot("01-waiting", start)

    notebook.wait_last_cell()
    expect(form.get_by_text(re.compile(r"^Gave up waiting after 4 s: no redirect reached"))).to_be_visible()
    assert clipped_texts(form) == []
    expect(outputs(wait)).to_contain_text(
        f"SignInError: no redirect reached {kit.redirect_uri} within 4 s. Finish signing in, then either run "
        "this cell again, or paste the URL your browser was sent to into the box and run this cell again"
    )
    errors = notebook.error_outputs()
    assert len(errors) == 1 and "SignInError" in errors[0]
    # Run All stopped there: the cells that need the redirect did not run.
    checks = notebook.cell("checks = signin.check_id_token(")
    expect(checks.locator(".jp-InputPrompt")).to_have_text("[ ]:")
    expect(outputs(checks)).to_be_empty()
    notebook.screenshot("01-gave-up", wait)
