"""The whole flow through the helpers, one function per step: what notebooks 01-04 do, without display.

The flow owns the headless re-run: when a notebook needs an earlier step's result and it is missing or
expired, `require` re-runs the step(s) that make it (headless runs only; interactively it names the
notebook to run). `Kit` holds the working set and asks the flow. Each step function checks what it
receives, raises on the first failed check, then stores its result in the session file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .api import ApiResult, call_api
from .core.errors import KitError, SessionError
from .core.jwts import decode_unverified
from .core.oauth import TokenResponse
from .jwt_bearer import check_access_token, check_bearer_response, jwt_bearer_form
from .sandbox_client.headless_signin import sign_in_headless
from .signin import check_id_token, code_exchange_form, new_authorization_request
from .token_exchange import check_exchange_response, check_id_jag, token_exchange_form

if TYPE_CHECKING:
    from .core.session import SessionItem
    from .kit import Kit


def run_sign_in(kit: Kit) -> TokenResponse:
    """Step 1 (notebook 01) headless, sandbox only: sign in, redeem the code, check and keep the ID token."""
    settings = kit.settings
    request = new_authorization_request(settings)
    callback = sign_in_headless(kit.http, request, settings)
    tokens = kit.token_request(
        settings.org_token_url, code_exchange_form(request, callback), label="Authorization code for tokens"
    )
    check_id_token(
        tokens.get("id_token", ""),
        jwks=kit.org_jwks(),
        issuer=settings.org_issuer,
        client_id=settings.agent_client_id,
        nonce=request.nonce,
        access_token=tokens.get("access_token"),
    ).raise_if_failed()
    kit.remember("id_token", tokens["id_token"])
    if tokens.get("access_token"):
        kit.remember("org_access_token", tokens["access_token"], expires_at=None)
    return tokens


def run_token_exchange(
    kit: Kit, *, audience: str | None = None, scopes: list[str] | None = None, resource: str | None = None
) -> TokenResponse:
    """Step 2 (notebook 02): exchange the ID token for an ID-JAG, check and keep it.

    Args:
        resource: the RFC 8707 resource the ID-JAG (and then the access token) is for (default: RESOURCE).
    """
    settings = kit.settings
    id_token = kit.require("id_token").value
    audience = audience or settings.audience
    resource = resource or settings.resource
    form = token_exchange_form(
        subject_token=id_token,
        audience=audience,
        scopes=scopes if scopes is not None else list(settings.agent_scopes),
        subject_token_type=settings.subject_token_type,
        resource=resource,
    )
    response = kit.token_request(settings.org_token_url, form, label="Token exchange (RFC 8693)")
    check_exchange_response(response).raise_if_failed()
    check_id_jag(
        response["access_token"],
        jwks=kit.org_jwks(),
        issuer=settings.org_issuer,
        audience=audience,
        client_id=settings.agent_client_id,
        subject=decode_unverified(id_token)[1].get("sub", ""),
        requested_scopes=form["scope"],
        resource=resource,
    ).raise_if_failed()
    kit.remember(
        "id_jag", response["access_token"], audience=audience, scope=form["scope"], resource=resource
    )
    return response


def run_jwt_bearer(kit: Kit) -> TokenResponse:
    """Step 3 (notebook 03): redeem the ID-JAG at the custom server, check and keep the access token."""
    settings = kit.settings
    item = kit.require("id_jag")
    audience = item.extra.get("audience", settings.audience)
    token_url = kit.server_metadata(audience)["token_endpoint"]
    response = kit.token_request(
        token_url,
        jwt_bearer_form(item.value, resource=item.extra.get("resource") or settings.resource),
        label="JWT bearer grant (RFC 7523)",
    )
    kit.mark_used("id_jag")
    check_bearer_response(response).raise_if_failed()
    check_access_token(
        response["access_token"],
        jwks=kit.jwks_of(audience),
        issuer=audience,
        client_id=settings.agent_client_id,
        id_jag_claims=decode_unverified(item.value)[1],
    ).raise_if_failed()
    kit.remember("access_token", response["access_token"], scope=response.get("scope", ""))
    return response


def run_api_call(kit: Kit) -> ApiResult:
    """Step 4 (notebook 04): call API_URL with the access token."""
    return call_api(kit.http, kit.settings.api_url, kit.require("access_token").value)


_RUNNERS = {
    "id_token": run_sign_in,
    "org_access_token": run_sign_in,
    "id_jag": run_token_exchange,
    "access_token": run_jwt_bearer,
}


def rerun(kit: Kit, name: str) -> None:
    """Re-run the step that makes `name` (and, through `require`, any step before it)."""
    runner = _RUNNERS.get(name)
    if runner is None:
        raise SessionError(f'no step makes "{name}", expected one of {sorted(_RUNNERS)}')
    runner(kit)


def require(kit: Kit, name: str) -> SessionItem:
    """Return an earlier step's result; headless, re-run the step(s) that make it when it is missing.

    A headless re-run logs its requests under the notebook that normally makes the result (so the
    asking notebook's log shows only its own requests), and the item returned says it was re-run.

    Raises:
        SessionError: missing, expired or used, naming the notebook to run (interactive runs).
    """
    from .core.session import RESULTS

    try:
        return kit.session.get(name)
    except SessionError as exc:
        if not kit.settings.headless:
            raise
        producer = RESULTS.get(name, (f"{kit.phase}.ipynb", name))[0].removesuffix(".ipynb")
        maker = type(kit)(kit.settings, phase=producer, key=kit.key, fresh_log=False)
        try:
            rerun(maker, name)
        except KitError as inner:
            raise SessionError(f"{exc}; re-running it headless failed: {inner}") from inner
        kit.reran.append(name)
        item = kit.session.get(name)
        item.rerun_note = f"(headless: {producer}.ipynb was re-run just now, because: {exc})"
        return item
