"""Re-run the notebooks headless against a throwaway sandbox and store their outputs (`make notebooks`).

For authors: after changing a notebook or a helper it uses, this refreshes the outputs that readers see
and that nbval compares. It never uses the person's `.env`, keys or running sandbox (tools.kitenv).
Widget state is saved in the notebooks, so static renderings can show the forms.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.kitenv import throwaway_kit  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"


def notebook_paths(names: list[str]) -> list[Path]:
    """Return the notebooks to run, in order: all of `notebooks/`, or those named (by prefix or file)."""
    everything = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return everything
    chosen = []
    for name in names:
        matches = [p for p in everything if p.name == name or p.stem == name or p.name.startswith(name)]
        if not matches:
            raise SystemExit(f'no notebook matches "{name}"; expected one of {[p.name for p in everything]}')
        chosen += [p for p in matches if p not in chosen]
    return sorted(chosen)


def run_notebook(path: Path, *, timeout: int = 180) -> nbformat.NotebookNode:
    """Execute one notebook in its own folder and return it with fresh outputs."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
    )
    client.execute()
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="names or prefixes (default: every notebook)")
    args = parser.parse_args(argv)
    paths = notebook_paths(args.notebooks)
    started = time.monotonic()
    # The sandbox's usual port when free, so stored outputs show the URL a reader's own run shows.
    with throwaway_kit(port=8400) as kit:
        print(f"sandbox for this run: {kit.url}")
        for path in paths:
            began = time.monotonic()
            print(f"running {path.name} …", end=" ", flush=True)
            try:
                notebook = run_notebook(path)
            except CellExecutionError as exc:
                print("failed")
                print(str(exc)[-3000:], file=sys.stderr)
                return 1
            nbformat.write(notebook, path)
            print(f"{time.monotonic() - began:.1f} s")
    print(f"{len(paths)} notebook(s) run and saved in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
