"""Operation: persistence across restarts, a changing agent JWKS, expiry, loopback, several instances."""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import time
from pathlib import Path

import pytest
import requests
from sandbox_flows import (
    AGENT,
    Signer,
    code_for_tokens,
    decode_unverified,
    full_flow,
    jwt_bearer,
    post,
    shared_overrides,
    sign_in,
    token_exchange,
    verify_with_jwks,
    write_jwks,
)

from helpers.core.keys import AgentKey
from sandbox.testing import RunningSandbox, running_sandbox, start_sandbox

CATALOG = Path(__file__).resolve().parents[2] / "sandbox" / "data" / "okta-oauth2-errors.json"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_issued_before_a_restart_still_verify_and_work_after_it(
    tmp_path: Path, agent_jwks_rsa_ec: Path, signer: Signer
) -> None:
    data_dir = tmp_path / "data"
    with running_sandbox(data_dir=data_dir, overrides=shared_overrides(agent_jwks_rsa_ec)) as first:
        tokens = full_flow(first.url, signer)
        port = first.address[1]
        old_org_keys = requests.get(first.url + "/oauth2/v1/keys", timeout=5).json()
    with running_sandbox(
        data_dir=data_dir, port=port, overrides=shared_overrides(agent_jwks_rsa_ec)
    ) as second:
        assert second.url == first.url
        assert requests.get(second.url + "/oauth2/v1/keys", timeout=5).json() == old_org_keys
        assert verify_with_jwks(tokens.id_token, second.url + "/oauth2/v1/keys")["aud"] == AGENT
        assert (
            verify_with_jwks(tokens.access_token, second.url + "/oauth2/default/v1/keys")["aud"]
            == "api://default"
        )
        # The new process's API accepts the old access token; its custom server the old ID-JAG's twin.
        assert (
            requests.get(
                second.url + "/todo-api/me", headers=bearer(tokens.access_token), timeout=5
            ).status_code
            == 200
        )
        fresh = token_exchange(second.url, signer, tokens.id_token)
        assert fresh.status_code == 200, fresh.text


def test_signing_keys_are_private_files_named_by_their_thumbprint(sb: RunningSandbox) -> None:
    folder = sb.data_dir / "keys"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(p.name for p in folder.iterdir())
    assert files == [
        "authorization-server-default.jwk.json", "authorization-server-inventory.jwk.json",
        "authorization-server-reports.jwk.json", "org.jwk.json",
    ]  # fmt: skip
    for name in files:
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    published = requests.get(sb.url + "/oauth2/v1/keys", timeout=5).json()["keys"]
    assert len(published) == 1 and set(published[0]) == {"kty", "alg", "kid", "use", "n", "e"}
    from joserfc.jwk import RSAKey

    assert published[0]["kid"] == RSAKey.import_key(published[0]).thumbprint()  # RFC 7638


def test_a_changed_agent_jwks_file_takes_effect_without_a_restart(
    tmp_path: Path, agent_key: AgentKey, ec_agent: AgentKey, stranger_key: AgentKey
) -> None:
    jwks = write_jwks(tmp_path / "agent.jwks.json", agent_key)
    overrides = {"clients": {AGENT: {"jwks_file": str(jwks)}}}

    def authenticate(sb: RunningSandbox, agent: AgentKey) -> str:
        signer = Signer(agent)
        data = {
            "grant_type": "authorization_code",
            "code": "x",
            "redirect_uri": "http://127.0.0.1:8765/callback",
        }
        return post(sb.url + "/oauth2/v1/token", {**data, **signer.auth(sb.url + "/oauth2/v1/token")}).json()[
            "error"
        ]

    with running_sandbox(overrides=overrides) as sb:
        assert authenticate(sb, agent_key) == "invalid_grant"  # authenticated; the code is what fails
        assert authenticate(sb, ec_agent) == "invalid_client"
        write_jwks(jwks, agent_key, ec_agent)
        assert authenticate(sb, ec_agent) == "invalid_grant"
        # Same size, same inode, same mtime: only the unknown kid tells the sandbox to re-read.
        before = jwks.stat()
        with open(jwks, "r+", encoding="utf-8") as handle:
            text = json.dumps({"keys": [dict(stranger_key.public_jwk), dict(ec_agent.public_jwk)]}, indent=2)
            assert len(text) == before.st_size
            handle.write(text)
        os.utime(jwks, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert authenticate(sb, stranger_key) == "invalid_grant"
        assert authenticate(sb, agent_key) == "invalid_client"


def test_short_lifetimes_expire_codes_id_tokens_and_id_jags(agent_jwks_rsa_ec: Path, signer: Signer) -> None:
    overrides = shared_overrides(agent_jwks_rsa_ec)
    overrides["lifetimes"] = {"authorization_code": 1, "id_token": 1, "id_jag": 1, "clock_skew": 0}
    with running_sandbox(overrides=overrides) as sb:
        tokens = code_for_tokens(sb.url, signer, sign_in(sb.url)).json()
        exchanged = token_exchange(sb.url, signer, tokens["id_token"])
        assert exchanged.json()["expires_in"] == 1
        pending = sign_in(sb.url)
        time.sleep(2.1)
        late_code = code_for_tokens(sb.url, signer, pending).json()
        late_exchange = token_exchange(sb.url, signer, tokens["id_token"]).json()
        late_redeem = jwt_bearer(sb.url, signer, exchanged.json()["access_token"]).json()
    assert late_code["error_description"] == "The authorization code is invalid or has expired."
    assert late_exchange["error"] == "invalid_grant"
    assert (
        late_exchange["error_description"]
        == "The 'subject_token' either expired or the session associated with it was terminated."
    )
    assert late_redeem == {"error": "invalid_grant", "error_description": "The id-jag is expired."}


def _outbound_address() -> str | None:
    """This machine's address on its default route, if it has one (no packet is sent)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: connect() on UDP only picks a route
        return probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()


def test_the_sandbox_listens_on_loopback_only(sb: RunningSandbox) -> None:
    host, port = sb.address
    assert host == "127.0.0.1"
    assert sb.url == f"http://127.0.0.1:{port}"
    address = _outbound_address()
    if address and not address.startswith("127."):
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://{address}:{port}/.well-known/openid-configuration", timeout=2)


def test_several_sandboxes_run_in_one_process_and_stop_idempotently() -> None:
    first, second = start_sandbox(), start_sandbox()
    try:
        assert first.url != second.url
        for running in (first, second):
            meta = requests.get(running.url + "/.well-known/openid-configuration", timeout=5).json()
            assert meta["issuer"] == running.url
        assert (
            decode_unverified(first.served.sandbox.keys.org.sign({"a": 1}))[0]["kid"]
            != second.served.sandbox.keys.org.kid
        )
    finally:
        first.stop()
        second.stop()
    first.stop()  # idempotent
    with pytest.raises(requests.ConnectionError):
        requests.get(first.url + "/.well-known/openid-configuration", timeout=2)
    assert not first.data_dir.exists()  # its temporary data folder is removed


BROKEN_JWKS = [
    ("a missing JWKS file", None, "client_assertion_jwks_not_configured"),
    ("a JWKS file that is not JSON", "{not json", "client_assertion_invalid_jwks"),
    ("a JWKS without keys", '{"keys": []}', "client_assertion_invalid_jwks"),
    ("a key meant for encryption", "use=enc", "client_assertion_invalid_key_use"),
    ("a key registered for another algorithm", "alg=RS512", "client_assertion_invalid_signature_algorithm"),
]


@pytest.mark.parametrize(("what", "content", "code"), BROKEN_JWKS, ids=[b[0] for b in BROKEN_JWKS])
def test_a_broken_agent_jwks_is_refused_with_okta_codes(
    tmp_path: Path, agent_key: AgentKey, what: str, content: str | None, code: str
) -> None:
    path = tmp_path / "agent.jwks.json"
    if content is not None and "=" in content and not content.startswith("{"):
        name, value = content.split("=")
        path.write_text(json.dumps({"keys": [{**agent_key.public_jwk, name: value}]}))
    elif content is not None:
        path.write_text(content)
    catalog = {e["internalErrorCode"]: e for e in json.loads(CATALOG.read_text())["errors"]}
    with running_sandbox(overrides={"clients": {AGENT: {"jwks_file": str(path)}}}) as sb:
        data = {
            "grant_type": "authorization_code",
            "code": "x",
            "redirect_uri": "http://127.0.0.1:8765/callback",
        }
        answer = post(
            sb.url + "/oauth2/v1/token", {**data, **Signer(agent_key).auth(sb.url + "/oauth2/v1/token")}
        )
        assert sb.sandbox.unexpected_errors == 0
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert answer.json()["error_description"] == catalog[code]["errorDescription"].replace(" en.", " sig.")


def test_stopping_works_even_when_the_wake_up_pipe_was_closed_behind_the_servers_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seen twice in full test sessions: the serving loop's wake-up pipe gone (EBADF) at stop time.
    # The write fails as it would on a closed pipe. The test does not close the real descriptor:
    # waitress closes it again at stop, and by then the number may belong to another thread's socket.
    sb = start_sandbox(data_dir=tmp_path / "data")
    assert requests.get(f"{sb.url}/.well-known/openid-configuration", timeout=5).status_code == 200

    def write_to_a_closed_pipe() -> None:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    monkeypatch.setattr(sb.served.server.trigger, "_physical_pull", write_to_a_closed_pipe)
    started = time.monotonic()
    sb.stop()
    assert time.monotonic() - started < 5
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{sb.url}/.well-known/openid-configuration", timeout=2)
