"""Phase 3 helpers: WWW-Authenticate parsing and explanation (RFC 6750 §3, RFC 9728 §5.1)."""

from __future__ import annotations

import pytest
from client_support import FAKE_ACCESS_TOKEN

from helpers.api import call_api, parse_www_authenticate
from helpers.core.transport import KitHTTP

PRM = "http://127.0.0.1:8400/.well-known/oauth-protected-resource/todo-api"


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        (f'Bearer resource_metadata="{PRM}"', "Bearer", {"resource_metadata": PRM}),
        (
            'Bearer error="invalid_token", error_description="The access token expired"',
            "Bearer",
            {"error": "invalid_token", "error_description": "The access token expired"},
        ),
        (
            'Bearer error="insufficient_scope", scope="todo.write"',
            "Bearer",
            {"error": "insufficient_scope", "scope": "todo.write"},
        ),
        ('Bearer realm="api",error=invalid_token', "Bearer", {"realm": "api", "error": "invalid_token"}),
        (
            'Bearer error_description="a \\"quoted\\" word, and a comma"',
            "Bearer",
            {"error_description": 'a "quoted" word, and a comma'},
        ),
        ("Bearer", "Bearer", {}),
    ],
    ids=[
        "resource_metadata_only",
        "invalid_token",
        "insufficient_scope",
        "unquoted_values",
        "escaped_quotes",
        "bare_scheme",
    ],
)
def test_www_authenticate_is_parsed_into_scheme_and_parameters(header, scheme, params):
    (challenge,) = parse_www_authenticate(header)
    assert (challenge.scheme, challenge.params) == (scheme, params)


def test_two_challenges_are_both_read():
    challenges = parse_www_authenticate('DPoP algs="ES256", Bearer error="invalid_token"')
    assert [(c.scheme, c.params) for c in challenges] == [
        ("DPoP", {"algs": "ES256"}),
        ("Bearer", {"error": "invalid_token"}),
    ]


@pytest.mark.parametrize(
    ("header", "phrase"),
    [
        (f'Bearer resource_metadata="{PRM}"', "no error code"),
        ('Bearer error="invalid_token"', "get a new one"),
        (
            'Bearer error="insufficient_scope", scope="todo.write"',
            "scope=todo.write: the scope(s) this request needs",
        ),
        (f'Bearer error="invalid_token", resource_metadata="{PRM}"', "RFC 9728 §5.1"),
    ],
    ids=["no_token_sent", "invalid_token", "insufficient_scope", "resource_metadata"],
)
def test_each_challenge_is_explained_in_plain_words(header, phrase):
    (challenge,) = parse_www_authenticate(header)
    assert phrase in " ".join(challenge.explain())


def test_call_api_returns_the_body_or_the_parsed_challenge(tmp_path, local_server):
    http = KitHTTP(phase="04", log_dir=tmp_path)
    good = call_api(http, f"{local_server}/api/todos", FAKE_ACCESS_TOKEN)
    assert (good.ok, good.body, good.challenge) == (True, {"items": []}, None)
    bad = call_api(http, f"{local_server}/api/todos", "eyJ.wrong.token")
    assert (bad.status, bad.challenge.error) == (401, "invalid_token")
    assert "error=invalid_token" in repr(bad) and "The token is expired" in repr(bad)
    assert FAKE_ACCESS_TOKEN not in repr(good.curl())
