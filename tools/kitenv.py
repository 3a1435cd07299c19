"""A throwaway kit environment: a fresh sandbox on an ephemeral port, with its own `.env`, key pair
and state folder, for everything that runs the notebooks headless (tests, `make notebooks`, exports).

It never touches the person's `.env`, keys, session file or running sandbox: the kit reads the
locations from the variables `kit_environment` returns (see `.env.example` and `helpers.config`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGENT_CLIENT_ID = "wlpSandboxAgent00001"


def kit_environment(org_url: str, home: Path) -> dict[str, str]:
    """Return the variables that point the kit at `org_url`, with its files under `home`."""
    return {
        "KIT_HOME": str(ROOT),
        "KIT_ENV_FILE": str(home / ".env"),
        "KIT_STATE_DIR": str(home / "state"),
        "KIT_HEADLESS": "true",
        "KIT_REDACT": "true",
        "OKTA_ORG_URL": org_url,
        "OKTA_AUTH_SERVER_ID": "default",
        "AGENT_CLIENT_ID": AGENT_CLIENT_ID,
        "AGENT_PRIVATE_KEY_FILE": str(home / "keys" / "agent.pem"),
        "AGENT_PUBLIC_JWKS_FILE": str(home / "keys" / "agent.jwks.json"),
        "API_URL": f"{org_url}/todo-api/todos",
        # Nothing may open a browser or wait on a person during a headless run.
        "BROWSER": "true",
    }


def start_throwaway_kit(*, port: int = 0, alg: str = "RS256"):
    """Start a sandbox for headless notebook runs; return it with `.home` and `.environ` set."""
    from helpers.keys import ensure_agent_key
    from sandbox.testing import start_sandbox

    home = Path(tempfile.mkdtemp(prefix="kit-run-"))
    shutil.copyfile(ROOT / ".env.example", home / ".env")
    os.chmod(home / ".env", 0o600)
    keys = home / "keys"
    ensure_agent_key(keys / "agent.pem", keys / "agent.jwks.json", alg=alg)
    sandbox = start_sandbox(
        data_dir=home / "sandbox-data",
        base_dir=home,
        port=port,
        overrides={"clients": {AGENT_CLIENT_ID: {"jwks_file": str(keys / "agent.jwks.json")}}},
    )
    sandbox.home = home
    sandbox.environ = kit_environment(sandbox.url, home)
    return sandbox


def stop_throwaway_kit(sandbox) -> None:
    """Stop the sandbox and delete its folder (keys, session file, logs)."""
    sandbox.stop()
    shutil.rmtree(sandbox.home, ignore_errors=True)


@contextmanager
def throwaway_kit(**kwargs):
    """Run the body with the process environment pointed at a throwaway kit; restore it after."""
    saved = dict(os.environ)
    sandbox = start_throwaway_kit(**kwargs)
    os.environ.update(sandbox.environ)
    try:
        yield sandbox
    finally:
        os.environ.clear()
        os.environ.update(saved)
        stop_throwaway_kit(sandbox)
