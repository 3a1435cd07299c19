"""Write the blank exercise version of the notebooks for a trainer (`make exercises`).

The stored notebooks carry a working answer in each "your turn" cell, so Run All and nbval pass. This
tool copies every notebook of `notebooks/` to a folder (default `exercises/`, git-ignored) where each
cell tagged `exercise` holds its blank version instead (the cell's `metadata.exercise.blank`: the
same code with `...` where the answer goes), and every output is cleared. Nothing else changes: the
checks after each exercise (tagged `exercise-check`) then tell the reader, in words, what is still to
fill in or wrong.

    .venv/bin/python tools/make_exercises.py [--out DIR] [NAME ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.nbrun import NotebookRunError, notebook_paths  # noqa: E402

DEFAULT_OUT = ROOT / "exercises"
EXERCISE_TAG = "exercise"


class ExerciseError(ValueError):
    """A notebook's exercise cell has no blank version."""


def blank_notebook(
    notebook: nbformat.NotebookNode, *, name: str = "notebook"
) -> tuple[nbformat.NotebookNode, int]:
    """Return a copy with each exercise cell's answer replaced by its blank, outputs cleared; and the count.

    Raises:
        ExerciseError: a cell tagged `exercise` has no `metadata.exercise.blank` text.
    """
    copy = nbformat.reads(nbformat.writes(notebook), as_version=4)
    count = 0
    for index, cell in enumerate(copy.cells):
        if cell.cell_type != "code":
            continue
        if EXERCISE_TAG in cell.metadata.get("tags", []):
            blank = cell.metadata.get("exercise", {}).get("blank")
            if not isinstance(blank, str) or not blank.strip():
                raise ExerciseError(
                    f"{name}, cell {index + 1}: tagged {EXERCISE_TAG!r} but metadata.exercise.blank is "
                    f"{blank!r}, expected the cell's code with ... where the answer goes"
                )
            cell.source = blank
            count += 1
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
    copy.metadata.pop("widgets", None)
    return copy, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="names or prefixes (default: every notebook)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write (default: exercises/)")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    try:
        paths = notebook_paths(args.notebooks)
    except NotebookRunError as exc:
        raise SystemExit(str(exc)) from None
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        try:
            blank, count = blank_notebook(notebook, name=path.name)
        except ExerciseError as exc:
            print(f"make_exercises: {exc}", file=sys.stderr)
            return 1
        nbformat.write(blank, out / path.name)
        total += count
        print(f"{path.name}: {count} exercise(s) blanked")
    resolved = out.resolve()
    shown = resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved
    print(
        f"{total} exercise(s) in {shown}/ (open them with JupyterLab; the stored answers stay in notebooks/)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
