"""Happy paths over real HTTP: discovery, sign-in, code, token exchange, JWT bearer, the API."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from pathlib import Path

import pytest
import requests
from sandbox_flows import (
    AGENT,
    ALICE_ID,
    BOB,
    ID_JAG_TYPE,
    OTHER_APP,
    OTHER_APP_SECRET,
    REDIRECT_URI,
    SPA,
    Signer,
    authorize_params,
    code_for_tokens,
    decode_unverified,
    full_flow,
    jwt_bearer,
    parse_page,
    post,
    server_key,
    shared_overrides,
    sign,
    sign_in,
    submit_sign_in,
    token_exchange,
    verify_with_jwks,
)

from helpers.core.keys import AgentKey
from sandbox.testing import RunningSandbox, running_sandbox

ID_JAG_PROFILE = "urn:ietf:params:oauth:grant-profile:id-jag"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_org_discovery_document_names_the_org_url_as_issuer_and_lists_the_id_jag_type(
    sb: RunningSandbox,
) -> None:
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        meta = requests.get(sb.url + path, timeout=5).json()
        assert meta["issuer"] == sb.url
        assert meta["authorization_endpoint"] == sb.url + "/oauth2/v1/authorize"
        assert meta["token_endpoint"] == sb.url + "/oauth2/v1/token"
        assert meta["jwks_uri"] == sb.url + "/oauth2/v1/keys"
        assert meta["userinfo_endpoint"] == sb.url + "/oauth2/v1/userinfo"
        assert meta["identity_chaining_requested_token_types_supported"] == [ID_JAG_TYPE]
        assert meta["code_challenge_methods_supported"] == ["S256"]
        assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
        assert set(meta["token_endpoint_auth_signing_alg_values_supported"]) == {
            "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"
        }  # fmt: skip
        assert "urn:ietf:params:oauth:grant-type:token-exchange" in meta["grant_types_supported"]


def test_custom_server_metadata_is_the_same_at_its_three_urls_and_lists_public_scopes_only(
    sb: RunningSandbox,
) -> None:
    urls = [
        sb.url + "/oauth2/default/.well-known/oauth-authorization-server",
        sb.url + "/.well-known/oauth-authorization-server/oauth2/default",
        sb.url + "/oauth2/default/.well-known/openid-configuration",
    ]
    documents = [requests.get(u, timeout=5).json() for u in urls]
    assert documents[0] == documents[1] == documents[2]
    meta = documents[0]
    assert meta["issuer"] == sb.url + "/oauth2/default"
    assert meta["token_endpoint"] == sb.url + "/oauth2/default/v1/token"
    assert meta["scopes_supported"] == ["todo.read", "todo.write"]  # todo.admin is not public
    assert "urn:ietf:params:oauth:grant-type:jwt-bearer" in meta["grant_types_supported"]
    assert ID_JAG_PROFILE in meta["authorization_grant_profiles_supported"]


@pytest.mark.parametrize("key", ["rsa", "ec"])
def test_agent_runs_the_whole_flow_with_an_rsa_or_ec_key(
    sb: RunningSandbox, key: str, signer: Signer, ec_signer: Signer
) -> None:
    agent = signer if key == "rsa" else ec_signer
    org = sb.url
    # Step 1: sign in through the form, then code for tokens with a client assertion.
    grant = sign_in(org)
    step1 = code_for_tokens(org, agent, grant)
    assert step1.status_code == 200, step1.text
    tokens = step1.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "openid profile email"
    assert "refresh_token" not in tokens
    assert step1.headers["Cache-Control"] == "no-store"
    header, _ = decode_unverified(tokens["id_token"])
    assert header["alg"] == "RS256" and header["kid"]
    id_claims = verify_with_jwks(tokens["id_token"], org + "/oauth2/v1/keys")
    assert id_claims["iss"] == org
    assert id_claims["aud"] == AGENT
    assert id_claims["sub"] == ALICE_ID
    assert id_claims["nonce"] == grant.nonce
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()
    assert id_claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert id_claims["amr"] == ["pwd"] and id_claims["ver"] == 1 and id_claims["jti"].startswith("ID.")
    assert id_claims["preferred_username"] == "alice@example.com"
    assert id_claims["name"] == "Alice Liddell" and id_claims["email"] == "alice@example.com"
    assert id_claims["idp"] == "00oSandb0xOrg0000001"
    assert (
        id_claims["iat"] <= time.time() + 1 < id_claims["exp"] and id_claims["auth_time"] <= id_claims["iat"]
    )

    # Step 2: token exchange for an ID-JAG.
    step2 = token_exchange(org, agent, tokens["id_token"], scope="todo.read todo.write")
    assert step2.status_code == 200, step2.text
    exchanged = step2.json()
    assert step2.headers["Cache-Control"] == "no-store"
    assert exchanged["issued_token_type"] == ID_JAG_TYPE
    assert exchanged["token_type"] == "N_A"
    assert exchanged["expires_in"] == 300
    assert exchanged["scope"] == "todo.read todo.write"
    assert "refresh_token" not in exchanged
    jag_header, _ = decode_unverified(exchanged["access_token"])
    assert jag_header["typ"] == "oauth-id-jag+jwt" and jag_header["kid"] == header["kid"]
    jag = verify_with_jwks(exchanged["access_token"], org + "/oauth2/v1/keys")
    assert jag["iss"] == org and jag["sub"] == ALICE_ID
    assert jag["aud"] == org + "/oauth2/default"
    assert jag["client_id"] == AGENT
    assert jag["exp"] - jag["iat"] == 300 and jag["jti"]
    assert jag["scope"] == "todo.read todo.write"
    assert jag["auth_time"] == id_claims["auth_time"] and jag["amr"] == ["pwd"]
    assert "resource" not in jag

    # Step 3: JWT bearer grant at the custom server.
    step3 = jwt_bearer(org, agent, exchanged["access_token"])
    assert step3.status_code == 200, step3.text
    issued = step3.json()
    assert issued["token_type"] == "Bearer" and issued["expires_in"] == 3600
    assert issued["scope"] == "todo.read todo.write"
    assert "refresh_token" not in issued
    at = verify_with_jwks(issued["access_token"], org + "/oauth2/default/v1/keys")
    assert set(at) == {"ver", "jti", "iss", "aud", "iat", "exp", "cid", "uid", "scp", "sub", "auth_time"}
    assert at["iss"] == org + "/oauth2/default" and at["aud"] == "api://default"
    assert at["cid"] == AGENT and at["uid"] == ALICE_ID and at["sub"] == "alice@example.com"
    assert at["scp"] == ["todo.read", "todo.write"] and at["auth_time"] == id_claims["auth_time"]

    # Step 4: the API.
    me = requests.get(org + "/todo-api/me", headers=bearer(issued["access_token"]), timeout=5)
    assert me.status_code == 200
    assert (
        me.json()["uid"] == ALICE_ID
        and me.json()["cid"] == AGENT
        and me.json()["scp"] == ["todo.read", "todo.write"]
    )
    added = requests.post(
        org + "/todo-api/todos",
        json={"title": f"buy tea ({key})"},
        headers=bearer(issued["access_token"]),
        timeout=5,
    )
    assert added.status_code == 201 and added.json()["title"] == f"buy tea ({key})"
    listed = requests.get(org + "/todo-api/todos", headers=bearer(issued["access_token"]), timeout=5)
    assert listed.status_code == 200
    assert added.json()["id"] in [t["id"] for t in listed.json()["todos"]]


def test_token_exchange_grants_only_the_scopes_the_resource_connection_allows(
    sb: RunningSandbox, signer: Signer
) -> None:
    tokens = code_for_tokens(sb.url, signer, sign_in(sb.url)).json()
    answer = token_exchange(sb.url, signer, tokens["id_token"], scope="todo.read todo.admin")
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "todo.read"
    assert decode_unverified(answer.json()["access_token"])[1]["scope"] == "todo.read"


def test_resource_is_carried_into_the_id_jag_and_must_match_at_the_target(
    sb: RunningSandbox, signer: Signer
) -> None:
    tokens = code_for_tokens(sb.url, signer, sign_in(sb.url)).json()
    resource = sb.url + "/todo-api"
    answer = token_exchange(sb.url, signer, tokens["id_token"], resource=resource)
    assert answer.status_code == 200, answer.text
    assert decode_unverified(answer.json()["access_token"])[1]["resource"] == resource
    redeemed = jwt_bearer(sb.url, signer, answer.json()["access_token"], resource=resource)
    assert redeemed.status_code == 200, redeemed.text


@pytest.mark.parametrize(
    "repeat_resource", [True, False], ids=["resource sent again", "resource in the id-jag only"]
)
def test_the_access_token_is_for_the_resource_the_id_jag_names(
    sb: RunningSandbox, signer: Signer, repeat_resource: bool
) -> None:
    # Okta ("Exchange ID-JAG for access token"): with `resource`, aud is that resource URL; MCP EMA §5.1:
    # the token is audience-restricted to the resource the ID-JAG names.
    tokens = code_for_tokens(sb.url, signer, sign_in(sb.url)).json()
    resource = sb.url + "/todo-api"
    id_jag = token_exchange(sb.url, signer, tokens["id_token"], resource=resource).json()["access_token"]
    redeemed = jwt_bearer(sb.url, signer, id_jag, resource=resource if repeat_resource else None)
    assert redeemed.status_code == 200, redeemed.text
    assert decode_unverified(redeemed.json()["access_token"])[1]["aud"] == resource
    me = requests.get(sb.url + "/todo-api/me", headers=bearer(redeemed.json()["access_token"]), timeout=5)
    assert me.status_code == 200 and me.json()["aud"] == resource


def test_without_a_resource_the_access_token_is_for_the_servers_audience(
    sb: RunningSandbox, signer: Signer
) -> None:
    tokens = full_flow(sb.url, signer, scope="todo.read")
    assert decode_unverified(tokens.access_token)[1]["aud"] == "api://default"
    me = requests.get(sb.url + "/todo-api/me", headers=bearer(tokens.access_token), timeout=5)
    assert me.status_code == 200 and me.json()["aud"] == "api://default"


@pytest.mark.parametrize(
    ("sign_in_scope", "email"),
    [("openid profile email", "alice@example.com"), ("openid profile", None)],
    ids=["email scope at sign-in", "no email scope"],
)
def test_the_id_jag_carries_email_when_the_sign_in_asked_for_it(
    sb: RunningSandbox, signer: Signer, sign_in_scope: str, email: str | None
) -> None:
    # Okta release 2026.05.2 ("Email claim included in ID-JAG tokens"); ID-JAG -04 §3.1 RECOMMENDS email.
    tokens = code_for_tokens(sb.url, signer, sign_in(sb.url, scope=sign_in_scope)).json()
    answer = token_exchange(sb.url, signer, tokens["id_token"])
    assert answer.status_code == 200, answer.text
    assert decode_unverified(answer.json()["access_token"])[1].get("email") == email


def test_an_access_token_with_read_scope_only_reads(sb: RunningSandbox, signer: Signer) -> None:
    tokens = full_flow(sb.url, signer, scope="todo.read")
    assert (
        requests.get(sb.url + "/todo-api/todos", headers=bearer(tokens.access_token), timeout=5).status_code
        == 200
    )
    denied = requests.post(
        sb.url + "/todo-api/todos", json={"title": "x"}, headers=bearer(tokens.access_token), timeout=5
    )
    assert denied.status_code == 403
    assert denied.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')
    assert 'scope="todo.write"' in denied.headers["WWW-Authenticate"]


def test_public_client_redeems_its_code_with_pkce_and_no_secret(sb: RunningSandbox) -> None:
    grant = sign_in(sb.url, client_id=SPA, user=BOB)
    answer = post(
        sb.url + "/oauth2/v1/token",
        {
            "grant_type": "authorization_code",
            "client_id": SPA,
            "code": grant.code,
            "redirect_uri": grant.redirect_uri,
            "code_verifier": grant.verifier,
        },
    )
    assert answer.status_code == 200, answer.text
    assert decode_unverified(answer.json()["id_token"])[1]["aud"] == SPA


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_confidential_web_app_authenticates_with_its_secret(sb: RunningSandbox, method: str) -> None:
    grant = sign_in(sb.url, client_id=OTHER_APP)
    data = {
        "grant_type": "authorization_code",
        "code": grant.code,
        "redirect_uri": grant.redirect_uri,
        "code_verifier": grant.verifier,
    }
    if method == "client_secret_basic":
        answer = post(sb.url + "/oauth2/v1/token", data, auth=(OTHER_APP, OTHER_APP_SECRET))
    else:
        answer = post(
            sb.url + "/oauth2/v1/token", {**data, "client_id": OTHER_APP, "client_secret": OTHER_APP_SECRET}
        )
    assert answer.status_code == 200, answer.text
    assert decode_unverified(answer.json()["id_token"])[1]["aud"] == OTHER_APP


def test_wrong_password_shows_sign_in_failed_and_the_same_page_then_accepts_the_right_one(
    sb: RunningSandbox,
) -> None:
    params, _ = authorize_params()
    with requests.Session() as session:
        page = session.get(sb.url + "/oauth2/v1/authorize", params=params, timeout=5)
        assert page.status_code == 200 and "Sign-in failed" not in page.text
        failed = submit_sign_in(session, page.url, page.text, "alice@example.com", "not-her-password")
        assert failed.status_code == 401
        assert "Sign-in failed" in failed.text
        form = parse_page(failed.text).forms
        assert len(form) == 1 and {i["name"] for i in form[0]["inputs"]} >= {"username", "password"}
        again = submit_sign_in(session, page.url, failed.text, "alice@example.com", "Wonderland-2026!")
    assert again.status_code == 302
    assert again.headers["Location"].startswith(REDIRECT_URI + "?code=")
    assert f"state={params['state']}" in again.headers["Location"]


def test_sign_in_page_has_one_post_form_with_username_password_and_an_opaque_transaction(
    sb: RunningSandbox,
) -> None:
    params, _ = authorize_params()
    page = requests.get(sb.url + "/oauth2/v1/authorize", params=params, timeout=5)
    forms = parse_page(page.text).forms
    assert len(forms) == 1 and forms[0]["method"] == "post"
    inputs = {i["name"]: i for i in forms[0]["inputs"]}
    assert inputs["password"]["type"] == "password"
    assert "username" in inputs
    hidden = [i for i in forms[0]["inputs"] if i["type"] == "hidden"]
    assert hidden and all(
        params["code_challenge"] not in i["value"] and params["state"] not in i["value"] for i in hidden
    )
    assert page.headers["Cache-Control"] == "no-store"


def test_userinfo_answers_for_an_org_access_token(sb: RunningSandbox, signer: Signer) -> None:
    tokens = code_for_tokens(sb.url, signer, sign_in(sb.url)).json()
    info = requests.get(sb.url + "/oauth2/v1/userinfo", headers=bearer(tokens["access_token"]), timeout=5)
    assert info.status_code == 200
    assert info.json()["sub"] == ALICE_ID and info.json()["email"] == "alice@example.com"


def test_protected_resource_metadata_points_at_the_default_server(sb: RunningSandbox) -> None:
    for path in ("/.well-known/oauth-protected-resource/todo-api", "/.well-known/oauth-protected-resource"):
        meta = requests.get(sb.url + path, timeout=5).json()
        assert meta["resource"] == sb.url + "/todo-api"
        assert meta["authorization_servers"] == [sb.url + "/oauth2/default"]
        assert meta["scopes_supported"] == ["todo.read", "todo.write"]
        assert meta["bearer_methods_supported"] == ["header"]


def test_api_challenge_without_a_token_has_no_error_attribute(sb: RunningSandbox) -> None:
    answer = requests.get(sb.url + "/todo-api/todos", timeout=5)
    assert answer.status_code == 401
    challenge = answer.headers["WWW-Authenticate"]
    assert challenge == f'Bearer resource_metadata="{sb.url}/.well-known/oauth-protected-resource/todo-api"'
    assert "error=" not in challenge


def test_api_challenge_for_a_bad_token_names_the_error_and_the_metadata(sb: RunningSandbox) -> None:
    answer = requests.get(sb.url + "/todo-api/todos", headers=bearer("not.a.jwt"), timeout=5)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="The access token is invalid.", '
        f'resource_metadata="{sb.url}/.well-known/oauth-protected-resource/todo-api"'
    )


def test_refusals_are_recorded_in_the_event_log_with_the_internal_code(
    sb: RunningSandbox, signer: Signer
) -> None:
    before = sb.sandbox.events.cursor()
    answer = post(
        sb.url + "/oauth2/v1/token", {"grant_type": "authorization_code", "code": "x", **signer.auth(sb.url)}
    )
    assert answer.json()["error"] == "invalid_client"
    events = sb.sandbox.events.list(since=before)
    assert events[-1]["outcome"] == {"result": "FAILURE", "reason": "client_assertion_invalid_audience"}
    assert events[-1]["actor"]["id"] == AGENT
    assert events[-1]["transaction"]["id"] == answer.headers["X-Okta-Request-Id"]
    assert events[-1]["debugContext"]["debugData"]["requestUri"] == "/oauth2/v1/token"


def test_an_id_jag_is_redeemed_once_even_by_concurrent_requests(sb: RunningSandbox, signer: Signer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    tokens = code_for_tokens(sb.url, signer, sign_in(sb.url)).json()
    id_jag = token_exchange(sb.url, signer, tokens["id_token"]).json()["access_token"]
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: jwt_bearer(sb.url, signer, id_jag), range(6)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 400, 400, 400, 400, 400]
    assert {a.json()["error"] for a in answers if a.status_code == 400} == {"invalid_grant"}


def test_the_target_grants_the_id_jag_scopes_that_its_policy_allows(
    sb: RunningSandbox, signer: Signer
) -> None:
    now = int(time.time())
    org_key = server_key(sb.data_dir, "org")
    claims = {
        "iss": sb.url, "sub": ALICE_ID, "aud": sb.url + "/oauth2/default", "client_id": AGENT,
        "jti": secrets.token_urlsafe(16), "iat": now, "exp": now + 120, "scope": "todo.read todo.admin",
    }  # fmt: skip
    id_jag = sign(org_key, claims, {"alg": "RS256", "kid": org_key.thumbprint(), "typ": "oauth-id-jag+jwt"})
    answer = jwt_bearer(sb.url, signer, id_jag)
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "todo.read"
    assert decode_unverified(answer.json()["access_token"])[1]["scp"] == ["todo.read"]


def test_the_api_fetches_the_servers_published_keys_once_and_refetches_at_most_every_few_seconds(
    agent_jwks_rsa_ec: Path, signer: Signer, stranger_key: AgentKey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sandbox.access")
    overrides = {**shared_overrides(agent_jwks_rsa_ec), "api": {"jwks_min_refetch_seconds": 30}}
    with running_sandbox(overrides=overrides) as running:
        tokens = full_flow(running.url, signer, scope="todo.read")

        def fetches() -> int:
            return sum("GET /oauth2/default/v1/keys 200" in r.getMessage() for r in caplog.records)

        assert fetches() == 0  # nothing has asked the API yet
        for _ in range(3):
            answer = requests.get(
                running.url + "/todo-api/me", headers=bearer(tokens.access_token), timeout=5
            )
            assert answer.status_code == 200
        assert fetches() == 1  # fetched once, then cached
        unknown = Signer(stranger_key).assertion("x", header={"kid": "not-a-server-key"})
        for _ in range(3):
            answer = requests.get(running.url + "/todo-api/me", headers=bearer(unknown), timeout=5)
            assert answer.status_code == 401
        assert fetches() == 1  # unknown kids do not refetch within the interval
