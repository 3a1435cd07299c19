"""Which TLS certificates the kit trusts; verification is never off.

- RFC 6749 §3.1, §3.2 (TLS at the authorization and token endpoints), RFC 6125 §6 and RFC 9110 §4.3.4
  (the client checks the server's certificate and that it names the host).
- requests' rule (its "SSL Cert Verification" docs): REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, names the
  CA bundle to use *instead of* certifi's.
- Python's rule (ssl.create_default_context, OpenSSL's default verify paths): SSL_CERT_FILE names a PEM
  file of CA certificates. requests ignores it; urllib, aiohttp (okta-jwt-verifier) and Okta's Python
  SDK use it. The kit honours it too, in addition, so one variable serves the kit and those libraries.
- KIT_CA_BUNDLE (the kit's `.env`): one more PEM file of CA certificates, trusted *in addition* to the
  above: a company TLS proxy's CA, or the sandbox's `tls/ca.pem` when it serves HTTPS.

A certificate the kit does not trust is a `TLSError` that names the URL and the setting to change.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from .config import CA_BUNDLE_VAR
from .errors import ConfigError, InsecureTransportError, TLSError

#: requests' own variables, in its order: the first one set replaces certifi's bundle.
REQUESTS_BUNDLE_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
SSL_CERT_FILE_VAR = "SSL_CERT_FILE"

#: What to set, said in every message about a certificate that is not trusted.
HOW_TO_TRUST = (
    f"set {CA_BUNDLE_VAR}=<path to the CA certificate's PEM file> in .env (the kit adds it to what it "
    "trusts), or REQUESTS_CA_BUNDLE=<path to a PEM bundle> in the environment (replaces certifi's bundle)"
)

#: OpenSSL verify codes (x509_vfy.h) that mean "no trusted CA issued this certificate".
_UNTRUSTED_CODES = frozenset({2, 18, 19, 20, 21})
_EXPIRED_CODE = 10
_NOT_YET_VALID_CODE = 9
_HOSTNAME_MISMATCH_CODE = 62
_IP_MISMATCH_CODE = 64


@dataclass(frozen=True)
class Trust:
    """The CA certificates the kit's HTTP session accepts: a base bundle, plus extra PEM files.

    `base` is (where it comes from, path): ("certifi", …) or ("REQUESTS_CA_BUNDLE", …);
    `extra` lists (variable, path) for SSL_CERT_FILE and KIT_CA_BUNDLE when set.
    """

    base: tuple[str, Path]
    extra: tuple[tuple[str, Path], ...] = ()

    def describe(self) -> str:
        """Say what is trusted, e.g. "certifi's CA bundle plus KIT_CA_BUNDLE=/x/ca.pem"."""
        source, path = self.base
        text = "certifi's CA bundle" if source == "certifi" else f"{source}={path}"
        return text + "".join(f" plus {name}={file}" for name, file in self.extra)

    def context(self) -> ssl.SSLContext:
        """Return the client TLS context (certificate and host name checked); built once per file state.

        Raises:
            ConfigError: a named file is missing or holds no CA certificate (names the variable).
        """
        files = (self.base, *self.extra)
        return _context(tuple((name, str(path), _stamp(path)) for name, path in files))


def _stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError:
        return (-1, -1)
    return (info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=16)
def _context(files: tuple[tuple[str, str, tuple[int, int]], ...]) -> ssl.SSLContext:
    # Not ssl.create_default_context(): with no file given it adds the system's store, which requests
    # does not trust by default. PROTOCOL_TLS_CLIENT checks the certificate and the host name.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    for name, path, _ in files:
        try:
            if os.path.isdir(path):
                context.load_verify_locations(capath=path)
            else:
                context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            reason = _unloadable(exc)
            problem = f'{name} is "{path}", expected a PEM file of CA certificates ({reason})'
            raise ConfigError(problem, problems=[problem]) from None
    # PROTOCOL_TLS_CLIENT sets both already; said again so that no later change can drop them.
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    return context


def _unloadable(exc: OSError) -> str:
    """Say in a few words why a CA file could not be loaded."""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "it cannot be read: permission denied"
    if isinstance(exc, ssl.SSLError):
        if exc.reason == "NO_CERTIFICATE_OR_CRL_FOUND":
            return "it holds no certificate"
        return exc.reason or str(exc)
    return exc.strerror or str(exc)


def trust_for(
    ca_bundle: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Trust:
    """Return what the kit trusts: requests' bundle (or certifi's), SSL_CERT_FILE, then `ca_bundle`.

    Args:
        ca_bundle: KIT_CA_BUNDLE, as the settings resolved it (None or "" when unset).
        environ: the environment (default: os.environ).
    """
    environ = os.environ if environ is None else environ
    base: tuple[str, Path] = ("certifi", Path(DEFAULT_CA_BUNDLE_PATH))
    for name in REQUESTS_BUNDLE_VARS:
        if environ.get(name):
            base = (name, Path(environ[name]))
            break
    extra: list[tuple[str, Path]] = []
    if environ.get(SSL_CERT_FILE_VAR):
        extra.append((SSL_CERT_FILE_VAR, Path(environ[SSL_CERT_FILE_VAR])))
    if ca_bundle:
        extra.append((CA_BUNDLE_VAR, Path(ca_bundle)))
    return Trust(base, tuple(extra))


# --- requests -------------------------------------------------------------------------------------------


class TrustingAdapter(HTTPAdapter):
    """requests' adapter for https URLs, verifying every connection with the kit's trust (never off)."""

    def __init__(self, trust: Trust, **kwargs: Any) -> None:
        self.trust = trust
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:  # fmt: skip
        """Send with verification on; refuse a request that asks for it off.

        Raises:
            InsecureTransportError: `verify` is False (the kit never turns TLS verification off).
        """
        if verify is False:
            where = (request.url or "").split("?")[0]  # no query string: it may carry a code
            raise InsecureTransportError(
                f"{request.method} {where}: the kit never turns TLS verification off "
                f"(verify is False); to trust the server's CA, {HOW_TO_TRUST}"
            )
        return super().send(request, stream=stream, timeout=timeout, verify=True, cert=cert, proxies=proxies)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Use the kit's SSLContext for https connections (requests' documented way to customise TLS)."""
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, True, cert)
        if host_params.get("scheme") == "https":
            pool_kwargs.pop("ca_certs", None)
            pool_kwargs.pop("ca_cert_dir", None)
            pool_kwargs["ssl_context"] = self.trust.context()
            pool_kwargs["cert_reqs"] = "CERT_REQUIRED"
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """Require a verified certificate; the CA files are in the SSLContext already, not loaded again."""
        super().cert_verify(conn, url, True, cert)
        if url.lower().startswith("https"):
            conn.cert_reqs = "CERT_REQUIRED"
            conn.ca_certs = None
            conn.ca_cert_dir = None


# --- errors ------------------------------------------------------------------------------------------------


def _causes(exc: BaseException) -> list[BaseException]:
    """Return `exc` and every exception inside it (args, `reason`, causes, contexts), depth first."""
    seen: list[BaseException] = []
    stack = [exc]
    while stack:
        current = stack.pop()
        if any(current is known for known in seen):
            continue
        seen.append(current)
        inner = [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        for candidate in (getattr(current, "reason", None), current.__cause__, current.__context__, *inner):
            if isinstance(candidate, BaseException):
                stack.append(candidate)
    return seen


def tls_error(method: str, url: str, exc: BaseException, trust: Trust) -> TLSError:
    """Turn requests' SSLError into a TLSError that says what failed and which setting fixes it."""
    where = f"{method} {url}"
    causes = _causes(exc)
    verification = next((c for c in causes if isinstance(c, ssl.SSLCertVerificationError)), None)
    if verification is not None:
        code = verification.verify_code
        detail = verification.verify_message
        if code in (_HOSTNAME_MISMATCH_CODE, _IP_MISMATCH_CODE):
            return TLSError(
                f"{where}: the server's TLS certificate does not name this host ({detail}). Check the URL: "
                "trusting another CA cannot fix a certificate issued for another name",
                reason="hostname mismatch",
            )
        if code in (_EXPIRED_CODE, _NOT_YET_VALID_CODE):
            return TLSError(
                f"{where}: the server's TLS certificate is outside its validity period ({detail}). Check "
                "this computer's clock, or have the certificate renewed",
                reason="expired" if code == _EXPIRED_CODE else "not yet valid",
            )
        reason = "not trusted" if code in _UNTRUSTED_CODES else detail
        return TLSError(
            f"{where}: the server's TLS certificate is not trusted ({detail}). The kit always verifies "
            f"TLS and trusts {trust.describe()}. If you trust the CA that issued this certificate (your "
            f"company's TLS proxy, or the sandbox's tls/ca.pem), {HOW_TO_TRUST}",
            reason=reason,
        )
    ssl_error = next((c for c in causes if isinstance(c, ssl.SSLError)), None)
    detail = (getattr(ssl_error, "reason", None) or str(ssl_error)) if ssl_error is not None else str(exc)
    return TLSError(
        f"{where}: the TLS handshake failed ({detail}). Is this an https server? A plain-http server on "
        "that port answers with this error too",
        reason="handshake failed",
    )
