"""Property-based fuzzing of every sandbox endpoint: the strategies, the sender and the oracle.

- RFC 6749 §5.2 / RFC 6750 §3.1 (the error shapes), §3.1 / §3.2 (parameters; unknown ones ignored)
- RFC 6749 §4.1.2.1 (never redirect to an unregistered URI)

Each case picks, for every parameter of one endpoint, the VALID value (made fresh when it is single
use: a client assertion, an ID-JAG, an authorization code), no value (ABSENT), a hostile token of
another kind (a replayed one, one for another endpoint, an ID-JAG where an ID token goes, ...), or
arbitrary text; plus unknown `x_…` parameters, which must be ignored. The oracle:

- never a 5xx, and every refusal is `{"error", "error_description"}` (or the authorize HTML page);
- a success (a token, a code in a redirect, an API answer) exactly when every choice was VALID;
- a redirect only ever goes to a registered redirect URI.

The `raw_http` endpoint sends bytes no client library would (request lines, header lines and line
ends mutated, framing broken): each must get an answer (RFC 9112; sandbox.serving), never a 5xx.

`tests/hardening/test_fuzz.py` runs a few hundred cases with a derandomized profile in `make test`;
`bench/fuzz.py` runs 10,000 and prints the counts. Named uniquely (not `conftest`).
"""

from __future__ import annotations

import json
import re
import socket
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import requests
from hypothesis import strategies as st
from sandbox_flows import (
    AGENT,
    ALICE,
    CLIENT_ASSERTION_TYPE,
    ID_JAG_TYPE,
    ID_TOKEN_TYPE,
    JWT_BEARER,
    REDIRECT_URI,
    TOKEN_EXCHANGE,
    Signer,
    authorize_params,
    code_for_tokens,
    full_flow,
    parse_page,
    sign_in,
    token_exchange,
)


@dataclass(frozen=True)
class Pick:
    """A symbolic choice, turned into a concrete value when the case is sent."""

    kind: str

    def __repr__(self) -> str:
        return self.kind.upper()


VALID, ABSENT = Pick("valid"), Pick("absent")

INTERESTING = [
    "",
    " ",
    "null",
    "[]",
    "{}",
    "a.b.c",
    "..",
    "eyJhbGciOiJub25lIn0.e30.",
    "eyJ" + "A" * 3000,
    "%",
    "%zz",
    "\u0000",
    "\u202e",
    "NaN",
    "1e400",
    "-1",
    "openid",
    "todo.read todo.write",
    "todo.admin",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "urn:ietf:params:oauth:token-type:access_token",
    "urn:ietf:params:oauth:token-type:id-jag",
    "http://127.0.0.1:8765/callback",
    "http://evil.example/cb",
    "wlpSandboxAgent00001",
    "0oaOtherWebApp000001",
]

garbage = st.one_of(st.text(max_size=48), st.sampled_from(INTERESTING))


def choice(*specials: str) -> st.SearchStrategy[Any]:
    """VALID, ABSENT, one of the named hostile tokens, or garbage text."""
    picks = [st.just(VALID), st.just(ABSENT), garbage]
    if specials:
        picks.insert(2, st.sampled_from([Pick(s) for s in specials]))
    return st.one_of(*picks)


def mutations(
    fields: dict[str, st.SearchStrategy[Any]], *, always: tuple[str, ...] = ()
) -> st.SearchStrategy[dict]:
    """Cases that keep most parameters VALID and change zero to three of them (so checks deep in the
    flow are reached, not only the first one); the names in `always` are drawn on every case."""

    @st.composite
    def build(draw: Any) -> dict[str, Any]:
        names = [n for n in fields if n not in always]
        count = min(len(names), draw(st.sampled_from([0, 1, 1, 1, 1, 2, 2, 3])))
        chosen = draw(st.lists(st.sampled_from(names), min_size=count, max_size=count, unique=True))
        case = {n: (draw(fields[n]) if n in chosen or n in always else VALID) for n in fields}
        return case

    return build()


extras = st.dictionaries(st.from_regex(r"x_[a-z]{1,8}", fullmatch=True), st.text(max_size=16), max_size=2)
content_types = st.one_of(
    st.just(VALID), st.sampled_from(["application/json", "text/plain", "multipart/form-data", ""])
)

ASSERTION = ("replayed_assertion", "assertion_for_other_endpoint", "expired_assertion")


# --- raw HTTP: bytes no client library sends (sandbox.serving answers them) --------------------------

_no_line_end = st.binary(max_size=24).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
#: Framing headers come only from `_framing`, so that a case never waits for bytes it will not get.
_FRAMING_NAMES = (b"content-length", b"transfer-encoding", b"expect")
#: (framing headers, body): each either a complete request or one the server refuses at once.
_FRAMINGS = [
    ([], b""),
    ([b"Content-Length: 12"], b"grant_type=x"),
    ([b"Transfer-Encoding: chunked"], b"c\r\ngrant_type=x\r\n0\r\n\r\n"),
    ([b"Content-Length: abc"], b""),
    ([b"Content-Length: -1"], b""),
    ([b"Content-Length: 1", b"Content-Length: 2"], b"ab"),
    ([b"Content-Length: 99999999999999999999"], b""),
    ([b"Transfer-Encoding: chunked"], b"zz\r\nab\r\n0\r\n\r\n"),
    ([b"Transfer-Encoding: chunked"], b"2;\x01\r\nab\r\n0\r\n\r\n"),
    ([b"Transfer-Encoding: chunked"], b"2\r\nabc\r\n0\r\n\r\n"),
    ([b"Transfer-Encoding: chunked"], b"ffffffffffff\r\nab"),
    ([b"Transfer-Encoding: gzip"], b""),
]
#: Mostly CRLF; sometimes what RFC 9112 §2.2 forbids.
_line_ends = st.sampled_from([b"\r\n"] * 8 + [b"\n", b"\r", b"\r\r\n", b" \r\n"])
_PATHS = [b"/", b"/oauth2/v1/token", b"/oauth2/v1/keys", b"/todo-api/todos", b"/oauth2/v1/authorize"]
#: Half of the request lines are valid, so that the header lines and the framing are reached too.
RAW_HTTP = st.fixed_dictionaries(
    {
        "method": st.one_of(
            st.sampled_from([b"GET", b"POST", b"HEAD", b"OPTIONS"]),
            st.sampled_from([b"get", b"G\xc9T", b"", b"GET GET", b"PRI", b"\x16\x03\x01"]),
            _no_line_end.map(lambda b: b[:8]),
        ),
        "target": st.one_of(
            st.sampled_from(_PATHS),
            st.sampled_from(
                [b"*", b"http://[::1/", b"http://h:99999/x", b"//x", b"/a b", b"/%zz", b"/\xff", b""]
            ),
            _no_line_end.map(lambda b: b"/" + b),
        ),
        "version": st.sampled_from(
            [b" HTTP/1.1"] * 4 + [b" HTTP/1.0", b"", b" HTTP/2.0", b" HTTP/1.1 ", b" http/1.1", b" HTTP/x"]
        ),
        "line_end": _line_ends,
        "headers": st.one_of(
            st.just([]),
            st.lists(  # well-formed: the request reaches its framing and the app
                st.tuples(
                    st.sampled_from([b"Host", b"Accept", b"X-A", b"Content-Type"]),
                    st.sampled_from([b"127.0.0.1", b"*/*", b"application/x-www-form-urlencoded", b""]),
                    st.just(b"\r\n"),
                ),
                max_size=3,
            ),
            st.lists(  # anything on a line
                st.tuples(
                    st.one_of(
                        st.sampled_from(
                            [b"Host", b"Accept", b"Content-Type", b"X-A", b"Bad Name", b"", b"\xff", b" Y"]
                        ),
                        _no_line_end.map(lambda b: b[:12]),
                    ).filter(lambda n: not n.strip().lower().startswith(_FRAMING_NAMES)),
                    _no_line_end,
                    _line_ends,
                ),
                max_size=4,
            ),
        ),
        "framing": st.integers(0, len(_FRAMINGS) - 1),
    }
).filter(lambda c: (c["method"] + c["target"] + c["version"]).strip())  # not a blank line (ignored)


def raw_request(case: dict[str, Any]) -> bytes:
    """The bytes of a raw_http case: request line, header lines, framing headers, blank line, body."""
    framing, body = _FRAMINGS[case["framing"]]
    lines = [case["method"] + b" " + case["target"] + case["version"] + case["line_end"]]
    lines += [name + b": " + value + end for name, value, end in case["headers"]]
    lines += [header + b"\r\n" for header in framing]
    return b"".join(lines) + b"\r\n" + body


@dataclass
class RawAnswer:
    """The first answer on a raw connection: status, headers (lower-case names), body."""

    status: int
    headers: dict[str, str]
    body: bytes


def send_raw(url: str, raw: bytes, *, timeout: float = 15) -> RawAnswer | None:
    """Send `raw` to the server at `url` and read its first answer; None if it closed without one."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(raw)
        except OSError:
            pass  # answered and closed while we sent: read the answer
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    return None
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
            length = 0 if raw.startswith(b"HEAD ") else int(headers.get("content-length", "0"))
            while len(rest) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
        except (ConnectionResetError, TimeoutError):
            return None
    return RawAnswer(int(lines[0].split()[1]), headers, rest[:length])


def judge_raw_http(case: dict[str, Any], raw: bytes, answer: RawAnswer | None) -> Outcome:
    """Every raw request is answered: never a 5xx (but 501 for an unknown transfer coding), refusals
    OAuth-shaped (or the authorize endpoint's HTML page)."""
    assert answer is not None, f"closed without an answer: {raw[:300]!r}"
    error = None
    assert answer.status < 500 or answer.status == 501, (raw[:300], answer)
    if answer.status >= 400 and answer.body:  # no body: an answer to HEAD
        if answer.headers.get("content-type", "").startswith("text/html"):
            assert b"/authorize" in raw.split(b"\n", 1)[0], (raw[:300], answer)
        else:
            assert answer.headers.get("content-type", "").startswith("application/json"), (raw[:300], answer)
            body = json.loads(answer.body)
            assert set(body) == {"error", "error_description"}, body
            error = body["error"]
            assert answer.status != 501 or error == "invalid_request", (raw[:300], answer)
    return Outcome(answer.status, error, answer.status < 300)


STRATEGIES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "token_exchange": mutations(
        {
            "grant_type": choice(),
            "requested_token_type": choice(),
            "audience": choice("other_server_issuer"),
            "scope": choice(),
            "subject_token": choice("org_access_token", "id_jag", "access_token"),
            "subject_token_type": choice(),
            "client_assertion_type": choice(),
            "client_assertion": choice(*ASSERTION),
            "_content_type": content_types,
            "_extra": extras,
        },
        always=("_extra",),
    ),
    "authorization_code": mutations(
        {
            "grant_type": choice(),
            "code": choice("used_code"),
            "redirect_uri": choice(),
            "code_verifier": choice(),
            "client_assertion_type": choice(),
            "client_assertion": choice(*ASSERTION),
            "_content_type": content_types,
            "_extra": extras,
        },
        always=("_extra",),
    ),
    "jwt_bearer": mutations(
        {
            "_server": st.one_of(
                st.just(VALID), st.sampled_from([Pick("reports"), Pick("unknown_server")]), garbage
            ),
            "grant_type": choice(),
            "assertion": choice("used_id_jag", "id_token", "access_token"),
            "client_assertion_type": choice(),
            "client_assertion": choice(*ASSERTION),
            "_content_type": content_types,
            "_extra": extras,
        },
        always=("_extra",),
    ),
    "authorize": mutations(
        {
            "response_type": choice(),
            "client_id": choice("other_client"),
            "redirect_uri": choice(),
            "scope": choice(),
            "state": choice(),
            "nonce": choice(),
            "code_challenge": choice(),
            "code_challenge_method": choice(),
            "_extra": extras,
        },
        always=("_extra",),
    ),
    "sign_in": mutations(
        {
            "transaction_id": choice("used_transaction"),
            "username": choice(),
            "password": choice(),
            "_content_type": content_types,
        }
    ),
    "api": mutations(
        {
            "_route": st.sampled_from(["GET /todos", "POST /todos", "GET /me"]),
            "authorization": choice("id_token", "id_jag", "org_access_token", "no_scheme"),
            "_body": st.one_of(
                st.just(VALID), st.binary(max_size=64), st.sampled_from([b"{}", b'{"title": 1}'])
            ),
        },
        always=("_route",),
    ),
    "userinfo": mutations(
        {"_method": st.sampled_from(["GET", "POST"]), "authorization": choice("id_token", "access_token")},
        always=("_method",),
    ),
    "system_log": mutations(
        {
            "authorization": st.one_of(
                st.just(VALID),
                st.just(ABSENT),
                st.sampled_from([Pick("bearer_token"), Pick("ssws_wrong")]),
                garbage,
            ),
            "since": st.one_of(
                st.just(ABSENT),
                st.sampled_from(
                    ["2026-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59"]
                ),
                garbage,
            ),
            "until": st.one_of(
                st.just(ABSENT), st.sampled_from(["2099-01-01T00:00:00Z", "1970-01-01"]), garbage
            ),
            "limit": st.one_of(
                st.just(ABSENT), st.sampled_from(["1", "1000", "1001", "0", "²", "٣", "-5"]), garbage
            ),
            "sortOrder": st.one_of(
                st.just(ABSENT), st.sampled_from(["DESCENDING", "descending", "up"]), garbage
            ),
            "filter": st.one_of(
                st.just(ABSENT),
                st.sampled_from(
                    [
                        'eventType eq "sandbox.token.token_exchange"',
                        'transaction.id eq "x" and (outcome.result eq "FAILURE" or severity pr)',
                        "((((((((((((((((((((",
                        'a eq "' + "\\" * 50 + '"',
                        "not",
                        "eq eq eq",
                        'published gt "2026-01-01T00:00:00Z"',
                    ]
                ),
                garbage,
            ),
            "after": st.one_of(st.just(ABSENT), garbage),
        },
        always=(),
    ),
    "raw": st.fixed_dictionaries(
        {
            "_method": st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
            "_path": st.one_of(
                st.sampled_from(
                    [
                        "/oauth2/v1/token",
                        "/oauth2/default/v1/token",
                        "/oauth2/v1/keys",
                        "/oauth2/default/v1/keys",
                        "/oauth2/v1/authorize",
                        "/oauth2/v1/userinfo",
                        "/todo-api/todos",
                        "/todo-api/me",
                        "/.well-known/openid-configuration",
                        "/oauth2/nope/v1/keys",
                        "/",
                        "/oauth2/default/.well-known/x",
                    ]
                ),
                st.text(max_size=24).map(lambda t: "/" + quote(t)),
            ),
            "_content_type": st.sampled_from(
                [
                    "application/x-www-form-urlencoded",
                    "application/json",
                    "text/plain",
                    "multipart/form-data",
                    "",
                ]
            ),
            "_body": st.binary(max_size=256),
        }
    ),
    "raw_http": RAW_HTTP,
}

ENDPOINTS = tuple(STRATEGIES)


@dataclass
class Outcome:
    status: int
    error: str | None
    success: bool


@dataclass
class Fuzzer:
    """Sends fuzz cases to one sandbox and checks every answer against the oracle."""

    url: str
    signer: Signer
    #: The sandbox's System Log API token (`Authorization: SSWS …`), for the `system_log` endpoint.
    api_token: str = ""
    counts: Counter = field(default_factory=Counter)
    #: The concrete value sent for each parameter of the last case (what the oracle judges).
    sent: dict[str, Any] = field(default_factory=dict)
    _cache: dict[str, str] = field(default_factory=dict)

    # --- materials ---------------------------------------------------------------------------------

    def _flow_tokens(self) -> dict[str, str]:
        if not self._cache:
            tokens = full_flow(self.url, self.signer)
            self._cache.update(
                id_token=tokens.id_token,
                org_access_token=tokens.org_access_token,
                used_id_jag=tokens.id_jag,
                access_token=tokens.access_token,
                replayed_assertion=self.signer.assertion(self.url + "/oauth2/v1/token"),
            )
            # Use the assertion once, so that it is a replay from now on.
            token_exchange(
                self.url, self.signer, tokens.id_token, client_assertion=self._cache["replayed_assertion"]
            )
            grant = sign_in(self.url)
            code_for_tokens(self.url, self.signer, grant)
            self._cache["used_code"] = grant.code
        return self._cache

    def fresh_id_jag(self) -> str:
        answer = token_exchange(self.url, self.signer, self._flow_tokens()["id_token"])
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def special(self, pick: Pick, endpoint_url: str) -> str:
        tokens = self._flow_tokens()
        if pick.kind == "assertion_for_other_endpoint":
            return self.signer.assertion(self.url + "/oauth2/reports/v1/token")
        if pick.kind == "expired_assertion":
            return self.signer.assertion(endpoint_url, exp=1_000_000_000, iat=999_999_000)
        if pick.kind == "id_jag":
            return self.fresh_id_jag()
        if pick.kind == "other_server_issuer":
            return self.url + "/oauth2/reports"
        if pick.kind == "other_client":
            return "0oaOtherWebApp000001"
        if pick.kind == "no_scheme":
            return tokens["access_token"]
        if pick.kind in ("reports", "unknown_server"):
            return "reports" if pick.kind == "reports" else "nope"
        return tokens[pick.kind]

    # --- sending ----------------------------------------------------------------------------------

    def _value(self, value: Any, valid: Any, endpoint_url: str, name: str = "") -> Any:
        if value is VALID:
            concrete = valid() if callable(valid) else valid
        elif isinstance(value, Pick):
            concrete = self.special(value, endpoint_url)
        else:
            concrete = value
        if name:
            self.sent[name] = concrete
        return concrete

    def _post_form(self, url: str, case: dict[str, Any], valid: dict[str, Any]) -> requests.Response:
        form = {}
        for name, value in case.items():
            if name.startswith("_") or value is ABSENT:
                continue
            form[name] = self._value(value, valid.get(name), url, name)
        form.update(case.get("_extra", {}))
        content_type = case.get("_content_type", VALID)
        if content_type is VALID:
            return requests.post(url, data=form, allow_redirects=False, timeout=30)
        body = "&".join(f"{quote(k)}={quote(str(v))}" for k, v in form.items())
        return requests.post(
            url, data=body.encode(), headers={"Content-Type": content_type}, allow_redirects=False, timeout=30
        )

    def send(self, endpoint: str, case: dict[str, Any]) -> requests.Response:
        """Send one case to its endpoint and return the answer."""
        org_token = self.url + "/oauth2/v1/token"
        if endpoint == "token_exchange":
            tokens = self._flow_tokens()
            valid = {
                "grant_type": TOKEN_EXCHANGE,
                "requested_token_type": ID_JAG_TYPE,
                "audience": self.url + "/oauth2/default",
                "scope": "todo.read",
                "subject_token": tokens["id_token"],
                "subject_token_type": ID_TOKEN_TYPE,
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": lambda: self.signer.assertion(org_token),
            }
            return self._post_form(org_token, case, valid)
        if endpoint == "authorization_code":
            self._flow_tokens()
            grant = sign_in(self.url) if any(case[k] is VALID for k in ("code", "code_verifier")) else None
            valid = {
                "grant_type": "authorization_code",
                "code": grant.code if grant else "unused",
                "redirect_uri": REDIRECT_URI,
                "code_verifier": grant.verifier if grant else "unused",
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": lambda: self.signer.assertion(org_token),
            }
            return self._post_form(org_token, case, valid)
        if endpoint == "jwt_bearer":
            server = self._value(case["_server"], "default", "", "_server")
            url = f"{self.url}/oauth2/{quote(server, safe='')}/v1/token"
            valid = {
                "grant_type": JWT_BEARER,
                "assertion": self.fresh_id_jag,
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": lambda: self.signer.assertion(url),
            }
            return self._post_form(url, case, valid)
        if endpoint == "authorize":
            valid, _ = authorize_params()
            params = {
                k: self._value(v, valid.get(k), "", k)
                for k, v in case.items()
                if not k.startswith("_") and v is not ABSENT
            }
            params.update(case["_extra"])
            return requests.get(
                self.url + "/oauth2/v1/authorize", params=params, allow_redirects=False, timeout=30
            )
        if endpoint == "sign_in":
            return self._send_sign_in(case)
        if endpoint in ("api", "userinfo"):
            return self._send_bearer(endpoint, case)
        if endpoint == "system_log":
            return self._send_system_log(case)
        return requests.request(
            case["_method"],
            self.url + case["_path"],
            data=case["_body"],
            headers={"Content-Type": case["_content_type"]},
            allow_redirects=False,
            timeout=30,
        )

    def _send_sign_in(self, case: dict[str, Any]) -> requests.Response:
        tokens = self._flow_tokens()
        if "used_transaction" not in tokens:
            tokens["used_transaction"] = self._transaction()
            requests.post(
                self.url + "/oauth2/v1/authorize",
                data={
                    "transaction_id": tokens["used_transaction"],
                    "username": ALICE[0],
                    "password": ALICE[1],
                },
                allow_redirects=False,
                timeout=30,
            )
        valid = {"transaction_id": self._transaction, "username": ALICE[0], "password": ALICE[1]}
        return self._post_form(self.url + "/oauth2/v1/authorize", case, valid)

    def _transaction(self) -> str:
        params, _ = authorize_params()
        page = requests.get(
            self.url + "/oauth2/v1/authorize", params=params, allow_redirects=False, timeout=30
        )
        inputs = parse_page(page.text).forms[0]["inputs"]
        return next(i["value"] for i in inputs if i["name"] == "transaction_id")

    def _send_system_log(self, case: dict[str, Any]) -> requests.Response:
        headers = {}
        auth = case["authorization"]
        if auth is VALID:
            headers["Authorization"] = "SSWS " + self.api_token
        elif auth == Pick("bearer_token"):
            headers["Authorization"] = "Bearer " + self._flow_tokens()["access_token"]
        elif auth == Pick("ssws_wrong"):
            headers["Authorization"] = (
                "SSWS " + self.api_token[:-1] + ("A" if self.api_token[-1] != "A" else "B")
            )
        elif auth is not ABSENT:
            headers["Authorization"] = re.sub(r"[\r\n]", "", "SSWS " + auth).encode("utf-8").decode("latin-1")
        params = {
            k: v for k, v in case.items() if k != "authorization" and v is not ABSENT and v is not VALID
        }
        return requests.get(self.url + "/api/v1/logs", params=params, headers=headers, timeout=30)

    def _send_bearer(self, endpoint: str, case: dict[str, Any]) -> requests.Response:
        tokens = self._flow_tokens()
        headers = {}
        if case["authorization"] is not ABSENT:
            valid = tokens["access_token"] if endpoint == "api" else tokens["org_access_token"]
            token = self._value(case["authorization"], valid, "")
            scheme = "" if case["authorization"] == Pick("no_scheme") else "Bearer "
            # What a client library can put in a header: no CR/LF, no leading whitespace, bytes as latin-1.
            value = re.sub(r"[\r\n]", "", scheme + token).lstrip()
            headers["Authorization"] = value.encode("utf-8").decode("latin-1")
        if endpoint == "userinfo":
            return requests.request(
                case["_method"], self.url + "/oauth2/v1/userinfo", headers=headers, timeout=30
            )
        method, route = case["_route"].split()
        body = case["_body"]
        if method == "POST":
            headers["Content-Type"] = "application/json"
            data = b'{"title": "fuzzed"}' if body is VALID else body
            return requests.post(self.url + "/todo-api" + route, data=data, headers=headers, timeout=30)
        return requests.get(self.url + "/todo-api" + route, headers=headers, timeout=30)

    # --- the oracle -------------------------------------------------------------------------------

    def check(self, endpoint: str, case: dict[str, Any]) -> Outcome:
        """Send the case and assert the oracle; count the outcome by endpoint, status and error."""
        self.sent = {}
        if endpoint == "raw_http":
            raw = raw_request(case)
            outcome = judge_raw_http(case, raw, send_raw(self.url, raw))
            self.counts[(endpoint, outcome.status, outcome.error or "-")] += 1
            return outcome
        answer = self.send(endpoint, case)
        outcome = judge(endpoint, case, answer, self.sent, self.url)
        self.counts[(endpoint, outcome.status, outcome.error or "-")] += 1
        return outcome


_PKCE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
#: Parameters whose VALID value is a fixed string: any pick that sends the same string is valid too.
FIXED = {
    "grant_type",
    "requested_token_type",
    "subject_token_type",
    "client_assertion_type",
    "audience",
    "redirect_uri",
    "response_type",
    "code_challenge_method",
    "username",
    "password",
    "_server",
}
#: Which choices make a case valid beyond "the VALID pick" (the sandbox's documented rules).
RULES: dict[tuple[str, str], Any] = {
    ("token_exchange", "scope"): lambda v: (
        isinstance(v, str) and set(v.split()) <= {"todo.read", "todo.write"} and bool(v.split())
    ),
    ("authorize", "scope"): lambda v: (
        isinstance(v, str) and "openid" in v.split() and set(v.split()) <= {"openid", "profile", "email"}
    ),
    ("authorize", "client_id"): lambda v: v in (AGENT, "0oaOtherWebApp000001"),
    ("authorize", "state"): lambda v: isinstance(v, str) and 0 < len(v) <= 2048,
    ("authorize", "nonce"): lambda v: v is ABSENT or (isinstance(v, str) and len(v) <= 2048),
    ("authorize", "code_challenge"): lambda v: isinstance(v, str) and bool(_PKCE.fullmatch(v)),
}


def all_valid(
    endpoint: str, case: dict[str, Any], sent: dict[str, Any], valid_values: dict[str, Any]
) -> bool:
    """True when every choice of the case makes a valid request (unknown `x_` parameters do not count)."""
    if endpoint == "api":
        return case["authorization"] is VALID and (
            case["_body"] is VALID or not case["_route"].startswith("POST")
        )
    for name, pick in case.items():
        if name in ("_extra", "_route", "_method"):
            continue
        rule = RULES.get((endpoint, name))
        value = sent.get(name, pick)
        if rule is not None:
            ok = rule(value)
        elif name in FIXED and pick is not ABSENT:
            ok = value == valid_values.get(name, object())
        else:
            ok = pick is VALID
        if not ok:
            return False
    return True


def valid_values(endpoint: str, org: str) -> dict[str, Any]:
    """The fixed VALID strings of an endpoint's parameters."""
    return {
        "grant_type": {"token_exchange": TOKEN_EXCHANGE, "authorization_code": "authorization_code"}.get(
            endpoint, JWT_BEARER
        ),
        "requested_token_type": ID_JAG_TYPE,
        "subject_token_type": ID_TOKEN_TYPE,
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "audience": org + "/oauth2/default",
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "code_challenge_method": "S256",
        "username": ALICE[0],
        "password": ALICE[1],
        "_server": "default",
    }


def judge(
    endpoint: str, case: dict[str, Any], answer: requests.Response, sent: dict[str, Any], org: str
) -> Outcome:
    """Assert the oracle on one answer and return what it was."""
    status = answer.status_code
    assert status < 500, f"{endpoint} {case!r}: HTTP {status} {answer.text[:300]}"
    content_type = answer.headers.get("Content-Type", "")
    error = None
    if endpoint == "system_log":
        return judge_system_log(case, answer)
    if status >= 400 and answer.request.method != "HEAD":
        if content_type.startswith("text/html"):
            assert endpoint in ("authorize", "sign_in", "raw") and "/oauth2/v1/authorize" in answer.url, (
                answer.url
            )
        else:
            assert content_type.startswith("application/json"), (
                endpoint,
                case,
                content_type,
                answer.text[:200],
            )
            body = answer.json()
            assert set(body) == {"error", "error_description"}, (endpoint, case, body)
            assert isinstance(body["error"], str) and isinstance(body["error_description"], str)
            error = body["error"]
    location = answer.headers.get("Location", "")
    if status in (301, 302, 303, 307, 308):
        # RFC 6749 §4.1.2.1: only ever to the registered redirect URI.
        assert location.startswith(REDIRECT_URI + "?"), (endpoint, case, location)
        query = parse_qs(urlsplit(location).query)
        error = query.get("error", [None])[0]
    if endpoint == "raw":
        return Outcome(status, error, status < 300)
    if endpoint in ("token_exchange", "authorization_code", "jwt_bearer"):
        success = status == 200
        if success:
            assert "access_token" in answer.json()
        else:
            assert "access_token" not in answer.text
    elif endpoint == "authorize":
        success = status == 200
    elif endpoint == "sign_in":
        success = status == 302 and "code=" in location and "error=" not in location
    else:
        success = status < 300
    valid = all_valid(endpoint, case, sent, valid_values(endpoint, org))
    assert success == valid, (
        f"{endpoint}: success={success} for a case that is {'' if valid else 'not '}valid: {case!r}: "
        f"HTTP {status} {answer.text[:300]}"
    )
    return Outcome(status, error, success)


def judge_system_log(case: dict[str, Any], answer: requests.Response) -> Outcome:
    """The System Log answers in Okta's management API shape; events only with the right SSWS token."""
    status = answer.status_code
    assert status < 500, f"system_log {case!r}: HTTP {status} {answer.text[:300]}"
    body = answer.json()
    if status == 200:
        assert case["authorization"] is VALID, f"events given without the API token: {case!r}"
        assert isinstance(body, list)
        return Outcome(status, None, True)
    if set(body) == {"error", "error_description"}:
        # Refused by the HTTP layer before the app (sandbox.serving: an unparsable header), OAuth-shaped.
        assert status == 400 and body["error"] == "invalid_request", body
        return Outcome(status, body["error"], False)
    assert {"errorCode", "errorSummary"} <= set(body), body
    if case["authorization"] is not VALID:
        assert (status, body["errorCode"]) == (401, "E0000011"), (case, body)
    else:
        assert status == 400 and body["errorCode"] in ("E0000001", "E0000031"), (case, body)
    return Outcome(status, body["errorCode"], False)


__all__ = ["AGENT", "ENDPOINTS", "STRATEGIES", "VALID", "Fuzzer", "Outcome", "judge"]
