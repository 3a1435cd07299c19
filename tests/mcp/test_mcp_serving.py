"""The MCP server starts and stops with the sandbox: `python -m sandbox serve|start|stop`, `running_sandbox`.

It always binds 127.0.0.1 (whatever the org binds), on 8401 beside an org on 8400, else any free port
(`--mcp-port` chooses; -1 runs none); `serve` prints its URL beside the org URL.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from sandbox.config import load_config
from sandbox.mcp_server import DEFAULT_MCP_PORT, default_mcp_port
from sandbox.serving import make_served_sandbox
from sandbox.testing import running_sandbox

PRM = "/.well-known/oauth-protected-resource/mcp"


def listening(url: str) -> bool:
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, int(port))) == 0


def test_the_usual_port_is_8401_beside_8400_and_any_free_port_otherwise() -> None:
    assert default_mcp_port(8400) == DEFAULT_MCP_PORT == 8401
    assert default_mcp_port(0) == 0 and default_mcp_port(9000) == 0


def test_running_sandbox_starts_and_stops_the_mcp_server_with_it() -> None:
    with running_sandbox() as sb:
        mcp_url = sb.served.mcp_url
        assert mcp_url is not None and mcp_url.startswith("http://127.0.0.1:")
        assert sb.served.mcp.sock.getsockname()[0] == "127.0.0.1"
        assert requests.get(mcp_url.removesuffix("/mcp") + PRM, timeout=5).json()["resource"] == mcp_url
    assert not listening(mcp_url)


def test_mcp_port_minus_one_runs_no_mcp_server_and_mcp_names_no_resource(tmp_path: Path) -> None:
    served = make_served_sandbox(load_config(), port=0, data_dir=tmp_path, mcp_port=-1)
    try:
        assert served.mcp is None and served.mcp_url is None
        sandbox = served.sandbox
        assert sandbox.server_resources(sandbox.config.servers["default"]) == [served.url + "/todo-api"]
    finally:
        served.sock.close()


def _serve(workdir: Path, *extra: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(workdir / "data"),
            *extra,
        ],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    banner: dict[str, str] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        if ": " in line:
            key, value = line.strip().split(": ", 1)
            banner[key] = value.strip()
        if line.startswith("Press Ctrl-C"):
            break
    return process, banner


def test_serve_prints_the_mcp_url_beside_the_org_url_and_sigterm_stops_both(tmp_path: Path) -> None:
    process, banner = _serve(tmp_path)
    try:
        org, mcp_url = banner["Sandbox org URL"], banner["MCP server"]
        assert mcp_url.startswith("http://127.0.0.1:") and mcp_url.endswith("/mcp")
        assert requests.get(org + "/", timeout=5).json()["mcp_server"] == mcp_url
        deadline = time.monotonic() + 10
        while not listening(mcp_url) and time.monotonic() < deadline:
            time.sleep(0.05)
        prm = requests.get(mcp_url.removesuffix("/mcp") + PRM, timeout=5).json()
        assert prm["resource"] == mcp_url and prm["authorization_servers"] == [org + "/oauth2/default"]
        unauthenticated = requests.post(mcp_url, json={}, timeout=5)
        assert unauthenticated.status_code == 401
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        assert not listening(mcp_url)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_serve_takes_an_explicit_mcp_port(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process, banner = _serve(tmp_path, "--mcp-port", str(port))
    try:
        assert banner["MCP server"] == f"http://127.0.0.1:{port}/mcp"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)


def test_start_prints_the_mcp_url_and_stop_stops_it(tmp_path: Path) -> None:
    data = str(tmp_path / "data")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sandbox", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    started = run("start", "--port", "0", "--data-dir", data)
    try:
        assert started.returncode == 0, started.stderr
        lines = dict(line.split(": ", 1) for line in started.stdout.splitlines() if ": " in line)
        mcp_url = lines["MCP server"].strip()
        assert requests.get(mcp_url.removesuffix("/mcp") + PRM, timeout=5).status_code == 200
    finally:
        stopped = run("stop", "--data-dir", data)
    assert stopped.returncode == 0
    assert not listening(mcp_url)
