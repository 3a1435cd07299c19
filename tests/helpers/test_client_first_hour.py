"""A learner's first hour, against a real sandbox: mistakes caught where they are made, never a silent wait.

- the configuration form checks on Save what the server can tell (an unknown client id, a redirect URI
  it does not know, a custom server that does not exist) and marks the field beside it;
- choosing "Okta org" clears or flags every sandbox-only value;
- a sign-in the authorization server refuses with an error page (RFC 6749 §4.1.2.1: no redirect to an
  untrusted client) is an error in the notebook naming the setting, before any browser is sent there;
- an OAuth error of a later step names the setting it points at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.core.config import load_settings
from helpers.core.errors import ConfigError, OAuthError, SignInError
from helpers.core.keys import agent_key_for
from helpers.core.transport import KitHTTP
from helpers.kit import Kit
from helpers.signin import check_authorize_request, new_authorization_request
from helpers.teaching.browser_signin import SignIn
from helpers.teaching.forms import ConfigForm, sandbox_values_against_okta
from helpers.teaching.notebook_errors import short_report
from helpers.token_exchange import token_exchange_form
from sandbox.testing import RunningSandbox, running_sandbox


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSandbox, Path]]:
    """A kit home whose .env points at a sandbox on an ephemeral port."""
    home = tmp_path_factory.mktemp("first-hour")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KIT_HOME", str(home))
        mp.setenv("KIT_ENV_FILE", str(home / ".env"))
        mp.setenv("KIT_STATE_DIR", str(home / ".kit"))
        agent_key_for(load_settings())
        with running_sandbox(base_dir=home) as sb:
            (home / ".env").write_text(f"OKTA_ORG_URL={sb.url}\nKIT_HEADLESS=false\n", encoding="utf-8")
            yield sb, home


@pytest.fixture
def env(lab: tuple[RunningSandbox, Path], monkeypatch: pytest.MonkeyPatch) -> RunningSandbox:
    sb, home = lab
    monkeypatch.setenv("KIT_HOME", str(home))
    monkeypatch.setenv("KIT_ENV_FILE", str(home / ".env"))
    monkeypatch.setenv("KIT_STATE_DIR", str(home / ".kit"))
    for name in ("OKTA_ORG_URL", "KIT_HEADLESS", "AGENT_CLIENT_ID", "REDIRECT_URI", "AGENT_SCOPES"):
        monkeypatch.delenv(name, raising=False)
    (home / ".env").write_text(f"OKTA_ORG_URL={sb.url}\nKIT_HEADLESS=false\n", encoding="utf-8")
    return sb


# --- the sign-in request, checked before a browser is sent to it ---------------------------------------

SIGN_IN_REFUSALS = [
    # (what is wrong, the request's parameter and value, the setting the error must name, Okta's error)
    ("an unknown client id", {"client_id": "0oaNobodyKnowsMe0001"}, "AGENT_CLIENT_ID", "invalid_client"),
    ("a redirect URI the org does not know", {"redirect_uri": "http://127.0.0.1:9/cb"}, "REDIRECT_URI", None),
    ("a scope the org server does not have", {"scope": "openid todo.read"}, "SIGNIN_SCOPES", "invalid_scope"),
]


@pytest.mark.parametrize(
    ("wrong", "change", "setting", "error"), SIGN_IN_REFUSALS, ids=[r[0] for r in SIGN_IN_REFUSALS]
)
def test_a_refused_sign_in_request_is_an_error_naming_the_setting(
    env, tmp_path, wrong, change, setting, error
):
    settings = load_settings()
    request = new_authorization_request(settings)
    request = type(request)(**{**request.__dict__, **change})
    http = KitHTTP(phase="01", log_dir=tmp_path)
    with pytest.raises(SignInError) as caught:
        check_authorize_request(http, request, settings.org_authorize_url)
    message = str(caught.value)
    assert f'check {setting} (now "{list(change.values())[0]}")' in message, message
    if error is not None:
        assert caught.value.error == error
    assert "00_configure" in message


def test_a_good_sign_in_request_passes_the_check_and_the_widget_starts(env, tmp_path):
    settings = load_settings()
    request = new_authorization_request(settings)
    http = KitHTTP(phase="01", log_dir=tmp_path)
    login = SignIn(http, request, settings, open_browser=False, timeout=1).start()
    try:
        assert login.preflight_problem is None and login._widgets is not None
        assert [e.label for e in http.exchanges] == ["Sign-in page check"]
    finally:
        if login.listener is not None:
            login.listener.close()


def test_an_interactive_sign_in_with_an_unknown_client_fails_at_once_not_after_a_wait(
    env, tmp_path, monkeypatch
):
    monkeypatch.setenv("AGENT_CLIENT_ID", "0oaNobodyKnowsMe0001")
    settings = load_settings()
    http = KitHTTP(phase="01", log_dir=tmp_path)
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    with pytest.raises(SignInError, match='check AGENT_CLIENT_ID \\(now "0oaNobodyKnowsMe0001"\\)'):
        SignIn(http, new_authorization_request(settings), settings, timeout=300).start()
    assert opened == []  # no tab sent to an error page


def test_a_sign_in_shows_its_link_and_paste_box_before_it_waits(env, tmp_path, monkeypatch):
    shown: list[object] = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    settings = load_settings()
    http = KitHTTP(phase="06", log_dir=tmp_path)
    login = SignIn(http, new_authorization_request(settings), settings, open_browser=False, timeout=1).start()
    with pytest.raises(SignInError, match="no redirect reached"):
        login.wait()  # started and waited in one cell: it must show itself first
    assert shown == [login]
    assert [w.description for w in login._widgets.children if w.description] == ["Pasted URL:"]


# --- the configuration form's Save ------------------------------------------------------------------------

FORM_REFUSALS = [
    ("AGENT_CLIENT_ID", "0oaNobodyKnowsMe0001", "the org refused a sign-in with it"),
    ("REDIRECT_URI", "http://127.0.0.1:9/elsewhere", "the org refused a sign-in with it"),
    ("OKTA_AUTH_SERVER_ID", "nosuchserver", "no such custom authorization server at the org"),
    ("AGENT_SCOPES", "", 'AGENT_SCOPES is "", expected at least one scope'),
    ("OKTA_ORG_URL", "http://127.0.0.1:8400/", "expected no trailing slash"),
]


@pytest.mark.parametrize(("name", "value", "said"), FORM_REFUSALS, ids=[r[0] for r in FORM_REFUSALS])
def test_save_refuses_a_wrong_value_marks_its_field_and_writes_nothing(env, name, value, said):
    before = Path(load_settings().env_file).read_text(encoding="utf-8")
    form = ConfigForm(load_settings())
    form.fields[name].value = value
    with pytest.raises(ConfigError):
        form.save()
    assert name in form.marked and said in form.marked[name].message
    assert "kit-mark-error" in form.fields[name]._dom_classes
    assert said in form.notes[name].value
    assert form.status.value.startswith("Not done: ")
    assert Path(load_settings().env_file).read_text(encoding="utf-8") == before


def test_save_with_good_values_writes_them_and_marks_nothing_in_error(env):
    form = ConfigForm(load_settings())
    form.fields["AGENT_SCOPES"].value = "todo.read todo.write"
    assert form.save() == ["AGENT_SCOPES"]
    assert [p for p in form.marked.values() if p.level == "error"] == []
    assert load_settings().agent_scopes == ("todo.read", "todo.write")


def test_a_scope_not_in_public_metadata_is_saved_with_a_warning(env):
    form = ConfigForm(load_settings())
    form.fields["AGENT_SCOPES"].value = "todo.read todo.admin"  # exists, not public (sandbox)
    form.save()
    assert form.marked["AGENT_SCOPES"].level == "warning"
    assert "todo.admin not among the server's public scopes" in form.marked["AGENT_SCOPES"].message
    assert "1 warning(s) marked below: AGENT_SCOPES" in form.status.value


def test_choosing_okta_clears_and_flags_every_sandbox_only_value(env):
    form = ConfigForm(load_settings())
    form.where.value = "Okta org"
    assert form.fields["OKTA_ORG_URL"].value == "" and form.fields["AGENT_CLIENT_ID"].value == ""
    assert form.fields["API_URL"].value == "" and form.fields["KIT_HEADLESS"].value is False
    assert form.marked["AGENT_SCOPES"].level == "warning"
    assert {form.marked[n].level for n in ("SANDBOX_USERNAME", "SANDBOX_PASSWORD")} == {"note"}
    form.fields["OKTA_ORG_URL"].value = "https://example.okta.com"
    form.fields["AGENT_CLIENT_ID"].value = "wlpSandboxAgent00001"  # typed back: refused against Okta
    form.fields["API_URL"].value = "https://api.example.com/todos"
    settings, problems = form.check(server=False)
    assert settings is not None
    assert [(p.name, p.level) for p in problems] == [
        ("AGENT_CLIENT_ID", "error"),
        ("AGENT_SCOPES", "warning"),
    ]
    form.where.value = "Sandbox (local, offline)"
    assert form.fields["AGENT_CLIENT_ID"].value == "wlpSandboxAgent00001" and form.marked == {}


# --- a later step's OAuth error names its setting ---------------------------------------------------------


def test_an_oauth_error_of_the_token_exchange_names_the_setting_to_change(env, monkeypatch):
    monkeypatch.setenv("KIT_HEADLESS", "true")
    kit = Kit.open("02_token_exchange_id_jag", load_settings())
    id_token = kit.require("id_token").value
    form = token_exchange_form(subject_token=id_token, audience=kit.settings.audience, scopes=["openid"])
    with pytest.raises(OAuthError) as caught:
        kit.token_request(kit.settings.org_token_url, form)
    assert caught.value.__notes__ == [
        'To fix: check AGENT_SCOPES: the target server\'s custom scopes, without openid (now "todo.read"); '
        "change it in the form of 00_configure (then Save), or .env."
    ]
    assert caught.value.__notes__[0] in short_report(caught.value)


@pytest.mark.parametrize(
    ("api_url", "expected"),
    [
        ("http://127.0.0.1:8400/todo-api/todos", [("API_URL", "error")]),  # the sandbox's default
        ("http://localhost:9999/todo-api/todos", [("API_URL", "error")]),  # another sandbox's demo API
        ("http://127.0.0.1:8400/todo-api/todos/7", [("API_URL", "error")]),
        ("https://127.0.0.1:8443/todo-api/todos", []),  # an HTTPS stand-in's API, or yours
        ("http://127.0.0.1:8000/api/orders", []),  # your own API on this machine (notebook 08)
        ("https://api.example.com/todo-api/todos", []),
        ("https://api.example.com/orders", []),
    ],
)
def test_in_okta_mode_only_the_sandboxs_demo_api_as_a_sandbox_serves_it_is_refused(api_url, expected):
    values = {"AGENT_CLIENT_ID": "wlpMyAgent0000000001", "API_URL": api_url, "AGENT_SCOPES": "orders.read"}
    found = [(p.name, p.level) for p in sandbox_values_against_okta(values)]
    assert found == expected


def test_in_okta_mode_the_sandboxs_agent_is_refused_and_its_scope_is_a_warning():
    values = {
        "AGENT_CLIENT_ID": "wlpSandboxAgent00001",
        "API_URL": "https://api.example.com/orders",
        "AGENT_SCOPES": "todo.read",
    }
    found = [(p.name, p.level) for p in sandbox_values_against_okta(values)]
    assert found == [("AGENT_CLIENT_ID", "error"), ("AGENT_SCOPES", "warning")]
