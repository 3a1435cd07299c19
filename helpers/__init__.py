"""The kit's client side: configuration, keys, signing, HTTP with logs, and each phase of the flow.

Notebooks import from here; nothing here imports `sandbox` (the two meet only over HTTP).
Names are loaded on first use (PEP 562), so `import helpers.keys` stays light.

    from helpers import Kit, load_settings, ConfigForm, TokenCard, signin, token_exchange, jwt_bearer, api
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> module that defines it.
_EXPORTS = {
    # configuration
    "Settings": "config",
    "load_settings": "config",
    "save_settings": "config",
    "describe": "config",
    # keys and client authentication
    "AgentKey": "keys",
    "agent_key_for": "keys",
    "ensure_agent_key": "keys",
    "jwk_thumbprint": "keys",
    "ClientAssertionSigner": "client_assertion",
    "check_client_assertion": "client_assertion",
    # HTTP, discovery, JWTs
    "KitHTTP": "transport",
    "BearerAuth": "transport",
    "Exchange": "transport",
    "CurlCommand": "transport",
    "fetch_metadata": "discovery",
    "fetch_jwks": "discovery",
    "pick_key": "jwts",
    "decode_unverified": "jwts",
    "verify_signature": "jwts",
    # the working set of a notebook, checks, display, forms, session
    "Kit": "kit",
    "Checklist": "checks",
    "TokenCard": "display",
    "KeyValues": "display",
    "ConfigForm": "forms",
    "AudienceForm": "forms",
    "SessionFile": "session",
    # errors
    "KitError": "errors",
    "ConfigError": "errors",
    "KeyFileError": "errors",
    "InsecureTransportError": "errors",
    "UnreachableError": "errors",
    "DiscoveryError": "errors",
    "ResponseError": "errors",
    "OAuthError": "errors",
    "TokenValidationError": "errors",
    "SignInError": "errors",
    "SessionError": "errors",
    "LocalSandboxError": "errors",
}

#: Modules importable as attributes: `helpers.signin.new_authorization_request(...)`.
_MODULES = {
    "api",
    "checks",
    "client_assertion",
    "conformance",
    "config",
    "constants",
    "discovery",
    "display",
    "errors",
    "exercises",
    "flow",
    "forms",
    "formatting",
    "jwt_bearer",
    "jwts",
    "keys",
    "kit",
    "local_sandbox",
    "mcp",
    "mcp_troubleshooting",
    "notebook_errors",
    "oauth",
    "origin_app",
    "pictures",
    "pkce",
    "resource_exercises",
    "resource_server",
    "session",
    "signin",
    "system_log",
    "token_exchange",
    "transport",
    "troubleshooting",
}

__all__ = sorted(_EXPORTS) + sorted(_MODULES)


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'helpers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
