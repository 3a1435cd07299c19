"""Keys: the servers' signing keys (persisted) and the clients' public keys (JWKS file, URI, inline).

- RFC 7517 (JWK, JWK Set), RFC 7638 (JWK Thumbprint: every `kid` the sandbox issues)
- RFC 7523 §3 / OIDC Core §9 (private_key_jwt: the client's registered keys)

Signing keys live in `<data dir>/keys/` as private JWKs, mode 0600, written atomically (temp file,
fsync, link into place), so a restart keeps every issued token verifiable. Every key object is
built once, at start or when a client's JWKS changes, never per request (loading an RSA private
key costs about 30-50 ms).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey, import_key

from .constants import SIGNING_ALG

log = logging.getLogger("sandbox.keys")


class SigningKey:
    """A server's RSA signing key with its RFC 7638 `kid`; signs tokens, publishes its JWK."""

    def __init__(self, key: RSAKey, *, name: str) -> None:
        self._key = key
        self.name = name
        self.alg = SIGNING_ALG
        self.kid = key.thumbprint()  # RFC 7638 §3
        public = key.as_dict(private=False)
        self.public_jwk = {
            "kty": public["kty"],
            "alg": self.alg,
            "kid": self.kid,
            "use": "sig",
            "n": public["n"],
            "e": public["e"],
        }
        self.public_key = RSAKey.import_key(public)

    def __repr__(self) -> str:
        return f"SigningKey(name={self.name!r}, kid={self.kid!r})"

    def sign(self, claims: dict[str, Any], *, typ: str | None = None) -> str:
        """Return a compact JWS of a copy of `claims`, header `alg`, `kid` and `typ` if given."""
        header = {"alg": self.alg, "kid": self.kid}
        if typ:
            header["typ"] = typ
        return jwt.encode(header, dict(claims), self._key, algorithms=[self.alg])

    @property
    def private_key(self) -> RSAKey:
        """The key object Authlib needs to sign ID tokens."""
        return self._key

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public JWK Set served at the server's `keys` endpoint."""
        return {"keys": [dict(self.public_jwk)]}


def _write_new_private_file(path: Path, data: bytes) -> bool:
    """Create `path` with `data`, mode 0600, atomically; return False if it already existed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # fails if another process created the key first
        except FileExistsError:
            return False
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return True
    finally:
        Path(tmp).unlink(missing_ok=True)


def load_or_create_signing_key(path: Path, *, name: str) -> SigningKey:
    """Load a server's private JWK from `path`, or generate an RSA 2048 key and store it there."""
    if not path.exists():
        key = RSAKey.generate_key(2048, private=True)
        data = json.dumps(key.as_dict(private=True)).encode("utf-8")
        if _write_new_private_file(path, data):
            log.info("created signing key %s in %s", name, path)
            return SigningKey(key, name=name)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("signing key file %s had mode %04o; setting 0600", path, mode)
        os.chmod(path, 0o600)
    try:
        key = RSAKey.import_key(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, JoseError) as exc:
        raise RuntimeError(
            f'signing key file "{path}" is not a private RSA JWK ({exc}); move it away to start afresh'
        ) from None
    if not key.is_private:
        raise RuntimeError(f'signing key file "{path}" holds a public key, expected a private RSA JWK')
    return SigningKey(key, name=name)


class KeyStore:
    """The org server's key and one key per custom server, under `<data dir>/keys/`."""

    def __init__(self, data_dir: Path, server_ids: list[str]) -> None:
        folder = data_dir / "keys"
        self.org = load_or_create_signing_key(folder / "org.jwk.json", name="org")
        self.servers = {
            sid: load_or_create_signing_key(folder / f"authorization-server-{sid}.jwk.json", name=sid)
            for sid in server_ids
        }


# --- Clients' public keys ----------------------------------------------------------------------


class ClientKeyError(Exception):
    """The client's key for an assertion cannot be found; `reason` says why."""

    NOT_CONFIGURED = "not_configured"
    INVALID_JWKS = "invalid_jwks"
    UNKNOWN_KID = "unknown_kid"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class ClientKey:
    """One public key of a client, with its JWK members (`use`, `alg`) and key object."""

    kid: str
    jwk: dict[str, Any]
    key: RSAKey | ECKey


def _keys_from_jwks(data: Any) -> dict[str, ClientKey]:
    """Build the key objects of a JWK Set, indexed by `kid` (the thumbprint when absent)."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list) or not data["keys"]:
        raise ClientKeyError(ClientKeyError.INVALID_JWKS, 'a JWK Set needs a non-empty "keys" list')
    keys: dict[str, ClientKey] = {}
    for member in data["keys"]:
        if not isinstance(member, dict) or member.get("kty") not in ("RSA", "EC"):
            raise ClientKeyError(ClientKeyError.INVALID_JWKS, "every key must be an RSA or EC JWK")
        public = {k: v for k, v in member.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
        try:
            key = import_key(public)
        except (JoseError, ValueError, TypeError) as exc:
            raise ClientKeyError(ClientKeyError.INVALID_JWKS, f"a key does not load: {exc}") from None
        kid = member.get("kid") or key.thumbprint()
        if not isinstance(kid, str) or kid in keys:
            raise ClientKeyError(ClientKeyError.INVALID_JWKS, f"kid {kid!r} is not a unique string")
        keys[kid] = ClientKey(kid=kid, jwk=public, key=key)
    return keys


class ClientKeySource:
    """Where a client's public keys come from; `select(kid)` returns the key for an assertion."""

    def select(self, kid: Any) -> ClientKey:
        """Return the key named `kid` (or the only key when `kid` is absent)."""
        keys = self._current(refresh=False)
        key = _pick(keys, kid)
        if key is None:
            keys = self._current(refresh=True)  # an unknown kid: the keys may just have changed
            key = _pick(keys, kid)
        if key is None:
            raise ClientKeyError(ClientKeyError.UNKNOWN_KID, f"no key with kid {kid!r} among {sorted(keys)}")
        return key

    def _current(self, *, refresh: bool) -> dict[str, ClientKey]:
        raise NotImplementedError


def _pick(keys: dict[str, ClientKey], kid: Any) -> ClientKey | None:
    if kid is None:
        return next(iter(keys.values())) if len(keys) == 1 else None
    if not isinstance(kid, str):
        return None
    return keys.get(kid)


class InlineKeys(ClientKeySource):
    """Keys written in the configuration itself."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._keys = _keys_from_jwks(jwks)

    def _current(self, *, refresh: bool) -> dict[str, ClientKey]:
        return self._keys


class FileKeys(ClientKeySource):
    """Keys read from a JWKS file, re-read when its mtime, size or inode changes (checked per use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._signature: tuple[int, int, int] | None = None
        self._keys: dict[str, ClientKey] = {}
        self._error: ClientKeyError | None = None

    def _current(self, *, refresh: bool) -> dict[str, ClientKey]:
        try:
            st = self.path.stat()
        except OSError:
            raise ClientKeyError(
                ClientKeyError.NOT_CONFIGURED, f'JWKS file "{self.path}" does not exist'
            ) from None
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            if refresh or signature != self._signature:
                self._reload(signature)
            if self._error is not None:
                raise self._error
            return self._keys

    def _reload(self, signature: tuple[int, int, int]) -> None:
        self._signature = signature
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._keys, self._error = _keys_from_jwks(data), None
            log.info("loaded %d key(s) from %s", len(self._keys), self.path)
        except (OSError, ValueError) as exc:
            self._keys, self._error = {}, ClientKeyError(ClientKeyError.INVALID_JWKS, f"{self.path}: {exc}")
        except ClientKeyError as exc:
            self._keys, self._error = {}, exc


class UriKeys(ClientKeySource):
    """Keys fetched from the client's `jwks_uri`: cached; refetched on an unknown kid, rate-limited."""

    def __init__(self, uri: str, *, max_age: float = 300.0, min_refetch: float = 5.0) -> None:
        self.uri = uri
        self.max_age = max_age
        self.min_refetch = min_refetch
        self._lock = threading.Lock()
        self._fetched_at = 0.0
        self._keys: dict[str, ClientKey] = {}
        self._error: ClientKeyError | None = None

    def _current(self, *, refresh: bool) -> dict[str, ClientKey]:
        with self._lock:
            age = time.monotonic() - self._fetched_at
            if self._fetched_at == 0.0 or age > self.max_age or (refresh and age > self.min_refetch):
                self._fetch()
            if self._error is not None:
                raise self._error
            return self._keys

    def _fetch(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            response = requests.get(self.uri, timeout=5, headers={"Accept": "application/json"})
            response.raise_for_status()
            self._keys, self._error = _keys_from_jwks(response.json()), None
        except (requests.RequestException, ValueError) as exc:
            self._keys, self._error = {}, ClientKeyError(ClientKeyError.INVALID_JWKS, f"{self.uri}: {exc}")
        except ClientKeyError as exc:
            self._keys, self._error = {}, exc
