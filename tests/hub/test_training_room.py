"""A training room on a real JupyterHub: two people, each with their own kit, sandbox and ports.

The hub runs the room's configuration (`deploy/jupyterhub/jupyterhub_config.py`) on 127.0.0.1 with the
dummy authenticator and the local process spawner; each person is a Unix user the test creates. Through
the hub's proxy, as a browser tab would (the Jupyter server's REST API and a kernel websocket), each
person runs notebooks 00 to 04 headless: their first notebook starts their own sandbox, the next ones
reuse it, and notebook 04 gets the API's answer. Then: neither can read the other's keys, session file
or sandbox data; a sandbox on someone's port that is not theirs is refused; where Chromium is installed,
one person signs in interactively in the browser, through the hub (the front channel); and stopping a
server stops its sandbox.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from hub_support import ROOT, Kernel, Person, TrainingRoom

NOTEBOOKS = ["00_configure", "01_user_sign_in", "02_token_exchange_id_jag", "03_jwt_bearer_access_token",
             "04_call_the_api"]  # fmt: skip
HEADLESS = 'import os; os.environ["KIT_HEADLESS"] = "true"'
STARTED = re.compile(r"^Started your own sandbox at (http://127\.0\.0\.1:\d+) \(", re.M)
CHROMIUM = Path("/usr/bin/chromium")

#: What each person's notebooks showed, filled by the first test and read by the next ones.
RUNS: dict[str, dict[str, object]] = {}


def sign_in_to_the_hub(room: TrainingRoom, person: Person) -> requests.Session:
    """Log in with the hub's login form (the dummy authenticator takes any password)."""
    session = requests.Session()
    page = session.get(f"{room.url}/hub/login", timeout=30)
    assert page.status_code == 200, page.text[:300]
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    form = {"username": person.name, "password": "any password"}
    if xsrf:
        form["_xsrf"] = xsrf.group(1)
    answer = session.post(f"{room.url}/hub/login", data=form, allow_redirects=False, timeout=30)
    assert answer.status_code == 302, (answer.status_code, answer.text[:300])
    assert session.get(f"{room.url}/hub/api/user", timeout=30).json()["name"] == person.name
    return session


def run_notebooks(room: TrainingRoom, person: Person) -> dict[str, object]:
    """Run notebooks 00-04 headless, each in its own kernel; return what the checks need."""
    seen: dict[str, object] = {"outputs": {}}
    for name in NOTEBOOKS:
        kernel = Kernel(room, person, f"notebooks/{name}.ipynb")
        try:
            kernel.execute(HEADLESS)
            results = kernel.run_notebook(ROOT / "notebooks" / f"{name}.ipynb")
            seen["outputs"][name] = "\n".join(r.text for r in results)
            if name == NOTEBOOKS[0]:
                facts = kernel.execute(
                    "import json, os; print(json.dumps({k: os.environ.get(k, '') for k in "
                    "('OKTA_ORG_URL', 'REDIRECT_URI', 'KIT_HOME', 'KIT_BROWSER_BASE_URL', 'KIT_SANDBOX')}))"
                )
                seen["environ"] = json.loads(facts.text)
            if name == NOTEBOOKS[-1]:
                answer = kernel.execute(
                    "import json; print(json.dumps({'status': result.status, 'body': result.body}))"
                )
                seen["api"] = json.loads(answer.text)
        finally:
            kernel.close()
    return seen


def test_two_people_sign_in_and_each_runs_notebooks_00_to_04_through_the_hub(room):
    for person in room.people:
        sign_in_to_the_hub(room, person)
    with ThreadPoolExecutor(len(room.people)) as pool:
        list(pool.map(room.start_server, room.people))
        runs = {
            p.name: seen
            for p, seen in zip(
                room.people, pool.map(lambda p: run_notebooks(room, p), room.people), strict=True
            )
        }
    RUNS.update(runs)
    urls = set()
    for person in room.people:
        seen = runs[person.name]
        environ = seen["environ"]
        urls.add(environ["OKTA_ORG_URL"])
        assert environ["KIT_HOME"] == str(person.kit_home)
        # The room's ports: base + 2 × the hub user id for the sandbox, the next one for the listener.
        port = int(environ["OKTA_ORG_URL"].rsplit(":", 1)[1])
        assert (port - room.base_port) % 2 == 0 and 0 < port - room.base_port <= 2 * len(room.people) + 4
        assert environ["REDIRECT_URI"] == f"http://127.0.0.1:{port + 1}/callback"
        assert (environ["KIT_BROWSER_BASE_URL"], environ["KIT_SANDBOX"]) == ("auto", "own")
        # Their first notebook started their own sandbox, once; the others found it answering.
        started = STARTED.findall(seen["outputs"]["00_configure"])
        assert started == [environ["OKTA_ORG_URL"]]
        assert not any(STARTED.search(seen["outputs"][name]) for name in NOTEBOOKS[1:])
        assert seen["api"]["status"] == 200, seen["api"]
    assert len(urls) == len(room.people), f"two people share a sandbox port: {urls}"


def test_the_room_culls_idle_servers_with_jupyterhub_idle_culler(room):
    answer = room.admin("GET", "services")
    assert answer.status_code == 200, answer.text
    services = answer.json()
    culler = services["kit-idle-culler"]
    assert culler["command"][1:] == ["-m", "jupyterhub_idle_culler", "--timeout=3600"]
    assert culler["pid"] and not gone(culler["pid"], timeout=0.5), "the culler is not running"


#: The private files of a person's kit folder: the agent's private key, `.env` (the System Log API
#: token), the session file (tokens), the sandbox's signing keys and API token.
PRIVATE_FILES = [
    ".keys/agent.pem",
    ".env",
    ".kit/session.json",
    ".sandbox/api-token",
    ".sandbox/keys/org.jwk.json",
]
READ_ATTEMPT = """
import json, os
seen = {}
for path in %r:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
        seen[path] = "read"
    except OSError as exc:
        seen[path] = type(exc).__name__
try:
    os.listdir(%r)
    seen["list the kit folder"] = "read"
except OSError as exc:
    seen["list the kit folder"] = type(exc).__name__
print(json.dumps(seen))
"""


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_neither_person_can_read_the_others_keys_session_file_or_sandbox_data(room):
    assert RUNS, "the notebooks did not run (see the first test)"
    for person in room.people:
        home = person.kit_home
        assert (mode(home), mode(home / ".sandbox"), mode(home / ".sandbox" / "keys")) == (
            0o700,
            0o700,
            0o700,
        )
        for name in PRIVATE_FILES:
            path = home / name
            assert path.stat().st_uid == person.uid, name
            assert mode(path) & 0o077 == 0, f"{person.name}: {name} has mode {mode(path):04o}"
    first, second = room.people
    for me, other in ((first, second), (second, first)):
        kernel = Kernel(room, me, "notebooks/00_configure.ipynb")
        try:
            paths = [str(other.kit_home / name) for name in PRIVATE_FILES]
            attempt = kernel.execute(READ_ATTEMPT % (paths, str(other.kit_home)))
        finally:
            kernel.close()
        seen = json.loads(attempt.text)
        assert seen == {**{p: "PermissionError" for p in paths}, "list the kit folder": "PermissionError"}, (
            seen
        )


def test_a_sandbox_answering_on_your_port_that_is_not_yours_is_refused(room):
    first, second = room.people
    theirs = RUNS[first.name]["environ"]["OKTA_ORG_URL"]
    kernel = Kernel(room, second, "notebooks/00_configure.ipynb")
    try:
        answer = kernel.execute(
            f'import os; os.environ["OKTA_ORG_URL"] = {theirs!r}\n'
            "from helpers import Kit, LocalSandboxError\n"
            "try:\n    Kit.open('probe')\nexcept LocalSandboxError as exc:\n    print('refused:', exc)\n"
        )
    finally:
        kernel.close()
    assert answer.text.startswith(
        f"refused: the sandbox answering at {theirs} is not yours: it refuses the System Log API token "
    )
    assert f"of your data folder {second.kit_home / '.sandbox'}" in answer.text


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INTERACTIVE = 'import os; os.environ["KIT_HEADLESS"] = "false"; os.environ["KIT_SIGNIN_TIMEOUT"] = "60"'


def test_one_person_signs_in_interactively_in_chromium_through_the_hub(room, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(
            f"the interactive sign-in drives Debian's Chromium at {CHROMIUM}: apt-get install chromium"
        )
    from playwright.sync_api import expect, sync_playwright

    person = room.people[0]
    org_url = RUNS[person.name]["environ"]["OKTA_ORG_URL"]
    listener = RUNS[person.name]["environ"]["REDIRECT_URI"]
    notebook = ROOT / "notebooks" / "01_user_sign_in.ipynb"
    kernel = Kernel(room, person, "notebooks/01_user_sign_in.ipynb")
    try:
        kernel.execute(INTERACTIVE)
        kernel.run_notebook(notebook, until="login.wait()")
        urls = json.loads(
            kernel.execute(
                "import json; print(json.dumps([auth.url, auth.redirect_uri, login.listen_uri]))"
            ).text
        )
        authorize_url, redirect_uri, listen_uri = urls
        # Front channel: the browser goes through the hub's proxy; the kernel listens on its loopback port.
        prefix = f"{room.url}/user/{person.name}/proxy/"
        assert authorize_url.startswith(f"{prefix}{org_url.rsplit(':', 1)[1]}/oauth2/v1/authorize?")
        assert redirect_uri == f"{prefix}{listener.rsplit(':', 1)[1].split('/')[0]}/callback"
        assert listen_uri == listener

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
            )
            try:
                page = browser.new_page()
                page.goto(f"{room.url}/hub/login")
                page.locator("#username_input").fill(person.name)
                page.locator("#password_input").fill("any password")
                page.locator("#login_submit").click()
                page.wait_for_url(re.compile(r"/(hub|user)/"))
                # The hub signs the browser in to the person's server; its proxy shows the sandbox's page.
                page.goto(authorize_url)
                expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=30_000)
                page.screenshot(path=str(tmp_path / "sandbox-sign-in-page.png"))
                page.get_by_label("Username").fill("alice@example.com")
                page.get_by_label("Password").fill("Wonderland-2026!")
                page.get_by_role("button", name="Sign in").click()
                expect(page.get_by_role("heading", name="Signed in")).to_be_visible(timeout=30_000)
                page.screenshot(path=str(tmp_path / "back-at-the-notebook-listener.png"))
                assert page.url.startswith(redirect_uri + "?code=")
            finally:
                browser.close()

        results = kernel.run_notebook(notebook, start="login.wait()")
        assert "Redirect received (loopback listener)" in results[0].text
        issuer = kernel.execute(
            "from helpers.core.jwts import decode_unverified\n"
            "print(decode_unverified(tokens['id_token'])[1]['iss'])"
        )
        # The ID token's issuer stays the sandbox's own: the kernel talks to it over the back channel.
        assert issuer.text.strip() == org_url
    finally:
        kernel.close()


def gone(pid: int, timeout: float = 15.0) -> bool:
    """Wait until `pid` has ended (gone, or a zombie no one reaped yet); return whether it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def test_stopping_a_server_from_the_hub_stops_that_persons_sandbox(room):
    for person in room.people:
        pid_file = person.kit_home / ".sandbox" / "sandbox.pid"
        pid = json.loads(pid_file.read_text())["pid"]
        url = RUNS[person.name]["environ"]["OKTA_ORG_URL"]
        assert requests.get(f"{url}/.well-known/openid-configuration", timeout=10).status_code == 200
        room.stop_server(person)
        assert gone(pid), f"{person.name}'s sandbox (pid {pid}) still runs"
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/.well-known/openid-configuration", timeout=10)
