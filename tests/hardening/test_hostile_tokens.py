"""Hostile tokens at every place the sandbox reads one: each row gets its exact refusal, never a token.

- RFC 8725 §2.1, §3.1 (alg "none", algorithm confusion: HS256 keyed with a public key), §3.10
  (`jku`, `x5u`, `jwk` headers: never fetched, never trusted; the key comes from the issuer or client)
- RFC 7519 §7.2 (a JWT's parts are base64url JSON objects), §4.1.3-4.1.6 (`aud` a string or array,
  `exp` and `iat` NumericDates), RFC 8259 §6 (NaN and Infinity are not JSON numbers)
- RFC 7523 §3 (client assertions), ID-JAG -04 §4.3 / §4.4 (subject tokens, ID-JAGs), RFC 6750 §3.1 (the API)

Every forged token that could pass a key check is signed with the real key of the party it
pretends to come from (read from the sandbox's data folder), so the row reaches the claim it tests.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from hardening_support import (
    AGENT,
    CLIENT_ASSERTION_TYPE,
    ID_JAG_TYPE,
    ID_TOKEN_TYPE,
    TOKEN_EXCHANGE,
    AgentKey,
    Signer,
    Trap,
    assert_refusal,
    assertion_claims,
    forge,
    full_flow,
    jwt_bearer,
    listening_trap,
    public_jwk,
    public_pem,
    sandbox_signing_key,
    token_exchange,
)
from sandbox_flows import Tokens, decode_unverified

from sandbox.testing import RunningSandbox


@dataclass
class Ctx:
    """Everything a row needs: both sandboxes, keys, real tokens of each, and the trap."""

    sb: RunningSandbox
    other: RunningSandbox
    signer: Signer
    agent: AgentKey
    second: AgentKey
    stranger: AgentKey
    trap: Trap
    tok: Tokens
    other_tok: Tokens

    def key(self, name: str = "org", *, other: bool = False) -> tuple[Any, str]:
        """A sandbox's signing key and kid ("org" or a custom server id)."""
        return sandbox_signing_key((self.other if other else self.sb).data_dir, name)

    @property
    def token_url(self) -> str:
        return self.sb.url + "/oauth2/v1/token"


@pytest.fixture(scope="module")
def ctx(hsb, other_sb, signer, agent_key, second_agent, stranger_key) -> Iterator[Ctx]:
    with listening_trap() as trap:
        yield Ctx(
            hsb,
            other_sb,
            signer,
            agent_key,
            second_agent,
            stranger_key,
            trap,
            full_flow(hsb.url, signer),
            full_flow(other_sb.url, signer),
        )
        assert trap.hits == [], f"a token's header made the sandbox call out: {trap.hits}"


def swap_part(token: str, index: int, value: str) -> str:
    parts = token.split(".")
    parts[index] = value
    return ".".join(parts)


def raw_claims(claims: dict[str, Any], **raw: str) -> bytes:
    """Claims JSON with members written verbatim (e.g. `exp=1e400`, a literal Python would not write)."""
    text = json.dumps({k: v for k, v in claims.items() if k not in raw})
    extra = "".join(f', "{name}": {literal}' for name, literal in raw.items())
    return (text[:-1] + extra + "}").encode()


HUGE = "x" * 20_000
FIVE_THOUSAND_DIGITS = "9" * 5000
NAN = float("nan")


# --- Client assertions (RFC 7523 §3) at the org token endpoint ---------------------------------------


def assertion(c: Ctx, *, header: dict | None = None, key: Any = None, **claims: Any) -> str:
    """A client assertion of the agent, header and claims changed, signed by `key` (default: the agent's)."""
    head = {"alg": "RS256", "kid": c.agent.kid, "typ": "JWT", **(header or {})}
    return forge(head, assertion_claims(c.token_url, **claims), key or c.agent.private_key)


def exchange_with_assertion(c: Ctx, client_assertion: str) -> requests.Response:
    """A token exchange that succeeds unless its client assertion is refused."""
    return requests.post(
        c.token_url,
        data={
            "grant_type": TOKEN_EXCHANGE,
            "requested_token_type": ID_JAG_TYPE,
            "audience": c.sb.url + "/oauth2/default",
            "scope": "todo.read",
            "subject_token": c.tok.id_token,
            "subject_token_type": ID_TOKEN_TYPE,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": client_assertion,
        },
        timeout=10,
    )


def ca_alg_none(c: Ctx, sig: str) -> str:
    return forge({"alg": "none", "kid": c.agent.kid}, assertion_claims(c.token_url), sig=sig)


def ca_hs256(c: Ctx, secret: bytes) -> str:
    return forge({"alg": "HS256", "kid": c.agent.kid}, assertion_claims(c.token_url), secret=secret)


ASSERTIONS: list[tuple[str, Callable[[Ctx], str], str]] = [
    ("alg none without a signature", lambda c: ca_alg_none(c, ""), "client_assertion_invalid_jwt"),
    (
        "alg none with a signature",
        lambda c: ca_alg_none(c, "c2ln"),
        "client_assertion_invalid_signature_algorithm",
    ),
    (
        "HS256 keyed with the agent's public key PEM",
        lambda c: ca_hs256(c, public_pem(c.agent.private_key)),
        "client_assertion_invalid_signature_algorithm",
    ),
    (
        "HS256 keyed with the agent's public JWK",
        lambda c: ca_hs256(c, json.dumps(public_jwk(c.agent)).encode()),
        "client_assertion_invalid_signature_algorithm",
    ),
    (
        "the kid of another client's key, signed by that key",
        lambda c: assertion(c, header={"kid": c.second.kid}, key=c.second.private_key),
        "client_assertion_invalid_kid",
    ),
    (
        "the agent's kid, signed by another client's key",
        lambda c: assertion(c, key=c.second.private_key),
        "client_assertion_invalid_signature",
    ),
    (
        "a jku header pointing at a listener, signed by an unregistered key",
        lambda c: assertion(
            c, header={"kid": c.stranger.kid, "jku": c.trap.url + "/jku"}, key=c.stranger.private_key
        ),
        "client_assertion_invalid_kid",
    ),
    (
        "an x5u header pointing at a listener, signed by an unregistered key",
        lambda c: assertion(
            c, header={"kid": c.stranger.kid, "x5u": c.trap.url + "/x5u"}, key=c.stranger.private_key
        ),
        "client_assertion_invalid_kid",
    ),
    (
        "a jwk header carrying the unregistered signing key",
        lambda c: assertion(
            c, header={"kid": c.stranger.kid, "jwk": public_jwk(c.stranger)}, key=c.stranger.private_key
        ),
        "client_assertion_invalid_kid",
    ),
    (
        "a jwk header carrying an unregistered key under the agent's kid",
        lambda c: assertion(
            c,
            header={"jwk": public_jwk(c.stranger), "jku": c.trap.url + "/jku"},
            key=c.stranger.private_key,
        ),
        "client_assertion_invalid_signature",
    ),
    (
        "a header that is not base64url",
        lambda c: swap_part(assertion(c), 0, "eyJ!!!"),
        "client_assertion_invalid_jwt",
    ),
    (
        "claims that are not base64url",
        lambda c: swap_part(assertion(c), 1, "e30*"),
        "client_assertion_invalid_jwt",
    ),
    (
        "a signature that is not base64url",
        lambda c: swap_part(assertion(c), 2, "+/="),
        "client_assertion_invalid_jwt",
    ),
    (
        "claims that are a JSON array",
        lambda c: forge({"alg": "RS256", "kid": c.agent.kid}, [AGENT], c.agent.private_key),
        "client_assertion_invalid_jwt",
    ),
    (
        "claims that are a JSON string",
        lambda c: forge({"alg": "RS256", "kid": c.agent.kid}, "claims", c.agent.private_key),
        "client_assertion_invalid_jwt",
    ),
    ("aud a number", lambda c: assertion(c, aud=42), "client_assertion_invalid_audience"),
    ("aud an object", lambda c: assertion(c, aud={"url": "x"}), "client_assertion_invalid_audience"),
    ("exp a string", lambda c: assertion(c, exp="tomorrow"), "client_assertion_expiration_required"),
    ("exp true", lambda c: assertion(c, exp=True), "client_assertion_expiration_required"),
    ("exp a list", lambda c: assertion(c, exp=[1]), "client_assertion_expiration_required"),
    (
        "exp NaN (never expires, never replays)",
        lambda c: assertion(c, exp=NAN),
        "client_assertion_invalid_jwt",
    ),
    ("exp Infinity", lambda c: assertion(c, exp=float("inf")), "client_assertion_invalid_jwt"),
    (
        "exp 1e400, a JSON number that overflows to infinity",
        lambda c: forge(
            {"alg": "RS256", "kid": c.agent.kid},
            raw_claims(assertion_claims(c.token_url), exp="1e400"),
            c.agent.private_key,
        ),
        "client_assertion_expiration_required",
    ),
    (
        "exp of 5000 digits (past Python's int parsing limit)",
        lambda c: forge(
            {"alg": "RS256", "kid": c.agent.kid},
            raw_claims(assertion_claims(c.token_url), exp=FIVE_THOUSAND_DIGITS),
            c.agent.private_key,
        ),
        "client_assertion_invalid_jwt",
    ),
    ("iat a string", lambda c: assertion(c, iat="now"), "client_assertion_invalid_jwt"),
    ("iat NaN", lambda c: assertion(c, iat=NAN), "client_assertion_invalid_jwt"),
    ("an assertion of 20,000 characters", lambda c: assertion(c, pad=HUGE), "client_assertion_invalid_jwt"),
]


@pytest.mark.parametrize(("make", "code"), [r[1:] for r in ASSERTIONS], ids=[r[0] for r in ASSERTIONS])
def test_hostile_client_assertion_is_refused_with_its_exact_error(ctx: Ctx, make, code) -> None:
    answer = exchange_with_assertion(ctx, make(ctx))
    assert_refusal(answer, 401, "invalid_client", code)
    assert ctx.trap.hits == []


def test_jku_and_x5u_headers_are_ignored_on_a_genuine_assertion(ctx: Ctx) -> None:
    header = {"jku": ctx.trap.url + "/jku", "x5u": ctx.trap.url + "/x5u"}
    answer = exchange_with_assertion(ctx, assertion(ctx, header=header))
    assert answer.status_code == 200, answer.text
    assert answer.json()["issued_token_type"] == ID_JAG_TYPE
    assert ctx.trap.hits == []


def test_a_genuine_assertion_carrying_a_jwk_header_is_refused_not_trusted(ctx: Ctx) -> None:
    # joserfc refuses a protected header over 512 bytes, and an embedded RSA JWK is longer: the
    # assertion is refused (signature not checked) rather than verified with a key it brought along.
    answer = exchange_with_assertion(ctx, assertion(ctx, header={"jwk": public_jwk(ctx.agent)}))
    assert_refusal(answer, 401, "invalid_client", "client_assertion_invalid_signature")


def test_an_assertion_with_nan_exp_cannot_be_replayed(ctx: Ctx) -> None:
    # Before the fix a NaN exp passed every comparison and its jti was "remembered" until NaN: forever
    # valid, and accepted again and again.
    token = assertion(ctx, exp=NAN, jti="the-same-jti")
    answers = [exchange_with_assertion(ctx, token).status_code for _ in range(2)]
    assert answers == [401, 401]


# --- Subject tokens (ID-JAG -04 §4.3) at the token exchange ----------------------------------------------


def id_token_claims(c: Ctx, **changes: Any) -> dict[str, Any]:
    claims = decode_unverified(c.tok.id_token)[1]
    claims.update(changes)
    return claims


def org_signed(c: Ctx, claims: Any, *, other: bool = False, kid: str | None = None, **header: Any) -> str:
    """Sign with a sandbox's org key (this one, or the other instance's), header kid = that key's."""
    key, key_kid = c.key("org", other=other)
    return forge({"alg": "RS256", "kid": kid or key_kid, **header}, claims, key)


def org_kid(c: Ctx) -> str:
    return c.key("org")[1]


SUBJECTS: list[tuple[str, Callable[[Ctx], str]]] = [
    ("alg none without a signature", lambda c: forge({"alg": "none"}, id_token_claims(c), sig="")),
    (
        "alg none with a signature",
        lambda c: forge({"alg": "none", "kid": org_kid(c)}, id_token_claims(c), sig="eA"),
    ),
    (
        "HS256 keyed with the org's public key PEM",
        lambda c: forge(
            {"alg": "HS256", "kid": org_kid(c)}, id_token_claims(c), secret=public_pem(c.key("org")[0])
        ),
    ),
    (
        "a jku header pointing at a listener, signed by an unregistered key",
        lambda c: forge(
            {"alg": "RS256", "kid": c.stranger.kid, "jku": c.trap.url + "/jku"},
            id_token_claims(c),
            c.stranger.private_key,
        ),
    ),
    (
        "a jwk header with an unregistered key under the org's kid",
        lambda c: forge(
            {"alg": "RS256", "kid": org_kid(c), "jwk": public_jwk(c.stranger), "x5u": c.trap.url + "/x5u"},
            id_token_claims(c),
            c.stranger.private_key,
        ),
    ),
    ("an ID token of another sandbox instance", lambda c: c.other_tok.id_token),
    (
        "an ID token signed by another sandbox's key under this org's kid and issuer",
        lambda c: org_signed(c, id_token_claims(c), other=True, kid=org_kid(c)),
    ),
    ("a header that is not base64url", lambda c: swap_part(c.tok.id_token, 0, "eyJ@")),
    ("claims that are a JSON array", lambda c: org_signed(c, ["sub"])),
    ("aud a number", lambda c: org_signed(c, id_token_claims(c, aud=7))),
    ("exp a string", lambda c: org_signed(c, id_token_claims(c, exp="soon"))),
    ("iat a string", lambda c: org_signed(c, id_token_claims(c, iat="now"))),
    ("exp NaN", lambda c: org_signed(c, id_token_claims(c, exp=NAN))),
    ("an ID-JAG", lambda c: c.tok.id_jag),
    ("the org access token", lambda c: c.tok.org_access_token),
    ("a client assertion", lambda c: c.signer.assertion(c.token_url)),
    ("a token of 20,000 characters", lambda c: org_signed(c, id_token_claims(c, pad=HUGE))),
]


@pytest.mark.parametrize("make", [r[1] for r in SUBJECTS], ids=[r[0] for r in SUBJECTS])
def test_hostile_subject_token_is_refused_as_invalid_subject_token(ctx: Ctx, make) -> None:
    answer = token_exchange(ctx.sb.url, ctx.signer, make(ctx))
    assert_refusal(answer, 400, "invalid_request", "invalid_subject_token")
    assert ctx.trap.hits == []


# --- ID-JAGs (ID-JAG -04 §4.4) at the custom server's JWT bearer grant ------------------------------------


def id_jag_claims(c: Ctx, **changes: Any) -> dict[str, Any]:
    claims = decode_unverified(c.tok.id_jag)[1]
    claims.update(jti=str(uuid.uuid4()), **changes)  # never "replayed": each row reaches its own check
    return claims


JAG = {"typ": "oauth-id-jag+jwt"}
NOT_A_JWT = "text:The 'assertion' is not a signed JWT."
NOT_NUMERIC = "text:The id-jag must contain numeric 'exp' and 'iat' claims."
NOT_JAG_TYP = "text:The assertion's 'typ' header must be 'oauth-id-jag+jwt'."

ID_JAGS: list[tuple[str, Callable[[Ctx], str], str]] = [
    (
        "alg none without a signature",
        lambda c: forge({"alg": "none", **JAG}, id_jag_claims(c), sig=""),
        NOT_A_JWT,
    ),
    (
        "alg none with a signature",
        lambda c: forge({"alg": "none", "kid": org_kid(c), **JAG}, id_jag_claims(c), sig="eA"),
        "id_jag_invalid_signature",
    ),
    (
        "HS256 keyed with the org's public key PEM",
        lambda c: forge(
            {"alg": "HS256", "kid": org_kid(c), **JAG}, id_jag_claims(c), secret=public_pem(c.key("org")[0])
        ),
        "id_jag_invalid_signature",
    ),
    (
        "a jku header pointing at a listener, signed by an unregistered key",
        lambda c: forge(
            {"alg": "RS256", "kid": c.stranger.kid, "jku": c.trap.url + "/jku", **JAG},
            id_jag_claims(c),
            c.stranger.private_key,
        ),
        "id_jag_invalid_signature",
    ),
    (
        "a jwk header with an unregistered key under the org's kid",
        lambda c: forge(
            {"alg": "RS256", "kid": org_kid(c), "jwk": public_jwk(c.stranger), **JAG},
            id_jag_claims(c),
            c.stranger.private_key,
        ),
        "id_jag_invalid_signature",
    ),
    ("an ID-JAG of another sandbox instance", lambda c: c.other_tok.id_jag, "id_jag_untrusted_issuer"),
    (
        "an ID-JAG signed by another sandbox's key naming this org as issuer",
        lambda c: org_signed(c, id_jag_claims(c), other=True, **JAG),
        "id_jag_invalid_signature",
    ),
    ("a header that is not base64url", lambda c: swap_part(c.tok.id_jag, 0, "eyJ@"), NOT_A_JWT),
    ("claims that are a JSON array", lambda c: org_signed(c, [1], **JAG), NOT_A_JWT),
    (
        "aud a number",
        lambda c: org_signed(c, id_jag_claims(c, aud=3), **JAG),
        "jwt_bearer_grant_invalid_audience",
    ),
    ("exp a string", lambda c: org_signed(c, id_jag_claims(c, exp="later"), **JAG), NOT_NUMERIC),
    ("iat a string", lambda c: org_signed(c, id_jag_claims(c, iat="now"), **JAG), NOT_NUMERIC),
    ("exp NaN", lambda c: org_signed(c, id_jag_claims(c, exp=NAN), **JAG), NOT_A_JWT),
    ("an ID token", lambda c: c.tok.id_token, NOT_JAG_TYP),
    ("an access token", lambda c: c.tok.access_token, NOT_JAG_TYP),
    ("a token of 20,000 characters", lambda c: org_signed(c, id_jag_claims(c, pad=HUGE), **JAG), NOT_A_JWT),
]


@pytest.mark.parametrize(("make", "expected"), [r[1:] for r in ID_JAGS], ids=[r[0] for r in ID_JAGS])
def test_hostile_id_jag_is_refused_with_its_exact_error(ctx: Ctx, make, expected: str) -> None:
    answer = jwt_bearer(ctx.sb.url, ctx.signer, make(ctx))
    if expected.startswith("text:"):
        assert_refusal(answer, 400, "invalid_grant")
        assert answer.json()["error_description"] == expected[5:]
    else:
        assert_refusal(answer, 400, "invalid_grant", expected)
    assert ctx.trap.hits == []


# --- Access tokens (RFC 6750, RFC 9068 §4) at the API and at userinfo --------------------------------


def at_claims(c: Ctx, **changes: Any) -> dict[str, Any]:
    claims = decode_unverified(c.tok.access_token)[1]
    claims.update(changes)
    return claims


def default_signed(c: Ctx, claims: Any, **header: Any) -> str:
    key, kid = c.key("default")
    return forge({"alg": "RS256", "kid": kid, **header}, claims, key)


def default_kid(c: Ctx) -> str:
    return c.key("default")[1]


API_TOKENS: list[tuple[str, Callable[[Ctx], str], str]] = [
    (
        "alg none without a signature",
        lambda c: forge({"alg": "none"}, at_claims(c), sig=""),
        "access_token_invalid",
    ),
    (
        "alg none with a signature",
        lambda c: forge({"alg": "none", "kid": default_kid(c)}, at_claims(c), sig="eA"),
        "access_token_invalid",
    ),
    (
        "HS256 keyed with the custom server's public key PEM",
        lambda c: forge(
            {"alg": "HS256", "kid": default_kid(c)}, at_claims(c), secret=public_pem(c.key("default")[0])
        ),
        "access_token_invalid",
    ),
    (
        "a jku header pointing at a listener, signed by an unregistered key",
        lambda c: forge(
            {"alg": "RS256", "kid": c.stranger.kid, "jku": c.trap.url + "/jku"},
            at_claims(c),
            c.stranger.private_key,
        ),
        "access_token_invalid",
    ),
    (
        "a jwk header with an unregistered key under the server's kid",
        lambda c: forge(
            {
                "alg": "RS256",
                "kid": default_kid(c),
                "jwk": public_jwk(c.stranger),
                "x5u": c.trap.url + "/x5u",
            },
            at_claims(c),
            c.stranger.private_key,
        ),
        "access_token_invalid",
    ),
    ("an ID token", lambda c: c.tok.id_token, "access_token_invalid"),
    ("an ID-JAG", lambda c: c.tok.id_jag, "access_token_invalid"),
    ("the org access token", lambda c: c.tok.org_access_token, "access_token_invalid"),
    (
        "an access token of another sandbox instance",
        lambda c: c.other_tok.access_token,
        "access_token_invalid",
    ),
    (
        "a header that is not base64url",
        lambda c: swap_part(c.tok.access_token, 0, "eyJ@"),
        "access_token_invalid",
    ),
    ("claims that are a JSON array", lambda c: default_signed(c, [1]), "access_token_invalid"),
    ("aud a number", lambda c: default_signed(c, at_claims(c, aud=1)), "access_token_invalid_audience"),
    ("exp a string", lambda c: default_signed(c, at_claims(c, exp="later")), "access_token_invalid"),
    ("iat a string", lambda c: default_signed(c, at_claims(c, iat="now")), "access_token_invalid"),
    ("exp NaN", lambda c: default_signed(c, at_claims(c, exp=NAN)), "access_token_invalid"),
    (
        "a token of 20,000 characters",
        lambda c: default_signed(c, at_claims(c, pad=HUGE)),
        "access_token_invalid",
    ),
]


@pytest.mark.parametrize(("make", "code"), [r[1:] for r in API_TOKENS], ids=[r[0] for r in API_TOKENS])
def test_hostile_bearer_token_at_the_api_is_refused_with_its_exact_error(ctx: Ctx, make, code) -> None:
    answer = requests.get(
        ctx.sb.url + "/todo-api/me", headers={"Authorization": f"Bearer {make(ctx)}"}, timeout=10
    )
    assert_refusal(answer, 401, "invalid_token", code)
    assert answer.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert ctx.trap.hits == []


def test_the_genuine_access_token_passes_the_same_api_check(ctx: Ctx) -> None:
    answer = requests.get(
        ctx.sb.url + "/todo-api/me", headers={"Authorization": f"Bearer {ctx.tok.access_token}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["cid"] == AGENT


USERINFO_TOKENS: list[tuple[str, Callable[[Ctx], str], str]] = [
    ("an ID token", lambda c: c.tok.id_token, "access_token_invalid_audience"),
    ("an ID-JAG", lambda c: c.tok.id_jag, "access_token_invalid_audience"),
    ("a custom server's access token", lambda c: c.tok.access_token, "access_token_invalid"),
    (
        "the org access token of another sandbox instance",
        lambda c: c.other_tok.org_access_token,
        "access_token_invalid",
    ),
    (
        "HS256 keyed with the org's public key PEM",
        lambda c: forge(
            {"alg": "HS256", "kid": org_kid(c)},
            decode_unverified(c.tok.org_access_token)[1],
            secret=public_pem(c.key("org")[0]),
        ),
        "access_token_invalid",
    ),
]


@pytest.mark.parametrize(
    ("make", "code"), [r[1:] for r in USERINFO_TOKENS], ids=[r[0] for r in USERINFO_TOKENS]
)
def test_hostile_bearer_token_at_userinfo_is_refused_with_its_exact_error(ctx: Ctx, make, code) -> None:
    answer = requests.get(
        ctx.sb.url + "/oauth2/v1/userinfo", headers={"Authorization": f"Bearer {make(ctx)}"}, timeout=10
    )
    assert_refusal(answer, 401, "invalid_token", code)
