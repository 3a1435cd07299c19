"""Stable text forms for values the notebooks print: times, durations, shortened tokens.

Every form here is one a small set of regular expressions can mask when nbval compares stored
outputs: `2026-11-29T00:26:56Z`, `in 4 min 58 s` / `3 min 2 s ago`, `12 ms`, and shortened
tokens `<first 12 chars>…<last 6 chars>`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape
from typing import Any

#: The one character between the two ends of a shortened token (U+2026).
ELLIPSIS = "\u2026"
#: Values at most this long are shown whole even when redaction is on (codes, ids).
SHORT_ENOUGH = 20
HIDDEN = "[hidden]"


def now() -> int:
    """Return the current time as integer epoch seconds."""
    return int(time.time())


def iso_time(epoch: float | int | None) -> str:
    """Format epoch seconds as ISO 8601 UTC with a `Z`: `2026-11-29T00:26:56Z`."""
    if epoch is None:
        return "(none)"
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def span(seconds: float | int) -> str:
    """Format a span of seconds as `1 h 2 min 3 s`, `4 min 58 s` or `7 s`."""
    seconds = int(abs(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours} h")
    if hours or minutes:
        parts.append(f"{minutes} min")
    parts.append(f"{secs} s")
    return " ".join(parts)


def relative_time(epoch: float | int, *, reference: float | int | None = None) -> str:
    """Format epoch seconds relative to now: `in 4 min 58 s` or `3 min 2 s ago` (`0 s ago` for now)."""
    delta = int(epoch) - int(reference if reference is not None else now())
    return f"in {span(delta)}" if delta > 0 else f"{span(delta)} ago"


def describe_time(epoch: Any, *, reference: float | int | None = None) -> str:
    """Format an epoch claim as `1764376016 (2026-11-29T00:26:56Z, in 4 min 58 s)`."""
    if not isinstance(epoch, (int, float)) or isinstance(epoch, bool):
        return str(epoch)
    return f"{int(epoch)} ({iso_time(epoch)}, {relative_time(epoch, reference=reference)})"


def duration_ms(seconds: float) -> str:
    """Format a duration in seconds as whole milliseconds: `12 ms`."""
    return f"{round(seconds * 1000)} ms"


def shorten(value: str | None, *, redact: bool = True) -> str:
    """Shorten a token to `<first 12>…<last 6>` when redaction is on and it is long."""
    if value is None:
        return "(none)"
    value = str(value)
    if not redact or len(value) <= SHORT_ENOUGH:
        return value
    return f"{value[:12]}{ELLIPSIS}{value[-6:]}"


def stable_json(value: Any, *, indent: int | None = 2) -> str:
    """Dump JSON with sorted keys (dict order never varies between runs)."""
    return json.dumps(value, indent=indent, sort_keys=True, ensure_ascii=False, default=str)


def plain_value(value: Any) -> str:
    """Render a claim value for a table: strings bare, lists space-joined, other values as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(value) + "]"
    return stable_json(value, indent=None)


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    """Render rows as a plain-text table with aligned columns (for text/plain outputs)."""
    cells = [headers, *[[str(c) for c in row] for row in rows]]
    widths = [
        max(len(line) for row in cells for line in row[i].splitlines() or [""]) for i in range(len(headers))
    ]
    widths[-1] = 0  # the last column is never padded
    out = []
    for n, row in enumerate(cells):
        out.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())
        if n == 0:
            out.append("  ".join("-" * max(widths[i], len(headers[i])) for i in range(len(headers))).rstrip())
    return "\n".join(out)


#: Cells read left to right and top down (JupyterLab and nbconvert align table cells right by default).
_CELL_STYLE = "text-align:left;vertical-align:top"
#: A value cell: long tokens, URLs and JSON wrap inside the output instead of running off its edge.
_VALUE_STYLE = _CELL_STYLE + ";overflow-wrap:anywhere;word-break:break-word"
#: Preformatted text in the code font wherever the HTML is shown (JupyterLab, exports, static viewers).
_PRE_STYLE = "font-family:var(--jp-code-font-family,monospace);white-space:pre-wrap;text-align:left"


def html_table(
    headers: list[str] | None, rows: list[list[Any]], *, code_columns: tuple[int, ...] = ()
) -> str:
    """Render rows as an HTML table, escaping every cell; `headers=None` for a table without a head."""

    def cell(i: int, value: Any) -> str:
        text = escape(str(value))
        inner = f"<code>{text}</code>" if i in code_columns else text
        style = _VALUE_STYLE if i in code_columns else _CELL_STYLE
        return f"<td style='{style}'>{inner}</td>"

    head = ""
    if headers is not None:
        head = "<thead><tr>" + "".join(f"<th style='{_CELL_STYLE}'>{escape(h)}</th>" for h in headers)
        head += "</tr></thead>"
    body = "".join("<tr>" + "".join(cell(i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table>{head}<tbody>{body}</tbody></table>"


def html_pre(text: str) -> str:
    """Render text as an HTML `<pre>` block in the code font, escaped."""
    from html import escape

    return f"<pre style='{_PRE_STYLE}'>{escape(text)}</pre>"


class KeyValues:
    """A titled two-column table of named values (text and HTML)."""

    def __init__(self, title: str, rows: Iterable[tuple[str, Any]]) -> None:
        self.title = title
        self.rows = [(str(k), plain_value(v) if v is not None else "(none)") for k, v in rows]

    def __repr__(self) -> str:
        width = max((len(k) for k, _ in self.rows), default=0)
        lines = [self.title] + [f"  {k.ljust(width)}  {v}" for k, v in self.rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return f"<p><b>{escape(self.title)}</b></p>" + html_table(
            ["Name", "Value"], [list(r) for r in self.rows], code_columns=(1,)
        )
