"""External resource authorization servers: ID-JAGs for an issuer the sandbox does not host.

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

import re
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .config import Client, ConfigError, ResourceConnection
from .constants import OIDC_SCOPES

if TYPE_CHECKING:
    from .core import Sandbox

#: A connection name: letters, digits, dot, dash, underscore (it appears in URLs of the admin API).
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: A scope token (RFC 6749 §3.3: printable ASCII without space, double quote or backslash).
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}")


def check_issuer_url(value: Any, where: str) -> str:
    """Return `value` if it can be an external issuer URL; raise ConfigError naming `where` otherwise."""
    if not isinstance(value, str) or not value or len(value) > 512 or any(c.isspace() for c in value):
        raise ConfigError(f'{where} is {value!r}, expected an issuer URL such as "http://127.0.0.1:9000"')
    if value.startswith("{org}"):
        raise ConfigError(
            f'{where} is "{value}": an issuer of the sandbox itself; name a custom server with '
            "authorization_server instead"
        )
    parts = urlsplit(value)
    # RFC 8414 §2: the issuer is an https URL (http allowed here for loopback) with no query or fragment.
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f'{where} is "{value}", expected an absolute http(s) URL')
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ConfigError(f'{where} is "{value}", expected no query or fragment (RFC 8414 §2)')
    return value


def check_scopes(values: Any, where: str) -> tuple[str, ...]:
    """Return the scopes as a tuple; raise ConfigError for an empty list, a bad token or an OIDC scope."""
    if isinstance(values, str):
        values = values.split()
    if not isinstance(values, (list, tuple)) or not values:
        raise ConfigError(f"{where} is {values!r}, expected a non-empty list of scopes")
    for scope in values:
        if not isinstance(scope, str) or not _SCOPE.fullmatch(scope):
            raise ConfigError(f"{where} has {scope!r}, expected a scope token (RFC 6749 §3.3)")
        if scope in OIDC_SCOPES:
            # Okta refuses OpenID scopes in a token exchange (openid_not_allowed_token_exchange).
            raise ConfigError(f'{where} has "{scope}": OpenID scopes are never granted in an ID-JAG')
    return tuple(dict.fromkeys(values))


def check_resources(values: Any, where: str) -> tuple[str, ...]:
    """Return the RFC 8707 resource identifiers; raise ConfigError for one that is not an absolute URL."""
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)):
        raise ConfigError(f"{where} is {values!r}, expected a list of absolute URLs")
    for value in values:
        parts = urlsplit(value) if isinstance(value, str) else None
        # RFC 8707 §2: an absolute URI without a fragment.
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
            raise ConfigError(
                f"{where} has {value!r}, expected an absolute URL without a fragment (RFC 8707 §2)"
            )
    return tuple(values)


def new_external_connection(
    *,
    name: str,
    client_id: str,
    audience: str,
    scopes: Any,
    resources: Any = None,
    clients: dict[str, Client],
    where: str = "connection",
) -> ResourceConnection:
    """Build an external resource connection, every value checked; raise ConfigError naming the field."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"{where} name is {name!r}, expected 1-64 letters, digits, '.', '-' or '_'")
    if not isinstance(client_id, str) or client_id not in clients:
        raise ConfigError(f'{where}.client_id is "{client_id}", which is not a configured client')
    return ResourceConnection(
        name=name,
        client_id=client_id,
        authorization_server=None,
        scopes=check_scopes(scopes, f"{where}.scopes"),
        audience=check_issuer_url(audience, f"{where}.audience"),
        resources=check_resources(resources, f"{where}.resources"),
    )


def parse_external_connection(table: Any, name: str, clients: dict[str, Client]) -> ResourceConnection:
    """Read `[resource_connections.<name>]` with `audience` (config.py's `_Table`) into a connection."""
    client_id = table.str("client_id", required=True)
    audience = table.str("audience", required=True)
    if "authorization_server" in table.data:
        raise ConfigError(f"{table.path} has both audience and authorization_server, expected one of them")
    scopes = table.strs("scopes", required=True)
    resources = table.strs("resources")
    table.done()
    return new_external_connection(
        name=name,
        client_id=client_id,
        audience=audience,
        scopes=list(scopes),
        resources=list(resources),
        clients=clients,
        where=table.path,
    )


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


_registries: weakref.WeakKeyDictionary[Any, RuntimeConnections] = weakref.WeakKeyDictionary()
_registries_lock = threading.Lock()


def runtime_connections(sandbox: Sandbox) -> RuntimeConnections:
    """Return the connections added at run time to this sandbox instance (one registry per instance)."""
    with _registries_lock:
        registry = _registries.get(sandbox)
        if registry is None:
            registry = _registries[sandbox] = RuntimeConnections()
        return registry


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
