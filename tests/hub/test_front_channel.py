"""Front channel and back channel: the URLs the browser uses on a JupyterHub, and the ones the kernel keeps.

KIT_BROWSER_BASE_URL (helpers.core.config) switches the front channel on: the sign-in page and the redirect
URI go through jupyter-server-proxy (`{base}/proxy/{port}/…`); the kernel's listener, token requests and
the ID token's issuer stay on 127.0.0.1. A headless sign-in never uses the front channel.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from helpers.core.config import load_settings
from helpers.core.errors import ConfigError
from helpers.core.jupyterhub import resolve_browser_base_url
from helpers.core.transport import KitHTTP
from helpers.sandbox_client.headless_signin import sign_in_headless
from helpers.signin import new_authorization_request, parse_callback
from helpers.teaching.browser_signin import LoopbackListener
from sandbox.testing import running_sandbox

HUB = "https://hub.example.org/user/alice"
AGENT = "wlpSandboxAgent00001"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def settings_for(kit_home, monkeypatch, **values):
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def test_the_front_channel_sends_the_browser_through_the_proxy_and_keeps_the_kernels_urls(
    kit_home, monkeypatch
):
    settings = settings_for(
        kit_home,
        monkeypatch,
        OKTA_ORG_URL="http://127.0.0.1:20002",
        REDIRECT_URI="http://127.0.0.1:20003/callback",
        KIT_BROWSER_BASE_URL=HUB + "/",
    )
    assert settings.front_channel
    assert settings.browser_authorize_url == f"{HUB}/proxy/20002/oauth2/v1/authorize"
    assert settings.browser_redirect_uri == f"{HUB}/proxy/20003/callback"
    # The back channel is untouched: the kernel's token requests, the issuer, the listener's address.
    assert (settings.org_token_url, settings.org_issuer, settings.redirect_uri) == (
        "http://127.0.0.1:20002/oauth2/v1/token",
        "http://127.0.0.1:20002",
        "http://127.0.0.1:20003/callback",
    )
    request = new_authorization_request(settings)
    assert request.url.startswith(f"{HUB}/proxy/20002/oauth2/v1/authorize?")
    assert parse_qs(urlsplit(request.url).query)["redirect_uri"] == [f"{HUB}/proxy/20003/callback"]


FRONT_CHANNEL_OFF = [
    ("no setting: the browser is on this machine", {}, "http://127.0.0.1:8400/oauth2/v1/authorize",
     "http://127.0.0.1:8765/callback"),
    ("a headless run never involves a browser", {"KIT_BROWSER_BASE_URL": HUB, "KIT_HEADLESS": "true"},
     "http://127.0.0.1:8400/oauth2/v1/authorize", "http://127.0.0.1:8765/callback"),
    ("auto off a hub (no JUPYTERHUB_SERVICE_PREFIX)", {"KIT_BROWSER_BASE_URL": "auto"},
     "http://127.0.0.1:8400/oauth2/v1/authorize", "http://127.0.0.1:8765/callback"),
    ("an Okta org: the browser reaches Okta itself, only the redirect goes through the proxy",
     {"KIT_BROWSER_BASE_URL": HUB, "OKTA_ORG_URL": "https://example.okta.com"},
     "https://example.okta.com/oauth2/v1/authorize", f"{HUB}/proxy/8765/callback"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "values", "authorize", "redirect"), FRONT_CHANNEL_OFF, ids=[row[0] for row in FRONT_CHANNEL_OFF]
)
def test_which_urls_the_browser_gets(case, values, authorize, redirect, kit_home, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    settings = settings_for(kit_home, monkeypatch, **values)
    assert (settings.browser_authorize_url, settings.browser_redirect_uri) == (authorize, redirect)


AUTO = [
    ("the hub's public URL of this server", {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/",
     "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/user/alice/"}, "https://hub.example.org/user/alice"),
    ("the hub's host and the server's prefix (subdomains)", {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/",
     "JUPYTERHUB_HOST": "https://alice.hub.example.org"}, "https://alice.hub.example.org/user/alice"),
    ("not on a hub", {}, ""),
]  # fmt: skip


@pytest.mark.parametrize(("case", "environ", "expected"), AUTO, ids=[row[0] for row in AUTO])
def test_auto_takes_the_address_from_the_hubs_variables(case, environ, expected):
    assert resolve_browser_base_url("auto", environ) == expected


def test_auto_on_a_hub_that_does_not_say_its_address_names_the_fix():
    with pytest.raises(ConfigError) as refused:
        resolve_browser_base_url("auto", {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"})
    assert str(refused.value) == (
        'KIT_BROWSER_BASE_URL is "auto", expected a hub that sets JUPYTERHUB_PUBLIC_URL '
        "(c.JupyterHub.public_url), or the address your browser uses for this server instead of auto, "
        "e.g. https://hub.example.org/user/alice"
    )


BAD_SETTINGS = [
    ("a browser address over plain http off loopback", {"KIT_BROWSER_BASE_URL": "http://hub.example.org/user/a"},
     'KIT_BROWSER_BASE_URL is "http://hub.example.org/user/a", expected https:// (plain http only for a '
     "loopback address such as 127.0.0.1)"),
    ("a browser address that is not a URL", {"KIT_BROWSER_BASE_URL": "hub.example.org"},
     'KIT_BROWSER_BASE_URL is "hub.example.org", expected an absolute URL starting with https://'),
    ("a browser address with a query", {"KIT_BROWSER_BASE_URL": "https://hub.example.org/user/a?x=1"},
     'KIT_BROWSER_BASE_URL is "https://hub.example.org/user/a?x=1", expected no query string or fragment'),
    ("an unknown sandbox mode", {"KIT_SANDBOX": "sometimes"},
     'KIT_SANDBOX is "sometimes", expected one of auto, own, off'),
]  # fmt: skip


@pytest.mark.parametrize(("case", "values", "message"), BAD_SETTINGS, ids=[row[0] for row in BAD_SETTINGS])
def test_a_bad_front_channel_or_sandbox_setting_is_refused_by_name(
    case, values, message, kit_home, monkeypatch
):
    with pytest.raises(ConfigError) as refused:
        settings_for(kit_home, monkeypatch, **values)
    assert refused.value.problems == [message]


def test_the_listener_binds_the_loopback_address_and_reports_the_url_the_browser_used():
    port = free_port()
    front = f"{HUB}/proxy/{port}/callback"
    listener = LoopbackListener(f"http://127.0.0.1:{port}/callback", public_uri=front)
    try:
        # What jupyter-server-proxy forwards: the path after its prefix, on localhost.
        answer = requests.get(f"http://127.0.0.1:{port}/callback?code=c-1&state=s-1", timeout=10)
        assert answer.status_code == 200 and "Signed in" in answer.text
        assert listener.caught.wait(5)
        assert listener.url == f"{front}?code=c-1&state=s-1"
    finally:
        listener.close()
    request = dataclasses.replace(new_authorization_request(load_settings()), redirect_uri=front, state="s-1")
    assert parse_callback(listener.url, request).code == "c-1"


def test_a_headless_sign_in_takes_the_back_channel_even_for_a_front_channel_request(kit_home, monkeypatch):
    front = f"{HUB}/proxy/8765/callback"
    with running_sandbox(overrides={"clients": {AGENT: {"redirect_uris": [front]}}}) as sandbox:
        settings = settings_for(kit_home, monkeypatch, OKTA_ORG_URL=sandbox.url, KIT_BROWSER_BASE_URL=HUB)
        request = new_authorization_request(settings)  # as the troubleshooting cases build theirs
        assert request.redirect_uri == front
        callback = sign_in_headless(KitHTTP(phase="t", log_dir=kit_home / "logs"), request, settings)
    assert callback.how == "headless" and callback.code


def test_the_sign_in_configuration_shows_the_browsers_urls_only_with_the_front_channel(kit_home, monkeypatch):
    from helpers.teaching.display import step_configuration

    monkeypatch.setenv("OKTA_ORG_URL", "http://127.0.0.1:20002")
    monkeypatch.setenv("REDIRECT_URI", "http://127.0.0.1:20003/callback")
    assert "your browser" not in repr(step_configuration(load_settings(), "sign_in"))
    monkeypatch.setenv("KIT_BROWSER_BASE_URL", HUB)
    shown = repr(step_configuration(load_settings(), "sign_in"))
    assert f"{HUB}/proxy/20002/oauth2/v1/authorize" in shown and f"{HUB}/proxy/20003/callback" in shown


def test_choosing_the_sandbox_in_the_form_keeps_your_own_port_in_a_training_room(kit_home, monkeypatch):
    from helpers.teaching.forms import ConfigForm

    monkeypatch.setenv("OKTA_ORG_URL", "http://127.0.0.1:20002")
    form = ConfigForm(load_settings())
    form.where.value = "Okta org"
    form.where.value = "Sandbox (local, offline)"
    assert form.fields["OKTA_ORG_URL"].value == "http://127.0.0.1:20002"
