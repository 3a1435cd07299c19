"""The notebooks run headless, next to the floor of starting as many kernels that each run one trivial cell.

Copies of `notebooks/*.ipynb` run in a temporary folder against a throwaway kit (`tools.kitenv`:
its own sandbox, key pair, `.env` and session file), as `tools/run_notebooks.py` runs them; the
committed notebooks are never written. The floor starts one kernel per notebook and runs `1 + 1`.

    python -m bench notebooks
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from bench.common import ROOT, machine, table
from tools.kitenv import throwaway_kit
from tools.nbrun import notebook_paths, run_notebook

NOTEBOOKS = ROOT / "notebooks"


def execute(path: Path, *, timeout: int = 300) -> float:
    """Run one notebook as `make notebooks` does (outputs kept in memory only); return the seconds taken."""
    started = time.perf_counter()
    run_notebook(path, timeout=timeout)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    print("## The notebooks, headless\n")
    print(machine())
    folder = Path(tempfile.mkdtemp(prefix="bench-notebooks-"))
    try:
        copies = folder / "notebooks"
        shutil.copytree(NOTEBOOKS, copies)
        paths = notebook_paths(source=copies)
        trivial = folder / "trivial.ipynb"
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("1 + 1")]
        nbformat.write(nb, trivial)
        rows = []
        with throwaway_kit():
            took = {path.name: execute(path) for path in paths}
            floors = [execute(trivial) for _ in paths]
        for name, seconds in took.items():
            rows.append([name, f"{seconds:.1f}"])
        total, floor = sum(took.values()), sum(floors)
        rows.append(["**all notebooks**", f"**{total:.1f}**"])
        rows.append([f"floor: {len(paths)} kernels each running `1 + 1`", f"{floor:.1f}"])
        rows.append(["ratio", f"{total / floor:.1f}x"])
        print(f"\nCopies of {len(paths)} notebooks, run in order in one throwaway kit, one kernel each:\n")
        print(table(["Notebook", "seconds"], rows))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
