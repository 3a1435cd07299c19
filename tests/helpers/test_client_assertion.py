"""Client assertions (private_key_jwt): claims, headers, freshness, the key built once, the checklist."""

from __future__ import annotations

import time

import jose.jwk
import pytest
from client_support import sign

from helpers.core.client_assertion import ClientAssertionSigner, check_client_assertion
from helpers.core.jwts import decode_unverified, verify_signature

CLIENT_ID = "wlpSandboxAgent00001"
TOKEN_URL = "http://127.0.0.1:8400/oauth2/v1/token"
CUSTOM_TOKEN_URL = "http://127.0.0.1:8400/oauth2/default/v1/token"


@pytest.mark.parametrize("key_name", ["rsa_key", "ec_key"])
def test_assertion_claims_follow_rfc_7523_and_okta(request, key_name):
    key = request.getfixturevalue(key_name)
    signer = ClientAssertionSigner(CLIENT_ID, key)
    before = int(time.time())
    assertion = signer.assertion_for(TOKEN_URL)
    header, claims = decode_unverified(assertion)
    assert header == {"alg": key.alg, "kid": key.kid, "typ": "JWT"}
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == TOKEN_URL
    assert before <= claims["iat"] <= int(time.time())
    assert 60 <= claims["exp"] - claims["iat"] <= 300
    assert verify_signature(assertion, key.jwks) == claims


def test_every_assertion_has_a_fresh_jti_and_its_own_audience(rsa_key):
    signer = ClientAssertionSigner(CLIENT_ID, rsa_key)
    first = decode_unverified(signer.assertion_for(TOKEN_URL))[1]
    second = decode_unverified(signer.assertion_for(CUSTOM_TOKEN_URL))[1]
    third = decode_unverified(signer.assertion_for(TOKEN_URL))[1]
    assert len({first["jti"], second["jti"], third["jti"]}) == 3
    assert (first["aud"], second["aud"]) == (TOKEN_URL, CUSTOM_TOKEN_URL)


def test_the_jose_key_is_built_once_per_signer_not_per_assertion(rsa_key, monkeypatch):
    calls = []
    original = jose.jwk.construct

    def counting(*args, **kwargs):
        calls.append(args[1] if len(args) > 1 else kwargs.get("algorithm"))
        return original(*args, **kwargs)

    monkeypatch.setattr(jose.jwk, "construct", counting)
    signer = ClientAssertionSigner(CLIENT_ID, rsa_key)
    for _ in range(5):
        signer.assertion_for(TOKEN_URL)
    assert calls == ["RS256"]


def test_signing_does_not_change_the_claims_passed_in(rsa_key):
    signer = ClientAssertionSigner(CLIENT_ID, rsa_key)
    claims = signer.claims_for(TOKEN_URL)
    snapshot = dict(claims)
    signer.sign(claims)
    assert claims == snapshot


def test_an_assertion_without_typ_can_be_made(ec_key):
    signer = ClientAssertionSigner(CLIENT_ID, ec_key, typ=None)
    assertion = signer.assertion_for(TOKEN_URL)
    assert "typ" not in decode_unverified(assertion)[0]
    assert check_client_assertion(assertion, endpoint=TOKEN_URL, client_id=CLIENT_ID, key=ec_key).ok


def test_a_lifetime_over_okta_limit_is_refused(rsa_key):
    with pytest.raises(ValueError, match="expected 1 to 3600 s"):
        ClientAssertionSigner(CLIENT_ID, rsa_key, lifetime=7200)


def test_a_good_assertion_passes_every_check(rsa_key):
    assertion = ClientAssertionSigner(CLIENT_ID, rsa_key).assertion_for(TOKEN_URL)
    checks = check_client_assertion(assertion, endpoint=TOKEN_URL, client_id=CLIENT_ID, key=rsa_key)
    assert checks.ok, str(checks)
    assert len(checks) == 11


def _claims(now: int) -> dict:
    return {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": TOKEN_URL, "iat": now, "exp": now + 120, "jti": "j-1"}


@pytest.mark.parametrize(
    ("case", "claims_change", "header_change", "failed_check"),
    [
        ("aud is the custom token URL", {"aud": CUSTOM_TOKEN_URL}, {}, '"aud"'),
        ("aud is the issuer", {"aud": "http://127.0.0.1:8400"}, {}, '"aud"'),
        ("iss is another client", {"iss": "0oaOther"}, {}, '"iss"'),
        ("sub is another client", {"sub": "0oaOther"}, {}, '"sub"'),
        ("exp is in the past", {"exp": -10}, {}, '"exp"'),
        ("exp is two hours ahead", {"exp": 7200}, {}, '"exp" ahead'),
        ("iat is in the future", {"iat": 600}, {}, '"iat"'),
        ("jti is missing", {"jti": None}, {}, '"jti"'),
        ("kid is another key", {}, {"kid": "not-the-agent-key"}, 'header "kid", signature'),
        ("typ is a client-authentication JWT", {}, {"typ": "client-authentication+jwt"}, 'header "typ"'),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else None,
)
def test_each_assertion_check_fails_on_the_bad_value_it_guards(
    rsa_key, case, claims_change, header_change, failed_check
):
    now = int(time.time())
    claims = _claims(now)
    for name, value in claims_change.items():
        if value is None:
            claims.pop(name)
        elif name in ("exp", "iat"):
            claims[name] = now + value
        else:
            claims[name] = value
    assertion = sign(rsa_key, claims, **header_change)
    checks = check_client_assertion(assertion, endpoint=TOKEN_URL, client_id=CLIENT_ID, key=rsa_key, now=now)
    assert ", ".join(c.name for c in checks.failed) == failed_check, str(checks)


def test_an_assertion_signed_by_another_key_fails_the_signature_check(rsa_key, ec_key):
    now = int(time.time())
    forged = sign(ec_key, _claims(now), kid=rsa_key.kid)
    checks = check_client_assertion(forged, endpoint=TOKEN_URL, client_id=CLIENT_ID, key=rsa_key, now=now)
    assert [c.name for c in checks.failed] == ["signature"]
