"""JupyterHub configuration for a training room: each person gets the kit's notebooks and their own sandbox.

Use it as the hub's configuration (`jupyterhub -f deploy/jupyterhub/jupyterhub_config.py`), or on The
Littlest JupyterHub as a file of `/opt/tljh/config/jupyterhub_config.d/` (it only adds to what is
configured before it: the authenticator, TLS and the spawner class stay the platform's). README.md,
"A training room on JupyterHub", walks a trainer through both, and Kubernetes.

What it sets up, per person:

- their own single-user server started by `kit_singleuser.py` with the Python of the kit's environment
  (every person must be able to run it: install the kit outside /root, e.g. in /opt/agentic-kit): a
  private copy of the notebooks in `~/agentic-token-exchange-kit`, umask 077;
- their own sandbox ports: OKTA_ORG_URL = `http://127.0.0.1:{base + 2 × hub user id}` and REDIRECT_URI
  = `http://127.0.0.1:{base + 2 × id + 1}/callback` (base: KIT_ROOM_BASE_PORT, 20000). Hub user ids are
  unique, so two people never share a port; keep base + 2 × (number of users) below the ephemeral range
  (`/proc/sys/net/ipv4/ip_local_port_range`, 32768 on Linux) where servers and kernels take theirs. The
  first notebook starts the sandbox (helpers.local_sandbox) and KIT_SANDBOX=own makes a sandbox on that
  port that is not the person's an error, never a silent mix-up;
- the front channel: KIT_BROWSER_BASE_URL=auto sends the browser through jupyter-server-proxy
  (`{hub}/user/{name}/proxy/{port}/…`) for the sign-in page and the redirect back to the notebook; it
  needs the hub's public URL (KIT_ROOM_PUBLIC_URL, here `c.JupyterHub.public_url`);
- idle culling with jupyterhub-idle-culler (KIT_ROOM_IDLE_TIMEOUT seconds, 0: off) unless a culler is
  already configured (The Littlest JupyterHub has its own); a culled server stops its sandbox too.

Settings, from the hub's environment: KIT_ROOM_KIT_DIR (the kit, default: two folders up from this file),
KIT_ROOM_PYTHON (default: the kit's .venv/bin/python), KIT_ROOM_PUBLIC_URL, KIT_ROOM_BASE_PORT,
KIT_ROOM_IDLE_TIMEOUT (default 3600), KIT_ROOM_NOTEBOOKS (default `notebooks`; `exercises` for the blank
copies `make exercises` writes).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

c = get_config()  # noqa: F821 - JupyterHub's configuration loader defines get_config

KIT_DIR = Path(os.environ.get("KIT_ROOM_KIT_DIR", Path(__file__).resolve().parents[2]))
KIT_PYTHON = os.environ.get("KIT_ROOM_PYTHON", str(KIT_DIR / ".venv" / "bin" / "python"))
BASE_PORT = int(os.environ.get("KIT_ROOM_BASE_PORT", "20000"))
IDLE_TIMEOUT = int(os.environ.get("KIT_ROOM_IDLE_TIMEOUT", "3600"))
PUBLIC_URL = os.environ.get("KIT_ROOM_PUBLIC_URL", "")
NOTEBOOKS = os.environ.get("KIT_ROOM_NOTEBOOKS", "notebooks")
PROXY = KIT_DIR / "deploy" / "jupyterhub" / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"


def sandbox_port(spawner: Any) -> int:
    """The person's sandbox port: unique per hub user id."""
    return BASE_PORT + 2 * int(spawner.user.id)


def listener_port(spawner: Any) -> int:
    """The port of the notebook's redirect listener, next to the sandbox's."""
    return sandbox_port(spawner) + 1


def kit_environment() -> dict[str, Any]:
    """The variables every person's server starts with (callables are evaluated per person)."""
    return {
        "OKTA_ORG_URL": lambda spawner: f"http://127.0.0.1:{sandbox_port(spawner)}",
        "REDIRECT_URI": lambda spawner: f"http://127.0.0.1:{listener_port(spawner)}/callback",
        # The browser is not on this machine: sign-in page and redirect through jupyter-server-proxy.
        "KIT_BROWSER_BASE_URL": "auto",
        # A sandbox on the person's port that is not theirs is an error (helpers.local_sandbox).
        "KIT_SANDBOX": "own",
        "KIT_ROOM_NOTEBOOKS": NOTEBOOKS,
        "PATH": os.pathsep.join([str(Path(KIT_PYTHON).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
    }


c.Spawner.cmd = [KIT_PYTHON, str(KIT_DIR / "deploy" / "jupyterhub" / "kit_singleuser.py")]
c.Spawner.environment.update(kit_environment())
c.Spawner.default_url = "/lab/tree/notebooks/00_configure.ipynb"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120

if PUBLIC_URL:
    c.JupyterHub.public_url = PUBLIC_URL
elif "public_url" not in c.JupyterHub:
    print(
        "agentic-kit room: no public URL (set KIT_ROOM_PUBLIC_URL, e.g. https://kit.example.org): the "
        "notebooks cannot send the browser to the sandbox's sign-in page, and will say so",
        file=sys.stderr,
    )

# The proxy the kit pins (deploy/jupyterhub/proxy: `npm ci` there), unless the platform brings its own.
if PROXY.exists() and "command" not in c.ConfigurableHTTPProxy:
    c.ConfigurableHTTPProxy.command = [str(PROXY)]

_services = c.JupyterHub.services if "services" in c.JupyterHub else []
_culling = any("cull" in str(service.get("name", "")) for service in _services)
if IDLE_TIMEOUT > 0 and not _culling and importlib.util.find_spec("jupyterhub_idle_culler"):
    c.JupyterHub.services = [
        *_services,
        {
            "name": "kit-idle-culler",
            "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={IDLE_TIMEOUT}"],
        },
    ]
    _roles = c.JupyterHub.load_roles if "load_roles" in c.JupyterHub else []
    c.JupyterHub.load_roles = [
        *_roles,
        {
            "name": "kit-idle-culler",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": ["kit-idle-culler"],
        },
    ]
