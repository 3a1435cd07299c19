"""The sandbox's configuration: users, clients, authorization servers, policies, lifetimes.

Configuration is data: a TOML file (`default.toml` documents every field),
optionally deep-merged with overrides (a dict; a `None` value deletes a key), then checked here.
A bad value raises `ConfigError` naming the field, the value and what was expected.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .constants import (
    AUTH_METHODS,
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    CLIENT_SECRET_BASIC,
    CLIENT_SECRET_POST,
    JWT_BEARER,
    NONE_AUTH,
    OIDC_SCOPES,
    ORG_SCOPES,
    PRIVATE_KEY_JWT,
    TOKEN_EXCHANGE,
)

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default.toml")

KNOWN_GRANT_TYPES = (AUTHORIZATION_CODE, CLIENT_CREDENTIALS, TOKEN_EXCHANGE, JWT_BEARER)


class ConfigError(ValueError):
    """The configuration has a missing, unknown or wrong value."""


@dataclass(frozen=True)
class User:
    """A person who can sign in (Okta: a user in Directory > People)."""

    id: str
    username: str
    password: str = field(repr=False)
    name: str
    given_name: str
    family_name: str
    email: str


@dataclass(frozen=True)
class Client:
    """An OAuth client (Okta: an app or an AI agent) and how it authenticates."""

    client_id: str
    name: str
    auth_methods: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    client_secret: str | None = field(default=None, repr=False)
    jwks_file: Path | None = None
    jwks_uri: str | None = None
    jwks: dict[str, Any] | None = field(default=None, repr=False)
    #: This client's ID token lifetime in seconds (default: lifetimes.id_token). Zero or negative
    #: issues ID tokens that are already expired (`exp` = `iat` + this): the troubleshooting case.
    id_token_lifetime: int | None = None

    @property
    def is_public(self) -> bool:
        """True when the client authenticates with `none` (a public client, RFC 6749 §2.1)."""
        return self.auth_methods == (NONE_AUTH,)

    @property
    def uses_keys(self) -> bool:
        """True when the client authenticates with `private_key_jwt`."""
        return PRIVATE_KEY_JWT in self.auth_methods


@dataclass(frozen=True)
class Scope:
    """A scope of a custom authorization server; only public ones appear in its metadata."""

    name: str
    public: bool
    description: str = ""


@dataclass(frozen=True)
class PolicyRule:
    """An access policy rule of a custom server: these clients may use these grants for these scopes."""

    name: str
    clients: tuple[str, ...]
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class AuthServer:
    """A custom authorization server, issuer `{org}/oauth2/{id}`."""

    id: str
    name: str
    audience: str
    description: str
    scopes: dict[str, Scope]
    resources: tuple[str, ...]
    policies: tuple[PolicyRule, ...]

    @property
    def public_scopes(self) -> list[str]:
        """The scopes listed in `scopes_supported` (Okta: "Include in public metadata")."""
        return [s.name for s in self.scopes.values() if s.public]


@dataclass(frozen=True)
class ResourceConnection:
    """The org server's policy for ID-JAGs: this client may get them for this server and scopes.

    The target is either a custom server of the sandbox (`authorization_server`, its id) or an external
    resource authorization server the sandbox does not host (`audience`, its issuer URL exactly, with
    the RFC 8707 `resources` it serves): the ID-JAG's `aud` is then that URL (sandbox/external.py).
    """

    name: str
    client_id: str
    authorization_server: str | None
    scopes: tuple[str, ...]
    audience: str | None = None
    resources: tuple[str, ...] = ()

    @property
    def is_external(self) -> bool:
        """True when the target is an authorization server the sandbox does not host."""
        return self.audience is not None


@dataclass(frozen=True)
class AgentResource:
    """An AI agent registered as a resource of a custom server (Okta: the agent's machine access).

    Tokens aimed at the agent carry `resource_url` as their `aud`; the custom server that issues them
    is `authorization_server`.
    """

    agent: str
    resource_url: str
    authorization_server: str


@dataclass(frozen=True)
class DelegationLink:
    """A delegation link: `client_id` (the origin app) may hand its users' access tokens to `agent`."""

    name: str
    client_id: str
    agent: str


@dataclass(frozen=True)
class Lifetimes:
    """Token lifetimes and clock allowances, in seconds."""

    authorization_code: int = 300
    id_token: int = 3600
    org_access_token: int = 3600
    id_jag: int = 300
    access_token: int = 3600
    id_jag_max_lifetime: int = 300
    client_assertion_max_ahead: int = 3600
    clock_skew: int = 60
    signin_transaction: int = 600


@dataclass(frozen=True)
class ApiConfig:
    """The demo resource API served beside the authorization servers."""

    path: str
    name: str
    authorization_server: str
    read_scope: str
    write_scope: str
    jwks_min_refetch_seconds: float = 5.0


@dataclass(frozen=True)
class SandboxConfig:
    """The whole, checked configuration."""

    org_id: str
    org_name: str
    users: dict[str, User]
    clients: dict[str, Client]
    servers: dict[str, AuthServer]
    connections: tuple[ResourceConnection, ...]
    lifetimes: Lifetimes
    api: ApiConfig
    max_body_bytes: int
    base_dir: Path
    source: str
    raw: dict[str, Any] = field(repr=False)
    #: Okta's machine access (issue 8): agents registered as resources, and who may delegate to them.
    agent_resources: dict[str, AgentResource] = field(default_factory=dict)
    delegation_links: tuple[DelegationLink, ...] = ()
    #: Unexpired `jti`s each replay cache (client assertions; ID-JAGs) remembers before refusing new
    #: ones with a 429 (sandbox.replay: it never evicts a live one). default.toml shows the arithmetic.
    replay_capacity: int = 200_000
    #: Unredeemed authorization codes, and pending sign-in pages, each store holds before a 429.
    pending_capacity: int = 20_000

    def user_by_id(self, user_id: str) -> User | None:
        """Return the user with this Okta id, or None."""
        for user in self.users.values():
            if user.id == user_id:
                return user
        return None

    def connections_for(self, client_id: str, server_id: str) -> list[ResourceConnection]:
        """Return the resource connections letting `client_id` get ID-JAGs for `server_id`."""
        return [
            c for c in self.connections if c.client_id == client_id and c.authorization_server == server_id
        ]

    def delegation_link(self, client_id: str, agent: str) -> DelegationLink | None:
        """Return the delegation link letting `client_id` hand its tokens to `agent`, or None."""
        for link in self.delegation_links:
            if link.client_id == client_id and link.agent == agent:
                return link
        return None


def check_redirect_uri(uri: str) -> str:
    """Return `uri` if it can be registered as a redirect URI; raise ConfigError naming it otherwise."""
    parts = urlsplit(uri)
    # RFC 6749 §3.1.2: the redirection endpoint URI MUST be an absolute URI and MUST NOT have a fragment.
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f'redirect URI "{uri}" is not an absolute http(s) URI, expected e.g. "https://host/callback"'
        )
    if parts.fragment or uri.endswith("#"):
        raise ConfigError(f'redirect URI "{uri}" has a fragment, expected none (RFC 6749 §3.1.2)')
    return uri


def with_redirect_uris(config: SandboxConfig, uris: Iterable[str]) -> SandboxConfig:
    """Return `config` with `uris` added to every client that uses the authorization code grant.

    For a sandbox started on someone's behalf (a JupyterHub user's own sandbox): the redirect URI the
    browser comes back to is known only then, e.g. `{hub}/user/{name}/proxy/{port}/callback`.
    """
    extra = [check_redirect_uri(uri) for uri in uris]
    if not extra:
        return config
    clients = {}
    for client_id, client in config.clients.items():
        if AUTHORIZATION_CODE in client.grant_types:
            added = tuple(uri for uri in dict.fromkeys(extra) if uri not in client.redirect_uris)
            client = dataclasses.replace(client, redirect_uris=client.redirect_uris + added)
        clients[client_id] = client
    return dataclasses.replace(config, clients=clients)


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Return `base` with `overrides` merged in: tables merge, other values replace, None deletes."""
    merged = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_config(
    source: str | Path | Mapping[str, Any] | None = None,
    *,
    base_dir: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> SandboxConfig:
    """Load a configuration file (or dict), merge `overrides`, check it and return it.

    Args:
        source: a TOML file path, a dict, or None for `default.toml`.
        base_dir: folder that relative paths resolve against (default: the current directory).
        overrides: deep-merged onto the loaded data (a None value deletes the key).

    Raises:
        ConfigError: a missing, unknown or wrong value, named with its path.
    """
    if source is None:
        source = DEFAULT_CONFIG_PATH
    if isinstance(source, Mapping):
        data, label = copy.deepcopy(dict(source)), "<dict>"
    else:
        path = Path(source)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f'configuration file "{path}" does not exist') from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f'configuration file "{path}" is not valid TOML: {exc}') from None
        label = str(path)
    if overrides:
        data = deep_merge(data, overrides)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    return _parse(data, base.resolve(), label)


# --- Checking ----------------------------------------------------------------------------------


class _Table:
    """A view of one TOML table that reports every problem with its dotted path."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path} is {data!r}, expected a table")
        self.data = data
        self.path = path
        self.used: set[str] = set()

    def _get(self, key: str, default: Any, required: bool) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise ConfigError(f"{self.path}.{key} is missing")
            return default
        return self.data[key]

    def str(self, key: str, default: str | None = None, *, required: bool = False) -> Any:
        value = self._get(key, default, required)
        if value is not None and (not isinstance(value, str) or (required and not value)):
            raise ConfigError(f"{self.path}.{key} is {value!r}, expected a non-empty string")
        return value

    def int(self, key: str, default: int, *, minimum: int = 0) -> int:
        value = self._get(key, default, False)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"{self.path}.{key} is {value!r}, expected an integer >= {minimum}")
        return value

    def number(self, key: str, default: float, *, minimum: float = 0) -> float:
        value = self._get(key, default, False)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            raise ConfigError(f"{self.path}.{key} is {value!r}, expected a number >= {minimum}")
        return float(value)

    def bool(self, key: str, default: bool) -> bool:
        value = self._get(key, default, False)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.path}.{key} is {value!r}, expected true or false")
        return value

    def strs(self, key: str, default: list[str] | None = None, *, required: bool = False) -> tuple[str, ...]:
        value = self._get(key, default if default is not None else [], required)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{self.path}.{key} is {value!r}, expected a list of non-empty strings")
        return tuple(value)

    def table(self, key: str, *, required: bool = False) -> _Table:
        value = self._get(key, {}, required)
        return _Table(value, f"{self.path}.{key}")

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(f"{self.path} has unknown key(s) {unknown}")


def _parse(data: dict[str, Any], base_dir: Path, label: str) -> SandboxConfig:
    root = _Table(data, "config")

    org = root.table("org")
    org_id = org.str("id", "00oSandb0xOrg0000001", required=True)
    org_name = org.str("name", "Sandbox")
    org.done()

    lt = root.table("lifetimes")
    lifetimes = Lifetimes(
        authorization_code=lt.int("authorization_code", 300, minimum=1),
        id_token=lt.int("id_token", 3600, minimum=1),
        org_access_token=lt.int("org_access_token", 3600, minimum=1),
        id_jag=lt.int("id_jag", 300, minimum=1),
        access_token=lt.int("access_token", 3600, minimum=1),
        id_jag_max_lifetime=lt.int("id_jag_max_lifetime", 300, minimum=1),
        client_assertion_max_ahead=lt.int("client_assertion_max_ahead", 3600, minimum=1),
        clock_skew=lt.int("clock_skew", 60, minimum=0),
        signin_transaction=lt.int("signin_transaction", 600, minimum=1),
    )
    lt.done()

    limits = root.table("limits")
    max_body = limits.int("max_body_bytes", 65536, minimum=1024)
    replay_capacity = limits.int("replay_capacity", 200_000, minimum=1)
    pending_capacity = limits.int("pending_capacity", 20_000, minimum=1)
    limits.done()

    users = _parse_users(root.table("users", required=True))
    clients = _parse_clients(root.table("clients", required=True), base_dir)
    servers = _parse_servers(root.table("authorization_servers", required=True), clients)
    connections = _parse_connections(root.table("resource_connections"), clients, servers)
    agent_resources = _parse_agent_resources(root.table("agent_resources"), clients, servers)
    links = _parse_delegation_links(root.table("delegation_links"), clients, agent_resources)
    api = _parse_api(root.table("api", required=True), servers)
    root.done()

    return SandboxConfig(
        org_id=org_id,
        org_name=org_name,
        users=users,
        clients=clients,
        servers=servers,
        connections=connections,
        lifetimes=lifetimes,
        api=api,
        max_body_bytes=max_body,
        base_dir=base_dir,
        source=label,
        raw=data,
        agent_resources=agent_resources,
        delegation_links=links,
        replay_capacity=replay_capacity,
        pending_capacity=pending_capacity,
    )


def _parse_users(table: _Table) -> dict[str, User]:
    users: dict[str, User] = {}
    ids: set[str] = set()
    for username in table.data:
        t = table.table(username)
        user = User(
            id=t.str("id", required=True),
            username=username,
            password=t.str("password", required=True),
            name=t.str("name", username),
            given_name=t.str("given_name", ""),
            family_name=t.str("family_name", ""),
            email=t.str("email", username),
        )
        t.done()
        if user.id in ids:
            raise ConfigError(f'{t.path}.id is "{user.id}", which another user already has')
        ids.add(user.id)
        users[username] = user
    if not users:
        raise ConfigError("config.users is empty, expected at least one user")
    return users


def _parse_clients(table: _Table, base_dir: Path) -> dict[str, Client]:
    clients: dict[str, Client] = {}
    for client_id in table.data:
        t = table.table(client_id)
        methods = t.strs("token_endpoint_auth_methods", required=True)
        for method in methods:
            if method not in AUTH_METHODS:
                raise ConfigError(
                    f'{t.path}.token_endpoint_auth_methods has "{method}", '
                    f"expected one of {list(AUTH_METHODS)}"
                )
        if NONE_AUTH in methods and len(methods) > 1:
            raise ConfigError(
                f"{t.path}.token_endpoint_auth_methods is {list(methods)}: "
                "a public client ('none') has no other method"
            )
        secret = t.str("client_secret")
        jwks_file = t.str("jwks_file")
        jwks_uri = t.str("jwks_uri")
        jwks = t.data.get("jwks")
        t.used.add("jwks")
        if jwks is not None and not (isinstance(jwks, Mapping) and isinstance(jwks.get("keys"), list)):
            raise ConfigError(f'{t.path}.jwks is {jwks!r}, expected a table with a "keys" list')
        if (CLIENT_SECRET_BASIC in methods or CLIENT_SECRET_POST in methods) and not secret:
            raise ConfigError(f"{t.path}.client_secret is missing, expected one for {list(methods)}")
        if PRIVATE_KEY_JWT in methods and sum(x is not None for x in (jwks_file, jwks_uri, jwks)) != 1:
            raise ConfigError(f"{t.path} uses private_key_jwt: set exactly one of jwks_file, jwks_uri, jwks")
        if NONE_AUTH in methods and secret:
            raise ConfigError(f"{t.path}.client_secret is set, but a public client ('none') has no secret")
        grant_types = t.strs("grant_types", [AUTHORIZATION_CODE])
        for grant in grant_types:
            if grant not in KNOWN_GRANT_TYPES:
                raise ConfigError(
                    f'{t.path}.grant_types has "{grant}", expected one of {list(KNOWN_GRANT_TYPES)}'
                )
        path = None
        if jwks_file:
            path = Path(jwks_file)
            path = path if path.is_absolute() else base_dir / path
        clients[client_id] = Client(
            client_id=client_id,
            name=t.str("name", client_id),
            auth_methods=methods,
            redirect_uris=t.strs("redirect_uris"),
            grant_types=grant_types,
            client_secret=secret,
            jwks_file=path,
            jwks_uri=jwks_uri,
            jwks=dict(jwks) if jwks is not None else None,
            id_token_lifetime=(
                t.int("id_token_lifetime", 0, minimum=-86400) if "id_token_lifetime" in t.data else None
            ),
        )
        t.done()
    return clients


def _parse_servers(table: _Table, clients: dict[str, Client]) -> dict[str, AuthServer]:
    servers: dict[str, AuthServer] = {}
    for server_id in table.data:
        t = table.table(server_id)
        if not server_id.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f'{t.path} has the id "{server_id}", expected letters, digits, "-" or "_"')
        scopes_table = t.table("scopes")
        scopes: dict[str, Scope] = {}
        for name in scopes_table.data:
            s = scopes_table.table(name)
            scopes[name] = Scope(
                name=name, public=s.bool("public", True), description=s.str("description", "")
            )
            s.done()
        policies_table = t.table("policies")
        policies = []
        for rule_name in policies_table.data:
            p = policies_table.table(rule_name)
            rule = PolicyRule(
                name=rule_name,
                clients=p.strs("clients", required=True),
                grant_types=p.strs("grant_types", [JWT_BEARER]),
                scopes=p.strs("scopes", required=True),
            )
            p.done()
            for client_id in rule.clients:
                if client_id not in clients:
                    raise ConfigError(f'{p.path}.clients has "{client_id}", which is not a configured client')
            for scope in rule.scopes:
                # Okta: every custom server also knows the OIDC scopes (a sign-in rule lists them).
                if scope not in scopes and scope not in ORG_SCOPES:
                    raise ConfigError(
                        f'{p.path}.scopes has "{scope}", expected one of {sorted(scopes) + list(ORG_SCOPES)}'
                    )
            policies.append(rule)
        servers[server_id] = AuthServer(
            id=server_id,
            name=t.str("name", server_id),
            audience=t.str("audience", f"api://{server_id}"),
            description=t.str("description", ""),
            scopes=scopes,
            resources=t.strs("resources"),
            policies=tuple(policies),
        )
        t.done()
    return servers


def _parse_connections(
    table: _Table, clients: dict[str, Client], servers: dict[str, AuthServer]
) -> tuple[ResourceConnection, ...]:
    connections = []
    for name in table.data:
        t = table.table(name)
        if "audience" in t.data:
            # An external resource authorization server (sandbox/external.py serves it).
            connections.append(parse_external_connection(t, name, clients))
            continue
        connection = ResourceConnection(
            name=name,
            client_id=t.str("client_id", required=True),
            authorization_server=t.str("authorization_server", required=True),
            scopes=t.strs("scopes", required=True),
        )
        t.done()
        if connection.client_id not in clients:
            raise ConfigError(
                f'{t.path}.client_id is "{connection.client_id}", which is not a configured client'
            )
        server = servers.get(connection.authorization_server)
        if server is None:
            raise ConfigError(
                f'{t.path}.authorization_server is "{connection.authorization_server}", '
                f"expected one of {sorted(servers)}"
            )
        for scope in connection.scopes:
            if scope not in server.scopes:
                raise ConfigError(f'{t.path}.scopes has "{scope}", expected one of {sorted(server.scopes)}')
        connections.append(connection)
    return tuple(connections)


# --- External resource connections (sandbox/external.py) ----------------------------------------------

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


def _parse_agent_resources(
    table: _Table, clients: dict[str, Client], servers: dict[str, AuthServer]
) -> dict[str, AgentResource]:
    resources: dict[str, AgentResource] = {}
    for agent in table.data:
        t = table.table(agent)
        resource = AgentResource(
            agent=agent,
            resource_url=t.str("resource_url", required=True),
            authorization_server=t.str("authorization_server", required=True),
        )
        t.done()
        if agent not in clients:
            raise ConfigError(f'{t.path} names the agent "{agent}", which is not a configured client')
        if resource.authorization_server not in servers:
            raise ConfigError(
                f'{t.path}.authorization_server is "{resource.authorization_server}", '
                f"expected one of {sorted(servers)}"
            )
        url = resource.resource_url
        if not (url.startswith("{org}/") or "://" in url) or any(c.isspace() for c in url):
            raise ConfigError(
                f'{t.path}.resource_url is "{url}", '
                'expected an absolute URL such as "{org}/agents/my-agent"'
            )
        taken = [r.agent for r in resources.values() if r.resource_url == url]
        if taken:
            raise ConfigError(f'{t.path}.resource_url is "{url}", which the agent "{taken[0]}" already has')
        resources[agent] = resource
    return resources


def _parse_delegation_links(
    table: _Table, clients: dict[str, Client], agent_resources: dict[str, AgentResource]
) -> tuple[DelegationLink, ...]:
    links = []
    for name in table.data:
        t = table.table(name)
        link = DelegationLink(
            name=name, client_id=t.str("client_id", required=True), agent=t.str("agent", required=True)
        )
        t.done()
        if link.client_id not in clients:
            raise ConfigError(f'{t.path}.client_id is "{link.client_id}", which is not a configured client')
        if link.agent not in agent_resources:
            raise ConfigError(
                f'{t.path}.agent is "{link.agent}", expected an agent with an agent_resources entry '
                f"(one of {sorted(agent_resources)})"
            )
        if link.client_id == link.agent:
            raise ConfigError(f'{t.path} links "{link.agent}" to itself, expected another client')
        links.append(link)
    return tuple(links)


def _parse_api(t: _Table, servers: dict[str, AuthServer]) -> ApiConfig:
    api = ApiConfig(
        path=t.str("path", "/todo-api"),
        name=t.str("name", "Sandbox to-do API"),
        authorization_server=t.str("authorization_server", "default"),
        read_scope=t.str("read_scope", "todo.read"),
        write_scope=t.str("write_scope", "todo.write"),
        jwks_min_refetch_seconds=t.number("jwks_min_refetch_seconds", 5.0),
    )
    t.done()
    if (
        not api.path.startswith("/")
        or api.path.endswith("/")
        or api.path.startswith(("/oauth2", "/.well-known"))
    ):
        raise ConfigError(
            f'config.api.path is "{api.path}", expected a path like "/todo-api" outside /oauth2'
        )
    server = servers.get(api.authorization_server)
    if server is None:
        raise ConfigError(
            f'config.api.authorization_server is "{api.authorization_server}", '
            f"expected one of {sorted(servers)}"
        )
    for key in ("read_scope", "write_scope"):
        if getattr(api, key) not in server.scopes:
            raise ConfigError(
                f'config.api.{key} is "{getattr(api, key)}", expected one of {sorted(server.scopes)}'
            )
    return api
