"""A throwaway kit environment: a fresh sandbox on an ephemeral port, with its own `.env`, key pair
and state folder, for everything that runs the notebooks headless (tests, `make notebooks`, exports).

It never touches the person's `.env`, keys, session file or running sandbox: the kit reads the
locations from the variables `kit_environment` returns (see `.env.example` and `helpers.core.config`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGENT_CLIENT_ID = "wlpSandboxAgent00001"
#: The sandbox's origin app (06_origin_app_delegation; sandbox/default.toml), whose token the agent gets.
ORIGIN_CLIENT_ID = "0oaOriginWebApp00001"


def kit_environment(
    org_url: str, home: Path, *, api_token: str | None = None, ca_bundle: Path | None = None
) -> dict[str, str]:
    """Return the variables that point the kit at `org_url`, with its files under `home`.

    Args:
        api_token: the sandbox's System Log API token (`OKTA_API_TOKEN`), so notebooks can show
            the server's events; never printed.
        ca_bundle: the CA certificate the kit trusts (`KIT_CA_BUNDLE`), for a sandbox serving HTTPS.
    """
    # `home` plays the project root: `.env`, `.keys/` and `.kit/` sit where they would in a checkout,
    # so the notebooks' outputs show the same relative paths a reader sees.
    environ = {
        "KIT_HOME": str(home),
        "KIT_ENV_FILE": str(home / ".env"),
        "KIT_STATE_DIR": str(home / ".kit"),
        "KIT_HEADLESS": "true",
        "KIT_REDACT": "true",
        "OKTA_ORG_URL": org_url,
        "OKTA_AUTH_SERVER_ID": "default",
        "AGENT_CLIENT_ID": AGENT_CLIENT_ID,
        "AGENT_PRIVATE_KEY_FILE": ".keys/agent.pem",
        "AGENT_PUBLIC_JWKS_FILE": ".keys/agent.jwks.json",
        "API_URL": f"{org_url}/todo-api/todos",
        # The origin app of notebook 06 (its secret is set from the sandbox's configuration).
        "ORIGIN_CLIENT_ID": ORIGIN_CLIENT_ID,
        "ORIGIN_AUTH_SERVER_ID": "default",
        "AGENT_RESOURCE_URL": f"{org_url}/agents/sandbox-agent",
        # Nothing may open a browser or wait on a person during a headless run.
        "BROWSER": "true",
    }
    if api_token:
        environ["OKTA_API_TOKEN"] = api_token
    if ca_bundle is not None:
        environ["KIT_CA_BUNDLE"] = str(ca_bundle)
    return environ


def free_port(preferred: int) -> int:
    """Return `preferred` if nothing listens on it at 127.0.0.1, else 0 (an ephemeral port)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            return 0
    return preferred


def start_throwaway_kit(*, port: int = 0, alg: str = "RS256", tls: bool = False):
    """Start a sandbox for headless notebook runs; return it with `.home` and `.environ` set.

    Args:
        port: 0 for an ephemeral port (tests), or a port to try first (falls back to ephemeral).
        tls: serve HTTPS, as an Okta org is reached (`.environ` then sets KIT_CA_BUNDLE to its CA).
            That is Okta mode for the kit: its sign-in needs a browser (KIT_HEADLESS=false).
    """
    port = free_port(port) if port else 0
    from helpers.core.keys import ensure_agent_key
    from sandbox.testing import start_sandbox

    home = Path(tempfile.mkdtemp(prefix="kit-run-"))
    shutil.copyfile(ROOT / ".env.example", home / ".env")
    os.chmod(home / ".env", 0o600)
    keys = home / ".keys"
    ensure_agent_key(keys / "agent.pem", keys / "agent.jwks.json", alg=alg)
    shutil.copyfile(ROOT / ".env.example", home / ".env.example")
    sandbox = start_sandbox(
        # The default configuration reads the agent's JWKS from `.keys/agent.jwks.json` under base_dir.
        data_dir=home / ".sandbox",
        base_dir=home,
        port=port,
        tls=tls,
    )
    sandbox.home = home
    sandbox.environ = kit_environment(
        sandbox.url, home, api_token=sandbox.api_token, ca_bundle=sandbox.ca_file
    )
    if sandbox.served.mcp_url:
        # The MCP server of notebook 07 (sandbox/mcp_server.py): its URL is its resource identifier.
        sandbox.environ["MCP_SERVER_URL"] = sandbox.served.mcp_url
    origin = sandbox.config.clients.get(ORIGIN_CLIENT_ID)
    if origin is not None and origin.client_secret:
        # A secret: the export's scan knows it (a variable named *CLIENT_SECRET) and refuses to publish it.
        sandbox.environ["ORIGIN_CLIENT_SECRET"] = origin.client_secret
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
