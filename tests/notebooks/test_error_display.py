"""In a notebook, the kit's errors show as their message and the cell line, not a long traceback."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient


def run_cells(*sources: str, **environ: str) -> list[dict]:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    env_setup = "import os\n" + "".join(f"os.environ[{k!r}] = {v!r}\n" for k, v in environ.items())
    notebook.cells.insert(0, nbformat.v4.new_code_cell(env_setup))
    NotebookClient(notebook, timeout=60, kernel_name="python3", allow_errors=True).execute()
    return [o for cell in notebook.cells for o in cell.outputs if o.output_type == "error"]


RAISE_CONFIG_ERROR = (
    "from helpers import notebook_errors\n"
    "from helpers.core.errors import ConfigError\n"
    "notebook_errors.install()  # Kit.open and ConfigForm do this; importing helpers does not\n"
    "raise ConfigError('OKTA_ORG_URL is \"x\", expected a URL')"
)


def test_a_kit_error_shows_its_message_and_the_cell_line_only():
    (error,) = run_cells(RAISE_CONFIG_ERROR)
    assert error.ename == "ConfigError"
    assert error.traceback == [
        'ConfigError: OKTA_ORG_URL is "x", expected a URL',
        "(in this cell, line 4: raise ConfigError('OKTA_ORG_URL is \"x\", expected a URL'))",
        "(the kit's own error; set KIT_FULL_TRACEBACK=1 for the full traceback)",
    ]


def test_the_full_traceback_comes_back_on_request_and_other_errors_keep_it():
    (kit_error, other) = run_cells(RAISE_CONFIG_ERROR, "1 / 0", KIT_FULL_TRACEBACK="1")
    assert len(kit_error.traceback) > 3 and "ConfigError" in kit_error.traceback[-1]
    assert other.ename == "ZeroDivisionError" and len(other.traceback) > 1
