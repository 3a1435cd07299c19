"""Session set-up shared by every test, and the harness that runs the notebooks under nbval.

nbval never runs fixtures for notebook cells (SPEC.md "Python library traps"), and its kernels inherit
`os.environ`. So when notebooks are collected, this file starts a throwaway sandbox on an ephemeral
port in `pytest_collection_finish` and points the kit at it through environment variables: a temporary
`.env`, key pair, state folder and headless mode, never the person's own files or sandbox.
"""

from __future__ import annotations

import os

import pytest

from tools.kitenv import start_throwaway_kit, stop_throwaway_kit

_notebook_kit = None
_saved_environ: dict[str, str] | None = None


def pytest_collection_finish(session: pytest.Session) -> None:
    global _notebook_kit, _saved_environ
    if any(item.nodeid.split("::")[0].endswith(".ipynb") for item in session.items):
        _saved_environ = dict(os.environ)
        _notebook_kit = start_throwaway_kit()
        os.environ.update(_notebook_kit.environ)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _notebook_kit, _saved_environ
    if _notebook_kit is not None:
        stop_throwaway_kit(_notebook_kit)
        _notebook_kit = None
    if _saved_environ is not None:
        os.environ.clear()
        os.environ.update(_saved_environ)
        _saved_environ = None
