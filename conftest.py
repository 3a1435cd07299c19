"""Session set-up shared by every test, and the harness that runs the notebooks under nbval.

nbval never runs fixtures for notebook cells (nbval 0.11, measured), and its kernels inherit
`os.environ` when they start. So the first notebook cell to run starts a throwaway sandbox on an
ephemeral port and points the kit at it through environment variables (a temporary `.env`, key pair,
state folder, headless mode; never the person's own files or sandbox). Those variables are set only
while notebook cells run, so the Python tests around them see the environment they started with.
"""

from __future__ import annotations

import os

import pytest

from tools.kitenv import start_throwaway_kit, stop_throwaway_kit

_notebook_kit = None
_outer_environ: dict[str, str] | None = None


def _is_notebook_cell(item: pytest.Item) -> bool:
    return item.nodeid.split("::")[0].endswith(".ipynb")


def _use_notebook_environment() -> None:
    global _notebook_kit, _outer_environ
    if _notebook_kit is None:
        _notebook_kit = start_throwaway_kit()
    if _outer_environ is None:
        _outer_environ = dict(os.environ)
        os.environ.update(_notebook_kit.environ)


def _restore_environment() -> None:
    global _outer_environ
    if _outer_environ is not None:
        os.environ.clear()
        os.environ.update(_outer_environ)
        _outer_environ = None


#: Output types nbval does not compare, beyond its own list (widget views, PNG, JPEG): SVG pictures drawn
#: from live timings and times differ on every run; each picture carries a text/plain rendering of the
#: same facts beside it, and that text is compared.
EXTRA_SKIP_COMPARE = ("image/svg+xml",)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    for notebook in {item.parent for item in items if _is_notebook_cell(item)}:
        skip = getattr(notebook, "skip_compare", None)
        if skip is not None:
            notebook.skip_compare = tuple(skip) + tuple(t for t in EXTRA_SKIP_COMPARE if t not in skip)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Runs before nbval's own set-up, which starts the notebook's kernel with os.environ as it is.
    if _is_notebook_cell(item):
        _use_notebook_environment()
    else:
        _restore_environment()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _notebook_kit
    _restore_environment()
    if _notebook_kit is not None:
        stop_throwaway_kit(_notebook_kit)
        _notebook_kit = None
