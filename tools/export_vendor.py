"""The front-end files exported pages load from their own folder: fetched once from npm, never committed.

nbconvert's HTML loads require.js and the Jupyter widgets renderer (and MathJax) from CDNs. An export
must render offline (an air-gapped room, a docs site that blocks third-party scripts), so the pages
point at copies in `<out>/_assets/`. The copies come from the npm registry at the exact versions pinned
in `tools/export_assets/package.json` and its lock file (integrity hashes), installed by `npm ci` into
`tools/export_assets/node_modules/` (git-ignored) the first time an export needs them.

- `@jupyter-widgets/html-manager` 1.0.15: the renderer for saved widget state; it bundles the
  `@jupyter-widgets/base` 6 and `@jupyter-widgets/controls` 5 models that ipywidgets 8.1 saves
  (model module version 2.0.0), so those render with no further download.
- `requirejs` 2.3.8: the AMD loader the renderer's `embed-amd.js` build needs.
- `mathjax` 3.2.2: copied only when a notebook holds TeX (`$…$`, `\\(…\\)`, `$$…$$`, text/latex).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS_SOURCE = ROOT / "tools" / "export_assets"
NODE_MODULES = ASSETS_SOURCE / "node_modules"

#: Where the pages find each file, relative to the export folder (the traits nbconvert reads).
ASSETS_DIR = "_assets"
REQUIRE_JS = f"{ASSETS_DIR}/require.js"
WIDGET_RENDERER = f"{ASSETS_DIR}/html-manager/embed-amd.js"
MATHJAX = f"{ASSETS_DIR}/mathjax/tex-svg-full.js"

_FONT_SUFFIXES = {".woff2", ".woff", ".ttf", ".eot", ".svg"}
#: MathJax: the combined TeX-to-SVG component (its fonts are inside it, so no font files) and the
#: parts it may load after start-up (assistive MathML, the lazy/safe helpers, TeX extensions).
_MATHJAX_PARTS = ("tex-svg-full.js", "a11y", "ui", "input/tex/extensions")


_AMD_NAME = re.compile(r'define\("(@jupyter-widgets/[^"]+)"')


class AssetError(RuntimeError):
    """The pinned front-end files are missing and could not be fetched."""


def pinned_versions() -> dict[str, str]:
    """Return the npm packages and exact versions pinned in `tools/export_assets/package.json`."""
    manifest = json.loads((ASSETS_SOURCE / "package.json").read_text())
    return dict(manifest["dependencies"])


def installed_version(package: str) -> str | None:
    """Return the version of `package` installed in node_modules, or None."""
    manifest = NODE_MODULES / package / "package.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text()).get("version")


#: The files copied from each package; a package missing one of them is fetched again.
_NEEDED = {
    "@jupyter-widgets/html-manager": ("dist/embed-amd.js",),
    "requirejs": ("require.js",),
    "mathjax": ("es5/tex-svg-full.js",),
}


def stale_assets() -> list[str]:
    """Return the pinned packages that are missing, incomplete, or at another version than the pin."""
    return [
        f"{name}@{version}"
        for name, version in pinned_versions().items()
        if installed_version(name) != version
        or not all((NODE_MODULES / name / needed).is_file() for needed in _NEEDED.get(name, ()))
    ]


def fetch_assets(*, log=print) -> None:
    """Install the pinned packages with `npm ci` (exact versions and integrity hashes from the lock file).

    Raises:
        AssetError: npm is not installed, or the registry could not be reached.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(
            "npm is needed once to fetch the exported pages' scripts (require.js, the widget renderer): "
            "install Node.js and npm (Debian/Ubuntu: apt-get install nodejs npm), then run make export again"
        )
    missing = ", ".join(stale_assets())
    log(f"export: fetching the pinned front-end files from the npm registry (once): {missing}")
    result = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=ASSETS_SOURCE,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise AssetError(
            "npm ci in tools/export_assets failed (is the npm registry reachable?):\n"
            + (result.stderr or result.stdout).strip()[-2000:]
        )
    still = stale_assets()
    if still:
        raise AssetError(f"npm ci finished but these are still missing: {', '.join(still)}")


def ensure_assets(*, log=print) -> dict[str, str]:
    """Fetch the pinned packages when any is missing or stale; return the pinned versions."""
    if stale_assets():
        fetch_assets(log=log)
    return pinned_versions()


@cache
def amd_paths() -> dict[str, str]:
    """Map the AMD module names `embed-amd.js` defines to files beside it, for `require.config`.

    The renderer computes where its fonts are from the URL requirejs gives its modules (the page's
    folder plus the module name, by default); mapping every name into `_assets/html-manager/` makes
    that the folder holding the fonts.
    """
    script = NODE_MODULES / "@jupyter-widgets" / "html-manager" / "dist" / "embed-amd.js"
    if not script.is_file():
        return {}
    folder = WIDGET_RENDERER.rsplit("/", 1)[0]
    names = sorted(set(_AMD_NAME.findall(script.read_text(encoding="utf-8", errors="replace"))))
    return {name: f"{folder}/{name.rsplit('/', 1)[-1]}" for name in names}


def copy_assets(out: Path, *, mathjax: bool) -> list[str]:
    """Copy what the pages load into `out/_assets/`; return the copied paths, relative to `out`."""
    target = out / ASSETS_DIR
    copied: list[Path] = []

    def put(source: Path, destination: Path) -> None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination)
            copied.extend(p for p in destination.rglob("*") if p.is_file())
        else:
            shutil.copyfile(source, destination)
            copied.append(destination)

    put(NODE_MODULES / "requirejs" / "require.js", out / REQUIRE_JS)
    dist = NODE_MODULES / "@jupyter-widgets" / "html-manager" / "dist"
    put(dist / "embed-amd.js", out / WIDGET_RENDERER)
    # The renderer's stylesheet loads Font Awesome from files beside the script (button icons).
    for font in sorted(dist.iterdir()):
        if font.suffix in _FONT_SUFFIXES:
            put(font, target / "html-manager" / font.name)
    put(dist / "embed.js.LICENSE.txt", target / "html-manager" / "THIRD-PARTY-LICENSES.txt")
    if mathjax:
        es5 = NODE_MODULES / "mathjax" / "es5"
        for part in _MATHJAX_PARTS:
            if (es5 / part).exists():
                put(es5 / part, target / "mathjax" / part)
        put(NODE_MODULES / "mathjax" / "LICENSE", target / "mathjax" / "LICENSE")
    return sorted(p.relative_to(out).as_posix() for p in copied)
