"""The session file: mode 0600, expiry and single use, and errors naming the notebook to run."""

from __future__ import annotations

import stat
import time

import pytest

from helpers.core.errors import SessionError
from helpers.core.session import SessionFile


@pytest.fixture
def session(tmp_path):
    return SessionFile(tmp_path / ".kit" / "session.json")


def test_the_session_file_is_written_with_mode_0600(session):
    session.save("id_token", "eyJ.header.sig", expires_at=int(time.time()) + 600, nonce="n-1")
    assert stat.S_IMODE(session.path.stat().st_mode) == 0o600
    item = session.get("id_token")
    assert (item.value, item.extra, item.made_by) == (
        "eyJ.header.sig",
        {"nonce": "n-1"},
        "01_user_sign_in.ipynb",
    )


def test_a_missing_result_names_the_notebook_that_makes_it(session):
    with pytest.raises(SessionError, match=r"^Run 01_user_sign_in.ipynb first: there is no ID token"):
        session.get("id_token")


def test_an_expired_result_says_how_long_ago_it_expired(session):
    now = int(time.time())
    session.save("id_token", "t", expires_at=now - 182)
    with pytest.raises(SessionError) as caught:
        session.get("id_token", now=now)
    assert str(caught.value) == "Run 01_user_sign_in.ipynb again: the ID token expired 3 min 2 s ago"


def test_a_result_about_to_expire_counts_as_expired(session):
    now = int(time.time())
    session.save("id_jag", "t", expires_at=now + 2)
    with pytest.raises(SessionError, match="02_token_exchange_id_jag.ipynb again: the ID-JAG expires in 2 s"):
        session.get("id_jag", now=now)


def test_a_used_id_jag_is_refused_as_single_use(session):
    session.save("id_jag", "t", expires_at=int(time.time()) + 300)
    session.mark_used("id_jag")
    with pytest.raises(SessionError, match="already used .* and is single use"):
        session.get("id_jag")
    assert session.get("id_jag", allow_used=True).value == "t"


def test_forget_removes_results(session):
    session.save("id_token", "a", expires_at=None)
    session.save("access_token", "b", expires_at=None)
    session.forget("id_token")
    assert session.names() == ["access_token"]
    session.forget()
    assert session.names() == []
