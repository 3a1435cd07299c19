"""The browser tests' machinery: a throwaway kit, a JupyterLab server of its own, and a notebook page.

Named uniquely (not `conftest`) so that `from lab_driver import …` never picks another suite's module.

Nothing here touches the person's files or processes: the kit lives in a temporary folder that plays the
project root (its own `.env`, key pair, state folder and a copy of `notebooks/`), the sandbox runs in a
thread on an ephemeral port, and JupyterLab runs from `.venv` on an ephemeral port with a token, with
its configuration, data, runtime, settings and workspace folders under the same temporary folder.
Chromium is Debian's (`/usr/bin/chromium`); Playwright never downloads a browser here.

Okta mode (`start_browser_kit(home, tls=True)`): the sandbox serves HTTPS from its local test CA and plays
an Okta org with an agent, a user and scopes of its own; Chromium trusts that CA the way a person's
browser does, through the NSS certificate database of the HOME it runs with (`trusting_browser_home`),
never by a flag that skips verification; the kernel trusts it through `KIT_CA_BUNDLE` in the kit's `.env`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright

from helpers.core.config import ENV_VARS

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NO_CHROMIUM = (
    f"the browser tests drive Debian's Chromium at {CHROMIUM}, which is not installed: "
    "run `sudo apt-get install chromium` (CI's .ci/run installs it)"
)
AGENT_CLIENT_ID = "wlpSandboxAgent00001"
ALICE = ("alice@example.com", "Wonderland-2026!")

#: NSS's certificate tool (Debian: libnss3-tools): it puts the sandbox's CA in the browser's own store.
CERTUTIL = shutil.which("certutil")
NO_CERTUTIL = (
    "the Okta-mode browser tests make Chromium trust the HTTPS sandbox's test CA through its NSS "
    "certificate database, with certutil, which is not installed: run `sudo apt-get install libnss3-tools` "
    "(CI's .ci/run installs it)"
)
#: The HTTPS stand-in's own agent, user and API, none of them the sandbox's defaults: a run that still
#: used the sandbox's agent or user would fail (the sandbox's agent has no redirect URI of this kit).
STAND_IN_AGENT = "wlpHttpsStandIn00001"
CAROL = ("carol@stand-in.example", "Stand-In-Org-2026!")
#: The CA's nickname in the browser's certificate database.
CA_NICKNAME = "kit-test-ca"
#: Every variable by which a Python HTTP client is told which CAs to trust: JupyterLab's kernels get none
#: in Okta mode, so that they trust the sandbox's CA through KIT_CA_BUNDLE only.
TRUST_VARS = ("KIT_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")

#: How long JupyterLab may take to answer, and a cell or Run All to finish (generous: 2 shared cores).
LAB_START_TIMEOUT = 90
CELL_TIMEOUT_MS = 60_000

#: JupyterLab user settings for the tests: every cell stays in the page (no windowing), no news or
#: update checks (no network), no toast over the cells.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def free_port() -> int:
    """Return a port nothing listens on at 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def set_env_lines(text: str, values: dict[str, str]) -> str:
    """Return `.env` text with each `NAME=` line set to the given value (appended when absent)."""
    lines = text.splitlines()
    for name, value in values.items():
        pattern = re.compile(rf"^\s*{re.escape(name)}\s*=")
        for index, line in enumerate(lines):
            if pattern.match(line):
                lines[index] = f"{name}={value}"
                break
        else:
            lines.append(f"{name}={value}")
    return "\n".join(lines) + "\n"


def env_value(env_file: Path, name: str) -> str | None:
    """Return the raw value of `NAME=` in an env file (None when absent)."""
    for line in env_file.read_text(encoding="utf-8").splitlines():
        match = re.match(rf"^\s*{re.escape(name)}\s*=(.*)$", line)
        if match:
            return match.group(1).strip().strip("'\"")
    return None


@dataclass
class BrowserKit:
    """A kit home for one test module: `.env`, keys, state, a copy of the notebooks, its own sandbox.

    With `tls`, the sandbox serves HTTPS and plays an Okta org (`STAND_IN_AGENT`, `CAROL`).
    """

    home: Path
    sandbox: Any
    redirect_uri: str
    tls: bool = False
    env_file: Path = field(init=False)
    notebooks: Path = field(init=False)
    state_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.env_file = self.home / ".env"
        self.notebooks = self.home / "notebooks"
        self.state_dir = self.home / ".kit"

    @property
    def org_url(self) -> str:
        """The sandbox's org URL (`http://127.0.0.1:<port>`)."""
        return self.sandbox.url

    @property
    def agent_client_id(self) -> str:
        """The agent this kit's sandbox signs users in for: the sandbox's, or the stand-in's own."""
        return STAND_IN_AGENT if self.tls else AGENT_CLIENT_ID

    @property
    def ca_file(self) -> Path | None:
        """The sandbox's CA certificate (PEM) when it serves HTTPS; None over plain HTTP."""
        return self.sandbox.ca_file

    @property
    def redirect_port(self) -> int:
        """The port of REDIRECT_URI: where the notebook's loopback listener waits."""
        return int(self.redirect_uri.rsplit(":", 1)[1].split("/", 1)[0])

    def environ(self) -> dict[str, str]:
        """The environment for JupyterLab and its kernels: the person's, minus every kit setting, plus
        the variables that point the kit at this home (the kit's values are in this home's `.env`)."""
        dropped = TRUST_VARS if self.tls else ()
        base = {
            name: value
            for name, value in os.environ.items()
            if name not in ENV_VARS
            and name not in dropped
            and not name.startswith(("KIT_", "OKTA_", "JUPYTER", "JPY_"))
        }
        return {
            **base,
            "KIT_HOME": str(self.home),
            "KIT_ENV_FILE": str(self.env_file),
            "KIT_STATE_DIR": str(self.state_dir),
            # The kernel's webbrowser.open() must not start a browser of its own: the test clicks the link.
            "BROWSER": "true",
        }

    def set_env(self, **values: str) -> None:
        """Change lines of this kit's `.env` (the notebooks read it when their setup cell runs)."""
        text = self.env_file.read_text(encoding="utf-8")
        self.env_file.write_text(set_env_lines(text, values), encoding="utf-8")

    def forget_session(self) -> None:
        """Delete the session file, so no notebook finds an earlier phase's result."""
        (self.state_dir / "session.json").unlink(missing_ok=True)


def stand_in_overrides(redirect_uri: str) -> dict[str, Any]:
    """The HTTPS stand-in's configuration, merged onto the sandbox's: an agent, a user, their policies.

    What an admin sets up in an Okta org for the kit (README, "Against your Okta org"): the AI agent
    with the kit's public JWKS and the kit's redirect URI, a rule of the custom server `default` that
    lets it redeem ID-JAGs, and a resource connection from the agent to that server, with its scopes.
    """
    jwt_bearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    scopes = ["todo.read", "todo.write"]
    user, password = CAROL
    return {
        "users": {
            user: {
                "id": "00uCar01StandIn00003",
                "password": password,
                "name": "Carol Stand-In",
                "given_name": "Carol",
                "family_name": "Stand-In",
                "email": user,
            }
        },
        "clients": {
            STAND_IN_AGENT: {
                "name": "AI agent of the HTTPS stand-in",
                "token_endpoint_auth_methods": ["private_key_jwt"],
                "jwks_file": ".keys/agent.jwks.json",
                "redirect_uris": [redirect_uri],
                "grant_types": [
                    "authorization_code",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                    jwt_bearer,
                ],
            }
        },
        "authorization_servers": {
            "default": {
                "policies": {
                    "stand-in-agent-jwt-bearer": {
                        "clients": [STAND_IN_AGENT],
                        "grant_types": [jwt_bearer],
                        "scopes": scopes,
                    }
                }
            }
        },
        "resource_connections": {
            "stand-in-agent-todo": {
                "client_id": STAND_IN_AGENT,
                "authorization_server": "default",
                "scopes": scopes,
            }
        },
    }


def start_browser_kit(home: Path, *, clone: bool = False, tls: bool = False) -> BrowserKit:
    """Create a kit home under `home` and start its sandbox (redirect URI on a free loopback port).

    With `clone`, `home` is a git clone of the repository (its notebooks and `.env.example` are there):
    what a learner has after `git clone`.

    With `tls`, the sandbox serves HTTPS (`https://127.0.0.1:<port>`) as the Okta org's stand-in
    (`stand_in_overrides`), and `.env` is `.env.example` as a learner has it before choosing "Okta org",
    plus what a person adds for an org behind a CA of its own: `KIT_CA_BUNDLE` (the sandbox's
    `tls/ca.pem`, relative to the kit's folder) and the org's API token for the System Log. Also
    `KIT_SANDBOX=off`: nothing may start a local sandbox (Okta mode never does; this makes sure).
    """
    from helpers.core.keys import ensure_agent_key
    from sandbox.testing import start_sandbox

    home.mkdir(parents=True, exist_ok=True)
    if not clone:
        shutil.copytree(
            ROOT / "notebooks", home / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints")
        )
        shutil.copyfile(ROOT / ".env.example", home / ".env.example")
    ensure_agent_key(home / ".keys" / "agent.pem", home / ".keys" / "agent.jwks.json")
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    if tls:
        overrides = stand_in_overrides(redirect_uri)
    else:
        # Every client that signs users in comes back to this kit's listener (06's apps too).
        overrides = {
            "clients": {
                client: {"redirect_uris": [redirect_uri]}
                for client in (AGENT_CLIENT_ID, "0oaOriginWebApp00001", "0oaPublicSpa00000001")
            }
        }
    sandbox = start_sandbox(data_dir=home / ".sandbox", base_dir=home, overrides=overrides, tls=tls)
    kit = BrowserKit(home=home, sandbox=sandbox, redirect_uri=redirect_uri, tls=tls)
    if tls:
        values = {
            "REDIRECT_URI": redirect_uri,
            "KIT_HEADLESS": "false",
            "KIT_CA_BUNDLE": str(sandbox.ca_file.relative_to(home)),
            "OKTA_API_TOKEN": sandbox.api_token,
            "KIT_SANDBOX": "off",
        }
    else:
        values = {"OKTA_ORG_URL": sandbox.url, "REDIRECT_URI": redirect_uri, "KIT_HEADLESS": "false"}
        api_token = getattr(sandbox, "api_token", None)
        if api_token:  # as `make lab` writes it: the notebooks show the sandbox's System Log events
            values["OKTA_API_TOKEN"] = api_token
    example = (home / ".env.example").read_text(encoding="utf-8")
    kit.env_file.write_text(set_env_lines(example, values), encoding="utf-8")
    kit.env_file.chmod(0o600)
    return kit


# --- Chromium, and the certificates it trusts ------------------------------------------------------------
def trusting_browser_home(folder: Path, ca_file: Path) -> Path:
    """Make `folder` a HOME whose NSS certificate database (`.pki/nssdb`) trusts `ca_file` to identify
    web sites, as `certutil` does for a person (Chromium's docs/linux/cert_management.md); return it.

    Chromium on Linux reads that database for the HOME it runs with: nothing else is needed, and
    certificate verification stays as it is.
    """
    if CERTUTIL is None:
        raise RuntimeError(NO_CERTUTIL)
    database = folder / ".pki" / "nssdb"
    database.mkdir(parents=True, exist_ok=True)
    for command in (
        ["-N", "--empty-password"],
        ["-A", "-t", "C,,", "-n", CA_NICKNAME, "-i", str(ca_file)],
    ):
        subprocess.run(  # noqa: S603 (certutil with fixed arguments)
            [CERTUTIL, "-d", f"sql:{database}", *command], check=True, capture_output=True, timeout=60
        )
    return folder


def trusted_authorities(home: Path) -> list[str]:
    """The nicknames of the certificates in `home`'s NSS database that are trusted for web sites (`C`)."""
    assert CERTUTIL is not None
    listed = subprocess.run(  # noqa: S603 (certutil with fixed arguments)
        [CERTUTIL, "-d", f"sql:{home / '.pki' / 'nssdb'}", "-L"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    # Under a two-line header ("Certificate Nickname … Trust Attributes", "SSL,S/MIME,JAR/XPI"), one line
    # per certificate: its nickname, then its trust flags for SSL, S/MIME and code signing ("C,,").
    rows = listed.split("SSL,S/MIME,JAR/XPI", 1)[1].splitlines()
    found = []
    for line in rows:
        name, _, trust = line.strip().rpartition(" ")
        if name.strip() and "C" in trust.split(",")[0]:
            found.append(name.strip())
    return found


@contextmanager
def chromium_browser(home: Path | None = None) -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (which downloads nothing); closed at the end.

    `home`: the HOME Chromium runs with (its NSS certificate database: `trusting_browser_home`);
    default the person's.
    """
    environ = {**os.environ, "HOME": str(home)} if home is not None else None
    expect.set_options(timeout=15_000)  # 2 shared cores: a widget may take a few seconds to update
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS, env=environ
            )
            try:
                yield browser
            finally:
                browser.close()
    finally:
        expect.set_options(timeout=5_000)  # Playwright's default, for other suites in the session


class JupyterLab:
    """`jupyter lab` from `.venv` as a subprocess: ephemeral port, a token, folders of its own."""

    def __init__(self, root_dir: Path, workdir: Path, environ: dict[str, str]) -> None:
        self.root_dir = root_dir
        self.workdir = workdir
        self.token = secrets.token_hex(24)
        self.log_path = workdir / "jupyterlab.log"
        self.runtime_dir = workdir / "runtime"
        self.environ = {
            **environ,
            "JUPYTER_CONFIG_DIR": str(workdir / "config"),
            "JUPYTER_DATA_DIR": str(workdir / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.runtime_dir),
            "JUPYTERLAB_SETTINGS_DIR": str(workdir / "lab-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "workspaces"),
            "IPYTHONDIR": str(workdir / "ipython"),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def command(self) -> list[str]:
        """The `jupyter lab` command line."""
        jupyter = Path(sys.executable).with_name("jupyter")
        command = [
            str(jupyter),
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port=0",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--LabApp.news_url=None",
            "--LabApp.extension_manager=readonly",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # JupyterLab refuses root otherwise (containers, CI)
        return command

    def start(self) -> JupyterLab:
        """Start the server and wait until its API answers with the token."""
        settings = Path(self.environ["JUPYTERLAB_SETTINGS_DIR"])
        for name, value in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value), encoding="utf-8")
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 (a fixed command line)
                self.command(),
                cwd=self.root_dir,
                env=self.environ,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + LAB_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}")
            info = self.runtime_dir / f"jpserver-{self.process.pid}.json"
            if info.is_file():
                try:
                    port = json.loads(info.read_text(encoding="utf-8"))["port"]
                except (ValueError, KeyError):
                    port = None
                if port:
                    self.url = f"http://127.0.0.1:{port}/"
                    try:
                        if self.api("GET", "api/status", timeout=2).status_code == 200:
                            return self
                    except requests.ConnectionError:
                        pass
            time.sleep(0.2)
        raise RuntimeError(f"JupyterLab did not answer within {LAB_START_TIMEOUT} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log."""
        if not self.log_path.is_file():
            return "(no log)"
        return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call the server's REST API with the token."""
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", 10)
        return requests.request(method, self.url + path, headers=headers, **kwargs)

    def page_url(self, path: str, *, query: str = "") -> str:
        """A URL of the Lab UI that logs in with the token."""
        return f"{self.url}{path}?{query + '&' if query else ''}token={self.token}"

    def shutdown_kernels(self) -> list[str]:
        """Shut down every session and kernel through the API; return the kernel ids shut down."""
        if not self.url or self.process is None or self.process.poll() is not None:
            return []
        stopped = []
        for session in self.api("GET", "api/sessions").json():
            self.api("DELETE", f"api/sessions/{session['id']}")
            stopped.append(session["kernel"]["id"])
        for kernel in self.api("GET", "api/kernels").json():
            self.api("DELETE", f"api/kernels/{kernel['id']}")
            stopped.append(kernel["id"])
        return stopped

    def stop(self) -> None:
        """Shut the kernels down, then the server (SIGTERM, then SIGKILL to its process group)."""
        if self.process is None:
            return
        try:
            self.shutdown_kernels()
        except requests.RequestException:
            pass
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None


# --- the notebook page -------------------------------------------------------------------------------
PROMPT_DONE = re.compile(r"^\[\d+\]:$")
STDERR = '[data-mime-type="application/vnd.jupyter.stderr"]'
#: True once the notebook's last code cell has an execution count, or an error output is shown and no
#: cell is running or queued (`[*]`): JupyterLab stops a run at the first error.
_RUN_ENDED = """(panelId) => {
    const panel = document.getElementById(panelId);
    const prompts = Array.from(panel.querySelectorAll(".jp-CodeCell .jp-InputPrompt"))
        .map((prompt) => prompt.textContent.replace(/\\s/g, ""));
    if (/^\\[\\d+\\]:$/.test(prompts[prompts.length - 1])) {
        return true;
    }
    const failed = panel.querySelector('[data-mime-type="application/vnd.jupyter.stderr"]') !== null;
    return failed && !prompts.includes("[*]:");
}"""


class NotebookPage:
    """One notebook open in JupyterLab, driven as a person would: click, type, Run."""

    def __init__(self, page: Page, lab: JupyterLab, shots: Path) -> None:
        self.page = page
        self.lab = lab
        self.shots = shots
        self.name = ""
        self.panel_id = ""

    # --- opening and screenshots ---
    def open(self, name: str) -> NotebookPage:
        """Open `name` (a file in the kit's notebooks folder) alone in a fresh workspace; wait for its kernel.

        `?reset` closes the tabs an earlier test or notebook left: the menus act on the current tab, and
        a restored workspace could make another notebook current.
        """
        self.name = name
        self.page.goto(self.lab.page_url(f"lab/tree/{name}", query="reset"))
        tab = self.current_tab
        expect(tab).to_have_attribute("title", re.compile(rf"^Name: {re.escape(name)}$", re.M))
        self.panel_id = tab.get_attribute("data-id") or ""
        # The kernel has started and the notebook's cells are there (not the loading placeholder).
        expect(self.page.locator("#jp-main-statusbar")).to_contain_text(
            re.compile(r"\(ipykernel\) \| Idle"), timeout=CELL_TIMEOUT_MS
        )
        expect(self.panel.locator(".jp-CodeCell").first).to_be_visible(timeout=CELL_TIMEOUT_MS)
        self.wait_idle()
        # Stored outputs would answer every check on their own: clear them (prompts back to [ ]).
        self.menu("Edit", re.compile(r"^Clear Outputs of All Cells"))
        expect(self.panel.locator(".jp-OutputArea-output")).to_have_count(0)
        return self

    @property
    def current_tab(self) -> Locator:
        """The current tab of the main area (the one the menus act on)."""
        return self.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")

    def menu(self, top: str, item: str | re.Pattern[str]) -> None:
        """Click a menu of the menu bar, then one of its items (on this notebook: it must be current)."""
        expect(self.current_tab).to_have_attribute("data-id", self.panel_id)
        self.page.locator("#jp-MainMenu").get_by_text(top, exact=True).click()
        self.page.locator(".lm-Menu").get_by_role("menuitem", name=item).click()

    @property
    def panel(self) -> Locator:
        """The notebook panel of this notebook (its tab's content)."""
        return self.page.locator(f"[id='{self.panel_id}']")

    def wait_idle(self, timeout: int = CELL_TIMEOUT_MS) -> None:
        """Wait for the kernel indicator of the toolbar to say idle."""
        indicator = self.panel.locator(".jp-Notebook-ExecutionIndicator")
        expect(indicator).to_have_attribute("data-status", "idle", timeout=timeout)

    def screenshot(self, name: str, focus: Locator | None = None) -> Path:
        """Save a screenshot of the page (scrolled to `focus`) into the test's output folder."""
        if focus is not None:
            focus.scroll_into_view_if_needed()
        return save_screenshot(self.page, self.shots, name)

    # --- cells ---
    def cell(self, source: str) -> Locator:
        """The one code cell whose source contains `source` (cells are found by content, not index)."""
        cells = self.panel.locator(".jp-CodeCell").filter(
            has=self.page.locator(".jp-InputArea-editor", has_text=source)
        )
        expect(cells).to_have_count(1)
        return cells

    def prompt(self, cell: Locator) -> str:
        """The cell's input prompt: `[ ]:`, `[*]:` or `[7]:`."""
        return " ".join(cell.locator(".jp-InputPrompt").inner_text().split())

    def select(self, cell: Locator) -> None:
        """Make the cell the notebook's active cell (command mode), as a click on its prompt does."""
        cell.locator(".jp-InputPrompt").click()
        expect(cell).to_have_class(re.compile(r"\bjp-mod-active\b"))

    def start_cell(self, cell: Locator) -> None:
        """Select the cell and run it (Ctrl+Enter) without waiting for it to finish."""
        self.select(cell)
        self.page.keyboard.press("Control+Enter")
        expect(cell.locator(".jp-InputPrompt")).not_to_have_text(re.compile(r"^\s*\[\s*\]:\s*$"))

    def run_cell(self, cell: Locator, *, timeout: int = CELL_TIMEOUT_MS) -> Locator:
        """Run one cell and wait until it has finished (a new execution count); return its outputs."""
        before = self.prompt(cell)
        self.start_cell(cell)
        self.wait_cell(cell, before=before, timeout=timeout)
        return cell.locator(".jp-OutputArea")

    def wait_cell(self, cell: Locator, *, before: str | None = None, timeout: int = CELL_TIMEOUT_MS) -> None:
        """Wait until the cell shows an execution count (a different one than `before`, if it had one)."""
        prompt = cell.locator(".jp-InputPrompt")
        if before is not None and PROMPT_DONE.match(before):
            expect(prompt).not_to_have_text(before, timeout=timeout)  # its new run has begun
        expect(prompt).to_have_text(PROMPT_DONE, timeout=timeout)

    def run_all(self, *, wait: bool = True, timeout: int = CELL_TIMEOUT_MS * 2) -> None:
        """Run > Run All Cells from the menu bar; wait for the last cell, or for an error to stop the run."""
        first = self.panel.locator(".jp-CodeCell").first
        before = self.prompt(first)
        self.menu("Run", re.compile(r"^Run All Cells"))
        if wait:
            self.wait_run(first, before, timeout=timeout)

    def run_above(self, cell: Locator) -> None:
        """Run > Run All Above Selected Cell (the caller waits for the cell it needs)."""
        self.select(cell)
        self.menu("Run", re.compile(r"^Run All Above Selected Cell"))

    def run_from(self, cell: Locator, *, timeout: int = CELL_TIMEOUT_MS * 2) -> None:
        """Run > Run Selected Cell and All Below; wait for the last cell, or for an error to stop the run."""
        before = self.prompt(cell)
        self.select(cell)
        self.menu("Run", re.compile(r"^Run Selected Cell and All Below"))
        self.wait_run(cell, before, timeout=timeout)

    def wait_run(self, first: Locator, before: str, *, timeout: int = CELL_TIMEOUT_MS * 2) -> None:
        """Wait until a run that starts at `first` (prompt `before`) has begun, then until it has ended."""
        # Until the first cell's prompt changes, its old outputs (an old error) are still on the page.
        expect(first.locator(".jp-InputPrompt")).not_to_have_text(before, timeout=timeout)
        self.wait_last_cell(timeout=timeout)

    def wait_last_cell(self, *, timeout: int = CELL_TIMEOUT_MS * 2) -> None:
        """Wait until the last code cell has run, or an error stopped the run (no cell still running)."""
        self.page.wait_for_function(_RUN_ENDED, arg=self.panel_id, timeout=timeout)
        self.wait_idle(timeout=timeout)

    def error_outputs(self) -> list[str]:
        """The text of every error (traceback) or stderr output in the notebook."""
        return [text.strip()[-2000:] for text in self.panel.locator(STDERR).all_inner_texts()]

    def summary(self) -> str:
        """One line per code cell: its prompt, its first source line, and the start of any error output."""
        lines = [f"{self.name} ({self.page.url.split('?')[0]})"]
        for cell in self.panel.locator(".jp-CodeCell").all():
            source = cell.locator(".jp-InputArea-editor").inner_text().strip().splitlines() or [""]
            errors = " | ".join(
                t.strip().splitlines()[-1] for t in cell.locator(STDERR).all_inner_texts() if t.strip()
            )
            lines.append(
                f"{self.prompt(cell):7} {source[0][:70]}" + (f"  !! {errors[:300]}" if errors else "")
            )
        return "\n".join(lines)


# --- screenshots, the sign-in page, a browser that cannot reach the kernel --------------------------------
def save_screenshot(page: Page, folder: Path, name: str) -> Path:
    """Save a screenshot of `page` as `<folder>/<name>.png` and return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def open_sign_in_page(context: BrowserContext, link: Locator) -> Page:
    """Click the notebook's authorize link and return the tab it opens (the sandbox's sign-in page)."""
    with context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    return tab


def sign_in(tab: Page, username: str = ALICE[0], password: str = ALICE[1]) -> None:
    """Fill the sandbox's sign-in form as a person does and press Sign in."""
    expect(tab.get_by_role("heading", name="Sign in")).to_be_visible()
    tab.get_by_label("Username").fill(username)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()


UNREACHABLE_PAGE = "<!doctype html><title>Elsewhere</title><h1>This browser cannot reach the kernel</h1>"


def keep_redirects_from_the_kernel(tab: Page, redirect_uri: str) -> None:
    """Answer every request of `tab` to `redirect_uri` in the browser itself, so the kernel's listener
    never sees it: the browser is somewhere the kernel cannot be reached (a remote JupyterHub).

    Playwright's `route()` does not see the hops of a redirect, so this uses the DevTools protocol's
    Fetch domain, which pauses every request (redirect hops included) whose URL matches.
    """
    cdp = tab.context.new_cdp_session(tab)
    body = base64.b64encode(UNREACHABLE_PAGE.encode("utf-8")).decode("ascii")

    def answer(event: dict[str, Any]) -> None:
        cdp.send(
            "Fetch.fulfillRequest",
            {
                "requestId": event["requestId"],
                "responseCode": 200,
                "responseHeaders": [{"name": "Content-Type", "value": "text/html; charset=utf-8"}],
                "body": body,
            },
        )

    cdp.on("Fetch.requestPaused", answer)
    cdp.send("Fetch.enable", {"patterns": [{"urlPattern": f"{redirect_uri}*", "requestStage": "Request"}]})


class PortSquatter:
    """Another program holding the redirect URI's port: it answers every request with a page of its own,
    so the kernel's loopback listener cannot start there (and never sees the redirect)."""

    def __init__(self, port: int) -> None:
        squatter = self
        self.paths: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                squatter.paths.append(self.path)
                body = UNREACHABLE_PAGE.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="port-squatter", daemon=True)

    def __enter__(self) -> PortSquatter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


_CLIPPED = """(root) => {
    const typed = "input:not([type=checkbox]):not([type=radio]), select, textarea";
    const cut = Array.from(root.querySelectorAll("*")).filter((node) => {
        if (!node.textContent.trim() || node.matches("option, " + typed) || node.querySelector(typed)) {
            return false;  // a typed value may scroll inside its box; a label may not
        }
        const style = getComputedStyle(node);
        const hidden = style.overflowX !== "visible" && node.clientWidth > 0;
        return hidden && node.scrollWidth > node.clientWidth + 1;
    }).map((node) => node.textContent.trim());
    // A drop-down shows its chosen option in the room its arrow leaves.
    const pen = document.createElement("canvas").getContext("2d");
    for (const select of root.querySelectorAll("select:not([multiple])")) {
        const style = getComputedStyle(select);
        const chosen = select.options[select.selectedIndex];
        pen.font = style.font;
        const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 16;
        if (chosen && pen.measureText(chosen.text).width > room) {
            cut.push(chosen.text);
        }
    }
    return cut;
}"""


def clipped_texts(area: Locator) -> list[str]:
    """The labels and buttons under `area` whose text is cut off (an ellipsis, or hidden overflow)."""
    return area.evaluate(_CLIPPED)
