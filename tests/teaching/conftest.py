"""Fixtures for the teaching tests: one throwaway kit (sandbox, key pair, `.env`) and a Kit pointed at it.

The kit is the one `make notebooks` and nbval use (tools.kitenv): a real sandbox on an ephemeral port
with its own data folder and API token, never the person's files.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from helpers.core.config import API_TOKEN_VAR, ENV_VARS
from helpers.kit import Kit
from tools.kitenv import start_throwaway_kit, stop_throwaway_kit


@pytest.fixture(scope="session")
def lab() -> Iterator[Any]:
    """A sandbox with a kit home (`.home`) and the variables that point the kit at it (`.environ`)."""
    sandbox = start_throwaway_kit()
    try:
        yield sandbox
    finally:
        stop_throwaway_kit(sandbox)


@pytest.fixture
def kit_env(lab: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point the kit's variables at the throwaway kit for one test (restored afterwards)."""
    for name in (*ENV_VARS, API_TOKEN_VAR):
        monkeypatch.delenv(name, raising=False)
    for name, value in lab.environ.items():
        monkeypatch.setenv(name, value)
    return lab


@pytest.fixture
def kit(kit_env: Any) -> Kit:
    """A Kit for the throwaway kit (headless; OKTA_API_TOKEN set to the sandbox's token)."""
    return Kit.open("teaching")
