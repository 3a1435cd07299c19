"""Export the notebooks for documentation authors: run them, refuse secrets, write HTML and Markdown.

Every notebook in `notebooks/` (or the ones named) runs in order, headless, against a fresh sandbox on
an ephemeral port (tools.kitenv: never the person's `.env`, keys, session file or sandbox), with
redaction forced on. Then, before anything is written, a secret scan reads every output
(tools.export_scan); only a clean export is written, into one folder (default `exports/`):

    index.html, index.md          every notebook in order, with its title and one-line summary
    NN_name.ipynb                 the executed notebook (widget state saved)
    NN_name.html                  nbconvert's lab page; scripts from _assets/ only, no CDN
    NN_name.md, NN_name_files/    Markdown, and the pictures it shows
    _assets/                      require.js, the widget renderer (and MathJax when needed), from npm
    export.json                   what was exported, and the asset versions (no timestamps)

`--okta` runs against the org configured in the person's `.env` instead (for authors documenting
their own tenant): the sign-in in 01 is then interactive in their browser. Headless sign-in works only
against the sandbox. `make export` runs this tool (`EXPORT_ARGS` passes options).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools import nbrun  # noqa: E402
from tools.export_render import (  # noqa: E402
    DOCS_LINK,
    SHOWN_PORT,
    Page,
    has_math,
    index_html,
    index_markdown,
    normalise,
    render_page,
)
from tools.export_scan import (  # noqa: E402
    Finding,
    KnownSecrets,
    SecretFound,
    scan_notebook,
    scan_rendered,
)
from tools.export_vendor import AssetError, copy_assets, ensure_assets  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
DEFAULT_OUT = ROOT / "exports"
MANIFEST = "export.json"
GENERATOR = "tools/export.py"
SANDBOX_TIMEOUT = 180
#: Against Okta the sign-in cell waits for the person's browser (helpers.signin: up to 300 s).
OKTA_TIMEOUT = 600
#: The kit's settings: cleared before a sandbox export, so the person's shell cannot change what runs.
_KIT_VARIABLES = ("KIT_HOME", "KIT_ENV_FILE", "KIT_STATE_DIR", "OKTA_API_TOKEN")


class ExportError(Exception):
    """The export could not be made; the message says why and what to do."""


class CellFailed(ExportError):
    """A cell raised while a notebook ran: the export stops and names the notebook, cell and error."""

    def __init__(self, failed: nbrun.CellFailed) -> None:
        self.notebook, self.cell, self.error, self.detail = (
            failed.notebook,
            failed.cell,
            failed.error,
            failed.detail,
        )
        super().__init__(f"export stopped: {failed}\nNothing was written.")


@dataclass
class Result:
    """What an export wrote."""

    out: Path
    pages: list[Page]
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0


# --- which notebooks ------------------------------------------------------------------------------------
def notebook_paths(names: list[str] | tuple[str, ...] = (), *, source: Path = NOTEBOOKS) -> list[Path]:
    """Return the notebooks to export, in order: all of `source`, or those named (name, stem or prefix)."""
    try:
        return nbrun.notebook_paths(names, source=source)
    except nbrun.NotebookRunError as exc:
        raise ExportError(str(exc)) from None


# --- where the notebooks run ----------------------------------------------------------------------------
@dataclass
class Target:
    """Where the notebooks run: the description for pages and logs, the port to normalise, the secrets."""

    where: str
    port: int | None
    known: KnownSecrets
    timeout: int


def _sandbox_client_secrets(config: Any, known: KnownSecrets) -> None:
    for client in getattr(config, "clients", {}).values():
        known.add_client_secret(getattr(client, "client_secret", None))


def _default_sandbox_secrets(known: KnownSecrets) -> None:
    from sandbox.config import load_config

    _sandbox_client_secrets(load_config(None, base_dir=ROOT), known)


def _secrets_from_environment(environ: dict[str, str], known: KnownSecrets) -> None:
    for name, value in environ.items():
        if name.endswith(("_CLIENT_SECRET", "CLIENT_SECRET")):
            known.add_client_secret(value)
        elif name.endswith("API_TOKEN"):
            known.add_api_token(value)


@contextmanager
def sandbox_target(log: Callable[[str], None]) -> Iterator[Target]:
    """Run the body against a throwaway sandbox (ephemeral port, own `.env` and keys), redaction forced."""
    from helpers.core.config import ENV_VARS
    from tools.kitenv import throwaway_kit

    saved = dict(os.environ)
    try:
        for name in (*ENV_VARS, *_KIT_VARIABLES):
            os.environ.pop(name, None)
        with throwaway_kit() as kit:
            os.environ["KIT_REDACT"] = "true"
            known = KnownSecrets()
            _sandbox_client_secrets(kit.config, known)
            known.add_api_token(getattr(kit, "api_token", None))
            _secrets_from_environment(kit.environ, known)
            port = urlsplit(kit.url).port
            log(f"export: a throwaway sandbox at {kit.url} (shown as port {SHOWN_PORT} in the pages)")
            yield Target(where="against a throwaway sandbox", port=port, known=known, timeout=SANDBOX_TIMEOUT)
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def okta_target(log: Callable[[str], None]) -> Iterator[Target]:
    """Run the body against the org in the person's `.env`, with redaction forced on."""
    from dotenv import dotenv_values

    from helpers.core.config import env_file_path, load_settings

    settings = load_settings()
    if settings.is_sandbox:
        raise ExportError(
            f"--okta: your settings point at the sandbox ({settings.org_url}); set OKTA_ORG_URL to your org "
            "in .env, or drop --okta to export against a throwaway sandbox"
        )
    if settings.headless:
        raise ExportError(
            "--okta: KIT_HEADLESS is true, but a headless sign-in works only against the sandbox. Set "
            "KIT_HEADLESS=false in .env: the export then opens your browser for the sign-in in 01"
        )
    known = KnownSecrets()
    _default_sandbox_secrets(known)
    env_file = env_file_path()
    file_values = {k: v or "" for k, v in dotenv_values(env_file).items()} if env_file.is_file() else {}
    _secrets_from_environment({**file_values, **os.environ}, known)
    saved = dict(os.environ)
    try:
        os.environ["KIT_REDACT"] = "true"
        log(
            f"export: against the Okta org {settings.org_url} (from {env_file}); the sign-in opens your "
            "browser and waits for you (headless sign-in works only against the sandbox)"
        )
        yield Target(
            where=f"against the Okta org {settings.org_url}", port=None, known=known, timeout=OKTA_TIMEOUT
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)


# --- running one notebook --------------------------------------------------------------------------------
def run_notebook(path: Path, *, timeout: int) -> Any:
    """Execute a notebook in its own folder with widget state saved; raise CellFailed naming the cell."""
    try:
        return nbrun.run_notebook(path, timeout=timeout)
    except nbrun.CellFailed as exc:
        raise CellFailed(exc) from exc


def check_out_folder(out: Path) -> None:
    """Refuse an output folder that is not empty and not a previous export (it would be replaced)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ExportError(f"--out {out} is a file, expected a folder")
    if not any(out.iterdir()):
        return
    manifest = out / MANIFEST
    try:
        previous = json.loads(manifest.read_text())
    except (OSError, ValueError):
        previous = {}
    if not isinstance(previous, dict) or previous.get("generator") != GENERATOR:
        raise ExportError(
            f"--out {out} is not empty and holds no {MANIFEST} from a previous export: refusing to replace "
            "it; choose an empty or new folder"
        )


def manifest(pages: list[Page], *, where: str, assets: dict[str, str], mathjax: bool) -> dict[str, Any]:
    """Describe the export for a docs site: notebooks in order, their files, the asset versions."""
    from importlib.metadata import version

    used = {name: pin for name, pin in assets.items() if mathjax or name != "mathjax"}
    return {
        "generator": GENERATOR,
        "ran": where,
        "redaction": "forced on",
        "notebooks": [
            {
                "name": page.name,
                "title": page.title,
                "summary": page.summary,
                "html": page.html_name,
                "markdown": page.markdown_name,
                "notebook": page.ipynb_name,
                "pictures": sorted(page.files),
            }
            for page in pages
        ],
        "assets": used,
        "rendered_with": {name: version(name) for name in ("nbconvert", "nbclient", "ipywidgets")},
    }


def write_export(out: Path, pages: list[Page], *, texts: dict[str, str], mathjax: bool) -> list[str]:
    """Write the pages into a staging folder beside `out`, then swap it in; return the relative paths."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        # mkdtemp makes the folder private; a published export is meant to be read.
        os.chmod(staging, 0o755)  # noqa: S103
        written: list[str] = []

        def put(relative: str, content: str | bytes) -> None:
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
            written.append(relative)

        for page in pages:
            put(page.ipynb_name, page.notebook)
            put(page.html_name, page.html)
            put(page.markdown_name, page.markdown)
            for relative, content in page.files.items():
                put(relative, content)
        for relative, content in texts.items():
            put(relative, content)
        written += copy_assets(staging, mathjax=mathjax)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(written)


# --- the export -----------------------------------------------------------------------------------------
def render_and_scan(
    executed: list[tuple[str, Any]],
    *,
    known: KnownSecrets,
    port: int | None = None,
    where: str = "against a throwaway sandbox",
    assets: dict[str, str] | None = None,
) -> tuple[list[Page], dict[str, str], bool]:
    """Normalise and render executed notebooks, and scan everything that would be written.

    Returns:
        The pages, the index and manifest texts, and whether MathJax is needed.

    Raises:
        SecretFound: naming each secret's notebook, cell, part of the export and kind.
    """
    exported = {name for name, _ in executed}
    pages: list[Page] = []
    findings: list[Finding] = []
    for name, notebook in executed:
        public = normalise(notebook, port=port)
        page = render_page(public, name, exported=exported)
        findings += scan_notebook(public, name, known)
        findings += scan_rendered(page.html, public, name, "HTML page", known)
        findings += scan_rendered(page.markdown, public, name, "Markdown", known)
        for relative, content in page.files.items():
            if relative.endswith((".svg", ".txt", ".json", ".html")):
                text = content.decode("utf-8", errors="replace")
                findings += scan_rendered(text, public, name, f"picture {relative}", known)
        pages.append(page)
    mathjax = any(has_math(notebook) for _, notebook in executed)
    description = manifest(pages, where=where, assets=assets or {}, mathjax=mathjax)
    texts = {
        "index.html": index_html(pages, where=where),
        "index.md": index_markdown(pages, where=where),
        MANIFEST: json.dumps(description, indent=2, ensure_ascii=False) + "\n",
    }
    # The docs pages the notebooks link to travel with the export (relink points them at docs/).
    for _, notebook in executed:
        for cell in notebook.get("cells", []):
            if cell.get("cell_type") == "markdown":
                for match in DOCS_LINK.finditer(cell.get("source", "")):
                    page_path = ROOT / "docs" / match.group(2)
                    if page_path.is_file():
                        texts[f"docs/{match.group(2)}"] = page_path.read_text(encoding="utf-8")
    for relative, text in texts.items():
        findings += scan_rendered(text, {"cells": []}, "index", relative, known)
    if findings:
        raise SecretFound(findings)
    return pages, texts, mathjax


def export(
    names: list[str] | tuple[str, ...] = (),
    *,
    out: Path = DEFAULT_OUT,
    source: Path = NOTEBOOKS,
    okta: bool = False,
    timeout: int | None = None,
    log: Callable[[str], None] = print,
) -> Result:
    """Run the notebooks, scan every output for secrets, and write the export; return what was written.

    Raises:
        CellFailed: a cell raised (nothing is written).
        SecretFound: an output holds a secret (nothing is written).
        ExportError, AssetError: the folder, the notebooks or the assets are not usable.
    """
    started = time.monotonic()
    paths = notebook_paths(names, source=source)
    out = Path(out)
    check_out_folder(out)
    assets = ensure_assets(log=log)

    executed: list[tuple[str, Any]] = []
    with okta_target(log) if okta else sandbox_target(log) as target:
        for number, path in enumerate(paths, start=1):
            began = time.monotonic()
            log(f"[{number}/{len(paths)}] {path.stem} …")
            executed.append((path.stem, run_notebook(path, timeout=timeout or target.timeout)))
            log(f"[{number}/{len(paths)}] {path.stem} ran in {time.monotonic() - began:.1f} s")

    pages, texts, mathjax = render_and_scan(
        executed, known=target.known, port=target.port, where=target.where, assets=assets
    )
    files = write_export(out, pages, texts=texts, mathjax=mathjax)
    seconds = time.monotonic() - started
    pictures = sum(len(page.files) for page in pages)
    log(
        f"export: {len(pages)} notebook(s) → {out} ({len(pages)} HTML pages, {len(pages)} Markdown files, "
        f"{pictures} picture(s), index.html) in {seconds:.1f} s; secret scan clean"
    )
    return Result(out=out, pages=pages, files=files, seconds=seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "notebooks", nargs="*", help="names or prefixes, e.g. 00 01 (default: every notebook)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: exports/)")
    parser.add_argument(
        "--okta",
        action="store_true",
        help="run against the Okta org in .env instead of a throwaway sandbox (sign-in in your browser)",
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=NOTEBOOKS,
        help="folder of NN_name.ipynb notebooks (default: notebooks/)",
    )
    parser.add_argument(
        "--timeout", type=int, default=None, help="seconds a cell may run (default 180; 600 with --okta)"
    )
    args = parser.parse_args(argv)
    try:
        export(args.notebooks, out=args.out, source=args.source, okta=args.okta, timeout=args.timeout)
    except CellFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    except (SecretFound, ExportError, AssetError) as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
