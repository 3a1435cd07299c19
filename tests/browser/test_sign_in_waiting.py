"""The kernel's half of the browser sign-in, without a browser: how long `login.wait()` waits
(KIT_SIGNIN_TIMEOUT) and that it does not wait when nothing could arrive.

These need no Chromium: they pin down the rules the browser tests found and rely on.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.core.config import DEFAULT_SIGNIN_TIMEOUT, ENV_VARS, load_settings
from helpers.core.errors import ConfigError, SignInError
from helpers.core.transport import KitHTTP
from helpers.signin import new_authorization_request
from helpers.teaching.browser_signin import start_sign_in


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kit home of its own: `.env` with a free loopback redirect URI, no kit variable inherited."""
    for name in (*ENV_VARS, "KIT_SIGNIN_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KIT_HOME", str(tmp_path))
    monkeypatch.setenv("KIT_ENV_FILE", str(tmp_path / ".env"))
    monkeypatch.setenv("KIT_STATE_DIR", str(tmp_path / ".kit"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / ".env").write_text(f"REDIRECT_URI=http://127.0.0.1:{port}/callback\n", encoding="utf-8")
    return tmp_path


@pytest.fixture
def occupied_redirect_port(home: Path) -> Iterator[socket.socket]:
    """Another program listening on REDIRECT_URI's port."""
    port = int(load_settings().redirect_uri.rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        yield squatter


@pytest.mark.parametrize(
    ("environment", "env_file", "expected"),
    [
        (None, None, DEFAULT_SIGNIN_TIMEOUT),
        (None, "", DEFAULT_SIGNIN_TIMEOUT),
        (None, "45", 45),
        ("7", "45", 7),
        (" 12 ", None, 12),
    ],
    ids=["default", "empty in .env", "from .env", "environment wins", "spaces around"],
)
def test_the_sign_in_timeout_comes_from_the_environment_then_the_env_file(
    home, monkeypatch, environment, env_file, expected
):
    if environment is not None:
        monkeypatch.setenv("KIT_SIGNIN_TIMEOUT", environment)
    if env_file is not None:
        with (home / ".env").open("a", encoding="utf-8") as env:
            env.write(f"KIT_SIGNIN_TIMEOUT={env_file}\n")
    assert load_settings().signin_timeout == expected


@pytest.mark.parametrize("value", ["0", "-5", "soon", "1.5", "2m"])
def test_a_sign_in_timeout_that_is_not_whole_seconds_is_refused_naming_the_value(home, monkeypatch, value):
    monkeypatch.setenv("KIT_SIGNIN_TIMEOUT", value)
    expected = f'KIT_SIGNIN_TIMEOUT is "{value}", expected a whole number of seconds, 1 or more (default 300)'
    # Reported when the settings load, before any sign-in starts a listener or opens a browser tab.
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value) == expected


def test_the_form_says_how_long_it_waits_and_when_a_pasted_url_is_read(home, monkeypatch):
    monkeypatch.setenv("KIT_SIGNIN_TIMEOUT", "42")
    settings = load_settings()
    login = start_sign_in(
        KitHTTP(phase="01", log_dir=home), new_authorization_request(settings), settings, open_browser=False
    )
    try:
        assert login.timeout == 42
        assert login._status.value == (
            f"Listening on {settings.redirect_uri}: the next cell waits up to 42 s for the redirect."
        )
        assert "a URL pasted during the wait is read when the cell runs again" in repr(login)
        with pytest.raises(SignInError, match="within 1 s"):
            login.wait(timeout=1)
        assert login._status.value.startswith(
            f"Gave up waiting after 1 s: no redirect reached {settings.redirect_uri}"
        )
    finally:
        login.listener.close()


@pytest.mark.timeout(30)
def test_without_a_listener_the_wait_ends_at_once_and_says_to_paste_the_url(home, occupied_redirect_port):
    settings = load_settings()
    request = new_authorization_request(settings)
    login = start_sign_in(
        KitHTTP(phase="01", log_dir=home), request, settings, timeout=3600, open_browser=False
    )
    assert login.listener is None
    assert login._status.value.startswith(f"The kernel cannot listen on {settings.redirect_uri} (")
    with pytest.raises(SignInError) as refused:
        login.wait()  # would hang for an hour if it waited
    assert str(refused.value).startswith(
        f"nothing to wait for: the kernel cannot listen on {settings.redirect_uri}"
    )
    assert str(refused.value).endswith(
        "Paste the URL your browser was sent to into the box, then run this cell again"
    )
    login._pasted.value = f"{settings.redirect_uri}?code=c-9&state={request.state}"
    callback = login.wait()
    assert (callback.code, callback.how) == ("c-9", "pasted URL")
    assert login._status.value == "Redirect received (pasted URL)."
