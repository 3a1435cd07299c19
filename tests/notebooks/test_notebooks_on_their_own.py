"""Each notebook runs on its own: a missing earlier result is re-made headless, or named interactively.

nbval checks the notebooks run in order against their stored outputs; these tests run single
notebooks in a fresh kit with an empty session file, as a reader opening one notebook would.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tools.kitenv import throwaway_kit

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run(name: str, **environ: str) -> nbformat.NotebookNode:
    """Execute one notebook in a fresh kit (errors kept in the outputs, not raised)."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    with throwaway_kit():
        os.environ.update(environ)
        NotebookClient(
            notebook,
            timeout=120,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(NOTEBOOKS)}},
        ).execute()
    return notebook


def outputs_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "error":
            parts.append(f"{output['ename']}: {output['evalue']}")
        elif output["output_type"] == "stream":
            parts.append(output["text"])
        else:
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def errors(notebook: nbformat.NotebookNode) -> list[str]:
    return [
        f"{o['ename']}: {o['evalue']}"
        for cell in notebook.cells
        for o in cell.get("outputs", [])
        if o["output_type"] == "error"
    ]


def cell_with(notebook: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    return next(c for c in notebook.cells if c.cell_type == "code" and source in c.source)


@pytest.mark.parametrize(
    ("name", "needs", "producer"),
    [
        ("02_token_exchange_id_jag.ipynb", 'kit.require("id_token")', "01_user_sign_in.ipynb"),
        ("03_jwt_bearer_access_token.ipynb", 'kit.require("id_jag")', "02_token_exchange_id_jag.ipynb"),
        ("04_call_the_api.ipynb", 'kit.require("access_token")', "03_jwt_bearer_access_token.ipynb"),
    ],
)
def test_a_notebook_alone_reruns_the_missing_phase_when_headless(name, needs, producer):
    notebook = run(name)
    assert errors(notebook) == []
    assert f"{producer} was re-run just now" in outputs_text(cell_with(notebook, needs))


def test_the_api_notebook_alone_still_gets_an_api_answer():
    notebook = run("04_call_the_api.ipynb")
    answer = outputs_text(cell_with(notebook, "result = api.call_api"))
    assert answer.startswith("HTTP 200")


def test_a_notebook_alone_names_the_notebook_to_run_when_interactive():
    notebook = run("02_token_exchange_id_jag.ipynb", KIT_HEADLESS="false")
    assert errors(notebook)[0].startswith("SessionError: Run 01_user_sign_in.ipynb first")


def test_stored_notebooks_were_run_in_order_with_no_error_and_no_skipped_cell():
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        notebook = json.loads(path.read_text())
        code = [c for c in notebook["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
        counts = [c["execution_count"] for c in code]
        assert counts == list(range(1, len(code) + 1)), f"{path.name}: cells not run once each, in order"
        for cell in code:
            tags = cell.get("metadata", {}).get("tags", [])
            for output in cell["outputs"]:
                assert output["output_type"] != "error" or "raises-exception" in tags, path.name
