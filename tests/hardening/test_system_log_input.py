"""Hostile query parameters at the System Log API (`GET /api/v1/logs`): Okta's error object, never a 500.

- Okta management API errors: `errorCode` E0000001 (validation), E0000031 (search criteria), E0000011
  (invalid token), as `sandbox/system_log.py` answers them.
"""

from __future__ import annotations

import pytest
import requests
from hardening_support import full_flow

ROWS = [
    ("limit in superscript digits", {"limit": "²"}, 400, "E0000001"),
    ("limit of 5000 digits (past Python's int parsing limit)", {"limit": "9" * 5000}, 400, "E0000001"),
    ("limit zero", {"limit": "0"}, 400, "E0000001"),
    ("since in year 1 before UTC", {"since": "0001-01-01T00:00:00+01:00"}, 200, None),
    ("since not a time", {"since": "yesterday"}, 400, "E0000001"),
    (
        "a filter nested 3000 parentheses deep",
        {"filter": "(" * 3000 + "eventType pr" + ")" * 3000},
        400,
        "E0000031",
    ),
    ("a filter of 3000 alternatives", {"filter": " or ".join(['eventType eq "x"'] * 3000)}, 400, "E0000031"),
    ("a filter comparing with a number that overflows", {"filter": "published gt 1e400"}, 400, "E0000031"),
    ("sortOrder unknown", {"sortOrder": "sideways"}, 400, "E0000001"),
]


@pytest.mark.parametrize(("params", "status", "code"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_hostile_system_log_query_gets_an_okta_answer(hsb, params, status, code) -> None:
    before = hsb.sandbox.unexpected_errors
    answer = requests.get(
        hsb.url + "/api/v1/logs",
        params=params,
        headers={"Authorization": f"SSWS {hsb.api_token}"},
        timeout=30,
    )
    assert answer.status_code == status, answer.text[:300]
    body = answer.json()
    if code is None:
        assert isinstance(body, list)
    else:
        assert body["errorCode"] == code, body
    assert hsb.sandbox.unexpected_errors == before


def test_the_system_log_gives_nothing_to_a_bearer_token(hsb, signer) -> None:
    tokens = full_flow(hsb.url, signer)
    answer = requests.get(
        hsb.url + "/api/v1/logs", headers={"Authorization": f"Bearer {tokens.access_token}"}, timeout=30
    )
    assert answer.status_code == 401
    assert answer.json()["errorCode"] == "E0000011"
