"""The agent's key pair: generate, store, load, and publish it as a JWKS.

- RFC 7517 (JSON Web Key), RFC 7518 §6 (RSA and EC key parameters)
- RFC 7638 (JWK Thumbprint): the `kid` the kit registers is the thumbprint of the public key.

The private key lives only in a PEM file of mode 0600. Nothing in this module prints or returns
private material in a form meant for display: `AgentKey.__repr__` names the key by its `kid`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import KeyFileError

#: Algorithms the kit can generate keys for; Okta accepts both for client assertions (Okta "Build a
#: self-signed JWT": RS256/384/512, ES256/384/512).
SUPPORTED_ALGS = ("RS256", "ES256")

# RFC 7638 §3.2: the required members of each key type, the only ones hashed.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


def b64url(data: bytes) -> str:
    """Encode bytes as base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_to_b64url(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(size, "big"))


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """Return the RFC 7638 SHA-256 thumbprint of a public JWK, base64url-encoded.

    RFC 7638 §3: hash the JSON object made of the required members only, in lexicographic
    order, with no whitespace.
    """
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty)
    if members is None:
        raise KeyFileError(f'JWK "kty" is "{kty}", expected one of {sorted(_THUMBPRINT_MEMBERS)}')
    missing = [m for m in members if m not in jwk]
    if missing:
        raise KeyFileError(f"JWK of type {kty} lacks the member(s) {missing} RFC 7638 §3.2 requires")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def public_jwk_of(public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> dict[str, str]:
    """Return the public JWK members (no `kid`, `alg` or `use`) of a `cryptography` public key."""
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        return {"kty": "RSA", "n": _int_to_b64url(numbers.n), "e": _int_to_b64url(numbers.e)}
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ec.SECP256R1):
            raise KeyFileError(f'EC key curve is "{public_key.curve.name}", expected "secp256r1" (P-256)')
        numbers = public_key.public_numbers()
        # RFC 7518 §6.2.1.2: x and y are the full 32-byte coordinates for P-256.
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _int_to_b64url(numbers.x, 32),
            "y": _int_to_b64url(numbers.y, 32),
        }
    raise KeyFileError(f"key type {type(public_key).__name__} is not supported, expected RSA or EC P-256")


@dataclass(frozen=True)
class AgentKey:
    """The agent's signing key: the loaded private key, its algorithm, `kid` and public JWK."""

    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = field(repr=False)
    alg: str
    kid: str
    public_jwk: dict[str, str] = field(repr=False)
    path: Path | None = None

    def __repr__(self) -> str:
        return f"AgentKey(alg={self.alg!r}, kid={self.kid!r}, path={str(self.path) if self.path else None!r})"

    @property
    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public JWKS to register with the authorization server (Okta: the AI agent's keys)."""
        return {"keys": [dict(self.public_jwk)]}


def _alg_of(private_key: Any) -> str:
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return "ES256"
    raise KeyFileError(
        f"private key type {type(private_key).__name__} is not supported, expected RSA or EC P-256"
    )


def agent_key_from_private(private_key: Any, *, kid: str | None = None, path: Path | None = None) -> AgentKey:
    """Wrap a `cryptography` private key: derive its algorithm, public JWK and `kid` (RFC 7638)."""
    alg = _alg_of(private_key)
    if isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size < 2048:
        raise KeyFileError(f"RSA key size is {private_key.key_size} bits, expected at least 2048")
    jwk = public_jwk_of(private_key.public_key())
    thumbprint = jwk_thumbprint(jwk)
    jwk.update({"kid": kid or thumbprint, "alg": alg, "use": "sig"})
    return AgentKey(private_key=private_key, alg=alg, kid=jwk["kid"], public_jwk=jwk, path=path)


def generate_private_key(alg: str = "RS256") -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """Generate a new RSA 2048 (RS256) or P-256 (ES256) private key."""
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise KeyFileError(f'key algorithm is "{alg}", expected one of {list(SUPPORTED_ALGS)}')


def write_private_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically, readable and writable by the owner only (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_public_file(path: Path, text: str) -> None:
    """Write a public document atomically (readers never see a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_agent_key(path: str | os.PathLike[str], *, kid: str | None = None) -> AgentKey:
    """Load the agent's private key from a PEM file, refusing a file others can read.

    Raises:
        KeyFileError: the file is missing, readable by group or others, or not a supported key.
    """
    path = Path(path)
    if not path.is_file():
        raise KeyFileError(
            f'private key file "{path}" does not exist; generate one with `make lab` or ensure_agent_key()'
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f'private key file "{path}" has mode {mode:04o}, expected 0600 (chmod 600 "{path}")'
        )
    try:
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(
            f'private key file "{path}" is not an unencrypted PEM private key ({exc.__class__.__name__})'
        ) from None
    return agent_key_from_private(private_key, kid=kid, path=path)


def save_agent_key(
    key: AgentKey, private_path: str | os.PathLike[str], jwks_path: str | os.PathLike[str] | None = None
) -> None:
    """Store the private key (PEM, PKCS#8, mode 0600) and, if asked, the public JWKS beside it."""
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private_file(Path(private_path), pem)
    if jwks_path is not None:
        write_public_file(Path(jwks_path), json.dumps(key.jwks, indent=2) + "\n")


def ensure_agent_key(
    private_path: str | os.PathLike[str],
    jwks_path: str | os.PathLike[str] | None = None,
    *,
    alg: str = "RS256",
    kid: str | None = None,
) -> tuple[AgentKey, bool]:
    """Load the agent's key, or generate and store one if the file is missing.

    The public JWKS file is (re)written whenever it differs from the key, so the sandbox, which
    reads that file, always knows the agent's current public key.

    Returns:
        The key and whether it was created now.
    """
    private_path = Path(private_path)
    created = False
    if private_path.exists():
        key = load_agent_key(private_path, kid=kid)
    else:
        key = agent_key_from_private(generate_private_key(alg), kid=kid, path=private_path)
        save_agent_key(key, private_path)
        created = True
    if jwks_path is not None:
        jwks_path = Path(jwks_path)
        wanted = json.dumps(key.jwks, indent=2) + "\n"
        current = jwks_path.read_text(encoding="utf-8") if jwks_path.is_file() else None
        if current != wanted:
            write_public_file(jwks_path, wanted)
    return key, created


def agent_key_for(settings: Any) -> AgentKey:
    """Return the agent's key named by the settings, creating the key pair and public JWKS if missing.

    Uses AGENT_PRIVATE_KEY_FILE, AGENT_PUBLIC_JWKS_FILE, AGENT_KEY_ALG (for a new key) and
    AGENT_KEY_ID (empty: the RFC 7638 thumbprint).
    """
    key, _ = ensure_agent_key(
        settings.agent_private_key_file,
        settings.agent_public_jwks_file,
        alg=settings.agent_key_alg,
        kid=settings.agent_key_id or None,
    )
    return key


class PublicKeyView:
    """The agent's public key for display: algorithm, `kid`, files and public JWK (never the private key)."""

    def __init__(
        self, key: AgentKey, *, jwks_path: str | os.PathLike[str] | None = None, home: Path | None = None
    ) -> None:
        self.key = key
        self.jwks_path = Path(jwks_path) if jwks_path else None
        self.home = home

    def _shown(self, path: Path) -> str:
        # Paths inside the kit home are shown relative to it (stable across machines).
        if self.home is not None:
            try:
                return str(path.resolve().relative_to(self.home.resolve()))
            except ValueError:
                pass
        return str(path)

    def _rows(self) -> list[tuple[str, str]]:
        rows = [
            ("alg", self.key.alg),
            (
                "kid (RFC 7638 thumbprint)" if self.key.kid == jwk_thumbprint(self.key.public_jwk) else "kid",
                self.key.kid,
            ),
        ]
        if self.key.path is not None:
            rows.append(("private key file (mode 0600)", self._shown(self.key.path)))
        if self.jwks_path is not None:
            rows.append(("public JWKS file", self._shown(self.jwks_path)))
        return rows

    def __repr__(self) -> str:
        lines = ["Agent key"] + [f"  {k}: {v}" for k, v in self._rows()]
        lines.append("Public JWKS (register this with the authorization server):")
        lines.append(json.dumps(self.key.jwks, indent=2, sort_keys=True))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .formatting import html_pre, html_table

        return (
            "<p><b>Agent key</b></p>"
            + html_table(None, [list(row) for row in self._rows()], code_columns=(1,))
            + "<p>Public JWKS (register this with the authorization server):</p>"
            + html_pre(json.dumps(self.key.jwks, indent=2, sort_keys=True))
        )


def _main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m helpers.core.keys", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ensure = sub.add_parser("ensure", help="load the agent's key or create it; write the public JWKS")
    ensure.add_argument("--private", required=True, help="PEM file of the private key (mode 0600)")
    ensure.add_argument("--jwks", required=True, help="public JWKS file to write")
    ensure.add_argument("--alg", default="RS256", choices=SUPPORTED_ALGS)
    ensure.add_argument("--kid", default=None, help="key id (default: RFC 7638 thumbprint)")
    args = parser.parse_args(argv)
    key, created = ensure_agent_key(args.private, args.jwks, alg=args.alg, kid=args.kid or None)
    verb = "created" if created else "kept"
    print(f"agent key {verb}: {key.alg}, kid {key.kid}; public JWKS in {args.jwks}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
