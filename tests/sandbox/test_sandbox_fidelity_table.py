"""docs/fidelity.md, held against the sandbox: every row's "Observed" value is what a probe sees now.

Each probe drives the shared sandbox over HTTP and describes what it saw in the row's words (status,
`error` and the System Log's Okta reason for a refusal; a short sentence for a claim). A row without a
probe, a probe without a row, or an observation that differs from the table fails the test, naming the
row: change the sandbox and the table together, with the source beside it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sandbox_flows import (
    AGENT,
    ALICE,
    SPA,
    Signer,
    authorize_params,
    code_for_tokens,
    decode_unverified,
    jwt_bearer,
    post,
    sign_in,
    submit_sign_in,
    token_exchange,
)

from sandbox.events import EVENT_TYPES, SANDBOX_PREFIX
from sandbox.testing import RunningSandbox

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "fidelity.md"
ORIGIN = ("0oaOriginWebApp00001", "origin-web-app-secret-fedcba9876543210")
AGENT_RESOURCE = "/agents/sandbox-agent"


def table_rows() -> dict[str, str]:
    """Each row of docs/fidelity.md: its id -> the text of its Observed column (inside the backticks)."""
    rows = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"`[a-z0-9-]+`", cells[0]):
            observed = re.fullmatch(r"`([^`]+)`", cells[2])
            assert observed, f"row {cells[0]}: the Observed column must be one `...` value"
            rows[cells[0].strip("`")] = observed.group(1)
    return rows


class Probe:
    """The sandbox under test, and the few requests the probes share."""

    def __init__(self, sb: RunningSandbox, signer: Signer) -> None:
        self.sb, self.org, self.signer = sb, sb.url, signer
        self._id_token: str | None = None

    def reason(self, response: requests.Response) -> str:
        """The Okta reason of the System Log event answering this response."""
        rid = response.headers["X-Okta-Request-Id"]
        events = requests.get(
            self.org + "/api/v1/logs",
            params={"filter": f'transaction.id eq "{rid}"'},
            headers={"Authorization": "SSWS " + self.sb.api_token},
            timeout=10,
        ).json()
        reasons = [e["outcome"]["reason"] for e in events if e["outcome"]["result"] == "FAILURE"]
        assert len(reasons) == 1, events
        return reasons[0]

    def refusal(self, response: requests.Response) -> str:
        """`<status> <error> <reason>` of a JSON refusal."""
        return f"{response.status_code} {response.json()['error']} {self.reason(response)}"

    def id_token(self, **sign_in_params: Any) -> str:
        if sign_in_params:
            answer = code_for_tokens(self.org, self.signer, sign_in(self.org, **sign_in_params))
            return answer.json()["id_token"]
        if self._id_token is None:
            self._id_token = self.id_token(scope="openid profile email")
        return self._id_token

    def exchange(self, **extra: Any) -> requests.Response:
        return token_exchange(
            self.org, self.signer, extra.pop("subject_token", None) or self.id_token(), **extra
        )

    def id_jag(self, **extra: Any) -> str:
        answer = self.exchange(**extra)
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def client_credentials(self, **form: Any) -> requests.Response:
        data = {"grant_type": "client_credentials", "scope": "todo.read", **form}
        return requests.post(self.org + "/oauth2/default/v1/token", data=data, auth=ORIGIN, timeout=10)

    def origin_user_token(self) -> str:
        """The origin app signs Alice in at the custom server for the agent's resource URL."""
        params, verifier = authorize_params(
            ORIGIN[0], scope="openid profile", resource=self.org + AGENT_RESOURCE
        )
        url = self.org + "/oauth2/default/v1/authorize"
        with requests.Session() as session:
            page = session.get(url, params=params, allow_redirects=False, timeout=10)
            answer = submit_sign_in(session, page.url, page.text, *ALICE)
        code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
        tokens = requests.post(
            self.org + "/oauth2/default/v1/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": params["redirect_uri"],
                "code_verifier": verifier,
            },
            auth=ORIGIN,
            timeout=10,
        )
        assert tokens.status_code == 200, tokens.text
        return tokens.json()["access_token"]

    def redeem(self, id_jag: str, **extra: Any) -> requests.Response:
        return jwt_bearer(self.org, self.signer, id_jag, **extra)


def claims(token: str) -> dict[str, Any]:
    return decode_unverified(token)[1]


def chain(act: dict[str, Any], agent: str, client: str) -> str:
    expected = {"sub": agent, "sub_profile": "ai_agent", "act": {"sub": client, "sub_profile": "service"}}
    return "agent (ai_agent) then client (service)" if act == expected else json.dumps(act)


# --- the probes, one per row ---------------------------------------------------------------------------


def ca_aud_endpoint(p: Probe) -> str:
    url = p.org + "/oauth2/v1/token"
    return p.refusal(post(url, {"grant_type": "authorization_code", **p.signer.auth(p.org)}))


def ca_replay(p: Probe) -> str:
    url = p.org + "/oauth2/v1/token"
    form = {"grant_type": "authorization_code", **p.signer.auth(url)}
    post(url, form)
    return p.refusal(post(url, form))


def ca_exp_far(p: Probe) -> str:
    url = p.org + "/oauth2/v1/token"
    assertion = p.signer.auth(url, exp=int(time.time()) + 7200)
    return p.refusal(post(url, {"grant_type": "authorization_code", **assertion}))


def signin_pkce_plain(p: Probe) -> str:
    params, _ = authorize_params(code_challenge_method="plain")
    answer = requests.get(p.org + "/oauth2/v1/authorize", params=params, allow_redirects=False, timeout=10)
    error = parse_qs(urlsplit(answer.headers["Location"]).query)["error"][0]
    return f"redirect {error} {p.reason(answer)}"


def signin_id_token_aud(p: Probe) -> str:
    aud = claims(p.id_token())["aud"]
    return "aud = the agent's client id" if aud == AGENT else f"aud = {aud}"


def te_audience_token_url(p: Probe) -> str:
    return p.refusal(p.exchange(audience=p.org + "/oauth2/default/v1/token"))


def te_audience_slash(p: Probe) -> str:
    return p.refusal(p.exchange(audience=p.org + "/oauth2/default/"))


def te_openid(p: Probe) -> str:
    return p.refusal(p.exchange(scope="openid todo.read"))


def te_no_scope(p: Probe) -> str:
    return p.refusal(p.exchange(scope=None))


def te_subject_typ(p: Probe) -> str:
    return p.refusal(p.exchange(subject_token=p.id_jag()))


def te_subject_other_client(p: Probe) -> str:
    grant = sign_in(p.org, client_id=SPA)
    tokens = post(
        p.org + "/oauth2/v1/token",
        {
            "grant_type": "authorization_code",
            "code": grant.code,
            "redirect_uri": grant.redirect_uri,
            "code_verifier": grant.verifier,
            "client_id": SPA,
        },
    ).json()
    return p.refusal(p.exchange(subject_token=tokens["id_token"]))


def te_response(p: Probe) -> str:
    answer = p.exchange()
    body = answer.json()
    facts = [
        f"token_type {body['token_type']}",
        "issued_token_type " + body["issued_token_type"].rsplit(":", 1)[-1],
        f"expires_in {body['expires_in']}",
        "scope present" if "scope" in body else "no scope",
        "refresh_token present" if "refresh_token" in body else "no refresh_token",
        f"Cache-Control {answer.headers['Cache-Control']}",
    ]
    return ", ".join(facts)


def idjag_claims(p: Probe) -> str:
    header, body = decode_unverified(p.id_jag())
    return f"typ {header['typ']}; " + " ".join(body)


def idjag_email(p: Probe) -> str:
    with_email = claims(p.id_jag(subject_token=p.id_token(scope="openid profile email")))
    without = claims(p.id_jag(subject_token=p.id_token(scope="openid profile")))
    if with_email.get("email") == ALICE[0] and "email" not in without:
        return "email only when the sign-in asked for the email scope"
    return f"with: {with_email.get('email')}, without: {without.get('email')}"


def idjag_lifetime(p: Probe) -> str:
    body = claims(p.id_jag())
    return f"exp - iat = {body['exp'] - body['iat']}"


def org_client_credentials(p: Probe) -> str:
    return p.refusal(
        requests.post(
            p.org + "/oauth2/v1/token", data={"grant_type": "client_credentials"}, auth=ORIGIN, timeout=10
        )
    )


def machine_cc_token(p: Probe) -> str:
    body = claims(p.client_credentials(resource=p.org + AGENT_RESOURCE).json()["access_token"])
    aud = "the agent's resource URL" if body["aud"] == p.org + AGENT_RESOURCE else body["aud"]
    sub = "the client" if body["sub"] == ORIGIN[0] else body["sub"]
    uid = "no uid" if "uid" not in body else f"uid {body['uid']}"
    return f"aud = {aud}, sub = {sub}, sub_profile {body.get('sub_profile')}, {uid}"


def machine_cc_id_jag(p: Probe) -> str:
    token = p.client_credentials(resource=p.org + AGENT_RESOURCE).json()["access_token"]
    body = claims(
        p.id_jag(subject_token=token, subject_token_type="urn:ietf:params:oauth:token-type:access_token")
    )
    sub = "the client" if body["sub"] == ORIGIN[0] else body["sub"]
    client_id = "the agent" if body.get("client_id") == AGENT else body.get("client_id")
    return (
        f"sub = {sub}, sub_profile {body.get('sub_profile')}, client_id = {client_id}, "
        f"act = {chain(body.get('act', {}), AGENT, ORIGIN[0])}"
    )


def machine_user_token(p: Probe) -> str:
    token = p.origin_user_token()
    body = claims(
        p.id_jag(subject_token=token, subject_token_type="urn:ietf:params:oauth:token-type:access_token")
    )
    sub = "the user" if body["sub"] == claims(p.id_token())["sub"] else body["sub"]
    return f"sub = {sub}, act = {chain(body.get('act', {}), AGENT, ORIGIN[0])}"


def machine_no_link(p: Probe) -> str:
    # The public app may sign users in at `default` for the agent's resource URL; it has no link.
    params, verifier = authorize_params(SPA, scope="openid profile", resource=p.org + AGENT_RESOURCE)
    url = p.org + "/oauth2/default/v1/authorize"
    with requests.Session() as session:
        page = session.get(url, params=params, allow_redirects=False, timeout=10)
        answer = submit_sign_in(session, page.url, page.text, *ALICE)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    token = post(
        p.org + "/oauth2/default/v1/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": params["redirect_uri"],
            "code_verifier": verifier,
            "client_id": SPA,
        },
    ).json()["access_token"]
    return p.refusal(
        p.exchange(subject_token=token, subject_token_type="urn:ietf:params:oauth:token-type:access_token")
    )


def jb_scope_param(p: Probe) -> str:
    return p.refusal(p.redeem(p.id_jag(), scope="todo.read"))


def jb_replay(p: Probe) -> str:
    id_jag = p.id_jag()
    assert p.redeem(id_jag).status_code == 200
    return p.refusal(p.redeem(id_jag))


def jb_wrong_server(p: Probe) -> str:
    return p.refusal(p.redeem(p.id_jag(), server="reports"))


def jb_no_policy(p: Probe) -> str:
    return p.refusal(p.redeem(p.id_jag(server="reports", scope="reports.read"), server="reports"))


def jb_aud_resource(p: Probe) -> str:
    resource = p.org + "/todo-api"
    aud = claims(p.redeem(p.id_jag(resource=resource)).json()["access_token"])["aud"]
    return "aud = the ID-JAG's resource" if aud == resource else f"aud = {aud}"


def jb_aud_default(p: Probe) -> str:
    return "aud = " + claims(p.redeem(p.id_jag()).json()["access_token"])["aud"]


def jb_response(p: Probe) -> str:
    body = p.redeem(p.id_jag()).json()
    return ", ".join(
        [
            f"token_type {body['token_type']}",
            f"expires_in {body['expires_in']}",
            "scope present" if "scope" in body else "no scope",
            "refresh_token present" if "refresh_token" in body else "no refresh_token",
        ]
    )


def at_claims(p: Probe) -> str:
    return " ".join(claims(p.redeem(p.id_jag()).json()["access_token"]))


def api_audiences(p: Probe) -> str:
    def status(token: str) -> int:
        return requests.get(
            p.org + "/todo-api/me", headers={"Authorization": "Bearer " + token}, timeout=10
        ).status_code

    default = p.redeem(p.id_jag()).json()["access_token"]
    own = p.redeem(p.id_jag(resource=p.org + "/todo-api")).json()["access_token"]
    other = p.client_credentials(resource=p.org + AGENT_RESOURCE).json()["access_token"]  # for the agent
    refused = requests.get(p.org + "/todo-api/me", headers={"Authorization": "Bearer " + other}, timeout=10)
    accepted = [
        name
        for name, token in (("api://default", default), ("its own resource URL", own))
        if status(token) == 200
    ]
    return " and ".join(accepted) + "; another resource: " + p.refusal(refused)


def api_no_token(p: Probe) -> str:
    answer = requests.get(p.org + "/todo-api/todos", timeout=10)
    challenge = answer.headers["WWW-Authenticate"]
    parts = [
        str(answer.status_code),
        "WWW-Authenticate with error" if "error=" in challenge else "WWW-Authenticate without error",
        "with resource_metadata" if "resource_metadata=" in challenge else "without resource_metadata",
    ]
    return ", ".join(parts)


def api_scope(p: Probe) -> str:
    token = p.redeem(p.id_jag(scope="todo.read")).json()["access_token"]
    answer = requests.post(
        p.org + "/todo-api/todos",
        json={"title": "t"},
        headers={"Authorization": "Bearer " + token},
        timeout=10,
    )
    return p.refusal(answer)


def meta_grant_profile(p: Probe) -> str:
    meta = requests.get(p.org + "/oauth2/default/.well-known/oauth-authorization-server", timeout=10).json()
    return "authorization_grant_profiles_supported = " + " ".join(
        meta["authorization_grant_profiles_supported"]
    )


def meta_identity_chaining(p: Probe) -> str:
    meta = requests.get(p.org + "/.well-known/openid-configuration", timeout=10).json()
    values = meta["identity_chaining_requested_token_types_supported"]
    return "identity_chaining_requested_token_types_supported = " + " ".join(values)


def meta_paths(p: Probe) -> str:
    legacy = requests.get(p.org + "/oauth2/default/.well-known/oauth-authorization-server", timeout=10)
    rfc8414 = requests.get(p.org + "/.well-known/oauth-authorization-server/oauth2/default", timeout=10)
    same = legacy.status_code == rfc8414.status_code == 200 and legacy.json() == rfc8414.json()
    return "the same document at the legacy and the RFC 8414 path" if same else "different documents"


def log_event_types(p: Probe) -> str:
    catalog = json.loads((ROOT / "sandbox/data/okta-event-types.json").read_text())
    okta = {e["id"] for e in catalog["eventTypes"]}
    strays = [t for t in EVENT_TYPES if t not in okta and not t.startswith(SANDBOX_PREFIX)]
    release = catalog["release"]
    return (
        f"every type is in Okta's catalog {release} or starts with {SANDBOX_PREFIX}"
        if not strays
        else str(strays)
    )


def log_refused_exchange(p: Probe) -> str:
    answer = p.exchange(scope="openid")
    rid = answer.headers["X-Okta-Request-Id"]
    (event,) = requests.get(
        p.org + "/api/v1/logs",
        params={"filter": f'transaction.id eq "{rid}"'},
        headers={"Authorization": "SSWS " + p.sb.api_token},
        timeout=10,
    ).json()
    return f"{event['eventType']} {event['outcome']['result']}"


PROBES: dict[str, Callable[[Probe], str]] = {
    "ca-aud-endpoint": ca_aud_endpoint,
    "ca-replay": ca_replay,
    "ca-exp-far": ca_exp_far,
    "signin-pkce-plain": signin_pkce_plain,
    "signin-id-token-aud": signin_id_token_aud,
    "te-audience-token-url": te_audience_token_url,
    "te-audience-slash": te_audience_slash,
    "te-openid": te_openid,
    "te-no-scope": te_no_scope,
    "te-subject-typ": te_subject_typ,
    "te-subject-other-client": te_subject_other_client,
    "te-response": te_response,
    "idjag-claims": idjag_claims,
    "idjag-email": idjag_email,
    "idjag-lifetime": idjag_lifetime,
    "org-client-credentials": org_client_credentials,
    "machine-cc-token": machine_cc_token,
    "machine-cc-id-jag": machine_cc_id_jag,
    "machine-user-token": machine_user_token,
    "machine-no-link": machine_no_link,
    "jb-scope-param": jb_scope_param,
    "jb-replay": jb_replay,
    "jb-wrong-server": jb_wrong_server,
    "jb-no-policy": jb_no_policy,
    "jb-aud-resource": jb_aud_resource,
    "jb-aud-default": jb_aud_default,
    "jb-response": jb_response,
    "at-claims": at_claims,
    "api-audiences": api_audiences,
    "api-no-token": api_no_token,
    "api-scope": api_scope,
    "meta-grant-profile": meta_grant_profile,
    "meta-identity-chaining": meta_identity_chaining,
    "meta-paths": meta_paths,
    "log-event-types": log_event_types,
    "log-refused-exchange": log_refused_exchange,
}


def test_every_row_has_a_probe_and_every_probe_a_row() -> None:
    assert sorted(table_rows()) == sorted(PROBES)


@pytest.fixture(scope="module")
def probe(sb: RunningSandbox, signer: Signer) -> Probe:
    return Probe(sb, signer)


@pytest.mark.parametrize("row", sorted(PROBES))
def test_the_table_says_what_the_sandbox_does(probe: Probe, row: str) -> None:
    assert PROBES[row](probe) == table_rows()[row], f"docs/fidelity.md row {row} differs from the sandbox"
