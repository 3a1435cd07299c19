"""Checks for notebook 08's "your turn" cells: the reader's ID-JAG checks, tried on crafted inputs.

- `check_typ(header)`: ID-JAG -04 §4.4.1 (RFC 8725 §3.11)
- `check_audience(claims)`: ID-JAG -04 §3.1, §4.4.1 (this server's issuer; a string or an array of
  exactly one element)
- `check_client(claims, client_id)`: ID-JAG -04 §4.4.1 (the authenticated client)

Each check calls the reader's function with inputs it must accept and inputs it must refuse (raise
`Refusal` with `invalid_grant`), and returns `exercises.Feedback`: right, or each case that went
wrong, what it should have done and the rule. It never raises (a blank answer, `...`, accepts
everything, and the feedback says which inputs got through).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..constants import ID_JAG_JWT_TYP
from ..core.checks import Check
from ..resource_server import Refusal
from .exercises import Feedback, _guarded

#: Another resource authorization server's issuer, for the cases that must be refused.
OTHER_ISSUER = "https://other-ras.example"


def _try(function: Callable[..., Any], *args: Any) -> tuple[str, str]:
    """Run the reader's check: ("accepted", ""), ("refused", error) or ("crashed", what)."""
    try:
        function(*args)
    except Refusal as refusal:
        return "refused", refusal.error
    except Exception as exc:  # noqa: BLE001 - the reader's code may raise anything; say what
        return "crashed", f"{type(exc).__name__}: {exc}"
    return "accepted", ""


def _run(
    title: str,
    function: Any,
    accept: list[tuple[str, tuple[Any, ...]]],
    refuse: list[tuple[str, tuple[Any, ...], str]],
    praise: str,
) -> Feedback:
    def check() -> Feedback:
        if not callable(function):
            return Feedback.unreadable(title, f"{function!r} is not a function: define it with def")
        rows: list[Check] = []
        for what, args in accept:
            outcome, detail = _try(function, *args)
            received = f"{outcome} ({detail})" if detail else outcome
            if outcome == "refused":
                note = f"{what} was refused ({detail}), expected it to pass"
            elif outcome == "crashed":
                note = f"{what} raised {detail}, expected it to pass"
            else:
                note = ""
            rows.append(Check(what, "accepted", received, not note, note=note))
        for what, args, rule in refuse:
            outcome, detail = _try(function, *args)
            received = f"{outcome} ({detail})" if detail else outcome
            if outcome == "accepted":
                note = f'{what} was accepted, expected Refusal("invalid_grant", …) ({rule})'
            elif outcome == "crashed":
                note = (
                    f'{what} raised {detail}: refuse it with Refusal("invalid_grant", …), so the client '
                    f"gets an OAuth error and not a 500 ({rule})"
                )
            elif detail != "invalid_grant":
                note = f'{what} was refused with "{detail}", expected "invalid_grant" ({rule})'
            else:
                note = ""
            rows.append(Check(what, "refused (invalid_grant)", received, not note, rule, note=note))
        return Feedback(title, rows, praise)

    return _guarded(title, check)


def check_typ_check(function: Any) -> Feedback:
    """Try the reader's `check_typ(header)` on an ID-JAG's header and on other JWTs' headers."""
    rule = "ID-JAG -04 §4.4.1"
    return _run(
        "check_typ",
        function,
        accept=[
            (f'a header with typ "{ID_JAG_JWT_TYP}"', ({"alg": "RS256", "kid": "k1", "typ": ID_JAG_JWT_TYP},))
        ],
        refuse=[
            ('an ID token\'s header (typ "JWT")', ({"alg": "RS256", "kid": "k1", "typ": "JWT"},), rule),
            (
                'an access token\'s header (typ "at+jwt")',
                ({"alg": "RS256", "kid": "k1", "typ": "at+jwt"},),
                rule,
            ),
            ("a header without typ", ({"alg": "RS256", "kid": "k1"},), rule + "; RFC 8725 §3.11"),
        ],
        praise="Explicit typing: no other JWT the IdP signs (ID token, access token) passes for an ID-JAG.",
    )


def check_audience_check(function: Any, *, issuer: str) -> Feedback:
    """Try the reader's `check_audience(claims)` with `aud` as it may and may not be."""
    rule = "ID-JAG -04 §3.1, §4.4.1"
    variant = issuer[:-1] if issuer.endswith("/") else issuer + "/"
    return _run(
        "check_audience",
        function,
        accept=[
            (f'aud "{issuer}" (this server\'s issuer)', ({"aud": issuer},)),
            (f'aud ["{issuer}"] (an array of one element)', ({"aud": [issuer]},)),
        ],
        refuse=[
            (f'aud "{OTHER_ISSUER}" (another server)', ({"aud": OTHER_ISSUER},), rule),
            (f'aud ["{issuer}", "{OTHER_ISSUER}"] (two elements)', ({"aud": [issuer, OTHER_ISSUER]},), rule),
            (f'aud "{variant}" (one slash of difference)', ({"aud": variant},), rule + ": exact string"),
            ("no aud", ({},), "RFC 7523 §3"),
            ("aud 42 (not a string)", ({"aud": 42},), rule),
        ],
        praise="Your issuer exactly, as a string or an array of exactly one element.",
    )


def check_client_check(function: Any, *, client_id: str) -> Feedback:
    """Try the reader's `check_client(claims, client_id)` with the authenticated client and others."""
    rule = "ID-JAG -04 §4.4.1"
    return _run(
        "check_client",
        function,
        accept=[
            (f'client_id "{client_id}", the authenticated client', ({"client_id": client_id}, client_id))
        ],
        refuse=[
            (
                'client_id "0oaSomeOtherClient01" (another client)',
                ({"client_id": "0oaSomeOtherClient01"}, client_id),
                rule,
            ),
            ("no client_id", ({}, client_id), "ID-JAG -04 §3.1: REQUIRED"),
            (
                f'client_id "{client_id}" presented by another client',
                ({"client_id": client_id}, "notes-reporting-app"),
                rule,
            ),
        ],
        praise="The ID-JAG is bound to the client the IdP issued it to: nobody else can redeem it.",
    )
