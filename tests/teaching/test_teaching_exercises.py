"""The "your turn" exercises: the right answer passes, each typical mistake gets its own message, and
the trainer's blank notebooks run headless with no error, showing what is left to fill in.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from helpers import exercises
from helpers.constants import (
    GRANT_JWT_BEARER,
    GRANT_TOKEN_EXCHANGE,
    TOKEN_TYPE_ACCESS_TOKEN,
    TOKEN_TYPE_ID_JAG,
    TOKEN_TYPE_ID_TOKEN,
)
from helpers.core.config import settings_from_values
from helpers.core.pkce import Pkce
from helpers.signin import AuthorizationRequest, Callback
from tools.kitenv import throwaway_kit
from tools.make_exercises import ExerciseError, blank_notebook

ROOT = Path(__file__).resolve().parents[2]
ORG = "https://example.okta.com"
SETTINGS = settings_from_values({"OKTA_ORG_URL": ORG}, home=ROOT)
ISSUER = f"{ORG}/oauth2/default"

# RFC 7636 Appendix B's verifier and challenge.
VERIFIER = "dBjftJeZ4CVP-mJ92K9qM1Tg3Lkn-uIyRvH3VfqS8u4"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
AUTH = AuthorizationRequest(
    authorize_url=f"{ORG}/oauth2/v1/authorize",
    client_id="agent01",
    redirect_uri="http://127.0.0.1:8765/callback",
    scope="openid",
    state="state-0123456789",
    nonce="nonce-0123456789",
    pkce=Pkce(verifier=VERIFIER, challenge=CHALLENGE),
)
CALLBACK = Callback(
    url="http://127.0.0.1:8765/callback?code=c0de&state=s",
    code="c0de-from-redirect",
    state=AUTH.state,
    how="test",
)


def jwt(header: dict, claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part(header)}.{part(claims)}.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"


ID_TOKEN = jwt({"alg": "RS256"}, {"iss": ORG, "aud": "agent01", "nonce": "n", "sub": "00u1"})
ID_JAG = jwt({"alg": "RS256", "typ": "oauth-id-jag+jwt"}, {"iss": ORG, "aud": ISSUER, "sub": "00u1"})
ACCESS_TOKEN = jwt(
    {"alg": "RS256"}, {"iss": ISSUER, "aud": "api://default", "scp": ["todo.read"], "cid": "agent01"}
)


def short(token: str) -> str:
    return f"{token[:12]}…{token[-6:]}"


# --- 01: the code exchange form ---------------------------------------------------------------------

CODE_FORM = {
    "grant_type": "authorization_code",
    "code": CALLBACK.code,
    "redirect_uri": AUTH.redirect_uri,
    "code_verifier": VERIFIER,
}


@pytest.mark.parametrize(
    ("form", "problems"),
    [
        pytest.param(
            {k: ... for k in CODE_FORM},
            [
                '"grant_type" is not filled in yet: expected "authorization_code" (RFC 6749 §4.1.3)',
                '"code" is not filled in yet: expected the code from the redirect (callback.code)',
                '"redirect_uri" is not filled in yet: expected "http://127.0.0.1:8765/callback", as in the '
                "authorization request",
                '"code_verifier" is not filled in yet: expected the PKCE verifier kept with this sign-in '
                "(auth.pkce.verifier)",
            ],
            id="the blank left as it is",
        ),
        pytest.param(
            {**CODE_FORM, "grant_type": "code"},
            [
                '"grant_type" is "code": that is the response_type of /authorize; expected '
                '"authorization_code" '
                "(RFC 6749 §4.1.3)"
            ],
            id="the response type as grant type",
        ),
        pytest.param(
            {k: v for k, v in CODE_FORM.items() if k != "redirect_uri"},
            [
                '"redirect_uri" is missing: expected "http://127.0.0.1:8765/callback", as in the '
                "authorization request"
            ],
            id="no redirect_uri",
        ),
        pytest.param(
            {**CODE_FORM, "redirect_uri": "http://localhost:8765/callback"},
            [
                '"redirect_uri" is "http://localhost:8765/callback": expected exactly '
                '"http://127.0.0.1:8765/callback": RFC 6749 §4.1.3 wants it identical to the authorization '
                "request's, character for character"
            ],
            id="another spelling of the redirect URI",
        ),
        pytest.param(
            {**CODE_FORM, "code_verifier": CHALLENGE},
            [
                f'"code_verifier" is "{CHALLENGE}": that is the code challenge, the hash that '
                "travelled in the "
                "authorize URL; expected the verifier, the secret you kept (auth.pkce.verifier, RFC "
                "7636 §4.5)"
            ],
            id="the challenge instead of the verifier",
        ),
        pytest.param(
            {**CODE_FORM, "code_verifier": "x" * 43},
            [
                '"code_verifier" is not the verifier of this sign-in: expected auth.pkce.verifier '
                "(RFC 7636 §4.5)"
            ],
            id="another verifier (never shown)",
        ),
        pytest.param(
            {**CODE_FORM, "code": AUTH.state},
            [
                '"code" is "state-0123456789": that is the state; expected the code from the redirect '
                "(callback.code)"
            ],
            id="the state instead of the code",
        ),
        pytest.param(
            {**CODE_FORM, "state": AUTH.state},
            ['"state" should not be there: state stays between the browser and the client (RFC 6749 §10.12)'],
            id="state in the token request",
        ),
        pytest.param(
            {**CODE_FORM, "client_assertion": "eyJ.x.y"},
            [
                '"client_assertion" does not belong in your form: kit.token_request adds client '
                "authentication "
                "(a fresh client assertion for the URL it posts to) when it sends"
            ],
            id="the client assertion in the form",
        ),
        pytest.param(
            ["grant_type", "code"],
            [
                "the code exchange form is list ['grant_type', 'code'], expected a dict of form fields "
                '({"grant_type": ..., ...})'
            ],  # fmt: skip
            id="a list instead of a dict",
        ),
    ],
)
def test_the_code_exchange_exercise_names_each_mistake(form, problems):
    feedback = exercises.check_code_exchange_form(form, request=AUTH, callback=CALLBACK)
    assert feedback.problems == problems
    assert not feedback.ok
    assert feedback.text().startswith("✗ Code exchange form: not yet")
    assert VERIFIER not in feedback.text()


def test_the_right_code_exchange_form_passes():
    feedback = exercises.check_code_exchange_form(CODE_FORM, request=AUTH, callback=CALLBACK)
    assert feedback.ok and feedback.text().startswith("✓ Code exchange form: right.")


# --- 02: the token exchange form ---------------------------------------------------------------------

EXCHANGE_FORM = {
    "grant_type": GRANT_TOKEN_EXCHANGE,
    "requested_token_type": TOKEN_TYPE_ID_JAG,
    "audience": ISSUER,
    "scope": "todo.read",
    "subject_token": ID_TOKEN,
    "subject_token_type": TOKEN_TYPE_ID_TOKEN,
}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param(
            {"audience": f"{ISSUER}/v1/token"},
            f'"audience" is "{ISSUER}/v1/token": that is a token URL; the audience is the target server\'s '
            f'issuer: expected "{ISSUER}" (ID-JAG -04 §4.3, RFC 8693 §2.1)',
            id="the audience is the token URL",
        ),
        pytest.param(
            {"audience": f"{ISSUER}/"},
            f'"audience" is "{ISSUER}/": one trailing slash too many: issuers compare as exact '
            "strings: expected "
            f'"{ISSUER}" (ID-JAG -04 §4.3, RFC 8693 §2.1)',
            id="the audience with a trailing slash",
        ),
        pytest.param(
            {"audience": "api://default"},
            '"audience" is "api://default": that is the API\'s audience (the access token\'s aud); '
            "here it is "
            f'the authorization server: expected "{ISSUER}" (ID-JAG -04 §4.3, RFC 8693 §2.1)',
            id="the API's audience",
        ),
        pytest.param(
            {"audience": ORG},
            f'"audience" is "{ORG}": that is the org server you are sending the request to; audience '
            "names the "
            f'target server: expected "{ISSUER}" (ID-JAG -04 §4.3, RFC 8693 §2.1)',
            id="the org issuer as audience",
        ),
        pytest.param(
            {"scope": "openid todo.read"},
            '"scope" is "openid todo.read": Okta refuses openid in a token exchange '
            '(openid_not_allowed_token_exchange): ask only for custom scopes, e.g. "todo.read"',
            id="openid in the scopes",
        ),
        pytest.param(
            {"scope": ["todo.read"]},
            "\"scope\" is a list ['todo.read']: a form field is one string (several values separated "
            "by spaces: "
            '"todo.read")',
            id="the scopes as a list",
        ),
        pytest.param(
            {"subject_token": ACCESS_TOKEN},
            f'"subject_token" is "{short(ACCESS_TOKEN)}": that is an access token; expected the ID '
            "token from "
            "notebook 01 (id_token.value)",
            id="an access token as subject",
        ),
        pytest.param(
            {"subject_token_type": TOKEN_TYPE_ACCESS_TOKEN},
            f'"subject_token_type" is "{TOKEN_TYPE_ACCESS_TOKEN}": the subject token is an ID token '
            "(an access "
            f'token needs a delegation link): expected "{TOKEN_TYPE_ID_TOKEN}"',
            id="the access token type",
        ),
        pytest.param(
            {"subject_token_type": "id_token"},
            '"subject_token_type" is "id_token": token types are URNs with an underscore in id_token '
            f'(RFC 8693 §3): expected "{TOKEN_TYPE_ID_TOKEN}"',
            id="a bare token type",
        ),
        pytest.param(
            {"requested_token_type": TOKEN_TYPE_ACCESS_TOKEN},
            f'"requested_token_type" is "{TOKEN_TYPE_ACCESS_TOKEN}": you want an ID-JAG, not an '
            "access token; "
            f'expected "{TOKEN_TYPE_ID_JAG}" (ID-JAG -04 §4.3: REQUIRED)',
            id="an access token requested",
        ),
        pytest.param(
            {"grant_type": GRANT_JWT_BEARER},
            f'"grant_type" is "{GRANT_JWT_BEARER}": that is step 3\'s grant, which redeems the '
            "ID-JAG; expected "
            f'"{GRANT_TOKEN_EXCHANGE}" (RFC 8693 §2.1)',
            id="the JWT bearer grant",
        ),
        pytest.param(
            {"assertion": ID_JAG},
            '"assertion" should not be there: that is the JWT bearer grant\'s parameter (step 3)',
            id="a JWT bearer parameter",
        ),
    ],
)
def test_the_token_exchange_exercise_names_each_mistake(change, problem):
    feedback = exercises.check_token_exchange_form(
        {**EXCHANGE_FORM, **change}, settings=SETTINGS, id_token=ID_TOKEN
    )
    assert feedback.problems == [problem]


def test_the_right_token_exchange_form_passes():
    feedback = exercises.check_token_exchange_form(EXCHANGE_FORM, settings=SETTINGS, id_token=ID_TOKEN)
    assert feedback.ok, feedback.text()


def test_an_exercise_result_is_a_checklist_with_a_row_per_field():
    from helpers.core.checks import Checklist

    right = exercises.check_token_exchange_form(EXCHANGE_FORM, settings=SETTINGS, id_token=ID_TOKEN)
    assert isinstance(right, Checklist) and right.ok and not right.failed
    assert {c.name for c in right} == set(EXCHANGE_FORM) - {"resource"}
    assert right["audience"].expected == f'the target server\'s issuer "{SETTINGS.audience}"'
    wrong = exercises.check_token_exchange_form(
        {**EXCHANGE_FORM, "audience": SETTINGS.audience + "/"}, settings=SETTINGS, id_token=ID_TOKEN
    )
    (row,) = wrong.failed
    assert (row.name, row.received, row.passed) == ("audience", f'"{SETTINGS.audience}/"', False)
    assert row.note == wrong.problems[0] and "one trailing slash too many" in row.note
    assert wrong.summary() == f"Token exchange form: {len(wrong) - 1} of {len(wrong)} passed"


def test_a_missing_requested_token_type_is_named():
    form = {k: v for k, v in EXCHANGE_FORM.items() if k != "requested_token_type"}
    feedback = exercises.check_token_exchange_form(form, settings=SETTINGS, id_token=ID_TOKEN)
    assert feedback.problems == [
        f'"requested_token_type" is missing: expected "{TOKEN_TYPE_ID_JAG}" (ID-JAG -04 §4.3)'
    ]


# --- 03: the JWT bearer form ------------------------------------------------------------------------

BEARER_FORM = {"grant_type": GRANT_JWT_BEARER, "assertion": ID_JAG}


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        pytest.param(
            {**BEARER_FORM, "scope": "todo.read"},
            '"scope" should not be there: Okta takes the scopes from the ID-JAG and refuses the parameter '
            "(id_jag_scopes_in_request)",
            id="a scope parameter",
        ),
        pytest.param(
            {**BEARER_FORM, "assertion": ID_TOKEN},
            f'"assertion" is "{short(ID_TOKEN)}": that is an ID token; expected the ID-JAG from notebook 02 '
            "(id_jag.value)",
            id="the ID token as assertion",
        ),
        pytest.param(
            {**BEARER_FORM, "grant_type": GRANT_TOKEN_EXCHANGE},
            f'"grant_type" is "{GRANT_TOKEN_EXCHANGE}": that is step 2\'s grant, which made the '
            "ID-JAG; expected "
            f'"{GRANT_JWT_BEARER}" (RFC 7523 §2.1)',
            id="the token exchange grant",
        ),
        pytest.param(
            {"grant_type": GRANT_JWT_BEARER, "subject_token": ID_JAG},
            '"subject_token" should be "assertion": RFC 7523 §2.1 names the parameter assertion',
            id="subject_token instead of assertion",
        ),
        pytest.param(
            {**BEARER_FORM, "client_assertion_type": "urn:x"},
            '"client_assertion_type" does not belong in your form: kit.token_request adds client '
            "authentication "
            "(a fresh client assertion for the URL it posts to) when it sends",
            id="client authentication in the form",
        ),
        pytest.param(
            {"grant_type": GRANT_JWT_BEARER, "assertion": ...},
            '"assertion" is not filled in yet: expected the ID-JAG from notebook 02 (id_jag.value)',
            id="the blank assertion",
        ),
    ],
)
def test_the_jwt_bearer_exercise_names_each_mistake(form, problem):
    feedback = exercises.check_jwt_bearer_form(form, id_jag=ID_JAG)
    assert problem in feedback.problems, feedback.problems


def test_the_right_jwt_bearer_form_passes():
    assert exercises.check_jwt_bearer_form(BEARER_FORM, id_jag=ID_JAG).ok


# --- 04: the Authorization header --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        pytest.param(
            {"Authorization": ACCESS_TOKEN},
            'the value is the token alone: put the scheme first, "Bearer <access token>"',
            id="no scheme",
        ),
        pytest.param(
            {"Authorization": f"Token {ACCESS_TOKEN}"},
            'the scheme is "Token": expected "Bearer" (RFC 6750 §2.1); OAuth access tokens are bearer tokens',
            id="another scheme",
        ),
        pytest.param(
            {"Authorization": f"SSWS {ACCESS_TOKEN}"},
            'the scheme is "SSWS": expected "Bearer" (RFC 6750 §2.1); SSWS is for Okta API tokens',
            id="Okta's API token scheme",
        ),
        pytest.param(
            {"Authorization": f"Bearer {ID_JAG}"},
            f'the token is "{short(ID_JAG)}": that is an ID-JAG; expected the access token from notebook 03',
            id="the ID-JAG instead of the access token",
        ),
        pytest.param(
            {"Authorization": f'Bearer "{ACCESS_TOKEN}"'},
            'the token is quoted: send it bare after "Bearer "',
            id="a quoted token",
        ),
        pytest.param(
            {"Authorisation": f"Bearer {ACCESS_TOKEN}"},
            'the header is named "Authorisation": expected "Authorization" (RFC 6750 §2.1)',
            id="a misspelt header",
        ),
        pytest.param(
            {"Authorization": ...},
            '"Authorization" is not filled in yet: expected "Bearer " and the access token',
            id="the blank",
        ),
        pytest.param(
            {"Authorization": "Bearer "},
            'there is no token after "Bearer ": expected the access token from notebook 03',
            id="no token",
        ),
        pytest.param(
            "Bearer x",
            'the headers are str "Bearer x", expected a dict like {"Authorization": "Bearer <access token>"}',
            id="a string instead of a dict",
        ),
    ],
)
def test_the_header_exercise_names_each_mistake(headers, problem):
    feedback = exercises.check_bearer_header(headers, access_token=ACCESS_TOKEN)
    assert feedback.problems[0] == problem


@pytest.mark.parametrize("value", [f"Bearer {ACCESS_TOKEN}", f"bearer {ACCESS_TOKEN}"])
def test_the_right_header_passes_whatever_the_case_of_the_scheme(value):
    assert exercises.check_bearer_header({"authorization": value}, access_token=ACCESS_TOKEN).ok


def test_a_check_never_raises_whatever_the_answer_is():
    class Weird(dict):
        def __contains__(self, item):
            raise RuntimeError("boom")

    feedback = exercises.check_token_exchange_form(Weird(), settings=SETTINGS, id_token=ID_TOKEN)
    assert feedback.problems == ["the answer could not be read (RuntimeError: boom)"]


# --- The blank notebooks -----------------------------------------------------------------------------


def test_blanking_replaces_only_the_answers_and_clears_the_outputs():
    for path in sorted((ROOT / "notebooks").glob("0[1-4]_*.ipynb")):
        stored = nbformat.read(path, as_version=4)
        blank, count = blank_notebook(stored, name=path.name)
        assert count >= 1, f"{path.name} has no exercise"
        for before, after in zip(stored.cells, blank.cells, strict=True):
            tags = before.metadata.get("tags", [])
            if "exercise" in tags:
                assert after.source == before.metadata["exercise"]["blank"] != before.source
                assert "..." in after.source
            else:
                assert after.source == before.source
            if after.cell_type == "code":
                assert after.outputs == [] and after.execution_count is None


def test_an_exercise_cell_without_a_blank_is_refused_with_its_place():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("answer = 42")])
    notebook.cells[0].metadata["tags"] = ["exercise"]
    with pytest.raises(
        ExerciseError, match=r"x.ipynb, cell 1: tagged 'exercise' but metadata.exercise.blank"
    ):
        blank_notebook(notebook, name="x.ipynb")


@pytest.mark.slow
def test_the_blank_notebooks_run_headless_with_no_error_and_say_what_to_fill_in(tmp_path):
    out = tmp_path / "exercises"
    out.mkdir()
    paths = sorted((ROOT / "notebooks").glob("0[1-4]_*.ipynb"))
    for path in paths:
        blank, _ = blank_notebook(nbformat.read(path, as_version=4), name=path.name)
        nbformat.write(blank, out / path.name)
    with throwaway_kit():
        for path in paths:
            notebook = nbformat.read(out / path.name, as_version=4)
            NotebookClient(
                notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(out)}}
            ).execute()
            texts = []
            for cell in notebook.cells:
                for output in cell.get("outputs", []):
                    assert output["output_type"] != "error", f"{path.name}: {output.get('ename')}"
                    assert "Traceback" not in json.dumps(output), path.name
                if "exercise-check" in cell.metadata.get("tags", []):
                    texts.append("".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs))
            assert texts, path.name
            for text in texts:
                assert text.startswith("✗ ") and "not filled in yet" in text, text
                assert not re.search(r"eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}", text)
