"""Notebook 08's "your turn" checks: a right answer is right; blank and wrong ones get precise feedback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat

from helpers.resource_server import Refusal
from helpers.teaching.resource_exercises import check_audience_check, check_client_check, check_typ_check
from tools.make_exercises import blank_notebook

ISSUER = "http://127.0.0.1:9000"
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "08_build_a_resource_server.ipynb"


def blank(*args: Any) -> None: ...


def test_right_answers_are_right() -> None:
    def check_typ(header: dict[str, Any]) -> None:
        if header.get("typ") != "oauth-id-jag+jwt":
            raise Refusal("invalid_grant", "typ")

    def check_audience(claims: dict[str, Any]) -> None:
        if claims.get("aud") not in (ISSUER, [ISSUER]):
            raise Refusal("invalid_grant", "aud")

    def check_client(claims: dict[str, Any], client_id: str) -> None:
        if claims.get("client_id") != client_id:
            raise Refusal("invalid_grant", "client")

    assert check_typ_check(check_typ).ok
    assert check_audience_check(check_audience, issuer=ISSUER).ok
    assert check_client_check(check_client, client_id="wlpSandboxAgent00001").ok


def test_a_blank_answer_says_which_inputs_got_through() -> None:
    feedback = check_typ_check(blank)
    assert not feedback.ok and len(feedback.problems) == 3
    assert feedback.problems[0].startswith('an ID token\'s header (typ "JWT") was accepted, expected Refusal')
    text = check_client_check(blank, client_id="a").text()
    assert "3 things to fix" in text and "no client_id was accepted" in text


def test_a_contains_check_of_aud_is_caught_with_the_rule() -> None:
    def contains(claims: dict[str, Any]) -> None:
        aud = claims.get("aud")
        if not (aud == ISSUER or (isinstance(aud, list) and ISSUER in aud)):
            raise Refusal("invalid_grant", "aud")

    feedback = check_audience_check(contains, issuer=ISSUER)
    assert feedback.problems == [
        f'aud ["{ISSUER}", "https://other-ras.example"] (two elements) was accepted, expected '
        'Refusal("invalid_grant", …) (ID-JAG -04 §3.1, §4.4.1)'
    ]


def test_a_string_only_check_refuses_the_one_element_array() -> None:
    def string_only(claims: dict[str, Any]) -> None:
        if claims.get("aud") != ISSUER:
            raise Refusal("invalid_grant", "aud")

    problems = check_audience_check(string_only, issuer=ISSUER).problems
    assert problems == [
        f'aud ["{ISSUER}"] (an array of one element) was refused (invalid_grant), expected it to pass'
    ]


def test_a_crash_or_another_error_code_is_named() -> None:
    def crashes(claims: dict[str, Any]) -> None:
        if claims["aud"] != ISSUER:  # KeyError when aud is missing
            raise ValueError("bad aud")

    problems = check_audience_check(crashes, issuer=ISSUER).problems
    assert any(p.startswith("no aud raised KeyError") and "not a 500" in p for p in problems)

    def wrong_code(header: dict[str, Any]) -> None:
        if header.get("typ") != "oauth-id-jag+jwt":
            raise Refusal("invalid_request", "typ")

    assert (
        'was refused with "invalid_request", expected "invalid_grant"'
        in check_typ_check(wrong_code).problems[0]
    )


def test_not_a_function_is_said() -> None:
    assert check_typ_check("check_typ").problems == ["'check_typ' is not a function: define it with def"]


def test_the_notebook_s_blank_version_leaves_the_three_exercises_to_write() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    blanked, count = blank_notebook(notebook, name=NOTEBOOK.name)
    assert count == 3
    sources = [c.source for c in blanked.cells if "exercise" in c.metadata.get("tags", [])]
    assert all(source.rstrip().endswith("...") and "Your turn" in source for source in sources)
    namespace: dict[str, Any] = {}
    exec(sources[0], namespace)  # noqa: S102 - the notebook's own blank cell
    assert not check_typ_check(namespace["check_typ"]).ok
