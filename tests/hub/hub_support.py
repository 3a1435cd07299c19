"""The hub test's machinery: Unix users, a real JupyterHub on loopback, and notebooks run through it.

Named uniquely (not `conftest`) so that `from hub_support import …` never picks another suite's module.

`TrainingRoom` runs the training room's own configuration (`deploy/jupyterhub/jupyterhub_config.py`)
with what a test needs layered on top: JupyterHub's dummy authenticator (any password) for two people,
the local process spawner (each person's server runs as their own Unix user, which the test creates),
the pinned configurable-http-proxy (fetched with `npm ci` the first time, never committed), and every
port on 127.0.0.1. `stop()` removes everything it made, processes, users and files, also after a
failure; it ends only processes it started or that run as the Unix users it created, one pid at a time.

`Kernel` speaks the Jupyter messaging protocol over the hub's proxy (the server's REST API and its kernel
websocket, with a token of the person): what a browser tab does, without the browser.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import requests
import websocket

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "jupyterhub"
PROXY_DIR = DEPLOY / "proxy"
PROXY_BIN = PROXY_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
VENV = Path(sys.prefix)
PYTHON_TAG = f"python{sys.version_info.major}.{sys.version_info.minor}"

#: Seconds the hub may take to answer, a server to start, a cell to run (2 shared cores, generous).
HUB_START_TIMEOUT = 60
SERVER_START_TIMEOUT = 120
CELL_TIMEOUT = 120


class RoomUnavailable(Exception):
    """The machine cannot hold the room (not root, no useradd, no node): the reason, for pytest.skip."""


# --- what the machine must have ----------------------------------------------------------------------
def check_machine() -> None:
    """Raise RoomUnavailable naming what is missing to create users and run the hub."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        raise RoomUnavailable(
            "the hub test creates two Unix users (one per person, as a training room has) and runs "
            "JupyterHub's local process spawner, which needs root: run it as root (CI does)"
        )
    for tool in ("useradd", "userdel"):
        if shutil.which(tool) is None:
            raise RoomUnavailable(f"the hub test creates Unix users with {tool}, which is not installed")
    if shutil.which("node") is None:
        raise RoomUnavailable(
            "the hub's configurable-http-proxy runs on Node.js, which is not installed: "
            "apt-get install nodejs npm"
        )


def ensure_proxy() -> Path:
    """Install the pinned configurable-http-proxy with `npm ci` when missing; return its command."""
    pinned = json.loads((PROXY_DIR / "package.json").read_text())["dependencies"]["configurable-http-proxy"]
    manifest = PROXY_DIR / "node_modules" / "configurable-http-proxy" / "package.json"
    installed = json.loads(manifest.read_text()).get("version") if manifest.is_file() else None
    if installed != pinned or not PROXY_BIN.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RoomUnavailable("npm is needed once to fetch configurable-http-proxy: apt-get install npm")
        done = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=PROXY_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"npm ci in {PROXY_DIR} failed:\n{(done.stderr or done.stdout)[-2000:]}")
    return PROXY_BIN


def free_port() -> int:
    """Return a port nothing listens on at 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_block(count: int) -> int:
    """Return an even base port below the ephemeral range with `count` free ports after it."""
    for _ in range(200):
        base = 2 * secrets.randbelow(4000) + 20000
        if all(port_is_free(base + offset) for offset in range(count)):
            return base
    raise RuntimeError("no block of free ports between 20000 and 28000")


# --- Unix users ---------------------------------------------------------------------------------------
@dataclass
class Person:
    """One trainee: a Unix user of their own, their hub name and, once started, a token and a server."""

    name: str
    home: Path
    uid: int = 0
    gid: int = 0
    token: str = ""

    @property
    def kit_home(self) -> Path:
        return self.home / "agentic-token-exchange-kit"


def create_user(name: str, home: Path) -> Person:
    """Create a Unix user with its own group and home folder (as `useradd` does for a person)."""
    subprocess.run(
        ["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/sh", "--user-group", name],
        check=True,
        capture_output=True,
        text=True,
    )
    entry = pwd.getpwnam(name)
    return Person(name=name, home=home, uid=entry.pw_uid, gid=entry.pw_gid)


def pids_of_uid(uid: int) -> list[int]:
    """The pids of the processes running as `uid` (read from /proc)."""
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.startswith("Uid:"):
                    if int(line.split()[1]) == uid:
                        pids.append(int(status.parent.name))
                    break
        except (OSError, ValueError):
            continue
    return pids


def end_processes_of(person: Person, *, grace: float = 5.0) -> list[int]:
    """Send SIGTERM, then SIGKILL, to each process of the person's Unix user (one pid at a time)."""
    pids = pids_of_uid(person.uid)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and pids_of_uid(person.uid):
        time.sleep(0.1)
    for pid in pids_of_uid(person.uid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def remove_user(person: Person) -> None:
    """End the user's processes, then delete the user, its group and its home folder."""
    end_processes_of(person)
    subprocess.run(["userdel", "--remove", person.name], check=False, capture_output=True)
    shutil.rmtree(person.home, ignore_errors=True)


def _link_or_copy(source: str, target: str) -> None:
    # A hard link keeps the file's own mode (readable by all) and costs no disk; copy across devices.
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def stage_for_people(folder: Path) -> tuple[Path, Path, Path]:
    """Put what the people's servers need where every user can read it, when the checkout is not.

    CI may clone into a folder only its owner can enter (`mktemp -d` makes mode 0700). The people run
    as other Unix users, so the test stages, under its own world-readable folder: the kit's tracked files
    (`git ls-files`), and the venv's site-packages and Jupyter data as hard links (no copy of 500 MB),
    leaving out the editable install's path hook, which points into the checkout.

    Returns:
        The staged kit folder, site-packages and `share/jupyter`.
    """
    stage = folder / "stage"
    kit = stage / "kit"
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in listed.stdout.splitlines():
        source = ROOT / name
        if source.is_file():
            target = kit / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    site_packages = stage / "site-packages"
    shutil.copytree(
        VENV / "lib" / PYTHON_TAG / "site-packages",
        site_packages,
        copy_function=_link_or_copy,
        ignore=shutil.ignore_patterns("__editable__*", "*.egg-link", "__pycache__"),
        symlinks=True,
    )
    share = stage / "share" / "jupyter"
    shutil.copytree(VENV / "share" / "jupyter", share, copy_function=_link_or_copy, symlinks=True)
    if (VENV / "etc" / "jupyter").is_dir():
        shutil.copytree(VENV / "etc" / "jupyter", stage / "etc" / "jupyter", copy_function=_link_or_copy)
    for path in [stage, *stage.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            os.chmod(path, 0o755)
    return kit, site_packages, share


def python_for_people(people: list[Person], folder: Path) -> tuple[str, dict[str, str]]:
    """Return a Python every person can run with the kit's packages, and the environment it needs.

    The kit's `.venv` works when its interpreter and the checkout are readable by everyone. When they
    are not (a Python installed under /root, as pyenv does; a checkout in a 0700 folder), a bridge: a venv
    made from the system's Python of the same version whose `.pth` adds the kit's site-packages and the
    kit itself, staged where everyone can read them when the checkout is not (`stage_for_people`), with
    Jupyter pointed at the staged data and configuration folders.

    Raises:
        RoomUnavailable: no such Python on this machine.
    """
    probe = "import helpers, sandbox, jupyterhub, jupyter_server_proxy, ipykernel"

    failures: list[str] = []

    def runs(python: str) -> bool:
        for person in people:
            try:
                done = subprocess.run(
                    [python, "-c", probe], user=person.uid, group=person.gid, cwd="/", capture_output=True
                )
            except OSError as exc:  # the interpreter itself cannot be reached (a 0700 folder on its path)
                failures.append(f"{python}: {exc}")
                return False
            if done.returncode != 0:
                said = done.stderr.decode(errors="replace").strip().splitlines() or ["(no message)"]
                failures.append(f"{python}: {said[-1]}")
                return False
        return True

    if runs(sys.executable):
        return sys.executable, {}
    kit, site_packages, share = stage_for_people(folder)
    for candidate in (f"/usr/bin/{PYTHON_TAG}", f"/usr/local/bin/{PYTHON_TAG}"):
        if not os.access(candidate, os.X_OK):
            continue
        bridge = folder / "bridge-venv"
        subprocess.run(
            [candidate, "-m", "venv", "--without-pip", str(bridge)], check=True, capture_output=True
        )
        (bridge / "lib" / PYTHON_TAG / "site-packages" / "kit-venv.pth").write_text(
            f"import site; site.addsitedir({str(site_packages)!r})\n{kit}\n"
        )
        python = str(bridge / "bin" / "python")
        if runs(python):
            return python, {
                "JUPYTER_CONFIG_PATH": str(share.parent.parent / "etc" / "jupyter"),
                "JUPYTER_PATH": str(share),
                "JUPYTERLAB_DIR": str(share / "lab"),
                "KIT_ROOM_KIT_DIR": str(kit),
            }
    raise RoomUnavailable(
        f"the people's servers need a {PYTHON_TAG} that other users can run with the kit's packages "
        f"(as another user: {'; '.join(failures)}); install {PYTHON_TAG} outside /root "
        f"(apt-get install {PYTHON_TAG})"
    )


# --- the hub ------------------------------------------------------------------------------------------
@dataclass
class TrainingRoom:
    """A JupyterHub on 127.0.0.1 with the room's configuration, two people, and everything to clean up."""

    folder: Path
    people: list[Person] = field(default_factory=list)
    url: str = ""
    base_port: int = 0
    admin_token: str = field(default_factory=lambda: secrets.token_hex(24))
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    python: str = ""

    @property
    def hub_api(self) -> str:
        return f"{self.url}/hub/api"

    # --- start ---
    def start(self, names: list[str]) -> TrainingRoom:
        """Create the users, write the test configuration, start the hub and wait until it answers."""
        proxy = ensure_proxy()
        homes = self.folder / "home"
        homes.mkdir(parents=True)
        os.chmod(self.folder, 0o755)
        os.chmod(homes, 0o755)
        for name in names:
            self.people.append(create_user(name, homes / name))
        self.python, extra_env = python_for_people(self.people, self.folder)
        port, hub_port, api_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.base_port = free_port_block(2 * (len(names) + 3))
        runtime = self.folder / "hub"
        runtime.mkdir(mode=0o700)
        config = runtime / "jupyterhub_test_config.py"
        config.write_text(
            textwrap.dedent(
                f"""
                # The training room's configuration, then only what a test on loopback needs.
                c = get_config()  # noqa: F821
                load_subconfig({str(DEPLOY / "jupyterhub_config.py")!r})  # noqa: F821
                c.JupyterHub.authenticator_class = "dummy"
                c.Authenticator.allowed_users = {set(names)!r}
                c.JupyterHub.spawner_class = "localprocess"
                c.JupyterHub.bind_url = {self.url!r}
                c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
                c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
                c.ConfigurableHTTPProxy.command = [{str(proxy)!r}]
                c.ConfigurableHTTPProxy.pid_file = {str(runtime / "proxy.pid")!r}
                c.JupyterHub.db_url = "sqlite:///{runtime / "jupyterhub.sqlite"}"
                c.JupyterHub.cookie_secret_file = {str(runtime / "cookie_secret")!r}
                c.Spawner.environment.update({extra_env!r})
                c.JupyterHub.services.append({{"name": "kit-room-test", "api_token": {self.admin_token!r}}})
                c.JupyterHub.load_roles.append(
                    {{"name": "kit-room-test", "services": ["kit-room-test"],
                      "scopes": ["admin:users", "admin:servers", "tokens", "list:services", "read:services"]}}
                )
                """
            )
        )
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("KIT_", "OKTA_", "JUPYTER"))},
            "KIT_ROOM_PYTHON": self.python,
            "KIT_ROOM_PUBLIC_URL": self.url,
            "KIT_ROOM_BASE_PORT": str(self.base_port),
        }
        if "KIT_ROOM_KIT_DIR" in extra_env:  # the staged kit: the configuration reads it when it loads
            environ["KIT_ROOM_KIT_DIR"] = extra_env["KIT_ROOM_KIT_DIR"]
        self.log_path = runtime / "jupyterhub.log"
        jupyterhub = Path(sys.executable).with_name("jupyterhub")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(jupyterhub), "-f", str(config)],
                cwd=runtime,
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + HUB_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterHub exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.hub_api}/", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"JupyterHub did not answer within {HUB_START_TIMEOUT} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        if self.log_path is None or not self.log_path.is_file():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # --- the hub's REST API, as the test's admin service ---
    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"token {self.admin_token}"}
        return requests.request(method, f"{self.hub_api}/{path}", headers=headers, timeout=30, **kwargs)

    def start_server(self, person: Person) -> None:
        """Start the person's server and wait until it is ready; give the person an API token."""
        answer = self.admin("POST", f"users/{person.name}/server")
        assert answer.status_code in (201, 202), answer.text
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            model = self.admin("GET", f"users/{person.name}").json()
            server = model.get("servers", {}).get("", {})
            if server.get("ready"):
                break
            if not model.get("pending") and not server:
                raise RuntimeError(f"{person.name}'s server did not start:\n{self.log_tail()}")
            time.sleep(0.3)
        else:
            raise RuntimeError(
                f"{person.name}'s server was not ready in {SERVER_START_TIMEOUT} s:\n{self.log_tail()}"
            )
        made = self.admin(
            "POST", f"users/{person.name}/tokens", json={"note": "hub test", "expires_in": 3600}
        )
        assert made.status_code in (200, 201), made.text
        person.token = made.json()["token"]

    def stop_server(self, person: Person) -> None:
        """Stop the person's server through the hub and wait until it is gone."""
        self.admin("DELETE", f"users/{person.name}/server")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            model = self.admin("GET", f"users/{person.name}").json()
            if not model.get("servers") and not model.get("pending"):
                return
            time.sleep(0.3)

    def server_api(self, person: Person, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call the person's Jupyter server REST API through the hub's proxy with their token."""
        headers = {"Authorization": f"token {person.token}"}
        return requests.request(
            method, f"{self.url}/user/{person.name}/{path}", headers=headers, timeout=30, **kwargs
        )

    # --- stop everything ---
    def stop(self) -> None:
        """Stop the hub (its proxy and services), every process of the people, the users, the files."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        if self.process is not None:
            try:  # the proxy and the culler run in the hub's process group
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for person in self.people:
            remove_user(person)
        shutil.rmtree(self.folder, ignore_errors=True)


def new_room() -> TrainingRoom:
    """A room in a fresh folder under the system's temporary folder (reachable by the people)."""
    return TrainingRoom(folder=Path(tempfile.mkdtemp(prefix="kit-room-")))


# --- a kernel through the hub -------------------------------------------------------------------------
@dataclass
class CellResult:
    """What one executed cell gave: its status, text outputs and error (if any)."""

    status: str
    outputs: list[dict[str, Any]]
    error: str = ""

    @property
    def text(self) -> str:
        parts = []
        for output in self.outputs:
            if output["msg_type"] == "stream":
                parts.append(output["content"]["text"])
            elif output["msg_type"] in ("execute_result", "display_data"):
                parts.append(output["content"]["data"].get("text/plain", ""))
            elif output["msg_type"] == "error":
                parts.append(f"{output['content']['ename']}: {output['content']['evalue']}")
        return "\n".join(parts)


class Kernel:
    """A notebook session on the person's server, driven over the hub's proxy (REST + websocket)."""

    def __init__(self, room: TrainingRoom, person: Person, notebook_path: str) -> None:
        self.room = room
        self.person = person
        made = room.server_api(
            person,
            "POST",
            "api/sessions",
            json={"path": notebook_path, "type": "notebook", "name": "", "kernel": {"name": "python3"}},
        )
        assert made.status_code == 201, made.text
        self.session_id = made.json()["id"]
        self.kernel_id = made.json()["kernel"]["id"]
        ws_url = (
            room.url.replace("http://", "ws://")
            + f"/user/{person.name}/api/kernels/{self.kernel_id}/channels"
        )
        self.ws = websocket.create_connection(
            ws_url, header=[f"Authorization: token {person.token}"], timeout=CELL_TIMEOUT
        )
        self.client_session = uuid.uuid4().hex

    def execute(self, code: str, *, timeout: float = CELL_TIMEOUT) -> CellResult:
        """Run `code` and return its outputs once the kernel is idle again."""
        msg_id = uuid.uuid4().hex
        self.ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": self.person.name,
                        "session": self.client_session,
                        "msg_type": "execute_request",
                        "version": "5.3",
                        "date": datetime.now(UTC).isoformat(),
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": True,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        outputs: list[dict[str, Any]] = []
        status, idle = "", False
        deadline = time.monotonic() + timeout
        while not (status and idle):
            if time.monotonic() > deadline:
                raise TimeoutError(f"a cell of {self.person.name} ran over {timeout} s:\n{code[:300]}")
            message = json.loads(self.ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["msg_type"]
            if kind == "execute_reply":
                status = message["content"]["status"]
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                idle = True
            elif kind in ("stream", "execute_result", "display_data", "error"):
                outputs.append({"msg_type": kind, "content": message["content"]})
        error = next(
            (
                f"{o['content']['ename']}: {o['content']['evalue']}"
                for o in outputs
                if o["msg_type"] == "error"
            ),
            "",
        )
        return CellResult(status=status, outputs=outputs, error=error)

    def run_notebook(
        self, path: Path, *, start: str | None = None, until: str | None = None
    ) -> list[CellResult]:
        """Run the code cells of a notebook in order: from the cell containing `start` (default: the
        first), up to the cell containing `until` (not run; default: to the end)."""
        results = []
        notebook = nbformat.read(path, as_version=4)
        begun = start is None
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            begun = begun or start in cell.source
            if not begun:
                continue
            if until is not None and until in cell.source:
                break
            result = self.execute(cell.source)
            results.append(result)
            if result.status != "ok":
                raise AssertionError(
                    f"{self.person.name}: {path.name} failed in the cell:\n{cell.source}\n"
                    f"-> {result.error}\n{result.text[-1500:]}"
                )
        return results

    def close(self) -> None:
        """Close the websocket and delete the session (its kernel shuts down)."""
        try:
            self.ws.close()
        finally:
            self.room.server_api(self.person, "DELETE", f"api/sessions/{self.session_id}")
