"""Pick the kit's notebooks and run one headless: shared by `make notebooks`, `make export` and
`make exercises`, so they select notebooks the same way and name a failing cell the same way.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
#: Seconds a cell may run before the run stops.
DEFAULT_TIMEOUT = 180
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class NotebookRunError(Exception):
    """The notebooks could not be chosen or run; the message says which and why."""


class CellFailed(NotebookRunError):
    """A cell raised (or timed out, or its kernel died): names the notebook, the cell and the error."""

    def __init__(self, notebook: str, cell: str, error: str, detail: str = "") -> None:
        self.notebook, self.cell, self.error, self.detail = notebook, cell, error, detail
        super().__init__(f"{notebook}, {cell} failed: {error}" + (f"\n{detail}" if detail else ""))


def notebook_paths(names: list[str] | tuple[str, ...] = (), *, source: Path = NOTEBOOKS) -> list[Path]:
    """Return the notebooks `NN_name.ipynb` of `source` in order: all, or those named (name, stem, prefix).

    Raises:
        NotebookRunError: `source` holds no notebook, or a name matches none.
    """
    everything = sorted(source.glob("[0-9][0-9]_*.ipynb"))
    if not everything:
        raise NotebookRunError(f"no notebooks (NN_name.ipynb) in {source}")
    if not names:
        return everything
    chosen: list[Path] = []
    for name in names:
        matches = [p for p in everything if name in (p.name, p.stem) or p.name.startswith(name)]
        if not matches:
            raise NotebookRunError(
                f'no notebook matches "{name}"; expected one of {[p.name for p in everything]}'
            )
        chosen += [p for p in matches if p not in chosen]
    return sorted(chosen)


def cell_label(index: int, cell: Any) -> str:
    """Name a cell for messages: its position, and its execution count when it ran."""
    label = f"cell {index + 1}"
    if cell.get("cell_type") == "code" and cell.get("execution_count"):
        label += f" (In [{cell['execution_count']}])"
    return label


def run_notebook(path: Path, *, timeout: int = DEFAULT_TIMEOUT) -> nbformat.NotebookNode:
    """Execute a notebook in its own folder, widget state saved, and return it with its outputs.

    Raises:
        CellFailed: naming the notebook, the cell and the error (the traceback's end as detail).
    """
    notebook = nbformat.read(path, as_version=4)
    current: dict[str, int] = {}

    def on_cell_start(cell: Any, cell_index: int) -> None:
        current["index"] = cell_index

    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
        record_timing=False,
        on_cell_start=on_cell_start,
    )
    with tempfile.TemporaryFile("w+") as kernel_stderr:
        try:
            # The kernel's own start-up chatter goes to a file, shown only if the kernel dies.
            client.execute(stderr=kernel_stderr)
        except CellExecutionError as exc:
            index = current.get("index", 0)
            traceback = _ANSI.sub("", exc.traceback or "").strip().splitlines()
            raise CellFailed(
                path.stem,
                cell_label(index, notebook.cells[index]),
                f"{exc.ename}: {exc.evalue}",
                "\n".join(traceback[-12:]),
            ) from exc
        except (CellTimeoutError, DeadKernelError) as exc:
            index = current.get("index", 0)
            kernel_stderr.seek(0)
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise CellFailed(
                path.stem,
                cell_label(index, notebook.cells[index]),
                f"{type(exc).__name__}: {first_line}",
                kernel_stderr.read()[-2000:].strip(),
            ) from exc
    return notebook
