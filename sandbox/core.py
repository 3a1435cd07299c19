"""The running sandbox's state: configuration, org URL, keys, replay caches, stores and event log.

One `Sandbox` per served process or test instance; nothing here is module-global, so several
instances can run in one process (tests do).
"""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import urlsplit

from .config import AuthServer, SandboxConfig
from .constants import ORG_AUTHORIZE_PATH, ORG_KEYS_PATH, ORG_TOKEN_PATH, ORG_USERINFO_PATH
from .events import EventLog
from .external import RuntimeConnections
from .keys import ClientKeySource, FileKeys, InlineKeys, KeyStore, UriKeys
from .models import AuthCode, OAuthClient
from .replay import ExpiringStore, ReplayCache


class Sandbox:
    """Everything one sandbox instance knows and remembers."""

    def __init__(
        self, config: SandboxConfig, *, org_url: str, data_dir: Path, ca_file: Path | None = None
    ) -> None:
        if org_url.endswith("/"):
            raise ValueError(
                f'org URL is "{org_url}", expected no trailing slash (it is the issuer, exactly)'
            )
        self.config = config
        self.org_url = org_url
        self.data_dir = data_dir
        #: Serving HTTPS: the test CA's certificate (sandbox.tls), which the sandbox's own clients of its
        #: URLs trust (the demo API fetching the custom server's keys); None over plain HTTP.
        self.ca_file = ca_file
        self.keys = KeyStore(data_dir, list(config.servers))
        self.clients = {cid: OAuthClient(c) for cid, c in config.clients.items()}
        self.client_keys: dict[str, ClientKeySource] = {}
        for cid, client in config.clients.items():
            if client.jwks_file is not None:
                self.client_keys[cid] = FileKeys(client.jwks_file)
            elif client.jwks_uri is not None:
                self.client_keys[cid] = UriKeys(client.jwks_uri)
            elif client.jwks is not None:
                self.client_keys[cid] = InlineKeys(client.jwks)
        self.events = EventLog()
        # Single-use memory that never forgets an unexpired entry; at capacity, new ones get a 429
        # (sandbox.replay). MCP EMA §7.4.2: replay detection REQUIRED for the assertion's lifetime.
        replay, pending = config.replay_capacity, config.pending_capacity
        self.assertion_replay = ReplayCache("client_assertion", capacity=replay)  # jti, per client
        self.id_jag_replay = ReplayCache("id_jag", capacity=replay)  # ID-JAG jti, per issuer
        self.codes: ExpiringStore[str, AuthCode] = ExpiringStore("authorization_code", capacity=pending)
        self.transactions: ExpiringStore[str, dict[str, list[str]]] = ExpiringStore(
            "signin_transaction", capacity=pending
        )
        #: External resource connections added at run time (sandbox/external.py, the admin API).
        self.runtime_connections = RuntimeConnections()
        #: The MCP server's URL (sandbox/mcp_server.py), set once its socket is bound; "{mcp}" in config.
        self.mcp_url: str | None = None
        self._unexpected = 0
        self._lock = threading.Lock()

    # --- URLs (Okta's layout: org server {org}/oauth2/v1/..., custom {org}/oauth2/{id}/v1/...) ---

    @property
    def issuer(self) -> str:
        """The org authorization server's issuer: the org URL exactly."""
        return self.org_url

    @property
    def authorize_url(self) -> str:
        return self.org_url + ORG_AUTHORIZE_PATH

    @property
    def token_url(self) -> str:
        return self.org_url + ORG_TOKEN_PATH

    @property
    def keys_url(self) -> str:
        return self.org_url + ORG_KEYS_PATH

    @property
    def userinfo_url(self) -> str:
        return self.org_url + ORG_USERINFO_PATH

    def server_issuer(self, server_id: str) -> str:
        """A custom authorization server's issuer: `{org}/oauth2/{id}`."""
        return f"{self.org_url}/oauth2/{server_id}"

    def server_token_url(self, server_id: str) -> str:
        return f"{self.org_url}/oauth2/{server_id}/v1/token"

    def server_keys_url(self, server_id: str) -> str:
        return f"{self.org_url}/oauth2/{server_id}/v1/keys"

    def server_authorize_url(self, server_id: str) -> str:
        """A custom server's authorize endpoint: `{org}/oauth2/{id}/v1/authorize`."""
        return f"{self.org_url}/oauth2/{server_id}/v1/authorize"

    def agent_resource_url(self, agent: str) -> str | None:
        """The resource URL an agent is registered at (Okta's machine access), or None."""
        resource = self.config.agent_resources.get(agent)
        return self.expand(resource.resource_url) if resource is not None else None

    def agent_resources_of(self, server: AuthServer) -> list[str]:
        """The resource URLs of the agents registered as resources of a custom server."""
        return [
            self.expand(r.resource_url)
            for r in self.config.agent_resources.values()
            if r.authorization_server == server.id
        ]

    def server_by_issuer(self, issuer: str) -> AuthServer | None:
        """Return the custom server whose issuer is exactly `issuer`, or None."""
        for server in self.config.servers.values():
            if self.server_issuer(server.id) == issuer:
                return server
        return None

    def server_resources(self, server: AuthServer) -> list[str]:
        """The RFC 8707 resource identifiers a custom server issues tokens for."""
        # "{mcp}" stays unexpanded when no MCP server runs: then it names no resource.
        return [r for r in (self.expand(r) for r in server.resources) if "{mcp}" not in r]

    @property
    def api_resource(self) -> str:
        """The demo API's resource identifier (RFC 9728 §1.2)."""
        return self.org_url + self.config.api.path

    @property
    def api_metadata_url(self) -> str:
        """Where the API's protected resource metadata lives (RFC 9728 §3.1, path inserted)."""
        return f"{self.org_url}/.well-known/oauth-protected-resource{self.config.api.path}"

    @property
    def mcp_metadata_url(self) -> str | None:
        """Where the MCP server's protected resource metadata lives (RFC 9728 §3.1), or None."""
        if self.mcp_url is None:
            return None
        parts = urlsplit(self.mcp_url)
        return f"{parts.scheme}://{parts.netloc}/.well-known/oauth-protected-resource{parts.path}"

    def expand(self, text: str) -> str:
        """Replace "{org}" in a configured string by the org URL, and "{mcp}" by the MCP server's URL."""
        text = text.replace("{org}", self.org_url)
        return text.replace("{mcp}", self.mcp_url) if self.mcp_url is not None else text

    # --- Bookkeeping -----------------------------------------------------------------------------

    def count_unexpected(self) -> None:
        """Count a request that reached the catch-all error handler (tests assert it stays 0)."""
        with self._lock:
            self._unexpected += 1

    @property
    def unexpected_errors(self) -> int:
        """How many requests ended in the catch-all handler (a bug if not 0)."""
        return self._unexpected
