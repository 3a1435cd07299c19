"""Notebooks 00 to 04 in Okta mode, in JupyterLab and Chromium, against the sandbox serving HTTPS.

The org is `python -m sandbox serve --tls`'s stand-in for an Okta org (`lab_driver.stand_in_overrides`):
`https://127.0.0.1:<port>`, a certificate from its local test CA, and an agent, a user and a resource
connection of its own, none of them the sandbox's defaults. Nothing in the run relies on the org being
the sandbox: the org URL, the agent's client id, the custom server and the API are typed into the
configuration form as a person types them; the person signs in on the org's page in the browser (Okta
mode refuses a headless sign-in; the sandbox records the browser's user agent); the scopes come from
"Load scopes"; no local sandbox may start (`KIT_SANDBOX=off`).

Trust, as for a person behind a company proxy: Chromium trusts the CA through the NSS certificate database
of the HOME it runs with (`lab_driver.trusting_browser_home`), the kernel through `KIT_CA_BUNDLE` in the
kit's `.env`; TLS verification is never turned off (tests/test_repository_hygiene.py scans this folder).

Cells are found by their source or their output, never by index. Screenshots go to each test's tmp_path.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from lab_driver import (
    CA_NICKNAME,
    CAROL,
    CERTUTIL,
    CHROMIUM,
    CHROMIUM_FLAGS,
    NO_CERTUTIL,
    NO_CHROMIUM,
    STAND_IN_AGENT,
    BrowserKit,
    NotebookPage,
    chromium_browser,
    clipped_texts,
    env_value,
    keep_redirects_from_the_kernel,
    open_sign_in_page,
    save_screenshot,
    sign_in,
    start_browser_kit,
    trusted_authorities,
    trusting_browser_home,
)
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, expect

if not CHROMIUM.exists():
    pytest.skip(NO_CHROMIUM, allow_module_level=True)
if CERTUTIL is None:
    pytest.skip(NO_CERTUTIL, allow_module_level=True)

pytestmark = pytest.mark.slow

#: A checklist's summary line (helpers.checks.Checklist.summary): its title, rows passed, rows in all.
CHECKLIST = re.compile(r"^(?P<title>[^\n:]+): (?P<passed>\d+) of (?P<total>\d+) passed", re.M)
#: A "your turn" exercise answered right (helpers.exercises.Feedback).
EXERCISE_RIGHT = re.compile(r"✓ (?P<title>[^\n:]+): right\.")
#: The System Log's answer for one request (helpers.system_log.ServerSide): its one event.
SERVER_SIDE_ONE_EVENT = re.compile(r"Server's side: 1 System Log event\(s\) with transaction\.id eq \"\S+\"")
#: What marks a failure in a checklist (`✗ FAIL`) or an exercise (`✗ …: not yet.`).
FAILED = "✗"


# --- the module's kit, browser HOME and Chromium (they replace conftest.py's plain-HTTP ones) --------------
@pytest.fixture(scope="module")
def browser_kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserKit]:
    """A kit home and the HTTPS stand-in; `.env` as a learner has it before choosing "Okta org"."""
    home = tmp_path_factory.mktemp("okta-kit") / "home"
    kit = start_browser_kit(home, tls=True)
    try:
        yield kit
    finally:
        kit.sandbox.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def browser_home(browser_kit: BrowserKit, tmp_path_factory: pytest.TempPathFactory):
    """The HOME Chromium runs with: its NSS certificate database trusts the stand-in's CA, nothing more."""
    assert browser_kit.ca_file is not None
    return trusting_browser_home(tmp_path_factory.mktemp("chromium-home"), browser_kit.ca_file)


@pytest.fixture(scope="module")
def chromium(browser_home) -> Iterator:
    with chromium_browser(browser_home) as browser:
        yield browser


# --- what the tests share ----------------------------------------------------------------------------------
def outputs(cell: Locator) -> Locator:
    return cell.locator(".jp-OutputArea")


def table_row(area: Locator, name: str) -> Locator:
    """The row of a rendered table (a token card) whose first cell is `name`."""
    return area.locator("tr").filter(has=area.page.get_by_role("cell", name=name, exact=True))


def api_url(kit: BrowserKit) -> str:
    """The stand-in's API: the to-do API the org's custom server `default` protects."""
    return f"{kit.org_url}/todo-api/todos"


def okta_settings(kit: BrowserKit) -> dict[str, str]:
    """What a person sets for this org (README, "Against your Okta org"): none of it the sandbox's."""
    return {
        "OKTA_ORG_URL": kit.org_url,
        "OKTA_AUTH_SERVER_ID": "default",
        "AGENT_CLIENT_ID": STAND_IN_AGENT,
        "API_URL": api_url(kit),
        "KIT_HEADLESS": "false",
    }


def output_text(notebook: NotebookPage) -> str:
    """The text of every output of the notebook."""
    return "\n".join(notebook.panel.locator(".jp-OutputArea").all_inner_texts())


def expect_every_check_passed(notebook: NotebookPage, checklists: list[str], exercise: str | None) -> None:
    """No error output; exactly these checklists, in this order, each with every row passed; the
    notebook's exercise (its answer as committed) said to be right; no failure mark anywhere."""
    assert notebook.error_outputs() == [], notebook.name
    text = output_text(notebook)
    found = list(CHECKLIST.finditer(text))
    assert [match.group("title") for match in found] == checklists, [m.group(0) for m in found]
    assert [m.group(0) for m in found if m.group("passed") != m.group("total")] == []
    assert [match.group("title") for match in EXERCISE_RIGHT.finditer(text)] == (
        [exercise] if exercise else []
    )
    assert FAILED not in text, notebook.name


def expect_a_checked_id_token(notebook: NotebookPage, kit: BrowserKit, how: str) -> None:
    """01 finished (`how`): the ID token passed every check; the org issued it to the stand-in's agent."""
    expect(outputs(notebook.cell("callback = login.wait()"))).to_contain_text(f"Redirect received ({how})")
    expect_every_check_passed(notebook, ["Client assertion checks", "ID token checks"], "Code exchange form")
    card = outputs(notebook.cell('kit.card(tokens["id_token"], "ID token")'))
    expect(table_row(card, "aud")).to_contain_text(STAND_IN_AGENT)
    expect(table_row(card, "iss")).to_contain_text(kit.org_url)
    notebook.screenshot("01-id-token-checked", notebook.cell("checks = signin.check_id_token("))


def sign_ins_since(kit: BrowserKit, cursor: int) -> list[tuple[str, str, str]]:
    """The org's record of each sign-in on its page since `cursor`: result, user, the browser's user agent."""
    return [
        (
            event["outcome"]["result"],
            event["target"][0]["alternateId"],
            event["client"]["userAgent"]["rawUserAgent"],
        )
        for event in kit.sandbox.sandbox.events.list(since=cursor)
        if event["eventType"] == "user.session.start"
    ]


# --- the browser trusts the org's CA through its certificate store ------------------------------------------
def test_chromium_trusts_the_stand_ins_ca_through_its_certificate_store_and_only_there(
    chromium, browser_kit, browser_home, tmp_path
):
    assert trusted_authorities(browser_home) == [CA_NICKNAME]
    discovery = f"{browser_kit.org_url}/.well-known/openid-configuration"
    context = chromium.new_context()
    try:
        page = context.new_page()
        response = page.goto(discovery)
        assert response is not None and response.status == 200
        security = response.security_details()
        assert security["subjectName"] == "localhost"
        assert security["issuer"].startswith("Sandbox test CA ")
        assert page.evaluate("() => JSON.parse(document.body.innerText).issuer") == browser_kit.org_url
        save_screenshot(page, tmp_path, "discovery-over-https")
    finally:
        context.close()

    # The same Chromium with a HOME whose store does not hold the CA refuses the certificate.
    untrusting = chromium.browser_type.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_FLAGS,
        env={**os.environ, "HOME": str(tmp_path / "home-without-the-ca")},
    )
    try:
        with pytest.raises(PlaywrightError, match=r"net::ERR_CERT_AUTHORITY_INVALID"):
            untrusting.new_page().goto(discovery)
    finally:
        untrusting.close()


# --- 00 to 04: the form, the link, Run All ------------------------------------------------------------------
@pytest.mark.timeout(900)
def test_okta_mode_from_the_form_through_the_org_sign_in_page_to_the_api(kit, notebook):
    cursor = kit.sandbox.sandbox.events.cursor()

    # 00: the form, as a person fills it for an org.
    notebook.open("00_configure.ipynb")
    form_cell = notebook.cell("form = ConfigForm(settings)")
    settings_cell = notebook.cell("settings = form.settings()")
    notebook.run_above(settings_cell)
    notebook.wait_cell(form_cell)
    form = outputs(form_cell)
    okta = form.get_by_role("button", name="Okta org", exact=True)
    org = form.get_by_label("Org URL", exact=True)
    client = form.get_by_label("Agent client_id", exact=True)
    server = form.get_by_label("Custom auth server id", exact=True)
    api = form.get_by_label("API URL", exact=True)
    expect(form.get_by_role("button", name="Sandbox (local, offline)")).to_have_class(
        re.compile("mod-active")
    )
    okta.click()
    expect(okta).to_have_class(re.compile("mod-active"))
    # The sandbox's own values are cleared, the org URL asked for, the sign-in is in a browser.
    expect(org).to_have_value("")
    expect(org).to_have_attribute("placeholder", "https://your-org.okta.com")
    expect(client).to_have_value("")
    expect(api).to_have_value("")
    expect(form.get_by_label("Headless (no browser)")).not_to_be_checked()
    org.fill(kit.org_url)
    server.fill("default")
    client.fill(STAND_IN_AGENT)
    api.fill(api_url(kit))
    form.get_by_role("button", name="Save").click()

    # Save asked the org (over HTTPS, trusting KIT_CA_BUNDLE) for its discovery document, the custom
    # server's metadata and a sign-in with this client id and redirect URI: none of those is marked. The
    # stand-in's API (https on loopback) is not the sandbox's demo API as a sandbox serves it: accepted.
    expect(
        form.get_by_text("Saved 2 changed setting(s). 1 warning(s) marked below: AGENT_SCOPES.", exact=True)
    ).to_be_visible()
    expect(form.locator(".kit-mark-error")).to_have_count(0)
    expect(form.locator(".kit-mark-warning")).to_have_count(1)
    expect(
        form.get_by_text("! the sandbox's demo scope: use your custom server's scopes (or load them in 02)")
    ).to_be_visible()
    notebook.screenshot("00-okta-form-saved", form_cell)
    assert clipped_texts(form) == []
    for name, value in okta_settings(kit).items():  # API_URL stays written as ${OKTA_ORG_URL}/todo-api/todos
        assert env_value(kit.env_file, name).replace("${OKTA_ORG_URL}", kit.org_url) == value, name
    # "Use existing configuration" reads the same values back, and clears the marks of the values replaced.
    form.get_by_role("button", name="Use existing configuration").click()
    expect(form.get_by_text("Loaded the existing configuration.", exact=True)).to_be_visible()
    expect(okta).to_have_class(re.compile("mod-active"))
    expect(org).to_have_value(kit.org_url)
    expect(client).to_have_value(STAND_IN_AGENT)
    expect(api).to_have_value(api_url(kit))
    expect(form.locator(".kit-mark-warning")).to_have_count(0)

    # The rest of 00 reads the org: its discovery document and the custom server's, over HTTPS.
    notebook.run_from(settings_cell)
    assert notebook.error_outputs() == []
    paths = outputs(notebook.cell("discovery.check_metadata_paths("))
    expect(paths).to_contain_text(re.compile(r"Both metadata URLs of the custom server: (\d+) of \1 passed"))
    expect(paths).not_to_contain_text(FAILED)
    expect(outputs(notebook.cell("org = kit.org_metadata()"))).to_contain_text(kit.org_url)
    expect(outputs(notebook.cell("custom = kit.server_metadata()"))).to_contain_text(
        f"{kit.org_url}/oauth2/default"
    )
    audience_cell = notebook.cell("audience = AudienceForm(")
    audience = outputs(audience_cell)
    box = audience.get_by_label("Audience (issuer):")
    load = audience.get_by_role("button", name="Load scopes")
    choices = audience.get_by_label("Scopes:", exact=True).locator("option")
    expect(box).to_have_value(f"{kit.org_url}/oauth2/default")
    for server_id, public in [("reports", ["reports.read"]), ("default", ["todo.read", "todo.write"])]:
        box.fill(f"{kit.org_url}/oauth2/{server_id}")
        load.click()
        expect(choices).to_have_text(public)
        expect(audience.get_by_text(f"Loaded {len(public)} public scope(s).")).to_be_visible()
    audience.get_by_label("Scopes:", exact=True).select_option(["todo.read"])
    audience.get_by_role("button", name="Save").click()
    # The scope the form's AGENT_SCOPES already held (the stand-in's scopes have the sandbox's names).
    expect(audience.get_by_text("Nothing to save: no change.", exact=True)).to_be_visible()
    assert env_value(kit.env_file, "AGENT_SCOPES") == "todo.read"
    notebook.screenshot("00-okta-scopes-loaded", audience_cell)

    # 01: Run All; the link opens the org's sign-in page; the redirect comes back to the listener.
    notebook.open("01_user_sign_in.ipynb")
    notebook.run_all(wait=False)
    start = notebook.cell("login = browser_signin.start_sign_in(")
    link = outputs(start).get_by_role("link", name="Open the sign-in page")
    expect(link).to_be_visible(timeout=90_000)
    tab = open_sign_in_page(notebook.page.context, link)
    assert tab.url.startswith(f"{kit.org_url}/oauth2/v1/authorize?")
    query = parse_qs(urlsplit(tab.url).query)
    assert (query["client_id"], query["redirect_uri"]) == ([STAND_IN_AGENT], [kit.redirect_uri])
    save_screenshot(tab, notebook.shots, "01-org-sign-in-page")
    sign_in(tab, *CAROL)
    expect(tab.get_by_role("heading", name="Signed in")).to_be_visible()
    assert tab.url.startswith(f"{kit.redirect_uri}?code=")
    notebook.wait_last_cell()
    expect_a_checked_id_token(notebook, kit, "loopback listener")

    # 02 to 04: Run All each; every checklist passes.
    notebook.open("02_token_exchange_id_jag.ipynb")
    notebook.run_all()
    expect_every_check_passed(
        notebook,
        ["Client assertion checks", "Token exchange response checks", "ID-JAG checks"],
        "Token exchange form",
    )
    card = outputs(notebook.cell('kit.card(response["access_token"], "ID-JAG")'))
    expect(table_row(card, "typ")).to_contain_text("oauth-id-jag+jwt")
    expect(table_row(card, "client_id")).to_contain_text(STAND_IN_AGENT)
    notebook.screenshot("02-id-jag-card", card)
    # The server's side, read from the org's System Log over HTTPS with the org's API token.
    server_side = outputs(notebook.cell("system_log.server_side(kit, response)"))
    expect(server_side).to_contain_text(SERVER_SIDE_ONE_EVENT)
    expect(server_side).to_contain_text("app.oauth2.token.grant.id_jag")

    notebook.open("03_jwt_bearer_access_token.ipynb")
    notebook.run_all()
    expect_every_check_passed(
        notebook,
        [
            "Client assertion checks",
            "JWT bearer response checks",
            "Access token checks",
            "Access token checks",
        ],
        "JWT bearer form",
    )
    card = outputs(notebook.cell('kit.card(response["access_token"], "Access token")'))
    expect(table_row(card, "cid")).to_contain_text(STAND_IN_AGENT)
    expect(table_row(card, "sub")).to_contain_text(CAROL[0])
    notebook.screenshot("03-access-token-card", card)

    notebook.open("04_call_the_api.ipynb")
    notebook.run_all()
    expect_every_check_passed(notebook, [], "Authorization header")
    answer = outputs(notebook.cell("result = api.call_api("))
    expect(answer).to_contain_text("HTTP 200")
    expect(answer).to_contain_text(f'"user": "{CAROL[0]}"')
    notebook.screenshot("04-api-answer", answer)
    denied = outputs(notebook.cell("denied = api.call_api("))
    expect(denied).to_contain_text("HTTP 403")
    expect(outputs(notebook.cell("system_log.server_side(kit, denied)"))).to_contain_text(
        SERVER_SIDE_ONE_EVENT
    )

    # The org saw one sign-in, on its page, by the browser (never the kernel: no headless sign-in).
    signed_in = sign_ins_since(kit, cursor)
    assert [(result, user) for result, user, _ in signed_in] == [("SUCCESS", CAROL[0])]
    assert "Chrome/" in signed_in[0][2]


# --- 01 through the pasted-URL box -------------------------------------------------------------------------
@pytest.mark.timeout(600)
def test_okta_mode_sign_in_through_the_pasted_url_then_the_token_exchange(kit, notebook):
    cursor = kit.sandbox.sandbox.events.cursor()
    kit.set_env(**okta_settings(kit), KIT_SIGNIN_TIMEOUT="8")
    notebook.open("01_user_sign_in.ipynb")
    notebook.run_all(wait=False)
    start = notebook.cell("login = browser_signin.start_sign_in(")
    wait = notebook.cell("callback = login.wait()")
    link = outputs(start).get_by_role("link", name="Open the sign-in page")
    expect(link).to_be_visible(timeout=90_000)

    # The browser signs in on the org's page but cannot reach the kernel (a remote JupyterHub).
    tab = open_sign_in_page(notebook.page.context, link)
    assert tab.url.startswith(f"{kit.org_url}/oauth2/v1/authorize?")
    keep_redirects_from_the_kernel(tab, kit.redirect_uri)
    sign_in(tab, *CAROL)
    expect(tab.get_by_role("heading", name="This browser cannot reach the kernel")).to_be_visible()
    final_url = tab.url
    assert final_url.startswith(f"{kit.redirect_uri}?code=")
    save_screenshot(tab, notebook.shots, "01-browser-cannot-reach-the-kernel")
    tab.close()

    # The wait gives up; the address the browser ended on goes in the box; the cell runs again.
    notebook.wait_last_cell()
    expect(outputs(wait)).to_contain_text(f"SignInError: no redirect reached {kit.redirect_uri} within 8 s")
    outputs(start).get_by_label("Pasted URL:").fill(final_url)
    notebook.run_from(wait)
    expect_a_checked_id_token(notebook, kit, "pasted URL")

    notebook.open("02_token_exchange_id_jag.ipynb")
    notebook.run_all()
    expect_every_check_passed(
        notebook,
        ["Client assertion checks", "Token exchange response checks", "ID-JAG checks"],
        "Token exchange form",
    )
    signed_in = sign_ins_since(kit, cursor)
    assert [(result, user) for result, user, _ in signed_in] == [("SUCCESS", CAROL[0])]
    assert "Chrome/" in signed_in[0][2]
