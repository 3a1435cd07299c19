"""The troubleshooting engine: a case (`Case`), one attempt at it (`Attempt`), the bench that builds and
sends it (`CaseBench`) and the report that holds its answer against the expected one (`CaseReport`).

A case's cell in notebook 05 writes its one change with the bench's primitives and reports the answer:

    form = bench.exchange_form(audience=bench.settings.audience + "/")   # the one change
    attempt = bench.send_exchange(form)
    bench.report("audience_trailing_slash", attempt)

The case table runs the same primitives (`Case.run`, or `FieldChange` when the change is form fields), so
`bench.run(key)` sends what the notebook's cell sends. What a report lists as changed is read from the
request itself: the fields a form was given, and what differs in a client assertion, a JWT bearer
target or a token (never a whole token).

- Okta's OAuth 2.0 error catalog: status, `error`, `error_description` and internal code of each answer
- RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 6750 §3.1: where each `error` code is defined
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from html import escape
from typing import Any

from ...api import call_api as api_call
from ...core.checks import Checklist
from ...core.client_assertion import ClientAssertionSigner
from ...core.config import Settings
from ...core.errors import KitError, OAuthError, ResponseError
from ...core.formatting import html_table, relative_time, text_table
from ...core.jwts import decode_unverified, looks_like_jwt
from ...core.keys import AgentKey, agent_key_from_private, generate_private_key
from ...core.oauth import post_token_request
from ...core.transport import Exchange, redact_url
from ...jwt_bearer import jwt_bearer_form
from ...sandbox_client.headless_signin import sign_in_headless
from ...sandbox_client.ids import OTHER_SERVER
from ...signin import code_exchange_form, new_authorization_request
from ...token_exchange import token_exchange_form
from ..system_log import ServerSide, server_side


class CaseDriftError(KitError):
    """A troubleshooting case got another answer than the one it documents."""


# --- The expected answer ------------------------------------------------------------------------------

#: Where the expected status, `error`, `error_description` and reason come from.
CATALOG = "Okta's OAuth 2.0 error catalog"
#: Where each OAuth `error` code is defined.
ERROR_CODE_SOURCES = {
    "invalid_request": "RFC 6749 §5.2",
    "invalid_client": "RFC 6749 §5.2",
    "invalid_grant": "RFC 6749 §5.2",
    "invalid_scope": "RFC 6749 §5.2",
    "unauthorized_client": "RFC 6749 §5.2",
    "unsupported_grant_type": "RFC 6749 §5.2",
    "access_denied": "RFC 6749 §4.1.2.1",
    "invalid_target": "RFC 8693 §2.2.2",
    "invalid_token": "RFC 6750 §3.1",
    "insufficient_scope": "RFC 6750 §3.1",
}


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

    def check(self, attempt: Attempt, reasons: list[str] | None = None) -> Checklist:
        """The expected answer beside the received one: `status`, `error`, `error_description`, and (when
        `reasons` is given, the reasons of the request's System Log events) the `event reason` row."""
        checks = Checklist("Expected answer")
        rfc = ERROR_CODE_SOURCES.get(self.error)
        checks.equal("status", str(self.status), str(attempt.status), CATALOG)
        checks.equal("error", self.error, str(attempt.error), f"{CATALOG}; {rfc}" if rfc else CATALOG)
        checks.equal("error_description", self.description, str(attempt.error_description), CATALOG)
        if reasons is not None:
            checks.add(
                "event reason",
                self.reason,
                ", ".join(reasons) or "(no event)",
                self.reason in reasons,
                f"System Log outcome.reason; {CATALOG} (internal code)",
            )
        return checks


# --- One attempt --------------------------------------------------------------------------------------


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

    def expect(self, status: int = 200) -> Attempt:
        """Stop a case whose correct request (the first use, in a replay) did not answer `status`."""
        if self.status != status:
            raise CaseDriftError(
                f"{self.exchange.label}: the correct request answered HTTP {self.status} "
                f"{self.error or ''} {self.error_description or ''}; expected {status}"
            )
        return self


class Form(dict[str, str]):
    """A token request's form that remembers the fields a case changed, as its report shows them."""

    def __init__(self, fields: Mapping[str, str], changes: Mapping[str, str] | None = None) -> None:
        super().__init__(fields)
        self.update(changes or {})
        #: (field, value as shown): a JWT is shown by its claims, never whole.
        self.changed = [(name, shown(value)) for name, value in (changes or {}).items()]


def shown(value: str) -> str:
    """A form value as a report shows it: a JWT as its `iss`, `aud`, `scp` and `exp`, never the token."""
    if not looks_like_jwt(value):
        return value
    try:
        claims = decode_unverified(value)[1]
    except KitError:
        return "a JWT that does not decode"
    parts = [f"iss {claims.get('iss')}", f"aud {claims.get('aud')}"]
    if isinstance(claims.get("scp"), list):
        parts.append("scp " + " ".join(map(str, claims["scp"])))
    if isinstance(claims.get("exp"), int):
        parts.append(f"exp {relative_time(claims['exp'])}")
    return "a JWT: " + ", ".join(parts)


@dataclass(frozen=True)
class FieldChange:
    """A case's request as data: a correct request with some form fields changed.

    `request` is what `CaseBench.send_changed` sends: "exchange" (the token exchange, RFC 8693 §2.1),
    "bearer" (the JWT bearer grant, RFC 7523 §2.1), or a bench's own kind ("mcp exchange"). The values
    are templates of the bench's `places()`: `FieldChange("exchange", {"audience": "{audience}/"})`.
    """

    request: str
    fields: Mapping[str, str]

    def values(self, places: Mapping[str, str]) -> dict[str, str]:
        """The changed fields with this configuration's URLs and scopes."""
        return {name: value.format(**places) for name, value in self.fields.items()}

    def __call__(self, bench: CaseBench) -> Attempt:
        return bench.send_changed(self.request, **self.values(bench.places()))

    def check(self, attempt: Attempt, places: Mapping[str, str], label: str) -> None:
        """Raise CaseDriftError when an attempt (a notebook cell's) changed other fields than these."""
        sent = dict(attempt.changed)
        wrong = [
            (k, sent.get(k, "(unchanged)"), v) for k, v in self.values(places).items() if sent.get(k) != v
        ]
        if wrong:
            detail = "; ".join(f'{name} is "{got}", expected "{want}"' for name, got, want in wrong)
            raise CaseDriftError(f"{label}: the request sent another change than the case's table: {detail}")


# --- The case -------------------------------------------------------------------------------------------


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
    #: Makes the failing request with the bench's primitives, as the notebook's cell does (a function, or a
    #: `FieldChange`); None for a case shown elsewhere, e.g. notebook 06's refusal.
    run: Callable[[Any], Attempt] | None = field(repr=False, compare=False)
    sandbox_only: str | None = None
    #: The case's number in its notebook's table (1-based; set by `numbered`), None for a case on its own.
    number: int | None = field(default=None, compare=False)
    #: What the number follows: "Case" (notebook 05), "MCP case" (notebook 07).
    kind: str = field(default="Case", compare=False)

    @property
    def label(self) -> str:
        """`Case 10 (audience_trailing_slash)`, or the key alone for a case outside a table."""
        return f"{self.kind} {self.number} ({self.key})" if self.number else self.key

    @property
    def heading(self) -> str:
        """`Case 10 · The audience with a trailing slash` (no number outside a table)."""
        return f"{self.kind} {self.number} · {self.title}" if self.number else self.title


def numbered(cases: tuple[Case, ...], *, kind: str = "Case") -> tuple[Case, ...]:
    """Number a notebook's table of cases, in order, from 1."""
    return tuple(replace(case, number=index, kind=kind) for index, case in enumerate(cases, start=1))


# --- The bench --------------------------------------------------------------------------------------


class CaseBench:
    """Fresh, correct ingredients for each case (an ID token, ID-JAGs, access tokens, client assertions),
    the forms that change one field, and safe senders that keep an OAuth error as the answer.

    A notebook's bench subclasses it with its table of cases (`cases.Workbench`, `mcp_cases.McpWorkbench`).
    """

    #: The table of cases this bench runs (notebook 05's: `cases.CASES`).
    cases: tuple[Case, ...] = ()
    #: The first line of its summary table.
    summary_title = "Why does my request fail? Each error, its cause and the fix"

    def __init__(self, kit: Any) -> None:
        self.kit = kit
        #: Client assertions and ID-JAGs this bench has sent: sent again, a report names the replay.
        self._sent: set[str] = set()
        #: Tokens `forge` edited: a report says their signature is the original's.
        self._forged: set[str] = set()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.cases)} cases, org={self.settings.org_url!r})"

    @property
    def settings(self) -> Settings:
        """The notebook's settings."""
        return self.kit.settings

    def places(self) -> dict[str, str]:
        """The URLs and scopes the cases' descriptions and changed fields name, from the settings."""
        s = self.settings
        return {
            "org": s.org_issuer,
            "org_token_url": s.org_token_url,
            "audience": s.audience,
            "custom_token_url": f"{s.audience}/v1/token",
            "other_issuer": f"{s.org_url}/oauth2/{OTHER_SERVER}",
            "api_url": s.api_url,
            "agent_scope": s.agent_scope,
        }

    # --- ingredients -----------------------------------------------------------------------------------
    def id_token(self) -> str:
        """The user's ID token from notebook 01 (re-made headless when missing)."""
        return self.kit.require("id_token").value

    def exchange_form(self, **changes: str) -> Form:
        """A correct step 2 token exchange form (RFC 8693 §2.1, ID-JAG -04 §4.3), with some fields changed."""
        s = self.settings
        form = token_exchange_form(
            subject_token=self.id_token() if "subject_token" not in changes else changes["subject_token"],
            audience=s.audience,
            scopes=list(s.agent_scopes),
            subject_token_type=s.subject_token_type,
        )
        return Form(form, changes)

    def bearer_form(self, id_jag: str, **changes: str) -> Form:
        """A correct step 3 JWT bearer form (RFC 7523 §2.1, ID-JAG -04 §4.4), with some fields changed."""
        return Form(jwt_bearer_form(id_jag), changes)

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

    def assertion(
        self,
        *,
        aud: str | None = None,
        issued_at: float | None = None,
        key: AgentKey | None = None,
        url: str | None = None,
    ) -> str:
        """A client assertion for `url` (default: the org token URL; RFC 7523 §3), signed by the agent's key
        or `key`, with its `aud` or its time (`issued_at`, epoch seconds) changed when given."""
        url = url or self.settings.org_token_url
        signer = self.kit.signer if key is None else ClientAssertionSigner(self.settings.agent_client_id, key)
        claims = signer.claims_for(url, issued_at=None if issued_at is None else int(issued_at))
        if aud is not None:
            claims["aud"] = aud
        return signer.sign(claims)

    def new_key(self) -> AgentKey:
        """A new key pair of the agent's algorithm, registered nowhere (`kid`: its RFC 7638 thumbprint)."""
        return agent_key_from_private(generate_private_key(self.settings.agent_key_alg))

    def claims(self, token: str) -> dict[str, Any]:
        """A JWT's claims, read without checking its signature."""
        return decode_unverified(token)[1]

    def forge(self, token: str, **claims: Any) -> str:
        """The token with some claims replaced, its header and signature kept as they were (a forgery)."""
        head, _, signature = token.split(".")
        edited = {**self.claims(token), **claims}
        payload = base64.urlsafe_b64encode(json.dumps(edited, separators=(",", ":")).encode()).decode()
        forged = f"{head}.{payload.rstrip('=')}.{signature}"
        self._forged.add(forged)
        return forged

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
    def send_exchange(
        self,
        form: Mapping[str, str],
        *,
        assertion: str | None = None,
        client: str | None = None,
        label: str = "Case: token exchange",
    ) -> Attempt:
        """POST a token exchange to the org server, authenticated as the agent (or as `client`, with the
        agent's key), with `assertion` as the client assertion when given; keep the answer."""
        url = self.settings.org_token_url
        changed = [("client", client)] if client else []
        changed += self.changes_in(url, form, assertion)
        signer = ClientAssertionSigner(client, self.kit.key) if client else None
        return self.send(url, form, assertion=assertion, signer=signer, changed=changed, label=label)

    def send_bearer(
        self, form: Mapping[str, str], *, at: str | None = None, label: str = "Case: JWT bearer grant"
    ) -> Attempt:
        """POST a JWT bearer request to the token endpoint of the issuer `at` (default: the audience's)."""
        url = self.token_url_of(at or self.settings.audience)
        changed = self.changes_in(url, form, None)
        if at is not None:
            aud = self.claims(form["assertion"]).get("aud")
            where = "the issuer in the ID-JAG's aud" if aud == at else f"not the ID-JAG's aud ({aud})"
            changed.append(("sent to", f"{at}, {where}"))
        return self.send(url, form, changed=changed, label=label)

    def send_changed(self, request: str, **fields: str) -> Attempt:
        """Send a correct request with `fields` changed (`FieldChange`): "exchange" or "bearer"."""
        if request == "exchange":
            return self.send_exchange(self.exchange_form(**fields))
        if request == "bearer":
            return self.send_bearer(self.bearer_form(self.id_jag(), **fields))
        raise ValueError(f'no request "{request}" to change fields of; expected "exchange" or "bearer"')

    def call_api(
        self,
        token: str,
        *,
        method: str = "GET",
        json: Any = None,
        changed: list[tuple[str, str]] | None = None,
        label: str = "Case: API call",
    ) -> Attempt:
        """Call the API with a bearer token and keep the answer (the report shows the token's `scp`)."""
        if changed is None:
            scp = self.claims(token).get("scp") if looks_like_jwt(token) else None
            changed = [("access token scp", " ".join(map(str, scp)))] if isinstance(scp, list) else []
            if changed and token in self._forged:
                changed[0] = (changed[0][0], changed[0][1] + " (edited; the signature is the original)")
        result = api_call(self.kit.http, self.settings.api_url, token, method=method, json=json, label=label)
        return Attempt(result.exchange, changed)

    def changes_in(self, url: str, form: Mapping[str, str], assertion: str | None) -> list[tuple[str, str]]:
        """What a request changes: the fields its form was given, and what differs in its client assertion
        (an `aud` that is not `url`, an `exp` in the past, another key's `kid`, one sent before) and in its
        ID-JAG (one sent before)."""
        changed = list(getattr(form, "changed", []))
        if assertion is not None:
            header, claims = decode_unverified(assertion, what="client assertion")
            if assertion in self._sent:
                changed.append(("client_assertion", "the same one as the request before (same jti)"))
            if claims.get("aud") != url:
                changed.append(("client_assertion aud", str(claims.get("aud"))))
            iat, exp = claims.get("iat"), claims.get("exp")
            if isinstance(iat, int) and isinstance(exp, int) and exp <= time.time():
                changed.append(("client_assertion iat / exp", f"{relative_time(iat)} / {relative_time(exp)}"))
            if header.get("kid") != self.kit.key.kid:
                changed.append(
                    ("client_assertion kid", f"{header.get('kid')} (the agent's key is {self.kit.key.kid})")
                )
        if form.get("assertion") in self._sent:
            changed.append(("assertion", "the ID-JAG the request before redeemed (same jti)"))
        return changed

    def send(
        self,
        url: str,
        form: Mapping[str, str],
        *,
        changed: list[tuple[str, str]] | None = None,
        assertion: str | None = None,
        signer: ClientAssertionSigner | None = None,
        label: str = "Case",
    ) -> Attempt:
        """POST a token request and keep the answer, an OAuth error included (never raises for one)."""
        if changed is None:
            changed = self.changes_in(url, form, assertion)
        try:
            response = post_token_request(
                self.kit.http,
                url,
                dict(form),
                signer=signer or self.kit.signer,
                assertion=assertion,
                label=label,
            )
            exchange = response.exchange
        except OAuthError as exc:
            exchange = exc.exchange
        except ResponseError as exc:
            if exc.exchange is None:
                raise
            exchange = exc.exchange
        self._sent.update(v for v in (assertion, form.get("assertion")) if v)
        return Attempt(exchange, changed)

    # --- the cases -----------------------------------------------------------------------------------
    def case(self, key: str) -> Case:
        """The case named `key` in this bench's table."""
        for case in self.cases:
            if case.key == key:
                return case
        raise KeyError(f'no troubleshooting case "{key}"; expected one of {[c.key for c in self.cases]}')

    def report(self, key: str, attempt: Attempt | None) -> CaseReport:
        """Show a case's attempt and check it: raise CaseDriftError if the answer differs from the case's
        (or, for a `FieldChange` case, if the attempt changed other fields than the table's).

        Against an Okta org a sandbox-only case reports that it was skipped; its cell sends nothing
        (`attempt` is None).
        """
        case = self.case(key)
        places = self.places()
        if case.sandbox_only and not self.settings.is_sandbox:
            return CaseReport(case, places, None, None, skipped=case.sandbox_only)
        if attempt is None:
            raise CaseDriftError(f"{case.label}: nothing was sent, so there is no answer to report")
        if isinstance(case.run, FieldChange):
            case.run.check(attempt, places, case.label)
        side = server_side(self.kit, attempt.exchange)
        report = CaseReport(case, places, attempt, side)
        report.verify(check_reason=self.settings.is_sandbox)
        return report

    def run(self, key: str) -> CaseReport:
        """Run one case from the table (what its notebook cell does), show it, and check it."""
        case = self.case(key)
        if case.sandbox_only and not self.settings.is_sandbox:
            return self.report(key, None)
        if case.run is None:
            raise ValueError(f"{case.label} is shown elsewhere; this bench has no request for it")
        return self.report(key, case.run(self))

    def summary(self) -> Summary:
        """The table of every case: response, Okta's reason, cause, fix."""
        return Summary(self.cases, self.summary_title)


# --- The report ---------------------------------------------------------------------------------------


@dataclass
class CaseReport:
    """One case as the notebook shows it: change, response, server's side, cause, fix, check."""

    case: Case
    places: dict[str, str]
    attempt: Attempt | None
    side: ServerSide | None
    skipped: str | None = None
    #: The expected answer beside the received one (`Expected.check`), filled by `verify`.
    checks: Checklist = field(default_factory=lambda: Checklist("Expected answer"))

    def verify(self, *, check_reason: bool) -> None:
        """Compare the answer with the case; raise CaseDriftError naming each difference."""
        assert self.attempt is not None
        side = self.side
        reasons = side.reasons if check_reason and side is not None and not side.skipped else None
        self.checks = self.case.expected.check(self.attempt, reasons)
        if self.checks.failed:
            detail = "; ".join(
                f'{c.name} is "{c.received}", expected "{c.expected}"' for c in self.checks.failed
            )
            raise CaseDriftError(f"{self.case.label} drifted: {detail}\n\n{self.text()}")

    @property
    def ok(self) -> bool:
        """True when every check passed (False when skipped)."""
        return self.checks.ok

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
            passed = sum(c.passed for c in self.checks)
            lines.append(f"Check: {passed} of {len(self.checks)} as documented")
            lines += [f"  {c.result}  {c.name}: {c.received}" for c in self.checks]
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
            parts.append(self.checks._repr_html_())  # noqa: SLF001
        return "<div>" + "".join(parts) + "</div>"


# --- The tables of cases -----------------------------------------------------------------------------------
def summary_rows(cases: tuple[Case, ...]) -> list[tuple[str, str, str, str, str]]:
    """(response, Okta reason, case, cause, fix) for every case, in the notebook's order."""
    return [(c.expected.response, c.expected.reason, f"{c.number}. {c.title}", c.cause, c.fix) for c in cases]


class Summary:
    """Every case's error, cause and fix (text and HTML)."""

    def __init__(
        self,
        cases: tuple[Case, ...],
        title: str = "Why does my request fail? Each error, its cause and the fix",
    ) -> None:
        self.cases = cases
        self.title = title

    def text(self) -> str:
        """One block per case: the response and reason, the case, the cause, the fix."""
        lines = [self.title]
        for response, reason, title, cause, fix in summary_rows(self.cases):
            lines += [f"HTTP {response} ({reason})", f"  Case {title}", f"  Cause: {cause}", f"  Fix: {fix}"]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return html_table(
            ["Response", "Okta reason", "Case", "Cause", "Fix"],
            [list(r) for r in summary_rows(self.cases)],
            code_columns=(0, 1),
        )


class Index:
    """A notebook's cases at a glance: number, step, what breaks, the answer it gets."""

    def __init__(self, cases: tuple[Case, ...]) -> None:
        self.cases = cases

    def rows(self) -> list[list[str]]:
        """One row per case, in the notebook's order."""
        return [[str(c.number), c.step, c.title, c.expected.response] for c in self.cases]

    def __repr__(self) -> str:
        table = text_table(["case", "step", "what breaks", "answer"], self.rows())
        return "The cases of this notebook\n" + table

    def _repr_html_(self) -> str:
        head = "<p><b>The cases of this notebook</b> (the table of contents in the sidebar jumps to each)</p>"
        return head + html_table(["Case", "Step", "What breaks", "Answer"], self.rows(), code_columns=(3,))
