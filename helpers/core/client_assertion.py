"""Client authentication with private_key_jwt: a fresh signed assertion for every token request.

- RFC 7523 §2.2 (client_assertion and client_assertion_type) and §3 (claims)
- OpenID Connect Core §9 (private_key_jwt)
- Okta "Build a self-signed JWT": `aud` is the exact URL of the endpoint invoked, `exp` at most 1 h.

The python-jose key object is built once per signer (parsing an RSA key costs ~30 ms: bench/assertion.py),
and every assertion gets its own claims dict, `jti` and `aud`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from jose import jwk, jwt

from ..constants import (
    CLIENT_ASSERTION_LIFETIME,
    CLIENT_ASSERTION_MAX_LIFETIME,
    CLIENT_ASSERTION_TYPE_JWT_BEARER,
    DEFAULT_CLOCK_SKEW,
)
from .checks import Checklist
from .formatting import describe_time
from .keys import AgentKey

RULE_RFC7523 = "RFC 7523 §3"
RULE_OKTA = "Okta self-signed JWT"


class ClientAssertionSigner:
    """Signs client assertions for one client with one key.

    Example:
        signer = ClientAssertionSigner("wlpSandboxAgent00001", key)
        form["client_assertion"] = signer.assertion_for(settings.org_token_url)
    """

    def __init__(
        self,
        client_id: str,
        key: AgentKey,
        *,
        lifetime: int = CLIENT_ASSERTION_LIFETIME,
        typ: str | None = "JWT",
    ) -> None:
        if not 0 < lifetime <= CLIENT_ASSERTION_MAX_LIFETIME:
            raise ValueError(
                f"lifetime is {lifetime} s, expected 1 to {CLIENT_ASSERTION_MAX_LIFETIME} s (Okta)"
            )
        self.client_id = client_id
        self.key = key
        self.lifetime = lifetime
        self.typ = typ
        # python-jose re-parses a PEM on every call (bench/assertion.py): build the key once.
        self._jose_key = jwk.construct(key.private_key, key.alg)

    def __repr__(self) -> str:
        return (
            f"ClientAssertionSigner(client_id={self.client_id!r}, alg={self.key.alg!r}, kid={self.key.kid!r})"
        )

    def claims_for(self, endpoint: str, *, issued_at: int | None = None) -> dict[str, Any]:
        """Return the claims of a new assertion for `endpoint` (fresh `jti`, short `exp`)."""
        iat = int(time.time()) if issued_at is None else int(issued_at)
        return {
            # RFC 7523 §3: iss MUST be the client_id; sub MUST be the client_id for client authentication.
            "iss": self.client_id,
            "sub": self.client_id,
            # Okta: aud MUST be the exact URL of the endpoint being called.
            "aud": endpoint,
            "iat": iat,
            # RFC 7523 §3: exp MUST be present; Okta refuses more than 1 h ahead.
            "exp": iat + self.lifetime,
            # A fresh jti makes every assertion single use.
            "jti": str(uuid.uuid4()),
        }

    def headers(self) -> dict[str, str]:
        """Return the JOSE header members added to `alg`: `kid` (and `typ` unless None)."""
        headers = {"kid": self.key.kid}
        if self.typ:
            headers["typ"] = self.typ
        return headers

    def sign(self, claims: dict[str, Any]) -> str:
        """Sign given claims (copied first: python-jose's encode changes the dict it gets)."""
        if not self.typ:
            return _sign_without_typ(dict(claims), self)
        return jwt.encode(dict(claims), self._jose_key, algorithm=self.key.alg, headers=self.headers())

    def assertion_for(self, endpoint: str) -> str:
        """Return a new signed assertion whose `aud` is `endpoint` (one per request)."""
        return self.sign(self.claims_for(endpoint))

    def form_fields(self, endpoint: str) -> dict[str, str]:
        """Return the two form fields of private_key_jwt client authentication for `endpoint`."""
        return {
            "client_assertion_type": CLIENT_ASSERTION_TYPE_JWT_BEARER,
            "client_assertion": self.assertion_for(endpoint),
        }


def _sign_without_typ(claims: dict[str, Any], signer: ClientAssertionSigner) -> str:
    # python-jose always writes typ=JWT; build the JWS by hand when the caller wants none.
    import json

    from jose.utils import base64url_encode

    header = {"alg": signer.key.alg, "kid": signer.key.kid}
    head = base64url_encode(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())
    body = base64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    signature = signer._jose_key.sign(head + b"." + body)  # noqa: SLF001
    return (head + b"." + body + b"." + base64url_encode(signature)).decode("ascii")


def check_client_assertion(
    assertion: str,
    *,
    endpoint: str,
    client_id: str,
    key: AgentKey | None = None,
    now: int | None = None,
    skew: int = DEFAULT_CLOCK_SKEW,
    max_lifetime: int = CLIENT_ASSERTION_MAX_LIFETIME,
) -> Checklist:
    """Check a client assertion against Okta's rules for `endpoint`, before it is sent."""
    now = int(time.time()) if now is None else now
    checks = Checklist("Client assertion checks")
    decoded = checks.decode(assertion, what="client assertion")
    if decoded is None:
        return checks
    header, claims = decoded
    checks.asymmetric_alg(header, RULE_OKTA)
    if key is not None:
        checks.equal('header "kid"', key.kid, header.get("kid"), "RFC 7638 thumbprint of the registered key")
    else:
        checks.present('header "kid"', header.get("kid"), RULE_OKTA)
    checks.add(
        'header "typ"',
        "JWT or absent",
        header.get("typ", "(absent)"),
        header.get("typ") in (None, "JWT"),
        RULE_OKTA,
    )
    checks.equal('"iss"', client_id, claims.get("iss"), RULE_RFC7523 + ": iss is the client_id")
    checks.equal('"sub"', client_id, claims.get("sub"), RULE_RFC7523 + ": sub is the client_id")
    checks.equal('"aud"', endpoint, claims.get("aud"), RULE_OKTA + ": the endpoint invoked")
    exp = claims.get("exp")
    exp_ok = isinstance(exp, int) and exp > now
    checks.add(
        '"exp"',
        "in the future",
        describe_time(exp, reference=now) if exp is not None else "(missing)",
        exp_ok,
        RULE_RFC7523,
    )
    ahead = exp - now if isinstance(exp, int) else None
    checks.add(
        '"exp" ahead',
        f"at most {max_lifetime} s",
        f"{ahead} s" if ahead is not None else "(missing)",
        ahead is not None and ahead <= max_lifetime,
        RULE_OKTA,
    )
    iat = claims.get("iat")
    checks.add(
        '"iat"',
        "not in the future",
        describe_time(iat, reference=now) if iat is not None else "(absent)",
        iat is None or (isinstance(iat, int) and iat <= now + skew),
        RULE_RFC7523,
    )
    checks.present('"jti"', claims.get("jti"), RULE_OKTA + ": single use", expected="a unique id")
    if key is not None:
        checks.signature(
            assertion,
            key.jwks,
            expected="verifies with the agent's public key",
            reference="RFC 7515 §5.2",
            what="client assertion",
        )
    return checks
