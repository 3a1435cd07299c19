"""HTTPS for the sandbox: a local test CA, kept in the data folder, and a server certificate it issues.

An Okta org is reached over HTTPS with a certificate the client verifies (RFC 6749 §1.6, §3.1, §3.2:
TLS is required at the authorization and token endpoints; RFC 9110 §4.3.4 and RFC 6125 §6: the
client checks the server's identity in the certificate). `python -m sandbox serve --tls` stands in for
that: clients trust the CA certificate this module writes (`<data dir>/tls/ca.pem`), never by turning
verification off.

- The CA (RFC 5280 §4.2.1.9 basicConstraints cA, pathLen 0; §4.2.1.3 keyCertSign) is made once and
  kept: `ca.pem` (the certificate clients trust) and `ca.key.pem` (its private key, mode 0600, in a
  folder of mode 0700, never printed). Its nameConstraints extension (§4.2.1.10, critical) limits it
  to loopback names: DNS `localhost`, IP 127.0.0.0/8 and ::1. Trusting it cannot make any other
  site's certificate valid, even if its key leaked.
- The server certificate (`server.pem`, key `server.key.pem` mode 0600) names `localhost`,
  127.0.0.1 and ::1 in subjectAltName (§4.2.1.6; RFC 6125 §6.4.4: clients match the name there, not
  the CN), has extendedKeyUsage serverAuth (§4.2.1.12), and lives SERVER_DAYS; it is issued again
  at start when it has fewer than RENEW_DAYS left, names other hosts, or was not issued by this CA.
- Keys are ECDSA P-256 with SHA-256 signatures (RFC 5480, RFC 5758).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import os
import ssl
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger("sandbox.tls")

TLS_DIR = "tls"
CA_FILE = "ca.pem"
CA_KEY_FILE = "ca.key.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server.key.pem"
#: The names every server certificate carries: what a loopback org URL can be.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
#: What the CA may certify (RFC 5280 §4.2.1.10): loopback only.
PERMITTED_DNS = "localhost"
PERMITTED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
CA_DAYS = 3650
SERVER_DAYS = 90
RENEW_DAYS = 30
#: Back-dating of notBefore, for clocks a little behind.
CLOCK_SKEW = timedelta(minutes=5)


class TLSSetupError(RuntimeError):
    """The data folder's TLS files cannot be used (a name that is not loopback, a broken CA)."""


@dataclass(frozen=True)
class TLSFiles:
    """Where a sandbox's CA and server certificate are, and what the server certificate says."""

    folder: Path
    names: tuple[str, ...]
    not_after: datetime
    ca_subject: str

    @property
    def ca_file(self) -> Path:
        """The CA certificate (PEM): what clients trust (KIT_CA_BUNDLE, REQUESTS_CA_BUNDLE, SSL_CERT_FILE)."""
        return self.folder / CA_FILE

    @property
    def ca_key_file(self) -> Path:
        """The CA's private key (mode 0600; never printed)."""
        return self.folder / CA_KEY_FILE

    @property
    def cert_file(self) -> Path:
        """The server certificate (PEM)."""
        return self.folder / CERT_FILE

    @property
    def key_file(self) -> Path:
        """The server certificate's private key (mode 0600; never printed)."""
        return self.folder / KEY_FILE

    def server_context(self) -> ssl.SSLContext:
        """Return the server side's TLS context: TLS 1.2 or newer, no renegotiation, HTTP/1.1 (ALPN)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
        context.load_cert_chain(self.cert_file, self.key_file)
        context.set_alpn_protocols(["http/1.1"])
        context.num_tickets = 0  # no TLS 1.3 session tickets: nothing to resume, one write fewer
        return context


# --- names ------------------------------------------------------------------------------------------


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        return x509.DNSName(name.lower())


def is_permitted(name: str) -> bool:
    """Tell whether the CA may certify `name` (a loopback IP address, or localhost and its subdomains)."""
    general = _general_name(name)
    if isinstance(general, x509.IPAddress):
        return any(general.value in network for network in PERMITTED_NETWORKS)
    return general.value == PERMITTED_DNS or general.value.endswith("." + PERMITTED_DNS)


def names_for(hosts: Iterable[str] = ()) -> tuple[str, ...]:
    """Return the names a server certificate carries: the loopback names, then `hosts` not among them.

    Raises:
        TLSSetupError: a host is not a loopback name (the CA may not certify it).
    """
    names = list(LOOPBACK_NAMES)
    for host in hosts:
        host = host.strip("[]").lower()
        if not is_permitted(host):
            raise TLSSetupError(
                f'host "{host}" is not a loopback name; the sandbox\'s test CA certifies only localhost, '
                "127.0.0.0/8 and ::1"
            )
        if host not in names:
            names.append(host)
    return tuple(names)


# --- files ------------------------------------------------------------------------------------------


def _write_file(path: Path, data: bytes, mode: int) -> None:
    """Write `path` atomically (temporary file, fsync, rename) with `mode`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("TLS key file %s had mode %04o; setting 0600", path, mode)
        os.chmod(path, 0o600)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("not an EC private key")
    return key


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on the TLS folder (two sandboxes starting from one data folder)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- the CA -----------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def new_ca(*, days: int = CA_DAYS) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Return a new CA certificate and key, limited by nameConstraints to loopback names."""
    key = ec.generate_private_key(ec.SECP256R1())
    label = hashlib.sha256(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )).hexdigest()[:12]  # fmt: skip
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Agentic token exchange kit (local test)"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Sandbox test CA {label}"),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    now = _now()
    permitted: list[x509.GeneralName] = [x509.DNSName(PERMITTED_DNS)]
    permitted += [x509.IPAddress(network) for network in PERMITTED_NETWORKS]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None), critical=True
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def _load_ca(folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Load the folder's CA, or make and store one when there is none.

    Raises:
        TLSSetupError: only one of its two files exists, they do not match, or the CA is expiring.
    """
    ca_file, key_file = folder / CA_FILE, folder / CA_KEY_FILE
    fix = f"move the folder {folder} away to make a new CA (then trust the new {CA_FILE})"
    if not ca_file.exists() and not key_file.exists():
        certificate, key = new_ca()
        _write_file(key_file, _private_pem(key), 0o600)
        _write_file(ca_file, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
        log.info("created a local test CA in %s", folder)
        return certificate, key
    try:
        certificate = x509.load_pem_x509_certificate(ca_file.read_bytes())
        key = _load_private_key(key_file)
    except (OSError, ValueError, TypeError) as exc:
        raise TLSSetupError(f"the test CA in {folder} cannot be read ({exc}); {fix}") from None
    if certificate.public_key().public_numbers() != key.public_key().public_numbers():
        raise TLSSetupError(f"{CA_FILE} and {CA_KEY_FILE} in {folder} do not match; {fix}")
    if certificate.not_valid_after_utc - _now() < timedelta(days=SERVER_DAYS):
        raise TLSSetupError(
            f"the test CA in {folder} expires on {certificate.not_valid_after_utc:%Y-%m-%d}; {fix}"
        )
    return certificate, key


# --- the server certificate -------------------------------------------------------------------------


def issue_server_certificate(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    names: Iterable[str],
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Return a server certificate for `names` (subjectAltName) signed by the CA, and its new key."""
    names = list(names)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    not_before = not_before or now - CLOCK_SKEW
    not_after = not_after or now + timedelta(days=SERVER_DAYS)
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    common_name = next((n for n in names if isinstance(_general_name(n), x509.DNSName)), names[0])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return certificate, key


def certificate_names(certificate: x509.Certificate) -> tuple[str, ...]:
    """Return a certificate's subjectAltName entries as text (DNS names and IP addresses)."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(str(entry.value) for entry in san)


def _usable_server_certificate(
    folder: Path, ca: x509.Certificate, names: tuple[str, ...]
) -> x509.Certificate | None:
    """Return the stored server certificate if this CA issued it, it names `names` and lives on; else None."""
    try:
        certificate = x509.load_pem_x509_certificate((folder / CERT_FILE).read_bytes())
        key = _load_private_key(folder / KEY_FILE)
        certificate.verify_directly_issued_by(ca)
    except (OSError, ValueError, TypeError, InvalidSignature):
        return None
    if certificate.public_key().public_numbers() != key.public_key().public_numbers():
        return None
    if certificate.not_valid_after_utc - _now() < timedelta(days=RENEW_DAYS):
        return None
    if not set(names) <= set(certificate_names(certificate)):
        return None
    return certificate


def ensure_tls_files(data_dir: Path, *, hosts: Iterable[str] = ()) -> TLSFiles:
    """Make sure `<data_dir>/tls/` holds the CA and a current server certificate; return where they are.

    The CA is created once; the server certificate is issued again when it is missing, expiring
    within RENEW_DAYS, not issued by this CA, or does not name every host.

    Raises:
        TLSSetupError: a host is not a loopback name, or the stored CA cannot be used.
    """
    names = names_for(hosts)
    folder = Path(data_dir) / TLS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    with _locked(folder):
        ca, ca_key = _load_ca(folder)
        certificate = _usable_server_certificate(folder, ca, names)
        if certificate is None:
            certificate, key = issue_server_certificate(ca, ca_key, names)
            _write_file(folder / KEY_FILE, _private_pem(key), 0o600)
            _write_file(folder / CERT_FILE, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
            log.info("issued a server certificate for %s in %s", ", ".join(names), folder)
    return TLSFiles(
        folder=folder,
        names=certificate_names(certificate),
        not_after=certificate.not_valid_after_utc,
        ca_subject=ca.subject.rfc4514_string(),
    )
