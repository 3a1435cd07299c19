"""Break it on purpose: the cases of 05_troubleshooting, what each must answer, and a bench to run them.

- Okta's OAuth 2.0 error catalog (status, `error`, `error_description`, internal code), as the sandbox
  answers; RFC 6749 §5.2 (token errors), RFC 6750 §3.1 (API errors)
- RFC 7523 §3 and Okta "Build a self-signed JWT" (client assertions), RFC 8693 §2.1 and ID-JAG -04 §4.3
  (the token exchange), RFC 7523 §2.1 and ID-JAG -04 §4.4 (the JWT bearer grant)

Each case changes one thing in a request that otherwise works, sends it, and shows the same things
in the same order: what changed, the exact response (status, `error`, `error_description`), the
server's System Log event (`helpers.system_log`), the cause in one sentence, and the fix. Its check
raises `CaseDriftError` when the status, `error` or `error_description` differ from what the case
expects (or, against the sandbox, when no event carries the expected reason), so a notebook run under
nbval, or a test, fails when behaviour drifts. Cases that need the sandbox's cooperation (another
client's sign-in, an ID token issued expired, the demo API, a second custom server) are marked
sandbox-only: against Okta they say so and send nothing.

`CASES` is the one source of the notebook, the summary table (`summary()`, `summary_markdown()`) and
the README's troubleshooting table (a test keeps the README in step).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any

from .api import call_api
from .client_assertion import ClientAssertionSigner
from .config import Settings
from .constants import TOKEN_TYPE_ACCESS_TOKEN
from .errors import KitError, OAuthError, ResponseError
from .formatting import html_table, text_table
from .jwt_bearer import jwt_bearer_form
from .jwts import decode_unverified
from .keys import agent_key_from_private, generate_private_key
from .oauth import post_token_request
from .signin import code_exchange_form, new_authorization_request, sign_in_headless
from .system_log import ServerSide, server_side
from .token_exchange import token_exchange_form
from .transport import Exchange, redact_url

#: The sandbox's client whose ID tokens are issued already expired (sandbox/default.toml).
EXPIRED_ID_TOKEN_CLIENT = "wlpExpiredIdToken001"
#: The sandbox's public single-page app: "an ID token issued to another client".
OTHER_CLIENT = "0oaPublicSpa00000001"
#: The sandbox's second custom server: the agent may get ID-JAGs for it, its policy has no rule for it.
OTHER_SERVER = "reports"
OTHER_SERVER_SCOPE = "reports.read"


class CaseDriftError(KitError):
    """A troubleshooting case got another answer than the one it documents."""


@dataclass(frozen=True)
class Expected:
    """What a case must answer: Okta's status, `error`, `error_description`, and the internal code."""

    status: int
    error: str
    description: str
    reason: str

    @property
    def response(self) -> str:
        """`401 invalid_client`."""
        return f"{self.status} {self.error}"


@dataclass
class Attempt:
    """The request a case turns on: what was sent (the change named), and the answer."""

    exchange: Exchange
    changed: list[tuple[str, str]]

    @property
    def body(self) -> dict[str, Any]:
        """The response's JSON object (empty when it is not one)."""
        return self.exchange.json if isinstance(self.exchange.json, dict) else {}

    @property
    def status(self) -> int:
        """The HTTP status."""
        return self.exchange.status

    @property
    def error(self) -> str | None:
        """The OAuth `error`, if any."""
        value = self.body.get("error")
        return value if isinstance(value, str) else None

    @property
    def error_description(self) -> str | None:
        """The OAuth `error_description`, if any."""
        value = self.body.get("error_description")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Case:
    """One way to break the flow: the change, what the server answers, why, and the fix."""

    key: str
    step: str
    title: str
    change: str
    expected: Expected
    cause: str
    fix: str
    #: Makes the failing request (None for a case shown elsewhere, e.g. notebook 06's refusal).
    run: Callable[[Workbench], Attempt] | None = field(repr=False, compare=False)
    sandbox_only: str | None = None

    @property
    def number(self) -> int | None:
        """The case's number in the troubleshooting notebook (1-based), None for a case of another one."""
        keys = [c.key for c in CASES]
        return keys.index(self.key) + 1 if self.key in keys else None

    @property
    def label(self) -> str:
        """`Case 10 (audience_trailing_slash)`, or the key alone for a case outside `CASES`."""
        return f"Case {self.number} ({self.key})" if self.number else self.key

    @property
    def heading(self) -> str:
        """`Case 10 · The audience with a trailing slash` (no number outside `CASES`)."""
        return f"Case {self.number} · {self.title}" if self.number else self.title


# --- The bench --------------------------------------------------------------------------------------


class Workbench:
    """Fresh, correct ingredients for each case (an ID token, ID-JAGs, access tokens) and a safe sender.

    Example:
        bench = Workbench(kit)
        bench.run("audience_is_token_url")
    """

    def __init__(self, kit: Any) -> None:
        self.kit = kit

    def __repr__(self) -> str:
        return f"Workbench({len(CASES)} cases, org={self.settings.org_url!r})"

    @property
    def settings(self) -> Settings:
        """The notebook's settings."""
        return self.kit.settings

    def places(self) -> dict[str, str]:
        """The URLs the cases' descriptions name, from the settings."""
        s = self.settings
        return {
            "org": s.org_issuer,
            "org_token_url": s.org_token_url,
            "audience": s.audience,
            "custom_token_url": f"{s.audience}/v1/token",
            "other_issuer": f"{s.org_url}/oauth2/{OTHER_SERVER}",
            "api_url": s.api_url,
        }

    # --- ingredients -----------------------------------------------------------------------------------
    def id_token(self) -> str:
        """The user's ID token from notebook 01 (re-made headless when missing)."""
        return self.kit.require("id_token").value

    def exchange_form(self, **changes: str) -> dict[str, str]:
        """A correct step 2 token exchange form (RFC 8693 §2.1, ID-JAG -04 §4.3), with some fields changed."""
        s = self.settings
        form = token_exchange_form(
            subject_token=self.id_token() if "subject_token" not in changes else changes["subject_token"],
            audience=s.audience,
            scopes=list(s.agent_scopes),
            subject_token_type=s.subject_token_type,
        )
        form.update(changes)
        return form

    def token_url_of(self, issuer: str) -> str:
        """A custom server's token endpoint, from its metadata."""
        return self.kit.server_metadata(issuer)["token_endpoint"]

    def id_jag(self, *, audience: str | None = None, scope: str | None = None) -> str:
        """A fresh ID-JAG from a real token exchange (not stored in the session file)."""
        changes = {}
        if audience is not None:
            changes["audience"] = audience
        if scope is not None:
            changes["scope"] = scope
        response = self.kit.token_request(
            self.settings.org_token_url, self.exchange_form(**changes), label="Ingredient: a fresh ID-JAG"
        )
        return response["access_token"]

    def access_token(self, *, scope: str | None = None) -> str:
        """A fresh access token: a new ID-JAG redeemed with the JWT bearer grant."""
        id_jag = self.id_jag(scope=scope)
        response = self.kit.token_request(
            self.token_url_of(self.settings.audience),
            jwt_bearer_form(id_jag),
            label="Ingredient: a fresh access token",
        )
        return response["access_token"]

    def sign_in_as(self, client_id: str, *, public: bool = False) -> dict[str, Any]:
        """Sign the demo user in as another client of the sandbox (headless; the sandbox only)."""
        settings = self.settings.replace(agent_client_id=client_id)
        request = new_authorization_request(settings)
        try:
            callback = sign_in_headless(self.kit.http, request, settings)
        except KitError as exc:
            raise CaseDriftError(
                f"signing in as {client_id} failed ({exc}); the sandbox may run an older configuration "
                "without this client: restart it (python -m sandbox stop, then make lab)"
            ) from None
        form = code_exchange_form(request, callback)
        if public:
            form["client_id"] = client_id
        signer = None if public else ClientAssertionSigner(client_id, self.kit.key)
        return post_token_request(
            self.kit.http, settings.org_token_url, form, signer=signer, label=f"Sign-in as {client_id}"
        )

    # --- sending -----------------------------------------------------------------------------------------
    def send(
        self,
        url: str,
        form: dict[str, str],
        *,
        changed: list[tuple[str, str]],
        assertion: str | None = None,
        signer: ClientAssertionSigner | None = None,
        label: str = "Case",
    ) -> Attempt:
        """POST a token request and keep the answer, an OAuth error included (never raises for one)."""
        try:
            response = post_token_request(
                self.kit.http, url, form, signer=signer or self.kit.signer, assertion=assertion, label=label
            )
            exchange = response.exchange
        except OAuthError as exc:
            exchange = exc.exchange
        except ResponseError as exc:
            if exc.exchange is None:
                raise
            exchange = exc.exchange
        return Attempt(exchange, changed)

    def call(self, token: str, *, changed: list[tuple[str, str]], method: str = "GET", json: Any = None,
             label: str = "Case") -> Attempt:  # fmt: skip
        """Call the API with a bearer token and keep the answer."""
        result = call_api(self.kit.http, self.settings.api_url, token, method=method, json=json, label=label)
        return Attempt(result.exchange, changed)

    def first_must_work(self, attempt: Attempt, what: str) -> None:
        """Stop a two-request case whose first, correct request already failed."""
        if attempt.status != 200:
            raise CaseDriftError(
                f"{what}: the first, correct request answered HTTP {attempt.status} "
                f"{attempt.error or ''} {attempt.error_description or ''}; expected 200"
            )

    # --- the cases -----------------------------------------------------------------------------------
    def case(self, key: str) -> Case:
        """The case named `key` (see `CASES`)."""
        for case in CASES:
            if case.key == key:
                return case
        raise KeyError(f'no troubleshooting case "{key}"; expected one of {[c.key for c in CASES]}')

    def run(self, key: str) -> CaseReport:
        """Run one case, show it, and check it: raise CaseDriftError if the answer differs."""
        case = self.case(key)
        places = self.places()
        if case.sandbox_only and not self.settings.is_sandbox:
            return CaseReport(case, places, None, None, skipped=case.sandbox_only)
        assert case.run is not None
        attempt = case.run(self)
        side = server_side(self.kit, attempt.exchange)
        report = CaseReport(case, places, attempt, side)
        report.verify(check_reason=self.settings.is_sandbox)
        return report

    def summary(self) -> Summary:
        """The table of every case: response, Okta's reason, cause, fix."""
        return summary()


# --- The report ---------------------------------------------------------------------------------------


@dataclass
class CaseReport:
    """One case as the notebook shows it: change, response, server's side, cause, fix, check."""

    case: Case
    places: dict[str, str]
    attempt: Attempt | None
    side: ServerSide | None
    skipped: str | None = None
    checks: list[tuple[str, str, str, bool]] = field(default_factory=list)

    def verify(self, *, check_reason: bool) -> None:
        """Compare the answer with the case; raise CaseDriftError naming each difference."""
        attempt, expected = self.attempt, self.case.expected
        assert attempt is not None
        self.checks = [
            ("status", str(expected.status), str(attempt.status), attempt.status == expected.status),
            ("error", expected.error, str(attempt.error), attempt.error == expected.error),
            (
                "error_description",
                expected.description,
                str(attempt.error_description),
                attempt.error_description == expected.description,
            ),
        ]
        if check_reason and self.side is not None and not self.side.skipped:
            reasons = self.side.reasons
            self.checks.append(
                (
                    "event reason",
                    expected.reason,
                    ", ".join(reasons) or "(no event)",
                    expected.reason in reasons,
                )
            )
        failed = [c for c in self.checks if not c[3]]
        if failed:
            detail = "; ".join(f'{name} is "{got}", expected "{want}"' for name, want, got, _ in failed)
            raise CaseDriftError(f"{self.case.label} drifted: {detail}\n\n{self.text()}")

    @property
    def ok(self) -> bool:
        """True when every check passed (False when skipped)."""
        return bool(self.checks) and all(c[3] for c in self.checks)

    def _change(self) -> str:
        return self.case.change.format(**self.places)

    def text(self) -> str:
        """The case as plain text, in the same order for every case."""
        case = self.case
        lines = [f"{case.heading} ({case.step})", f"What we change: {self._change()}"]
        if self.skipped:
            lines.append(f"Skipped against {self.places['org']}: sandbox-only, {self.skipped}")
            lines += [
                f"Expected at the sandbox: HTTP {case.expected.response}",
                f"Cause: {case.cause}",
                f"Fix: {case.fix}",
            ]
            return "\n".join(lines)
        attempt = self.attempt
        assert attempt is not None
        ex = attempt.exchange
        lines.append(f"Request: {ex.method} {redact_url(ex.url)}")
        lines += [f"  {name}: {value}" for name, value in attempt.changed]
        lines.append(f"Response: HTTP {attempt.status}")
        lines.append(f"  error: {attempt.error}")
        lines.append(f"  error_description: {attempt.error_description}")
        if self.side is not None:
            side = self.side.text().split("\n")
            start = next((i for i, line in enumerate(side) if line.startswith("Server's side")), 0)
            lines += side[start:]
        lines.append(f"Cause: {case.cause}")
        lines.append(f"Fix: {case.fix}")
        if self.checks:
            passed = sum(c[3] for c in self.checks)
            lines.append(f"Check: {passed} of {len(self.checks)} as documented")
            lines += [f"  {'pass' if ok else 'FAIL'}  {name}: {got}" for name, _, got, ok in self.checks]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        case = self.case
        head = f"<h4>{escape(case.heading)} <small>({escape(case.step)})</small></h4>"
        parts = [head, f"<p><b>What we change:</b> {escape(self._change())}</p>"]
        if self.skipped:
            parts.append(
                f"<p><i>Skipped against {escape(self.places['org'])}: "
                f"sandbox-only, {escape(self.skipped)}</i></p>"
            )
        else:
            attempt = self.attempt
            assert attempt is not None
            rows = [
                ["status", attempt.status],
                ["error", attempt.error],
                ["error_description", attempt.error_description],
            ]
            parts.append(
                f"<p><b>Request:</b> <code>{escape(attempt.exchange.method)} "
                f"{escape(redact_url(attempt.exchange.url))}</code>"
                + "".join(f"<br><code>{escape(k)}: {escape(v)}</code>" for k, v in attempt.changed)
                + "</p>"
            )
            if self.side is not None:  # the client's view, then the events, folded until opened
                parts.append(self.side._repr_html_(collapsed=True))  # noqa: SLF001
            else:
                parts.append(html_table(None, rows, code_columns=(0, 1)))
        parts.append(f"<p><b>Cause:</b> {escape(case.cause)}<br><b>Fix:</b> {escape(case.fix)}</p>")
        if self.checks:
            marks = "".join(
                f"<li>{'✓' if ok else '✗'} {escape(name)}: <code>{escape(got)}</code></li>"
                for name, _, got, ok in self.checks
            )
            parts.append(f"<ul>{marks}</ul>")
        return "<div>" + "".join(parts) + "</div>"


# --- The cases ------------------------------------------------------------------------------------------


def _assertion_aud_issuer(b: Workbench) -> Attempt:
    url = b.settings.org_token_url
    claims = b.kit.signer.claims_for(url)
    claims["aud"] = b.settings.org_issuer  # the one change
    return b.send(
        url,
        b.exchange_form(),
        assertion=b.kit.signer.sign(claims),
        changed=[("client_assertion aud", claims["aud"])],
        label="Case: assertion aud is the issuer",
    )


def _assertion_replayed(b: Workbench) -> Attempt:
    url = b.settings.org_token_url
    assertion = b.kit.signer.assertion_for(url)
    first = b.send(
        url, b.exchange_form(), assertion=assertion, changed=[], label="Case: assertion, first use"
    )
    b.first_must_work(first, "the same assertion twice")
    return b.send(
        url,
        b.exchange_form(),
        assertion=assertion,  # the one change: the assertion of the request before
        changed=[("client_assertion", "the same one as the request before (same jti)")],
        label="Case: assertion, second use",
    )


def _assertion_expired(b: Workbench) -> Attempt:
    url = b.settings.org_token_url
    claims = b.kit.signer.claims_for(url, issued_at=int(time.time()) - 600)  # the one change
    return b.send(
        url,
        b.exchange_form(),
        assertion=b.kit.signer.sign(claims),
        changed=[("client_assertion iat / exp", "10 min ago / 8 min ago")],
        label="Case: expired assertion",
    )


def _assertion_unknown_kid(b: Workbench) -> Attempt:
    url = b.settings.org_token_url
    stranger = agent_key_from_private(generate_private_key(b.settings.agent_key_alg))  # the one change
    signer = ClientAssertionSigner(b.settings.agent_client_id, stranger)
    return b.send(
        url,
        b.exchange_form(),
        signer=signer,
        changed=[("client_assertion kid", f"{stranger.kid} (a key nobody registered)")],
        label="Case: assertion signed with an unknown key",
    )


def _subject_access_token(b: Workbench) -> Attempt:
    access_token = b.access_token()
    form = b.exchange_form(subject_token=access_token, subject_token_type=TOKEN_TYPE_ACCESS_TOKEN)
    return b.send(
        b.settings.org_token_url,
        form,
        changed=[
            ("subject_token", "an access token (from the JWT bearer grant)"),
            ("subject_token_type", TOKEN_TYPE_ACCESS_TOKEN),
        ],
        label="Case: access token as subject",
    )


def _expired_id_token(b: Workbench) -> Attempt:
    tokens = b.sign_in_as(EXPIRED_ID_TOKEN_CLIENT)
    signer = ClientAssertionSigner(EXPIRED_ID_TOKEN_CLIENT, b.kit.key)
    form = b.exchange_form(subject_token=tokens["id_token"])
    exp = decode_unverified(tokens["id_token"])[1].get("exp")
    return b.send(
        b.settings.org_token_url,
        form,
        signer=signer,
        changed=[
            ("client", f"{EXPIRED_ID_TOKEN_CLIENT} (its ID tokens are issued expired)"),
            ("subject_token exp", f"{exp} (an hour before it was issued)"),
        ],
        label="Case: expired ID token",
    )


def _id_token_other_client(b: Workbench) -> Attempt:
    tokens = b.sign_in_as(OTHER_CLIENT, public=True)
    aud = decode_unverified(tokens["id_token"])[1].get("aud")
    return b.send(
        b.settings.org_token_url,
        b.exchange_form(subject_token=tokens["id_token"]),
        changed=[("subject_token aud", f"{aud} (another app), not {b.settings.agent_client_id}")],
        label="Case: ID token of another client",
    )


def _openid_in_scope(b: Workbench) -> Attempt:
    scope = "openid " + b.settings.agent_scope
    return b.send(
        b.settings.org_token_url,
        b.exchange_form(scope=scope),
        changed=[("scope", scope)],
        label="Case: openid in the exchange scopes",
    )


def _audience_token_url(b: Workbench) -> Attempt:
    audience = b.settings.audience + "/v1/token"
    return b.send(
        b.settings.org_token_url,
        b.exchange_form(audience=audience),
        changed=[("audience", audience)],
        label="Case: audience is the token URL",
    )


def _audience_trailing_slash(b: Workbench) -> Attempt:
    audience = b.settings.audience + "/"
    return b.send(
        b.settings.org_token_url,
        b.exchange_form(audience=audience),
        changed=[("audience", audience)],
        label="Case: audience with a trailing slash",
    )


def _id_jag_replayed(b: Workbench) -> Attempt:
    id_jag = b.id_jag()
    url = b.token_url_of(b.settings.audience)
    first = b.send(url, jwt_bearer_form(id_jag), changed=[], label="Case: ID-JAG, first use")
    b.first_must_work(first, "the same ID-JAG twice")
    return b.send(
        url,
        jwt_bearer_form(id_jag),
        changed=[("assertion", "the ID-JAG the request before redeemed (same jti)")],
        label="Case: ID-JAG, second use",
    )


def _id_jag_wrong_server(b: Workbench) -> Attempt:
    id_jag = b.id_jag()
    other = b.places()["other_issuer"]
    return b.send(
        b.token_url_of(other),
        jwt_bearer_form(id_jag),
        changed=[("sent to", f"{other} (the ID-JAG's aud is {b.settings.audience})")],
        label="Case: ID-JAG at the wrong server",
    )


def _scope_in_jwt_bearer(b: Workbench) -> Attempt:
    form = jwt_bearer_form(b.id_jag())
    form["scope"] = b.settings.agent_scope  # the one change
    return b.send(
        b.token_url_of(b.settings.audience),
        form,
        changed=[("scope", form["scope"])],
        label="Case: scope in the JWT bearer request",
    )


def _no_policy_rule(b: Workbench) -> Attempt:
    other = b.places()["other_issuer"]
    id_jag = b.id_jag(audience=other, scope=OTHER_SERVER_SCOPE)
    return b.send(
        b.token_url_of(other),
        jwt_bearer_form(id_jag),
        changed=[("sent to", f"{other}, whose access policy has no rule for the agent")],
        label="Case: no policy rule",
    )


def _api_missing_scope(b: Workbench) -> Attempt:
    token = b.access_token(scope="todo.read")
    return b.call(
        token,
        method="POST",
        json={"title": "Water the plants"},
        changed=[("access token scp", "todo.read (the route needs todo.write)")],
        label="Case: API call without the scope",
    )


def _tampered_access_token(b: Workbench) -> Attempt:
    token = b.access_token()
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scp"] = sorted(set(claims.get("scp", [])) | {"todo.admin"})  # the one change
    forged = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode().rstrip("=")
    return b.call(
        f"{head}.{forged}.{signature}",
        changed=[("access token scp", f"{' '.join(claims['scp'])} (edited; the signature is the original)")],
        label="Case: tampered access token",
    )


CLIENT_AUTH = "client authentication"
EXCHANGE = "token exchange, org server"
BEARER = "JWT bearer grant, custom server"
API_CALL = "API call"

CASES: tuple[Case, ...] = (
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
        _assertion_replayed,
    ),
    Case(
        "assertion_expired",
        CLIENT_AUTH,
        "An expired client assertion",
        "the client assertion was signed 10 minutes ago and expired 8 minutes ago",
        Expected(
            401, "invalid_client", "The client_assertion token is expired.", "client_assertion_expired_token"
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
            401, "invalid_client", "The client_assertion JWT kid is invalid.", "client_assertion_invalid_kid"
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
        _openid_in_scope,
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
        _audience_token_url,
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
        _audience_trailing_slash,
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
        _id_jag_replayed,
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
        _scope_in_jwt_bearer,
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
        _api_missing_scope,
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


# --- The summary --------------------------------------------------------------------------------------


def summary_rows() -> list[tuple[str, str, str, str, str]]:
    """(response, Okta reason, case, cause, fix) for every case, in the notebook's order."""
    return [(c.expected.response, c.expected.reason, f"{c.number}. {c.title}", c.cause, c.fix) for c in CASES]


def summary_markdown() -> str:
    """The summary as a Markdown table (the README's troubleshooting table)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "| Response | Okta reason | Case | Cause | Fix |",
        "|---|---|---|---|---|",
    ]
    for response, reason, title, cause, fix in summary_rows():
        lines.append(f"| `{response}` | `{reason}` | {cell(title)} | {cell(cause)} | {cell(fix)} |")
    return "\n".join(lines)


class Summary:
    """Every case's error, cause and fix (text and HTML)."""

    def text(self) -> str:
        """One block per case: the response and reason, the case, the cause, the fix."""
        lines = ["Why does my request fail? Each error, its cause and the fix"]
        for response, reason, title, cause, fix in summary_rows():
            lines += [f"HTTP {response} ({reason})", f"  Case {title}", f"  Cause: {cause}", f"  Fix: {fix}"]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return html_table(
            ["Response", "Okta reason", "Case", "Cause", "Fix"],
            [list(r) for r in summary_rows()],
            code_columns=(0, 1),
        )


def summary() -> Summary:
    """The summary table of every case."""
    return Summary()


class Index:
    """The cases of notebook 05 at a glance: number, step, what breaks, the answer it gets."""

    def rows(self) -> list[list[str]]:
        """One row per case, in the notebook's order."""
        return [[str(c.number), c.step, c.title, c.expected.response] for c in CASES]

    def __repr__(self) -> str:
        table = text_table(["case", "step", "what breaks", "answer"], self.rows())
        return "The cases of this notebook\n" + table

    def _repr_html_(self) -> str:
        head = "<p><b>The cases of this notebook</b> (the table of contents in the sidebar jumps to each)</p>"
        return head + html_table(["Case", "Step", "What breaks", "Answer"], self.rows(), code_columns=(3,))


def index() -> Index:
    """The list of cases, for the top of notebook 05."""
    return Index()
