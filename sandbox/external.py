"""Step 8 (notebook 08): external resource authorization servers: ID-JAGs for an issuer not hosted here.

- draft-ietf-oauth-identity-assertion-authz-grant-04 §4.3 (`audience` is the issuer of the target
  authorization server), §3.1 (`aud` of the ID-JAG: that issuer), §6 (the IdP keeps, per client and
  resource authorization server, what it may issue)
- Okta "Set up AI agent token exchange" (2026.08): a resource connection names the resource app and
  the scopes the agent may get for it; the app's own authorization server may live anywhere.

A resource connection whose `audience` is an issuer URL (not `authorization_server`) lets a client get
ID-JAGs for a resource authorization server running elsewhere: a learner's server on another port,
a SaaS API, an MCP server. That server finds the org's keys as it would at Okta: the org's discovery
document (`{org}/.well-known/openid-configuration`), then its `jwks_uri`.

Connections come from the configuration, or are added to a running sandbox through the admin API
(sandbox/admin.py, `python -m sandbox connect`); the ones added at run time live in memory only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .config import ResourceConnection, new_external_connection

__all__ = ["new_external_connection", "RuntimeConnections", "ExternalTarget", "external_target"]

if TYPE_CHECKING:
    from .core import Sandbox


class RuntimeConnections:
    """The external resource connections added to a running sandbox (admin API), by name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, ResourceConnection] = {}

    def put(self, connection: ResourceConnection) -> bool:
        """Add or replace a connection; return True when it is new."""
        with self._lock:
            new = connection.name not in self._by_name
            self._by_name[connection.name] = connection
            return new

    def remove(self, name: str) -> bool:
        """Remove a connection by name; return False when there was none."""
        with self._lock:
            return self._by_name.pop(name, None) is not None

    def all(self) -> list[ResourceConnection]:
        """Every connection added at run time, oldest first."""
        with self._lock:
            return list(self._by_name.values())


def runtime_connections(sandbox: Sandbox) -> RuntimeConnections:
    """Return the connections added at run time to this sandbox instance (kept on the instance)."""
    return sandbox.runtime_connections


def all_connections(sandbox: Sandbox) -> list[ResourceConnection]:
    """The configured resource connections, then those added at run time."""
    return list(sandbox.config.connections) + runtime_connections(sandbox).all()


@dataclass(frozen=True)
class ExternalTarget:
    """An external resource authorization server, as the org server knows it from its connections."""

    issuer: str
    connections: tuple[ResourceConnection, ...]

    @property
    def id(self) -> str:
        """What events and refusals name the target by: its issuer."""
        return self.issuer

    @property
    def scopes(self) -> frozenset[str]:
        """Every scope some connection grants for this server: the scopes the org knows it has."""
        return frozenset(s for c in self.connections for s in c.scopes)

    @property
    def resources(self) -> list[str]:
        """The RFC 8707 resource identifiers its connections name."""
        return list(dict.fromkeys(r for c in self.connections for r in c.resources))

    def connections_for(self, client_id: str) -> list[ResourceConnection]:
        """The connections letting `client_id` get ID-JAGs for this server."""
        return [c for c in self.connections if c.client_id == client_id]


def external_target(sandbox: Sandbox, audience: str) -> ExternalTarget | None:
    """Return the external server whose issuer is exactly `audience`, or None if no connection names it."""
    hosted = audience == sandbox.issuer or sandbox.server_by_issuer(audience) is not None
    connections = tuple(c for c in all_connections(sandbox) if c.is_external and c.audience == audience)
    if hosted or not connections:
        return None
    return ExternalTarget(issuer=audience, connections=connections)


def describe(connections: Iterable[ResourceConnection]) -> list[dict[str, Any]]:
    """The connections as JSON objects (the admin API's answer)."""
    return [
        {
            "name": c.name,
            "client_id": c.client_id,
            "audience": c.audience,
            "authorization_server": c.authorization_server,
            "scopes": list(c.scopes),
            "resources": list(c.resources),
        }
        for c in connections
    ]
