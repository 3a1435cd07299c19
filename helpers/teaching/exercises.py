"""Checks for the notebooks' "your turn" cells: right, or precisely what is wrong and what is expected.

- 01: the form that exchanges the code for tokens (RFC 6749 §4.1.3, RFC 7636 §4.5)
- 02: the token exchange form (RFC 8693 §2.1, ID-JAG -04 §4.3, Okta's rules)
- 03: the JWT bearer form (RFC 7523 §2.1, ID-JAG -04 §4.4, Okta: no `scope`)
- 04: the `Authorization` header of the API call (RFC 6750 §2.1)

A check never raises and never prints a traceback: it returns `Feedback`, whose text says "Right"
or lists each problem as what is wrong, what is expected, and the rule. A trainer's blank notebook
(`make exercises`) leaves `...` where the answer goes; the checks say which parts are still to fill
in. Tokens are shown shortened, and a secret (the PKCE verifier) is described, never shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html import escape
from typing import Any

from ..constants import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_JWT_BEARER,
    GRANT_TOKEN_EXCHANGE,
    ID_JAG_JWT_TYP,
    TOKEN_TYPE_ACCESS_TOKEN,
    TOKEN_TYPE_ID_JAG,
    TOKEN_TYPE_ID_TOKEN,
)
from ..core.checks import Check, Checklist
from ..core.errors import TokenValidationError
from ..core.formatting import shorten
from ..core.jwts import decode_unverified, looks_like_jwt
from ..core.rules import OKTA_OIDC_SCOPE_REASON, audience_mistake, oidc_scopes

#: What a blank exercise leaves where the answer goes.
BLANK = ...
#: Fields a helper adds when it sends a token request: never part of the reader's form.
CLIENT_AUTH_FIELDS = ("client_assertion", "client_assertion_type", "client_secret", "client_id")


class Feedback(Checklist):
    """An exercise's result: a `Checklist` of the reader's answer, one row per part checked.

    A failed row carries its `note`: what is wrong, what is expected, and the rule. The feedback reads as
    "right" or as the numbered notes of its failed rows; `.ok`, `.failed` and the rows are a Checklist's.
    """

    def __init__(self, title: str, checks: list[Check] | None = None, praise: str = "") -> None:
        super().__init__(title, list(checks or []))
        self.praise = praise

    @classmethod
    def unreadable(cls, title: str, sentence: str) -> Feedback:
        """The answer could not be checked at all: one failed row saying why."""
        return cls(title, [Check("answer", "an answer to check", "(unreadable)", False, note=sentence)])

    @property
    def ok(self) -> bool:
        """True when the answer is right (no failed row)."""
        return not self.failed

    @property
    def problems(self) -> list[str]:
        """The notes of the failed rows, in order."""
        return [c.note or f'{c.name} is "{c.received}", expected "{c.expected}"' for c in self.failed]

    def text(self) -> str:
        """The feedback as plain text."""
        if self.ok:
            return f"✓ {self.title}: right. {self.praise}"
        problems = self.problems
        count = len(problems)
        lines = [f"✗ {self.title}: not yet, {count} thing{'s' if count > 1 else ''} to fix"]
        lines += [f"  {n}. {problem}" for n, problem in enumerate(problems, 1)]
        return "\n".join(lines)

    __str__ = text

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        if self.ok:
            return f"<p>✓ <b>{escape(self.title)}: right.</b> {escape(self.praise)}</p>"
        items = "".join(f"<li>{escape(p)}</li>" for p in self.problems)
        return f"<p>✗ <b>{escape(self.title)}: not yet.</b></p><ol>{items}</ol>"


def failed(name: str, note: str, *, expected: str = "", received: str = "") -> Check:
    """A failed row of an exercise: the part, the sentence to show, and both values when known."""
    return Check(name, expected, received, False, note=note)


def _guarded(title: str, check: Callable[[], Feedback]) -> Feedback:
    """Run a check; an unexpected answer shape becomes a sentence, never a traceback."""
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - the reader's answer may be anything; say so in words
        return Feedback.unreadable(title, f"the answer could not be read ({type(exc).__name__}: {exc})")


def _shown(value: Any) -> str:
    """Show a value in a message: tokens shortened, everything quoted."""
    if value is BLANK:
        return "..."
    if isinstance(value, str):
        return f'"{shorten(value)}"' if looks_like_jwt(value) or len(value) > 60 else f'"{value}"'
    return repr(value)


def _kind_of_token(value: Any) -> str | None:
    """Name the kind of a JWT from its header and claims: "an ID-JAG", "an access token", "an ID token"."""
    if not looks_like_jwt(value):
        return None
    try:
        header, claims = decode_unverified(value)
    except TokenValidationError:
        return None
    if header.get("typ") == ID_JAG_JWT_TYP:
        return "an ID-JAG"
    if header.get("typ") == "at+jwt" or "scp" in claims or "cid" in claims:
        return "an access token"
    if "nonce" in claims or "at_hash" in claims or "auth_time" in claims:
        return "an ID token"
    return "another JWT"


class _Form:
    """A reader's form and the checks of it: a row per field, failed rows noting what to fix."""

    def __init__(self, form: Any, what: str) -> None:
        self.form = form
        self.what = what
        self.rows: list[Check] = []
        self.expected: dict[str, str] = {}

    @property
    def problems(self) -> list[str]:
        return [row.note for row in self.rows if not row.passed]

    def fail(self, name: str, note: str, *, received: Any = None) -> None:
        """Add a failed row for `name` (the field, or what the note is about)."""
        shown = "(missing)" if received is None else _shown(received)
        self.rows.append(failed(name, note, expected=self.expected.get(name, ""), received=shown))

    def usable(self) -> bool:
        if isinstance(self.form, Mapping):
            return True
        self.fail(
            "form",
            f"{self.what} is {type(self.form).__name__} {_shown(self.form)}, expected a dict of form fields "
            '({"grant_type": ..., ...})',
            received=self.form,
        )
        return False

    def value(self, name: str, expected_text: str) -> tuple[bool, Any]:
        """Return (present, value); note a missing or blank field."""
        self.expected[name] = expected_text
        if name not in self.form:
            self.fail(name, f'"{name}" is missing: expected {expected_text}')
            return False, None
        value = self.form[name]
        if value is BLANK or value is None or value == "":
            self.fail(name, f'"{name}" is not filled in yet: expected {expected_text}', received=value)
            return False, None
        if not isinstance(value, str):
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                self.fail(
                    name,
                    f'"{name}" is a {type(value).__name__} {_shown(value)}: a form field is one string '
                    f'(several values separated by spaces: "{" ".join(value)}")',
                    received=value,
                )
            else:
                self.fail(
                    name, f'"{name}" is {_shown(value)}, expected a string: {expected_text}', received=value
                )
            return False, None
        return True, value

    def wrong(self, name: str, value: Any, message: str) -> None:
        self.fail(name, f'"{name}" is {_shown(value)}: {message}', received=value)

    def extras(self, allowed: set[str], reasons: Mapping[str, str]) -> None:
        for name in self.form:
            if name in allowed:
                continue
            self.expected[name] = "absent"
            if name in CLIENT_AUTH_FIELDS:
                self.fail(
                    name,
                    f'"{name}" does not belong in your form: kit.token_request adds client authentication '
                    "(a fresh client assertion for the URL it posts to) when it sends",
                    received=self.form[name],
                )
            else:
                reason = reasons.get(name, f"it is not a parameter of {self.what}")
                self.fail(name, f'"{name}" should not be there: {reason}', received=self.form[name])

    def feedback(self, title: str, praise: str) -> Feedback:
        """The rows (each field checked and right becomes a passed row after the failed ones)."""
        wrong = {row.name for row in self.rows}
        right = [
            Check(name, expected, _shown(self.form[name]), True)
            for name, expected in self.expected.items()
            if name not in wrong and isinstance(self.form, Mapping) and name in self.form
        ]
        return Feedback(title, [*self.rows, *right], praise)


def _grant(f: _Form, expected: str, others: Mapping[str, str], rule: str) -> None:
    present, value = f.value("grant_type", f'"{expected}" ({rule})')
    if not present or value == expected:
        return
    if value in others:
        f.wrong("grant_type", value, f'{others[value]}; expected "{expected}" ({rule})')
    else:
        urn = "; grant types beyond RFC 6749's are URNs" if expected.startswith("urn:") else ""
        f.wrong("grant_type", value, f'expected "{expected}" ({rule}{urn})')


# --- 01: the code for tokens ------------------------------------------------------------------------


def check_code_exchange_form(form: Any, *, request: Any, callback: Any) -> Feedback:
    """Check the reader's form for the authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.5).

    Args:
        request: the AuthorizationRequest of this sign-in (`auth`); callback: its Callback.
    """
    title = "Code exchange form"

    def check() -> Feedback:
        f = _Form(form, "the code exchange form")
        if f.usable():
            _grant(
                f,
                GRANT_AUTHORIZATION_CODE,
                {"code": "that is the response_type of /authorize"},
                "RFC 6749 §4.1.3",
            )
            present, code = f.value("code", "the code from the redirect (callback.code)")
            if present and code != callback.code:
                if code == callback.state:
                    f.wrong(
                        "code", code, "that is the state; expected the code from the redirect (callback.code)"
                    )
                else:
                    f.wrong(
                        "code",
                        code,
                        f"expected the code from the redirect, {_shown(callback.code)} (callback.code)",
                    )
            present, uri = f.value(
                "redirect_uri", f'"{request.redirect_uri}", as in the authorization request'
            )
            if present and uri != request.redirect_uri:
                f.wrong(
                    "redirect_uri",
                    uri,
                    f'expected exactly "{request.redirect_uri}": RFC 6749 §4.1.3 wants it identical to the '
                    "authorization request's, character for character",
                )
            present, verifier = f.value(
                "code_verifier", "the PKCE verifier kept with this sign-in (auth.pkce.verifier)"
            )
            if present and verifier != request.pkce.verifier:
                if verifier == request.pkce.challenge:
                    f.wrong(
                        "code_verifier",
                        verifier,
                        "that is the code challenge, the hash that travelled in the authorize URL; expected "
                        "the verifier, the secret you kept (auth.pkce.verifier, RFC 7636 §4.5)",
                    )
                else:
                    f.fail(
                        "code_verifier",
                        '"code_verifier" is not the verifier of this sign-in: expected auth.pkce.verifier '
                        "(RFC 7636 §4.5)",
                        received="(another value)",  # a secret: described, never shown
                    )
            f.extras(
                {"grant_type", "code", "redirect_uri", "code_verifier"},
                {
                    "code_challenge": "the challenge went to /authorize; the token request proves it with "
                    "the code_verifier",
                    "code_challenge_method": "it went to /authorize with the challenge",
                    "state": "state stays between the browser and the client (RFC 6749 §10.12)",
                    "nonce": "the nonce went to /authorize and comes back inside the ID token",
                    "scope": "the scopes were granted at /authorize; the code carries them",
                    "response_type": "it belongs to /authorize",
                },
            )
        return f.feedback(
            title,
            "grant_type, the code, the same redirect_uri and the PKCE verifier: the helper adds the client "
            "assertion.",
        )

    return _guarded(title, check)


# --- 02: the token exchange -------------------------------------------------------------------------


def check_token_exchange_form(form: Any, *, settings: Any, id_token: str) -> Feedback:
    """Check the reader's token exchange form (RFC 8693 §2.1, ID-JAG -04 §4.3, Okta)."""
    title = "Token exchange form"
    audience = settings.audience

    def check() -> Feedback:
        f = _Form(form, "the token exchange form")
        if not f.usable():
            return f.feedback(title, "")
        _grant(
            f,
            GRANT_TOKEN_EXCHANGE,
            {
                GRANT_JWT_BEARER: "that is step 3's grant, which redeems the ID-JAG",
                "token-exchange": "grant types beyond RFC 6749's are URNs",
                "token_exchange": "grant types beyond RFC 6749's are URNs",
            },
            "RFC 8693 §2.1",
        )
        present, requested = f.value("requested_token_type", f'"{TOKEN_TYPE_ID_JAG}" (ID-JAG -04 §4.3)')
        if present and requested != TOKEN_TYPE_ID_JAG:
            hint = "you want an ID-JAG, not an access token" if requested == TOKEN_TYPE_ACCESS_TOKEN else ""
            f.wrong(
                "requested_token_type",
                requested,
                (hint + "; " if hint else "") + f'expected "{TOKEN_TYPE_ID_JAG}" (ID-JAG -04 §4.3: REQUIRED)',
            )
        present, aud = f.value("audience", f'the target server\'s issuer "{audience}"')
        why = audience_mistake(aud, audience=audience, org_issuer=settings.org_issuer) if present else None
        if why:
            f.wrong("audience", aud, f'{why}: expected "{audience}" (ID-JAG -04 §4.3, RFC 8693 §2.1)')
        present, scope = f.value("scope", 'the target server\'s custom scopes, e.g. "todo.read"')
        if present:
            oidc = oidc_scopes(scope)
            if oidc:
                f.wrong(
                    "scope",
                    scope,
                    f"Okta refuses {', '.join(oidc)} in a token exchange "
                    f"({OKTA_OIDC_SCOPE_REASON}): "
                    f'ask only for custom scopes, e.g. "{settings.agent_scope or "todo.read"}"',
                )
        present, subject = f.value("subject_token", "the user's ID token from notebook 01 (id_token.value)")
        if present and subject != id_token:
            kind = _kind_of_token(subject)
            what = f"that is {kind}; " if kind and kind != "an ID token" else ""
            f.wrong(
                "subject_token", subject, f"{what}expected the ID token from notebook 01 (id_token.value)"
            )
        present, subject_type = f.value("subject_token_type", f'"{TOKEN_TYPE_ID_TOKEN}"')
        if present and subject_type != TOKEN_TYPE_ID_TOKEN:
            if subject_type == TOKEN_TYPE_ACCESS_TOKEN:
                why = "the subject token is an ID token (an access token needs a delegation link)"
            elif subject_type in ("id_token", "urn:ietf:params:oauth:token-type:id-token"):
                why = "token types are URNs with an underscore in id_token (RFC 8693 §3)"
            else:
                why = "it does not name an ID token"
            f.wrong("subject_token_type", subject_type, f'{why}: expected "{TOKEN_TYPE_ID_TOKEN}"')
        f.extras(
            {
                "grant_type",
                "requested_token_type",
                "audience",
                "scope",
                "subject_token",
                "subject_token_type",
                "resource",
            },  # fmt: skip
            {
                "assertion": "that is the JWT bearer grant's parameter (step 3)",
                "actor_token": "the agent authenticates with its client assertion, not an actor token here",
            },
        )
        return f.feedback(
            title,
            "The ID token as subject, an ID-JAG requested for the target server's issuer, "
            "custom scopes only.",
        )

    return _guarded(title, check)


# --- 03: the JWT bearer grant -----------------------------------------------------------------------


def check_jwt_bearer_form(form: Any, *, id_jag: str) -> Feedback:
    """Check the reader's JWT bearer form (RFC 7523 §2.1, ID-JAG -04 §4.4, Okta: no `scope`)."""
    title = "JWT bearer form"

    def check() -> Feedback:
        f = _Form(form, "the JWT bearer form")
        if not f.usable():
            return f.feedback(title, "")
        _grant(
            f,
            GRANT_JWT_BEARER,
            {
                GRANT_TOKEN_EXCHANGE: "that is step 2's grant, which made the ID-JAG",
                "jwt-bearer": "grant types beyond RFC 6749's are URNs",
                "client_credentials": "that grant has no user; the ID-JAG carries the user here",
            },
            "RFC 7523 §2.1",
        )
        if "assertion" not in f.form and "subject_token" in f.form:
            f.expected["assertion"] = "the ID-JAG from notebook 02 (id_jag.value)"
            f.fail(
                "assertion",
                '"subject_token" should be "assertion": RFC 7523 §2.1 names the parameter assertion',
                received='(sent as "subject_token")',
            )
        else:
            present, assertion = f.value("assertion", "the ID-JAG from notebook 02 (id_jag.value)")
            if present and assertion != id_jag:
                kind = _kind_of_token(assertion)
                what = f"that is {kind}; " if kind and kind != "an ID-JAG" else ""
                f.wrong("assertion", assertion, f"{what}expected the ID-JAG from notebook 02 (id_jag.value)")
        f.extras(
            {"grant_type", "assertion", "resource"},
            {
                "scope": "Okta takes the scopes from the ID-JAG and refuses the parameter "
                "(id_jag_scopes_in_request)",
                "subject_token": "that is the token exchange's parameter (step 2)",
                "subject_token_type": "that is the token exchange's parameter (step 2)",
                "requested_token_type": "that is the token exchange's parameter (step 2)",
                "audience": "the ID-JAG's aud already names this server",
            },
        )
        return f.feedback(title, "The JWT bearer grant with the ID-JAG as assertion and no scope.")

    return _guarded(title, check)


# --- 04: the Authorization header -------------------------------------------------------------------


def _header_feedback(title: str, problems: list[str], praise: str) -> Feedback:
    """The Authorization header's rows: one failed row per problem, or one passed row."""
    expected = "Bearer <the access token from notebook 03>"
    if problems:
        return Feedback(title, [failed("Authorization", p, expected=expected) for p in problems], praise)
    return Feedback(title, [Check("Authorization", expected, "Bearer <the access token>", True)], praise)


def check_bearer_header(headers: Any, *, access_token: str) -> Feedback:
    """Check the reader's request headers for the API call (RFC 6750 §2.1: `Authorization: Bearer …`)."""
    title = "Authorization header"

    def check() -> Feedback:
        problems: list[str] = []
        if not isinstance(headers, Mapping):
            problems.append(
                f"the headers are {type(headers).__name__} {_shown(headers)}, expected a dict like "
                '{"Authorization": "Bearer <access token>"}'
            )
            return _header_feedback(title, problems, "")
        names = {str(k).lower(): k for k in headers}
        if "authorization" not in names:
            near = [
                k for k in headers if str(k).lower() in ("authorisation", "bearer", "token", "access_token")
            ]
            if near:
                problems.append(f'the header is named "{near[0]}": expected "Authorization" (RFC 6750 §2.1)')
            else:
                problems.append(
                    'there is no "Authorization" header: RFC 6750 §2.1 sends "Bearer <access token>"'
                )
            return _header_feedback(title, problems, "")
        value = headers[names["authorization"]]
        if value is BLANK or value in (None, ""):
            problems.append('"Authorization" is not filled in yet: expected "Bearer " and the access token')
            return _header_feedback(title, problems, "")
        if not isinstance(value, str):
            problems.append(f'"Authorization" is {_shown(value)}, expected a string: "Bearer <access token>"')
            return _header_feedback(title, problems, "")
        scheme, _, credentials = value.strip().partition(" ")
        if looks_like_jwt(scheme) and not credentials:
            scheme, credentials = "", scheme
            problems.append('the value is the token alone: put the scheme first, "Bearer <access token>"')
        elif scheme.lower() != "bearer":
            problems.append(
                f'the scheme is "{scheme}": expected "Bearer" (RFC 6750 §2.1); '
                + (
                    "SSWS is for Okta API tokens"
                    if scheme.upper() == "SSWS"
                    else "OAuth access tokens are bearer tokens"
                )
            )
        token = credentials.strip()
        if token.startswith(('"', "'")):
            problems.append('the token is quoted: send it bare after "Bearer "')
            token = token.strip("\"'")
        if token and token != access_token:
            kind = _kind_of_token(token)
            what = f"that is {kind}; " if kind and kind != "an access token" else ""
            problems.append(f"the token is {_shown(token)}: {what}expected the access token from notebook 03")
        elif not token and not problems:
            problems.append('there is no token after "Bearer ": expected the access token from notebook 03')
        return _header_feedback(
            title, problems, 'The access token as a bearer token: "Authorization: Bearer <token>".'
        )

    return _guarded(title, check)
