"""The sandbox over HTTPS: the same org at an https URL, a certificate from a local test CA, HTTP by default.

What a client of an Okta org sees from outside: an https issuer with every URL under it, a server
certificate that names the host (RFC 6125 §6), issued by a CA the client must be told to trust; and a
server that keeps answering in the OAuth error shape (RFC 6749 §5.2) whatever a client sends.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from okta_mode_support import ROOT, clean_environment

from sandbox import tls
from sandbox.testing import RunningSandbox, running_sandbox

DOCUMENTS = (
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/oauth2/default/.well-known/openid-configuration",
    "/oauth2/default/.well-known/oauth-authorization-server",
    "/.well-known/oauth-protected-resource/todo-api",
)


def fetch(url: str, **kwargs: object) -> requests.Response:
    return requests.get(url, timeout=10, **kwargs)  # type: ignore[arg-type]


def urls_in(document: object) -> list[str]:
    """Every string value of a JSON document that is an absolute http(s) URL."""
    if isinstance(document, dict):
        return [u for value in document.values() for u in urls_in(value)]
    if isinstance(document, list):
        return [u for value in document for u in urls_in(value)]
    return [document] if isinstance(document, str) and document.startswith(("http://", "https://")) else []


# --- the same org, at an https URL ----------------------------------------------------------------


@pytest.mark.parametrize("path", DOCUMENTS)
def test_every_metadata_document_is_the_plain_http_one_with_the_https_org_url(
    tls_sb: RunningSandbox, browser_trusts_ca: Path, path: str
) -> None:
    with running_sandbox() as plain:
        over_http = fetch(plain.url + path)
    over_https = fetch(tls_sb.url + path)
    assert (over_http.status_code, over_https.status_code) == (200, 200), path
    assert json.loads(over_https.text.replace(tls_sb.url, "{org}")) == json.loads(
        over_http.text.replace(plain.url, "{org}")
    )
    found = urls_in(over_https.json())
    assert found, f"{path} names no URL"
    assert [u for u in found if not u.startswith(tls_sb.url + "/") and u != tls_sb.url] == []


def test_the_issuer_and_the_demo_apis_resource_are_https(
    tls_sb: RunningSandbox, browser_trusts_ca: Path
) -> None:
    org = fetch(tls_sb.url + "/.well-known/openid-configuration").json()
    custom = fetch(tls_sb.url + "/oauth2/default/.well-known/oauth-authorization-server").json()
    api = fetch(tls_sb.url + "/.well-known/oauth-protected-resource/todo-api").json()
    port = tls_sb.address[1]
    assert org["issuer"] == f"https://127.0.0.1:{port}"
    assert org["jwks_uri"] == f"https://127.0.0.1:{port}/oauth2/v1/keys"
    assert custom["issuer"] == f"https://127.0.0.1:{port}/oauth2/default"
    assert api["resource"] == f"https://127.0.0.1:{port}/todo-api"
    refused = fetch(tls_sb.url + "/todo-api/todos")  # no token: RFC 9728 §5.1 points at the metadata
    assert refused.status_code == 401
    assert (
        f'resource_metadata="https://127.0.0.1:{port}/.well-known/oauth-protected-resource/todo-api"'
        in (refused.headers["WWW-Authenticate"])
    )


def test_plain_http_stays_the_default(tmp_path: Path) -> None:
    with running_sandbox(data_dir=tmp_path) as plain:
        assert plain.url.startswith("http://127.0.0.1:")
        assert plain.ca_file is None and plain.served.tls is None
        assert fetch(plain.url + "/.well-known/openid-configuration").json()["issuer"] == plain.url
    assert not (tmp_path / tls.TLS_DIR).exists()
    from sandbox.cli import _parser

    assert _parser().parse_args(["serve"]).tls is False
    assert _parser().parse_args(["start"]).tls is False


# --- the CA and the server certificate -------------------------------------------------------------


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_the_files_have_the_expected_modes(tls_sb: RunningSandbox) -> None:
    folder = tls_sb.data_dir / tls.TLS_DIR
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir() if not p.name.startswith(".")}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert modes == {"ca.pem": 0o644, "ca.key.pem": 0o600, "server.pem": 0o644, "server.key.pem": 0o600}
    assert tls_sb.ca_file == folder / "ca.pem"


def test_the_ca_is_a_ca_for_loopback_names_only(tls_sb: RunningSandbox) -> None:
    ca = load(tls_sb.data_dir / "tls" / "ca.pem")
    extensions = ca.extensions
    basic = extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    usage = extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    constraints = extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert constraints.value.permitted_subtrees == [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_network("127.0.0.0/8")),
        x509.IPAddress(ipaddress.ip_network("::1/128")),
    ]
    assert ca.issuer == ca.subject
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert timedelta(days=3650) <= lifetime <= timedelta(days=3650, minutes=6)
    assert ca.not_valid_before_utc <= datetime.now(UTC)


def test_the_server_certificate_names_the_loopback_host_and_lives_90_days(tls_sb: RunningSandbox) -> None:
    folder = tls_sb.data_dir / "tls"
    ca, server = load(folder / "ca.pem"), load(folder / "server.pem")
    server.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    now = datetime.now(UTC)
    assert server.not_valid_before_utc <= now
    assert timedelta(days=89) < server.not_valid_after_utc - now <= timedelta(days=90)
    key = serialization.load_pem_private_key((folder / "server.key.pem").read_bytes(), password=None)
    assert key.public_key().public_numbers() == server.public_key().public_numbers()  # type: ignore[union-attr]
    assert tls_sb.served.tls is not None and tls_sb.served.tls.names == ("localhost", "127.0.0.1", "::1")


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_a_client_that_trusts_the_ca_verifies_the_server_strictly(
    tls_sb: RunningSandbox, hostname: str
) -> None:
    context = ssl.create_default_context(cafile=str(tls_sb.ca_file))
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # RFC 5280 profile checks (Python 3.13's default)
    context.set_alpn_protocols(["h2", "http/1.1"])  # as a browser offers them; waitress speaks HTTP/1.1
    with socket.create_connection(tls_sb.address, timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=hostname) as connection:
            assert connection.version() in ("TLSv1.2", "TLSv1.3")
            assert connection.selected_alpn_protocol() == "http/1.1"


def test_a_restart_keeps_the_ca_and_the_certificate(tmp_path: Path) -> None:
    first = tls.ensure_tls_files(tmp_path)
    ca, cert = first.ca_file.read_bytes(), first.cert_file.read_bytes()
    second = tls.ensure_tls_files(tmp_path)
    assert (second.ca_file.read_bytes(), second.cert_file.read_bytes()) == (ca, cert)


def test_an_expiring_server_certificate_is_issued_again_by_the_same_ca(tmp_path: Path) -> None:
    files = tls.ensure_tls_files(tmp_path)
    ca_pem = files.ca_file.read_bytes()
    ca = load(files.ca_file)
    ca_key = serialization.load_pem_private_key(files.ca_key_file.read_bytes(), password=None)
    soon = datetime.now(UTC) + timedelta(days=tls.RENEW_DAYS - 1)
    old, old_key = tls.issue_server_certificate(ca, ca_key, tls.LOOPBACK_NAMES, not_after=soon)  # type: ignore[arg-type]
    files.cert_file.write_bytes(old.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        old_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    renewed = tls.ensure_tls_files(tmp_path)
    assert renewed.ca_file.read_bytes() == ca_pem
    assert renewed.not_after > soon + timedelta(days=30)
    assert load(renewed.cert_file).serial_number != old.serial_number


BAD_SETUPS = [
    ("a host that is not loopback", ["example.com"], None,
     'host "example.com" is not a loopback name; the sandbox\'s test CA certifies only localhost, '
     "127.0.0.0/8 and ::1"),
    ("a private network address", ["10.0.0.5"], None,
     'host "10.0.0.5" is not a loopback name; the sandbox\'s test CA certifies only localhost, '
     "127.0.0.0/8 and ::1"),
    ("a CA certificate without its key", [], "ca.key.pem", "the test CA in {folder} cannot be read"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "hosts", "remove", "expected"), BAD_SETUPS, ids=[r[0] for r in BAD_SETUPS])
def test_an_unusable_setup_is_refused_with_its_reason(
    tmp_path: Path, case: str, hosts: list[str], remove: str | None, expected: str
) -> None:
    if remove:
        tls.ensure_tls_files(tmp_path)
        (tmp_path / "tls" / remove).unlink()
    with pytest.raises(tls.TLSSetupError) as refused:
        tls.ensure_tls_files(tmp_path, hosts=hosts)
    assert str(refused.value).startswith(expected.format(folder=tmp_path / "tls"))


def test_the_ca_cannot_vouch_for_another_site_even_when_trusted(tmp_path: Path) -> None:
    # nameConstraints (RFC 5280 §4.2.1.10): a certificate for example.com from this CA does not verify.
    files = tls.ensure_tls_files(tmp_path)
    ca = load(files.ca_file)
    ca_key = serialization.load_pem_private_key(files.ca_key_file.read_bytes(), password=None)
    cert, key = tls.issue_server_certificate(ca, ca_key, ["example.com"])  # type: ignore[arg-type]
    (tmp_path / "other.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "other.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "other.pem", tmp_path / "other.key")
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def accept() -> None:
            connection, _ = listener.accept()
            with connection:
                try:
                    server.wrap_socket(connection, server_side=True).close()
                except (ssl.SSLError, OSError):
                    pass

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        client = ssl.create_default_context(cafile=str(files.ca_file))
        with socket.create_connection(listener.getsockname(), timeout=5) as raw:
            with pytest.raises(ssl.SSLCertVerificationError) as refused:
                client.wrap_socket(raw, server_hostname="example.com")
        thread.join(5)
    assert refused.value.verify_message == "permitted subtree violation"


# --- what any client may send ---------------------------------------------------------------------------


def test_plain_http_to_the_https_port_is_told_to_use_https(tls_sb: RunningSandbox) -> None:
    http_url = tls_sb.url.replace("https://", "http://")
    answer = requests.post(http_url + "/oauth2/v1/token", data={"grant_type": "x"}, timeout=10)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {
        "error": "invalid_request",
        "error_description": f"This server speaks HTTPS only: use {tls_sb.url}",
    }


def test_a_body_over_the_limit_gets_its_413_over_tls_too(
    tls_sb: RunningSandbox, browser_trusts_ca: Path
) -> None:
    # waitress refuses it from Content-Length while the client still sends; the staged close lets
    # the TLS client read the answer (tests/hardening checks the same over plain http).
    limit = tls_sb.config.max_body_bytes
    answer = requests.post(tls_sb.url + "/oauth2/v1/token", data={"pad": "p" * 3_000_000}, timeout=30)
    assert answer.status_code == 413
    assert answer.json() == {
        "error": "invalid_request",
        "error_description": f"The request body is larger than {limit} bytes.",
    }


def test_clients_that_never_finish_a_handshake_do_not_hold_up_others(
    tls_sb: RunningSandbox, browser_trusts_ca: Path
) -> None:
    silent = [socket.create_connection(tls_sb.address, timeout=5) for _ in range(3)]
    halfway = socket.create_connection(tls_sb.address, timeout=5)
    halfway.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, never finished
    try:
        started = time.monotonic()
        answer = fetch(tls_sb.url + "/.well-known/openid-configuration")
        assert answer.status_code == 200
        assert time.monotonic() - started < 5
    finally:
        for sock in [*silent, halfway]:
            sock.close()


def test_a_client_that_does_not_trust_the_ca_is_refused_and_the_server_goes_on(
    tls_sb: RunningSandbox, no_trust_env: None
) -> None:
    with pytest.raises(requests.exceptions.SSLError) as refused:
        fetch(tls_sb.url + "/.well-known/openid-configuration")
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    answer = fetch(tls_sb.url + "/.well-known/openid-configuration", verify=str(tls_sb.ca_file))
    assert answer.status_code == 200


# --- the command line -------------------------------------------------------------------------------------


def sandbox_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our interpreter and module
        [sys.executable, "-m", "sandbox", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=clean_environment(),
        timeout=timeout,
        check=False,
    )


def test_start_tls_prints_the_https_url_and_the_ca_file_and_never_a_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    started = sandbox_cli("start", "--tls", "--port", "0", "--data-dir", str(data_dir))
    try:
        assert started.returncode == 0, started.stderr
        lines = started.stdout.splitlines()
        url = next(line.split(": ", 1)[1] for line in lines if line.startswith("Sandbox org URL: "))
        assert url.startswith("https://127.0.0.1:")
        ca_file = data_dir / "tls" / "ca.pem"
        assert f"CA file (trust it: KIT_CA_BUNDLE=<this path>): {ca_file}" in lines
        status = sandbox_cli("status", "--data-dir", str(data_dir))
        assert (status.returncode, status.stdout.split(" (")[0]) == (0, f"running: {url}")
        assert fetch(url + "/.well-known/openid-configuration", verify=str(ca_file)).json()["issuer"] == url
    finally:
        stopped = sandbox_cli("stop", "--data-dir", str(data_dir))
    assert stopped.returncode == 0, stopped.stderr
    log = (data_dir / "sandbox.log").read_text()
    assert f"  CA file:      {ca_file}" in log
    assert "PRIVATE KEY" not in started.stdout + started.stderr + log
    for key_file in ("ca.key.pem", "server.key.pem"):
        body = "".join((data_dir / "tls" / key_file).read_text().splitlines()[1:-1])
        assert body[:40] not in log + started.stdout


CLI_REFUSALS = [
    ("a remote address", ["--host", "0.0.0.0", "--allow-remote"],  # noqa: S104 - refused, not bound
     'sandbox: refusing to serve HTTPS on "0.0.0.0": --tls serves loopback only (its test CA certifies '
     "localhost, 127.0.0.0/8 and ::1)"),
    ("an http org URL", ["--org-url", "http://127.0.0.1:8443"],
     'sandbox: --org-url is "http://127.0.0.1:8443", expected https://… with --tls'),
]  # fmt: skip


@pytest.mark.parametrize(("case", "args", "expected"), CLI_REFUSALS, ids=[r[0] for r in CLI_REFUSALS])
def test_serve_tls_refuses_what_it_cannot_certify(
    tmp_path: Path, case: str, args: list[str], expected: str
) -> None:
    done = sandbox_cli("serve", "--tls", "--port", "0", "--data-dir", str(tmp_path), *args, timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip() == expected
    assert not (tmp_path / "tls").exists()


def test_no_test_ca_file_is_world_writable_or_group_readable_when_the_umask_is_loose(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        files = tls.ensure_tls_files(tmp_path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(files.ca_key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.ca_file.stat().st_mode) == 0o644


def raw_exchange(sb: RunningSandbox, payload: bytes) -> tuple[str, dict[str, str]]:
    """Send `payload` as it is (over TLS when the sandbox serves HTTPS); return the status line and body."""
    sock: socket.socket = socket.create_connection(sb.address, timeout=10)
    if sb.ca_file is not None:
        sock = ssl.create_default_context(cafile=str(sb.ca_file)).wrap_socket(
            sock, server_hostname="127.0.0.1"
        )
    with sock:
        sock.sendall(payload)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode("ascii"), json.loads(body)


MALFORMED = [
    ("a Content-Length that is not a number",
     b"POST /oauth2/v1/token HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
    ("bytes that are not HTTP", b"\x00\x01 not a request line\r\n\r\n"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "payload"), MALFORMED, ids=[r[0] for r in MALFORMED])
def test_malformed_requests_get_the_same_oauth_refusal_over_tls_as_over_http(
    tls_sb: RunningSandbox, case: str, payload: bytes
) -> None:
    with running_sandbox() as plain:
        expected = raw_exchange(plain, payload)
    status, body = raw_exchange(tls_sb, payload)
    assert expected[0].split(" ", 1)[1].startswith("4")
    assert (status.split(" ", 1)[1], body) == (expected[0].split(" ", 1)[1], expected[1])
    assert body["error"] == "invalid_request"


def test_headers_over_the_limit_get_their_431_over_tls(tls_sb: RunningSandbox) -> None:
    # Refused before the headers end, while the client still sends them: the staged close lets it read.
    limit = tls_sb.served.server.adj.max_request_header_size
    payload = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * (limit + 40_000) + b"\r\n\r\n"
    status, body = raw_exchange(tls_sb, payload)
    assert status.split(" ", 1)[1] == "431 Request Header Fields Too Large"
    assert body == {
        "error": "invalid_request",
        "error_description": f"The request headers are larger than {limit} bytes.",
    }
