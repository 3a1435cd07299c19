"""The exported HTML loads nothing from the network: scripts, styles and pictures come from the folder."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest
from export_support import EXPORTED, parse_html, parse_html_text

from tools.export import render_and_scan
from tools.export_render import has_math, render_page
from tools.export_scan import KnownSecrets
from tools.export_vendor import MATHJAX, copy_assets

#: Attributes through which a page makes the browser fetch something.
FETCHING = {
    "script": ("src",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "image": ("href", "xlink:href"),
    "use": ("href", "xlink:href"),
}
CSS_URL = re.compile(r"""@import\s+(?:url\()?\s*["']?([^"')\s;]+)|url\(\s*["']?([^"')\s]+)""")


def fetched_urls(path: Path) -> list[str]:
    """Every URL the page would fetch: element attributes, and url()/@import in its CSS."""
    page = parse_html(path)
    urls = [
        value
        for tag, attrs in page.tags
        for name in FETCHING.get(tag, ())
        for value in [attrs.get(name, "")]
        if value and not (tag == "link" and attrs.get("rel") in ("canonical", "alternate"))
    ]
    css = page.styles + [attrs.get("style", "") for _, attrs in page.tags]
    for text in css:
        # CSS comments may cite URLs; only what is outside them is fetched.
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        urls += [a or b for a, b in CSS_URL.findall(text)]
    return urls


def is_remote(url: str) -> bool:
    return url.startswith("//") or urlsplit(url).scheme in ("http", "https", "ftp", "ws", "wss")


@pytest.mark.parametrize("name", EXPORTED)
def test_an_exported_page_fetches_nothing_from_the_network(exported, name):
    path = exported.out / f"{name}.html"
    urls = fetched_urls(path)
    assert [url for url in urls if is_remote(url)] == []
    local = [u for u in urls if not u.startswith(("data:", "#")) and not urlsplit(u).scheme]
    missing = [u for u in local if not (exported.out / urlsplit(u).path).is_file()]
    assert missing == [], "the page refers to files the export did not write"


@pytest.mark.parametrize("name", EXPORTED)
def test_an_exported_page_runs_only_scripts_from_its_own_folder(exported, name):
    page = parse_html(exported.out / f"{name}.html")
    sources = [attrs["src"] for attrs, _ in page.scripts if "src" in attrs]
    assert sources == ["_assets/require.js"]
    executable = [
        text
        for attrs, text in page.scripts
        if attrs.get("type", "text/javascript") in ("text/javascript", "module")
    ]
    # Inline scripts load the renderer from _assets/ and configure requirejs; none names a remote URL.
    assert not [text for text in executable if re.search(r"https?://|//cdn|unpkg|jsdelivr|cdnjs", text)]
    assert any("_assets/html-manager/embed-amd.js" in text for text in executable) == (name == "00_configure")


def test_the_index_is_a_plain_page_with_no_script(exported):
    page = parse_html(exported.out / "index.html")
    assert page.scripts == []
    assert [u for u in fetched_urls(exported.out / "index.html") if is_remote(u)] == []


def picture_notebook() -> nbformat.NotebookNode:
    """A notebook with an SVG picture (and its text rendering), TeX in Markdown, and a PNG."""
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20"/></svg>'
    )
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    cell = nbformat.v4.new_code_cell("picture()", execution_count=1)
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"image/svg+xml": svg, "text/plain": "A picture: one black box"}
        ),
        nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
    ]
    return nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Pictures\n\nA box, and $e^{i\\pi} + 1 = 0$."),
            cell,
        ]
    )


def test_pictures_are_inline_in_html_and_files_beside_the_markdown():
    page = render_page(picture_notebook(), "07_pictures", exported={"07_pictures"})
    assert sorted(page.files) == [
        "07_pictures_files/07_pictures_1_0.svg",
        "07_pictures_files/07_pictures_1_1.png",
    ]
    assert "![svg](07_pictures_files/07_pictures_1_0.svg)" in page.markdown
    assert b"<rect" in page.files["07_pictures_files/07_pictures_1_0.svg"]
    images = re.findall(r'<img[^>]+src="([^"]+)"', page.html)
    assert len(images) == 2 and all(src.startswith("data:image/") for src in images)


def test_tex_loads_mathjax_from_the_export_folder_and_pages_without_tex_load_none(tmp_path, exported):
    page = render_page(picture_notebook(), "07_pictures", exported={"07_pictures"})
    sources = [attrs.get("src") for attrs, _ in parse_html_text(page.html).scripts if attrs.get("src")]
    assert sources == ["_assets/require.js", MATHJAX]
    copied = copy_assets(tmp_path, mathjax=True)
    assert MATHJAX in copied and (tmp_path / MATHJAX).is_file()
    for name in EXPORTED:
        assert "mathjax" not in (exported.out / f"{name}.html").read_text().lower()


def test_a_picture_notebook_passes_the_scan_and_lists_its_pictures():
    pages, texts, mathjax = render_and_scan([("07_pictures", picture_notebook())], known=KnownSecrets())
    assert mathjax is True
    assert '"pictures": [\n        "07_pictures_files/07_pictures_1_0.svg"' in texts["export.json"]


MATH_CASES = [
    ("inline TeX", "Euler: $e^{i\\pi} + 1 = 0$.", True),
    ("display TeX", "$$\\int_0^1 x\\,dx$$", True),
    ("a LaTeX environment", "\\begin{align} a &= b \\end{align}", True),
    ("shell variables in code spans", "Set `$CLIENT_ID` and `$CLIENT_SECRET`.", False),
    ("shell variables in a fenced block", '```bash\ncurl -u "$ID:$SECRET"\n```', False),
    ("a single dollar", "It costs $5.", False),
]


@pytest.mark.parametrize(("case", "markdown", "expected"), MATH_CASES, ids=[row[0] for row in MATH_CASES])
def test_mathjax_is_needed_only_for_tex_outside_code(case, markdown, expected):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown)])
    assert has_math(notebook) is expected
