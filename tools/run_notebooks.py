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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.kitenv import throwaway_kit  # noqa: E402
from tools.nbrun import CellFailed, NotebookRunError, notebook_paths, run_notebook  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="names or prefixes (default: every notebook)")
    args = parser.parse_args(argv)
    try:
        paths = notebook_paths(args.notebooks)
    except NotebookRunError as exc:
        print(exc, file=sys.stderr)
        return 2
    started = time.monotonic()
    # The sandbox's usual port when free, so stored outputs show the URL a reader's own run shows.
    with throwaway_kit(port=8400) as kit:
        print(f"sandbox for this run: {kit.url}")
        for path in paths:
            began = time.monotonic()
            print(f"running {path.name} …", end=" ", flush=True)
            try:
                notebook = run_notebook(path)
            except CellFailed as exc:
                print("failed")
                print(exc, file=sys.stderr)
                return 1
            nbformat.write(notebook, path)
            print(f"{time.monotonic() - began:.1f} s")
    print(f"{len(paths)} notebook(s) run and saved in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
