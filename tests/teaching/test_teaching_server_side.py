"""The helper that shows the server's side of a request, and the API token's path through the kit.

The token comes from the sandbox (`make lab`, `tools/kitenv.py`), lives in `.env` as OKTA_API_TOKEN,
is read by `helpers.core.config`, and never shows: not in a display, a JSONL log or a cURL command.
"""

from __future__ import annotations

import json
import re

import pytest
import requests

from helpers import system_log
from helpers.core.config import API_TOKEN_VAR, load_settings, save_settings
from helpers.core.errors import OAuthError
from helpers.core.transport import Exchange, KitHTTP, redact_header
from helpers.kit import Kit
from helpers.teaching.display import describe
from helpers.teaching.troubleshooting import Workbench

OKTA_HELP = "Okta: an API token of your org"


def test_the_server_side_of_a_refused_request_shows_the_event_beside_the_clients_view(kit):
    bench = Workbench(kit)
    with pytest.raises(OAuthError) as refused:
        kit.token_request(
            kit.settings.org_token_url, bench.exchange_form(audience=kit.settings.audience + "/")
        )
    side = system_log.server_side(kit, refused.value)
    assert side.skipped is None
    assert side.reasons == ["token_exchange_invalid_audience"]
    assert side.event_types == ["app.oauth2.token.grant.id_jag"]
    assert side.client.status == 400 and side.client.error == "invalid_target"
    text = side.text()
    assert "What the client saw" in text and "error: invalid_target" in text
    assert "outcome: FAILURE (reason: token_exchange_invalid_audience)" in text
    assert "<table>" in side._repr_html_()


def test_the_server_side_of_a_success_shows_the_grant(kit):
    response = kit.token_request(kit.settings.org_token_url, Workbench(kit).exchange_form())
    side = system_log.server_side(kit, response)
    assert [(e["eventType"], e["outcome"]["result"]) for e in side.events] == [
        ("app.oauth2.token.grant.id_jag", "SUCCESS")
    ]


def test_without_an_api_token_the_server_side_is_skipped_with_the_reason_not_an_error(kit, monkeypatch):
    monkeypatch.delenv(API_TOKEN_VAR)
    quiet = Kit.open("teaching")
    response = quiet.token_request(quiet.settings.org_token_url, Workbench(quiet).exchange_form())
    side = system_log.server_side(quiet, response)
    assert side.events == []
    assert side.skipped.startswith("OKTA_API_TOKEN is not set, so the System Log is not read.")
    assert OKTA_HELP in side.text() and "make lab" in side.text()


def test_a_refused_api_token_is_reported_in_words_not_raised(kit, monkeypatch):
    monkeypatch.setenv(API_TOKEN_VAR, "00" + "x" * 40)
    wrong = Kit.open("teaching")
    response = wrong.token_request(wrong.settings.org_token_url, Workbench(wrong).exchange_form())
    side = system_log.server_side(wrong, response)
    assert side.skipped.startswith(
        "the System Log could not be read: GET /api/v1/logs answered HTTP 401 E0000011"
    )


def test_an_object_without_a_recorded_request_is_reported_in_words(kit):
    side = system_log.server_side(kit, "just a string")
    assert side.skipped == "str carries no recorded request to look up."


def test_log_reads_stay_out_of_the_notebooks_request_log(kit):
    before = len(kit.http.exchanges)
    response = kit.token_request(kit.settings.org_token_url, Workbench(kit).exchange_form())
    system_log.server_side(kit, response)
    assert len(kit.http.exchanges) == before + 1


# --- The token never shows --------------------------------------------------------------------------


@pytest.mark.parametrize("redact", [True, False])
def test_an_ssws_header_is_hidden_in_displays_logs_and_curl_even_with_redaction_off(lab, tmp_path, redact):
    http = KitHTTP(phase="t", log_dir=tmp_path, redact=redact)
    http.get(
        f"{lab.url}/api/v1/logs", params={"limit": "1"}, headers={"Authorization": f"SSWS {lab.api_token}"}
    )
    exchange: Exchange = http.last
    curl = exchange.curl()
    shown = [exchange.text(), repr(http.log()), http.log()._repr_html_(), curl.text(), curl._repr_html_()]
    shown.append((tmp_path / "t.jsonl").read_text())
    for text in shown:
        assert lab.api_token not in text
    assert "Authorization: SSWS [hidden]" in exchange.text()
    assert '-H "Authorization: SSWS $OKTA_API_TOKEN"' in curl.replayable
    assert "export OKTA_API_TOKEN=''" in curl.exports
    assert redact_header("Authorization", f"SSWS {lab.api_token}", redact=False) == "SSWS [hidden]"


def test_the_settings_read_the_api_token_but_never_describe_or_repr_it(kit_env, lab):
    settings = load_settings()
    assert settings.okta_api_token == lab.api_token
    assert lab.api_token not in repr(settings)
    assert lab.api_token not in str(describe(settings))
    assert lab.api_token not in describe(settings)._repr_html_()


def test_save_settings_writes_the_api_token_and_keeps_the_comments(kit_env, tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("# my comment\nOKTA_API_TOKEN=\nAGENT_SCOPES=todo.read\n")
    monkeypatch.delenv(API_TOKEN_VAR)
    assert save_settings({API_TOKEN_VAR: "00" + "a" * 40}, env_file) == [API_TOKEN_VAR]
    assert env_file.read_text() == f"# my comment\nOKTA_API_TOKEN={'00' + 'a' * 40}\nAGENT_SCOPES=todo.read\n"
    assert load_settings(env_file).okta_api_token == "00" + "a" * 40


def test_the_throwaway_kit_sets_the_sandboxs_api_token(lab):
    assert lab.environ[API_TOKEN_VAR] == lab.api_token
    answer = requests.get(
        f"{lab.url}/api/v1/logs", headers={"Authorization": f"SSWS {lab.environ[API_TOKEN_VAR]}"}, timeout=10
    )
    assert answer.status_code == 200 and isinstance(json.loads(answer.text), list)


def test_make_lab_writes_the_sandboxs_token_into_env_once(tmp_path, monkeypatch, capsys):
    import shutil
    import stat

    from helpers.core.config import ENV_VARS
    from tools import lab as lab_tool

    for name in (*ENV_VARS, API_TOKEN_VAR):
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / ".env"
    shutil.copyfile(lab_tool.ROOT / ".env.example", env_file)
    monkeypatch.setenv("KIT_HOME", str(tmp_path))
    monkeypatch.setenv("KIT_ENV_FILE", str(env_file))
    lab_tool.write_api_token(load_settings())
    token = (tmp_path / ".sandbox" / "api-token").read_text().strip()
    text = env_file.read_text()
    assert f"\nOKTA_API_TOKEN={token}\n" in text
    assert "# --- The server's side: the System Log" in text  # the comments are kept
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    lab_tool.write_api_token(load_settings())
    out = capsys.readouterr().out
    assert token not in out
    assert out.splitlines()[-1] == f"OKTA_API_TOKEN in {env_file}: the sandbox's System Log API token"
    assert env_file.read_text() == text


def test_no_committed_notebook_shows_an_api_token():
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb")):
        text = path.read_text()
        assert not re.search(r"SSWS (?!\[hidden\])[A-Za-z0-9_-]{8,}", text), path.name
        assert not re.search(r"(?<![A-Za-z0-9_-])00[A-Za-z0-9_-]{40}(?![A-Za-z0-9_-])", text), path.name
