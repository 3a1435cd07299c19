"""Notebook 06 on its own, and the origin app's secret in none of its outputs, logs, events or exports.

nbval checks 06 in order after 05 against its stored outputs; here it runs alone in a fresh kit (empty
session file), once as committed (redaction on) and once with redaction off: the origin app's client
secret must not show even then. The export's scan must know that secret, and find it if a cell
printed it.
"""

from __future__ import annotations

import base64
import copy
import gc
import json
import logging
import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
import requests
from nbclient import NotebookClient
from origin_support import ORIGIN, ORIGIN_SECRET

from tools.export import _sandbox_client_secrets, _secrets_from_environment, render_and_scan
from tools.export_scan import CLIENT_SECRET, KnownSecrets, SecretFound, find_secrets
from tools.kitenv import throwaway_kit

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "06_origin_app_delegation.ipynb"
BASIC = base64.b64encode(f"{ORIGIN}:{ORIGIN_SECRET}".encode()).decode()


class Run:
    """One execution of notebook 06 in a throwaway kit: the notebook, the kit's files, the events."""

    def __init__(
        self, notebook: nbformat.NotebookNode, files: dict[str, str], events: str, known: KnownSecrets
    ):
        self.notebook = notebook
        self.files = files
        self.events = events
        self.known = known

    def errors(self) -> list[str]:
        return [
            f"{o['ename']}: {o['evalue']}"
            for cell in self.notebook.cells
            for o in cell.get("outputs", [])
            if o["output_type"] == "error"
        ]

    def output_of(self, source: str) -> str:
        cell = next(c for c in self.notebook.cells if c.cell_type == "code" and source in c.source)
        return "\n".join(json.dumps(o) for o in cell.get("outputs", []))

    def every_output(self) -> str:
        return "\n".join(
            json.dumps(c.get("outputs", [])) for c in self.notebook.cells if c.cell_type == "code"
        )


def execute(kit: Any, **environ: str) -> Run:
    """Run 06 in the kit; keep what it leaves: state files, the sandbox's System Log, the known secrets."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    os.environ.update(environ)
    NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    gc.collect()  # let the finished kernel's client release its pipes now, not under the next run
    files = {
        str(path.relative_to(kit.home)): path.read_text(errors="replace")
        for path in sorted(kit.home.rglob("*"))
        if path.is_file() and path.name not in (".env", ".env.example") and "keys" not in path.parts
    }
    events = requests.get(
        kit.url + "/api/v1/logs",
        params={"limit": 1000},
        headers={"Authorization": "SSWS " + kit.api_token},
        timeout=10,
    ).text
    known = KnownSecrets()
    _sandbox_client_secrets(kit.config, known)
    _secrets_from_environment(kit.environ, known)
    return Run(notebook, files, events, known)


class Keep(logging.Handler):
    """Keeps the sandbox's own log lines (it runs in this process)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def runs() -> dict[str, Any]:
    """06 run twice in one fresh kit: first as committed (redaction on), then with redaction off."""
    logger = logging.getLogger("sandbox")
    handler, previous = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with throwaway_kit() as kit:
            redacted = execute(kit)
            unredacted = execute(kit, KIT_REDACT="false")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    return {"redacted": redacted, "unredacted": unredacted, "sandbox log": handler.lines}


@pytest.fixture(scope="module")
def redacted(runs: dict[str, Any]) -> Run:
    return runs["redacted"]


def test_the_notebook_runs_alone_with_no_error_and_reaches_the_api(redacted: Run) -> None:
    assert redacted.errors() == []
    assert '"text/plain": "HTTP 200 OK' in redacted.output_of("result = api.call_api")


def test_the_notebook_shows_the_refusal_without_a_link_with_the_servers_reason(redacted: Run) -> None:
    shown = redacted.output_of("origin.without_delegation_link()")
    assert "reason: invalid_subject_token_client_not_registered" in shown
    assert "Check: 4 of 4 as documented" in shown


def test_the_notebook_hands_over_only_the_access_token(redacted: Run) -> None:
    shown = redacted.output_of("handoff = origin.hand_off")
    assert "subject_token_type  urn:ietf:params:oauth:token-type:access_token" in shown
    assert "client secret" in shown and ORIGIN_SECRET not in shown


def test_the_origin_secret_shows_nowhere_even_with_redaction_off(runs: dict[str, Any]) -> None:
    run = runs["unredacted"]
    assert run.errors() == []
    # Redaction is really off: whole tokens show in the outputs.
    assert any(find_secrets(run.every_output())) and "eyJ" in run.every_output()
    places = {
        "cell outputs and sources": run.every_output() + json.dumps([c.source for c in run.notebook.cells]),
        "the sandbox's System Log": run.events,
        "the sandbox's log lines": "\n".join(runs["sandbox log"]),
        **{f"kit file {name}": text for name, text in run.files.items()},
    }
    assert any(name.endswith(".jsonl") for name in places)  # the request logs were read
    assert len(runs["sandbox log"]) > 20  # the sandbox's log lines were captured
    leaks = [name for name, text in places.items() if ORIGIN_SECRET in text or BASIC in text]
    assert leaks == []


def test_the_export_scan_knows_the_origin_secret_and_passes_the_redacted_notebook(redacted: Run) -> None:
    assert ORIGIN_SECRET in redacted.known.client_secrets
    kinds = [kind for kind, _, _ in find_secrets(f"a line that prints {ORIGIN_SECRET}", redacted.known)]
    assert kinds == [CLIENT_SECRET]
    render_and_scan([("06_origin_app_delegation", copy.deepcopy(redacted.notebook))], known=redacted.known)


def test_the_export_refuses_a_run_of_06_that_printed_the_origin_secret(redacted: Run) -> None:
    notebook = copy.deepcopy(redacted.notebook)
    cell = next(c for c in notebook.cells if c.cell_type == "code" and "origin.configuration()" in c.source)
    cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=f"secret: {ORIGIN_SECRET}\n"))
    with pytest.raises(SecretFound) as caught:
        render_and_scan([("06_origin_app_delegation", notebook)], known=redacted.known)
    assert any(f.kind == CLIENT_SECRET for f in caught.value.findings)
    assert ORIGIN_SECRET not in str(caught.value)
