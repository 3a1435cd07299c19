"""The sandbox's System Log: each decision of its token, authorize and API endpoints, as an Okta log event.

- Okta System Log API, the LogEvent object: `uuid`, `published`, `eventType`, `displayMessage`,
  `severity`, `outcome` {`result`, `reason`}, `actor`, `client`, `target`, `transaction`,
  `debugContext.debugData` (https://developer.okta.com/docs/reference/api/system-log/)
- Okta's `X-Okta-Request-Id` response header: each event's `transaction.id` is the id of the request
  it answers, so a client finds the server's side of any request it made.

Error bodies are short and exact; this log says why. A refusal is recorded
by `errors.refuse` (outcome FAILURE, `reason` = Okta's internal error code); a grant issued by the
grant modules through `record_success`. Each sandbox instance keeps its own bounded, thread-safe log;
the functions here find the instance serving the current request through Flask's `current_app`.

What an event never holds: a secret, a password, a whole token or assertion. Tokens appear only as
their `jti` or a short fingerprint (`fingerprint`), and every value is scrubbed of anything that
looks like a JWT before it is stored.

Event types. Those in Okta's event-type catalog (release 2026.08.1; the entries used are copied to
`data/okta-event-types.json`) keep Okta's names. Okta's catalog defines them by what succeeds ("ID-JAG
granted ... when an app successfully completes an OAuth token exchange"); which type Okta writes when it
refuses the same request is not documented. The sandbox writes the same type with outcome FAILURE (the
kit's choice). Where Okta has no type for a decision the sandbox logs, the name starts with `sandbox.`
so that nobody filters a real org's log for it:

    user.session.start                          the sign-in form: a user signed in, or not
    app.oauth2.authorize.code                   /authorize: a code issued, or the request refused
    app.oauth2.token.grant.id_token             org /token, authorization code: ID token issued or refused
    app.oauth2.token.grant.id_jag               org /token, token exchange: ID-JAG issued or refused
    app.oauth2.as.token.grant.access_token      custom /token, JWT bearer or client credentials
    app.oauth2.as.authorize.code                custom /authorize: a code issued, or the request refused
    app.oauth2.as.token.grant.id_token          custom /token, authorization code: tokens issued or refused
    app.oauth2.token.grant                      org /token refused before a grant was known
    app.oauth2.as.token.grant                   custom /token refused before a grant was known
    sandbox.oauth2.token.client_authentication  org /token: the client could not be authenticated
    sandbox.oauth2.as.token.client_authentication  custom /token: the same
    sandbox.oauth2.userinfo.read                /userinfo refused
    sandbox.api.access                          the demo API: a call allowed or refused
    sandbox.mcp.access                          the MCP server: a request allowed or refused
    sandbox.http.request                        anything else refused (unknown path, method, size)
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import current_app, g, has_app_context, has_request_context, request

if TYPE_CHECKING:
    from .errors import SandboxError

log = logging.getLogger("sandbox.events")

# --- Event types ------------------------------------------------------------------------------

SESSION_START = "user.session.start"
AUTHORIZE_CODE = "app.oauth2.authorize.code"
ID_TOKEN_GRANT = "app.oauth2.token.grant.id_token"
ID_JAG_GRANT = "app.oauth2.token.grant.id_jag"
ACCESS_TOKEN_GRANT = "app.oauth2.as.token.grant.access_token"
#: A custom server's sign-in (Okta's machine access: the origin app signs the user in there).
AS_AUTHORIZE_CODE = "app.oauth2.as.authorize.code"
AS_CODE_GRANT = "app.oauth2.as.token.grant.id_token"
ORG_TOKEN_REQUEST = "app.oauth2.token.grant"
CUSTOM_TOKEN_REQUEST = "app.oauth2.as.token.grant"
#: The prefix of the sandbox's own event types: decisions Okta's catalog has no type for.
SANDBOX_PREFIX = "sandbox."
ORG_CLIENT_AUTH = SANDBOX_PREFIX + "oauth2.token.client_authentication"
CUSTOM_CLIENT_AUTH = SANDBOX_PREFIX + "oauth2.as.token.client_authentication"
USERINFO = SANDBOX_PREFIX + "oauth2.userinfo.read"
API_ACCESS = SANDBOX_PREFIX + "api.access"
HTTP_REQUEST = SANDBOX_PREFIX + "http.request"
#: The sandbox's MCP server (sandbox/mcp_server.py): its requests run under this Flask endpoint name.
MCP_ACCESS = SANDBOX_PREFIX + "mcp.access"
MCP_ENDPOINT = "mcp_access"

#: eventType -> (displayMessage, what it records). The README's troubleshooting section lists these.
EVENT_TYPES: dict[str, tuple[str, str]] = {
    SESSION_START: ("User login to the sandbox org", "the sign-in form: a user signed in, or not"),
    AUTHORIZE_CODE: (
        "OAuth2 authorization code request",
        "/oauth2/v1/authorize: a code issued, or the request refused",
    ),
    ID_TOKEN_GRANT: (
        "OAuth2 ID token request (authorization code grant)",
        "org /oauth2/v1/token, authorization code: ID token (and org access token) issued or refused",
    ),
    ID_JAG_GRANT: (
        "OAuth2 ID-JAG request (token exchange)",
        "org /oauth2/v1/token, RFC 8693 token exchange: ID-JAG issued or refused",
    ),
    ACCESS_TOKEN_GRANT: (
        "OAuth2 access token request (JWT bearer grant with an ID-JAG, or client credentials)",
        "custom /oauth2/{id}/v1/token, JWT bearer (RFC 7523) or client credentials: access token issued "
        "or refused",
    ),
    AS_AUTHORIZE_CODE: (
        "OAuth2 authorization code request (custom authorization server)",
        "custom /oauth2/{id}/v1/authorize: a code issued, or the request refused",
    ),
    AS_CODE_GRANT: (
        "OAuth2 token request (authorization code grant, custom authorization server)",
        "custom /oauth2/{id}/v1/token, authorization code: access token (and ID token) issued or refused",
    ),
    ORG_CLIENT_AUTH: (
        "OAuth2 client authentication",
        "org /oauth2/v1/token: the client could not be authenticated (client assertion, secret)",
    ),
    CUSTOM_CLIENT_AUTH: (
        "OAuth2 client authentication",
        "custom /oauth2/{id}/v1/token: the client could not be authenticated",
    ),
    ORG_TOKEN_REQUEST: (
        "OAuth2 token request",
        "org /oauth2/v1/token refused before a grant was known (grant type, form)",
    ),
    CUSTOM_TOKEN_REQUEST: (
        "OAuth2 token request",
        "custom /oauth2/{id}/v1/token refused before a grant was known",
    ),
    USERINFO: ("OIDC userinfo request", "/oauth2/v1/userinfo refused"),
    API_ACCESS: ("Demo API request", "the demo to-do API: a call allowed or refused (the API's own log)"),
    MCP_ACCESS: ("MCP server request", "the sandbox's MCP server: a request allowed or refused"),
    HTTP_REQUEST: (
        "HTTP request refused",
        "anything else refused: unknown path, wrong method, body too large",
    ),
}

#: Internal error codes of client authentication (client_auth.py); `client_assertion_*` too.
CLIENT_AUTH_CODES = frozenset(
    {
        "invalid_client",
        "invalid_client_secret",
        "invalid_basic_auth_creds",
        "invalid_token_endpoint_auth_method",
        "missing_client_credentials",
        "multiple_client_credentials",
    }
)

#: Form and query parameters worth recording, under Okta-like debugData names. Never a secret,
#: a code, a verifier, a password or a token (those are recorded as a `jti` at most).
_RECORDED_PARAMS = {
    "grant_type": "grantType",
    "scope": "requestedScopes",
    "audience": "audience",
    "resource": "resource",
    "requested_token_type": "requestedTokenType",
    "subject_token_type": "subjectTokenType",
    "client_assertion_type": "clientAssertionType",
    "client_id": "clientId",
    "redirect_uri": "redirectUri",
    "response_type": "responseType",
    "code_challenge_method": "codeChallengeMethod",
    "prompt": "prompt",
}
#: Parameters carrying a JWT whose `jti` (never the token) helps find it: parameter -> debugData name.
_TOKEN_PARAMS = {
    "client_assertion": "clientAssertionJti",
    "subject_token": "subjectTokenJti",
    "assertion": "assertionJti",
}

#: Endpoints whose form body the app parses anyway (token endpoints, the sign-in form).
_FORM_ENDPOINTS = frozenset({"org_token", "custom_token", "authorize_sign_in", "custom_authorize_sign_in"})

#: Runs of base64url characters and dots; one holding two long dot-separated parts looks like a JWT.
#: (One character class, no nested repetition: linear time on hostile input.)
_TOKEN_RUN = re.compile(r"[A-Za-z0-9_.-]+")
_MAX_VALUE = 300


def fingerprint(token: str) -> str:
    """Return a short, one-way fingerprint of a token: `sha256:` and 16 base64url characters."""
    digest = hashlib.sha256(token.encode("utf-8", "replace")).digest()
    return "sha256:" + base64.urlsafe_b64encode(digest).decode("ascii")[:16]


def scrub(value: Any) -> str:
    """Return a value as text fit for the log: JWT-like runs replaced by their fingerprint, capped."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = _TOKEN_RUN.sub(
        lambda m: fingerprint(m.group(0)) if _looks_like_jwt(m.group(0)) else m.group(0), text
    )
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _looks_like_jwt(run: str) -> bool:
    """True for a run like `header.payload.signature`: a JSON header (`ey…`) and a payload, 8+ chars each."""
    parts = run.split(".")
    pairs = zip(parts[:-2], parts[1:-1], strict=True)
    return any(head.startswith("ey") and len(head) >= 8 and len(body) >= 8 for head, body in pairs)


def _jti_of(token: str) -> str | None:
    """Return a JWT's `jti` (unverified; only to name it), or None."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 16384:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError):
        return None
    jti = claims.get("jti") if isinstance(claims, dict) else None
    return scrub(jti)[:100] if isinstance(jti, str) and jti else None


def iso_millis(epoch: float) -> str:
    """Format epoch seconds as Okta's `published`: `2026-11-29T01:02:03.456Z`."""
    whole = int(epoch)
    millis = int((epoch - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def new_request_id() -> str:
    """Return a new request id in the spirit of Okta's `X-Okta-Request-Id`."""
    return secrets.token_urlsafe(18)


def request_id() -> str | None:
    """Return the current request's id (made on first use), or None outside a request."""
    if not has_request_context():
        return None
    rid = g.get("okta_request_id")
    if rid is None:
        rid = g.okta_request_id = new_request_id()
    return rid


# --- The log ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    """What an event says about a token it issued: its kind and `jti`, never the token itself."""

    kind: str
    jti: str
    expires_at: int | None = None
    audience: str | None = None
    scope: str | None = None

    def target(self) -> dict[str, Any]:
        """The token as an Okta event target."""
        detail: dict[str, Any] = {}
        if self.expires_at is not None:
            detail["expires"] = iso_millis(self.expires_at)
        if self.audience:
            detail["audience"] = scrub(self.audience)
        if self.scope:
            detail["scopes"] = scrub(self.scope)
        return {
            "id": scrub(self.jti),
            "type": self.kind,
            "alternateId": scrub(self.jti),
            "displayName": {"id_jag": "ID-JAG", "access_token": "Access token", "id_token": "ID token"}.get(
                self.kind, self.kind
            ),
            "detailEntry": detail,
        }


class EventLog:
    """A bounded, thread-safe list of events, oldest first (Okta's default order)."""

    def __init__(self, maxlen: int = 2000) -> None:
        self._events: deque[tuple[int, float, dict[str, Any]]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._last = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def append(self, event: dict[str, Any], *, at: float) -> dict[str, Any]:
        """Store an event published at epoch `at`; return it."""
        with self._lock:
            self._last = next(self._seq)
            self._events.append((self._last, at, event))
        return event

    def cursor(self) -> int:
        """Return a position: `list(since=cursor())` later returns only the events recorded after it."""
        with self._lock:
            return self._last

    def list(self, *, since: int = 0) -> list[dict[str, Any]]:
        """Return (deep copies of) the events recorded after position `since`, oldest first."""
        with self._lock:
            picked = [e for seq, _, e in self._events if seq > since]
        return [json.loads(json.dumps(e)) for e in picked]

    def query(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        where: Callable[[dict[str, Any]], bool] | None = None,
        after: str | None = None,
        limit: int = 100,
        descending: bool = False,
    ) -> list[dict[str, Any]]:
        """Return up to `limit` events with `since` <= published < `until` that `where` accepts.

        Args:
            after: a `uuid`: only events after that one in the chosen order (Okta's paging cursor).
            descending: newest first (Okta `sortOrder=DESCENDING`); default oldest first.
        """
        with self._lock:
            items = [(at, e) for _, at, e in self._events]
        if descending:
            items.reverse()
        if after is not None:
            for index, (_, event) in enumerate(items):
                if event.get("uuid") == after:
                    items = items[index + 1 :]
                    break
            else:
                items = []
        out = []
        for at, event in items:
            if since is not None and at < since:
                continue
            if until is not None and at >= until:
                continue
            if where is not None and not where(event):
                continue
            out.append(json.loads(json.dumps(event)))
            if len(out) >= limit:
                break
        return out


def _current_sandbox() -> Any:
    if not has_app_context():
        return None
    return current_app.extensions.get("sandbox")


def _current_log() -> EventLog | None:
    return getattr(_current_sandbox(), "events", None)


# --- Building events --------------------------------------------------------------------------


def event_type_for(internal_code: str | None) -> str:
    """Choose the event type of a refusal from the endpoint, the grant type and the reason."""
    if not has_request_context():
        return HTTP_REQUEST
    endpoint = request.endpoint or ""
    if endpoint in ("org_token", "custom_token"):
        org = endpoint == "org_token"
        code = internal_code or ""
        if code in CLIENT_AUTH_CODES or code.startswith("client_assertion_"):
            return ORG_CLIENT_AUTH if org else CUSTOM_CLIENT_AUTH
        grant = request.form.get("grant_type", "") if request.method == "POST" else ""
        if org and grant == "authorization_code":
            return ID_TOKEN_GRANT
        if org and grant == "urn:ietf:params:oauth:grant-type:token-exchange":
            return ID_JAG_GRANT
        if not org and grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return ACCESS_TOKEN_GRANT
        if not org and grant == "authorization_code":
            return AS_CODE_GRANT
        return ORG_TOKEN_REQUEST if org else CUSTOM_TOKEN_REQUEST
    if endpoint in ("authorize_page", "authorize_sign_in"):
        return AUTHORIZE_CODE
    if endpoint in ("custom_authorize_page", "custom_authorize_sign_in"):
        return AS_AUTHORIZE_CODE
    if endpoint == "userinfo":
        return USERINFO
    if endpoint.startswith("api_") and endpoint != "api_metadata":
        return API_ACCESS
    if endpoint == MCP_ENDPOINT:
        return MCP_ACCESS
    return HTTP_REQUEST


def _request_facts() -> dict[str, str]:
    """Non-secret facts about the current request, as Okta-like debugData."""
    if not has_request_context():
        return {}
    facts = {
        "requestId": request_id() or "",
        "requestUri": scrub(request.path),
        "httpMethod": request.method,
    }
    try:
        # The form only where the endpoint has read it already (never read a body just to log it).
        parsed = request.method == "POST" and request.endpoint in _FORM_ENDPOINTS
        params = request.form if parsed and request.mimetype.endswith("urlencoded") else request.args
        for name, key in _RECORDED_PARAMS.items():
            values = params.getlist(name)
            if values:
                facts[key] = scrub(" ".join(values))
        for name, key in _TOKEN_PARAMS.items():
            value = params.get(name)
            jti = _jti_of(value) if value else None
            if jti:
                facts[key] = jti
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            jti = _jti_of(credentials.strip())
            facts["accessTokenJti" if jti else "accessTokenFingerprint"] = jti or fingerprint(credentials)
    except Exception:  # noqa: BLE001 - a malformed body must not stop the refusal from being recorded
        log.debug("could not read the request's parameters for the event log", exc_info=True)
    return facts


def _actor(client_id: str | None) -> dict[str, Any]:
    sandbox = _current_sandbox()
    client = sandbox.config.clients.get(client_id) if sandbox is not None and client_id else None
    if client is None:
        shown = scrub(client_id) if client_id else "unknown"
        return {"id": shown, "type": "PublicClientApp", "alternateId": shown, "displayName": "Unknown client"}
    return {
        "id": client.client_id,
        "type": "PublicClientApp",
        "alternateId": client.client_id,
        "displayName": client.name,
    }


def _user_target(user_id: str | None) -> dict[str, Any] | None:
    sandbox = _current_sandbox()
    if sandbox is None or not isinstance(user_id, str):
        return None
    user = sandbox.config.user_by_id(user_id)
    if user is None:
        return {"id": scrub(user_id), "type": "User", "alternateId": "unknown", "displayName": "Unknown user"}
    return {"id": user.id, "type": "User", "alternateId": user.username, "displayName": user.name}


def _client_context(client_id: str | None) -> dict[str, Any]:
    if not has_request_context():
        return {"id": client_id}
    return {
        "id": client_id,
        "userAgent": {"rawUserAgent": scrub(request.headers.get("User-Agent", ""))},
        "ipAddress": request.remote_addr,
        "zone": "null",
        "device": "Unknown",
    }


def build_event(
    event_type: str,
    result: str,
    *,
    reason: str | None = None,
    client_id: str | None = None,
    user_id: str | None = None,
    issued: IssuedToken | None = None,
    facts: dict[str, Any] | None = None,
    at: float | None = None,
) -> dict[str, Any]:
    """Return one Okta-shaped LogEvent for the current request (never a secret or whole token)."""
    at = time.time() if at is None else at
    debug = _request_facts()
    for key, value in (facts or {}).items():
        if value is not None and value != "":
            debug[key] = scrub(value)
    targets = [t for t in (_user_target(user_id),) if t is not None]
    if issued is not None:
        targets.append(issued.target())
    message = EVENT_TYPES.get(event_type, (event_type, ""))[0]
    rid = request_id()
    return {
        "uuid": str(uuid.uuid4()),
        "published": iso_millis(at),
        "eventType": event_type,
        "version": "0",
        "severity": "INFO" if result == "SUCCESS" else "WARN",
        "displayMessage": message,
        "outcome": {"result": result, "reason": reason},
        "actor": _actor(client_id),
        "client": _client_context(client_id),
        "target": targets,
        "transaction": {"type": "WEB", "id": rid, "detail": {}},
        "debugContext": {"debugData": debug},
    }


def _store(event: dict[str, Any], at: float) -> None:
    events = _current_log()
    if events is not None:
        events.append(event, at=at)


# --- What the sandbox's modules call ----------------------------------------------------------


def record_refusal(error: SandboxError) -> None:
    """Record a refusal: outcome FAILURE, reason = Okta's internal error code, the request's facts."""
    context = dict(error.context)
    client_id = context.pop("client_id", None)
    user_id = context.pop("user_id", None)
    log.info(
        "refused %s: %s (%s %s) client=%s",
        request.path if has_request_context() else "-",
        error.internal_code,
        error.status_code,
        error.error,
        client_id,
    )
    if _current_log() is None:
        return
    facts = {"status": str(error.status_code), "error": error.error, "errorDescription": error.description}
    facts.update({k: v for k, v in context.items() if v is not None})
    at = time.time()
    event = build_event(
        event_type_for(error.internal_code),
        "FAILURE",
        reason=error.internal_code,
        client_id=client_id if isinstance(client_id, str) else None,
        user_id=user_id if isinstance(user_id, str) else None,
        facts=facts,
        at=at,
    )
    _store(event, at)


def record_failure(event_type: str, reason: str, *, client_id: str | None = None, **facts: Any) -> None:
    """Record a failure that is not an OAuth refusal (e.g. a wrong password on the sign-in page)."""
    log.info("%s failed: %s client=%s", event_type, reason, client_id)
    if _current_log() is not None:
        at = time.time()
        _store(build_event(event_type, "FAILURE", reason=reason, client_id=client_id, facts=facts, at=at), at)


def record_success(
    event_type: str,
    *,
    client_id: str | None,
    user_id: str | None,
    issued: IssuedToken | None = None,
    **facts: Any,
) -> None:
    """Record a decision that let the request through (a grant issued, an API call allowed)."""
    if _current_log() is not None:
        at = time.time()
        event = build_event(
            event_type, "SUCCESS", client_id=client_id, user_id=user_id, issued=issued, facts=facts, at=at
        )
        _store(event, at)
