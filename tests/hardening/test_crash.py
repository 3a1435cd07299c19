"""The sandbox as a real process, killed with SIGKILL under load and at start-up, then restarted.

The sandbox's design: signing keys and registered clients persist in a data folder, so tokens stay
verifiable across restarts. After each kill: every key file is intact and parses (mode 0600), the
configuration and the agent's JWKS file are unchanged, nothing half-written sits under a real file's
name, and the tokens issued before the kill still verify against the JWKS served after the restart,
and at the API, until they expire.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from hardening_support import AgentKey, Signer, full_flow, token_exchange
from joserfc.jwk import RSAKey
from sandbox_flows import decode_unverified, verify_with_jwks

from helpers.core.keys import ensure_agent_key
from sandbox.config import DEFAULT_CONFIG_PATH

ROOT = Path(__file__).resolve().parents[2]
KEY_FILES = ("org.jwk.json", "authorization-server-default.jwk.json", "authorization-server-reports.jwk.json")
API_TOKEN_FILE = "api-token"  # the System Log's SSWS token (sandbox.system_log)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Home:
    """A kit home: configuration, the agent's key pair, the sandbox's data folder."""

    root: Path
    agent: AgentKey
    port: int = field(default_factory=free_port)

    @property
    def data_dir(self) -> Path:
        return self.root / ".sandbox"

    @property
    def config(self) -> Path:
        return self.root / "sandbox.toml"

    @property
    def jwks_file(self) -> Path:
        return self.root / ".keys" / "agent.jwks.json"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> subprocess.Popen:
        """Start `python -m sandbox serve` on this home's port (not waiting for it)."""
        command = [
            sys.executable,
            "-m",
            "sandbox",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--base-dir",
            str(self.root),
            "--config",
            str(self.config),
        ]
        log = (self.root / "sandbox.out").open("ab")
        return subprocess.Popen(
            command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    def start(self, timeout: float = 30.0) -> subprocess.Popen:
        """Start the sandbox and wait until its discovery document answers."""
        process = self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert process.poll() is None, (self.root / "sandbox.out").read_text()[-2000:]
            try:
                if requests.get(self.url + "/.well-known/openid-configuration", timeout=1).status_code == 200:
                    return process
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        kill(process)
        raise AssertionError(f"the sandbox did not answer within {timeout} s")

    def snapshot(self) -> dict[str, bytes]:
        """The bytes of every file the sandbox keeps or reads."""
        files = {name: (self.data_dir / "keys" / name).read_bytes() for name in KEY_FILES}
        files["config"] = self.config.read_bytes()
        files["agent jwks"] = self.jwks_file.read_bytes()
        files[API_TOKEN_FILE] = (self.data_dir / API_TOKEN_FILE).read_bytes()
        return files


def kill(process: subprocess.Popen) -> None:
    """SIGKILL the sandbox process and reap it."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def assert_data_folder_sound(home: Home) -> None:
    """Every key file parses as a private RSA JWK with mode 0600; no stray file holds a real name."""
    keys = home.data_dir / "keys"
    for name in KEY_FILES:
        path = keys / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{name} has mode {oct(path.stat().st_mode)}"
        key = RSAKey.import_key(json.loads(path.read_text(encoding="utf-8")))
        assert key.is_private
    leftovers = sorted(p.name for p in keys.iterdir() if p.name not in KEY_FILES)
    # A kill between writing a temp file and linking it into place leaves `.<name>.<random>.tmp`:
    # never under a real file's name, never read, so never in the way.
    assert all(n.startswith(".") and n.endswith(".tmp") for n in leftovers), leftovers
    token = home.data_dir / API_TOKEN_FILE
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert token.read_text(encoding="utf-8").strip()
    leftovers = sorted(p.name for p in home.data_dir.iterdir() if p.name.endswith(".tmp"))
    assert all(n.startswith(".") for n in leftovers), leftovers


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    root = tmp_path / "kit"
    agent, _ = ensure_agent_key(root / ".keys" / "agent.pem", root / ".keys" / "agent.jwks.json")
    shutil.copyfile(DEFAULT_CONFIG_PATH, root / "sandbox.toml")
    yield Home(root, agent)


def test_sigkill_under_load_loses_nothing_and_old_tokens_still_verify(home: Home) -> None:
    signer = Signer(home.agent)
    process = home.start()
    try:
        before = full_flow(home.url, signer)
        files = home.snapshot()
        stop = threading.Event()
        outcomes: list[str] = []

        def load() -> None:
            while not stop.is_set():
                try:
                    full_flow(home.url, signer)
                    outcomes.append("flow")
                except (requests.RequestException, AssertionError) as exc:
                    outcomes.append(type(exc).__name__)

        workers = [threading.Thread(target=load, daemon=True) for _ in range(4)]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 20
        while outcomes.count("flow") < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert outcomes.count("flow") >= 4, outcomes
        time.sleep(random.uniform(0.0, 0.3))  # noqa: S311 - when to kill, not a secret
        kill(process)
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    finally:
        kill(process)

    assert_data_folder_sound(home)
    assert home.snapshot() == files, "a data or configuration file changed across the kill"

    process = home.start()
    try:
        # Tokens from before the kill verify against the keys served now, picked by kid.
        assert verify_with_jwks(before.id_token, home.url + "/oauth2/v1/keys")["sub"]
        assert (
            verify_with_jwks(before.access_token, home.url + "/oauth2/default/v1/keys")["cid"]
            == signer.client_id
        )
        assert verify_with_jwks(before.id_jag, home.url + "/oauth2/v1/keys")["client_id"] == signer.client_id
        me = requests.get(
            home.url + "/todo-api/me", headers={"Authorization": "Bearer " + before.access_token}, timeout=10
        )
        assert me.status_code == 200, me.text
        assert me.json()["uid"] == decode_unverified(before.access_token)[1]["uid"]
        # The ID token from before the kill is still a good subject token until it expires.
        again = token_exchange(home.url, signer, before.id_token)
        assert again.status_code == 200, again.text
        assert full_flow(home.url, signer).access_token
        # The System Log still takes the API token written before the kill.
        token = (home.data_dir / API_TOKEN_FILE).read_text(encoding="utf-8").strip()
        logs = requests.get(home.url + "/api/v1/logs", headers={"Authorization": f"SSWS {token}"}, timeout=10)
        assert logs.status_code == 200, logs.text
    finally:
        kill(process)
    assert home.snapshot() == files


def test_sigkill_during_start_up_never_leaves_a_half_written_key(home: Home) -> None:
    rng = random.Random(7)  # noqa: S311 - when to kill, not a secret
    kills = 0
    for _ in range(4):
        shutil.rmtree(home.data_dir, ignore_errors=True)
        process = home.spawn()
        # Wait for the data folder to appear (the interpreter has started and begun writing keys), then kill.
        deadline = time.monotonic() + 30
        while (
            not (home.data_dir / "keys").exists() and process.poll() is None and time.monotonic() < deadline
        ):
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.25))
        kill(process)
        kills += 1
        keys = home.data_dir / "keys"
        for name in KEY_FILES:
            if (keys / name).exists():  # whatever exists under a real name is whole
                assert RSAKey.import_key(json.loads((keys / name).read_text(encoding="utf-8"))).is_private
        process = home.start()
        kill(process)
        assert_data_folder_sound(home)
    assert kills == 4
