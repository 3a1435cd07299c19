"""Break the MCP path on purpose: the cases of notebook 07, in the format of 05_troubleshooting.

- MCP Enterprise-Managed Authorization ("EMA"): §4 / §4.3 (`resource` is the MCP server's identifier),
  §6 (`authorization_grant_profiles_supported`), §7.4.2 (replay detection REQUIRED), §7.6.1 (the IdP's
  (audience, resource) pairs), §7.6.2 (the MCP authorization server checks `resource`)
- RFC 9728 §3.3 (the resource identifier compared exactly), RFC 6750 §3.1 (401 `invalid_token`,
  403 `insufficient_scope`); Okta's error catalog for every `error_description`

The engine is notebook 05's (`helpers.teaching.troubleshooting.workbench`): each case changes one thing
in a request that otherwise works, and its report shows the change, the exact response, the server's
System Log event, the cause and the fix, and raises `CaseDriftError` when the answer drifts. Only the
cases and their ingredients are new here: `MCP_CASES`, run by `McpWorkbench`.
"""

from __future__ import annotations

from typing import Any

from ...jwt_bearer import jwt_bearer_form
from ...mcp import McpSession, McpSettings, fetch_resource_metadata, load_mcp_settings, resource_metadata_url
from ...token_exchange import token_exchange_form
from .cases import Workbench
from .workbench import Attempt, Case, CaseDriftError, Expected, FieldChange, Form, Summary, numbered
from .workbench import summary_rows as engine_summary_rows

__all__ = ["MCP_CASES", "CaseDriftError", "McpWorkbench", "summary"]


# --- The cases --------------------------------------------------------------------------------------------


# Each function sends what its notebook cell sends, with the same primitives (a test holds them together).


def _resource_mismatch(b: McpWorkbench) -> Attempt:
    id_jag = b.mcp_id_jag()
    form = b.mcp_bearer_form(id_jag, resource=b.places()["api_resource"])  # the ID-JAG's is the MCP server
    return b.send_bearer(form, at=b.mcp_issuer)


def _id_jag_replayed(b: McpWorkbench) -> Attempt:
    form = b.mcp_bearer_form(b.mcp_id_jag())
    b.send_bearer(form, at=b.mcp_issuer).expect(200)
    return b.send_bearer(form, at=b.mcp_issuer)  # the one change: the same ID-JAG again


def _rest_token_at_mcp(b: McpWorkbench) -> Attempt:
    return b.mcp_call(b.access_token())  # aud: the custom server's audience (api://default), for the REST API


def _mcp_missing_scope(b: McpWorkbench) -> Attempt:
    token = b.mcp_access_token(scope="todo.read")
    return b.mcp_call(token, tool="add_todo", arguments={"title": "Water the plants"})


EXCHANGE = "token exchange, org server"
BEARER = "JWT bearer grant, MCP authorization server"
MCP_CALL = "MCP call"
SANDBOX_MCP = "it calls the sandbox's MCP server (yours may word its refusals its own way)"

_MCP_CASES_TABLE = (
    Case(
        "mcp_resource_trailing_slash",
        EXCHANGE,
        "The MCP server's resource with a trailing slash",
        'resource is "{mcp_url}/" instead of "{mcp_url}"',
        Expected(
            400,
            "invalid_target",
            "'resource' is invalid or not supported.",
            "token_exchange_invalid_resource",
        ),
        "The IdP keeps the exact (audience, resource) pairs it may issue ID-JAGs for (EMA §7.6.1); resource "
        "identifiers compare as exact strings (RFC 9728 §3.3), so one slash names another resource.",
        "Send resource exactly as the MCP server's protected resource metadata spells it; at Okta, register "
        "that same string as the MCP server's resource URL.",
        FieldChange("mcp exchange", {"resource": "{mcp_url}/"}),
    ),
    Case(
        "mcp_no_grant_profile",
        EXCHANGE,
        "An authorization server without the id-jag grant profile",
        'audience is the org server "{org}", whose metadata lists no '
        'urn:ietf:params:oauth:grant-profile:id-jag, instead of "{mcp_issuer}"',
        Expected(
            400,
            "invalid_target",
            "Token Exchange requests must include a valid audience of the authorization server.",
            "token_exchange_invalid_audience",
        ),
        "A server that does not advertise the id-jag grant profile does not redeem ID-JAGs (EMA §6), and the "
        "IdP issues none for it.",
        "Before the exchange, check authorization_grant_profiles_supported in the metadata of the server "
        "the MCP server's metadata names, and send that server's issuer as audience.",
        FieldChange("mcp exchange", {"audience": "{org}"}),
    ),
    Case(
        "mcp_resource_mismatch",
        BEARER,
        "A resource parameter that disagrees with the ID-JAG",
        'an ID-JAG for "{mcp_url}" is redeemed with resource "{api_resource}" (the REST API)',
        Expected(
            400,
            "invalid_grant",
            "The 'resource' claim in the id-jag does not match the 'resource' parameter in the request.",
            "id_jag_resource_mismatch",
        ),
        "The ID-JAG's aud and resource are a bound pair (EMA §7.6); the authorization server issues a token "
        "only for the resource the ID-JAG names.",
        "Send the same resource in the JWT bearer request as in the token exchange; for another resource, "
        "exchange again.",
        _resource_mismatch,
        sandbox_only="it names the sandbox's demo API as the other resource",
    ),
    Case(
        "mcp_id_jag_redeemed_twice",
        BEARER,
        "An ID-JAG for the MCP server redeemed twice",
        "a correct JWT bearer request with resource, then the same request with the same ID-JAG",
        Expected(400, "invalid_grant", "The id-jag was already used.", "id_jag_replayed"),
        "EMA §7.4.2 makes replay detection REQUIRED: the server remembers the ID-JAG's jti until it expires.",
        "Exchange again for a new ID-JAG; keep the access token (an hour), not the ID-JAG (5 minutes).",
        _id_jag_replayed,
    ),
    Case(
        "rest_token_at_mcp",
        MCP_CALL,
        "The REST API's access token at the MCP server",
        "initialize the MCP session with a token for the REST API (aud api://default, as in notebook 03)",
        Expected(
            401,
            "invalid_token",
            "The access token provided is not intended for Okta.",
            "access_token_invalid_audience",
        ),
        "The MCP server accepts only tokens audience-restricted to its own URL (EMA §5.1); this one is for "
        "the REST API.",
        "Get the MCP server its own token: token exchange and JWT bearer grant with resource = the MCP "
        "server's URL.",
        _rest_token_at_mcp,
        sandbox_only=SANDBOX_MCP,
    ),
    Case(
        "mcp_tool_without_scope",
        MCP_CALL,
        "An MCP tool call lacking the needed scope",
        "call add_todo (needs todo.write) with an MCP token that carries todo.read only",
        Expected(
            403,
            "insufficient_scope",
            "The access token provided does not contain the required scopes.",
            "access_token_insufficient_scopes",
        ),
        "The token is valid for the MCP server, but its scp lacks the scope this tool needs.",
        "Ask for the scope in the token exchange (the MCP server's scopes_supported lists it) if the "
        "resource connection and the access policy allow it; at Okta, never in the JWT bearer request.",
        _mcp_missing_scope,
        sandbox_only=SANDBOX_MCP,
    ),
)
MCP_CASES: tuple[Case, ...] = numbered(_MCP_CASES_TABLE, kind="MCP case")


# --- The bench and the table ------------------------------------------------------------------------------
class McpWorkbench(Workbench):
    """Notebook 05's bench with the MCP server's ingredients: its metadata, ID-JAGs and access tokens for it.

    Example:
        bench = McpWorkbench(kit)
        bench.run("rest_token_at_mcp")
    """

    cases = MCP_CASES
    summary_title = "The MCP path: each error, its cause and the fix"

    def __init__(self, kit: Any, mcp_settings: McpSettings | None = None) -> None:
        super().__init__(kit)
        self.mcp = mcp_settings or load_mcp_settings(kit.settings)
        self._metadata: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"McpWorkbench({len(MCP_CASES)} cases, mcp={self.mcp.server_url!r})"

    # --- ingredients -----------------------------------------------------------------------------------
    def resource_metadata(self) -> dict[str, Any]:
        """Return the MCP server's protected resource metadata (RFC 9728), read once."""
        if self._metadata is None:
            with self.kit.http.labelled("Ingredient: the MCP server's metadata"):
                self._metadata = dict(
                    fetch_resource_metadata(self.kit, resource_metadata_url(self.mcp.server_url))
                )
        return self._metadata

    @property
    def mcp_issuer(self) -> str:
        """The resource authorization server the MCP server's metadata names first."""
        return self.resource_metadata()["authorization_servers"][0]

    def places(self) -> dict[str, str]:
        """Return the URLs the cases' descriptions name."""
        places = super().places()
        places.update(
            mcp_url=self.mcp.server_url,
            mcp_issuer=self.mcp_issuer,
            api_resource=f"{self.settings.org_url}/todo-api",
        )
        return places

    def mcp_exchange_form(self, **changes: str) -> Form:
        """Return a correct token exchange form for the MCP server (EMA §4), with some fields changed."""
        form = token_exchange_form(
            subject_token=self.id_token(),
            audience=self.mcp_issuer,
            scopes=" ".join(self.resource_metadata().get("scopes_supported") or self.settings.agent_scopes),
            subject_token_type=self.settings.subject_token_type,
            resource=self.mcp.server_url,
        )
        return Form(form, changes)

    def send_changed(self, request: str, **fields: str) -> Attempt:
        """Send a correct request with `fields` changed: "mcp exchange" (the MCP server's), or as 05."""
        if request == "mcp exchange":
            return self.send_exchange(self.mcp_exchange_form(**fields))
        return super().send_changed(request, **fields)

    def mcp_bearer_form(self, id_jag: str, **changes: str) -> Form:
        """Return a correct JWT bearer form for the MCP server (`resource` = its URL, EMA §5.1), some fields
        changed."""
        return Form(jwt_bearer_form(id_jag, resource=self.mcp.server_url), changes)

    def mcp_id_jag(self, **changes: str) -> str:
        """Get a fresh ID-JAG for the MCP server from a real token exchange."""
        response = self.kit.token_request(
            self.settings.org_token_url,
            self.mcp_exchange_form(**changes),
            label="Ingredient: a fresh ID-JAG for the MCP server",
        )
        return response["access_token"]

    def mcp_access_token(self, **changes: str) -> str:
        """Get a fresh access token for the MCP server (`aud` = its URL, EMA §5.1)."""
        response = self.kit.token_request(
            self.token_url_of(self.mcp_issuer),
            jwt_bearer_form(self.mcp_id_jag(**changes), resource=self.mcp.server_url),
            label="Ingredient: a fresh access token for the MCP server",
        )
        return response["access_token"]

    def mcp_call(
        self, token: str, *, tool: str | None = None, arguments: dict[str, Any] | None = None,
        label: str = "Case: MCP call",
    ) -> Attempt:  # fmt: skip
        """Open an MCP session with a token through the official SDK (and call a tool); keep the answer.

        The report shows the token's `aud` and `scp`, and the tool called.
        """
        claims = self.claims(token)
        changed = [("access token aud", str(claims.get("aud")))]
        if isinstance(claims.get("scp"), list):
            changed.append(("access token scp", " ".join(map(str, claims["scp"]))))
        if tool is not None:
            changed.append(("tool", tool))
        with McpSession(self.mcp.server_url, http=self.kit.http, token=token, label=label) as session:
            call = session.initialize()
            if call.ok and tool is not None:
                call = session.call_tool(tool, arguments or {})
        if call.last is None:
            raise CaseDriftError(f"{label}: the MCP SDK sent no request ({call.summary()})")
        return Attempt(call.last, changed)


def summary_rows() -> list[tuple[str, str, str, str, str]]:
    """Return (response, Okta reason, case, cause, fix) for every MCP case, in the notebook's order."""
    return engine_summary_rows(MCP_CASES)


def summary() -> Summary:
    """Return the summary table of every MCP case."""
    return Summary(MCP_CASES, McpWorkbench.summary_title)
