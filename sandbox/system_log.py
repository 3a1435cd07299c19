"""`GET {org}/api/v1/logs`: the sandbox's System Log over HTTP, as Okta's System Log API serves it.

- Okta System Log API: `since`, `until`, `limit` (default 100, at most 1000), `filter` (SCIM-like
  expressions: `eventType eq "…"`, `transaction.id eq "…"`, `and`, `or`, `not`, parentheses),
  `after` (paging cursor), `sortOrder` (ASCENDING by default: newest last); the answer is a JSON
  array of LogEvents (https://developer.okta.com/docs/reference/system-log-query/)
- Okta management API authentication: `Authorization: SSWS <API token>`; a missing or wrong token is
  `401` with Okta's error object (`errorCode` E0000011, `errorSummary`, `errorLink`, `errorId`,
  `errorCauses`), not an OAuth error body.
- Okta's `X-Okta-Request-Id` response header, on every response of the app (`register`).

The API token is generated on the sandbox's first start and kept in `<data dir>/api-token`
(mode 0600, written atomically); `python -m sandbox token` prints it and `make lab` copies it into
`.env` as `OKTA_API_TOKEN`. It never appears in an event, a log line or a response.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, g, jsonify, request

from . import events
from .keys import _write_new_private_file

API_TOKEN_FILE = "api-token"
#: Okta API tokens: "00" and 40 base64url characters.
_API_TOKEN_FORM = re.compile(r"00[A-Za-z0-9_-]{40}")
LOGS_PATH = "/api/v1/logs"
REQUEST_ID_HEADER = "X-Okta-Request-Id"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


# --- The API token --------------------------------------------------------------------------------


def new_api_token() -> str:
    """Return a new API token of Okta's form: `00` and 40 base64url characters."""
    return "00" + secrets.token_urlsafe(32)[:40]


def api_token_path(data_dir: str | os.PathLike[str]) -> Path:
    """Where a data folder keeps the API token."""
    return Path(data_dir) / API_TOKEN_FILE


def read_api_token(data_dir: str | os.PathLike[str]) -> str | None:
    """Return the API token stored in a data folder, or None when there is none (or it is malformed)."""
    path = api_token_path(data_dir)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token if _API_TOKEN_FORM.fullmatch(token) else None


def ensure_api_token(data_dir: str | os.PathLike[str]) -> str:
    """Return the data folder's API token, generating and storing it (mode 0600, atomic) if missing.

    Raises:
        RuntimeError: the file exists but does not hold a token of Okta's form.
    """
    path = api_token_path(data_dir)
    if not path.exists():
        _write_new_private_file(path, (new_api_token() + "\n").encode("ascii"))
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, 0o600)
    token = read_api_token(data_dir)
    if token is None:
        raise RuntimeError(
            f'"{path}" does not hold an API token of Okta\'s form (00 and 40 characters); '
            "delete it and a new one is generated"
        )
    return token


# --- Okta's management API errors -----------------------------------------------------------------


def okta_error(status: int, code: str, summary: str, causes: list[str] | None = None) -> Response:
    """Return Okta's management API error object (not an OAuth error body)."""
    response = jsonify(
        {
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": "oae" + secrets.token_urlsafe(16),
            "errorCauses": [{"errorSummary": c} for c in causes or []],
        }
    )
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


class QueryError(ValueError):
    """A query parameter the System Log API cannot use: names the parameter and what is expected."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


# --- since / until / limit ------------------------------------------------------------------------


def parse_time(name: str, value: str) -> float:
    """Parse an ISO 8601 time (`2026-11-29T01:02:03Z`, fractions and offsets allowed) as epoch seconds."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(
            name, f'{name} is "{value}", expected an ISO 8601 time like 2026-11-29T01:02:03Z'
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_limit(value: str | None) -> int:
    """Parse `limit`: 1 to 1000, default 100."""
    if value is None or value == "":
        return DEFAULT_LIMIT
    # ASCII digits only ("²".isdigit() is True, int("²") fails) and short (int() of 5000 digits fails).
    if not (value.isascii() and value.isdigit()) or len(value) > 6 or not 1 <= int(value) <= MAX_LIMIT:
        raise QueryError("limit", f'limit is "{value}", expected a whole number from 1 to {MAX_LIMIT}')
    return int(value)


# --- filter: SCIM-like expressions (RFC 7644 §3.4.2.2, as Okta's System Log uses them) -------------

_TOKEN = re.compile(r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<paren>[()])|(?P<word>[^\s()"]+))')
_OPERATORS = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"}
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")

Predicate = Callable[[dict[str, Any]], bool]


def _tokens(text: str) -> list[tuple[str, str]]:
    out, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match:
            raise QueryError("filter", f"filter has an unexpected character at position {position}")
        position = match.end()
        kind = match.lastgroup or "word"
        out.append((kind, match.group(kind)))
    return out


def _values_at(event: dict[str, Any], path: str) -> list[Any]:
    """Every value at a dotted path; a list on the way (e.g. `target`) matches if any element does."""
    current: list[Any] = [event]
    for part in path.split("."):
        step: list[Any] = []
        for item in current:
            items = item if isinstance(item, list) else [item]
            for element in items:
                if isinstance(element, dict) and part in element:
                    step.append(element[part])
        current = step
    flat: list[Any] = []
    for value in current:
        flat.extend(value if isinstance(value, list) else [value])
    return flat


def _compare(operator: str, actual: Any, expected: Any) -> bool:
    if operator == "pr":
        return actual is not None and actual != ""
    if expected is None:
        return (actual is None) == (operator == "eq")
    if isinstance(expected, bool) or isinstance(actual, bool):
        same = actual is expected
        return same if operator == "eq" else (not same if operator == "ne" else False)
    left, right = ("" if actual is None else str(actual)), str(expected)
    return {
        "eq": left == right,
        "ne": left != right,
        "co": right in left,
        "sw": left.startswith(right),
        "ew": left.endswith(right),
        "gt": left > right,
        "ge": left >= right,
        "lt": left < right,
        "le": left <= right,
    }[operator]


class _Parser:
    """Recursive descent over `expr := term (or term)*; term := factor (and factor)*`."""

    def __init__(self, text: str) -> None:
        self.items = _tokens(text)
        self.index = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.items[self.index] if self.index < len(self.items) else None

    def _next(self, what: str) -> tuple[str, str]:
        item = self._peek()
        if item is None:
            raise QueryError("filter", f"filter ends early, expected {what}")
        self.index += 1
        return item

    def _is_word(self, word: str) -> bool:
        item = self._peek()
        return item is not None and item[0] == "word" and item[1].lower() == word

    def parse(self) -> Predicate:
        predicate = self._expression()
        if self._peek() is not None:
            raise QueryError("filter", f'filter has "{self._peek()[1]}" after a complete expression')
        return predicate

    def _expression(self) -> Predicate:
        terms = [self._term()]
        while self._is_word("or"):
            self.index += 1
            terms.append(self._term())
        return terms[0] if len(terms) == 1 else (lambda e, ts=tuple(terms): any(t(e) for t in ts))

    def _term(self) -> Predicate:
        factors = [self._factor()]
        while self._is_word("and"):
            self.index += 1
            factors.append(self._factor())
        return factors[0] if len(factors) == 1 else (lambda e, fs=tuple(factors): all(f(e) for f in fs))

    def _factor(self) -> Predicate:
        if self._is_word("not"):
            self.index += 1
            inner = self._factor()
            return lambda e: not inner(e)
        kind, text = self._next("an attribute or (")
        if kind == "paren" and text == "(":
            inner = self._expression()
            closing = self._next(")")
            if closing != ("paren", ")"):
                raise QueryError("filter", f'filter has "{closing[1]}" where ")" was expected')
            return inner
        if kind != "word" or not _ATTRIBUTE.fullmatch(text):
            raise QueryError(
                "filter", f'filter has "{text}" where an attribute such as eventType was expected'
            )
        attribute = text
        kind, operator = self._next(f"an operator after {attribute} (eq, ne, co, sw, ew, gt, ge, lt, le, pr)")
        operator = operator.lower()
        if kind != "word" or operator not in _OPERATORS:
            raise QueryError(
                "filter",
                f'filter has "{operator}" after {attribute}, expected one of {", ".join(sorted(_OPERATORS))}',
            )
        if operator == "pr":
            return lambda e: any(_compare("pr", v, None) for v in _values_at(e, attribute))
        kind, raw = self._next(f'a value after {attribute} {operator} (a "quoted string")')
        expected = self._literal(kind, raw)

        def predicate(event: dict[str, Any]) -> bool:
            values = _values_at(event, attribute) or [None]
            if operator == "ne":
                return all(_compare("ne", v, expected) for v in values)
            return any(_compare(operator, v, expected) for v in values)

        return predicate

    @staticmethod
    def _literal(kind: str, raw: str) -> Any:
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", raw[1:-1])
        lowered = raw.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered == "null":
            return None
        if re.fullmatch(r"-?\d+(\.\d+)?", raw):
            return raw
        raise QueryError(
            "filter", f'filter has {raw}, expected a "quoted string", a number, true, false or null'
        )


def parse_filter(text: str) -> Predicate:
    """Compile a System Log `filter` expression into a predicate on events.

    Raises:
        QueryError: naming what is wrong in the expression.
    """
    if len(text) > 2000:
        raise QueryError("filter", "filter is longer than 2000 characters")
    return _Parser(text).parse()


# --- The endpoint -----------------------------------------------------------------------------------


class SystemLogApi:
    """The `/api/v1/logs` endpoint of one sandbox, with its API token."""

    def __init__(self, sandbox: Any, token: str) -> None:
        self.sandbox = sandbox
        self.token = token

    def authorized(self) -> bool:
        """True when the request carries `Authorization: SSWS <this sandbox's API token>`."""
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        # RFC 9110 §11.1: the scheme is case-insensitive.
        if scheme.lower() != "ssws" or not credentials.strip():
            return False
        return hmac.compare_digest(credentials.strip().encode(), self.token.encode())

    def logs(self) -> Response:
        """GET /api/v1/logs: the events that match, oldest first unless sortOrder=DESCENDING."""
        if not self.authorized():
            return okta_error(401, "E0000011", "Invalid token provided")
        args = request.args
        try:
            since = parse_time("since", args["since"]) if args.get("since") else None
            until = parse_time("until", args["until"]) if args.get("until") else None
            limit = parse_limit(args.get("limit"))
            order = (args.get("sortOrder") or "ASCENDING").upper()
            if order not in ("ASCENDING", "DESCENDING"):
                raise QueryError(
                    "sortOrder", f'sortOrder is "{args["sortOrder"]}", expected ASCENDING or DESCENDING'
                )
            where = parse_filter(args["filter"]) if args.get("filter") else None
        except QueryError as exc:
            if exc.parameter == "filter":
                return okta_error(400, "E0000031", "Invalid search criteria.", [str(exc)])
            return okta_error(400, "E0000001", f"Api validation failed: {exc.parameter}", [str(exc)])
        found = self.sandbox.events.query(
            since=since,
            until=until,
            where=where,
            after=args.get("after") or None,
            limit=limit,
            descending=order == "DESCENDING",
        )
        response = jsonify(found)
        response.headers["Cache-Control"] = "no-store"
        links = [f'<{self._url(args, None)}>; rel="self"']
        if len(found) == limit:
            links.append(f'<{self._url(args, found[-1]["uuid"])}>; rel="next"')
        response.headers["Link"] = ", ".join(links)
        return response

    def _url(self, args: Any, after: str | None) -> str:
        params = [(k, v) for k, v in args.items(multi=True) if k != "after"]
        if after is not None:
            params.append(("after", after))
        query = urlencode(params)
        return f"{self.sandbox.org_url}{LOGS_PATH}" + (f"?{query}" if query else "")


def register(app: Flask, sandbox: Any) -> SystemLogApi:
    """Give every response an `X-Okta-Request-Id` and serve `GET /api/v1/logs` (SSWS API token)."""
    api = SystemLogApi(sandbox, ensure_api_token(sandbox.data_dir))
    app.extensions["system_log"] = api

    @app.before_request
    def assign_request_id() -> None:
        g.okta_request_id = events.new_request_id()

    @app.after_request
    def add_request_id(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = events.request_id() or events.new_request_id()
        return response

    app.add_url_rule(LOGS_PATH, "system_log", api.logs, methods=["GET"])
    return api
