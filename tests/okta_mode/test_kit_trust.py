"""The kit in Okta mode against the HTTPS sandbox: TLS always verified, trust given by a setting.

The person signs in on the org's page in a browser (played here by the test's own client, which is
given the CA explicitly, not through the environment); every request of the kit goes through its
session, which trusts only what KIT_CA_BUNDLE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE and SSL_CERT_FILE say
(helpers.core.tls). A certificate it does not trust is a TLSError naming the setting, never an SSLError.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from sandbox_flows import ALICE, submit_sign_in

from helpers import flow
from helpers.core.config import ENV_VARS, load_settings, save_settings
from helpers.core.errors import ConfigError, InsecureTransportError, SignInError, TLSError
from helpers.core.keys import AgentKey, save_agent_key
from helpers.core.tls import HOW_TO_TRUST
from helpers.core.transport import KitHTTP
from helpers.kit import Kit
from helpers.sandbox_client.local_sandbox import ensure_local_sandbox
from helpers.signin import check_id_token, code_exchange_form, new_authorization_request, parse_callback
from helpers.teaching.display import describe
from sandbox import tls
from sandbox.testing import RunningSandbox


@pytest.fixture
def okta_home(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tls_sb: RunningSandbox,
    agent_key: AgentKey,
    no_trust_env: None,
) -> Path:
    """A kit home pointed at the HTTPS sandbox as at an Okta org: no CA trusted yet, browser sign-in."""
    home = tmp_path / "home"
    (home / ".keys").mkdir(parents=True)
    save_agent_key(agent_key, home / ".keys" / "agent.pem", home / ".keys" / "agent.jwks.json")
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    for name in ("OKTA_API_TOKEN", "KIT_SANDBOX", "KIT_BROWSER_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KIT_HOME", str(home))
    monkeypatch.setenv("KIT_ENV_FILE", str(home / ".env"))
    monkeypatch.setenv("KIT_STATE_DIR", str(home / ".kit"))
    (home / ".env").write_text(
        f"OKTA_ORG_URL={tls_sb.url}\nKIT_HEADLESS=false\nAGENT_KEY_ALG=RS256\n", encoding="utf-8"
    )
    return home


@pytest.fixture(scope="session")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CA of another sandbox: a CA file that is real but did not issue this sandbox's certificate."""
    return tls.ensure_tls_files(tmp_path_factory.mktemp("other-sandbox")).ca_file


def browser_sign_in(kit: Kit, ca_file: Path) -> str:
    """Step 1 as notebook 01 does it in Okta mode: the person signs in in a browser; return the ID token."""
    settings = kit.settings
    request = new_authorization_request(settings)
    with requests.Session() as browser:
        browser.verify = str(ca_file)  # the browser trusts the CA; the kit is told through its settings
        page = browser.get(request.url, timeout=10)
        assert page.status_code == 200, page.text
        answer = submit_sign_in(browser, page.url, page.text, *ALICE)
    assert answer.status_code == 302, answer.text
    callback = parse_callback(answer.headers["Location"], request)
    tokens = kit.token_request(settings.org_token_url, code_exchange_form(request, callback))
    check_id_token(
        tokens["id_token"],
        jwks=kit.org_jwks(),
        issuer=settings.org_issuer,
        client_id=settings.agent_client_id,
        nonce=request.nonce,
        access_token=tokens.get("access_token"),
    ).raise_if_failed()
    kit.remember("id_token", tokens["id_token"])
    return tokens["id_token"]


def test_the_kit_runs_steps_1_to_4_in_okta_mode_with_only_kit_ca_bundle(
    okta_home: Path, tls_sb: RunningSandbox
) -> None:
    with (okta_home / ".env").open("a", encoding="utf-8") as env:
        env.write(f"KIT_CA_BUNDLE={tls_sb.ca_file}\n")
    settings = load_settings()
    assert (settings.is_sandbox, settings.ca_bundle) == (False, tls_sb.ca_file)
    kit = Kit.open("okta_mode")
    assert ensure_local_sandbox(kit.settings).state == "not local"  # no sandbox is started for it

    id_token = browser_sign_in(kit, tls_sb.ca_file)
    exchanged = flow.run_token_exchange(kit)
    redeemed = flow.run_jwt_bearer(kit)
    api = flow.run_api_call(kit)

    assert exchanged["issued_token_type"] == "urn:ietf:params:oauth:token-type:id-jag"
    assert redeemed["token_type"] == "Bearer"
    assert api.status == 200 and api.ok
    assert kit.require("id_token").value == id_token
    urls = [e.url for e in kit.http.exchanges]
    assert urls and all(u.startswith(tls_sb.url + "/") for u in urls)
    assert {e.label for e in kit.http.exchanges} >= {
        "Token exchange (RFC 8693)",
        "JWT bearer grant (RFC 7523)",
        "API call",
        "Discovery (org)",
    }
    assert kit.http.trust.describe() == f"certifi's CA bundle plus KIT_CA_BUNDLE={tls_sb.ca_file}"


@dataclass(frozen=True)
class TrustCase:
    case: str
    env_file: dict[str, str]  # written to .env: "ca" (the sandbox's CA) or "other" (another CA)
    environ: dict[str, str]  # set in the environment, same values
    trusted: bool


TRUST_CASES = [
    TrustCase("KIT_CA_BUNDLE in .env", {"KIT_CA_BUNDLE": "ca"}, {}, True),
    TrustCase("KIT_CA_BUNDLE in the environment", {}, {"KIT_CA_BUNDLE": "ca"}, True),
    TrustCase("REQUESTS_CA_BUNDLE (as requests reads it)", {}, {"REQUESTS_CA_BUNDLE": "ca"}, True),
    TrustCase("CURL_CA_BUNDLE (requests' second choice)", {}, {"CURL_CA_BUNDLE": "ca"}, True),
    TrustCase("SSL_CERT_FILE (as Python's ssl reads it)", {}, {"SSL_CERT_FILE": "ca"}, True),
    TrustCase(
        "KIT_CA_BUNDLE adds to REQUESTS_CA_BUNDLE",
        {"KIT_CA_BUNDLE": "ca"},
        {"REQUESTS_CA_BUNDLE": "other"},
        True,
    ),
    TrustCase("nothing set", {}, {}, False),
    TrustCase("KIT_CA_BUNDLE names another CA", {"KIT_CA_BUNDLE": "other"}, {}, False),
    TrustCase("REQUESTS_CA_BUNDLE names another CA", {}, {"REQUESTS_CA_BUNDLE": "other"}, False),
]


@pytest.mark.parametrize("row", TRUST_CASES, ids=[r.case for r in TRUST_CASES])
def test_discovery_trusts_exactly_what_the_settings_say(
    okta_home: Path, tls_sb: RunningSandbox, other_ca: Path, monkeypatch: pytest.MonkeyPatch, row: TrustCase
) -> None:
    files = {"ca": str(tls_sb.ca_file), "other": str(other_ca)}
    with (okta_home / ".env").open("a", encoding="utf-8") as env:
        env.writelines(f"{name}={files[value]}\n" for name, value in row.env_file.items())
    for name, value in row.environ.items():
        monkeypatch.setenv(name, files[value])
    kit = Kit.open("okta_mode")
    if row.trusted:
        assert kit.org_metadata()["issuer"] == tls_sb.url
        return
    with pytest.raises(TLSError) as refused:
        kit.org_metadata()
    sources = {**row.env_file, **row.environ}
    trusted = (
        f"REQUESTS_CA_BUNDLE={files[sources['REQUESTS_CA_BUNDLE']]}"
        if "REQUESTS_CA_BUNDLE" in sources
        else "certifi's CA bundle"
    ) + (f" plus KIT_CA_BUNDLE={files[sources['KIT_CA_BUNDLE']]}" if "KIT_CA_BUNDLE" in sources else "")
    assert str(refused.value) == (
        f"GET {tls_sb.url}/.well-known/openid-configuration: the server's TLS certificate is not trusted "
        f"(unable to get local issuer certificate). The kit always verifies TLS and trusts {trusted}. If "
        "you trust the CA that issued this certificate (your company's TLS proxy, or the sandbox's "
        "tls/ca.pem), set KIT_CA_BUNDLE=<path to the CA certificate's PEM file> in .env (the kit adds it "
        "to what it trusts), or REQUESTS_CA_BUNDLE=<path to a PEM bundle> in the environment (replaces "
        "certifi's bundle)"
    )
    assert refused.value.reason == "not trusted"
    assert refused.value.__cause__ is None and refused.value.__suppress_context__  # no SSLError traceback


BAD_FILES = [
    ("KIT_CA_BUNDLE", "a file that is not there", "missing", "no such file"),
    ("KIT_CA_BUNDLE", "a text file", "text", "it holds no certificate"),
    ("KIT_CA_BUNDLE", "the CA's private key instead of its certificate", "key", "it holds no certificate"),
    ("REQUESTS_CA_BUNDLE", "a file that is not there", "missing", "no such file"),
    ("SSL_CERT_FILE", "a text file", "text", "it holds no certificate"),
]


@pytest.mark.parametrize(
    ("variable", "case", "kind", "reason"), BAD_FILES, ids=[f"{r[0]}: {r[1]}" for r in BAD_FILES]
)
def test_a_ca_file_that_cannot_be_used_is_a_config_error_naming_its_variable(
    okta_home: Path,
    tls_sb: RunningSandbox,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    case: str,
    kind: str,
    reason: str,
) -> None:
    path = okta_home / f"{kind}.pem"
    if kind == "text":
        path.write_text("not a certificate\n", encoding="utf-8")
    elif kind == "key":
        path.write_bytes((tls_sb.data_dir / "tls" / "ca.key.pem").read_bytes())
    monkeypatch.setenv(variable, str(path))
    if variable == "KIT_CA_BUNDLE" and kind == "missing":  # caught when the settings are read
        with pytest.raises(ConfigError) as refused:
            load_settings()
        assert refused.value.problems == [
            f'KIT_CA_BUNDLE is "{path}", expected a PEM file of CA certificates, or empty (no such file)'
        ]
        return
    kit = Kit.open("okta_mode")
    with pytest.raises(ConfigError) as refused:  # caught at the first https request
        kit.org_metadata()
    assert str(refused.value) == f'{variable} is "{path}", expected a PEM file of CA certificates ({reason})'


def test_a_relative_kit_ca_bundle_is_read_from_the_kit_home(okta_home: Path, tls_sb: RunningSandbox) -> None:
    (okta_home / "certs").mkdir()
    (okta_home / "certs" / "proxy-ca.pem").write_bytes(tls_sb.ca_file.read_bytes())  # type: ignore[union-attr]
    save_settings({"KIT_CA_BUNDLE": "certs/proxy-ca.pem"})
    assert "KIT_CA_BUNDLE=certs/proxy-ca.pem" in (okta_home / ".env").read_text().splitlines()
    settings = load_settings()
    assert settings.ca_bundle == okta_home / "certs" / "proxy-ca.pem"
    assert "KIT_CA_BUNDLE" not in str(describe(settings))  # kept out of the table the notebooks print
    assert Kit.open("okta_mode").org_metadata()["issuer"] == tls_sb.url


def test_kit_ca_bundle_is_empty_by_default(okta_home: Path) -> None:
    assert load_settings().ca_bundle is None


def test_switching_settings_switches_the_trust(okta_home: Path, tls_sb: RunningSandbox) -> None:
    kit = Kit.open("okta_mode")
    with pytest.raises(TLSError):
        kit.org_metadata()
    kit.use(kit.settings.replace(ca_bundle=tls_sb.ca_file))
    assert kit.org_metadata()["issuer"] == tls_sb.url
    assert kit.http.trust.describe() == f"certifi's CA bundle plus KIT_CA_BUNDLE={tls_sb.ca_file}"


@pytest.mark.parametrize("how", ["per request", "on the session"])
def test_turning_verification_off_is_refused(tls_sb: RunningSandbox, no_trust_env: None, how: str) -> None:
    http = KitHTTP(ca_bundle=tls_sb.ca_file)
    url = tls_sb.url + "/.well-known/openid-configuration"
    with pytest.raises(InsecureTransportError) as refused:
        if how == "per request":
            http.get(url, verify=False)
        else:
            http.verify = False
            http.get(url)
    assert str(refused.value) == (
        f"GET {url}: the kit never turns TLS verification off (verify is False); to trust the server's CA, "
        + HOW_TO_TRUST
    )
    assert http.exchanges == []


def test_okta_mode_signs_in_only_in_a_browser(okta_home: Path, tls_sb: RunningSandbox) -> None:
    with (okta_home / ".env").open("a", encoding="utf-8") as env:
        env.write(f"KIT_CA_BUNDLE={tls_sb.ca_file}\nKIT_HEADLESS=true\n")
    kit = Kit.open("okta_mode")
    with pytest.raises(SignInError) as refused:
        flow.run_sign_in(kit)
    assert str(refused.value) == (
        f'OKTA_ORG_URL is "{tls_sb.url}", expected the loopback sandbox for a headless sign-in; against '
        "Okta, set KIT_HEADLESS=false and sign in with a browser"
    )


# --- certificates that are wrong in other ways -----------------------------------------------------------


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def https_server(folder: Path, names: list[str], *, expired: bool = False) -> Iterator[tuple[str, Path]]:
    """Serve HTTPS on 127.0.0.1 with a certificate for `names` from a fresh test CA; yield (port, CA file)."""
    files = tls.ensure_tls_files(folder)
    ca_cert = tls.x509.load_pem_x509_certificate(files.ca_file.read_bytes())
    ca_key = serialization.load_pem_private_key(files.ca_key_file.read_bytes(), password=None)
    now = datetime.now(UTC)
    window = {"not_before": now - timedelta(days=30), "not_after": now - timedelta(days=1)} if expired else {}
    cert, key = tls.issue_server_certificate(ca_cert, ca_key, names, **window)  # type: ignore[arg-type]
    (folder / "leaf.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "leaf.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "leaf.pem", folder / "leaf.key")
    server = HTTPServer(("127.0.0.1", 0), _Hello)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield str(server.server_address[1]), files.ca_file
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


WRONG_CERTIFICATES = [
    ("issued for another name", ["localhost"], False, "hostname mismatch",
     "the server's TLS certificate does not name this host (IP address mismatch, certificate is not "
     "valid for '127.0.0.1'.). Check the URL: trusting another CA cannot fix a certificate issued for "
     "another name"),
    ("expired", ["127.0.0.1"], True, "expired",
     "the server's TLS certificate is outside its validity period (certificate has expired). Check this "
     "computer's clock, or have the certificate renewed"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "names", "expired", "reason", "said"), WRONG_CERTIFICATES, ids=[r[0] for r in WRONG_CERTIFICATES]
)
def test_a_certificate_from_a_trusted_ca_that_is_still_wrong_says_why(
    tmp_path: Path, no_trust_env: None, case: str, names: list[str], expired: bool, reason: str, said: str
) -> None:
    with https_server(tmp_path, names, expired=expired) as (port, ca_file):
        url = f"https://127.0.0.1:{port}/"
        with pytest.raises(TLSError) as refused:
            KitHTTP(ca_bundle=ca_file).get(url)
    assert refused.value.reason == reason
    assert str(refused.value) == f"GET {url}: {said}"


def test_a_server_that_does_not_speak_tls_is_a_failed_handshake(no_trust_env: None) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def answer_plain_http() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(4096)
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

        thread = threading.Thread(target=answer_plain_http, daemon=True)
        thread.start()
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/"
        with pytest.raises(TLSError) as refused:
            KitHTTP().get(url)
        thread.join(5)
    assert refused.value.reason == "handshake failed"
    assert str(refused.value).startswith(f"GET {url}: the TLS handshake failed (")
    assert str(refused.value).endswith(
        "). Is this an https server? A plain-http server on that port answers with this error too"
    )


def test_a_throwaway_kit_over_https_points_the_kit_at_its_ca(
    monkeypatch: pytest.MonkeyPatch, no_trust_env: None
) -> None:
    from tools.kitenv import start_throwaway_kit, stop_throwaway_kit

    kit_sandbox = start_throwaway_kit(tls=True)
    try:
        environ = kit_sandbox.environ
        assert environ["OKTA_ORG_URL"] == kit_sandbox.url and kit_sandbox.url.startswith("https://127.0.0.1:")
        assert environ["KIT_CA_BUNDLE"] == str(kit_sandbox.home / ".sandbox" / "tls" / "ca.pem")
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        kit = Kit.open("okta_mode")
        assert (kit.settings.is_sandbox, kit.org_metadata()["issuer"]) == (False, kit_sandbox.url)
    finally:
        stop_throwaway_kit(kit_sandbox)


def test_the_curl_view_of_an_https_request_trusts_kit_ca_bundle_and_replays_with_curl(
    okta_home: Path, tls_sb: RunningSandbox
) -> None:
    import shlex
    import shutil
    import subprocess

    from helpers.core.transport import CurlCommand

    with (okta_home / ".env").open("a", encoding="utf-8") as env:
        env.write(f"KIT_CA_BUNDLE={tls_sb.ca_file}\n")
    kit = Kit.open("okta_mode")
    kit.org_metadata()
    curl = CurlCommand.from_exchange(kit.http.last)
    flag = f"--cacert '{tls_sb.ca_file}'"
    assert flag in curl.display and flag in curl.replayable
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed: the command was checked, not run")
    argv = shlex.split(curl.replayable.replace("\\\n", " "))
    ran = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert ran.returncode == 0, ran.stderr
    assert f'"issuer":"{tls_sb.url}"' in ran.stdout.replace(" ", "")
    without = subprocess.run(
        [a for a in argv if a not in ("--cacert", str(tls_sb.ca_file))], capture_output=True
    )
    assert without.returncode == 60  # curl: "SSL certificate problem: unable to get local issuer certificate"


def test_a_plain_http_request_has_no_cacert_in_its_curl_view() -> None:
    from helpers.core.transport import CurlCommand, Exchange

    exchange = Exchange(
        "t",
        "l",
        "GET",
        "http://127.0.0.1:8400/.well-known/openid-configuration",
        {},
        None,
        None,
        200,
        "OK",
        {},
        "{}",
        0.01,
        0.0,
    )
    assert "--cacert" not in CurlCommand.from_exchange(exchange).display
