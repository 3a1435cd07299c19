"""The sandbox's fixture ids the kit uses by name: each is a client or server of `sandbox/default.toml`.

The one client-side copy of them; `tests/test_sandbox_ids.py` holds each against the sandbox's
configuration, so a rename there fails here first. Against Okta none is used: the cases that need them
are marked sandbox-only, and notebook 06 and 07 read the origin app and MCP client from settings.
"""

from __future__ import annotations

#: A client whose ID tokens are issued already expired (troubleshooting: the expired ID token case).
EXPIRED_ID_TOKEN_CLIENT = "wlpExpiredIdToken001"
#: The public single-page app: signs users in at the org and at the custom server, has no delegation
#: link to the agent (troubleshooting: "an ID token issued to another client"; notebook 06: the refusal).
PUBLIC_SPA = "0oaPublicSpa00000001"
#: The second custom server: the agent may get ID-JAGs for it, but its access policy has no rule for it.
OTHER_SERVER = "reports"
OTHER_SERVER_SCOPE = "reports.read"
#: Notebook 06's origin app, its demo secret and the agent's resource URL.
ORIGIN_APP_DEFAULTS = {
    "ORIGIN_CLIENT_ID": "0oaOriginWebApp00001",
    "ORIGIN_CLIENT_SECRET": "origin-web-app-secret-fedcba9876543210",
    "AGENT_RESOURCE_URL": "${OKTA_ORG_URL}/agents/sandbox-agent",
}
#: Notebook 07's MCP client registered with a client secret, for the MCP SDK's own provider.
MCP_SDK_CLIENT = ("0oaMcpSdkClient00001", "mcp-sdk-client-secret-13579bdf2468ace0")
