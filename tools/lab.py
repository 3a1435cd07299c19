"""Prepare and start the kit: `.env`, the agent's key pair, the sandbox, JupyterLab.

Called by `make lab`, `make sandbox` and `make sandbox-start`. This is one of the few places where the
client side (`helpers`) and the sandbox meet (DESIGN.md): it writes the agent's public JWKS where the
sandbox's configuration reads it, and starts the sandbox as a separate process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.config import API_TOKEN_VAR, load_settings, save_settings  # noqa: E402
from helpers.keys import ensure_agent_key  # noqa: E402
from sandbox.system_log import ensure_api_token  # noqa: E402

SANDBOX_DATA_DIR = ROOT / ".sandbox"


def ensure_env_file() -> Path:
    """Create `.env` from `.env.example` when it is missing; never overwrite it."""
    env_file = Path(os.environ.get("KIT_ENV_FILE", ROOT / ".env"))
    if not env_file.exists():
        shutil.copyfile(ROOT / ".env.example", env_file)
        os.chmod(env_file, 0o600)
        shown = env_file.relative_to(ROOT) if env_file.is_relative_to(ROOT) else env_file
        print(f"created {shown} from .env.example")
    return env_file


def answers(url: str, timeout: float = 1.0) -> bool:
    """Return whether an authorization server answers its discovery document at `url`."""
    try:
        with urllib.request.urlopen(f"{url}/.well-known/openid-configuration", timeout=timeout) as response:  # noqa: S310
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def sandbox_port(org_url: str) -> int | None:
    """Return the port of a loopback sandbox org URL, or None when the org is elsewhere (Okta)."""
    parts = urlsplit(org_url)
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return parts.port or 80
    return None


def sandbox_args(port: int) -> list[str]:
    return ["--port", str(port), "--data-dir", str(SANDBOX_DATA_DIR), "--base-dir", str(ROOT)]


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


def write_api_token(settings: object) -> None:
    """Put the sandbox's System Log API token into `.env` as OKTA_API_TOKEN (never printed)."""
    token = ensure_api_token(SANDBOX_DATA_DIR)
    env_file = settings.env_file
    shown = env_file.relative_to(ROOT) if env_file.is_relative_to(ROOT) else env_file
    if os.environ.get(API_TOKEN_VAR) not in (None, "", token):
        print(f"note: {API_TOKEN_VAR} is set in your environment and wins over {shown}")
    if settings.okta_api_token == token:
        print(f"{API_TOKEN_VAR} in {shown}: the sandbox's System Log API token")
        return
    save_settings({API_TOKEN_VAR: token}, env_file)
    print(f"{API_TOKEN_VAR} written to {shown}: the sandbox's System Log API token (python -m sandbox token)")


def check_api_token(org_url: str) -> None:
    """Warn when the sandbox answering at `org_url` does not accept the data folder's API token."""
    request = urllib.request.Request(  # noqa: S310 - the loopback sandbox's own URL
        f"{org_url}/api/v1/logs?limit=1",
        headers={"Authorization": f"SSWS {ensure_api_token(SANDBOX_DATA_DIR)}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=2):  # noqa: S310
            return
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            print(
                f"warning: the sandbox at {org_url} was not started from {SANDBOX_DATA_DIR} and refuses its "
                f"API token; stop it (python -m sandbox stop) so the notebooks can read its System Log"
            )
    except (urllib.error.URLError, OSError):
        return


def start_sandbox(org_url: str, port: int) -> None:
    """Start the sandbox in the background unless something already answers at the org URL."""
    if answers(org_url):
        print(f"sandbox already answering at {org_url}")
        return
    subprocess.run([sys.executable, "-m", "sandbox", "start", *sandbox_args(port)], check=True, cwd=ROOT)
    deadline = time.monotonic() + 20
    while not answers(org_url):
        if time.monotonic() > deadline:
            raise SystemExit(f"the sandbox did not answer at {org_url}; see {SANDBOX_DATA_DIR}/sandbox.log")
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["lab", "sandbox", "sandbox-start", "prepare"])
    args, rest = parser.parse_known_args(argv)

    settings, port = prepare()
    org_url = settings.org_url
    if port is not None:
        write_api_token(settings)
    if args.command == "prepare":
        return 0
    if args.command == "sandbox":
        if port is None:
            raise SystemExit(
                f"OKTA_ORG_URL is {org_url}, not a local sandbox URL; set it to http://127.0.0.1:8400"
            )
        os.execv(sys.executable, [sys.executable, "-m", "sandbox", "serve", *sandbox_args(port)])
    if port is not None:
        start_sandbox(org_url, port)
        check_api_token(org_url)
    else:
        print(f"org URL {org_url} is not local: using your Okta org, no sandbox started")
    if args.command == "sandbox-start":
        return 0
    jupyter = Path(sys.executable).with_name("jupyter")
    command = [str(jupyter), "lab", f"--notebook-dir={ROOT / 'notebooks'}", *rest]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in rest:
        command.append("--allow-root")  # containers often run as root; JupyterLab refuses otherwise
    print("starting JupyterLab:", " ".join(command[1:]))
    os.execv(command[0], command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
