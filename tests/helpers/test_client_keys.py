"""Keys: the RFC 7638 thumbprint, and the agent key files the settings name."""

from __future__ import annotations

import json
import stat

from helpers.core.config import load_settings
from helpers.core.keys import PublicKeyView, agent_key_for, b64url, jwk_thumbprint

RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV"
    "4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zg"
    "dAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur"
    "-kEgU8awapJzKnqDKgw"
)


def test_thumbprint_matches_rfc_7638_section_3_1():
    jwk = {"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_agent_key_for_creates_the_pair_once_with_a_private_file_of_mode_0600(kit_home, monkeypatch):
    monkeypatch.setenv("AGENT_KEY_ALG", "ES256")
    settings = load_settings()
    key = agent_key_for(settings)
    assert key.alg == "ES256"
    assert stat.S_IMODE(settings.agent_private_key_file.stat().st_mode) == 0o600
    published = json.loads(settings.agent_public_jwks_file.read_text())
    assert published["keys"][0]["kid"] == key.kid == jwk_thumbprint(published["keys"][0])
    again = agent_key_for(settings)
    assert again.kid == key.kid


def test_public_key_view_shows_the_public_jwk_and_no_private_member(rsa_key):
    text = repr(PublicKeyView(rsa_key)) + PublicKeyView(rsa_key)._repr_html_()
    assert rsa_key.kid in text and rsa_key.public_jwk["n"] in text
    d = b64url(rsa_key.private_key.private_numbers().d.to_bytes(256, "big"))
    assert d[:40] not in text and "PRIVATE KEY" not in text
    assert set(rsa_key.jwks["keys"][0]) == {"kty", "n", "e", "kid", "alg", "use"}
