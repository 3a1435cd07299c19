"""What `make export` writes: stable names, the index in order, executed notebooks, static forms, progress."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from export_support import EXPORTED, ROOT, parse_html, write_notebook

from tools.export import CellFailed, ExportError, export, main
from tools.export_vendor import pinned_versions


def h1_and_first_paragraph(name: str) -> tuple[str, str]:
    """Read a source notebook's title and summary the simple way, to compare with the index."""
    source = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells[0].source
    blocks = source.split("\n\n")
    return blocks[0].removeprefix("# ").strip(), " ".join(blocks[1].split())


def test_the_export_writes_every_notebook_under_stable_names(exported):
    top = sorted(p.name for p in exported.out.iterdir())
    expected = sorted(
        [f"{name}{suffix}" for name in EXPORTED for suffix in (".ipynb", ".html", ".md")]
        + ["_assets", "export.json", "index.html", "index.md"]
    )
    # Pictures get a NN_name_files/ folder only when the notebook shows one.
    assert [n for n in top if not n.endswith("_files")] == expected
    assert (exported.out / "_assets" / "require.js").is_file()
    assert (exported.out / "_assets" / "html-manager" / "embed-amd.js").is_file()
    # The assets keep their content-hash names (stable per version); nothing else may carry a date.
    dated = [
        p.name for p in exported.out.rglob("*") if "_assets" not in p.parts and re.search(r"\d{6}", p.name)
    ]
    assert dated == []


def test_the_index_links_the_notebooks_in_order_with_their_title_and_summary(exported):
    page = parse_html(exported.out / "index.html")
    titles = [attrs["href"] for tag, attrs in page.tags if tag == "a" and attrs.get("class") == "title"]
    assert titles == [f"{name}.html" for name in EXPORTED]
    text = (exported.out / "index.html").read_text()
    markdown = (exported.out / "index.md").read_text()
    for name in EXPORTED:
        title, summary = h1_and_first_paragraph(name)
        assert title.replace("'", "&#x27;") in text or title in text
        assert f"**[{title}]({name}.md)**" in markdown
        assert summary in markdown
    assert markdown.index("00_configure.md") < markdown.index("01_user_sign_in.md")


def test_the_executed_notebooks_ran_every_cell_and_saved_the_widget_state(exported):
    for name in EXPORTED:
        notebook = nbformat.read(exported.out / f"{name}.ipynb", as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert all(cell.execution_count for cell in code), f"{name}: a code cell did not run"
        assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
        assert all("execution" not in cell.metadata for cell in notebook.cells), "timestamps kept"
    configure = nbformat.read(exported.out / "00_configure.ipynb", as_version=4)
    state = configure.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    # Widget model ids are renumbered in display order, so two exports diff cleanly.
    assert sorted(state) == [f"{n:032x}" for n in range(1, len(state) + 1)]
    views = [
        o.data["application/vnd.jupyter.widget-view+json"]["model_id"]
        for cell in configure.cells
        for o in cell.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert views and views[0] == f"{1:032x}" and all(view in state for view in views)


def test_the_pages_show_the_usual_sandbox_port_instead_of_the_ephemeral_one(exported):
    ports = set()
    for path in exported.out.glob("0*"):
        if path.is_file():
            ports |= set(re.findall(r"127\.0\.0\.1:(\d+)", path.read_text()))
    # 8400: the sandbox a reader's `make lab` starts; 8765: the redirect URI's loopback listener.
    assert ports == {"8400", "8765"}


def test_each_form_keeps_a_static_text_rendering_of_its_values(exported):
    markdown = (exported.out / "00_configure.md").read_text()
    assert "Org URL: http://127.0.0.1:8400" in markdown
    assert "Scopes: todo.read  (choices: todo.read, todo.write)" in markdown
    page = (exported.out / "00_configure.html").read_text()
    static = re.findall(r'<div class="jp-RenderedText kit-widget-text"[^>]*>\s*<pre>(.*?)</pre>', page, re.S)
    assert len(static) == 2, "each of the two forms has its text rendering beside it"
    assert "Org URL: http://127.0.0.1:8400" in static[0]
    assert "Sandbox password: (hidden)" in static[0]


def test_the_password_widget_value_is_blanked_in_the_saved_widget_state(exported):
    # The form's Password widget saves its value in the widget state; the export blanks it. (Notebook
    # 01's text names the public demo password on purpose, so only 00's files are checked.)
    configure = nbformat.read(exported.out / "00_configure.ipynb", as_version=4)
    state = configure.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    passwords = [m["state"]["value"] for m in state.values() if m["model_name"] == "PasswordModel"]
    assert passwords == [""]
    offenders = [p.name for p in exported.out.glob("00_configure*") if "Wonderland-2026!" in p.read_text()]
    assert offenders == []


def test_markdown_links_between_notebooks_point_at_the_exported_pages(exported):
    configure = (exported.out / "00_configure.md").read_text()
    assert "(01_user_sign_in.md)" in configure and "(01_user_sign_in.ipynb)" not in configure
    assert "[README](index.md)" in configure
    page = parse_html(exported.out / "00_configure.html")
    links = {attrs.get("href") for tag, attrs in page.tags if tag == "a"}
    assert {"01_user_sign_in.html", "index.html"} <= links
    assert "../README.md" not in links


def test_the_manifest_lists_the_notebooks_and_the_pinned_asset_versions(exported):
    manifest = json.loads((exported.out / "export.json").read_text())
    assert [entry["name"] for entry in manifest["notebooks"]] == list(EXPORTED)
    pins = pinned_versions()
    # No notebook here holds TeX, so MathJax is neither copied nor listed.
    assert manifest["assets"] == {name: pins[name] for name in pins if name != "mathjax"}
    assert manifest["assets"]["@jupyter-widgets/html-manager"] == "1.0.15"
    assert not (exported.out / "_assets" / "mathjax").exists()


def test_progress_names_each_notebook_with_its_time_and_ends_with_a_summary(exported):
    lines = exported.log
    for number, name in enumerate(EXPORTED, start=1):
        assert any(re.fullmatch(rf"\[{number}/2\] {name} ran in \d+\.\d s", line) for line in lines), lines
    assert re.fullmatch(
        r"export: 2 notebook\(s\) → .+ \(2 HTML pages, 2 Markdown files, \d+ picture\(s\), index\.html\) "
        r"in \d+\.\d s; secret scan clean",
        lines[-1],
    )


def test_two_exports_of_a_notebook_have_the_same_files_and_page_structure(exported, tmp_path):
    again = export(["00"], out=tmp_path / "again", log=lambda line: None)
    first, second = exported.out, again.out

    def skeleton(path: Path) -> list[tuple[str, dict[str, str]]]:
        # Links to a notebook the second export leaves out stay .ipynb links; everything else is equal.
        return [
            (tag, {k: re.sub(r"^\d\d_\w+\.(html|ipynb)$", "NOTEBOOK", v) for k, v in attrs.items()})
            for tag, attrs in parse_html(path).tags
        ]

    assert skeleton(first / "00_configure.html") == skeleton(second / "00_configure.html")
    state = [
        nbformat.read(folder / "00_configure.ipynb", as_version=4).metadata.widgets
        for folder in (first, second)
    ]
    assert state[0] == state[1], "the saved widget state (ids and values) differs between two exports"
    assets = [
        sorted(p.relative_to(f).as_posix() for p in (f / "_assets").rglob("*")) for f in (first, second)
    ]
    assert assets[0] == assets[1]


def test_a_failing_cell_stops_the_export_and_names_the_notebook_cell_and_error(tmp_path, assets):
    source = tmp_path / "notebooks"
    write_notebook(source, "00_fine", [nbformat.v4.new_code_cell("print('fine')")])
    write_notebook(
        source,
        "01_broken",
        [
            nbformat.v4.new_markdown_cell("# Broken\n\nA cell raises."),
            nbformat.v4.new_code_cell("x = 1"),
            nbformat.v4.new_code_cell("raise ValueError('planted failure')"),
            nbformat.v4.new_code_cell("print('never runs')"),
        ],
    )
    out = tmp_path / "site"
    with pytest.raises(CellFailed) as failed:
        export(out=out, source=source, log=lambda line: None)
    message = str(failed.value)
    assert message.startswith(
        "export stopped: 01_broken, cell 3 (In [2]) failed: ValueError: planted failure"
    )
    assert "Nothing was written." in message
    assert not out.exists()


def test_an_output_folder_that_is_not_a_previous_export_is_refused_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["--out", str(out), "00"]) == 2
    assert "is not empty and holds no export.json from a previous export" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me"
    with pytest.raises(ExportError, match='no notebook matches "99"'):
        export(["99"], out=tmp_path / "other")


def okta_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    """Point the kit at a temporary `.env` holding `values` (and nothing from the person's shell)."""
    from helpers.core.config import ENV_VARS

    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    env = tmp_path / ".env"
    env.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    monkeypatch.setenv("KIT_HOME", str(tmp_path))
    monkeypatch.setenv("KIT_ENV_FILE", str(env))


OKTA_REFUSALS = [
    (
        "settings that point at the sandbox",
        {"OKTA_ORG_URL": "http://127.0.0.1:8400"},
        "--okta: your settings point at the sandbox (http://127.0.0.1:8400)",
    ),
    (
        "a headless sign-in against a real org",
        {"OKTA_ORG_URL": "https://example.okta.com", "KIT_HEADLESS": "true"},
        "--okta: KIT_HEADLESS is true, but a headless sign-in works only against the sandbox",
    ),
]


@pytest.mark.parametrize(("case", "values", "message"), OKTA_REFUSALS, ids=[r[0] for r in OKTA_REFUSALS])
def test_an_okta_export_refuses_settings_it_cannot_run_before_any_notebook_runs(
    case, values, message, tmp_path, monkeypatch, assets
):
    okta_env(tmp_path, monkeypatch, **values)
    lines: list[str] = []
    with pytest.raises(ExportError) as refused:
        export(["00"], out=tmp_path / "site", okta=True, log=lines.append)
    assert str(refused.value).startswith(message)
    assert not any(line.startswith("[1/1]") for line in lines)
    assert not (tmp_path / "site").exists()


def test_missing_or_incomplete_assets_are_fetched_and_npm_missing_is_said_clearly(tmp_path, monkeypatch):
    from tools import export_vendor

    monkeypatch.setattr(export_vendor, "NODE_MODULES", tmp_path / "node_modules")
    pins = export_vendor.pinned_versions()
    assert sorted(export_vendor.stale_assets()) == sorted(f"{name}@{pin}" for name, pin in pins.items())
    # A package at the right version but without the file the pages load is fetched again too.
    package = tmp_path / "node_modules" / "requirejs"
    package.mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"version": pins["requirejs"]}))
    assert f"requirejs@{pins['requirejs']}" in export_vendor.stale_assets()
    (package / "require.js").write_text("/* require.js */")
    assert f"requirejs@{pins['requirejs']}" not in export_vendor.stale_assets()

    monkeypatch.setattr(export_vendor.shutil, "which", lambda name: None)
    with pytest.raises(export_vendor.AssetError, match=r"apt-get install nodejs npm"):
        export_vendor.ensure_assets(log=lambda line: None)
