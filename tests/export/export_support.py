"""Shared by the export's tests: small notebooks to export, and readers for what an export wrote."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent.parent
#: The notebooks the session's export runs (conftest.exported).
EXPORTED = ("00_configure", "01_user_sign_in")


def write_notebook(folder: Path, name: str, cells: list[nbformat.NotebookNode]) -> Path:
    """Write a small notebook `name.ipynb` into `folder` (python3 kernel) and return its path."""
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


class Elements(HTMLParser):
    """Collect every start tag with its attributes, and the text of each script and style element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[tuple[dict[str, str], str]] = []
        self.styles: list[str] = []
        self._open: tuple[str, dict[str, str]] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.tags.append((tag, attributes))
        if tag in ("script", "style"):
            self._open, self._text = (tag, attributes), []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open is not None and tag == self._open[0]:
            if tag == "script":
                self.scripts.append((self._open[1], "".join(self._text)))
            else:
                self.styles.append("".join(self._text))
            self._open = None


def parse_html_text(text: str) -> Elements:
    """Parse HTML text into its elements."""
    parser = Elements()
    parser.feed(text)
    parser.close()
    return parser


def parse_html(path: Path) -> Elements:
    """Parse an HTML file into its elements."""
    return parse_html_text(path.read_text(encoding="utf-8"))
