"""Start one person's Jupyter server in a training room: their own copy of the kit, then the server.

The hub's spawner runs this (`c.Spawner.cmd` in `jupyterhub_config.py`) as the person, with the Python of
the kit's environment. It

1. makes everything the person creates private (umask 077: keys, `.env`, session file, sandbox data);
2. creates their kit folder (`KIT_HOME`, default `~/agentic-token-exchange-kit`, mode 0700) on first
   start: `notebooks/` copied from the kit (or from the folder `KIT_ROOM_NOTEBOOKS` names, e.g. the blank
   `exercises/` of `make exercises`), `README.md`, `.env.example`, and `.env` made from it (mode 0600).
   Later starts add notebooks that are missing and never overwrite the person's own;
3. runs `python -m jupyterhub.singleuser` (arguments passed on) with the kit folder as its root, and
   passes SIGTERM and SIGINT on to it;
4. when the server ends (stopped from the hub, culled when idle), stops the person's sandbox, which the
   helpers started in the background on the first notebook (helpers.sandbox_client.local_sandbox).

Everything the kit itself needs (the per-person OKTA_ORG_URL and REDIRECT_URI, KIT_BROWSER_BASE_URL,
KIT_SANDBOX) comes from the spawner's environment; see `jupyterhub_config.py`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

KIT_DIR = Path(__file__).resolve().parents[2]
DEFAULT_FOLDER = "agentic-token-exchange-kit"


def kit_home() -> Path:
    """Return the person's kit folder: KIT_HOME, else `~/agentic-token-exchange-kit`."""
    if os.environ.get("KIT_HOME"):
        return Path(os.environ["KIT_HOME"]).expanduser()
    return Path.home() / DEFAULT_FOLDER


def notebooks_source() -> Path:
    """Return the folder whose notebooks each person gets: `notebooks/`, or KIT_ROOM_NOTEBOOKS."""
    name = os.environ.get("KIT_ROOM_NOTEBOOKS", "notebooks")
    source = Path(name) if Path(name).is_absolute() else KIT_DIR / name
    if not source.is_dir():
        raise SystemExit(
            f'KIT_ROOM_NOTEBOOKS is "{name}", expected a folder of notebooks ({source} is missing)'
        )
    return source


def prepare_home(home: Path) -> list[str]:
    """Create or complete the person's kit folder; return the names of the files added."""
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    added: list[str] = []
    notebooks = home / "notebooks"
    notebooks.mkdir(exist_ok=True)
    for source in sorted(notebooks_source().glob("*.ipynb")):
        target = notebooks / source.name
        if not target.exists():
            shutil.copyfile(source, target)
            added.append(f"notebooks/{source.name}")
    for name in ("README.md", ".env.example"):
        target = home / name
        if not target.exists() and (KIT_DIR / name).is_file():
            shutil.copyfile(KIT_DIR / name, target)
            added.append(name)
    env_file = home / ".env"
    if not env_file.exists():
        shutil.copyfile(KIT_DIR / ".env.example", env_file)
        os.chmod(env_file, 0o600)
        added.append(".env")
    return added


def stop_sandbox(home: Path) -> None:
    """Stop the person's background sandbox, if the helpers started one."""
    if not (home / ".sandbox" / "sandbox.pid").exists():
        return
    subprocess.run(  # noqa: S603 - our interpreter and module, no shell
        [sys.executable, "-m", "sandbox", "stop", "--data-dir", str(home / ".sandbox")],
        cwd=home,
        check=False,
        timeout=30,
    )


def main(argv: list[str]) -> int:
    """Prepare the kit folder, run the single-user server until it ends, then stop the sandbox."""
    os.umask(0o077)
    home = kit_home()
    added = prepare_home(home)
    if added:
        print(f"kit folder {home}: added {', '.join(added)}", flush=True)
    environ = dict(os.environ)
    environ.setdefault("KIT_HOME", str(home))
    environ.setdefault("KIT_ENV_FILE", str(home / ".env"))
    environ.setdefault("KIT_STATE_DIR", str(home / ".kit"))
    environ["JUPYTERHUB_ROOT_DIR"] = str(home)
    server = subprocess.Popen(  # noqa: S603 - our interpreter and the hub's own module
        [sys.executable, "-m", "jupyterhub.singleuser", *argv], cwd=home, env=environ
    )

    def pass_on(signum: int, frame: object) -> None:
        server.send_signal(signum)

    signal.signal(signal.SIGTERM, pass_on)
    signal.signal(signal.SIGINT, pass_on)
    try:
        return server.wait()
    finally:
        stop_sandbox(home)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
