"""A notebook opened without `make lab` starts the person's own sandbox, reuses it, and refuses anyone else's.

helpers.sandbox_client.local_sandbox, through `Kit.open`: a local OKTA_ORG_URL with nothing answering starts
`python -m sandbox start` with the person's data folder (`<KIT_HOME>/.sandbox`), says so in one line and
writes OKTA_API_TOKEN to `.env`; the next notebook reuses it silently. A sandbox answering there whose
org signing key is not the one in the person's data folder is someone else's: refused, by name.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers import flow
from helpers.core.config import load_settings
from helpers.core.errors import LocalSandboxError
from helpers.kit import Kit
from helpers.sandbox_client.local_sandbox import (
    data_dir_for,
    ensure_local_sandbox,
    redirect_uris_for,
    sandbox_command,
    stop_local_sandbox,
)
from sandbox.testing import running_sandbox


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def env_value(path, name: str) -> str | None:
    for line in path.read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1]
    return None


def test_a_notebook_opened_without_make_lab_starts_your_sandbox_once_and_the_next_one_reuses_it(
    kit_home, monkeypatch, capsys
):
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("OKTA_ORG_URL", url)
    monkeypatch.setenv("KIT_HEADLESS", "true")
    settings = load_settings()
    try:
        kit = Kit.open("01_user_sign_in")
        said = capsys.readouterr().out.splitlines()
        assert len(said) == 1 and re.match(
            rf"^Started your own sandbox at {re.escape(url)} \(\d+\.\d s; nothing answered there\): "
            r"data folder \.sandbox, log \.sandbox/sandbox\.log, OKTA_API_TOKEN written to \.env; "
            r"the next notebooks reuse it\.$",
            said[0],
        ), said
        data_dir = data_dir_for(settings)
        token = (data_dir / "api-token").read_text().strip()
        assert env_value(kit_home / ".env", "OKTA_API_TOKEN") == token
        assert kit.settings.okta_api_token == token and token not in said[0]
        assert (data_dir.stat().st_mode & 0o777, (kit_home / ".env").stat().st_mode & 0o777) == (0o700, 0o600)
        # The sandbox reads the agent's public JWKS the helpers wrote: the whole flow works.
        assert flow.run_sign_in(kit)["id_token"]
        again = Kit.open("02_token_exchange_id_jag")
        assert capsys.readouterr().out == ""
        assert again.settings.okta_api_token == token
    finally:
        stopped = stop_local_sandbox(settings)
    assert stopped.startswith("Sandbox stopped (pid ")


OWNERS = [
    # case, KIT_SANDBOX, on a JupyterHub, what your data folder holds, refusal (or the state reached)
    ("a sandbox refusing the API token of your data folder", "auto", False, "another token",
     "the sandbox answering at {url} is not yours: it refuses the System Log API token of your data "),
    ("a sandbox you never started, on a laptop: used as it is", "auto", False, "no token",
     "running, owner unknown"),
    ("a sandbox you never started, on a JupyterHub", "auto", True, "no token",
     "a sandbox answers at {url}, but it is not yours: you have never started one from "),
    ("a sandbox you never started, with KIT_SANDBOX=own", "own", False, "no token",
     "a sandbox answers at {url}, but it is not yours: you have never started one from "),
    ("your own sandbox: it accepts your data folder's token", "own", True, "its token", "running, yours"),
    ("KIT_SANDBOX=off: nothing is started or checked", "off", False, "another token", "off"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "mode", "on_hub", "folder", "expected"), OWNERS, ids=[r[0] for r in OWNERS])
def test_whose_sandbox_answers_on_your_port(
    case, mode, on_hub, folder, expected, kit_home, tmp_path, monkeypatch
):
    mine = kit_home / ".sandbox"
    if folder == "another token":
        with running_sandbox(data_dir=mine):  # your own sandbox ran once: its token stays in your data folder
            pass
    with running_sandbox(data_dir=mine if folder == "its token" else tmp_path / "theirs") as sandbox:
        monkeypatch.setenv("OKTA_ORG_URL", sandbox.url)
        monkeypatch.setenv("KIT_SANDBOX", mode)
        if on_hub:
            monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
        settings = load_settings()
        if expected.startswith(("the sandbox", "a sandbox")):
            with pytest.raises(LocalSandboxError) as refused:
                ensure_local_sandbox(settings)
            assert str(refused.value).startswith(expected.format(url=sandbox.url))
            return
        local = ensure_local_sandbox(settings)
    state = {None: "running, owner unknown", True: "running, yours"}.get(local.owned, local.state)
    assert (state if local.state == "running" else local.state) == expected


class NotASandbox(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_error(404)

    def log_message(self, *args: object) -> None:
        return


def test_a_port_taken_by_another_program_is_a_clear_error_not_a_hang(kit_home, monkeypatch):
    squatter = ThreadingHTTPServer(("127.0.0.1", 0), NotASandbox)
    thread = threading.Thread(target=squatter.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{squatter.server_address[1]}"
        monkeypatch.setenv("OKTA_ORG_URL", url)
        with pytest.raises(LocalSandboxError) as refused:
            ensure_local_sandbox(load_settings())
    finally:
        squatter.shutdown()
        squatter.server_close()
    message = str(refused.value)
    assert message.startswith(f"your sandbox did not start at {url} (exit 1): ")
    assert f"cannot listen on 127.0.0.1:{squatter.server_address[1]}" in message


def test_an_okta_org_url_starts_nothing(kit_home, monkeypatch):
    monkeypatch.setenv("OKTA_ORG_URL", "https://example.okta.com")
    local = ensure_local_sandbox(load_settings())
    assert (local.state, local.data_dir) == ("not local", None)
    assert not (kit_home / ".sandbox").exists()


def test_the_start_command_carries_the_persons_port_folders_and_redirect_uris(kit_home, monkeypatch):
    monkeypatch.setenv("OKTA_ORG_URL", "http://localhost:20002")
    monkeypatch.setenv("REDIRECT_URI", "http://127.0.0.1:20003/callback")
    monkeypatch.setenv("KIT_BROWSER_BASE_URL", "https://hub.example.org/user/alice")
    monkeypatch.setenv("KIT_HEADLESS", "true")  # registered all the same, for a later interactive sign-in
    settings = load_settings()
    assert redirect_uris_for(settings) == [
        "http://127.0.0.1:20003/callback",
        "https://hub.example.org/user/alice/proxy/20003/callback",
    ]
    command = sandbox_command(settings, "start", python="python")
    assert command == [
        "python", "-m", "sandbox", "start",
        "--host", "127.0.0.1", "--org-url", "http://localhost:20002",  # the issuer stays OKTA_ORG_URL
        "--port", "20002", "--data-dir", str(kit_home / ".sandbox"), "--base-dir", str(kit_home),
        "--redirect-uri", "http://127.0.0.1:20003/callback",
        "--redirect-uri", "https://hub.example.org/user/alice/proxy/20003/callback",
    ]  # fmt: skip
    assert json.dumps(command)  # a plain argument list: no shell


def test_the_start_command_refuses_an_org_that_is_not_a_local_sandbox(kit_home, monkeypatch):
    monkeypatch.setenv("OKTA_ORG_URL", "https://example.okta.com")
    with pytest.raises(LocalSandboxError) as refused:
        sandbox_command(load_settings())
    assert str(refused.value) == (
        'OKTA_ORG_URL is "https://example.okta.com", expected a local sandbox URL such as http://127.0.0.1:8400'
    )
