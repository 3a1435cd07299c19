"""Each token and response check fails on the bad value it guards (one row per check)."""

from __future__ import annotations

import time

import pytest
from client_support import sign

from helpers.core.checks import Checklist
from helpers.core.errors import TokenValidationError
from helpers.core.jwts import token_hash
from helpers.jwt_bearer import check_access_token, check_bearer_response
from helpers.signin import check_id_token
from helpers.token_exchange import check_exchange_response, check_id_jag

ORG = "http://127.0.0.1:8400"
CUSTOM = f"{ORG}/oauth2/default"
CLIENT_ID = "wlpSandboxAgent00001"
USER = "00u1alice0000000000"
ACCESS = "an-org-access-token-value-0123456789"
NOW = int(time.time())


def failed_names(checks: Checklist) -> str:
    return ", ".join(c.name for c in checks.failed)


# --- the ID token (OIDC Core §3.1.3.7) ------------------------------------------------------------
def id_token_claims() -> dict:
    return {
        "iss": ORG,
        "sub": USER,
        "aud": CLIENT_ID,
        "iat": NOW,
        "exp": NOW + 3600,
        "nonce": "n-1",
        "at_hash": token_hash(ACCESS, "RS256"),
    }


def run_id_token_checks(org_key, claims, **headers):
    return check_id_token(
        sign(org_key, claims, **headers),
        jwks=org_key.jwks,
        issuer=ORG,
        client_id=CLIENT_ID,
        nonce="n-1",
        access_token=ACCESS,
        now=NOW,
    )


def test_a_good_id_token_passes(org_key):
    checks = run_id_token_checks(org_key, id_token_claims())
    assert checks.ok, str(checks)


@pytest.mark.parametrize(
    ("case", "change", "failed"),
    [
        ("iss is another issuer", {"iss": f"{ORG}/oauth2/default"}, '"iss"'),
        ("aud is another client", {"aud": "0oaOtherWebApp000001"}, '"aud"'),
        ("azp is another client", {"azp": "0oaOtherWebApp000001"}, '"azp"'),
        ("exp is past", {"exp": NOW - 3600}, '"exp"'),
        ("iat is in the future", {"iat": NOW + 3600}, '"iat"'),
        ("nonce differs", {"nonce": "n-2"}, '"nonce"'),
        ("at_hash differs", {"at_hash": token_hash("another-token", "RS256")}, '"at_hash"'),
        ("sub is missing", {"sub": None}, '"sub"'),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else None,
)
def test_each_id_token_check_fails_on_its_bad_value(org_key, case, change, failed):
    claims = {**id_token_claims(), **change}
    claims = {k: v for k, v in claims.items() if v is not None}
    assert failed_names(run_id_token_checks(org_key, claims)) == failed


def test_an_id_token_signed_by_an_unknown_key_fails_the_signature_check(org_key, rsa_key):
    token = sign(rsa_key, id_token_claims())
    checks = check_id_token(token, jwks=org_key.jwks, issuer=ORG, client_id=CLIENT_ID, nonce="n-1", now=NOW)
    assert failed_names(checks) == "signature"
    assert "expected one of" in checks["signature"].received


def test_an_id_token_with_a_tampered_payload_fails_the_signature_check(org_key):
    good = sign(org_key, id_token_claims())
    forged = sign(org_key, {**id_token_claims(), "sub": "00u2mallory"})
    tampered = ".".join([good.split(".")[0], forged.split(".")[1], good.split(".")[2]])
    checks = check_id_token(
        tampered, jwks=org_key.jwks, issuer=ORG, client_id=CLIENT_ID, nonce="n-1", now=NOW
    )
    assert failed_names(checks) == "signature"


def test_an_hs256_id_token_is_refused_whatever_its_mac(org_key):
    from jose import jwt

    token = jwt.encode(id_token_claims(), "secret", algorithm="HS256", headers={"kid": org_key.kid})
    checks = check_id_token(token, jwks=org_key.jwks, issuer=ORG, client_id=CLIENT_ID, nonce="n-1", now=NOW)
    assert failed_names(checks) == 'header "alg", signature'


def test_raise_if_failed_names_the_first_failed_check_and_both_values(org_key):
    checks = run_id_token_checks(org_key, {**id_token_claims(), "nonce": "n-2"})
    with pytest.raises(TokenValidationError) as caught:
        checks.raise_if_failed()
    assert (
        str(caught.value) == 'ID token checks: "nonce" is "n-2", expected "n-1" (OIDC Core §3.1.3.7 step 11)'
    )
    assert (caught.value.check, caught.value.expected, caught.value.received) == ('"nonce"', "n-1", "n-2")


# --- the ID-JAG (ID-JAG -04 §3.1) ----------------------------------------------------------------------
def id_jag_claims() -> dict:
    return {
        "iss": ORG,
        "sub": USER,
        "aud": CUSTOM,
        "client_id": CLIENT_ID,
        "jti": "jag-1",
        "iat": NOW,
        "exp": NOW + 300,
        "scope": "todo.read",
    }


def run_id_jag_checks(org_key, claims, *, resource=None, **headers):
    headers = {"typ": "oauth-id-jag+jwt", **headers}
    return check_id_jag(
        sign(org_key, claims, **headers),
        jwks=org_key.jwks,
        issuer=ORG,
        audience=CUSTOM,
        client_id=CLIENT_ID,
        subject=USER,
        requested_scopes="todo.read todo.write",
        resource=resource,
        now=NOW,
    )


def test_a_good_id_jag_passes_with_aud_as_a_string_or_a_one_element_array(org_key):
    assert run_id_jag_checks(org_key, id_jag_claims()).ok
    assert run_id_jag_checks(org_key, {**id_jag_claims(), "aud": [CUSTOM]}).ok


@pytest.mark.parametrize(
    ("case", "change", "headers", "failed"),
    [
        ("typ is JWT", {}, {"typ": "JWT"}, 'header "typ"'),
        ("iss is the custom server", {"iss": CUSTOM}, {}, '"iss"'),
        ("aud is the token URL", {"aud": f"{CUSTOM}/v1/token"}, {}, '"aud"'),
        ("aud has two elements", {"aud": [CUSTOM, ORG]}, {}, '"aud"'),
        ("client_id is another client", {"client_id": "0oaOther"}, {}, '"client_id"'),
        ("sub is another user", {"sub": "00u2bob"}, {}, '"sub"'),
        ("exp is past", {"exp": NOW - 400, "iat": NOW - 500}, {}, '"exp"'),
        ("iat is in the future", {"iat": NOW + 200, "exp": NOW + 400}, {}, '"iat"'),
        ("lifetime is ten minutes", {"exp": NOW + 600}, {}, "lifetime"),
        ("jti is missing", {"jti": None}, {}, '"jti"'),
        ("scope adds todo.admin", {"scope": "todo.read todo.admin"}, {}, '"scope"'),
        ("scope is empty", {"scope": None}, {}, '"scope"'),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else None,
)
def test_each_id_jag_check_fails_on_its_bad_value(org_key, case, change, headers, failed):
    claims = {k: v for k, v in {**id_jag_claims(), **change}.items() if v is not None}
    assert failed_names(run_id_jag_checks(org_key, claims, **headers)) == failed


def test_an_id_jag_without_the_requested_resource_fails(org_key):
    checks = run_id_jag_checks(org_key, id_jag_claims(), resource=f"{ORG}/todo-api")
    assert failed_names(checks) == '"resource"'


# --- the token exchange response (RFC 8693 §2.2.1) --------------------------------------------------
GOOD_EXCHANGE = {
    "issued_token_type": "urn:ietf:params:oauth:token-type:id-jag",
    "token_type": "N_A",
    "access_token": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
    "expires_in": 300,
    "scope": "todo.read",
}
NO_STORE = {"Cache-Control": "no-store"}


def test_a_good_exchange_response_passes():
    assert check_exchange_response(GOOD_EXCHANGE, headers=NO_STORE).ok


@pytest.mark.parametrize(
    ("case", "change", "headers", "failed"),
    [
        (
            "issued_token_type is access_token",
            {"issued_token_type": "urn:ietf:params:oauth:token-type:access_token"},
            NO_STORE,
            '"issued_token_type"',
        ),
        ("issued_token_type is missing", {"issued_token_type": None}, NO_STORE, '"issued_token_type"'),
        ("token_type is Bearer", {"token_type": "Bearer"}, NO_STORE, '"token_type"'),
        ("access_token is not a JWT", {"access_token": "opaque"}, NO_STORE, '"access_token"'),
        ("expires_in is an hour", {"expires_in": 3600}, NO_STORE, '"expires_in"'),
        ("the response may be cached", {}, {}, "Cache-Control"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else None,
)
def test_each_exchange_response_check_fails_on_its_bad_value(case, change, headers, failed):
    body = {k: v for k, v in {**GOOD_EXCHANGE, **change}.items() if v is not None}
    assert failed_names(check_exchange_response(body, headers=headers)) == failed


# --- the JWT bearer response and the access token ------------------------------------------------------
GOOD_BEARER = {
    "token_type": "Bearer",
    "access_token": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
    "expires_in": 3600,
    "scope": "todo.read",
}


@pytest.mark.parametrize(
    ("case", "change", "headers", "failed"),
    [
        ("nothing wrong", {}, NO_STORE, ""),
        ("token_type is N_A", {"token_type": "N_A"}, NO_STORE, '"token_type"'),
        ("expires_in is missing", {"expires_in": None}, NO_STORE, '"expires_in"'),
        ("scope is missing", {"scope": None}, NO_STORE, '"scope"'),
        ("the response may be cached", {}, {"Cache-Control": "max-age=60"}, "Cache-Control"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else None,
)
def test_each_bearer_response_check_fails_on_its_bad_value(case, change, headers, failed):
    body = {k: v for k, v in {**GOOD_BEARER, **change}.items() if v is not None}
    assert failed_names(check_bearer_response(body, headers=headers)) == failed


@pytest.mark.parametrize(
    ("check", "good", "section"),
    [(check_exchange_response, GOOD_EXCHANGE, "§4.3.4"), (check_bearer_response, GOOD_BEARER, "§4.4.3")],
    ids=["token exchange", "JWT bearer"],
)
def test_a_refresh_token_in_the_response_is_a_warning_not_a_failure(check, good, section):
    # ID-JAG -04 §4.3.4 and §4.4.3: a refresh token SHOULD NOT be returned (not MUST NOT).
    checks = check({**good, "refresh_token": "r"}, headers=NO_STORE)
    assert checks.ok and failed_names(checks) == ""
    (warning,) = checks.warnings
    assert (warning.name, warning.result, warning.received) == ('"refresh_token"', "warn", "present")
    assert warning.reference == f"ID-JAG -04 {section}: SHOULD NOT"
    assert checks.summary().endswith("passed, 1 warning")
    checks.raise_if_failed()  # a warning never raises
    assert check(good, headers=NO_STORE).warnings == []


def access_token_claims() -> dict:
    return {
        "ver": 1,
        "jti": "AT.1",
        "iss": CUSTOM,
        "aud": "api://default",
        "iat": NOW,
        "exp": NOW + 3600,
        "cid": CLIENT_ID,
        "uid": USER,
        "scp": ["todo.read"],
        "sub": "alice@example.com",
    }


def run_access_token_checks(custom_key, claims):
    return check_access_token(
        sign(custom_key, claims),
        jwks=custom_key.jwks,
        issuer=CUSTOM,
        client_id=CLIENT_ID,
        id_jag_claims=id_jag_claims(),
        audience="api://default",
        now=NOW,
    )


@pytest.mark.parametrize(
    ("case", "change", "failed"),
    [
        ("nothing wrong", {}, ""),
        ("iss is the org", {"iss": ORG}, '"iss"'),
        ("aud is another API", {"aud": "api://reports"}, '"aud"'),
        ("cid is another client", {"cid": "0oaOther"}, '"cid"'),
        ("uid and sub name another user", {"uid": "00u2bob", "sub": "bob@example.com"}, '"sub" / "uid"'),
        ("scp adds a scope the ID-JAG lacks", {"scp": ["todo.read", "todo.write"]}, '"scp"'),
        ("scp is empty", {"scp": []}, '"scp"'),
        ("exp is past", {"exp": NOW - 100, "iat": NOW - 3700}, '"exp"'),
        ("iat is in the future", {"iat": NOW + 600}, '"iat"'),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else None,
)
def test_each_access_token_check_fails_on_its_bad_value(org_key, case, change, failed):
    assert failed_names(run_access_token_checks(org_key, {**access_token_claims(), **change})) == failed


def test_an_access_token_signed_by_the_org_key_fails_against_the_custom_keys(org_key, rsa_key):
    token = sign(org_key, access_token_claims())
    checks = check_access_token(
        token, jwks=rsa_key.jwks, issuer=CUSTOM, client_id=CLIENT_ID, id_jag_claims=id_jag_claims(), now=NOW
    )
    assert failed_names(checks) == "signature"


@pytest.mark.parametrize(
    ("headers", "received", "passed"),
    [
        ({"Cache-Control": "no-store"}, "no-store", True),
        ({"cache-control": "no-cache, no-store"}, "no-cache, no-store", True),
        ({"Cache-Control": "max-age=60"}, "max-age=60", False),
        ({}, "(absent)", False),
    ],
)
def test_the_no_store_row_reads_cache_control_in_any_case(headers, received, passed):
    checks = Checklist("t")
    assert checks.no_store(headers, "RFC 6749 §5.1") is passed
    assert (checks["Cache-Control"].received, checks["Cache-Control"].result) == (
        received,
        "pass" if passed else "FAIL",
    )


def test_an_absent_row_for_a_should_not_is_a_warning_and_a_jwt_row_names_what_came():
    checks = Checklist("t")
    assert (
        checks.absent({"refresh_token": "r"}, "refresh_token", "ID-JAG -04 §4.4.3", required=False) is False
    )
    assert checks.is_jwt('"access_token"', "opaque-token", "RFC 6749 §5.1") is False
    assert checks.is_jwt('"id_token"', "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "OIDC") is True
    assert [(c.name, c.received, c.result) for c in checks] == [
        ('"refresh_token"', "present", "warn"),
        ('"access_token"', "opaque-token", "FAIL"),
        ('"id_token"', "a JWT", "pass"),
    ]
    assert checks.warnings and len(checks.failed) == 1
