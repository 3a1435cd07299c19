"""`make lab` prepares the learner's own notebook copies, the kit's JupyterLab settings, and LAB_ARGS."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tools.lab import LAB_OVERRIDES, learner_copies, write_lab_overrides

ROOT = Path(__file__).resolve().parent.parent


def test_make_lab_copies_missing_notebooks_and_never_overwrites_a_learners_copy(tmp_path):
    source = tmp_path / "notebooks"
    source.mkdir()
    for name in ("00_a.ipynb", "01_b.ipynb", "notes.txt"):
        (source / name).write_text(f"tracked {name}")
    lab = tmp_path / "lab"
    assert learner_copies(source, lab) == ["00_a.ipynb", "01_b.ipynb"]
    (lab / "00_a.ipynb").write_text("my own run")
    (lab / "01_b.ipynb").unlink()  # deleted by the learner: copied afresh next time
    assert learner_copies(source, lab) == ["01_b.ipynb"]
    assert (lab / "00_a.ipynb").read_text() == "my own run"
    assert sorted(p.name for p in lab.iterdir()) == ["00_a.ipynb", "01_b.ipynb"]


def test_the_learners_copies_are_ignored_by_git():
    assert subprocess.run(["git", "check-ignore", "-q", "lab/00_configure.ipynb"], cwd=ROOT).returncode == 0


def test_the_kit_turns_off_jupyterlabs_news_and_update_toasts_and_keeps_other_overrides(tmp_path):
    path = tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}}))
    assert write_lab_overrides(tmp_path) == path
    written = json.loads(path.read_text())
    assert written["@jupyterlab/apputils-extension:notification"] == {
        "fetchNews": "false",
        "checkForUpdates": False,
    }
    assert written["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}
    assert set(LAB_OVERRIDES) <= set(written)


def test_make_lab_passes_lab_args_to_jupyterlab():
    dry = subprocess.run(
        ["make", "-n", "lab", "LAB_ARGS=--no-browser --port 8890"], cwd=ROOT, capture_output=True, text=True
    )
    assert "tools/lab.py lab --no-browser --port 8890" in dry.stdout, dry.stdout + dry.stderr
