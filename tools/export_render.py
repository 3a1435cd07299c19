"""Turn executed notebooks into the export's pages: normalised notebooks, HTML, Markdown and the index.

Everything here is a pure function of the executed notebook, so two exports of the same notebooks
differ only where the run itself differs (token values, key ids, times). Normalisations:

- widget model ids (random uuids) are renumbered in the order the cells display them;
- the throwaway sandbox's ephemeral port is shown as the sandbox's usual port (8400), the URL a
  reader's own `make lab` run shows;
- per-cell execution timestamps are dropped; a password widget's saved value is blanked;
- the HTML template gives widget views no random element ids (tools/export_templates/kit_offline).

Pages link to each other: `NN_name.ipynb` links in Markdown cells become the exported page of that
notebook, and the link to the repository's README becomes the export's index.
"""

from __future__ import annotations

import copy
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbconvert import HTMLExporter, MarkdownExporter

from tools.export_scan import WIDGET_STATE, WIDGET_VIEW
from tools.export_vendor import MATHJAX, REQUIRE_JS, WIDGET_RENDERER, amd_paths

TEMPLATES = Path(__file__).resolve().parent / "export_templates"
TEMPLATE = "kit_offline"
#: The port a reader's sandbox listens on (`make lab`, `python -m sandbox serve`).
SHOWN_PORT = 8400


@dataclass
class Page:
    """One exported notebook: its stable names, its title and summary, and its rendered texts."""

    name: str
    title: str
    summary: str
    notebook: str = ""
    html: str = ""
    markdown: str = ""
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def ipynb_name(self) -> str:
        return f"{self.name}.ipynb"

    @property
    def html_name(self) -> str:
        return f"{self.name}.html"

    @property
    def markdown_name(self) -> str:
        return f"{self.name}.md"

    @property
    def files_dir(self) -> str:
        return f"{self.name}_files"


# --- normalising the executed notebook ----------------------------------------------------------------
def widget_state(notebook: Any) -> dict[str, Any]:
    """Return the notebook's saved widget models (empty when it saved none)."""
    return notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def widget_order(notebook: Any) -> list[str]:
    """Return the saved model ids in display order: each displayed view, then its children, depth first."""
    state = widget_state(notebook)
    order: list[str] = []
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if isinstance(view, dict) and view.get("model_id"):
                _visit(view["model_id"], state, order)
    # Models no cell displays keep the order the kernel created them in.
    order += [model_id for model_id in state if model_id not in order]
    return order


def _visit(model_id: str, state: dict[str, Any], order: list[str]) -> None:
    if model_id in order or model_id not in state:
        return
    order.append(model_id)
    text = json.dumps(state[model_id].get("state", {}), sort_keys=True)
    for child in re.findall(r"IPY_MODEL_([0-9A-Za-z_-]+)", text):
        _visit(child, state, order)


def normalise(notebook: Any, *, port: int | None = None) -> Any:
    """Return a copy of an executed notebook with stable widget ids, the usual port, no timestamps."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook.get("cells", []):
        cell.get("metadata", {}).pop("execution", None)
        cell.get("metadata", {}).pop("ExecuteTime", None)
    for model in widget_state(notebook).values():
        if model.get("model_name") == "PasswordModel":
            model.get("state", {})["value"] = ""
    text = json.dumps(notebook, ensure_ascii=False)
    order = widget_order(notebook)
    if order:
        renumbered = {old: f"{number:032x}" for number, old in enumerate(order, start=1)}
        pattern = re.compile("|".join(re.escape(old) for old in sorted(order, key=len, reverse=True)))
        text = pattern.sub(lambda match: renumbered[match.group(0)], text)
    if port and port != SHOWN_PORT:
        loopback = re.compile(rf"(127\.0\.0\.1|localhost)(:|%3A|%3a){port}(?!\d)")
        text = loopback.sub(rf"\g<1>\g<2>{SHOWN_PORT}", text)
    return nbformat.from_dict(json.loads(text))


# --- what a page says about itself ----------------------------------------------------------------------
def title_and_summary(notebook: Any, fallback: str) -> tuple[str, str]:
    """Return the notebook's H1 title and the one-line summary (the paragraph after the title)."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        lines = cell["source"].splitlines()
        for at, line in enumerate(lines):
            if line.startswith("# "):
                paragraph: list[str] = []
                for rest in lines[at + 1 :]:
                    if rest.strip():
                        paragraph.append(rest.strip())
                    elif paragraph:
                        break
                return line[2:].strip(), " ".join(paragraph)
    return fallback, ""


#: Code is not typeset: fenced blocks and inline code spans (`$CLIENT_SECRET`) are left out first.
_CODE = re.compile(r"```.*?```|~~~.*?~~~|`[^`\n]*`", re.S)
_MATH = re.compile(r"(?<![\\$])\$\$?[^$\s][^$]*\$|\\\(|\\\[|\\begin\{")


def has_math(notebook: Any) -> bool:
    """Say whether a notebook holds TeX for MathJax: in Markdown cells, or a text/latex output."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "markdown" and _MATH.search(_CODE.sub("", cell.get("source", ""))):
            return True
        if any("text/latex" in output.get("data", {}) for output in cell.get("outputs", [])):
            return True
    return False


# --- the static text of a form ------------------------------------------------------------------------
def form_values(state: dict[str, Any], model_id: str) -> list[str]:
    """Return one line per field of a saved widget tree: `description: value`, as a reader sees it."""
    lines: list[str] = []
    _describe(state, model_id, lines, seen=set())
    return lines


def _describe(state: dict[str, Any], model_id: str, lines: list[str], seen: set[str]) -> None:
    if model_id in seen or model_id not in state:
        return
    seen.add(model_id)
    model = state[model_id]
    name = model.get("model_name", "")
    values = model.get("state", {})
    if isinstance(values.get("children"), list):
        for child in values["children"]:
            if isinstance(child, str) and child.startswith("IPY_MODEL_"):
                _describe(state, child[len("IPY_MODEL_") :], lines, seen)
        return
    if name == "ButtonModel":  # an action, not a value
        return
    label = str(values.get("description") or "").strip().rstrip(":")
    if name == "PasswordModel":
        shown = "(hidden)"
    elif name == "OutputModel":
        texts = [o.get("data", {}).get("text/plain", o.get("text", "")) for o in values.get("outputs", [])]
        shown = " ".join("".join(t) if isinstance(t, list) else str(t) for t in texts).strip()
    elif "_options_labels" in values and "index" in values:
        options = values["_options_labels"] or []
        index = values["index"]
        chosen = index if isinstance(index, list) else ([] if index is None else [index])
        picked = [options[i] for i in chosen if isinstance(i, int) and 0 <= i < len(options)]
        shown = ", ".join(picked) or "(none)"
        if isinstance(index, list):
            shown += f"  (choices: {', '.join(options)})"
    elif isinstance(values.get("value"), bool):
        shown = "yes" if values["value"] else "no"
    elif "value" in values:
        shown = str(values["value"])
        if name == "HTMLModel":
            shown = html.unescape(re.sub(r"<[^>]+>", "", shown))
        shown = shown.strip() or ("" if not label else "(empty)")
    else:
        return
    if label or shown:
        lines.append(f"{label}: {shown}" if label else shown)


def with_static_forms(notebook: Any) -> Any:
    """Return a copy whose widget outputs' text/plain also lists the form's saved values."""
    notebook = copy.deepcopy(notebook)
    state = widget_state(notebook)
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            view = data.get(WIDGET_VIEW)
            if not isinstance(view, dict) or view.get("model_id") not in state:
                continue
            lines = form_values(state, view["model_id"])
            text = data.get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            if lines:
                text = f"{text}\n\nThe form's saved values:\n" + "\n".join(f"  {line}" for line in lines)
            data["text/plain"] = text
    return notebook


# --- links between pages --------------------------------------------------------------------------------
_NOTEBOOK_LINK = re.compile(r"(\]\(|href=[\"'])(\d\d_[A-Za-z0-9_-]+)\.ipynb")
_README_LINK = re.compile(r"(\]\(|href=[\"'])\.\./README\.md(#[^)\"'\s]*)?")
#: A link to one of the repository's docs pages; the export copies the page into its own docs/ folder.
DOCS_LINK = re.compile(r"(\]\(|href=[\"'])\.\./docs/([A-Za-z0-9_-]+\.md)")


def relink(notebook: Any, *, exported: set[str], suffix: str, index: str) -> Any:
    """Return a copy whose Markdown links point at the exported pages (`.html` or `.md`) and the index."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell["source"]
        source = _NOTEBOOK_LINK.sub(
            lambda m: f"{m.group(1)}{m.group(2)}{suffix}" if m.group(2) in exported else m.group(0), source
        )
        source = DOCS_LINK.sub(lambda m: f"{m.group(1)}docs/{m.group(2)}", source)
        cell["source"] = _README_LINK.sub(lambda m: f"{m.group(1)}{index}", source)
    return notebook


# --- rendering ------------------------------------------------------------------------------------------
def html_exporter(*, mathjax: bool) -> HTMLExporter:
    """Return nbconvert's HTML exporter pointed at the export's own `_assets/` (no CDN)."""
    exporter = HTMLExporter(template_name=TEMPLATE, extra_template_basedirs=[str(TEMPLATES)])
    exporter.require_js_url = REQUIRE_JS
    exporter.widget_renderer_url = WIDGET_RENDERER
    exporter.mathjax_url = MATHJAX if mathjax else ""
    return exporter


def render_page(notebook: Any, name: str, *, exported: set[str]) -> Page:
    """Render one normalised notebook: its executed .ipynb text, HTML page, Markdown and pictures."""
    title, summary = title_and_summary(notebook, name)
    page = Page(name=name, title=title, summary=summary)
    page.notebook = nbformat.writes(notebook)

    readable = with_static_forms(notebook)
    readable.metadata["title"] = title
    for_html = relink(readable, exported=exported, suffix=".html", index="index.html")
    page.html, _ = html_exporter(mathjax=has_math(notebook)).from_notebook_node(
        for_html, resources={"metadata": {"name": name}, "kit_amd_paths": amd_paths()}
    )

    for_markdown = relink(readable, exported=exported, suffix=".md", index="index.md")
    resources = {"metadata": {"name": name}, "unique_key": name, "output_files_dir": page.files_dir}
    page.markdown, resources = MarkdownExporter().from_notebook_node(for_markdown, resources=resources)
    page.files = dict(sorted(resources.get("outputs", {}).items()))
    return page


# --- the index ------------------------------------------------------------------------------------------
def _inline_html(markdown: str) -> str:
    text = html.escape(markdown, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"(?<![*\w])\*([^*]+)\*(?![*\w])", r"<em>\1</em>", text)


INDEX_TITLE = "Agentic token exchange kit: the notebooks, executed"


def index_markdown(pages: list[Page], *, where: str) -> str:
    """Return `index.md`: every notebook in order, with its title, summary and its three forms."""
    lines = [
        f"# {INDEX_TITLE}",
        "",
        f"Each notebook ran headless, in order, {where}. Tokens are shortened and no secret is kept.",
        "",
    ]
    for number, page in enumerate(pages, start=1):
        lines.append(f"{number}. **[{page.title}]({page.markdown_name})**  ")
        if page.summary:
            lines.append(f"   {page.summary}  ")
        lines += [
            f"   [HTML]({page.html_name}) · [Markdown]({page.markdown_name}) · "
            f"[executed notebook]({page.ipynb_name})",
            "",
        ]
    return "\n".join(lines)


def index_html(pages: list[Page], *, where: str) -> str:
    """Return `index.html`: the same list as `index.md`, a plain page with no script."""
    items = []
    for page in pages:
        summary = f"<p>{_inline_html(page.summary)}</p>" if page.summary else ""
        items.append(
            f'<li><a class="title" href="{page.html_name}">{html.escape(page.title)}</a>{summary}'
            f'<p class="formats"><a href="{page.html_name}">HTML</a> · '
            f'<a href="{page.markdown_name}">Markdown</a> · '
            f'<a href="{page.ipynb_name}">executed notebook</a></p></li>'
        )
    body = "\n".join(items)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{html.escape(INDEX_TITLE)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 52em; margin: 2em auto; padding: 0 1em; }}
body {{ line-height: 1.5; }}
li {{ margin-bottom: 1.2em; }}
a.title {{ font-weight: 600; font-size: 1.1em; }}
li p {{ margin: 0.2em 0; }}
.formats {{ font-size: 0.9em; }}
code {{ background: #f3f3f3; padding: 0 0.2em; }}
</style>
</head>
<body>
<h1>{html.escape(INDEX_TITLE)}</h1>
<p>Each notebook ran headless, in order, {html.escape(where)}. Tokens are shortened and no secret is kept.</p>
<ol>
{body}
</ol>
</body>
</html>
"""
