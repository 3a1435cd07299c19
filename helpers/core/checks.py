"""A checklist: one row per rule a token or response must meet, with both values and the spec.

Each row says what was checked, what was expected, what was received, pass or fail, and where the
rule comes from (e.g. "OIDC Core §3.1.3.7"). A row for a SHOULD (RFC 2119) is not required: when it
is not met it shows as a warning and does not fail the list. `Checklist.raise_if_failed()` turns the
first failed required row into a TokenValidationError naming both values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..constants import ASYMMETRIC_ALGORITHMS
from .errors import TokenValidationError
from .formatting import html_table, plain_value

PASS = "pass"
FAIL = "FAIL"
#: A SHOULD that was not met: shown, never fatal.
WARN = "warn"


@dataclass(frozen=True)
class Check:
    """One row: the check's name, expected and received values (as text), the result and the rule."""

    name: str
    expected: str
    received: str
    passed: bool
    reference: str = ""
    #: False for a SHOULD: an unmet row is a warning, not a failure.
    required: bool = True
    #: For a failed row, the sentence that says what is wrong and what to do (an exercise's feedback).
    note: str = field(default="", compare=False)

    @property
    def result(self) -> str:
        """`pass`, `FAIL`, or `warn` (an unmet SHOULD)."""
        if self.passed:
            return PASS
        return FAIL if self.required else WARN


@dataclass
class Checklist:
    """An ordered list of checks with a title; `.ok` is True when every row passed."""

    title: str
    checks: list[Check] = field(default_factory=list)

    def add(
        self,
        name: str,
        expected: Any,
        received: Any,
        passed: bool,
        reference: str = "",
        *,
        required: bool = True,
        note: str = "",
    ) -> bool:
        """Append a row (`required=False` for a SHOULD); values become stable text. Returns `passed`."""
        row = Check(name, _text(expected), _text(received), bool(passed), reference, required, note)
        self.checks.append(row)
        return bool(passed)

    def equal(self, name: str, expected: Any, received: Any, reference: str = "") -> bool:
        """Append a row that passes when received == expected."""
        return self.add(name, expected, received, received == expected, reference)

    def present(self, name: str, received: Any, reference: str = "", *, expected: str = "present") -> bool:
        """Append a row that passes when a value is present (not None and not empty)."""
        ok = received is not None and received != "" and received != []
        return self.add(name, expected, received if ok else "(missing)", ok, reference)

    def run(
        self, name: str, expected: Any, probe: Callable[[], tuple[Any, bool]], reference: str = ""
    ) -> bool:
        """Append a row from `probe()` -> (received, passed); an exception is a failed row."""
        try:
            received, passed = probe()
        except Exception as exc:  # noqa: BLE001  (a failed check, shown in the table with its reason)
            received, passed = f"{type(exc).__name__}: {exc}", False
        return self.add(name, expected, received, passed, reference)

    def is_jwt(self, name: str, token: Any, reference: str, *, expected: str = "a JWT") -> bool:
        """Append a row that passes when `token` has a JWT's shape (three base64url parts)."""
        from .jwts import looks_like_jwt

        shaped = looks_like_jwt(token)
        return self.add(name, expected, "a JWT" if shaped else (token or "(missing)"), shaped, reference)

    def absent(self, container: Any, key: str, reference: str, *, required: bool = True) -> bool:
        """Append the `"key"` row: passes when `key` is not in `container` (`required=False`: SHOULD NOT)."""
        missing = key not in container
        shown = "absent" if missing else "present"
        return self.add(f'"{key}"', "absent", shown, missing, reference, required=required)

    def no_store(self, headers: Any, reference: str) -> bool:
        """Append the "Cache-Control" row: a token response is not cached (`no-store`, RFC 6749 §5.1)."""
        lowered = {str(k).lower(): str(v) for k, v in dict(headers or {}).items()}
        cache = lowered.get("cache-control", "(absent)")
        return self.add("Cache-Control", "no-store", cache, "no-store" in cache.lower(), reference)

    def decode(self, token: Any, *, what: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Decode a JWT without verifying it; if it is not one, add a failed "format" row and return None."""
        from .jwts import decode_unverified

        try:
            return decode_unverified(token, what=what)
        except TokenValidationError as exc:
            self.add("format", "a JWT", str(exc), False, "RFC 7519 §7.2")
            return None

    def asymmetric_alg(self, header: dict[str, Any], reference: str) -> bool:
        """Add the 'header "alg"' row: a public-key algorithm (never "none" or an HMAC)."""
        alg = header.get("alg")
        return self.add(
            'header "alg"', "RS256/384/512 or ES256/384/512", alg, alg in ASYMMETRIC_ALGORITHMS, reference
        )

    def signature(
        self, token: str, jwks: dict[str, Any], *, expected: str, reference: str, what: str
    ) -> bool:
        """Add the "signature" row: the token verifies with the JWKS key its `kid` names (explicit algs)."""
        from .jwts import decode_unverified, verify_signature

        def probe() -> tuple[str, bool]:
            verify_signature(token, jwks, what=what)
            kid = decode_unverified(token, what=what)[0].get("kid")
            return (f'valid (key "{kid}")' if kid else "valid"), True

        return self.run("signature", expected, probe, reference)

    def lifetime(
        self,
        claims: dict[str, Any],
        *,
        now: int,
        skew: int,
        exp_reference: str,
        iat_reference: str | None = None,
    ) -> None:
        """Add the `exp` row (in the future, allowing `skew`) and the `iat` row (not in the future)."""
        from .formatting import describe_time

        exp, iat = claims.get("exp"), claims.get("iat")
        self.add(
            '"exp"',
            "in the future",
            describe_time(exp, reference=now) if exp is not None else "(missing)",
            isinstance(exp, int) and exp > now - skew,
            exp_reference,
        )
        self.add(
            '"iat"',
            "not in the future",
            describe_time(iat, reference=now) if iat is not None else "(missing)",
            isinstance(iat, int) and iat <= now + skew,
            iat_reference or exp_reference,
        )

    def extend(self, other: Checklist) -> None:
        """Append every row of another checklist."""
        self.checks.extend(other.checks)

    @property
    def ok(self) -> bool:
        """True when every required check passed (and there is at least one check)."""
        return bool(self.checks) and not self.failed

    @property
    def failed(self) -> list[Check]:
        """The required rows that failed, in order."""
        return [c for c in self.checks if not c.passed and c.required]

    @property
    def warnings(self) -> list[Check]:
        """The SHOULD rows that were not met, in order."""
        return [c for c in self.checks if not c.passed and not c.required]

    def __getitem__(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def __iter__(self) -> Iterator[Check]:
        return iter(self.checks)

    def __len__(self) -> int:
        return len(self.checks)

    def raise_if_failed(self) -> Checklist:
        """Raise TokenValidationError naming the first failed check and both values; else return self."""
        for check in self.failed:
            raise TokenValidationError(
                f'{self.title}: {check.name} is "{check.received}", expected "{check.expected}"'
                + (f" ({check.reference})" if check.reference else ""),
                check=check.name,
                expected=check.expected,
                received=check.received,
            )
        return self

    def summary(self) -> str:
        """One line: `ID token checks: 9 of 9 passed` (and `, 1 warning` when a SHOULD was not met)."""
        passed = sum(c.passed for c in self.checks)
        warned = len(self.warnings)
        extra = f", {warned} warning{'s' if warned != 1 else ''}" if warned else ""
        return f"{self.title}: {passed} of {len(self.checks)} passed{extra}"

    def _rows(self) -> list[list[str]]:
        return [[c.result, c.name, c.expected, c.received, c.reference] for c in self.checks]

    def __str__(self) -> str:
        # One line per check; only the constant columns are padded, so a value whose length varies
        # (a relative time) never shifts the columns after it.
        width = max((len(c.name) for c in self.checks), default=0)
        lines = [self.summary()]
        for c in self.checks:
            rule = f" | {c.reference}" if c.reference else ""
            lines.append(
                f"{c.result:<4}  {c.name:<{width}}  expected: {c.expected} | received: {c.received}{rule}"
            )
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from html import escape

        rows = self._rows()
        marks = {PASS: "✓ pass", FAIL: "✗ FAIL", WARN: "! warn"}  # glyphs every common font has
        for row in rows:
            row[0] = marks[row[0]]
        return f"<p><b>{escape(self.summary())}</b></p>" + html_table(
            ["Result", "Check", "Expected", "Received", "Rule"], rows, code_columns=(2, 3)
        )


def _text(value: Any) -> str:
    if value is None:
        return "(none)"
    return plain_value(value)
