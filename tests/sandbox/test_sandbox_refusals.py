"""Refusals, one row per bad input: exact status, `error`, and Okta's `error_description`.

Each row names the Okta internal error code it expects; the expected description is read from the
copied catalog here (independently of the sandbox's code) unless the row spells it out (filled
placeholders, or our own text where the catalog has no entry). Rows of kind "page" are the
authorize endpoint's HTML error page (RFC 6749 §4.1.2.1: never redirect to an unchecked URI);
rows of kind "redirect" come back to the client's redirect URI with `state` echoed.
"""

from __future__ import annotations

import base64
import html
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc.jwk import OctKey, RSAKey
from sandbox_flows import (
    AGENT,
    ALICE_ID,
    CLIENT_ASSERTION_TYPE,
    ID_JAG_TYPE,
    JWT_BEARER,
    OTHER_APP,
    OTHER_APP_SECRET,
    SPA,
    TOKEN_EXCHANGE,
    Signer,
    authorize_params,
    code_for_tokens,
    jose_key,
    jwt_bearer,
    post,
    server_key,
    sign,
    sign_in,
    token_exchange,
)

from helpers.core.keys import AgentKey
from sandbox.testing import RunningSandbox

CATALOG_FILE = Path(__file__).resolve().parents[2] / "sandbox" / "data" / "okta-oauth2-errors.json"
CATALOG = {e["internalErrorCode"]: e for e in json.loads(CATALOG_FILE.read_text())["errors"]}


class Ctx:
    """What the rows need: the sandbox, signers, and fresh or cached tokens."""

    def __init__(self, sb: RunningSandbox, signer: Signer, stranger: AgentKey) -> None:
        self.sb = sb
        self.org = sb.url
        self.signer = signer
        self.stranger = stranger
        self.token_url = sb.url + "/oauth2/v1/token"

    def custom_token_url(self, server: str = "default") -> str:
        return f"{self.org}/oauth2/{server}/v1/token"

    def issuer(self, server: str = "default") -> str:
        return f"{self.org}/oauth2/{server}"

    @cached_property
    def tokens(self) -> dict[str, Any]:
        """Tokens from one sign-in of the agent (the ID token may be exchanged many times)."""
        answer = code_for_tokens(self.org, self.signer, sign_in(self.org))
        assert answer.status_code == 200, answer.text
        return answer.json()

    @property
    def id_token(self) -> str:
        return self.tokens["id_token"]

    def id_jag(self, server: str = "default", scope: str | None = None, **extra: Any) -> str:
        """A fresh ID-JAG for `server` (single use at the target)."""
        scopes = {"default": "todo.read", "reports": "reports.read", "inventory": "inventory.read"}
        answer = token_exchange(
            self.org, self.signer, self.id_token, server=server, scope=scope or scopes[server], **extra
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    @cached_property
    def access_token_read(self) -> str:
        """An access token of the default server with todo.read only."""
        answer = jwt_bearer(self.org, self.signer, self.id_jag())
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    @cached_property
    def org_key(self) -> RSAKey:
        return server_key(self.sb.data_dir, "org")

    def forge(self, key: RSAKey, claims: dict[str, Any], *, drop: tuple[str, ...] = (), **header: Any) -> str:
        body = {k: v for k, v in claims.items() if k not in drop}
        head = {"alg": "RS256", "kid": key.thumbprint(), **header}
        return sign(key, body, head)

    def forge_id_jag(
        self,
        *,
        drop: tuple[str, ...] = (),
        header: dict[str, Any] | None = None,
        key: Any = None,
        **claims: Any,
    ) -> str:
        """An ID-JAG signed with the org's own key (or `key`), valid unless `claims` say otherwise."""
        body = {
            "iss": self.org,
            "sub": ALICE_ID,
            "aud": self.issuer(),
            "client_id": AGENT,
            "jti": str(uuid.uuid4()),
            "iat": int(time.time()),
            "exp": int(time.time()) + 300,
            "scope": "todo.read",
        }
        body.update(claims)
        head = {"typ": "oauth-id-jag+jwt", **(header or {})}
        return self.forge(key or self.org_key, body, drop=drop, **head)

    def forge_access_token(self, **claims: Any) -> str:
        """An access token signed with the default server's own key, valid unless `claims` say otherwise."""
        now = int(time.time())
        body = {
            "ver": 1, "jti": "AT." + uuid.uuid4().hex, "iss": self.issuer(), "aud": "api://default",
            "iat": now, "exp": now + 600, "cid": AGENT, "uid": ALICE_ID, "scp": ["todo.read", "todo.write"],
            "sub": "alice@example.com",
        }  # fmt: skip
        body.update(claims)
        return self.forge(server_key(self.sb.data_dir, "default"), body)

    def exchange(self, subject_token: str | None = None, **extra: Any) -> requests.Response:
        return token_exchange(
            self.org, self.signer, subject_token if subject_token is not None else self.id_token, **extra
        )

    def redeem(self, assertion: str, server: str = "default", **extra: Any) -> requests.Response:
        return jwt_bearer(self.org, self.signer, assertion, server=server, **extra)

    def code_request(self, signer: Signer | None = None, **extra: Any) -> requests.Response:
        """A code redemption with a fresh sign-in (extra fields override the request)."""
        return code_for_tokens(self.org, signer or self.signer, sign_in(self.org), **extra)

    def token(self, data: dict[str, Any], url: str | None = None, **kw: Any) -> requests.Response:
        return post(url or self.token_url, data, **kw)

    def assertion_auth(self, url: str | None = None, **kw: Any) -> dict[str, str]:
        return self.signer.auth(url or self.token_url, **kw)

    def authorize(self, follow: bool = False, **overrides: Any) -> requests.Response:
        params, _ = authorize_params(**overrides)
        return requests.get(
            self.org + "/oauth2/v1/authorize", params=params, allow_redirects=False, timeout=5
        )


@dataclass(frozen=True)
class Case:
    id: str
    send: Callable[[Ctx], requests.Response]
    status: int
    error: str
    code: str
    description: str | None = None
    kind: str = "json"


def code_grant(ctx: Ctx, **auth: str) -> dict[str, str]:
    """A code-grant body that passes everything but client authentication."""
    return {
        "grant_type": "authorization_code",
        "code": "not-a-code",
        "redirect_uri": "http://127.0.0.1:8765/callback",
        **auth,
    }


HMAC_KEY = OctKey.import_key("a-shared-secret-of-32-characters!")


def assertion_claims(ctx: Ctx) -> dict[str, Any]:
    """Valid client assertion claims for the org token URL."""
    return {
        "iss": AGENT,
        "sub": AGENT,
        "aud": ctx.token_url,
        "exp": int(time.time()) + 60,
        "jti": str(uuid.uuid4()),
    }


def raw_assertion(token: str) -> dict[str, str]:
    return {"client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": token}


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    def part(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}.c2ln"


def replayed_assertion(ctx: Ctx) -> requests.Response:
    auth = ctx.assertion_auth()
    first = ctx.token(code_grant(ctx, **auth))
    assert first.json()["error"] == "invalid_grant"  # authenticated, then the code failed
    return ctx.token(code_grant(ctx, **auth))


def reused_code(ctx: Ctx) -> requests.Response:
    grant = sign_in(ctx.org)
    assert code_for_tokens(ctx.org, ctx.signer, grant).status_code == 200
    return code_for_tokens(ctx.org, ctx.signer, grant)


def code_redeemed_by_another_client(ctx: Ctx) -> requests.Response:
    grant = sign_in(ctx.org)
    data = {
        "grant_type": "authorization_code",
        "code": grant.code,
        "redirect_uri": grant.redirect_uri,
        "code_verifier": grant.verifier,
    }
    return ctx.token(data, auth=(OTHER_APP, OTHER_APP_SECRET))


def id_token_of_another_client(ctx: Ctx) -> requests.Response:
    grant = sign_in(ctx.org, client_id=OTHER_APP)
    data = {
        "grant_type": "authorization_code",
        "code": grant.code,
        "redirect_uri": grant.redirect_uri,
        "code_verifier": grant.verifier,
    }
    other = ctx.token(data, auth=(OTHER_APP, OTHER_APP_SECRET)).json()["id_token"]
    return ctx.exchange(other)


def replayed_id_jag(ctx: Ctx) -> requests.Response:
    id_jag = ctx.id_jag()
    assert ctx.redeem(id_jag).status_code == 200
    return ctx.redeem(id_jag)


def sign_in_post(ctx: Ctx, data: dict[str, str]) -> requests.Response:
    return requests.post(ctx.org + "/oauth2/v1/authorize", data=data, allow_redirects=False, timeout=5)


def forged_id_token(ctx: Ctx, typ: str | None = None, **claims: Any) -> str:
    """An ID token signed with the org key, valid for the agent unless `typ` or `claims` say otherwise."""
    now = int(time.time())
    body = {
        "iss": ctx.org,
        "aud": AGENT,
        "sub": ALICE_ID,
        "iat": now,
        "exp": now + 600,
        "auth_time": now,
        **claims,
    }
    return ctx.forge(ctx.org_key, body, **({"typ": typ} if typ else {}))


def expired_id_token(ctx: Ctx) -> str:
    now = int(time.time())
    claims = {
        "iss": ctx.org,
        "aud": AGENT,
        "sub": ALICE_ID,
        "iat": now - 7200,
        "exp": now - 3600,
        "auth_time": now - 7200,
    }
    return ctx.forge(ctx.org_key, claims)


def tampered(token: str) -> str:
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["sub"] = "00uSomeoneElse000001"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"


TE = {"grant_type": TOKEN_EXCHANGE}
UNAUTHORIZED_CODE_ONLY = (
    "The client is not authorized to use the provided grant type. "
    "Configured grant types: [authorization_code]."
)
CASES = [
    # --- authorize: errors shown on a page (client or redirect URI not trusted) -----------------
    Case(
        "authorize with an unknown client shows an error page",
        lambda c: c.authorize(client_id="0oaNoSuchClient00001"),
        400,
        "invalid_client",
        "invalid_client_id",
        kind="page",
    ),
    Case(
        "authorize with an unregistered redirect URI shows an error page",
        lambda c: c.authorize(redirect_uri="http://127.0.0.1:9999/evil"),
        400,
        "invalid_request",
        "illegal_redirect_uri",
        kind="page",
    ),
    Case(
        "authorize without a redirect URI shows an error page",
        lambda c: c.authorize(redirect_uri=None),
        400,
        "missing_redirect_uri",
        "missing_redirect_uri",
        kind="page",
    ),
    Case(
        "authorize with two client ids shows an error page",
        lambda c: requests.get(c.org + "/oauth2/v1/authorize?client_id=a&client_id=b", timeout=5),
        400,
        "invalid_request",
        "illegal_duplicated_parameters",
        "Duplicate parameter provided in request. Duplicated parameters: [client_id].",
        kind="page",
    ),
    Case(
        "sign-in post with an unknown transaction shows an error page",
        lambda c: sign_in_post(
            c, {"transaction_id": "forged", "username": "alice@example.com", "password": "x"}
        ),
        400,
        "login_required",
        "request_expired",
        kind="page",
    ),
    # --- authorize: errors sent back to the redirect URI -------------------------------------
    Case(
        "authorize without a code challenge is refused",
        lambda c: c.authorize(code_challenge=None, code_challenge_method=None),
        302,
        "invalid_request",
        "pkce_missing_challenge",
        kind="redirect",
    ),
    Case(
        "authorize with the plain PKCE method is refused",
        lambda c: c.authorize(code_challenge="a" * 43, code_challenge_method="plain"),
        302,
        "invalid_request",
        "pkce_unsupported_code_challenge_method",
        "PKCE code challenge method is not supported. Valid values: [S256]",
        kind="redirect",
    ),
    Case(
        "authorize with a challenge but no method is refused",
        lambda c: c.authorize(code_challenge_method=None),
        302,
        "invalid_request",
        "pkce_unsupported_code_challenge_method",
        "PKCE code challenge method is not supported. Valid values: [S256]",
        kind="redirect",
    ),
    Case(
        "authorize with illegal characters in the challenge is refused",
        lambda c: c.authorize(code_challenge="!" * 43),
        302,
        "invalid_request",
        "pkce_invalid_challenge",
        kind="redirect",
    ),
    Case(
        "authorize with response type token is refused",
        lambda c: c.authorize(response_type="token"),
        302,
        "unsupported_response_type",
        "unsupported_response_type",
        "The response type is not supported by the authorization server. Configured response types: [code].",
        kind="redirect",
    ),
    Case(
        "authorize without scope is refused",
        lambda c: c.authorize(scope=None),
        302,
        "invalid_scope",
        "no_default_scopes",
        kind="redirect",
    ),
    Case(
        "authorize without openid is refused",
        lambda c: c.authorize(scope="profile email"),
        302,
        "invalid_scope",
        "openid_scope_required",
        kind="redirect",
    ),
    Case(
        "authorize with a custom scope at the org server is refused",
        lambda c: c.authorize(scope="openid todo.read"),
        302,
        "invalid_scope",
        "invalid_scope",
        kind="redirect",
    ),
    Case(
        "authorize without state is refused",
        lambda c: c.authorize(state=None),
        302,
        "invalid_request",
        "invalid_state",
        kind="redirect",
    ),
    Case(
        "authorize with prompt none is refused for lack of a session",
        lambda c: c.authorize(prompt="none"),
        302,
        "login_required",
        "no_existing_session",
        kind="redirect",
    ),
    Case(
        "authorize with a repeated scope is refused",
        lambda c: requests.get(
            c.org + "/oauth2/v1/authorize",
            params=[*authorize_params()[0].items(), ("scope", "openid")],
            allow_redirects=False,
            timeout=5,
        ),
        302,
        "invalid_request",
        "illegal_duplicated_parameters",
        "Duplicate parameter provided in request. Duplicated parameters: [scope].",
        kind="redirect",
    ),
    # --- token endpoint: the request itself ----------------------------------------------------
    Case(
        "token endpoint refuses GET",
        lambda c: requests.get(c.token_url, timeout=5),
        405,
        "invalid_request",
        "http_method_not_allowed",
        "The method GET is not allowed here. Allowed: [POST].",
    ),
    Case(
        "token endpoint refuses a JSON body",
        lambda c: requests.post(c.token_url, json={"grant_type": "authorization_code"}, timeout=5),
        400,
        "invalid_request",
        "invalid_request",
        "The request body must be application/x-www-form-urlencoded (RFC 6749 §3.2), not 'application/json'.",
    ),
    Case(
        "token request without grant type is refused",
        lambda c: c.token(c.assertion_auth()),
        400,
        "invalid_request",
        "token_request_missing_grant_type",
        "The token request must specify a 'grant_type'. Valid values: "
        "[authorization_code, urn:ietf:params:oauth:grant-type:token-exchange]",
    ),
    Case(
        "client credentials grant is served by custom servers only, not the org server",
        lambda c: c.token({"grant_type": "client_credentials"}),
        400,
        "unsupported_grant_type",
        "unsupported_grant_type_client_creds_org_as",
        "'client_credentials' grant type can only be used with a custom authorization server.",
    ),
    Case(
        "jwt bearer grant is not served by the org server",
        lambda c: c.token({"grant_type": JWT_BEARER, "assertion": "x"}),
        400,
        "unsupported_grant_type",
        "unsupported_grant_type",
        "The authorization grant type is not supported by the authorization server. Configured grant types: "
        "[authorization_code, urn:ietf:params:oauth:grant-type:token-exchange].",
    ),
    Case(
        "token exchange is not served by a custom server",
        lambda c: c.token(TE, c.custom_token_url()),
        400,
        "unsupported_grant_type",
        "unsupported_grant_type",
        "The authorization grant type is not supported by the authorization server. "
        "Configured grant types: [authorization_code, client_credentials, "
        "urn:ietf:params:oauth:grant-type:jwt-bearer].",
    ),
    Case(
        "a repeated grant type is refused",
        lambda c: c.token([("grant_type", TOKEN_EXCHANGE), ("grant_type", TOKEN_EXCHANGE)]),
        400,
        "invalid_request",
        "illegal_duplicated_parameters",
        "Duplicate parameter provided in request. Duplicated parameters: [grant_type].",
    ),
    Case(
        "a client secret in the query string is refused",
        lambda c: requests.post(c.token_url + "?client_secret=x", data=TE, timeout=5),
        400,
        "invalid_request",
        "client_credentials_in_query",
    ),
    Case(
        "a body over 64 KiB is refused with 413",
        lambda c: c.token({"grant_type": TOKEN_EXCHANGE, "subject_token": "a" * 70000}),
        413,
        "invalid_request",
        "http_request_too_large",
        "The request body is larger than 65536 bytes.",
    ),
    Case(
        "an unknown authorization server id is refused",
        lambda c: c.token({"grant_type": JWT_BEARER}, c.custom_token_url("nope")),
        400,
        "invalid_request",
        "invalid_authorization_server",
    ),
    # --- client authentication -----------------------------------------------------------------
    Case(
        "a request with no client credentials is refused",
        lambda c: c.token(code_grant(c)),
        401,
        "invalid_client",
        "missing_client_credentials",
    ),
    Case(
        "a confidential client sending only its client id is refused",
        lambda c: c.token(code_grant(c, client_id=OTHER_APP)),
        401,
        "invalid_client",
        "invalid_token_endpoint_auth_method",
    ),
    Case(
        "a wrong client secret is refused",
        lambda c: c.token(code_grant(c), auth=(OTHER_APP, "wrong")),
        401,
        "invalid_client",
        "invalid_client_secret",
    ),
    Case(
        "basic credentials of an unknown client are refused",
        lambda c: c.token(code_grant(c), auth=("0oaNoSuchClient00001", "x")),
        401,
        "invalid_client",
        "invalid_client",
    ),
    Case(
        "a client_id parameter that differs from the assertion's issuer is refused",
        lambda c: c.token(code_grant(c, client_id=OTHER_APP, **c.assertion_auth())),
        401,
        "invalid_client",
        "invalid_client",
    ),
    Case(
        "a malformed basic authorization header is refused",
        lambda c: c.token(code_grant(c), headers={"Authorization": "Basic !!!"}),
        401,
        "invalid_client",
        "invalid_basic_auth_creds",
    ),
    Case(
        "a public client posting a secret is refused",
        lambda c: c.token(code_grant(c, client_id=SPA, client_secret="x")),
        401,
        "invalid_client",
        "invalid_token_endpoint_auth_method",
    ),
    Case(
        "basic credentials and a client assertion together are refused",
        lambda c: c.token(code_grant(c, **c.assertion_auth()), auth=(OTHER_APP, OTHER_APP_SECRET)),
        401,
        "invalid_request",
        "multiple_client_credentials",
    ),
    Case(
        "a wrong client assertion type is refused",
        lambda c: c.token(
            code_grant(c, **{**c.assertion_auth(), "client_assertion_type": "urn:example:jwt"})
        ),
        400,
        "invalid_request",
        "client_assertion_type_invalid",
    ),
    Case(
        "a client assertion that is not a JWT is refused",
        lambda c: c.token(code_grant(c, **raw_assertion("not-a-jwt"))),
        401,
        "invalid_client",
        "client_assertion_invalid_jwt",
    ),
    Case(
        "a client assertion with alg none is refused",
        lambda c: c.token(code_grant(c, **raw_assertion(unsigned({"alg": "none"}, assertion_claims(c))))),
        401,
        "invalid_client",
        "client_assertion_invalid_signature_algorithm",
    ),
    Case(
        "a client assertion signed with HS256 is refused",
        lambda c: c.token(
            code_grant(c, **raw_assertion(sign(HMAC_KEY, assertion_claims(c), {"alg": "HS256"})))
        ),
        401,
        "invalid_client",
        "client_assertion_invalid_signature_algorithm",
    ),
    Case(
        "a client assertion from an unknown client is refused",
        lambda c: c.token(code_grant(c, **c.assertion_auth(iss="0oaNoSuchClient00001"))),
        401,
        "invalid_client",
        "client_assertion_invalid_issuer",
    ),
    Case(
        "a client assertion whose sub differs from iss is refused",
        lambda c: c.token(code_grant(c, **c.assertion_auth(sub=OTHER_APP))),
        401,
        "invalid_client",
        "client_assertion_invalid_subject",
    ),
    Case(
        "a client assertion with an unknown kid is refused",
        lambda c: c.token(code_grant(c, **c.assertion_auth(header={"kid": "no-such-kid"}))),
        401,
        "invalid_client",
        "client_assertion_invalid_kid",
    ),
    Case(
        "a client assertion signed by another key under the agent's kid is refused",
        lambda c: c.token(
            code_grant(
                c,
                **raw_assertion(
                    sign(
                        jose_key(c.stranger), assertion_claims(c), {"alg": "RS256", "kid": c.signer.agent.kid}
                    )
                ),
            )
        ),
        401,
        "invalid_client",
        "client_assertion_invalid_signature",
    ),
    Case(
        "a client assertion naming its key by jku is not fetched and its kid is unknown",
        lambda c: c.token(
            code_grant(
                c,
                **raw_assertion(
                    sign(
                        jose_key(c.stranger),
                        assertion_claims(c),
                        {"alg": "RS256", "kid": c.stranger.kid, "jku": "http://127.0.0.1:9/jwks.json"},
                    )
                ),
            )
        ),
        401,
        "invalid_client",
        "client_assertion_invalid_kid",
    ),
    Case(
        "a client assertion from a client without keys is refused",
        lambda c: c.token(code_grant(c, **Signer(c.signer.agent, OTHER_APP).auth(c.token_url))),
        401,
        "invalid_client",
        "client_assertion_jwks_not_configured",
    ),
    Case(
        "a client assertion for the issuer URL instead of the token URL is refused",
        lambda c: c.token(code_grant(c, **c.assertion_auth(c.org))),
        401,
        "invalid_client",
        "client_assertion_invalid_audience",
    ),
    Case(
        "a client assertion for the org token URL fails at a custom token URL",
        lambda c: c.redeem("x", **{"client_assertion": c.signer.assertion(c.token_url)}),
        401,
        "invalid_client",
        "client_assertion_invalid_audience",
    ),
    Case(
        "a client assertion without exp is refused",
        lambda c: c.token(code_grant(c, **c.assertion_auth(drop=("exp",)))),
        401,
        "invalid_client",
        "client_assertion_expiration_required",
    ),
    Case(
        "an expired client assertion is refused",
        lambda c: c.token(
            code_grant(c, **c.assertion_auth(iat=int(time.time()) - 900, exp=int(time.time()) - 600))
        ),
        401,
        "invalid_client",
        "client_assertion_expired_token",
    ),
    Case(
        "a client assertion expiring in two hours is refused",
        lambda c: c.token(code_grant(c, **c.assertion_auth(exp=int(time.time()) + 7200))),
        401,
        "invalid_client",
        "client_assertion_expires_too_far_in_future",
    ),
    Case(
        "a client assertion issued in the future is refused",
        lambda c: c.token(code_grant(c, **c.assertion_auth(iat=int(time.time()) + 600))),
        401,
        "invalid_client",
        "client_assertion_issued_at_in_future",
    ),
    Case(
        "a replayed client assertion is refused",
        replayed_assertion,
        401,
        "invalid_client",
        "client_assertion_already_used",
    ),
    # --- authorization code grant ----------------------------------------------------------------
    Case(
        "a code request without a code is refused",
        lambda c: c.token({"grant_type": "authorization_code", **c.assertion_auth()}),
        400,
        "invalid_request",
        "missing_token_request_parameter",
        "The required parameter 'code' is missing.",
    ),
    Case(
        "an unknown code is refused",
        lambda c: c.token(code_grant(c, **c.assertion_auth())),
        400,
        "invalid_grant",
        "invalid_authorization_code",
    ),
    Case("a code used twice is refused", reused_code, 400, "invalid_grant", "invalid_authorization_code"),
    Case(
        "a code redeemed by another client is refused",
        code_redeemed_by_another_client,
        400,
        "invalid_grant",
        "mismatched_client",
    ),
    Case(
        "a code redeemed with another redirect URI is refused",
        lambda c: c.code_request(redirect_uri="http://localhost:8765/callback"),
        400,
        "invalid_grant",
        "mismatched_redirect_uri",
    ),
    Case(
        "a code redeemed without a verifier is refused",
        lambda c: c.code_request(code_verifier=None),
        400,
        "invalid_request",
        "pkce_missing_verifier",
    ),
    Case(
        "a code redeemed with the wrong verifier is refused",
        lambda c: c.code_request(code_verifier="w" * 43),
        400,
        "invalid_grant",
        "pkce_verification_failed",
    ),
    Case(
        "a code redeemed with a too short verifier is refused",
        lambda c: c.code_request(code_verifier="short"),
        400,
        "invalid_grant",
        "pkce_verification_failed_with_reason",
        "PKCE verification failed: the code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~].",
    ),
    # --- token exchange (step 2) ----------------------------------------------------------------
    Case(
        "a client without the token exchange grant is refused",
        lambda c: c.token({**TE, "requested_token_type": ID_JAG_TYPE}, auth=(OTHER_APP, OTHER_APP_SECRET)),
        400,
        "unauthorized_client",
        "unauthorized_client",
        UNAUTHORIZED_CODE_ONLY,
    ),
    Case(
        "token exchange without requested token type is refused",
        lambda c: c.exchange(requested_token_type=None),
        400,
        "invalid_request",
        "missing_token_request_parameter",
        "The required parameter 'requested_token_type' is missing.",
    ),
    Case(
        "token exchange asking for an access token is refused",
        lambda c: c.exchange(requested_token_type="urn:ietf:params:oauth:token-type:access_token"),
        400,
        "invalid_request",
        "invalid_requested_token_type",
    ),
    Case(
        "token exchange without subject token is refused",
        lambda c: c.exchange(""),
        400,
        "invalid_request",
        "missing_token_request_parameter",
        "The required parameter 'subject_token' is missing.",
    ),
    Case(
        "token exchange of a SAML assertion type is refused",
        lambda c: c.exchange(subject_token_type="urn:ietf:params:oauth:token-type:saml2"),
        400,
        "invalid_request",
        "invalid_subject_token_type",
    ),
    Case(
        "token exchange of an access token without a delegation link is refused",
        # The agent's own access token (aud api://default): no delegation link authorizes it (issue 8).
        lambda c: c.exchange(
            c.access_token_read, subject_token_type="urn:ietf:params:oauth:token-type:access_token"
        ),
        400,
        "invalid_request",
        "invalid_subject_token_no_delegation_link",
    ),
    Case(
        "token exchange with the custom token URL as audience is refused",
        lambda c: c.exchange(audience=c.custom_token_url()),
        400,
        "invalid_target",
        "token_exchange_invalid_audience",
    ),
    Case(
        "token exchange with a trailing slash on the audience is refused",
        lambda c: c.exchange(audience=c.issuer() + "/"),
        400,
        "invalid_target",
        "token_exchange_invalid_audience",
    ),
    Case(
        "token exchange with an unknown audience is refused",
        lambda c: c.exchange(audience=c.issuer("nope")),
        400,
        "invalid_target",
        "token_exchange_invalid_audience",
    ),
    Case(
        "token exchange with an unknown resource is refused",
        lambda c: c.exchange(resource="https://api.example.com/"),
        400,
        "invalid_target",
        "token_exchange_invalid_resource",
    ),
    Case(
        "token exchange with two resources is refused",
        lambda c: c.exchange(resource=[c.org + "/todo-api", c.org + "/other"]),
        400,
        "invalid_target",
        "too_many_resources",
        "Too many 'resource' parameters in the request; maximum allowed is 1.",
    ),
    Case(
        "token exchange asking for openid is refused",
        lambda c: c.exchange(scope="openid todo.read"),
        400,
        "invalid_scope",
        "openid_not_allowed_token_exchange",
    ),
    Case(
        "token exchange without scope is refused",
        lambda c: c.exchange(scope=None),
        400,
        "invalid_scope",
        "missing_scopes",
    ),
    Case(
        "token exchange asking for a scope the target does not have is refused",
        lambda c: c.exchange(scope="todo.read mail.send"),
        400,
        "invalid_scope",
        "no_matching_scope",
    ),
    Case(
        "token exchange asking only for scopes outside the resource connection is refused",
        lambda c: c.exchange(scope="todo.admin"),
        400,
        "invalid_scope",
        "illegal_scope",
        "The following scopes are not allowed for this request: [todo.admin].",
    ),
    Case(
        "token exchange for a server without a resource connection is refused",
        lambda c: c.exchange(audience=c.issuer("inventory"), scope="inventory.read"),
        400,
        "invalid_target",
        "invalid_target",
    ),
    Case(
        "token exchange of garbage is refused",
        lambda c: c.exchange("garbage"),
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Case(
        "token exchange of the org access token as an ID token is refused",
        lambda c: c.exchange(c.tokens["access_token"]),
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Case(
        "token exchange of an ID-JAG as an ID token is refused",
        lambda c: c.exchange(c.id_jag()),
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Case(
        "token exchange of a client assertion as an ID token is refused",
        lambda c: c.exchange(c.signer.assertion(c.token_url)),
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Case(
        "token exchange of a custom server access token as an ID token is refused",
        lambda c: c.exchange(c.access_token_read),
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Case(
        "token exchange of an org-signed token typed at+jwt is refused",
        lambda c: c.exchange(forged_id_token(c, typ="at+jwt")),
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Case(
        "token exchange of an org-signed token typed as an ID-JAG is refused",
        lambda c: c.exchange(forged_id_token(c, typ="oauth-id-jag+jwt")),
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Case(
        "token exchange of an org-signed token carrying access token claims is refused",
        lambda c: c.exchange(forged_id_token(c, scp=["openid"], cid=AGENT)),
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Case(
        "token exchange of an ID token issued to another client is refused",
        id_token_of_another_client,
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Case(
        "token exchange of a tampered ID token is refused",
        lambda c: c.exchange(tampered(c.id_token)),
        400,
        "invalid_request",
        "invalid_subject_token",
    ),
    Case(
        "token exchange of an expired ID token is refused",
        lambda c: c.exchange(expired_id_token(c)),
        400,
        "invalid_grant",
        "token_exchange_subject_token_expired",
    ),
    # --- JWT bearer grant (step 3) -----------------------------------------------------------------
    Case(
        "a client without the jwt bearer grant is refused",
        lambda c: c.token(
            {"grant_type": JWT_BEARER, "assertion": "x"},
            c.custom_token_url(),
            auth=(OTHER_APP, OTHER_APP_SECRET),
        ),
        400,
        "unauthorized_client",
        "unauthorized_client",
        UNAUTHORIZED_CODE_ONLY,
    ),
    Case(
        "a scope parameter at the jwt bearer grant is refused",
        lambda c: c.redeem(c.id_jag(), scope="todo.read"),
        400,
        "invalid_request",
        "id_jag_scopes_in_request",
    ),
    Case(
        "a jwt bearer request without assertion is refused",
        lambda c: c.redeem(""),
        400,
        "invalid_request",
        "missing_token_request_parameter",
        "The required parameter 'assertion' is missing.",
    ),
    Case(
        "an assertion that is not a JWT is refused",
        lambda c: c.redeem("not-a-jwt"),
        400,
        "invalid_grant",
        "invalid_grant",
        "The 'assertion' is not a signed JWT.",
    ),
    Case(
        "an ID-JAG without its typ header is refused",
        lambda c: c.redeem(c.forge_id_jag(header={"typ": "JWT"})),
        400,
        "invalid_grant",
        "invalid_grant",
        "The assertion's 'typ' header must be 'oauth-id-jag+jwt'.",
    ),
    Case("an ID-JAG used twice is refused", replayed_id_jag, 400, "invalid_grant", "id_jag_replayed"),
    Case(
        "an ID-JAG for the default server fails at the reports server",
        lambda c: c.redeem(c.id_jag(), server="reports"),
        400,
        "invalid_grant",
        "jwt_bearer_grant_invalid_audience",
    ),
    Case(
        "an ID-JAG whose aud array has two elements is refused",
        lambda c: c.redeem(c.forge_id_jag(aud=[c.issuer(), c.issuer("reports")])),
        400,
        "invalid_grant",
        "jwt_bearer_grant_invalid_audience",
    ),
    Case(
        "an ID-JAG at a server with no policy rule for the agent is refused",
        lambda c: c.redeem(c.id_jag("reports"), server="reports"),
        401,
        "access_denied",
        "no_matching_policy",
    ),
    Case(
        "an ID-JAG from an untrusted issuer is refused",
        lambda c: c.redeem(c.forge_id_jag(iss=AGENT, key=jose_key(c.signer.agent))),
        400,
        "invalid_grant",
        "id_jag_untrusted_issuer",
    ),
    Case(
        "an ID-JAG with a bad signature is refused",
        lambda c: c.redeem(tampered(c.id_jag())),
        400,
        "invalid_grant",
        "id_jag_invalid_signature",
    ),
    Case(
        "an expired ID-JAG is refused",
        lambda c: c.redeem(c.forge_id_jag(iat=int(time.time()) - 600, exp=int(time.time()) - 300)),
        400,
        "invalid_grant",
        "id_jag_expired",
    ),
    Case(
        "an ID-JAG living longer than five minutes is refused",
        lambda c: c.redeem(c.forge_id_jag(exp=int(time.time()) + 900)),
        400,
        "invalid_grant",
        "id_jag_lifetime_too_long",
    ),
    Case(
        "an ID-JAG issued in the future is refused",
        lambda c: c.redeem(c.forge_id_jag(iat=int(time.time()) + 600, exp=int(time.time()) + 800)),
        400,
        "invalid_grant",
        "id_jag_issued_in_future",
    ),
    Case(
        "an ID-JAG for another client is refused",
        lambda c: c.redeem(c.forge_id_jag(client_id=OTHER_APP)),
        400,
        "invalid_grant",
        "id_jag_client_mismatch",
    ),
    Case(
        "an ID-JAG without scope is refused",
        lambda c: c.redeem(c.forge_id_jag(drop=("scope",))),
        400,
        "invalid_grant",
        "id_jag_lacking_scopes",
    ),
    Case(
        "an ID-JAG for an unknown user is refused",
        lambda c: c.redeem(c.forge_id_jag(sub="00uNoSuchUser0000001")),
        400,
        "invalid_grant",
        "id_jag_invalid_subject",
    ),
    Case(
        "an ID-JAG whose resource differs from the request is refused",
        lambda c: c.redeem(c.id_jag(), resource=c.org + "/todo-api"),
        400,
        "invalid_grant",
        "id_jag_resource_mismatch",
    ),
    Case(
        "an ID-JAG naming a resource this server does not serve is refused",
        lambda c: c.redeem(c.forge_id_jag(resource="https://api.example.com/")),
        400,
        "invalid_grant",
        "id_jag_resource_not_allowed_for_as",
    ),
    Case(
        "an ID-JAG whose scopes the policy all denies is refused",
        lambda c: c.redeem(c.forge_id_jag(scope="todo.admin")),
        400,
        "access_denied",
        "no_scope_allowed",
    ),
    # --- the API ----------------------------------------------------------------------------------
    Case(
        "the API refuses a request without a token",
        lambda c: requests.get(c.org + "/todo-api/todos", timeout=5),
        401,
        "invalid_token",
        "invalid_token",
        "The request has no bearer access token.",
    ),
    Case(
        "the API refuses a token that is not a JWT",
        lambda c: requests.get(
            c.org + "/todo-api/todos", headers={"Authorization": "Bearer garbage"}, timeout=5
        ),
        401,
        "invalid_token",
        "access_token_invalid",
    ),
    Case(
        "the API refuses the org access token",
        lambda c: requests.get(
            c.org + "/todo-api/me", headers={"Authorization": "Bearer " + c.tokens["access_token"]}, timeout=5
        ),
        401,
        "invalid_token",
        "access_token_invalid",
    ),
    Case(
        "the API refuses a token of another issuer",
        lambda c: requests.get(
            c.org + "/todo-api/me",
            headers={"Authorization": "Bearer " + c.forge_access_token(iss=c.issuer("reports"))},
            timeout=5,
        ),
        401,
        "invalid_token",
        "access_token_invalid_issuer",
    ),
    Case(
        "the API refuses a token for another audience",
        lambda c: requests.get(
            c.org + "/todo-api/me",
            headers={"Authorization": "Bearer " + c.forge_access_token(aud="api://reports")},
            timeout=5,
        ),
        401,
        "invalid_token",
        "access_token_invalid_audience",
    ),
    Case(
        "the API refuses an expired token",
        lambda c: requests.get(
            c.org + "/todo-api/me",
            headers={"Authorization": "Bearer " + c.forge_access_token(exp=int(time.time()) - 600)},
            timeout=5,
        ),
        401,
        "invalid_token",
        "token_expired",
    ),
    Case(
        "the API refuses a token issued in the future",
        lambda c: requests.get(
            c.org + "/todo-api/me",
            headers={"Authorization": "Bearer " + c.forge_access_token(iat=int(time.time()) + 600)},
            timeout=5,
        ),
        401,
        "invalid_token",
        "token_timestamp_invalid",
    ),
    Case(
        "the API refuses to write with a read-only token",
        lambda c: requests.post(
            c.org + "/todo-api/todos",
            json={"title": "x"},
            headers={"Authorization": "Bearer " + c.access_token_read},
            timeout=5,
        ),
        403,
        "insufficient_scope",
        "access_token_insufficient_scopes",
    ),
    Case(
        "the API refuses a to-do without a title",
        lambda c: requests.post(
            c.org + "/todo-api/todos",
            json={"name": "x"},
            headers={"Authorization": "Bearer " + c.forge_access_token()},
            timeout=5,
        ),
        400,
        "invalid_request",
        "invalid_request",
        'The body must be JSON like {"title": "..."} with a title of 1 to 200 characters.',
    ),
    # --- metadata and unknown paths ---------------------------------------------------------------
    Case(
        "an unknown path is answered in OAuth JSON",
        lambda c: requests.get(c.org + "/oauth2/v2/token", timeout=5),
        404,
        "invalid_request",
        "http_not_found",
        "There is no endpoint at /oauth2/v2/token on this server.",
    ),
    Case(
        "metadata of an unknown authorization server is refused",
        lambda c: requests.get(c.org + "/oauth2/nope/.well-known/oauth-authorization-server", timeout=5),
        400,
        "invalid_request",
        "invalid_authorization_server",
    ),
    Case(
        "posting to the discovery document is refused",
        lambda c: requests.post(c.org + "/.well-known/openid-configuration", timeout=5),
        405,
        "invalid_request",
        "http_method_not_allowed",
        "The method POST is not allowed here. Allowed: [GET].",
    ),
    Case(
        "userinfo refuses a custom server access token",
        lambda c: requests.get(
            c.org + "/oauth2/v1/userinfo",
            headers={"Authorization": "Bearer " + c.access_token_read},
            timeout=5,
        ),
        401,
        "invalid_token",
        "access_token_invalid",
    ),
]


@pytest.fixture(scope="module")
def ctx(sb: RunningSandbox, signer: Signer, stranger_key: AgentKey) -> Ctx:
    return Ctx(sb, signer, stranger_key)


def _read(response: requests.Response, kind: str) -> tuple[str, str]:
    if kind == "page":
        assert response.headers["Content-Type"].startswith("text/html")
        found = dict(re.findall(r'<dd id="(error|error_description)">(.*?)</dd>', response.text, re.S))
        return html.unescape(found["error"]), html.unescape(found["error_description"])
    if kind == "redirect":
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        return query["error"][0], query["error_description"][0]
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "error_description"}, body
    return body["error"], body["error_description"]


def test_the_table_has_at_least_forty_rows_with_unique_names() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_refusal(ctx: Ctx, case: Case) -> None:
    response = case.send(ctx)
    assert response.status_code == case.status, response.text
    error, description = _read(response, case.kind)
    assert error == case.error
    entry = CATALOG.get(case.code)
    if case.description is not None:
        assert description == case.description
    else:
        assert entry is not None, f"{case.code} is not in Okta's catalog: spell out the description"
        assert description == entry["errorDescription"]
    if entry is not None:
        assert entry["errorCode"] == case.error
        if case.kind == "json":
            assert entry["statusCode"] == case.status
    if case.kind == "redirect":
        assert response.headers["Location"].startswith("http://127.0.0.1:8765/callback?")
    if case.kind == "json":
        assert response.headers["Cache-Control"] == "no-store"


def test_a_refused_authorize_request_echoes_state(ctx: Ctx) -> None:
    params, _ = authorize_params(code_challenge_method="plain")
    answer = requests.get(ctx.org + "/oauth2/v1/authorize", params=params, allow_redirects=False, timeout=5)
    assert parse_qs(urlsplit(answer.headers["Location"]).query)["state"] == [params["state"]]


def test_a_body_over_one_mebibyte_is_refused_by_the_server_before_it_is_read(ctx: Ctx) -> None:
    body = b"a=" + b"b" * (2 * 1024 * 1024)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = requests.post(ctx.token_url, data=body, headers=headers, timeout=10)
    assert answer.status_code == 413


def test_401_from_basic_authentication_carries_a_basic_challenge(ctx: Ctx) -> None:
    answer = ctx.token(code_grant(ctx), auth=(OTHER_APP, "wrong"))
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Basic ")


def test_no_refusal_reached_the_catch_all_handler(ctx: Ctx) -> None:
    assert ctx.sb.sandbox.unexpected_errors == 0
