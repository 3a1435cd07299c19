"""Fixtures of the browser tests: one sandbox, kit home and JupyterLab per module; a fresh page per test.

Teardown runs also on failure, in this order: the test's browser context, then every kernel (through
the server's API); at the end of the module the JupyterLab server, then the sandbox, then Chromium.
A failing test gets a last screenshot of each of its tabs and the server log's tail in its report.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_driver import (
    BrowserKit,
    JupyterLab,
    NotebookPage,
    chromium_browser,
    save_screenshot,
    start_browser_kit,
)

VIEWPORT = {"width": 1400, "height": 1000}


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    """Debian's Chromium, headless, driven by Playwright (which downloads nothing)."""
    with chromium_browser() as browser:
        yield browser


@pytest.fixture(scope="module")
def browser_kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserKit]:
    """A kit home (`.env`, keys, state, a copy of notebooks/) and its sandbox, for one module."""
    home = tmp_path_factory.mktemp("browser-kit") / "home"
    kit = start_browser_kit(home)
    try:
        yield kit
    finally:
        kit.sandbox.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def lab(browser_kit: BrowserKit, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """JupyterLab on the kit's copy of the notebooks; its log stays in the module's temporary folder."""
    server = JupyterLab(browser_kit.notebooks, tmp_path_factory.mktemp("jupyterlab"), browser_kit.environ())
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def kit(browser_kit: BrowserKit) -> Iterator[BrowserKit]:
    """The module's kit with no session results; its `.env` is put back as it was after the test."""
    saved = browser_kit.env_file.read_text(encoding="utf-8")
    browser_kit.forget_session()
    try:
        yield browser_kit
    finally:
        browser_kit.env_file.write_text(saved, encoding="utf-8")


@pytest.fixture
def notebook(
    chromium, lab: JupyterLab, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[NotebookPage]:
    """A fresh browser context and page on the module's JupyterLab; screenshots go to `tmp_path`."""
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    driver = NotebookPage(page, lab, tmp_path)
    request.node.browser_context = context
    request.node.screenshot_dir = tmp_path
    try:
        yield driver
    finally:
        try:
            context.close()
        finally:
            lab.shutdown_kernels()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    context = getattr(item, "browser_context", None)
    if report.when != "call" or not report.failed or context is None:
        return
    folder: Path = item.screenshot_dir
    saved = []
    for number, page in enumerate(context.pages, start=1):
        try:
            saved.append(save_screenshot(page, folder, f"failure-tab{number}").name)
        except Exception as exc:  # noqa: BLE001 (a screenshot must not hide the test's own failure)
            saved.append(f"tab {number}: no screenshot ({exc})")
    report.sections.append(("browser screenshots", f"{folder}: {', '.join(saved) or 'no open tab'}"))
    driver = item.funcargs.get("notebook")
    if driver is not None and driver.name:
        try:
            report.sections.append(("notebook cells at the failure", driver.summary()))
        except Exception as exc:  # noqa: BLE001 (a summary must not hide the test's own failure)
            report.sections.append(("notebook cells at the failure", f"unavailable: {exc}"))
    lab = getattr(driver, "lab", None)
    if lab is not None:
        report.sections.append(("JupyterLab log (tail)", lab.log_tail()))
