"""Prepare and start the kit: `.env`, the agent's key pair, the sandbox, JupyterLab on the learner's copies.

Called by `make lab`, `make sandbox` and `make sandbox-start`. Starting the sandbox is the helpers' job
(`helpers.local_sandbox`, the same code a notebook opened without `make lab` runs): it writes the agent's
public JWKS where the sandbox's configuration reads it, starts the sandbox as a separate process with the
person's data folder (`<KIT_HOME>/.sandbox`), and checks that a sandbox already answering is theirs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.core.config import API_TOKEN_VAR, load_settings  # noqa: E402
from helpers.core.errors import LocalSandboxError  # noqa: E402
from helpers.core.keys import ensure_agent_key  # noqa: E402
from helpers.sandbox_client.local_sandbox import (  # noqa: E402
    data_dir_for,
    ensure_local_sandbox,
    sandbox_command,
    sandbox_port,
)
from helpers.sandbox_client.local_sandbox import write_api_token as save_api_token  # noqa: E402
from sandbox.system_log import ensure_api_token  # noqa: E402


def ensure_env_file() -> Path:
    """Create `.env` from `.env.example` when it is missing; never overwrite it."""
    env_file = Path(os.environ.get("KIT_ENV_FILE", ROOT / ".env"))
    if not env_file.exists():
        shutil.copyfile(ROOT / ".env.example", env_file)
        os.chmod(env_file, 0o600)
        shown = env_file.relative_to(ROOT) if env_file.is_relative_to(ROOT) else env_file
        print(f"created {shown} from .env.example")
    return env_file


def prepare() -> tuple[object, int | None]:
    """Make sure `.env` and the agent's key pair exist; return the settings and the sandbox port."""
    ensure_env_file()
    settings = load_settings()
    key, created = ensure_agent_key(
        settings.agent_private_key_file,
        settings.agent_public_jwks_file,
        alg=settings.agent_key_alg,
        kid=settings.agent_key_id or None,
    )
    state = "created" if created else "found"
    print(f"agent key {state}: {key.alg}, kid {key.kid}")
    print(f"public JWKS (what the org registers): {settings.agent_public_jwks_file}")
    return settings, sandbox_port(settings.org_url)


#: The learner's own copies of the notebooks: git-ignored, never overwritten once made.
LAB_DIR = ROOT / "lab"
#: JupyterLab settings the kit sets for itself: no news or update checks (the kit works offline, and
#: their toast covers the outputs).
LAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


def learner_copies(source: Path = ROOT / "notebooks", target: Path = LAB_DIR) -> list[str]:
    """Copy each tracked notebook missing from `target`; never overwrite one. Return the names copied.

    The learner runs and edits the copies; the tracked notebooks keep the stored outputs that readers
    see and `make test` compares, and only `make notebooks` rewrites them.
    """
    target.mkdir(exist_ok=True)
    copied = []
    for notebook in sorted(source.glob("[0-9][0-9]_*.ipynb")):
        copy = target / notebook.name
        if not copy.exists():
            shutil.copyfile(notebook, copy)
            copied.append(notebook.name)
    return copied


def write_lab_overrides(prefix: Path = Path(sys.prefix)) -> Path:
    """Write the kit's JupyterLab settings into the environment's app settings (`overrides.json`)."""
    path = prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(path.read_text()) if path.exists() else {}
    current.update(LAB_OVERRIDES)
    path.write_text(json.dumps(current, indent=2) + "\n")
    return path


def write_api_token(settings: object) -> object:
    """Put the sandbox's System Log API token into `.env` as OKTA_API_TOKEN (never printed); return
    the settings with it."""
    token = ensure_api_token(data_dir_for(settings))
    env_file = settings.env_file
    shown = env_file.relative_to(ROOT) if env_file.is_relative_to(ROOT) else env_file
    if os.environ.get(API_TOKEN_VAR) not in (None, "", token):
        print(f"note: {API_TOKEN_VAR} is set in your environment and wins over {shown}")
    if settings.okta_api_token == token:
        print(f"{API_TOKEN_VAR} in {shown}: the sandbox's System Log API token")
        return settings
    settings, _, _ = save_api_token(settings, token)
    print(f"{API_TOKEN_VAR} written to {shown}: the sandbox's System Log API token (python -m sandbox token)")
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["lab", "sandbox", "sandbox-start", "prepare"])
    args, rest = parser.parse_known_args(argv)

    settings, port = prepare()
    org_url = settings.org_url
    if port is not None:
        settings = write_api_token(settings)
    if args.command == "prepare":
        return 0
    if args.command == "sandbox":
        if port is None:
            raise SystemExit(
                f"OKTA_ORG_URL is {org_url}, not a local sandbox URL; set it to http://127.0.0.1:8400"
            )
        command = sandbox_command(settings, "serve")
        os.execv(command[0], command)
    if port is not None:
        try:
            local = ensure_local_sandbox(settings)
        except LocalSandboxError as exc:
            raise SystemExit(f"make lab: {exc}") from None
        if local.state == "running":
            print(f"sandbox already answering at {org_url}")
    else:
        print(f"org URL {org_url} is not local: using your Okta org, no sandbox started")
    if args.command == "sandbox-start":
        return 0
    copied = learner_copies()
    if copied:
        print(f"copied to lab/, your copies (git ignores them): {', '.join(copied)}")
    print("your notebooks: lab/ (make lab never overwrites them; delete one to start it afresh)")
    write_lab_overrides()
    jupyter = Path(sys.executable).with_name("jupyter")
    command = [str(jupyter), "lab", f"--notebook-dir={LAB_DIR}", *rest]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in rest:
        command.append("--allow-root")  # containers often run as root; JupyterLab refuses otherwise
    print("starting JupyterLab:", " ".join(command[1:]))
    os.execv(command[0], command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
