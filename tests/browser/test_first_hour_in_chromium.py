"""A learner's first hour in JupyterLab and Chromium: no dead ends, mistakes caught where they are made.

- the origin app's sign-in of notebook 06 shows its link (a cell that starts and waits at once used to
  show nothing until the wait was over) and completes through it;
- a bad value in the configuration form is refused on Save, marked beside its field;
- a fresh clone, `make lab`'s copies in `lab/`, notebooks 00 to 04 run in the browser: `git status` stays
  clean (the tracked notebooks, with the outputs readers see and `make test` compares, are untouched).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
from lab_driver import (
    CHROMIUM,
    NO_CHROMIUM,
    ROOT,
    BrowserKit,
    JupyterLab,
    NotebookPage,
    clipped_texts,
    env_value,
    open_sign_in_page,
    save_screenshot,
    sign_in,
    start_browser_kit,
)
from playwright.sync_api import Locator, expect

if not CHROMIUM.exists():
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

pytestmark = pytest.mark.slow


def outputs(cell: Locator) -> Locator:
    return cell.locator(".jp-OutputArea")


def test_the_origin_apps_sign_in_shows_its_link_before_waiting_and_completes_through_it(kit, notebook):
    notebook.open("06_origin_app_delegation.ipynb")
    notebook.run_all(wait=False)
    start = notebook.cell("login = origin.sign_in(auth)")
    link = outputs(start).get_by_role("link", name="Open the sign-in page")
    expect(link).to_be_visible(timeout=90_000)
    expect(outputs(start).get_by_label("Pasted URL:")).to_be_visible()
    notebook.screenshot("06-sign-in-link-shown", start)
    tab = open_sign_in_page(notebook.page.context, link)
    assert tab.url.startswith(f"{kit.org_url}/oauth2/default/v1/authorize?")  # the custom server's
    sign_in(tab)
    expect(tab.get_by_role("heading", name="Signed in")).to_be_visible()
    save_screenshot(tab, notebook.shots, "06-listener-page")
    notebook.wait_last_cell()
    assert notebook.error_outputs() == []
    expect(outputs(notebook.cell("callback = login.wait()"))).to_contain_text("Redirect received")
    refusal = outputs(notebook.cell("without_delegation_link()"))
    passed = re.compile(r"^✓ pass event reason invalid_subject_token_client_not_registered ")
    reason = refusal.get_by_role("row", name=passed)
    expect(reason).to_be_visible()


def test_a_bad_value_in_the_form_is_refused_on_save_and_marked_beside_its_field(kit, notebook):
    notebook.open("00_configure.ipynb")
    notebook.run_all()
    form_cell = notebook.cell("form = ConfigForm(settings)")
    form = outputs(form_cell)
    client = form.get_by_label("Agent client_id", exact=True)
    client.fill("0oaNobodyKnowsMe0001")
    form.get_by_role("button", name="Save").click()
    note = form.get_by_text(re.compile(r"✗ the org refused a sign-in with it \(invalid_client: "))
    expect(note).to_be_visible()
    field = form.locator(".kit-mark-error").filter(
        has=notebook.page.get_by_label("Agent client_id", exact=True)
    )
    expect(field).to_have_count(1)
    expect(form.get_by_text(re.compile(r"^Not done: AGENT_CLIENT_ID: the org refused"))).to_be_visible()
    assert env_value(kit.env_file, "AGENT_CLIENT_ID") in (None, "wlpSandboxAgent00001")
    notebook.screenshot("00-form-marks-the-client-id", form_cell)
    assert clipped_texts(form) == []
    client.fill("wlpSandboxAgent00001")
    form.get_by_role("button", name="Save").click()
    expect(form.get_by_text(re.compile(r"^(Saved|Nothing to save)"))).to_be_visible()
    expect(form.locator(".kit-mark-error")).to_have_count(0)


# --- a fresh clone: the learner's copies ------------------------------------------------------------------


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserKit]:
    """A git clone of the committed kit with `.env`, keys, a sandbox, and `make lab`'s copies in lab/."""
    from tools.lab import learner_copies

    home = tmp_path_factory.mktemp("clone") / "kit"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(home)], check=True)
    # What is committed, plus this working tree's notebooks and .gitignore (a test of the change at hand).
    shutil.rmtree(home / "notebooks")
    shutil.copytree(
        ROOT / "notebooks", home / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints")
    )
    shutil.copyfile(ROOT / ".gitignore", home / ".gitignore")
    subprocess.run(["git", "-C", str(home), "add", "-A"], check=True)
    commit = ["git", "-C", str(home), "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "wip"]
    subprocess.run([*commit, "--allow-empty"], check=True)
    kit = start_browser_kit(home, clone=True)
    copied = learner_copies(home / "notebooks", home / "lab")
    assert copied == sorted(p.name for p in (home / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert learner_copies(home / "notebooks", home / "lab") == []  # a second make lab copies nothing
    try:
        yield kit
    finally:
        kit.sandbox.stop()


@pytest.fixture(scope="module")
def clone_lab(clone: BrowserKit, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    server = JupyterLab(clone.home / "lab", tmp_path_factory.mktemp("clone-lab"), clone.environ())
    try:
        yield server.start()
    finally:
        server.stop()


def test_running_00_to_04_on_the_learners_copies_leaves_git_status_clean(
    chromium, clone, clone_lab, tmp_path
):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        notebook = NotebookPage(context.new_page(), clone_lab, tmp_path)
        notebook.open("00_configure.ipynb")
        notebook.run_all()
        notebook.open("01_user_sign_in.ipynb")
        notebook.run_all(wait=False)
        start = notebook.cell("login = browser_signin.start_sign_in(")
        link = outputs(start).get_by_role("link", name="Open the sign-in page")
        expect(link).to_be_visible(timeout=90_000)
        tab = open_sign_in_page(context, link)
        sign_in(tab)
        expect(tab.get_by_role("heading", name="Signed in")).to_be_visible()
        notebook.wait_last_cell()
        for name in ("02_token_exchange_id_jag", "03_jwt_bearer_access_token", "04_call_the_api"):
            notebook.open(f"{name}.ipynb")
            notebook.run_all()
            assert notebook.error_outputs() == [], name
            copy = clone.home / "lab" / f"{name}.ipynb"
            before = copy.stat().st_mtime_ns
            notebook.menu("File", re.compile(r"^Save Notebook Ctrl\+S"))
            deadline = time.monotonic() + 30  # the save is asynchronous: wait for the file to change
            while copy.stat().st_mtime_ns == before and time.monotonic() < deadline:
                time.sleep(0.2)
            assert copy.stat().st_mtime_ns != before, f"{name}: JupyterLab did not save the learner's copy"
    finally:
        context.close()
        clone_lab.shutdown_kernels()
    status = subprocess.run(
        ["git", "-C", str(clone.home), "status", "--porcelain"], capture_output=True, text=True, check=True
    )
    assert status.stdout == "", status.stdout
    # The runs were real: the learner's copy of 04 now holds this run's outputs, the tracked one does not.
    assert (clone.home / "lab" / "04_call_the_api.ipynb").read_bytes() != (
        clone.home / "notebooks" / "04_call_the_api.ipynb"
    ).read_bytes()
