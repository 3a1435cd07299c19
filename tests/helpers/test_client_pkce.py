"""PKCE (RFC 7636): the S256 challenge and the verifier's rules."""

from __future__ import annotations

import pytest

from helpers.core.pkce import Pkce, check_verifier, make_verifier, s256_challenge


def test_s256_challenge_matches_rfc_7636_appendix_b():
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_new_verifiers_are_43_characters_and_differ():
    first, second = make_verifier(), make_verifier()
    assert len(first) == 43 and first != second
    pair = Pkce.new()
    assert pair.method == "S256" and pair.challenge == s256_challenge(pair.verifier)
    assert pair.verifier not in repr(pair)


@pytest.mark.parametrize(
    "verifier",
    ["short", "a" * 42, "a" * 129, "a" * 42 + "+", "a" * 42 + "/", "a" * 42 + "="],
    ids=["too_short", "42_chars", "129_chars", "plus_sign", "slash", "padding"],
)
def test_verifier_outside_rfc_7636_section_4_1_is_refused(verifier):
    with pytest.raises(ValueError, match="RFC 7636 §4.1"):
        check_verifier(verifier)
