"""Fixtures of the hub test: one training room (a real JupyterHub, two people) per module.

Teardown runs also on failure: the hub (with its proxy and culler), every process of the two Unix
users, the users themselves, their homes and the room's folder. A failing test gets the tail of the
hub's log in its report.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_support import RoomUnavailable, TrainingRoom, check_machine, new_room

from helpers.core.config import ENV_VARS, HIDDEN_VARS


@pytest.fixture
def kit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kit folder of its own (KIT_HOME, KIT_ENV_FILE, KIT_STATE_DIR); no kit variable inherited."""
    home = tmp_path / "home"
    home.mkdir()
    for name in (*ENV_VARS, *HIDDEN_VARS, "JUPYTERHUB_SERVICE_PREFIX", "JUPYTERHUB_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KIT_HOME", str(home))
    monkeypatch.setenv("KIT_ENV_FILE", str(home / ".env"))
    monkeypatch.setenv("KIT_STATE_DIR", str(home / ".kit"))
    return home


@pytest.fixture(scope="module")
def room() -> Iterator[TrainingRoom]:
    """A hub on 127.0.0.1 with the room's configuration and two people (Unix users made for the test)."""
    try:
        check_machine()
    except RoomUnavailable as reason:
        pytest.skip(str(reason))
    tag = secrets.token_hex(3)
    hub = new_room()
    try:
        try:
            hub.start([f"kitroom{tag}a", f"kitroom{tag}b"])
        except RoomUnavailable as reason:
            pytest.skip(str(reason))
        yield hub
    finally:
        hub.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    hub = item.funcargs.get("room") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(hub, TrainingRoom):
        report.sections.append(("JupyterHub log (tail)", hub.log_tail()))
