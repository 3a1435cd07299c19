"""The case cells of the troubleshooting notebooks (05, and 07's MCP cases), read from the stored notebook."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def case_cells(notebook: Path) -> dict[str, str]:
    """The notebook's case cells by key, in order: each ends with `bench.report("<key>", attempt)`."""
    cells: dict[str, str] = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        source = "".join(cell["source"]).strip()
        last = source.splitlines()[-1] if source else ""
        m = re.fullmatch(r'bench\.report\("([a-z_]+)", attempt\)', last)
        if cell["cell_type"] == "code" and m:
            assert m.group(1) not in cells, f"{m.group(1)} is reported twice"
            cells[m.group(1)] = source
    return cells


def stored_texts(notebook: Path) -> list[str]:
    """The notebook's stored plain-text outputs, in order (what a reader sees without running it)."""
    return [
        "".join(o.get("data", {}).get("text/plain", ""))
        for c in json.loads(notebook.read_text())["cells"]
        for o in c.get("outputs", [])
    ]
