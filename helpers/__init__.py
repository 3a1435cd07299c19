"""The kit's client side: each step of the flow, the plumbing under it, and what the notebooks show.

The notebook's number is the step's id: notebook 02, `helpers/token_exchange.py` and
`sandbox/token_exchange.py` are step 2. Nothing here imports `sandbox` (the two meet only over HTTP),
and importing `helpers` has no side effect: names load on first use (PEP 562).

    from helpers import Kit, ConfigForm, TokenCard, signin, token_exchange, jwt_bearer, api

The steps, one module each (the protocol: requests, forms, checks; what a source says, cited):

    signin.py            01  the user signs in: authorization request, callback, ID token checks
    token_exchange.py    02  RFC 8693 token exchange at the org server: ID token -> ID-JAG
    jwt_bearer.py        03  RFC 7523 JWT bearer grant at the custom server: ID-JAG -> access token
    api.py               04  the API call with the access token (RFC 6750), its refusals
    origin_app.py        06  machine access: an origin app's token for the agent, the hand-off
    mcp.py               07  the MCP server as the target (MCP Enterprise-Managed Authorization)
    resource_server.py   08  accepting ID-JAGs as a resource app: a validator to read and reuse
    conformance.py       08  the battery a resource authorization server must pass
    kit.py                   `Kit`: one notebook's working set (settings, key, signer, HTTP, session)
    flow.py                  every step headless, and `require`: re-run an earlier step when needed
    constants.py             the wire vocabulary: grant types, token types, `typ`, the draft's revision

core/: the plumbing every step shares

    config.py            settings: environment, `.env`, defaults, checks naming the field to fix
    keys.py              the agent's key pair (0600 file), its public JWK and thumbprint
    client_assertion.py  private_key_jwt (RFC 7523 §2.2): the signed client assertion
    transport.py         HTTP with a log of every exchange, cURL views, shortened tokens
    tls.py               which CAs the kit trusts (KIT_CA_BUNDLE), never verification off
    oauth.py             token requests and responses (RFC 6749 §5)
    discovery.py         authorization server metadata (RFC 8414) and JWKS
    jwts.py              decoding and signature checks (explicit algorithms, key by `kid`)
    pkce.py              RFC 7636 S256
    checks.py            `Checklist`/`Check`: the one kind of check result (exercises' too)
    rules.py             step 2's scope and audience rules, written once for form, settings, exercise
    session.py           the results a notebook hands the next (tokens, expiry, used once)
    formatting.py        times, shortening, text and HTML tables, `KeyValues`
    errors.py            the kit's exceptions and `field_problem`
    jupyterhub.py        where the browser reaches this server on a JupyterHub (KIT_BROWSER_BASE_URL)

teaching/: what only notebooks need

    display.py           token cards, the settings table, "configuration used for this step"
    forms.py             00's configuration form and audience form (ipywidgets)
    browser_signin.py    01's sign-in widget and loopback listener (RFC 8252 §7.3)
    exercises.py         01-04's "your turn" checks; resource_exercises.py: 08's
    pictures.py          the sequence diagrams and timelines
    system_log.py        the server's side: Okta System Log or sandbox events beside a request
    origin_app_driver.py 06's origin app, step by step, and the comparison of the three models
    notebook_errors.py   a KitError shown as what to fix (installed by `Kit.open` and `ConfigForm`)
    troubleshooting/     05's and 07's cases: workbench.py (engine), cases.py, mcp_cases.py

sandbox_client/: the one place that knows the bundled sandbox

    local_sandbox.py     start or reuse the person's own sandbox on loopback
    headless_signin.py   complete the sandbox's sign-in page over HTTP (headless runs only)
    ids.py               the sandbox's fixture ids the cases use by name
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> module (under `helpers`) that defines it.
_EXPORTS = {
    # configuration
    "Settings": "core.config",
    "load_settings": "core.config",
    "save_settings": "core.config",
    "describe": "teaching.display",
    # keys and client authentication
    "AgentKey": "core.keys",
    "agent_key_for": "core.keys",
    "ensure_agent_key": "core.keys",
    "jwk_thumbprint": "core.keys",
    "ClientAssertionSigner": "core.client_assertion",
    "check_client_assertion": "core.client_assertion",
    # HTTP, discovery, JWTs
    "KitHTTP": "core.transport",
    "BearerAuth": "core.transport",
    "Exchange": "core.transport",
    "CurlCommand": "core.transport",
    "fetch_metadata": "core.discovery",
    "fetch_jwks": "core.discovery",
    "pick_key": "core.jwts",
    "decode_unverified": "core.jwts",
    "verify_signature": "core.jwts",
    # the working set of a notebook, checks, display, forms, session
    "Kit": "kit",
    "Checklist": "core.checks",
    "TokenCard": "teaching.display",
    "KeyValues": "core.formatting",
    "ConfigForm": "teaching.forms",
    "AudienceForm": "teaching.forms",
    "SessionFile": "core.session",
    "OriginApp": "teaching.origin_app_driver",
    # errors
    "KitError": "core.errors",
    "ConfigError": "core.errors",
    "KeyFileError": "core.errors",
    "InsecureTransportError": "core.errors",
    "UnreachableError": "core.errors",
    "DiscoveryError": "core.errors",
    "ResponseError": "core.errors",
    "OAuthError": "core.errors",
    "TokenValidationError": "core.errors",
    "SignInError": "core.errors",
    "SessionError": "core.errors",
    "LocalSandboxError": "core.errors",
    "TLSError": "core.errors",
}

#: Modules importable as attributes (`helpers.signin.new_authorization_request(...)`) -> where they live.
_MODULES = {
    # the steps
    "signin": "signin",
    "token_exchange": "token_exchange",
    "jwt_bearer": "jwt_bearer",
    "api": "api",
    "origin_app": "origin_app",
    "mcp": "mcp",
    "resource_server": "resource_server",
    "conformance": "conformance",
    "kit": "kit",
    "flow": "flow",
    "constants": "constants",
    # core
    "checks": "core.checks",
    "client_assertion": "core.client_assertion",
    "config": "core.config",
    "discovery": "core.discovery",
    "errors": "core.errors",
    "formatting": "core.formatting",
    "jupyterhub": "core.jupyterhub",
    "jwts": "core.jwts",
    "keys": "core.keys",
    "oauth": "core.oauth",
    "pkce": "core.pkce",
    "rules": "core.rules",
    "session": "core.session",
    "tls": "core.tls",
    "transport": "core.transport",
    # teaching
    "browser_signin": "teaching.browser_signin",
    "display": "teaching.display",
    "exercises": "teaching.exercises",
    "forms": "teaching.forms",
    "notebook_errors": "teaching.notebook_errors",
    "origin_app_driver": "teaching.origin_app_driver",
    "pictures": "teaching.pictures",
    "resource_exercises": "teaching.resource_exercises",
    "system_log": "teaching.system_log",
    "troubleshooting": "teaching.troubleshooting",
    "mcp_troubleshooting": "teaching.troubleshooting.mcp_cases",
    # the sandbox's side of the client
    "local_sandbox": "sandbox_client.local_sandbox",
    "headless_signin": "sandbox_client.headless_signin",
}

__all__ = sorted(_EXPORTS) + sorted(_MODULES)


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{_MODULES[name]}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'helpers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
