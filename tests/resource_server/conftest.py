"""Fixtures of the resource-server tests: one shared sandbox with a second agent.

The agent's key and JWKS (`agent_key`, `agent_jwks`) come from tests/conftest.py.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ras_support import sandbox_overrides  # noqa: E402

from sandbox.testing import RunningSandbox  # noqa: E402


@pytest.fixture(scope="session")
def sb(serve_sandbox: Callable[..., RunningSandbox], agent_jwks: Path) -> RunningSandbox:
    """The shared sandbox; at the end, no request may have reached the catch-all error handler."""
    return serve_sandbox("sandbox-data", sandbox_overrides(agent_jwks))
