"""The troubleshooting engine: a case (`Case`), one attempt at it (`Attempt`), the bench that sends it
(`CaseBench`) and the report that holds its answer against the expected one (`CaseReport`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from html import escape
from typing import Any

from ...api import call_api
from ...core.client_assertion import ClientAssertionSigner
from ...core.config import Settings
from ...core.errors import KitError, OAuthError, ResponseError
from ...core.formatting import html_table, text_table
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
    """Fresh, correct ingredients for each case (an ID token, ID-JAGs, access tokens) and a safe sender.

    A notebook's bench subclasses it with its table of cases (`cases.Workbench`, `mcp_cases.McpWorkbench`).
    """

    #: The table of cases this bench runs (notebook 05's: `cases.CASES`).
    cases: tuple[Case, ...] = ()
    #: The first line of its summary table.
    summary_title = "Why does my request fail? Each error, its cause and the fix"

    def __init__(self, kit: Any) -> None:
        self.kit = kit

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.cases)} cases, org={self.settings.org_url!r})"

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
        """The case named `key` in this bench's table."""
        for case in self.cases:
            if case.key == key:
                return case
        raise KeyError(f'no troubleshooting case "{key}"; expected one of {[c.key for c in self.cases]}')

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
