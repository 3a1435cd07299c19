"""On a JupyterHub the browser is not on the kernel's machine: where it reaches this Jupyter server.

The front channel (the browser's sign-in page and redirect) goes through jupyter-server-proxy at
`{KIT_BROWSER_BASE_URL}/proxy/{port}/…`; the back channel (the kernel's own requests) keeps the
loopback URLs. JupyterHub sets JUPYTERHUB_SERVICE_PREFIX in each person's server, and
JUPYTERHUB_PUBLIC_URL when the hub is configured with `c.JupyterHub.public_url`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import ConfigError, field_problem

#: Where the browser reaches this Jupyter server when it is not on the kernel's machine (a JupyterHub):
#: empty (the browser is here: front channel = back channel), "auto" (on a JupyterHub: its public URL
#: of this server, JUPYTERHUB_PUBLIC_URL, else JUPYTERHUB_HOST + JUPYTERHUB_SERVICE_PREFIX), or that URL,
#: e.g. https://hub.example.org/user/alice. When set, the browser's sign-in page and redirect URI go
#: through jupyter-server-proxy (`{this}/proxy/{port}/…`); the kernel keeps the loopback URLs.
BROWSER_BASE_URL_VAR = "KIT_BROWSER_BASE_URL"


def resolve_browser_base_url(value: str, environ: Mapping[str, str] | None = None) -> str:
    """Return the URL the browser reaches this Jupyter server at, for KIT_BROWSER_BASE_URL `value`.

    "" stays "" (no front channel). "auto" is "" off a hub (no JUPYTERHUB_SERVICE_PREFIX), else the
    hub's public URL of this server (JUPYTERHUB_PUBLIC_URL, or JUPYTERHUB_HOST + the prefix). Any
    other value is taken as given. Trailing slashes are dropped.

    Raises:
        ConfigError: "auto" on a hub that does not say its public address.
    """
    environ = os.environ if environ is None else environ
    value = value.strip()
    if value.lower() != "auto":
        return value.rstrip("/")
    prefix = environ.get("JUPYTERHUB_SERVICE_PREFIX", "")
    if not prefix:
        return ""
    if environ.get("JUPYTERHUB_PUBLIC_URL"):
        return environ["JUPYTERHUB_PUBLIC_URL"].rstrip("/")
    host = environ.get("JUPYTERHUB_HOST", "")
    if host.startswith(("http://", "https://")):
        return (host.rstrip("/") + "/" + prefix.strip("/")).rstrip("/")
    problem = field_problem(
        BROWSER_BASE_URL_VAR,
        value,
        "a hub that sets JUPYTERHUB_PUBLIC_URL (c.JupyterHub.public_url), or the address your browser "
        f"uses for this server instead of auto, e.g. https://hub.example.org{prefix.rstrip('/')}",
    )
    raise ConfigError(problem, problems=[problem])
