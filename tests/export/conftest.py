"""Fixtures for the export's tests: the pinned assets, and one real export of notebooks 00 and 01.

The export runs once per session (about 6 s: two notebooks against a throwaway sandbox, then
rendering); the tests read what it wrote. Tests that plant secrets or failing cells build their own
small notebooks instead of touching `notebooks/`.
"""

from __future__ import annotations

import shutil

import pytest

from tools.export import Result, export
from tools.export_vendor import ensure_assets, stale_assets


@pytest.fixture(scope="session")
def assets() -> dict[str, str]:
    """The pinned front-end files, fetched with npm the first time (as `make export` does)."""
    if stale_assets() and shutil.which("npm") is None:
        pytest.skip("npm is needed once to fetch the export's scripts: apt-get install nodejs npm")
    return ensure_assets(log=lambda line: None)


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory, assets: dict[str, str]) -> Result:
    """One export of notebooks 00 and 01 into a temporary folder; `.log` holds its progress lines."""
    out = tmp_path_factory.mktemp("export") / "site"
    lines: list[str] = []
    result = export(["00", "01"], out=out, log=lines.append)
    result.log = lines  # type: ignore[attr-defined]
    return result
