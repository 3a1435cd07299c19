"""Settings: precedence (environment > .env > defaults), validation messages, saving back to .env."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from helpers.core.config import kit_home, load_settings, save_settings
from helpers.core.errors import ConfigError
from helpers.teaching.display import describe

ENV_TEXT = """# The kit's settings (a comment the save must keep)
OKTA_ORG_URL=http://127.0.0.1:8400
OKTA_AUTH_SERVER_ID=default

# --- the agent
AGENT_CLIENT_ID=fromFileClient
AGENT_SCOPES=todo.read todo.write
API_URL=${OKTA_ORG_URL}/todo-api/todos
UNRELATED_LINE=keep me
"""


def write_env(home: Path, text: str = ENV_TEXT) -> Path:
    path = home / ".env"
    path.write_text(text)
    return path


def test_defaults_apply_without_an_env_file(kit_home):
    settings = load_settings()
    assert settings.org_url == "http://127.0.0.1:8400"
    assert settings.api_url == "http://127.0.0.1:8400/todo-api/todos"
    assert settings.agent_private_key_file == kit_home / ".keys/agent.pem"
    assert settings.state_dir == kit_home / ".kit"
    assert settings.is_sandbox and settings.headless is False and settings.redact is True


def test_env_file_values_apply_and_the_environment_wins_over_them(kit_home, monkeypatch):
    write_env(kit_home)
    assert load_settings().agent_client_id == "fromFileClient"
    monkeypatch.setenv("AGENT_CLIENT_ID", "fromEnvironment")
    assert load_settings().agent_client_id == "fromEnvironment"


def test_environment_org_url_wins_inside_the_api_url_reference(kit_home, monkeypatch):
    write_env(kit_home)
    monkeypatch.setenv("OKTA_ORG_URL", "http://127.0.0.1:5999")
    settings = load_settings()
    assert settings.org_url == "http://127.0.0.1:5999"
    assert settings.api_url == "http://127.0.0.1:5999/todo-api/todos"


def test_loading_does_not_change_the_environment(kit_home):
    import os

    write_env(kit_home)
    load_settings()
    assert "AGENT_CLIENT_ID" not in os.environ


def test_derived_urls_follow_okta_layout(kit_home, monkeypatch):
    monkeypatch.setenv("OKTA_ORG_URL", "https://example.okta.com")
    monkeypatch.setenv("OKTA_AUTH_SERVER_ID", "aus1abc")
    s = load_settings()
    assert s.org_token_url == "https://example.okta.com/oauth2/v1/token"
    assert s.custom_issuer == "https://example.okta.com/oauth2/aus1abc"
    assert s.custom_token_url == "https://example.okta.com/oauth2/aus1abc/v1/token"
    assert s.audience == s.custom_issuer
    assert not s.is_sandbox
    monkeypatch.setenv("AUDIENCE", "https://example.okta.com/oauth2/other")
    assert load_settings().audience == "https://example.okta.com/oauth2/other"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "OKTA_ORG_URL",
            "https://x.okta.com/",
            'OKTA_ORG_URL is "https://x.okta.com/", expected no trailing slash',
        ),
        (
            "OKTA_ORG_URL",
            "x.okta.com",
            'OKTA_ORG_URL is "x.okta.com", expected an absolute URL starting with https://',
        ),
        ("OKTA_ORG_URL", "http://x.okta.com", 'OKTA_ORG_URL is "http://x.okta.com", expected https://'),
        (
            "OKTA_ORG_URL",
            "https://x.okta.com/oauth2",
            'OKTA_ORG_URL is "https://x.okta.com/oauth2", expected no path',
        ),
        (
            "OKTA_AUTH_SERVER_ID",
            "my server",
            'OKTA_AUTH_SERVER_ID is "my server", expected an authorization server id',
        ),
        ("AGENT_CLIENT_ID", "", 'AGENT_CLIENT_ID is "", expected the agent\'s client_id'),
        ("AGENT_KEY_ALG", "HS256", 'AGENT_KEY_ALG is "HS256", expected one of RS256, ES256'),
        (
            "REDIRECT_URI",
            "http://example.com/cb",
            'REDIRECT_URI is "http://example.com/cb", expected https://',
        ),
        (
            "SIGNIN_SCOPES",
            "profile email",
            'SIGNIN_SCOPES is "profile email", expected a list that includes "openid"',
        ),
        ("AGENT_SCOPES", "", 'AGENT_SCOPES is "", expected at least one scope of the target server'),
        (
            "AGENT_SCOPES",
            "openid todo.read",
            'AGENT_SCOPES is "openid todo.read", expected custom scopes only',
        ),
        (
            "AUDIENCE",
            "https://x.okta.com/oauth2/default/",
            'AUDIENCE is "https://x.okta.com/oauth2/default/", expected no trailing slash',
        ),
        ("SUBJECT_TOKEN_TYPE", "id_token", 'SUBJECT_TOKEN_TYPE is "id_token", expected one of urn:ietf'),
        ("API_URL", "ftp://x/y", 'API_URL is "ftp://x/y", expected an absolute URL'),
        ("KIT_HEADLESS", "maybe", 'KIT_HEADLESS is "maybe", expected true or false'),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 25 and v.isupper() else None,
)
def test_a_malformed_setting_is_named_with_its_value_and_what_is_expected(
    kit_home, monkeypatch, name, value, message
):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert message in str(caught.value)
    assert any(p.startswith(f'{name} is "{value}"') for p in caught.value.problems)


def test_save_round_trip_keeps_comments_unrelated_lines_and_references(kit_home):
    path = write_env(kit_home)
    settings = load_settings().replace(agent_client_id="savedClient", agent_scopes=("todo.read",))
    changed = save_settings(settings)
    assert sorted(changed) == ["AGENT_CLIENT_ID", "AGENT_SCOPES"]
    text = path.read_text()
    assert "# The kit's settings (a comment the save must keep)" in text
    assert "# --- the agent" in text and "UNRELATED_LINE=keep me" in text
    assert "API_URL=${OKTA_ORG_URL}/todo-api/todos" in text
    assert "AGENT_CLIENT_ID=savedClient" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_settings() == settings


def test_saving_a_new_org_url_keeps_the_api_url_reference_when_it_still_matches(kit_home):
    path = write_env(kit_home)
    settings = load_settings()
    moved = settings.replace(org_url="http://127.0.0.1:9000", api_url="http://127.0.0.1:9000/todo-api/todos")
    assert save_settings(moved) == ["OKTA_ORG_URL"]
    assert "API_URL=${OKTA_ORG_URL}/todo-api/todos" in path.read_text()


def test_save_of_a_changes_dict_writes_only_those_variables(kit_home):
    path = write_env(kit_home)
    save_settings({"AUDIENCE": "http://127.0.0.1:8400/oauth2/reports", "KIT_HEADLESS": "true"})
    text = path.read_text()
    assert "AUDIENCE=http://127.0.0.1:8400/oauth2/reports" in text and "KIT_HEADLESS=true" in text
    assert load_settings().audience == "http://127.0.0.1:8400/oauth2/reports"
    with pytest.raises(ConfigError, match="NOT_A_SETTING"):
        save_settings({"NOT_A_SETTING": "x"})


def test_describe_hides_the_password_and_lists_every_variable_in_order(kit_home):
    text = str(describe(load_settings()))
    lines = text.splitlines()
    assert lines[0].startswith("OKTA_ORG_URL") and lines[-1].startswith("SANDBOX_PASSWORD")
    assert "Wonderland-2026!" not in text and "[hidden]" in text
    assert "(empty: http://127.0.0.1:8400/oauth2/default)" in text


def test_kit_home_is_found_by_walking_up_to_pyproject_and_notebooks(tmp_path, monkeypatch):
    monkeypatch.delenv("KIT_HOME", raising=False)
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "notebooks").mkdir()
    deep = tmp_path / "notebooks" / "sub"
    deep.mkdir()
    monkeypatch.chdir(deep)
    assert kit_home() == tmp_path.resolve()
