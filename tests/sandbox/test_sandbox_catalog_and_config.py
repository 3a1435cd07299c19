"""Refusal codes are Okta's (or one of a few local ones); the configuration checks itself."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from sandbox.config import ConfigError, deep_merge, load_config
from sandbox.errors import LOCAL_ERRORS, catalog, lookup, refuse

PACKAGE = Path(__file__).resolve().parents[2] / "sandbox"
CATALOG_JSON = json.loads((PACKAGE / "data" / "okta-oauth2-errors.json").read_text())


def refuse_calls() -> list[tuple[str, int, ast.Call]]:
    """Every `refuse(...)` call in the package: (file, line, call)."""
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "refuse":
                found.append((path.name, node.lineno, node))
    return found


def test_the_package_refuses_in_many_places() -> None:
    assert len(refuse_calls()) > 80


def test_every_internal_error_code_the_sandbox_uses_is_in_the_copied_catalog() -> None:
    okta_codes = {e["internalErrorCode"] for e in CATALOG_JSON["errors"]}
    unknown = []
    for name, line, call in refuse_calls():
        first = call.args[0] if call.args else None
        assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
            f"{name}:{line}: code must be a literal"
        )
        if first.value not in okta_codes and first.value not in LOCAL_ERRORS:
            unknown.append(f"{name}:{line}: {first.value}")
    assert unknown == []


def test_the_local_codes_are_few_and_none_shadows_an_okta_code() -> None:
    okta_codes = {e["internalErrorCode"] for e in CATALOG_JSON["errors"]}
    assert set(LOCAL_ERRORS) == {
        "unsupported_response_type", "http_bad_request", "http_not_found", "http_method_not_allowed",
        "http_request_too_large", "http_server_error",
    }  # fmt: skip
    assert not set(LOCAL_ERRORS) & okta_codes


def test_every_refusal_passes_as_many_values_as_its_description_has_placeholders() -> None:
    problems = []
    for name, line, call in refuse_calls():
        code = call.args[0].value
        overrides = any(k.arg == "description" for k in call.keywords)
        given = len(call.args) - 1
        expected = 0 if overrides else lookup(code).placeholders()
        if given != expected:
            problems.append(f"{name}:{line}: {code} gets {given} value(s), its description takes {expected}")
    assert problems == []


def test_the_copied_catalog_is_okta_release_2026_08_1_unchanged_in_shape() -> None:
    assert CATALOG_JSON["release"] == "2026.08.1"
    assert len(catalog()) == len(CATALOG_JSON["errors"]) == 326
    for entry in CATALOG_JSON["errors"]:
        assert set(entry) >= {"statusCode", "errorCode", "internalErrorCode", "errorDescription"}


@pytest.mark.parametrize(
    ("code", "values", "expected"),
    [
        (
            "scope_denied",
            ["todo.admin"],
            "Some of the requested scopes were denied by the policy. Denied scopes: [todo.admin].",
        ),
        ("too_many_resources", [1], "Too many 'resource' parameters in the request; maximum allowed is 1."),
        (
            "required_scope_combination",
            ["a b", "c"],
            "The following scopes: [a b] must be requested together with [c].",
        ),
        (
            "client_assertion_invalid_audience",
            [],
            "The audience claim for client_assertion must be the endpoint invoked for the request.",
        ),
    ],
)
def test_placeholders_are_filled_in_order(code: str, values: list[object], expected: str) -> None:
    error = refuse(code, *values)
    assert error.description == expected
    assert error.body() == {"error": lookup(code).error, "error_description": expected}


def test_refuse_rejects_a_wrong_number_of_values_and_overriding_a_specific_description() -> None:
    with pytest.raises(ValueError, match="takes 1 placeholder"):
        refuse("too_many_resources")
    with pytest.raises(ValueError, match="own description"):
        refuse("id_jag_expired", description="something else")
    with pytest.raises(KeyError):
        refuse("no_such_code_anywhere")


# --- configuration -----------------------------------------------------------------------------


def test_default_configuration_has_okta_like_ids_and_the_demo_users() -> None:
    config = load_config()
    assert {u.username for u in config.users.values()} == {"alice@example.com", "bob@example.com"}
    for user in config.users.values():
        assert re.fullmatch(r"00u[A-Za-z0-9]{17}", user.id)
    assert set(config.clients) == {
        "wlpSandboxAgent00001",
        "0oaOtherWebApp000001",
        "0oaPublicSpa00000001",
        "wlpExpiredIdToken001",  # issue 4: 05_troubleshooting's expired ID token (id_token_lifetime < 0)
        "0oaOriginWebApp00001",  # issue 8: the origin app of 06_origin_app_delegation (delegation link)
        "0oaMcpSdkClient00001",  # 07: the MCP SDK's ID-JAG client, which authenticates with a secret only
    }
    assert config.clients["wlpExpiredIdToken001"].id_token_lifetime == -3600
    assert all(len(cid) == 20 for cid in config.clients)
    agent = config.clients["wlpSandboxAgent00001"]
    assert agent.auth_methods == ("private_key_jwt",)
    assert agent.jwks_file == Path.cwd().resolve() / ".keys" / "agent.jwks.json"
    assert config.servers["default"].public_scopes == ["todo.read", "todo.write"]
    assert config.servers["reports"].policies == ()
    assert config.lifetimes.id_jag == 300 and config.lifetimes.clock_skew == 60


def test_relative_jwks_paths_resolve_against_the_base_dir(tmp_path: Path) -> None:
    config = load_config(base_dir=tmp_path)
    assert (
        config.clients["wlpSandboxAgent00001"].jwks_file == tmp_path.resolve() / ".keys" / "agent.jwks.json"
    )


def test_overrides_merge_tables_and_none_deletes() -> None:
    merged = deep_merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"c": None, "e": 3}, "d": [2]})
    assert merged == {"a": {"b": 1, "e": 3}, "d": [2]}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"clients": {"wlpSandboxAgent00001": {"token_endpoint_auth_methods": ["tls_client_auth"]}}},
         'has "tls_client_auth", expected one of'),
        ({"clients": {"wlpSandboxAgent00001": {"jwks_uri": "http://127.0.0.1:1/jwks"}}},
         "set exactly one of jwks_file, jwks_uri, jwks"),
        ({"clients": {"0oaOtherWebApp000001": {"client_secret": None}}}, "client_secret is missing"),
        ({"resource_connections": {"x": {"client_id": "wlpSandboxAgent00001", "authorization_server": "nope",
                                         "scopes": []}}},
         'authorization_server is "nope", expected one of'),
        ({"lifetimes": {"id_jag": 0}}, "config.lifetimes.id_jag is 0, expected an integer >= 1"),
        ({"lifetimes": {"id_jag_lifetime": 5}}, "config.lifetimes has unknown key(s) ['id_jag_lifetime']"),
        ({"api": {"path": "/oauth2/api"}}, 'config.api.path is "/oauth2/api"'),
    ],
)  # fmt: skip
def test_configuration_errors_name_the_field_the_value_and_the_expectation(
    overrides: dict, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(overrides=overrides)
    assert message in str(raised.value)
