"""The sandbox's side of a training room: extra redirect URIs for a started sandbox, and a sign-in page
that works under a proxy's path prefix (jupyter-server-proxy serves it at `/user/{name}/proxy/{port}/…`)."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import urljoin

import pytest
import requests

from helpers.core.pkce import Pkce
from helpers.sandbox_client.headless_signin import find_password_form
from sandbox.config import ConfigError, load_config, with_redirect_uris

FRONT = "https://hub.example.org/user/alice/proxy/20003/callback"


def test_extra_redirect_uris_go_to_every_client_that_signs_people_in():
    config = with_redirect_uris(load_config(), [FRONT, FRONT])
    for client in config.clients.values():
        if "authorization_code" in client.grant_types:
            assert client.redirect_uris[-1] == FRONT and client.redirect_uris.count(FRONT) == 1, client
        else:
            assert FRONT not in client.redirect_uris, client


NOT_AN_ABSOLUTE_URI = 'is not an absolute http(s) URI, expected e.g. "https://host/callback"'
BAD_REDIRECT_URIS = [
    ("not a URI", "callback", f'redirect URI "callback" {NOT_AN_ABSOLUTE_URI}'),
    ("another scheme", "ftp://host/cb", f'redirect URI "ftp://host/cb" {NOT_AN_ABSOLUTE_URI}'),
    ("a fragment", "https://host/cb#here",
     'redirect URI "https://host/cb#here" has a fragment, expected none (RFC 6749 §3.1.2)'),
]  # fmt: skip


@pytest.mark.parametrize(("case", "uri", "message"), BAD_REDIRECT_URIS, ids=[r[0] for r in BAD_REDIRECT_URIS])
def test_a_redirect_uri_that_cannot_be_registered_is_refused_by_value(case, uri, message):
    with pytest.raises(ConfigError) as refused:
        with_redirect_uris(load_config(), [uri])
    assert str(refused.value) == message


def test_the_command_line_refuses_a_bad_redirect_uri_before_starting(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox",
            "start",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
            "--redirect-uri",
            "x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        'sandbox: redirect URI "x" is not an absolute http(s) URI, expected e.g. "https://host/callback"'
    )


def test_a_sandbox_started_with_a_proxy_redirect_uri_shows_its_sign_in_page_with_a_relative_form(tmp_path):
    serve = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--port", "0", "--data-dir", str(tmp_path / "data"),
         "--base-dir", str(tmp_path), "--redirect-uri", FRONT],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        banner = []
        for line in serve.stdout:
            banner.append(line.rstrip())
            if line.startswith("Press Ctrl-C"):
                break
        url = next(line.split(": ", 1)[1] for line in banner if line.startswith("Sandbox org URL: "))
        assert f"  Also accepted as redirect URIs: {FRONT}" in banner
        params = {
            "response_type": "code", "client_id": "wlpSandboxAgent00001", "redirect_uri": FRONT,
            "scope": "openid", "state": "s-1", "code_challenge": Pkce.new().challenge,
            "code_challenge_method": "S256",
        }  # fmt: skip
        page = requests.get(f"{url}/oauth2/v1/authorize", params=params, timeout=10)
    finally:
        serve.terminate()
        serve.wait(timeout=20)
    assert page.status_code == 200, page.text
    form = find_password_form(page.text)
    assert (form["method"], form["action"]) == ("post", "authorize")
    # Where a browser posts it when the proxy serves the page under its prefix: the same proxied endpoint.
    proxied = "https://hub.example.org/user/alice/proxy/20002/oauth2/v1/authorize?client_id=x"
    assert (
        urljoin(proxied, form["action"])
        == "https://hub.example.org/user/alice/proxy/20002/oauth2/v1/authorize"
    )
