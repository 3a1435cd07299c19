"""What the resource-server tests share: agent keys, a sandbox with a second agent, battery targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.conformance import ClientAuth, IdP, Target
from helpers.core.client_assertion import ClientAssertionSigner
from helpers.core.keys import AgentKey

AGENT = "wlpSandboxAgent00001"
#: A second agent of the sandbox, with a secret and the JWT bearer grant: the battery's "other client".
OTHER_AGENT = "wlpOtherAgent0000002"
OTHER_AGENT_SECRET = "other-agent-secret-0123456789abcdefABCD"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def sandbox_overrides(jwks_file: Path) -> dict[str, Any]:
    """The agent's JWKS file, and a second agent that may use the JWT bearer grant at `default`."""
    return {
        "clients": {
            AGENT: {"jwks_file": str(jwks_file)},
            OTHER_AGENT: {
                "name": "Another agent (conformance battery)",
                "token_endpoint_auth_methods": ["client_secret_basic", "client_secret_post"],
                "client_secret": OTHER_AGENT_SECRET,
                "redirect_uris": [],
                "grant_types": [JWT_BEARER],
            },
        },
    }


def sandbox_target(org: str, agent: AgentKey, *, server: str = "default", okta_shaped: bool = True) -> Target:
    """The sandbox's own custom server as the battery's target: the agent, and the second agent."""
    return Target(
        issuer=f"{org}/oauth2/{server}",
        client=ClientAuth(AGENT, signer=ClientAssertionSigner(AGENT, agent)),
        granted_scope="todo.read",
        ungranted_scope="todo.admin",
        other_client=ClientAuth(OTHER_AGENT, "client_secret_basic", secret=OTHER_AGENT_SECRET),
        okta_shaped=okta_shaped,
        name=f"sandbox custom server {server}",
    )


def idp_of(sandbox: Any) -> IdP:
    """The running sandbox as the battery's identity provider."""
    return IdP(sandbox.url, sandbox.api_token)
