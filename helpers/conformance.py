"""Step 8 (notebook 08): a conformance battery for resource authorization servers that accept ID-JAGs.

Point it at any token endpoint whose server trusts the sandbox as its identity provider (the
learner's server of notebook 08, the sandbox's own custom server, a server you run elsewhere on
loopback) and it sends ID-JAGs that must be refused and ID-JAGs that must be accepted, then says, row
by row, what was sent, what came back, what was expected, the rule and its source, pass or fail.

- draft-ietf-oauth-identity-assertion-authz-grant-04 ("ID-JAG -04"): §3.1 (claims, `typ`), §4.4.1
  (the resource authorization server's processing), §4.4.3 (no refresh token), §7.2 (metadata),
  §9.4 (no issuer allow-list in metadata)
- RFC 7523 §3 and RFC 7521 §5.2 (checks of a JWT authorization grant), RFC 8725 §3.1 and §3.11
  (algorithm allow-list, explicit typing), RFC 6749 §3.3 and §5.2 (scope, error responses),
  RFC 8414 §3.3 (metadata `issuer`)
- Okta "Validate ID-JAG tokens on resource authorization servers" and "xaa-resource-metadata"
  (developer.okta.com/docs/guides/xaa-validate-id-jag); Okta's error catalog (`id_jag_*` codes)
- MCP Enterprise-Managed Authorization (modelcontextprotocol/ext-auth) §7.2.1 (scopes are an
  intersection), §7.4.2 (jti replay detection REQUIRED for the assertion's lifetime)

Each row has a level, so a server is judged fairly: MUST (a MUST of the draft or an RFC), SHOULD,
Okta (what Okta's own resource servers do, beyond the draft: e.g. the 5-minute lifetime) and EMA
(stricter MCP rules: e.g. single use, where ID-JAG -04 §4.4.3 lets a client re-submit an ID-JAG).
Refusals are checked by status and `error`; the exact `error_description` of Okta's catalog only
when the target says it is Okta-shaped (`okta_shaped=True`), and only on rows with an Okta code.

ID-JAGs that only the IdP can sign (a valid signature over wrong claims) come from the sandbox's
minting endpoint (`POST {org}/api/v1/sandbox/id-jags`, SSWS API token; sandbox only, nothing like it
exists at Okta). Tokens signed with a foreign key, `alg: none`, and HS256 keyed with the IdP's public
key are made here. The battery authenticates to the target as its client would: private_key_jwt
with the agent's key (a fresh assertion per request, `aud` = the target's token URL), or a secret.

    python -m helpers.conformance --org http://127.0.0.1:8400 --issuer http://127.0.0.1:9000 \\
        --client-id wlpSandboxAgent00001 --private-key .keys/agent.pem --scope notes.read \\
        --ungranted-scope notes.admin

exits 0 when every row passes, 1 when one fails (see `--help`).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk as jose_jwk
from jose import jwt as jose_jwt

from .constants import (
    CLIENT_ASSERTION_TYPE_JWT_BEARER,
    GRANT_JWT_BEARER,
    GRANT_PROFILE_ID_JAG,
    ID_JAG_JWT_TYP,
)
from .core.client_assertion import ClientAssertionSigner
from .core.discovery import metadata_url
from .core.formatting import html_table, text_table
from .core.jwts import decode_unverified, pick_key
from .core.transport import KitHTTP

# --- levels and Okta's descriptions -------------------------------------------------------------------

MUST = "MUST"
SHOULD = "SHOULD"
OKTA = "Okta"
EMA = "EMA"
LEVELS = (MUST, SHOULD, OKTA, EMA)

#: The RAS-side entries of Okta's OAuth error catalog (release 2026.08.1): code -> (status, error,
#: error_description). Required word for word only of a target that says it is Okta-shaped.
OKTA_ERRORS: dict[str, tuple[int, str, str]] = {
    "jwt_bearer_grant_invalid_audience": (
        400,
        "invalid_grant",
        "The audience of the JWT Bearer Grant must match the the issuer of the authorization server.",
    ),
    "id_jag_client_mismatch": (
        400,
        "invalid_grant",
        "The 'client_id' in the JWT Bearer Grant must match the 'client_id' used to authenticate the client.",
    ),
    "id_jag_untrusted_issuer": (
        400,
        "invalid_grant",
        "The issuer of the id-jag is not a trusted authorization server.",
    ),
    "id_jag_expired": (400, "invalid_grant", "The id-jag is expired."),
    "id_jag_issued_in_future": (400, "invalid_grant", "The id-jag is issued in the future."),
    "id_jag_lifetime_too_long": (
        400,
        "invalid_grant",
        "The lifetime of the id-jag must not exceed 5 minutes.",
    ),
    "id_jag_invalid_signature": (400, "invalid_grant", "The signature of the id-jag is invalid."),
    "id_jag_replayed": (400, "invalid_grant", "The id-jag was already used."),
    "id_jag_invalid_subject": (400, "invalid_grant", "The 'sub' claim in the id-jag is invalid."),
    "id_jag_lacking_scopes": (400, "invalid_grant", "The id-jag must include at least one scope."),
    "id_jag_scopes_in_request": (
        400,
        "invalid_request",
        "The id-jag request must not include a 'scope' parameter.",
    ),
    "no_scope_allowed": (
        400,
        "access_denied",
        "Policy evaluation succeeded, but all the requested scopes were rejected.",
    ),
}


class ConformanceError(RuntimeError):
    """The battery cannot run: the IdP's minting endpoint or the target's metadata is unusable."""


# --- who talks to whom ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientAuth:
    """How a client authenticates at the target's token endpoint: private_key_jwt or a secret."""

    client_id: str
    method: str = "private_key_jwt"
    signer: ClientAssertionSigner | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.method == "private_key_jwt" and self.signer is None:
            raise ValueError("private_key_jwt needs a signer (the client's key)")
        if self.method in ("client_secret_basic", "client_secret_post") and not self.secret:
            raise ValueError(f"{self.method} needs a secret")
        if self.method not in ("private_key_jwt", "client_secret_basic", "client_secret_post"):
            raise ValueError(
                f'method is "{self.method}", expected private_key_jwt, client_secret_basic or '
                "client_secret_post"
            )

    def apply(self, token_endpoint: str, form: dict[str, str], headers: dict[str, str]) -> None:
        """Add this client's credentials to a request (a fresh assertion each time, RFC 7523 §2.2)."""
        if self.method == "private_key_jwt":
            assert self.signer is not None
            # The assertion names `client_id` as iss and sub, signed with the signer's key.
            claims = self.signer.claims_for(token_endpoint)
            claims["iss"] = claims["sub"] = self.client_id
            form["client_id"] = self.client_id
            form["client_assertion_type"] = CLIENT_ASSERTION_TYPE_JWT_BEARER
            form["client_assertion"] = self.signer.sign(claims)
        elif self.method == "client_secret_post":
            form["client_id"] = self.client_id
            form["client_secret"] = str(self.secret)
        else:
            # RFC 6749 §2.3.1: form-urlencoded id and secret, then Basic.
            from urllib.parse import quote

            pair = f"{quote(self.client_id, safe='')}:{quote(str(self.secret), safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")

    def claiming(self, client_id: str) -> ClientAuth:
        """The same credentials presented under another client id (an impostor)."""
        return ClientAuth(client_id, self.method, self.signer, self.secret)


@dataclass(frozen=True)
class Target:
    """The resource authorization server under test, and its clients as the IdP knows them."""

    issuer: str
    client: ClientAuth
    granted_scope: str
    ungranted_scope: str
    token_endpoint: str | None = None
    other_client: ClientAuth | None = None
    okta_shaped: bool = False
    name: str = ""


@dataclass(frozen=True)
class IdP:
    """The sandbox as identity provider: its issuer, and the API token of its minting endpoint."""

    issuer: str
    api_token: str = field(repr=False)


# --- results -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """What a row expects: acceptance, or a refusal with a status, `error` code(s) and Okta's code."""

    accept: bool
    status: int = 400
    errors: tuple[str, ...] = ("invalid_grant",)
    okta_code: str | None = None

    def text(self, okta_shaped: bool) -> str:
        if self.accept:
            return "200, an access token"
        text = f"{self.status} {' or '.join(self.errors)}"
        if okta_shaped and self.okta_code:
            text += f' "{OKTA_ERRORS[self.okta_code][2]}"'
        return text


def refused(
    okta_code: str | None = None, *, status: int = 400, errors: tuple[str, ...] = ("invalid_grant",)
) -> Expect:
    """A refusal: by default 400 `invalid_grant` (RFC 7521 §5.2 / ID-JAG -04 §4.4.1)."""
    return Expect(False, status, errors, okta_code)


ACCEPTED = Expect(True)


@dataclass
class Row:
    """One row of the report: the rule, what was sent and received, expected, level, source, result."""

    id: str
    rule: str
    sent: str
    expected: str
    received: str
    level: str
    source: str
    passed: bool
    skipped: bool = False

    @property
    def result(self) -> str:
        return "skip" if self.skipped else ("pass" if self.passed else "FAIL")


@dataclass
class Report:
    """Every row, a summary line by level, and the exit status of the command line."""

    target: str
    rows: list[Row] = field(default_factory=list)

    @property
    def counted(self) -> list[Row]:
        return [r for r in self.rows if not r.skipped]

    @property
    def failed(self) -> list[Row]:
        """The rows that failed, in order."""
        return [r for r in self.counted if not r.passed]

    @property
    def ok(self) -> bool:
        """True when every row that ran passed."""
        return bool(self.counted) and not self.failed

    def failed_ids(self) -> list[str]:
        """The ids of the failed rows."""
        return [r.id for r in self.failed]

    def __getitem__(self, row_id: str) -> Row:
        for row in self.rows:
            if row.id == row_id:
                return row
        raise KeyError(row_id)

    def by_level(self, level: str) -> tuple[int, int]:
        """(passed, run) among the rows of one level."""
        rows = [r for r in self.counted if r.level == level]
        return sum(r.passed for r in rows), len(rows)

    def summary(self) -> str:
        """One line: verdict, counts, per level (MUST / SHOULD / Okta / EMA), skipped rows."""
        counted = self.counted
        passed = sum(r.passed for r in counted)
        levels = []
        for level in LEVELS:
            good, run = self.by_level(level)
            if run:
                levels.append(f"{level} {good}/{run}")
        verdict = "PASS" if self.ok else "FAIL"
        refusals = sum(1 for r in counted if r.id.startswith("refuse."))
        accepts = sum(1 for r in counted if r.id.startswith("accept."))
        text = (
            f"{verdict} {self.target}: {passed} of {len(counted)} rows passed ({', '.join(levels)}; "
            f"{refusals} must be refused, {accepts} must be accepted)"
        )
        skipped = [r.id for r in self.rows if r.skipped]
        if skipped:
            text += f"; skipped: {', '.join(skipped)}"
        if self.failed:
            text += f"; failed: {', '.join(self.failed_ids())}"
        return text

    def exit_code(self, levels: tuple[str, ...] = LEVELS) -> int:
        """0 when every row of these levels passed, 1 otherwise."""
        return 0 if all(r.passed for r in self.counted if r.level in levels) and self.counted else 1

    def _cells(self) -> list[list[str]]:
        return [[r.result, r.rule, r.sent, r.expected, r.received, r.level, r.source] for r in self.rows]

    HEADERS = ["Result", "Rule", "Sent", "Expected", "Received", "Level", "Source"]

    def __str__(self) -> str:
        return self.summary() + "\n" + text_table(self.HEADERS, self._cells())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        marks = {"pass": "✓ pass", "FAIL": "✗ FAIL", "skip": "– skip"}
        cells = self._cells()
        for row in cells:
            row[0] = marks[row[0]]
        return f"<p><b>{escape(self.summary())}</b></p>" + html_table(
            self.HEADERS, cells, code_columns=(3, 4)
        )


# --- the battery -------------------------------------------------------------------------------------


@dataclass
class Answer:
    """What the target answered: status, JSON body (or None) and a short text of the body."""

    status: int
    body: dict[str, Any] | None
    text: str

    @property
    def error(self) -> str | None:
        return str(self.body.get("error")) if isinstance(self.body, dict) and "error" in self.body else None

    def short(self) -> str:
        """`400 invalid_grant "…"`, or `200 access token, scope "…"`."""
        if self.status == 200 and isinstance(self.body, dict) and "access_token" in self.body:
            scope = self.body.get("scope")
            return "200, an access token" + (f', scope "{scope}"' if scope is not None else ", no scope")
        if self.error is not None:
            description = self.body.get("error_description") if isinstance(self.body, dict) else None
            return f"{self.status} {self.error}" + (f' "{description}"' if description else "")
        return f"{self.status} {self.text[:80]}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


class Battery:
    """Runs the rows against one target; tokens minted by the IdP, credentials of the target's clients."""

    def __init__(self, idp: IdP, target: Target, *, http: requests.Session | None = None) -> None:
        self.idp = idp
        self.target = target
        self.http = http if http is not None else KitHTTP(phase="conformance")
        self._idp_jwks: dict[str, Any] | None = None
        self._foreign: rsa.RSAPrivateKey | None = None
        self.accepted: Answer | None = None
        self.metadata: dict[str, Any] | None = None
        self.metadata_error: str | None = None

    # --- the IdP's side ----------------------------------------------------------------------------

    def mint(
        self,
        *,
        claims: dict[str, Any] | None = None,
        header: dict[str, Any] | None = None,
        scope: str | None = None,
    ) -> str:
        """An ID-JAG for the target's client, signed by the IdP; `claims`/`header` override (None removes)."""
        body = {
            "audience": self.target.issuer,
            "client_id": self.target.client.client_id,
            "scope": self.target.granted_scope if scope is None else scope,
            "claims": claims or {},
            "header": header or {},
        }
        url = self.idp.issuer + "/api/v1/sandbox/id-jags"
        response = self.http.post(url, json=body, headers={"Authorization": f"SSWS {self.idp.api_token}"})
        if response.status_code != 200:
            raise ConformanceError(
                f"the IdP's minting endpoint {url} answered {response.status_code}: {response.text[:200]} "
                "(it exists in the sandbox only; pass its API token: python -m sandbox token)"
            )
        return str(response.json()["token"])

    def idp_jwks(self) -> dict[str, Any]:
        """The IdP's keys, through its discovery document and `jwks_uri` (as the target finds them)."""
        if self._idp_jwks is None:
            discovery = self.http.get(self.idp.issuer + "/.well-known/openid-configuration").json()
            self._idp_jwks = self.http.get(discovery["jwks_uri"]).json()
        return self._idp_jwks

    def idp_kid(self) -> str:
        """The `kid` of the key the IdP signs with (read from a minted token)."""
        return str(decode_unverified(self.mint())[0]["kid"])

    def valid_claims(self) -> dict[str, Any]:
        """The claims of a fresh, valid ID-JAG (for tokens signed here)."""
        return decode_unverified(self.mint())[1]

    def foreign_key(self) -> rsa.RSAPrivateKey:
        if self._foreign is None:
            self._foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self._foreign

    def sign_foreign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        """Sign with a key the IdP never published (RS256), `kid` its thumbprint unless given."""
        from .core.keys import agent_key_from_private

        key = agent_key_from_private(self.foreign_key())
        pem = self.foreign_key().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        headers = {"kid": kid or key.kid, "typ": ID_JAG_JWT_TYP}
        return jose_jwt.encode(
            claims, jose_jwk.construct(pem.decode(), "RS256"), algorithm="RS256", headers=headers
        )

    def unsigned(self, claims: dict[str, Any]) -> str:
        """`alg: none` with an empty signature (RFC 7519 §6: an unsecured JWT)."""
        header = {"alg": "none", "typ": ID_JAG_JWT_TYP, "kid": self.idp_kid()}
        return f"{_segment(header)}.{_segment(claims)}."

    def hs256_with_public_key(self, claims: dict[str, Any]) -> str:
        """HS256 whose HMAC key is the IdP's public key in PEM (the algorithm-confusion attack)."""
        kid = self.idp_kid()
        public = jose_jwk.construct(pick_key(self.idp_jwks(), kid), "RS256").public_key()
        pem = public.to_pem()
        header = {"alg": "HS256", "typ": ID_JAG_JWT_TYP, "kid": kid}
        signing_input = f"{_segment(header)}.{_segment(claims)}"
        mac = hmac.new(pem, signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(mac)}"

    def tampered(self) -> str:
        """A valid ID-JAG whose claims were edited (scope widened), the signature left as it was."""
        head, _, signature = self.mint().split(".")
        claims = self.valid_claims()
        claims["scope"] = f"{self.target.granted_scope} {self.target.ungranted_scope}"
        return f"{head}.{_segment(claims)}.{signature}"

    # --- the target's side ---------------------------------------------------------------------------

    @property
    def token_endpoint(self) -> str:
        if self.target.token_endpoint:
            return self.target.token_endpoint
        metadata = self.read_metadata()
        if metadata is None or not isinstance(metadata.get("token_endpoint"), str):
            raise ConformanceError(
                f"no token_endpoint: the metadata of {self.target.issuer} could not be read "
                f"({self.metadata_error}); pass the token endpoint"
            )
        return metadata["token_endpoint"]

    def read_metadata(self) -> dict[str, Any] | None:
        """The target's RFC 8414 metadata (the well-known segment inserted after the host), or None."""
        if self.metadata is None and self.metadata_error is None:
            url = metadata_url(self.target.issuer, form="rfc8414")
            try:
                response = self.http.get(url, headers={"Accept": "application/json"})
                data = response.json() if response.status_code == 200 else None
            except (requests.RequestException, ValueError) as exc:
                data, self.metadata_error = None, f"{url}: {exc}"
            if isinstance(data, dict):
                self.metadata = data
            elif self.metadata_error is None:
                self.metadata_error = f"{url} answered {response.status_code}, not a JSON object"
        return self.metadata

    def send(
        self,
        assertion: str,
        *,
        client: ClientAuth | None = None,
        extra: dict[str, str] | None = None,
    ) -> Answer:
        """POST the JWT bearer grant with `assertion`, authenticated as `client` (default: the target's)."""
        form = {"grant_type": GRANT_JWT_BEARER, "assertion": assertion, **(extra or {})}
        headers = {"Accept": "application/json"}
        (client or self.target.client).apply(self.token_endpoint, form, headers)
        response = self.http.post(self.token_endpoint, data=form, headers=headers, allow_redirects=False)
        try:
            body = response.json()
        except ValueError:
            body = None
        return Answer(response.status_code, body if isinstance(body, dict) else None, response.text)

    # --- running -------------------------------------------------------------------------------------

    def run(self, rules: list[Rule] | None = None) -> Report:
        """Run every rule (default: RULES) and return the report."""
        report = Report(self.target.name or self.target.issuer)
        for rule in rules if rules is not None else RULES:
            report.rows.append(rule.evaluate(self))
        return report


@dataclass(frozen=True)
class Rule:
    """One row: what it sends (`send`), what it expects, its level and source.

    `send(battery)` returns the answer to judge, or a string when the row cannot run (skipped). A row
    of kind "metadata" judges the target's metadata instead: `check(metadata)` -> (received, passed).
    """

    id: str
    rule: str
    sent: str
    level: str
    source: str
    expect: Expect = field(default_factory=lambda: refused())
    send: Callable[[Battery], Answer | str] | None = None
    check: Callable[[Battery, Answer], tuple[str, bool]] | None = None
    #: What the row expects, in words, when `check` judges it (default: from `expect`).
    expected: str | None = None

    def evaluate(self, battery: Battery) -> Row:
        okta_shaped = battery.target.okta_shaped
        expected = self.expected or self.expect.text(okta_shaped)
        try:
            if self.send is None:
                raise ConformanceError(f"rule {self.id} has nothing to send")
            answer = self.send(battery)
        except (requests.RequestException, ConformanceError) as exc:
            return Row(
                self.id, self.rule, self.sent, expected, f"error: {exc}", self.level, self.source, False
            )
        if isinstance(answer, str):
            return Row(self.id, self.rule, self.sent, expected, answer, self.level, self.source, False, True)
        if self.check is not None:
            received, passed = self.check(battery, answer)
            return Row(self.id, self.rule, self.sent, expected, received, self.level, self.source, passed)
        return Row(
            self.id,
            self.rule,
            self.sent,
            expected,
            answer.short(),
            self.level,
            self.source,
            judge(self.expect, answer, okta_shaped),
        )


def judge(expect: Expect, answer: Answer, okta_shaped: bool) -> bool:
    """Whether an answer meets what a row expects."""
    body = answer.body or {}
    if expect.accept:
        token_type = body.get("token_type")
        return (
            answer.status == 200
            and isinstance(body.get("access_token"), str)
            and bool(body["access_token"])
            and isinstance(token_type, str)
            and token_type.lower() == "bearer"
        )
    if answer.status != expect.status or answer.error not in expect.errors:
        return False
    if okta_shaped and expect.okta_code:
        status, error, description = OKTA_ERRORS[expect.okta_code]
        return (answer.status, answer.error, body.get("error_description")) == (status, error, description)
    return True


# --- the rows ---------------------------------------------------------------------------------------

DRAFT = "ID-JAG -04"
NOW = time.time


def _now() -> int:
    return int(NOW())


def _minted(
    claims: dict[str, Any] | None = None, header: dict[str, Any] | None = None, scope: str | None = None
):
    """A row that sends one minted ID-JAG with these overrides."""

    def send(b: Battery) -> Answer:
        return b.send(b.mint(claims=claims, header=header, scope=scope))

    return send


def _dynamic(make: Callable[[Battery], str], **send_kwargs: Any):
    def send(b: Battery) -> Answer:
        return b.send(make(b), **send_kwargs)

    return send


def _accept_first(b: Battery) -> Answer:
    answer = b.send(b.mint())
    b.accepted = answer
    return answer


def _replay(b: Battery) -> Answer | str:
    id_jag = b.mint()
    first = b.send(id_jag)
    if first.status != 200:
        return f"the first redemption was refused ({first.short()}), so the replay could not be judged"
    return b.send(id_jag)


def _other_client(b: Battery) -> Answer | str:
    if b.target.other_client is None:
        return "no second client of the target was given (other_client)"
    return b.send(b.mint(), client=b.target.other_client)


def _impostor(b: Battery) -> Answer:
    other = b.target.other_client.client_id if b.target.other_client else "unregistered-client-0001"
    return b.send(b.mint(), client=b.target.client.claiming(other))


def _aud_variant(issuer: str) -> str:
    return issuer[:-1] if issuer.endswith("/") else issuer + "/"


def _narrowed_check(b: Battery, answer: Answer) -> tuple[str, bool]:
    body = answer.body or {}
    granted = body.get("scope")
    ok = (
        judge(ACCEPTED, answer, False)
        and isinstance(granted, str)
        and set(granted.split()) == {b.target.granted_scope}
    )
    return answer.short(), ok


def _no_refresh(b: Battery) -> Answer | str:
    if b.accepted is None or b.accepted.status != 200:
        return "the well-formed ID-JAG was not accepted, so there is no token response to look at"
    return b.accepted


def _no_refresh_check(b: Battery, answer: Answer) -> tuple[str, bool]:
    present = "refresh_token" in (answer.body or {})
    return ("a refresh_token" if present else "no refresh_token"), not present


def _metadata(b: Battery) -> Answer | str:
    metadata = b.read_metadata()
    if metadata is None:
        return Answer(0, None, b.metadata_error or "no metadata")
    return Answer(200, metadata, json.dumps(metadata)[:200])


def _meta_issuer(b: Battery, answer: Answer) -> tuple[str, bool]:
    issuer = (answer.body or {}).get("issuer")
    return (f'"{issuer}"' if answer.body else answer.text), issuer == b.target.issuer


def _meta_profile(b: Battery, answer: Answer) -> tuple[str, bool]:
    profiles = (answer.body or {}).get("authorization_grant_profiles_supported")
    return (json.dumps(profiles) if answer.body else answer.text), isinstance(profiles, list) and (
        GRANT_PROFILE_ID_JAG in profiles
    )


def _meta_grant(b: Battery, answer: Answer) -> tuple[str, bool]:
    grants = (answer.body or {}).get("grant_types_supported")
    return (json.dumps(grants) if answer.body else answer.text), isinstance(
        grants, list
    ) and GRANT_JWT_BEARER in grants


def _values(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [v for item in value.values() for v in _values(item)]
    if isinstance(value, list):
        return [v for item in value for v in _values(item)]
    return [value]


def _meta_no_allow_list(b: Battery, answer: Answer) -> tuple[str, bool]:
    if not answer.body:
        return answer.text, False
    issuers = {b.idp.issuer, b.idp.issuer + "/"}
    found = [v for v in _values(answer.body) if v in issuers]
    return ("the IdP's issuer is listed" if found else "no IdP issuer listed"), not found


def _id_token_claims(b: Battery) -> dict[str, Any]:
    """The claims of an ID token the IdP issued to the agent (OIDC Core §2), no ID-JAG claims."""
    now = _now()
    return {
        "sub": b.valid_claims()["sub"],
        "aud": b.target.client.client_id,
        "azp": b.target.client.client_id,
        "iat": now,
        "exp": now + 300,
        "auth_time": now - 5,
        "amr": ["pwd"],
        "nonce": uuid.uuid4().hex,
        "client_id": None,
        "scope": None,
    }


def _access_token_claims(b: Battery) -> dict[str, Any]:
    """An RFC 9068 access token's claims, aimed at the target: only `typ` says it is not an ID-JAG."""
    return {"scope": b.target.granted_scope}


def _later(seconds: int, key: str) -> Callable[[Battery], Answer]:
    def send(b: Battery) -> Answer:
        now = _now()
        claims = (
            {"iat": now + seconds, "exp": now + seconds + 300} if key == "iat" else {"nbf": now + seconds}
        )
        return b.send(b.mint(claims=claims))

    return send


RULES: list[Rule] = [
    # --- what the server publishes ---
    Rule(
        "metadata.issuer",
        "metadata issuer is the issuer, exactly",
        "GET the RFC 8414 metadata",
        MUST,
        "RFC 8414 §3.3",
        ACCEPTED,
        _metadata,
        _meta_issuer,
        expected="the issuer, identical",
    ),
    Rule(
        "metadata.profile",
        "authorization_grant_profiles_supported lists the id-jag profile",
        "GET the RFC 8414 metadata",
        SHOULD,
        f"{DRAFT} §7.2; Okta xaa-resource-metadata (required of external servers)",
        ACCEPTED,
        _metadata,
        _meta_profile,
        expected="the id-jag grant profile listed",
    ),
    Rule(
        "metadata.grant",
        "grant_types_supported includes jwt-bearer",
        "GET the RFC 8414 metadata",
        MUST,
        f"{DRAFT} §7.2",
        ACCEPTED,
        _metadata,
        _meta_grant,
        expected="jwt-bearer listed",
    ),
    Rule(
        "metadata.no_allow_list",
        "metadata does not disclose the trusted issuers",
        "GET the RFC 8414 metadata",
        MUST,
        f"{DRAFT} §9.4",
        ACCEPTED,
        _metadata,
        _meta_no_allow_list,
        expected="no IdP issuer listed",
    ),
    # --- must be accepted ---
    Rule(
        "accept.valid",
        "a well-formed ID-JAG is redeemed",
        'valid ID-JAG, aud "<issuer>", the granted scope',
        MUST,
        f"{DRAFT} §4.4; RFC 7523 §2.1",
        ACCEPTED,
        _accept_first,
    ),
    Rule(
        "accept.aud_array",
        "aud as an array of exactly one element is accepted",
        'aud ["<issuer>"]',
        MUST,
        f"{DRAFT} §3.1, §4.4.1",
        ACCEPTED,
        lambda b: b.send(b.mint(claims={"aud": [b.target.issuer]})),
    ),
    Rule(
        "accept.scope_narrowed",
        "scope is narrowed to what the server grants, and the response says so",
        "scope: one granted + one not granted",
        MUST,
        f"{DRAFT} §4.4.1; RFC 6749 §3.3; EMA §7.2.1",
        ACCEPTED,
        lambda b: b.send(b.mint(scope=f"{b.target.granted_scope} {b.target.ungranted_scope}")),
        _narrowed_check,
        expected="200, an access token, scope = the granted scope only",
    ),
    Rule(
        "accept.no_refresh_token",
        "no refresh token is issued",
        "(the response to the well-formed ID-JAG)",
        SHOULD,
        f"{DRAFT} §4.4.3",
        ACCEPTED,
        _no_refresh,
        _no_refresh_check,
        expected="no refresh_token",
    ),
    # --- the header: type and signature ---
    Rule(
        "refuse.typ_jwt",
        "typ must be oauth-id-jag+jwt",
        'header typ "JWT"',
        MUST,
        f"{DRAFT} §4.4.1; RFC 8725 §3.11",
        refused(),
        _minted(header={"typ": "JWT"}),
    ),
    Rule(
        "refuse.typ_missing",
        "typ must be present",
        "no typ header",
        MUST,
        f"{DRAFT} §3.1, §4.4.1",
        refused(),
        _minted(header={"typ": None}),
    ),
    Rule(
        "refuse.access_token",
        "an access token is not an ID-JAG",
        'IdP-signed RFC 9068 access token (typ "at+jwt") for this server',
        MUST,
        f"{DRAFT} §4.4.1; RFC 8725 §3.11",
        refused(),
        lambda b: b.send(b.mint(header={"typ": "at+jwt"}, claims=_access_token_claims(b))),
    ),
    Rule(
        "refuse.id_token",
        "an ID token is not an ID-JAG",
        "the agent's ID token (typ JWT, aud the agent)",
        MUST,
        f"{DRAFT} §4.4.1; RFC 7523 §3",
        refused(),
        lambda b: b.send(b.mint(header={"typ": "JWT"}, claims=_id_token_claims(b))),
    ),
    Rule(
        "refuse.kid_unknown",
        "the key is picked by kid among the IdP's keys",
        'IdP-signed, header kid "not-a-key-of-the-idp"',
        MUST,
        "RFC 7523 §3 (signature); RFC 7515 §4.1.4",
        refused("id_jag_invalid_signature"),
        _minted(header={"kid": "not-a-key-of-the-idp"}),
    ),
    Rule(
        "refuse.foreign_key",
        "a key the IdP never published",
        "signed by a stranger's RSA key, its own kid",
        MUST,
        "RFC 7523 §3 (signature)",
        refused("id_jag_invalid_signature"),
        _dynamic(lambda b: b.sign_foreign(b.valid_claims())),
    ),
    Rule(
        "refuse.foreign_key_idp_kid",
        "the signature must verify, whatever kid says",
        "signed by a stranger's key, kid of the IdP's key",
        MUST,
        "RFC 7523 §3 (signature); RFC 7515 §5.2",
        refused("id_jag_invalid_signature"),
        _dynamic(lambda b: b.sign_foreign(b.valid_claims(), kid=b.idp_kid())),
    ),
    Rule(
        "refuse.alg_none",
        "alg none is never accepted",
        'header alg "none", no signature',
        MUST,
        "RFC 8725 §3.1; RFC 7523 §3",
        refused(),
        _dynamic(lambda b: b.unsigned(b.valid_claims())),
    ),
    Rule(
        "refuse.hs256_public_key",
        "an explicit list of asymmetric algorithms",
        "HS256, HMAC keyed with the IdP's public key",
        MUST,
        "RFC 8725 §3.1, §2.1",
        refused(),
        _dynamic(lambda b: b.hs256_with_public_key(b.valid_claims())),
    ),
    Rule(
        "refuse.tampered",
        "claims edited after signing",
        "valid ID-JAG, scope widened, signature kept",
        MUST,
        "RFC 7523 §3 (signature)",
        refused("id_jag_invalid_signature"),
        _dynamic(lambda b: b.tampered()),
    ),
    # --- issuer and audience ---
    Rule(
        "refuse.iss_untrusted",
        "iss must be a trusted IdP",
        'iss "https://idp.attacker.example"',
        MUST,
        "RFC 7523 §3 ¶1; RFC 7521 §5.2",
        refused("id_jag_untrusted_issuer"),
        _minted(claims={"iss": "https://idp.attacker.example"}),
    ),
    Rule(
        "refuse.aud_other",
        "aud must be this server's issuer",
        'aud "https://other-ras.example"',
        MUST,
        f"{DRAFT} §4.4.1; RFC 7523 §3 ¶3",
        refused("jwt_bearer_grant_invalid_audience"),
        _minted(claims={"aud": "https://other-ras.example"}),
    ),
    Rule(
        "refuse.aud_array_two",
        "aud array must hold exactly one element",
        'aud ["<issuer>", "https://other-ras.example"]',
        MUST,
        f"{DRAFT} §3.1, §4.4.1",
        refused("jwt_bearer_grant_invalid_audience"),
        lambda b: b.send(b.mint(claims={"aud": [b.target.issuer, "https://other-ras.example"]})),
    ),
    Rule(
        "refuse.aud_trailing_slash",
        "aud compares as an exact string",
        "aud = the issuer with its trailing slash added or removed",
        MUST,
        f"{DRAFT} §4.4.1; RFC 8414 §2 (issuer identifier)",
        refused("jwt_bearer_grant_invalid_audience"),
        lambda b: b.send(b.mint(claims={"aud": _aud_variant(b.target.issuer)})),
    ),
    Rule(
        "refuse.aud_missing",
        "aud is required",
        "no aud",
        MUST,
        "RFC 7523 §3 ¶3",
        refused("jwt_bearer_grant_invalid_audience"),
        _minted(claims={"aud": None}),
    ),
    # --- time ---
    Rule(
        "refuse.expired",
        "exp must be in the future",
        "exp 10 min ago (iat 15 min ago)",
        MUST,
        "RFC 7523 §3 ¶4",
        refused("id_jag_expired"),
        lambda b: b.send(b.mint(claims={"iat": _now() - 900, "exp": _now() - 600})),
    ),
    Rule(
        "refuse.exp_missing",
        "exp is required",
        "no exp",
        MUST,
        "RFC 7523 §3 ¶4",
        refused(),
        _minted(claims={"exp": None}),
    ),
    Rule(
        "refuse.lifetime_too_long",
        "an ID-JAG lives at most 5 minutes",
        "exp - iat = 3600 s",
        OKTA,
        "Okta xaa-validate-id-jag; id_jag_lifetime_too_long",
        refused("id_jag_lifetime_too_long"),
        lambda b: b.send(b.mint(claims={"iat": _now(), "exp": _now() + 3600})),
    ),
    Rule(
        "refuse.iat_future",
        "iat must not be in the future",
        "iat 10 min ahead",
        OKTA,
        "Okta id_jag_issued_in_future",
        refused("id_jag_issued_in_future"),
        _later(600, "iat"),
    ),
    Rule(
        "refuse.nbf_future",
        "not before nbf",
        "nbf 10 min ahead",
        MUST,
        "RFC 7523 §3 ¶5",
        refused(),
        _later(600, "nbf"),
    ),
    Rule(
        "refuse.iat_missing",
        "iat is required",
        "no iat",
        MUST,
        f"{DRAFT} §3.1",
        refused(),
        _minted(claims={"iat": None}),
    ),
    # --- identity of the grant ---
    Rule(
        "refuse.jti_missing",
        "jti is required",
        "no jti",
        MUST,
        f"{DRAFT} §3.1",
        refused(),
        _minted(claims={"jti": None}),
    ),
    Rule(
        "refuse.jti_replayed",
        "an ID-JAG is redeemed once (jti remembered for its lifetime)",
        "the same ID-JAG twice (first accepted)",
        EMA,
        "EMA §7.4.2; Okta id_jag_replayed (ID-JAG -04 §4.4.3 allows re-submission)",
        refused("id_jag_replayed"),
        _replay,
    ),
    Rule(
        "refuse.sub_missing",
        "sub is required",
        "no sub",
        MUST,
        "RFC 7523 §3 ¶2",
        refused(),
        _minted(claims={"sub": None}),
    ),
    # --- the client ---
    Rule(
        "refuse.client_id_other",
        "client_id must be the authenticated client",
        'client_id "0oaSomeOtherClient01"',
        MUST,
        f"{DRAFT} §4.4.1",
        refused("id_jag_client_mismatch"),
        _minted(claims={"client_id": "0oaSomeOtherClient01"}),
    ),
    Rule(
        "refuse.client_id_missing",
        "client_id is required",
        "no client_id",
        MUST,
        f"{DRAFT} §3.1, §4.4.1",
        refused("id_jag_client_mismatch"),
        _minted(claims={"client_id": None}),
    ),
    Rule(
        "refuse.other_client_authenticated",
        "another client cannot redeem the agent's ID-JAG",
        "valid ID-JAG, sent by another registered client with its own credentials",
        MUST,
        f"{DRAFT} §4.4.1",
        refused("id_jag_client_mismatch"),
        _other_client,
    ),
    Rule(
        "refuse.impostor_credentials",
        "client authentication must succeed",
        "another client's id with the agent's credentials",
        MUST,
        "RFC 6749 §2.3, §5.2; RFC 7523 §3",
        refused(status=401, errors=("invalid_client",)),
        _impostor,
    ),
    # --- scope ---
    Rule(
        "refuse.scope_not_granted",
        "no scope the server's policy does not grant",
        "scope: only a scope this client is not granted",
        MUST,
        f"{DRAFT} §4.4.1; RFC 6749 §3.3, §5.2; EMA §7.2.1",
        refused("no_scope_allowed", errors=("invalid_scope", "access_denied")),
        lambda b: b.send(b.mint(scope=b.target.ungranted_scope)),
    ),
    Rule(
        "refuse.scope_missing",
        "an ID-JAG carries at least one scope",
        "no scope claim",
        OKTA,
        "Okta id_jag_lacking_scopes (ID-JAG -04 §3.1: scope OPTIONAL)",
        refused("id_jag_lacking_scopes"),
        _minted(claims={"scope": None}),
    ),
    Rule(
        "refuse.scope_parameter",
        "the scopes come from the ID-JAG, not the request",
        "valid ID-JAG and a scope parameter",
        OKTA,
        "Okta id_jag_scopes_in_request",
        refused("id_jag_scopes_in_request", errors=("invalid_request",)),
        lambda b: b.send(b.mint(), extra={"scope": b.target.granted_scope}),
    ),
]


def run_battery(idp: IdP, target: Target, *, http: requests.Session | None = None) -> Report:
    """Run every row against `target` with ID-JAGs from `idp`; return the report."""
    return Battery(idp, target, http=http).run()


def rules_table() -> str:
    """The rows as a Markdown table (for docs/resource-server.md): id, rule, sent, expected, level, source."""
    lines = ["| Row | Rule | Sent | Expected | Level | Source |", "| --- | --- | --- | --- | --- | --- |"]
    for r in RULES:
        expected = r.expect.text(False)
        if r.expect.okta_code:
            expected += f" (Okta: `{r.expect.okta_code}`)"
        lines.append(f"| `{r.id}` | {r.rule} | {r.sent} | {expected} | {r.level} | {r.source} |")
    return "\n".join(lines)


# --- the command line -------------------------------------------------------------------------------


def _client(args: argparse.Namespace, prefix: str) -> ClientAuth | None:
    client_id = getattr(args, f"{prefix}client_id")
    if not client_id:
        return None
    secret = getattr(args, f"{prefix}client_secret")
    key_file = getattr(args, f"{prefix}private_key")
    if secret:
        return ClientAuth(client_id, getattr(args, f"{prefix}secret_method"), secret=secret)
    if key_file:
        from .core.keys import load_agent_key

        return ClientAuth(client_id, signer=ClientAssertionSigner(client_id, load_agent_key(key_file)))
    raise SystemExit(
        f"conformance: --{prefix.replace('_', '-')}client-id needs --private-key or --client-secret"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.conformance", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--org", required=True, help="the sandbox's org URL (the IdP the target trusts)")
    parser.add_argument(
        "--api-token",
        default=None,
        help="the sandbox's API token (default: $OKTA_API_TOKEN, or --data-dir's)",
    )
    parser.add_argument(
        "--data-dir", default=".sandbox", help="the sandbox's data folder (its api-token file)"
    )
    parser.add_argument("--issuer", required=True, help="the target's issuer (the ID-JAG's aud), exactly")
    parser.add_argument("--token-endpoint", default=None, help="default: the target's RFC 8414 metadata")
    parser.add_argument("--scope", required=True, help="a scope the target grants the client")
    parser.add_argument("--ungranted-scope", required=True, help="a scope the target does not grant it")
    for prefix, who in (("", "the client (the agent)"), ("other_", "a second client of the target")):
        flag = prefix.replace("_", "-")
        parser.add_argument(f"--{flag}client-id", required=not prefix, help=f"{who}: its id")
        parser.add_argument(f"--{flag}private-key", default=None, help=f"{who}: PEM key for private_key_jwt")
        parser.add_argument(f"--{flag}client-secret", default=None, help=f"{who}: secret (instead of a key)")
        parser.add_argument(
            f"--{flag}secret-method",
            default="client_secret_basic",
            choices=("client_secret_basic", "client_secret_post"),
        )
    parser.add_argument("--okta-shaped", action="store_true", help="require Okta's exact error_description")
    parser.add_argument(
        "--levels",
        default=",".join(LEVELS),
        help=f"levels whose failures make the exit status 1 (default: {','.join(LEVELS)})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the battery from the command line: print the table and the summary; exit 1 on a failure."""
    import os
    from pathlib import Path

    args = _parser().parse_args(argv)
    token = args.api_token or os.environ.get("OKTA_API_TOKEN")
    if not token:
        try:
            token = (Path(args.data_dir) / "api-token").read_text(encoding="utf-8").strip()
        except OSError:
            print("conformance: no API token: pass --api-token or set OKTA_API_TOKEN", file=sys.stderr)
            return 2
    levels = tuple(level for level in LEVELS if level.lower() in args.levels.lower().split(","))
    client = _client(args, "")
    assert client is not None
    target = Target(
        issuer=args.issuer,
        client=client,
        granted_scope=args.scope,
        ungranted_scope=args.ungranted_scope,
        token_endpoint=args.token_endpoint,
        other_client=_client(args, "other_"),
        okta_shaped=args.okta_shaped,
    )
    try:
        report = run_battery(IdP(args.org.rstrip("/"), token), target)
    except ConformanceError as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return 2
    print(text_table(Report.HEADERS, report._cells()))  # noqa: SLF001
    print(report.summary())
    return report.exit_code(levels)


if __name__ == "__main__":
    raise SystemExit(main())
