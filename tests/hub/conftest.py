"""Fixtures of the hub test: one training room (a real JupyterHub, two people) per module.

Teardown runs also on failure: the hub (with its proxy and culler), every process of the two Unix
users, the users themselves, their homes and the room's folder. A failing test gets the tail of the
hub's log in its report. `kit_home` (a kit folder of its own) comes from tests/conftest.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from hub_support import RoomUnavailable, TrainingRoom, check_machine, new_room


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
