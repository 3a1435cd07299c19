"""The sandbox's System Log: Okta-shaped events, no secret in them, filtering, SSWS, X-Okta-Request-Id.

Everything goes through real HTTP against a throwaway sandbox; the flows that fill the log are made
with the kit's own helpers.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from teaching_support import logs

from helpers import flow
from helpers.api import call_api
from helpers.jwt_bearer import jwt_bearer_form
from helpers.sandbox_client.headless_signin import find_password_form, sign_in_headless
from helpers.signin import code_exchange_form, new_authorization_request
from sandbox import events as sandbox_events
from sandbox.system_log import API_TOKEN_FILE, ensure_api_token, read_api_token
from sandbox.testing import running_sandbox

REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{20,}")
OKTA_TOKEN_FORM = re.compile(r"00[A-Za-z0-9_-]{40}")


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def events_of(lab: Any, request_id: str) -> list[dict[str, Any]]:
    answer = logs(lab, filter=f'transaction.id eq "{request_id}"')
    assert answer.status_code == 200, answer.text
    return answer.json()


# --- X-Okta-Request-Id ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/.well-known/openid-configuration", 200),
        ("GET", "/oauth2/v1/keys", 200),
        ("GET", "/oauth2/default/.well-known/oauth-authorization-server", 200),
        ("POST", "/oauth2/v1/token", 400),
        ("GET", "/oauth2/v1/authorize?client_id=nobody", 400),
        ("GET", "/todo-api/todos", 401),
        ("GET", "/no/such/path", 404),
        ("DELETE", "/oauth2/v1/token", 405),
        ("GET", "/api/v1/logs", 401),
        ("GET", "/oauth2/nosuchserver/v1/keys", 400),
    ],
    ids=lambda v: str(v),
)
def test_every_response_carries_an_okta_request_id(lab, method, path, status):
    answer = requests.request(method, lab.url + path, timeout=10, allow_redirects=False)
    assert answer.status_code == status
    assert REQUEST_ID.fullmatch(answer.headers["X-Okta-Request-Id"])


def test_request_ids_differ_between_requests(lab):
    ids = {
        requests.get(lab.url + "/oauth2/v1/keys", timeout=10).headers["X-Okta-Request-Id"] for _ in range(5)
    }
    assert len(ids) == 5


# --- What an event records --------------------------------------------------------------------------


def test_a_refusal_is_an_okta_log_event_with_the_catalogs_reason(kit, lab):
    url = kit.settings.org_token_url
    claims = kit.signer.claims_for(url)
    claims["aud"] = kit.settings.org_issuer
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "requested_token_type": "urn:ietf:params:oauth:token-type:id-jag",
        "audience": kit.settings.audience,
        "scope": "todo.read",
        "subject_token": kit.require("id_token").value,
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": kit.signer.sign(claims),
    }
    answer = requests.post(url, data=form, timeout=10)
    assert answer.status_code == 401
    (event,) = events_of(lab, answer.headers["X-Okta-Request-Id"])
    assert event["eventType"] == "sandbox.oauth2.token.client_authentication"
    assert event["outcome"] == {"result": "FAILURE", "reason": "client_assertion_invalid_audience"}
    assert event["severity"] == "WARN"
    assert event["displayMessage"] == "OAuth2 client authentication"
    assert event["actor"]["id"] == kit.settings.agent_client_id
    assert event["actor"]["type"] == "PublicClientApp"
    assert event["client"]["ipAddress"] == "127.0.0.1"
    assert event["transaction"] == {"type": "WEB", "id": answer.headers["X-Okta-Request-Id"], "detail": {}}
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", event["uuid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["published"])
    debug = event["debugContext"]["debugData"]
    assert debug["requestUri"] == "/oauth2/v1/token"
    assert debug["grantType"] == form["grant_type"]
    assert debug["requestedScopes"] == "todo.read"
    assert debug["audience"] == kit.settings.audience
    assert debug["aud"] == kit.settings.org_issuer
    assert debug["expected"] == url
    assert debug["status"] == "401" and debug["error"] == "invalid_client"
    assert debug["clientAssertionJti"] == claims["jti"]


def test_a_grant_issued_is_a_success_event_naming_the_user_and_the_token_by_jti(kit, lab):
    response = flow.run_token_exchange(kit)
    (event,) = events_of(lab, response.headers["X-Okta-Request-Id"])
    id_jag_claims = json.loads(base64.urlsafe_b64decode(response["access_token"].split(".")[1] + "=="))
    assert event["eventType"] == "app.oauth2.token.grant.id_jag"
    assert event["outcome"] == {"result": "SUCCESS", "reason": None}
    assert event["severity"] == "INFO"
    user, token = event["target"]
    assert (user["type"], user["alternateId"]) == ("User", "alice@example.com")
    assert (token["type"], token["id"]) == ("id_jag", id_jag_claims["jti"])
    assert token["detailEntry"]["audience"] == kit.settings.audience
    assert event["debugContext"]["debugData"]["grantedScopes"] == "todo.read"


#: What each step of the flow records when it succeeds.
SUCCESS_EVENTS = {
    "user.session.start",  # the sign-in form
    "app.oauth2.authorize.code",  # the authorization code
    "app.oauth2.token.grant.id_token",  # the code for tokens
    "app.oauth2.token.grant.id_jag",  # the token exchange
    "app.oauth2.as.token.grant.access_token",  # the JWT bearer grant
    "sandbox.api.access",  # the API call
}


def test_each_step_of_the_flow_records_its_success_event_type(kit, lab):
    start = lab.sandbox.events.cursor()
    flow.run_sign_in(kit)
    flow.run_token_exchange(kit)
    flow.run_jwt_bearer(kit)
    flow.run_api_call(kit)
    recorded = [(e["eventType"], e["outcome"]["result"]) for e in lab.sandbox.events.list(since=start)]
    assert sorted(recorded) == sorted((t, "SUCCESS") for t in SUCCESS_EVENTS)
    assert set(SUCCESS_EVENTS) <= set(sandbox_events.EVENT_TYPES)


# --- No secret in the log ---------------------------------------------------------------------------


def _secrets_of_a_busy_flow(kit: Any, lab: Any) -> list[str]:
    """Run a flow with successes and failures; return every secret it sent or received."""
    settings = kit.settings
    secrets: list[str] = [lab.api_token, settings.sandbox_password, "Not-The-Password-42!"]
    other = lab.config.clients["0oaOtherWebApp000001"]
    secrets.append(other.client_secret)
    # A wrong password on the sign-in page, then a good sign-in.
    request = new_authorization_request(settings)
    page = requests.get(request.url, timeout=10)
    form = find_password_form(page.text)
    data = {i["name"]: i["value"] for i in form["inputs"] if i["name"]}
    data.update(username=settings.sandbox_username, password="Not-The-Password-42!")
    assert requests.post(page.url, data=data, timeout=10, allow_redirects=False).status_code == 401
    callback = sign_in_headless(kit.http, request, settings)
    assertion = kit.new_assertion(settings.org_token_url)
    tokens = kit.token_request(
        settings.org_token_url, code_exchange_form(request, callback), assertion=assertion
    )
    secrets += [callback.code, request.pkce.verifier, assertion, tokens["id_token"], tokens["access_token"]]
    # The same assertion again (refused), the other app's secret with a bad code (refused).
    again = requests.post(
        settings.org_token_url,
        data={
            **code_exchange_form(request, callback),
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
        timeout=10,
    )
    assert again.json()["error"] == "invalid_client"
    basic = requests.post(
        settings.org_token_url,
        data={"grant_type": "authorization_code", "code": "bad", "redirect_uri": settings.redirect_uri},
        auth=(other.client_id, other.client_secret),
        timeout=10,
    )
    assert basic.json()["error"] == "invalid_grant"
    kit.remember("id_token", tokens["id_token"])
    exchange = flow.run_token_exchange(kit)
    secrets += [exchange["access_token"], exchange.assertion]
    id_jag = exchange["access_token"]
    bearer = kit.token_request(settings.custom_token_url, jwt_bearer_form(id_jag))
    secrets += [bearer["access_token"], bearer.assertion]
    replayed = requests.post(
        settings.custom_token_url,
        data={**jwt_bearer_form(id_jag), **kit.signer.form_fields(settings.custom_token_url)},
        timeout=10,
    )
    assert replayed.json()["error"] == "invalid_grant"
    assert call_api(kit.http, settings.api_url, bearer["access_token"]).status == 200
    head, payload, signature = bearer["access_token"].split(".")
    assert call_api(kit.http, settings.api_url, f"{head}.{payload}x.{signature}").status == 401
    # Every JWT's signature part on its own, too: a log holding it holds the token.
    secrets += [s.split(".")[2] for s in secrets if s.count(".") == 2]
    return [s for s in secrets if s]


def test_no_secret_token_or_assertion_appears_in_any_event_or_log_line(kit, lab, caplog):
    caplog.set_level(logging.INFO)  # what `python -m sandbox serve` writes to its log
    start = lab.sandbox.events.cursor()
    secrets = _secrets_of_a_busy_flow(kit, lab)
    recorded = lab.sandbox.events.list(since=start)
    assert len(recorded) >= 10
    over_http = logs(lab, limit="1000").text
    in_memory = json.dumps(recorded)
    log_lines = "\n".join(r.getMessage() for r in caplog.records)
    for secret in secrets:
        assert secret not in in_memory, f"a secret ({secret[:6]}…) is in an event"
        assert secret not in over_http, f"a secret ({secret[:6]}…) is in /api/v1/logs"
        assert secret not in log_lines, f"a secret ({secret[:6]}…) is in the sandbox's log"
    reasons = {e["outcome"]["reason"] for e in recorded}
    assert {"INVALID_CREDENTIALS", "client_assertion_already_used", "id_jag_replayed"} <= reasons


def test_a_token_in_an_unexpected_place_is_stored_as_its_fingerprint():
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXBhcnQtb2YtdGhlLXRva2Vu"
    scrubbed = sandbox_events.scrub(f"detail with {token} inside")
    assert token not in scrubbed
    assert scrubbed == f"detail with {sandbox_events.fingerprint(token)} inside"
    assert re.fullmatch(r"sha256:[A-Za-z0-9_-]{16}", sandbox_events.fingerprint(token))


# --- Filtering --------------------------------------------------------------------------------------


def test_filtering_by_transaction_id_returns_that_requests_events_only(lab):
    answers = [requests.get(f"{lab.url}/todo-api/todos", timeout=10) for _ in range(3)]
    for answer in answers:
        found = events_of(lab, answer.headers["X-Okta-Request-Id"])
        assert [e["transaction"]["id"] for e in found] == [answer.headers["X-Okta-Request-Id"]]


def test_filtering_by_time_keeps_the_events_between_since_and_until(lab):
    before = time.time()
    time.sleep(0.01)
    first = requests.get(f"{lab.url}/no/such/path", timeout=10).headers["X-Okta-Request-Id"]
    time.sleep(0.05)
    middle = time.time()
    time.sleep(0.05)
    second = requests.get(f"{lab.url}/no/such/path", timeout=10).headers["X-Okta-Request-Id"]
    time.sleep(0.01)
    after = time.time()
    window = logs(
        lab, since=iso(before), until=iso(after), filter='eventType eq "sandbox.http.request"'
    ).json()
    assert [e["transaction"]["id"] for e in window] == [first, second]
    early = logs(
        lab, since=iso(before), until=iso(middle), filter='eventType eq "sandbox.http.request"'
    ).json()
    assert [e["transaction"]["id"] for e in early] == [first]
    late = logs(lab, since=iso(middle), filter='eventType eq "sandbox.http.request"').json()
    assert [e["transaction"]["id"] for e in late] == [second]


def test_events_come_oldest_first_unless_descending_and_limit_pages_with_a_next_link(lab):
    start = time.time()
    ids = [requests.get(f"{lab.url}/todo-api/me", timeout=10).headers["X-Okta-Request-Id"] for _ in range(3)]
    query = {"since": iso(start - 0.01), "filter": 'eventType eq "sandbox.api.access"'}
    ascending = [e["transaction"]["id"] for e in logs(lab, **query).json()]
    assert ascending == ids
    descending = [e["transaction"]["id"] for e in logs(lab, sortOrder="DESCENDING", **query).json()]
    assert descending == ids[::-1]
    page = logs(lab, limit="2", **query)
    assert [e["transaction"]["id"] for e in page.json()] == ids[:2]
    following = re.search(r'<([^>]+)>; rel="next"', page.headers["Link"]).group(1)
    rest = requests.get(following, headers={"Authorization": f"SSWS {lab.api_token}"}, timeout=10).json()
    assert [e["transaction"]["id"] for e in rest] == ids[2:]


@pytest.mark.parametrize(
    ("expression", "matches"),
    [
        ('eventType eq "sandbox.api.access"', True),
        ('eventType eq "sandbox.api.access" and outcome.result eq "FAILURE"', True),
        ('eventType eq "sandbox.api.access" and outcome.result eq "SUCCESS"', False),
        ('eventType eq "nothing" or outcome.reason eq "invalid_token"', True),
        ('(eventType sw "sandbox." or eventType eq "x") and not (outcome.result eq "SUCCESS")', True),
        ('displayMessage co "API"', True),
        ('debugContext.debugData.requestUri eq "/todo-api/todos"', True),
        ("target.id pr", False),
        ('EVENTTYPE eq "sandbox.api.access"', False),
    ],
)
def test_filter_expressions_follow_the_scim_like_syntax(lab, expression, matches):
    answer = requests.get(f"{lab.url}/todo-api/todos", timeout=10)
    rid = answer.headers["X-Okta-Request-Id"]
    found = logs(lab, filter=f'transaction.id eq "{rid}" and ({expression})')
    assert found.status_code == 200
    assert bool(found.json()) is matches


@pytest.mark.parametrize(
    ("params", "code", "summary"),
    [
        ({"filter": "eventType eq"}, "E0000031", "Invalid search criteria."),
        ({"filter": 'eventType equals "x"'}, "E0000031", "Invalid search criteria."),
        ({"filter": '(eventType eq "x"'}, "E0000031", "Invalid search criteria."),
        ({"filter": 'eventType eq "x" "y"'}, "E0000031", "Invalid search criteria."),
        ({"filter": '"x" eq eventType'}, "E0000031", "Invalid search criteria."),
        ({"since": "yesterday"}, "E0000001", "Api validation failed: since"),
        ({"until": "2026-13-45T00:00:00Z"}, "E0000001", "Api validation failed: until"),
        ({"limit": "0"}, "E0000001", "Api validation failed: limit"),
        ({"limit": "1001"}, "E0000001", "Api validation failed: limit"),
        ({"limit": "ten"}, "E0000001", "Api validation failed: limit"),
        ({"sortOrder": "UP"}, "E0000001", "Api validation failed: sortOrder"),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else str(v),
)
def test_a_bad_query_is_a_400_with_oktas_error_object(lab, params, code, summary):
    answer = logs(lab, **params)
    assert answer.status_code == 400
    body = answer.json()
    assert (body["errorCode"], body["errorSummary"]) == (code, summary)
    assert body["errorCauses"] and body["errorCauses"][0]["errorSummary"]


# --- The API token --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("SSWS 00wrongwrongwrongwrongwrongwrongwrongwrongwr", 401),
        ("SSWS ", 401),
        ("Bearer {token}", 401),
        ("Basic {token}", 401),
        ("SSWS {token}x", 401),
        ("SSWS {token}", 200),
        ("ssws {token}", 200),
    ],
    ids=lambda v: str(v).replace("{token}", "<the token>") if v is not None else "no header",
)
def test_the_log_wants_the_api_token_as_ssws_and_answers_401_with_oktas_error_object(
    lab, authorization, status
):
    headers = {} if authorization is None else {"Authorization": authorization.format(token=lab.api_token)}
    answer = requests.get(f"{lab.url}/api/v1/logs", headers=headers, timeout=10)
    assert answer.status_code == status
    if status == 401:
        body = answer.json()
        assert set(body) == {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}
        assert (body["errorCode"], body["errorSummary"], body["errorLink"]) == (
            "E0000011",
            "Invalid token provided",
            "E0000011",
        )
        assert "error" not in body and lab.api_token not in answer.text
    else:
        assert isinstance(answer.json(), list)


def test_the_api_token_is_okta_shaped_private_and_kept_across_restarts(tmp_path):
    data_dir = tmp_path / "data"
    with running_sandbox(data_dir=data_dir, base_dir=tmp_path) as first:
        token = first.api_token
    path = data_dir / API_TOKEN_FILE
    assert OKTA_TOKEN_FORM.fullmatch(token)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in data_dir.iterdir() if p.name.startswith(f".{API_TOKEN_FILE}")], (
        "a temp file is left"
    )
    with running_sandbox(data_dir=data_dir, base_dir=tmp_path) as second:
        assert second.api_token == token
        assert logs(second).status_code == 200


def test_a_malformed_token_file_is_refused_with_a_message_naming_it(tmp_path):
    (tmp_path / API_TOKEN_FILE).write_text("not a token\n")
    assert read_api_token(tmp_path) is None
    with pytest.raises(RuntimeError, match="does not hold an API token"):
        ensure_api_token(tmp_path)


def test_python_m_sandbox_token_prints_the_data_folders_token(tmp_path):
    data_dir = tmp_path / "data"
    run = subprocess.run(
        [sys.executable, "-m", "sandbox", "token", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert run.stdout.strip() == read_api_token(data_dir)
    assert OKTA_TOKEN_FORM.fullmatch(run.stdout.strip())
