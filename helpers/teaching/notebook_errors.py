"""Show the kit's own errors in a notebook as a short message that says what to fix, not a traceback.

The helpers raise `KitError`s whose messages name the setting, value or notebook concerned (see
`helpers.core.errors`). In IPython, a long traceback through the helpers buries that message; this module
registers a handler (IPython's `set_custom_exc`) that shows the message, the line of the cell that
raised it, and how to see the full traceback. Other exceptions keep IPython's usual display.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

from ..core.errors import KitError

#: Set to 1 (or true) to get IPython's full traceback for the kit's errors too.
FULL_TRACEBACK_VAR = "KIT_FULL_TRACEBACK"


def _cell_line(tb: Any) -> str | None:
    """Return "line N: <code>" of the innermost frame that belongs to a notebook cell."""
    found = None
    for frame in traceback.extract_tb(tb):
        if frame.filename.startswith("<ipython-input") or "ipykernel_" in frame.filename:
            found = f"line {frame.lineno}: {(frame.line or '').strip()}"
    return found


def short_report(error: KitError, tb: Any = None) -> list[str]:
    """Return the lines shown for a kit error: the error, where in the cell, and the way to more."""
    lines = [f"{type(error).__name__}: {error}"]
    # PEP 678 notes: what to change and where (added by the helper that knew the setting).
    lines += [str(note) for note in getattr(error, "__notes__", [])]
    where = _cell_line(tb) if tb is not None else None
    if where:
        lines.append(f"(in this cell, {where})")
    lines.append(f"(the kit's own error; set {FULL_TRACEBACK_VAR}=1 for the full traceback)")
    return lines


def _handler(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None) -> Any:
    if os.environ.get(FULL_TRACEBACK_VAR, "").lower() in ("1", "true", "yes"):
        return shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    stb = short_report(value, tb)  # type: ignore[arg-type]
    shell._showtraceback(etype, value, stb)  # noqa: SLF001 (IPython's documented hook for custom display)
    return stb


def install() -> bool:
    """Register the short display for KitError in the running IPython shell; False outside IPython."""
    ipython = sys.modules.get("IPython")  # only a running IPython has imported it; never import it here
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return False
    shell.set_custom_exc((KitError,), _handler)
    return True
