"""The cases of notebook 05 as data (`CASES`), the requests they send, the summary and the index.

Each case's `run` is what its cell in the notebook writes, with the same bench primitives
(`workbench.CaseBench`). A case whose change is form fields holds them as data (`FieldChange`): the
three token exchanges and the JWT bearer request that differ from a working one in one field are one
runner (`CaseBench.send_changed`) and their field overrides.

`CASES` is the one source of the notebook, the summary table (`summary()`, `summary_markdown()`) and the
troubleshooting page's table (a test keeps docs/troubleshooting.md in step).
"""

from __future__ import annotations

import time

from ...constants import TOKEN_TYPE_ACCESS_TOKEN
from ...sandbox_client.ids import EXPIRED_ID_TOKEN_CLIENT, OTHER_SERVER, OTHER_SERVER_SCOPE, PUBLIC_SPA
from .workbench import Attempt, Case, CaseBench, Expected, FieldChange, Index, Summary, numbered
from .workbench import summary_rows as engine_summary_rows

# --- The requests: each is its notebook cell, the one change marked ---------------------------------------


def _assertion_aud_issuer(bench: Workbench) -> Attempt:
    assertion = bench.assertion(aud=bench.settings.org_issuer)  # the one change: the issuer
    return bench.send_exchange(bench.exchange_form(), assertion=assertion)


def _assertion_sent_twice(bench: Workbench) -> Attempt:
    assertion = bench.assertion()
    bench.send_exchange(bench.exchange_form(), assertion=assertion).expect(200)
    return bench.send_exchange(bench.exchange_form(), assertion=assertion)  # the one change: again


def _assertion_expired(bench: Workbench) -> Attempt:
    assertion = bench.assertion(issued_at=time.time() - 600)  # the one change: signed 10 minutes ago
    return bench.send_exchange(bench.exchange_form(), assertion=assertion)


def _assertion_unknown_kid(bench: Workbench) -> Attempt:
    assertion = bench.assertion(key=bench.new_key())  # the one change: a key nobody registered
    return bench.send_exchange(bench.exchange_form(), assertion=assertion)


def _subject_access_token(bench: Workbench) -> Attempt:
    form = bench.exchange_form(
        subject_token=bench.access_token(),  # the one change: an access token as the subject,
        subject_token_type=TOKEN_TYPE_ACCESS_TOKEN,  # and its type says so
    )
    return bench.send_exchange(form)


def _expired_id_token(bench: Workbench) -> Attempt:
    tokens = bench.sign_in_as(EXPIRED_ID_TOKEN_CLIENT)
    form = bench.exchange_form(subject_token=tokens["id_token"])  # the one change: an expired ID token
    return bench.send_exchange(form, client=EXPIRED_ID_TOKEN_CLIENT)


def _id_token_other_client(bench: Workbench) -> Attempt:
    tokens = bench.sign_in_as(PUBLIC_SPA, public=True)
    form = bench.exchange_form(subject_token=tokens["id_token"])  # the one change: another app's ID token
    return bench.send_exchange(form)


def _id_jag_redeemed_twice(bench: Workbench) -> Attempt:
    id_jag = bench.id_jag()
    bench.send_bearer(bench.bearer_form(id_jag)).expect(200)
    return bench.send_bearer(bench.bearer_form(id_jag))  # the one change: the same ID-JAG again


def _id_jag_wrong_server(bench: Workbench) -> Attempt:
    reports = f"{bench.settings.org_url}/oauth2/{OTHER_SERVER}"
    id_jag = bench.id_jag()
    return bench.send_bearer(bench.bearer_form(id_jag), at=reports)  # the one change: redeemed there


def _no_policy_rule(bench: Workbench) -> Attempt:
    reports = f"{bench.settings.org_url}/oauth2/{OTHER_SERVER}"
    id_jag = bench.id_jag(audience=reports, scope=OTHER_SERVER_SCOPE)
    return bench.send_bearer(bench.bearer_form(id_jag), at=reports)  # the one change: a server with no rule


def _api_call_without_scope(bench: Workbench) -> Attempt:
    token = bench.access_token(scope="todo.read")  # the one change: todo.read only
    return bench.call_api(token, method="POST", json={"title": "Water the plants"})


def _tampered_access_token(bench: Workbench) -> Attempt:
    token = bench.access_token()
    scp = [*bench.claims(token)["scp"], "todo.admin"]  # the one change: a claim edited,
    return bench.call_api(bench.forge(token, scp=scp))  # the header and the signature kept


CLIENT_AUTH = "client authentication"
EXCHANGE = "token exchange, org server"
BEARER = "JWT bearer grant, custom server"
API_CALL = "API call"

_CASES_TABLE = (
    Case(
        "assertion_aud_is_issuer",
        CLIENT_AUTH,
        'The client assertion\'s "aud" is the issuer',
        'the client assertion\'s aud is "{org}" (the issuer) instead of "{org_token_url}" (the endpoint)',
        Expected(
            401,
            "invalid_client",
            "The audience claim for client_assertion must be the endpoint invoked for the request.",
            "client_assertion_invalid_audience",
        ),
        "Okta compares the assertion's aud with the exact URL of the endpoint invoked, and the issuer is "
        "another string.",
        "Sign a new assertion per request with aud = the token URL you POST to (org or custom server).",
        _assertion_aud_issuer,
    ),
    Case(
        "assertion_sent_twice",
        CLIENT_AUTH,
        "The same client assertion sent twice",
        "a correct token exchange, then the same request again with the same client assertion",
        Expected(
            401,
            "invalid_client",
            "The client_assertion token has already been used.",
            "client_assertion_already_used",
        ),
        "An assertion's jti makes it single use: the server remembers it until the assertion expires.",
        "Sign a fresh assertion (new jti) for every token request; never cache or reuse one.",
        _assertion_sent_twice,
    ),
    Case(
        "assertion_expired",
        CLIENT_AUTH,
        "An expired client assertion",
        "the client assertion was signed 10 minutes ago and expired 8 minutes ago",
        Expected(
            401,
            "invalid_client",
            "The client_assertion token is expired.",
            "client_assertion_expired_token",
        ),
        "The assertion's exp is in the past, beyond the clock skew the server allows.",
        "Sign the assertion right before the request, with exp a few minutes ahead; check the clock.",
        _assertion_expired,
    ),
    Case(
        "assertion_unknown_kid",
        CLIENT_AUTH,
        "An assertion signed with a key the server does not know",
        "the client assertion is signed with a new key pair, so its kid names no registered key",
        Expected(
            401,
            "invalid_client",
            "The client_assertion JWT kid is invalid.",
            "client_assertion_invalid_kid",
        ),
        "The server picks the verification key by the assertion's kid; the client's JWKS has no such key.",
        "Register the public JWK with the agent (Directory > AI Agents) or sign with the registered key; the "
        "kit's kid is the RFC 7638 thumbprint.",
        _assertion_unknown_kid,
    ),
    Case(
        "subject_is_access_token",
        EXCHANGE,
        "An access token as the subject token, with no delegation link",
        "subject_token is an access token and subject_token_type says access_token",
        Expected(
            400,
            "invalid_request",
            "'subject_token' is invalid: no delegation policy authorizes this token.",
            "invalid_subject_token_no_delegation_link",
        ),
        "Okta accepts an access token as subject only through a delegation link (machine access), and "
        "no link authorizes this one.",
        "Exchange the user's ID token (subject_token_type ...:id_token), or set up a delegation link for the "
        "access-token variant.",
        _subject_access_token,
    ),
    Case(
        "expired_id_token",
        EXCHANGE,
        "An expired ID token",
        "the ID token has expired (the sandbox's client wlpExpiredIdToken001 is issued ID tokens that are "
        "already expired; at Okta you would wait an hour)",
        Expected(
            400,
            "invalid_grant",
            "The 'subject_token' either expired or the session associated with it was terminated.",
            "token_exchange_subject_token_expired",
        ),
        "The subject token's exp has passed: the issuer exchanges only a live identity assertion.",
        "Sign the user in again (notebook 01) for a fresh ID token; check exp before exchanging.",
        _expired_id_token,
        sandbox_only="it needs an ID token that has already expired (the sandbox issues one to "
        "wlpExpiredIdToken001; Okta's last an hour)",
    ),
    Case(
        "id_token_of_another_client",
        EXCHANGE,
        "An ID token issued to another client",
        "the subject token is an ID token issued to another app (the sandbox's public app "
        "0oaPublicSpa00000001), not to the agent",
        Expected(400, "invalid_request", "'subject_token' is invalid.", "invalid_subject_token"),
        "The ID token's aud is another client; the issuer exchanges only an ID token issued to the client "
        "that asks (ID-JAG -04 §4.3.3).",
        "Sign the user in with the agent's own client id (at Okta, the agent's linked OIDC app) and exchange "
        "that ID token.",
        _id_token_other_client,
        sandbox_only="it signs the demo user in to a second app of the sandbox, headless",
    ),
    Case(
        "openid_in_exchange_scopes",
        EXCHANGE,
        '"openid" in the token exchange scopes',
        'scope is "openid" plus the agent\'s scopes',
        Expected(
            400,
            "invalid_scope",
            "Can't request 'openid' scopes using the Token Exchange flow for a service app.",
            "openid_not_allowed_token_exchange",
        ),
        "OIDC scopes (openid, profile, email) belong to the sign-in; Okta refuses them in a token exchange.",
        "Ask only for the target server's custom scopes (AGENT_SCOPES, e.g. todo.read).",
        FieldChange("exchange", {"scope": "openid {agent_scope}"}),
    ),
    Case(
        "audience_is_token_url",
        EXCHANGE,
        "The audience given as the target server's token URL",
        'audience is "{custom_token_url}" instead of the issuer "{audience}"',
        Expected(
            400,
            "invalid_target",
            "Token Exchange requests must include a valid audience of the authorization server.",
            "token_exchange_invalid_audience",
        ),
        "The audience must be the target server's issuer exactly; its token URL is another string.",
        "Send audience = the issuer of the custom server's metadata, {org}/oauth2/{authServerId}.",
        FieldChange("exchange", {"audience": "{audience}/v1/token"}),
    ),
    Case(
        "audience_trailing_slash",
        EXCHANGE,
        "The audience with a trailing slash",
        'audience is "{audience}/" instead of "{audience}"',
        Expected(
            400,
            "invalid_target",
            "Token Exchange requests must include a valid audience of the authorization server.",
            "token_exchange_invalid_audience",
        ),
        "Issuers compare as exact strings: one trailing slash names another server.",
        "Copy the issuer from the server's metadata, with no trailing slash.",
        FieldChange("exchange", {"audience": "{audience}/"}),
    ),
    Case(
        "id_jag_redeemed_twice",
        BEARER,
        "An ID-JAG redeemed twice",
        "a correct JWT bearer request, then the same request again with the same ID-JAG",
        Expected(400, "invalid_grant", "The id-jag was already used.", "id_jag_replayed"),
        "Okta (id_jag_replayed) and MCP EMA §7.4.2 make an ID-JAG single use: the target remembers its jti "
        "until it expires. The draft alone (ID-JAG -04 §4.4.3) would let a client re-submit it.",
        "Get a new ID-JAG (notebook 02) for each JWT bearer request; keep the access token until it expires "
        "instead.",
        _id_jag_redeemed_twice,
    ),
    Case(
        "id_jag_wrong_server",
        BEARER,
        "An ID-JAG sent to the wrong authorization server",
        'an ID-JAG issued for "{audience}" is redeemed at "{other_issuer}"',
        Expected(
            400,
            "invalid_grant",
            "The audience of the JWT Bearer Grant must match the the issuer of the authorization server.",
            "jwt_bearer_grant_invalid_audience",
        ),
        "The ID-JAG's aud names the server it was issued for; any other server refuses it.",
        "Redeem it at the token endpoint of the issuer in its aud, or exchange again with the other server's "
        "issuer as audience.",
        _id_jag_wrong_server,
        sandbox_only="it needs a second custom authorization server (the sandbox's reports)",
    ),
    Case(
        "scope_in_jwt_bearer",
        BEARER,
        'A "scope" parameter in the JWT bearer request',
        "the JWT bearer form carries scope, the agent's scopes",
        Expected(
            400,
            "invalid_request",
            "The id-jag request must not include a 'scope' parameter.",
            "id_jag_scopes_in_request",
        ),
        "At Okta the scopes come from the ID-JAG; a scope parameter in the JWT bearer request is refused.",
        "Leave scope out of the JWT bearer request; ask for the scopes in the token exchange.",
        FieldChange("bearer", {"scope": "{agent_scope}"}),
    ),
    Case(
        "no_policy_rule",
        BEARER,
        "No policy rule allowing the JWT bearer grant",
        'an ID-JAG for "{other_issuer}" (allowed by the resource connection) is redeemed there, where no '
        "access policy rule lets the agent use the JWT bearer grant",
        Expected(
            401,
            "access_denied",
            "Policy evaluation failed for this request, please check the policy configurations.",
            "no_matching_policy",
        ),
        "The target server's access policy has no rule that allows this client the JWT bearer grant.",
        "Add an access policy rule on the custom server for the agent, with the JWT bearer grant and its "
        "scopes (Security > API > Authorization Servers).",
        _no_policy_rule,
        sandbox_only="it needs a server whose policy lacks the rule (the sandbox's reports)",
    ),
    Case(
        "api_call_without_scope",
        API_CALL,
        "An API call lacking the needed scope",
        "POST a to-do (needs todo.write) with an access token that carries todo.read only",
        Expected(
            403,
            "insufficient_scope",
            "The access token provided does not contain the required scopes.",
            "access_token_insufficient_scopes",
        ),
        "The token is valid, but its scp lacks the scope this route needs.",
        "Ask for the scope in the token exchange (AGENT_SCOPES=todo.read todo.write) if the resource "
        "connection and the access policy allow it.",
        _api_call_without_scope,
        sandbox_only="it calls the sandbox's demo API",
    ),
    Case(
        "tampered_access_token",
        API_CALL,
        "A tampered access token",
        "one claim of the access token is edited (todo.admin added to scp), the signature kept",
        Expected(401, "invalid_token", "The access token is invalid.", "access_token_invalid"),
        "The signature covers the header and the claims; an edited claim breaks it, and the API verifies it "
        "with the server's key.",
        "Never edit a token: get a new one with the scopes you need.",
        _tampered_access_token,
        sandbox_only="it calls the sandbox's demo API",
    ),
)
CASES: tuple[Case, ...] = numbered(_CASES_TABLE)


# --- The bench and the tables -----------------------------------------------------------------------------
class Workbench(CaseBench):
    """Notebook 05's bench: fresh, correct ingredients for each of `CASES`, and a safe sender.

    Example:
        bench = Workbench(kit)
        bench.run("audience_is_token_url")
    """

    cases = CASES


def summary_rows() -> list[tuple[str, str, str, str, str]]:
    """(response, Okta reason, case, cause, fix) for every case, in the notebook's order."""
    return engine_summary_rows(CASES)


def summary_markdown() -> str:
    """The summary as a Markdown table (the troubleshooting page's table)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "| Response | Okta reason | Case | Cause | Fix |",
        "|---|---|---|---|---|",
    ]
    for response, reason, title, cause, fix in summary_rows():
        lines.append(f"| `{response}` | `{reason}` | {cell(title)} | {cell(cause)} | {cell(fix)} |")
    return "\n".join(lines)


def summary() -> Summary:
    """The summary table of every case."""
    return Summary(CASES)


def index() -> Index:
    """The list of cases, for the top of notebook 05."""
    return Index(CASES)
