"""`python -m sandbox`: serve, start, status, stop, and the refusal to bind a non-loopback address."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10"])
def test_serve_refuses_a_non_loopback_host_without_allow_remote(workdir: Path, host: str) -> None:
    done = run("serve", "--host", host, "--port", "0", "--data-dir", str(workdir / "data"), cwd=workdir)
    assert done.returncode == 2
    assert f'refusing to bind "{host}"' in done.stderr and "--allow-remote" in done.stderr
    assert not (workdir / "data").exists()


def test_serve_refuses_a_configuration_error_naming_the_field(workdir: Path) -> None:
    config = workdir / "bad.toml"
    config.write_text(
        '[org]\nid = "00o1"\n[users]\n[clients]\n[authorization_servers]\n[api]\nauthorization_server = "x"\n'
    )
    done = run(
        "serve", "--port", "0", "--config", str(config), "--data-dir", str(workdir / "data"), cwd=workdir
    )
    assert done.returncode == 2
    assert "config.users is empty" in done.stderr


@pytest.fixture
def served(workdir: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--port", "0", "--data-dir", str(workdir / "data")],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        url = None
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("Sandbox org URL: "):
                url = line.split(": ", 1)[1].strip()
            elif not line and process.poll() is not None:
                break
        assert url is not None, "serve did not print its org URL"
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_serve_prints_its_org_url_serves_discovery_and_stops_on_sigterm(
    served: tuple[subprocess.Popen[str], str],
) -> None:
    process, url = served
    assert url.startswith("http://127.0.0.1:")
    meta = requests.get(url + "/.well-known/openid-configuration", timeout=5).json()
    assert meta["issuer"] == url
    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0
    assert "Sandbox stopped." in process.stdout.read()


def test_start_status_and_stop_manage_a_background_instance(workdir: Path) -> None:
    port = str(free_port())
    data = str(workdir / "data")
    try:
        started = run("start", "--port", port, "--data-dir", data, cwd=workdir)
        assert started.returncode == 0, started.stderr
        url = f"http://127.0.0.1:{port}"
        assert f"Sandbox org URL: {url}" in started.stdout
        assert requests.get(url + "/.well-known/openid-configuration", timeout=5).json()["issuer"] == url
        again = run("start", "--port", port, "--data-dir", data, cwd=workdir)
        assert again.returncode == 0 and "already" in again.stdout
        status = run("status", "--port", port, "--data-dir", data, cwd=workdir)
        assert status.returncode == 0 and f"running: {url}" in status.stdout
    finally:
        stopped = run("stop", "--data-dir", data, cwd=workdir)
    assert stopped.returncode == 0 and "Sandbox stopped" in stopped.stdout
    status = run("status", "--port", port, "--data-dir", data, cwd=workdir)
    assert status.returncode == 3 and "not running" in status.stdout
    assert not (workdir / "data" / "sandbox.pid").exists()
    assert (workdir / "data" / "sandbox.log").exists()


def test_stop_without_a_background_instance_says_so(workdir: Path) -> None:
    done = run("stop", "--data-dir", str(workdir / "nothing"), cwd=workdir)
    assert done.returncode == 0 and "No background sandbox" in done.stdout
    assert os.path.exists(workdir) and not (workdir / "nothing" / "sandbox.pid").exists()
